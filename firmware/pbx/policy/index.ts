/** The media security decision (ARCHITECTURE.md): the public face of firmware/pbx/policy. */
export type {
  Protection, KeyAgreement, PhoneCaps, PolicySettings, OfferSummary, PartyInfo, PlanInput, LegPlan, MediaPlan,
  PolicyRefusal, RefusalCode, OfferShape,
} from './types.js';
export {
  decideMediaPlan, decideRemembering, type LearnedAbilities, retryPlan, shapeOf, shapeLabel, isRefusal, accepts, AVAILABLE_KEY_AGREEMENTS, POLICY_REFUSAL_COUNTER_PREFIX,
} from './decide.js';
export { summarizeOffer, policySettings, DEFAULT_POLICY_SETTINGS, DEFAULT_PHONE_CAPS } from './offer.js';
