/** Call features on the call model: each works on a Call and its media session (ARCHITECTURE.md, pbx/features). */
export { Hold, isHoldOffer, musicCodec, PRIVATE_HOLD_NOTE, type HoldDeps } from './hold.js';
export { Transfer, PRIVATE_TRANSFER_NOTE, type ParkingLot, type TransferDeps } from './transfer.js';
export { HoldMusicSource, storeHoldMusic, removeHoldMusic, holdMusicInfo, HOLD_MUSIC_FILE, MIN_HOLD_MUSIC_SECONDS, MAX_HOLD_MUSIC_SECONDS, type StoredMusic } from './music.js';
export {
  Recording, FeatureCodeSink, RECORD_TOGGLE_CODE, RECORD_TONE_HZ, RECORD_TONE_MS, PRIVATE_RECORDING_NOTE, protectionWords, recordTone, strongerMode,
  type RecordingDeps, type RecorderStore, type CallsWatch, type RecordMode,
} from './recording.js';
export { Rooms, PRIVATE_CONFERENCE_NOTE, ROOM_PIN_NOTE, type RoomConfig, type RoomDeps, type RoomHost, type RoomIncoming } from './conference.js';
export { Delivery, MAX_FORWARD_HOPS, type DeliveryDeps, type DeliveryHost, type RingGroupEntry } from './delivery.js';
export { SettingCodesDestination, type SettingCodes, type SettingCodesDeps, type SettingCodesHost } from './codes.js';
export { Pickup, PRIVATE_PICKUP_REASON, type PickupCodes, type PickupDeps, type PickupHost } from './pickup.js';
export { Voicemail, answerByBox, answerable, PIN_LOCK_MS, type VoicemailDeps, type VoicemailHost, type VoicemailStore, type BoxAnswered } from './voicemail.js';
export { MailboxMachine, MAX_PIN_TRIES, PIN_DIGITS, IDLE_MS, DIGIT_GAP_MS, type MailboxAction, type MailboxInput, type MailboxMessage, type MailboxPhase } from './mailbox.js';
export { DtmfSink, parseDtmfRtp, parseInfoDtmf, digitOfEvent, MAX_INFO_DTMF_BODY, type Digit, type DtmfEvent, type DtmfParse, type InfoParse } from './dtmf.js';
export { prompt, countPrompt, tone, concat, durationMs, PROMPT_HZ, type PromptName } from './prompts.js';
export { ParkLot, parkSlots, type ParkDeps, type ParkHost, type ParkSettings } from './park.js';
export { ReplacesInvite, hasReplaces, type ReplacesDeps, type ReplacesHost } from './replaces.js';
