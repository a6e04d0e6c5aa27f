/**
 * Message framing on stream transports (TCP, TLS). RFC 3261 18.3: on a
 * stream the Content-Length header is mandatory and alone marks where the
 * body ends. RFC 5626 4.4.1: a double CRLF is a keep-alive ping, answered
 * with a single CRLF pong. Pure; never throws; never asks for more bytes
 * past the limits.
 */
import type { Counters, PbxError } from '../../core/index.js';
import { contentLength, fail, findHeaderEnd, readHead, type Failure } from './head.js';
import {
  MAX_BODY_BYTES, MAX_HEADER_SECTION_BYTES, MAX_MESSAGE_BYTES, MAX_START_LINE_BYTES, PARSE_COUNTER_PREFIX,
  type RejectReason,
} from './limits.js';

export type FrameResult =
  /** A complete message occupies buf[0, length): hand it to parseMessage. */
  | { readonly kind: 'message'; readonly length: number }
  /** buf[0, length) is a keep-alive: 4 = CRLFCRLF ping (answer "\r\n"), 2 = CRLF pong. */
  | { readonly kind: 'keepalive'; readonly length: number }
  /**
   * Not enough bytes yet. `scanned`: the header section's end is not in
   * buf[0, scanned), pass it back as `scanFrom`. `need`: the message's full
   * length once known; calling again with fewer bytes is wasted work. Both
   * only spare CPU when bytes trickle in; ignoring them is correct too.
   */
  | { readonly kind: 'more'; readonly scanned?: number; readonly need?: number }
  /** The stream cannot be framed; the transport should close the connection. */
  | { readonly kind: 'error'; readonly error: PbxError; readonly reason: RejectReason };

export interface FrameOptions {
  /**
   * Set while this side has sent a ping and waits for the pong: a lone CRLF
   * is then taken as the pong at once. Otherwise it may be the first half of
   * a ping, so the framer waits for two more bytes to tell.
   */
  readonly awaitingPong?: boolean;
  /** Refusals bump `sip.parse.<reason>`. */
  readonly counters?: Counters;
  /** The `scanned` of the previous 'more' on the same (grown) buffer. */
  readonly scanFrom?: number;
}

const CR = 0x0d;
const LF = 0x0a;

function error(f: Failure, counters: Counters | undefined): FrameResult {
  counters?.inc(PARSE_COUNTER_PREFIX + f.reason);
  return { kind: 'error', error: f.error, reason: f.reason };
}

/** Finds the first complete unit (message or keep-alive) at the start of `buf`. */
export function frameStream(buf: Buffer, opts: FrameOptions = {}): FrameResult {
  if (buf.length === 0) return { kind: 'more' };
  if (buf[0] === CR || buf[0] === LF) {
    if (buf[0] === LF || (buf.length > 1 && buf[1] !== LF)) {
      return error(fail('headers', 'parse', 'bare CR or LF between messages', 0), opts.counters);
    }
    if (buf.length < 2) return { kind: 'more' };
    if (buf.length >= 4 && buf[2] === CR && buf[3] === LF) return { kind: 'keepalive', length: 4 };
    // A CRLF followed by nothing, or by a lone CR, may still become a ping.
    const undecided = buf.length === 2 || (buf.length === 3 && buf[2] === CR);
    if (undecided && !opts.awaitingPong) return { kind: 'more' };
    return { kind: 'keepalive', length: 2 };
  }
  // A start line holds no control bytes, so TLS records, binary junk or an
  // HTTP body sent at a SIP port are refused at once instead of buffered.
  const scanEnd = Math.min(buf.length, MAX_START_LINE_BYTES + 2);
  for (let i = 0; i < scanEnd; i++) {
    const b = buf[i]!;
    if (b === CR && buf[i + 1] === LF) break;
    if ((b < 0x20 && b !== 0x09 && !(b === CR && i === buf.length - 1)) || b === 0x7f) {
      return error(fail('start-line', 'parse', 'control byte in start line', i), opts.counters);
    }
  }
  const from = Math.min(Math.max(0, opts.scanFrom ?? 0), MAX_HEADER_SECTION_BYTES);
  const headerEnd = findHeaderEnd(buf, from, MAX_HEADER_SECTION_BYTES - from);
  if (headerEnd < 0) {
    const firstLine = buf.indexOf('\r\n');
    if ((firstLine < 0 && buf.length > MAX_START_LINE_BYTES) || firstLine > MAX_START_LINE_BYTES) {
      return error(fail('too-large', 'limit', 'start line too long', 0), opts.counters);
    }
    if (buf.length >= MAX_HEADER_SECTION_BYTES) {
      return error(fail('too-large', 'limit', 'header section too large', MAX_HEADER_SECTION_BYTES), opts.counters);
    }
    // The last three bytes may begin a CRLFCRLF that is still arriving.
    return { kind: 'more', scanned: Math.max(0, buf.length - 3) };
  }
  const read = readHead(buf, 0, headerEnd);
  if (!read.ok) return error(read, opts.counters);
  const cl = contentLength(read.head.headers);
  if (typeof cl === 'object') return error(cl, opts.counters);
  if (cl === undefined) {
    return error(fail('content-length', 'parse', 'Content-Length is required on a stream', 0), opts.counters);
  }
  if (cl > MAX_BODY_BYTES || read.head.bodyStart + cl > MAX_MESSAGE_BYTES) {
    return error(fail('too-large', 'limit', 'message too large', read.head.bodyStart), opts.counters);
  }
  const length = read.head.bodyStart + cl;
  return buf.length < length ? { kind: 'more', need: length } : { kind: 'message', length };
}

/** True for a datagram made only of CRLF pairs: a keep-alive, not a message (RFC 5626 4.4.1). */
export function isCrlfKeepalive(buf: Buffer): boolean {
  if (buf.length === 0 || buf.length % 2 !== 0) return false;
  for (let i = 0; i < buf.length; i += 2) if (buf[i] !== CR || buf[i + 1] !== LF) return false;
  return true;
}
