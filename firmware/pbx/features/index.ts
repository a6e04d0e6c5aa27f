/** Call features on the call model: each works on a Call and its media session (ARCHITECTURE.md, pbx/features). */
export { Hold, isHoldOffer, musicCodec, PRIVATE_HOLD_NOTE, type HoldDeps } from './hold.js';
export { Transfer, PRIVATE_TRANSFER_NOTE, type TransferDeps } from './transfer.js';
export { HoldMusicSource, storeHoldMusic, HOLD_MUSIC_FILE, MIN_HOLD_MUSIC_SECONDS, MAX_HOLD_MUSIC_SECONDS, type StoredMusic } from './music.js';
export { Delivery, MAX_FORWARD_HOPS, type DeliveryDeps, type DeliveryHost, type RingGroupEntry } from './delivery.js';
export { SettingCodesDestination, type SettingCodes, type SettingCodesDeps, type SettingCodesHost } from './codes.js';
