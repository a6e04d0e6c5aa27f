export { CallLifecycle, mayMove, type CallPhase } from './lifecycle.js';
export { Negotiation, nextOfferAnswer, OfferAnswerError, type OfferAnswerEvent, type OfferAnswerRefusal, type OfferAnswerState } from './negotiation.js';
export { CallError, FAILURES, failureOf, responseOf, type CallFailure, type FailureEntry } from './failures.js';
export {
  guard, keysOptions, type CallDeps, type CallView, type CalleeAccount, type EndReason, type LegId, type MediaControl, type NamedPolicy, type SetupDeps, type TrunkLeg,
} from './deps.js';
export { CallLeg } from './leg.js';
export { Fork, bestFinal, type Branch, type BranchState } from './fork.js';
export { Call, newCallId, type Crossing } from './call.js';
export { CallSetup, type CallEnding } from './setup.js';
export { Renegotiation, failureResponse, sdpIn } from './renegotiate.js';
export { keySide } from './late-offer.js';
export { SUPPORTED_OPTION_TAGS, prackFor, reliableSeq, unsupportedRequired } from './reliable.js';
export { onKeyingEvent, keyingEvents } from './keying-events.js';
export type { Destination, IncomingCall, RingOptions } from './incoming.js';
