export {
  LocationService, isReachable, requestInstance, sameBinding, type Binding, type BindingPersistence, type FlowSource, type TransportName,
} from './location.js';
export {
  DEFAULT_FLOW_TIMER_S, DEFAULT_STREAM_MAX_EXPIRES, MAX_CONTACTS_PER_ACCOUNT, Registrar, type RegistrarDeps, type RegistrarLimits,
} from './registrar.js';
export { DONT_BIND_PORT, instanceOf, parseContactItem, parseContacts, sameContact, withoutDontBind, type ContactEntry } from './contact.js';
export { authenticate, type AccountDirectory, type AccountInfo, type AuthDeps, type AuthOutcome, type RequestSource } from './auth.js';
export { PbxCore } from './core.js';
export { fileBindingPersistence, REGISTRATIONS_FILE } from './persistence.js';
export type { CallView, LegView, MediaProtection } from './views.js';
export { B2bua, type B2buaDeps, type CalleeAccount, type Destination, type IncomingCall, type MediaControl, type NamedPolicy } from './b2bua.js';
export type { RingGroupEntry } from './features/index.js';
export { CallKeys, MediaSession, PLAIN_SDP, type CallKeysOptions, type LegSdp, type LegsSecurity } from './media/index.js';
export {
  decideMediaPlan, isRefusal, accepts, summarizeOffer, policySettings, AVAILABLE_KEY_AGREEMENTS, POLICY_REFUSAL_COUNTER_PREFIX,
  DEFAULT_POLICY_SETTINGS, DEFAULT_PHONE_CAPS,
  type Protection, type KeyAgreement, type PhoneCaps, type PolicySettings, type OfferSummary, type PartyInfo, type PlanInput,
  type LegPlan, type MediaPlan, type PolicyRefusal, type RefusalCode,
} from './policy/index.js';
export { fileCallRecords, CALLS_FILE, type CallRecord, type CallRecords } from './records.js';
export { HoldMusicSource, storeHoldMusic, removeHoldMusic, holdMusicInfo, HOLD_MUSIC_FILE, type StoredMusic } from './features/index.js';
export {
  Trunks, trunkView, systemResolver, resolveTrunk, RegistrationClient, KeepAlive, type TrunksDeps, type DnsResolver,
} from './trunks/index.js';
export { Recording, RECORD_TOGGLE_CODE, type RecorderStore, type RecordMode } from './features/index.js';
export { Rooms, PRIVATE_CONFERENCE_NOTE } from './features/index.js';
export {
  Voicemail, MailboxMachine, DtmfSink, parseDtmfRtp, parseInfoDtmf, prompt as voicemailPrompt, countPrompt, PROMPT_HZ, PIN_LOCK_MS, MAX_PIN_TRIES,
  type VoicemailStore, type MailboxAction, type Digit,
} from './features/index.js';
export {
  MessageWaiting, serializeSummary, parseSummary, parseSubscribe, MWI_EVENT, MWI_TYPE, MAX_SUBSCRIBE_BODY,
  type MwiDeps, type MessageSummary,
} from './mwi.js';
