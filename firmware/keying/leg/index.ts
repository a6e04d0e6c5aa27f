/** The per-leg key agreement interface every implementation (sdes/, and dtls, zrtp later) fits, and the plain leg. */
export {
  PLAIN_SDP,
  type KeyHolder, type KeyingEvent, type KeyingEventOutcome, type KeyingEventType, type KeyingMethod, type KeyingSdp, type KeyingView,
  type LegKeying, type TakenOffer, type ZrtpView,
} from './keying.js';
export { ZrtpLeg, ZrtpRelayLeg, type ZrtpLegOptions, type ZrtpHelloSource } from './zrtp.js';
export { PlainKeying, plainProfile } from './plain.js';
