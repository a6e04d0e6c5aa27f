/** Call features on the call model: each works on a Call and its media session (ARCHITECTURE.md, pbx/features). */
export { Hold, isHoldOffer, musicCodec, PRIVATE_HOLD_NOTE, type HoldDeps } from './hold.js';
export { Transfer, PRIVATE_TRANSFER_NOTE, type TransferDeps } from './transfer.js';
