/**
 * Call control's side of media: the SDP the box writes toward each leg (one
 * writer, sdp/relay.ts underneath) and the per-leg keying of a call
 * (CallKeys over keying/'s LegKeying). The public face of firmware/pbx/media.
 */
export {
  SDP_TYPE, answerFromAnswer, audioIndex, audioOf, offerFromOffer, offerSecurity, parseBody, payloadMap, relayCheck, remoteOf, sdpSession,
  type LegSdp, type SdpSession,
} from './sdp.js';
export { CallKeys, legKeying, type CallKeysOptions, type Side } from './keys.js';
export { PLAIN_SDP } from '../../keying/index.js';
export { MediaSession, type LegsSecurity, type MediaControl } from './session.js';
