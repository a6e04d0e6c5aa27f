/** Hard limits applied to every message at the boundary, datagram or stream. */

/** A whole message, start line to end of body. */
export const MAX_MESSAGE_BYTES = 65536;
/** The start line, without its CRLF. */
export const MAX_START_LINE_BYTES = 4096;
/** Start line and header lines up to and including the blank line. */
export const MAX_HEADER_SECTION_BYTES = 32768;
/** Header fields (after unfolding) in one message. */
export const MAX_HEADER_COUNT = 256;
/** Message body. */
export const MAX_BODY_BYTES = 49152;

/** Counter bumped for each refused message or stream: `sip.parse.<reason>`. */
export const PARSE_COUNTER_PREFIX = 'sip.parse.';

/** Why a message was refused; also the suffix of the counter that counts it. */
export type RejectReason =
  | 'too-large'          // a size or count limit
  | 'start-line'         // malformed request or status line
  | 'version'            // not SIP/2.0 (a server answers 505)
  | 'headers'            // header section not ended, bad line breaks or header syntax
  | 'encoding'           // header bytes that are not UTF-8
  | 'missing-header'     // To, From, Call-ID, CSeq or Via absent
  | 'duplicate-header'   // a single-valued header repeated
  | 'content-length'     // missing (stream), malformed or larger than the data
  | 'cseq'               // CSeq malformed or its method differs from the request's
  | 'uri'                // Request-URI malformed
  | 'header-value';      // a header the core relies on is malformed
