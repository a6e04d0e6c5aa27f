/** ZRTP (RFC 6189): packets, algorithms, the retained-secret cache and the per-leg endpoint. The public face of firmware/keying/zrtp. */
export {
  ZRTP_FIRST_BYTE, ZRTP_MAGIC_COOKIE, ZRTP_PREAMBLE, ZRTP_VERSION, ZRTP_PACKET_OVERHEAD, ZRTP_HEADER_BYTES, MIN_MESSAGE_WORDS,
  MAX_MESSAGE_BYTES, MAX_ZRTP_PACKET, MAX_ALGORITHMS_PER_LIST, HELLO_FIXED_WORDS, COMMIT_DH_WORDS, DHPART_FIXED_WORDS,
  CONFIRM_WORDS, SASRELAY_WORDS, ZRTP_MESSAGE_TYPES, ZRTP_ERROR,
  isZrtpPacket, parsePacket, serializePacket, parseMessage, serializeMessage,
  parseConfirmPlain, serializeConfirmPlain, parseSasRelayPlain, serializeSasRelayPlain,
  type ZrtpMessageType, type ZrtpMessage, type HelloMessage, type CommitMessage, type DhPartMessage, type EncryptedMessage,
  type ErrorMessage, type GoClearMessage, type PingMessage, type PingAckMessage, type AckMessage, type ZrtpPacket,
  type PacketParse, type MessageParse, type ZrtpParseReject, type ConfirmPlain, type SasRelayPlain,
} from './packet.js';
export { crc32c, writeCrc32c, crc32cOk } from './crc32c.js';
export {
  HASH_TYPES, CIPHER_TYPES, AUTH_TAG_TYPES, KEY_AGREEMENT_TYPES, SAS_TYPES, MANDATORY, PV_BYTES, CIPHER_KEY_BYTES,
  kdf, computeS0, deriveKeys, hashChain, renderSas, srtpSuiteOf, secretId, pbxSecretOf, generateKeyPair, cfb,
  type HashType, type CipherType, type AuthTagType, type KeyAgreementType, type SasType, type DerivedKeys, type S0Input,
  type HashChain, type KeyPair,
} from './crypto.js';
export { PGP_WORDS_EVEN, PGP_WORDS_ODD } from './pgp-words.js';
export {
  MemoryZrtpCache, FileZrtpCache, ZRTP_CACHE_FILE, ZRTP_CACHE_VERSION, MAX_CACHE_PEERS,
  type ZrtpCache, type ZrtpCacheEntry,
} from './cache.js';
export {
  ZrtpEndpoint, zrtpHashOfHello, helloOf, type HelloIdentity, checkZrtpHash, DEFAULT_SUPPORTED, CACHE_FOREVER,
  T1_INITIAL_MS, T1_CAP_MS, T1_MAX_TRIES, T2_INITIAL_MS, T2_CAP_MS, T2_MAX_TRIES,
  type ZrtpEndpointOptions, type ZrtpSupported, type ZrtpSecure, type ZrtpSasRelayed, type CacheMatch,
} from './endpoint.js';
export { mutationCampaign, type MutationReport } from './mutate.js';
export { ZrtpBox, BOX_CLIENT_ID, type ZrtpBoxOptions, type ZrtpHelloSource } from './agent.js';
