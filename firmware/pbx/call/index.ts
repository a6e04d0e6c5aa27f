export { CallLifecycle, mayMove, type CallPhase } from './lifecycle.js';
export { Negotiation, nextOfferAnswer, OfferAnswerError, type OfferAnswerEvent, type OfferAnswerRefusal, type OfferAnswerState } from './negotiation.js';
export { CallError, FAILURES, failureOf, responseOf, type CallFailure, type FailureEntry } from './failures.js';
