/** Public face of the SIP message layer: bytes <-> plain readonly messages. */
export type {
  CSeq, Header, NameAddr, SipMessage, SipRequest, SipResponse, SipUri, UriParam, Via,
} from './types.js';
export {
  MAX_BODY_BYTES, MAX_HEADER_COUNT, MAX_HEADER_SECTION_BYTES, MAX_MESSAGE_BYTES, MAX_START_LINE_BYTES,
  PARSE_COUNTER_PREFIX, type RejectReason,
} from './limits.js';
export { parseMessage, rejectStatus, type ParseResult } from './parse.js';
export { frameStream, isCrlfKeepalive, type FrameOptions, type FrameResult } from './frame.js';
export { serialize } from './serialize.js';
export {
  checkUri, DONT_BIND_PORT_PATTERN, formatUri, MAX_URI_LENGTH, parseUri, uriEquals, uriScheme, withoutDontBindPorts,
} from './uri.js';
export {
  checkCallId, formatAuthParams, formatNameAddr, isWildcardContact, MAX_CSEQ, paramValue, parseAuthParams,
  parseContact, parseCSeq, parseMaxForwards, parseNameAddr, parseNameAddrList, parseVia, splitHeaderValues,
  type AuthParams, type ContactValue,
} from './headers.js';
export { quote, unquote } from './chars.js';
export { canonicalHeaderName, isListHeader, normalizeHeaderName } from './names.js';
export {
  createResponse, fromTag, getCallId, getCSeq, getHeader, getHeaders, prependHeader, reasonPhrase, replaceHeader,
  toTag, topVia, withBody, withHeader, withoutHeader, type ResponseOptions,
} from './message.js';
