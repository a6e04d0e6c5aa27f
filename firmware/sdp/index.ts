export type {
  Attribute, Bandwidth, Codec, Connection, Direction, Fmtp, MediaDescription, MediaProfile, Origin, RtcpAttribute,
  RtpMap, SessionDescription, Timing,
} from './types.js';
export { MEDIA_PROFILES } from './types.js';
export {
  MAX_FORMATS_PER_MEDIA, MAX_MEDIA_SECTIONS, MAX_SDP_BYTES, MAX_SDP_LINES, SDP_PARSE_COUNTER_PREFIX, SdpParseError,
  type SdpRejectReason,
} from './limits.js';
export { isRtpProtocol, parseSdp } from './parse.js';
export { serializeSdp } from './serialize.js';
export {
  DIRECTIONS, attributeValues, directionOf, findAttribute, fmtps, hasAttribute, hasRtcpMux, isHoldConnection,
  isRtpMedia, isSecureProfile, maxptime, mediaProfile, midOf, parseFmtp, parseRtcp, parseRtpMap, ptime,
  remoteDirection, rtcpOf, rtpMaps,
} from './attributes.js';
export {
  STATIC_PAYLOAD_TYPES, codecMatches, codecsOf, intersectCodecs, isAuxiliary,
  type AnswerPrefs, type CodecFilter, type CodecSpec,
} from './codecs.js';
export {
  BOX_SDP_USERNAME, DEFAULT_ANSWER_PROFILES, answerDirection, boxConnection, boxOrigin, buildAnswer, buildOffer,
  codecAttributes, hasActiveMedia,
  type AnswerOptions, type AnswerStream, type OfferMedia, type OfferOptions, type OriginSpec, type PortPair,
} from './offer-answer.js';
export { ICE_ATTRIBUTES, nextVersion, remoteMediaOf, rewriteForLeg, stampVersion, type LegRewrite } from './leg.js';
export {
  RELAYED_CODECS, RELAY_SESSION_NAME, relayAnswer, relayIndex, relayOffer, relayPayloadMap, relayedCodecs, stampLeg,
  type RelayLeg, type SentSdp,
} from './relay.js';
