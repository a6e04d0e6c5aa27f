/** Key agreement for SRTP: one interface per leg (LegKeying); SDES today, DTLS-SRTP and ZRTP join here. */
export * from './sdes/index.js';
export * from './dtls/index.js';
export {
  PLAIN_SDP,
  type KeyHolder, type KeyingEvent, type KeyingEventOutcome, type KeyingEventType, type KeyingMethod, type KeyingSdp, type KeyingView,
  type LegKeying, type TakenOffer,
} from './leg/index.js';
export { PlainKeying, plainProfile } from './leg/index.js';
