/** SDP Security Descriptions (RFC 4568) for SRTP: the public face of firmware/keying/sdes. */
export {
  SDES_SUITES, SDES_SUITE_NAMES, SUPPORTED_SDES_SUITES, DEFAULT_OFFER_SUITES, isSdesSuiteName, keySaltLength,
  type SdesSuite, type SdesSuiteName,
} from './suites.js';
export {
  parseCryptoLine, formatCryptoLine, describeCrypto, decodeBase64, mkiBytes,
  MAX_CRYPTO_LINE, MAX_SESSION_PARAMS, MAX_TAG, MAX_MKI_BYTES, MIN_WSH, MAX_WSH,
  type CryptoAttribute, type CryptoParse, type CryptoSkip, type CryptoSkipReason, type Mki,
} from './crypto.js';
export {
  sdesOfMedia, chooseCrypto, answerCrypto, offerCrypto, acceptAnswer, sdesAttributes, isSecureSignalling, srtpOptionsOf,
  MAX_CRYPTO_LINES, SDES_SKIP_COUNTER_PREFIX,
  type SdesMedia, type SdesMode,
} from './negotiate.js';
export { SdesLeg, type SdesKeys, type SdesLegOptions } from './leg.js';
export { SdesRelayLeg } from './relay.js';
