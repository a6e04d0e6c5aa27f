/**
 * Compatibility shim: call control (b2bua.ts) still imports these names from
 * here. They live in firmware/pbx/media now; this file goes when call
 * control imports pbx/media itself.
 */
export {
  CallKeys, PLAIN_SDP, SDP_TYPE, answerFromAnswer, audioIndex, audioOf, offerFromOffer, offerSecurity, parseBody, payloadMap, remoteOf,
  type CallKeysOptions, type LegSdp, type SdpSession,
} from './media/index.js';
