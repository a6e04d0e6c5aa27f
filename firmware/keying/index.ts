/** Key agreement for SRTP: one interface per leg (LegKeying); SDES today, DTLS-SRTP and ZRTP join here. */
export * from './sdes/index.js';
export * from './dtls/index.js';
export {
  PLAIN_SDP,
  type KeyHolder, type KeyingEvent, type KeyingEventOutcome, type KeyingEventType, type KeyingMethod, type KeyingSdp, type KeyingView,
  type LegKeying, type TakenOffer, type ZrtpView,
} from './leg/index.js';
export { PlainKeying, plainProfile, ZrtpLeg, ZrtpRelayLeg, type ZrtpLegOptions } from './leg/index.js';
export {
  ZrtpEndpoint, FileZrtpCache, MemoryZrtpCache, zrtpHashOfHello, checkZrtpHash, isZrtpPacket, parsePacket as parseZrtpPacket,
  serializePacket as serializeZrtpPacket, mutationCampaign as zrtpMutationCampaign, DEFAULT_SUPPORTED as ZRTP_DEFAULT_SUPPORTED,
  ZRTP_VERSION, MAX_ZRTP_PACKET, ZrtpBox, helloOf as zrtpHelloOf, BOX_CLIENT_ID as ZRTP_BOX_CLIENT_ID,
  type ZrtpBoxOptions, type ZrtpHelloSource,
  type ZrtpEndpointOptions, type ZrtpSupported, type ZrtpSecure, type ZrtpSasRelayed, type CacheMatch as ZrtpCacheMatch,
  type ZrtpCache, type ZrtpCacheEntry, type MutationReport as ZrtpMutationReport,
  type CipherType as ZrtpCipherType, type AuthTagType as ZrtpAuthTagType, type KeyAgreementType as ZrtpKeyAgreementType,
  type SasType as ZrtpSasType,
} from './zrtp/index.js';
