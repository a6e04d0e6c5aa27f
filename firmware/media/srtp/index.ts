/**
 * SRTP and SRTCP (RFC 3711) with the AES-256 suites of RFC 6188 and the
 * AES-GCM suites of RFC 7714: the public face of firmware/media/srtp.
 */
export {
  SrtpSession, srtpTransform,
  MAX_SRTP_PACKET, MAX_MKI_LENGTH, MAX_SRTP_TRAILER, MAX_STREAMS_PER_SESSION, DEFAULT_REPLAY_WINDOW,
  SRTP_MAX_PACKETS, SRTCP_MAX_INDEX, MAX_KDR, KEYSTREAM_BATCH_PACKETS, KEYSTREAM_BATCH_BYTES, SRTP_REJECTS,
  type SrtpSessionOptions, type SrtpSessionKeys, type SrtpReject, type SrtpStats, type SrtpTransform,
} from './session.js';
export {
  SRTP_SUITES, SRTP_SUITE_NAMES, isSrtpSuiteName, decodeKeySalt,
  type SrtpSuite, type SrtpSuiteName, type KeySaltResult,
} from './suites.js';
export { estimateIndex, ReplayWindow, type WindowVerdict } from './replay.js';
export { deriveSessionKey, aesCmKeystream } from './aes.js';
export { HmacSha1 } from './hmac-sha1.js';
export { Ghash } from './ghash.js';
