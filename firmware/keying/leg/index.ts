/** The per-leg key agreement interface every implementation (sdes/, and dtls, zrtp later) fits, and the plain leg. */
export {
  PLAIN_SDP,
  type KeyHolder, type KeyingEvent, type KeyingEventOutcome, type KeyingEventType, type KeyingMethod, type KeyingSdp, type KeyingView,
  type LegKeying, type TakenOffer,
} from './keying.js';
export { PlainKeying, plainProfile } from './plain.js';
