import { PbxError, type ErrorCode } from '../core/index.js';

/** Hard limits on a session description from the network, far above what any phone sends. */
export const MAX_SDP_BYTES = 16 * 1024;
export const MAX_SDP_LINES = 512;
export const MAX_MEDIA_SECTIONS = 16;
/** Formats on one m= line; RTP has only 128 payload types anyway. */
export const MAX_FORMATS_PER_MEDIA = 128;

/** Counter bumped for each refused description: `sdp.parse.<reason>`. */
export const SDP_PARSE_COUNTER_PREFIX = 'sdp.parse.';

export type SdpRejectReason =
  | 'too-large'     // a size or count limit
  | 'encoding'      // bytes that are not UTF-8
  | 'syntax'        // a line that is not <letter>=<value>, control characters, an unknown type letter
  | 'missing-line'  // v=, o=, s= or t= absent, or v= not first
  | 'order'         // a line where RFC 4566 5 does not allow it, or repeated
  | 'origin'        // malformed o=
  | 'connection'    // malformed c=
  | 'media-line'    // malformed m=
  | 'value';        // malformed v=, b=, t= or a= name

/** A refused description: the code for the caller's reply mapping, plus the 1-based line at fault. */
export class SdpParseError extends PbxError {
  constructor(
    code: Extract<ErrorCode, 'parse' | 'limit'>,
    readonly reason: SdpRejectReason,
    /** 1-based line number; 0 when the whole input was refused before reading lines. */
    readonly line: number,
    message: string,
    offset?: number,
  ) {
    super(code, line > 0 ? `SDP line ${line}: ${message}` : `SDP: ${message}`, offset);
  }
}
