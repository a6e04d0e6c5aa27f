/**
 * Parses one whole SIP message from bytes (RFC 3261 section 7): a UDP
 * datagram, or a frame that frameStream() cut from a TCP/TLS stream.
 * Pure; never throws for any input.
 */
import type { Counters, PbxError } from '../../core/index.js';
import { isPbxError } from '../../core/index.js';
import { isToken } from './chars.js';
import { contentLength, fail, findHeaderEnd, leadingCrlfs, readHead, type Failure, type RawHeader } from './head.js';
import {
  checkCallId, parseContact, parseCSeq, parseMaxForwards, parseNameAddr, parseNameAddrList, parseVia,
} from './headers.js';
import {
  MAX_BODY_BYTES, MAX_HEADER_SECTION_BYTES, MAX_MESSAGE_BYTES, PARSE_COUNTER_PREFIX, type RejectReason,
} from './limits.js';
import { SINGLE_HEADERS } from './names.js';
import type { Header, SipMessage } from './types.js';
import { checkUri, parseUri, uriScheme, withoutDontBindPorts } from './uri.js';

export type ParseResult =
  | { readonly ok: true; readonly message: SipMessage }
  | { readonly ok: false; readonly error: PbxError; readonly reason: RejectReason };

/**
 * Parses `buf` as one message. Without Content-Length the body is the rest
 * of the buffer (datagram rule, RFC 3261 18.3); bytes past Content-Length
 * are ignored; a Content-Length beyond the buffer is an error. Each refusal
 * bumps `sip.parse.<reason>` on `counters` when given.
 */
export function parseMessage(buf: Buffer, counters?: Counters): ParseResult {
  const r = parseInner(buf);
  if (!r.ok) counters?.inc(PARSE_COUNTER_PREFIX + r.reason);
  return r;
}

/**
 * The status a server answers a refused request with: 505 for another SIP
 * version (RFC 3261 21.5.6), 513 for an oversized message
 * (21.5.14), 400 otherwise. Refused responses are dropped, never answered.
 */
export function rejectStatus(reason: RejectReason): 400 | 505 | 513 {
  if (reason === 'version') return 505;
  if (reason === 'too-large') return 513;
  return 400;
}

const VERSION = /^SIP\/(\d{1,3})\.(\d{1,3})$/i;

function checkVersion(v: string, offset: number): Failure | undefined {
  const m = VERSION.exec(v);
  if (!m) return fail('start-line', 'parse', 'invalid SIP version', offset);
  // RFC 3261 8.2.2.1 / RFC 4475 3.1.2.16: another version is answered with 505
  if (Number(m[1]) !== 2 || Number(m[2]) !== 0) return fail('version', 'parse', `unsupported version ${v}`, offset);
  return undefined;
}

function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

type StartLine =
  | { ok: true; kind: 'request'; method: string; uri: string }
  | { ok: true; kind: 'response'; status: number; reason: string };

function parseStartLine(line: string, offset: number): StartLine | Failure {
  const firstSp = line.indexOf(' ');
  const first = firstSp < 0 ? line : line.slice(0, firstSp);
  if (VERSION.test(first)) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (RFC 3261 7.2);
    // an empty phrase is fine (RFC 4475 3.1.1.13), a missing SP before it is tolerated.
    const bad = checkVersion(first, offset);
    if (bad) return bad;
    const rest = line.slice(firstSp + 1);
    if (firstSp < 0 || !/^[1-6]\d\d(?: |$)/.test(rest)) return fail('start-line', 'parse', 'invalid status code', offset);
    const reason = rest.slice(4);
    if (hasControl(reason)) return fail('start-line', 'parse', 'control character in reason phrase', offset);
    return { ok: true, kind: 'response', status: Number(rest.slice(0, 3)), reason };
  }
  // Request-Line = Method SP Request-URI SP SIP-Version, single spaces and no
  // trailing whitespace (RFC 4475 3.1.2.8 to 3.1.2.10).
  const parts = line.split(' ');
  if (parts.length !== 3) return fail('start-line', 'parse', 'request line must have three single-space separated parts', offset);
  const [method, uri, version] = parts as [string, string, string];
  if (!isToken(method)) return fail('start-line', 'parse', 'invalid method', offset);
  const bad = checkVersion(version, offset + method.length + uri.length + 2);
  if (bad) return bad;
  const uriOffset = offset + method.length + 1;
  try {
    const scheme = uriScheme(uri);
    if (scheme === 'sip' || scheme === 'sips') {
      // RFC 3261 19.1.1: headers are not allowed in a Request-URI (RFC 4475 3.1.2.11)
      if (parseUri(uri).headers.length > 0) return fail('uri', 'parse', 'headers in Request-URI', uriOffset);
    } else {
      checkUri(uri);
    }
  } catch (e) {
    if (isPbxError(e)) return fail('uri', 'parse', `invalid Request-URI: ${e.message}`, uriOffset);
    throw e;
  }
  return { ok: true, kind: 'request', method, uri };
}

function checkHeaders(headers: readonly RawHeader[], method: string | undefined): Failure | undefined {
  const counts = new Map<string, number>();
  for (const h of headers) counts.set(h.name, (counts.get(h.name) ?? 0) + 1);
  for (const name of SINGLE_HEADERS) {
    if ((counts.get(name) ?? 0) > 1) {
      const dup = headers.filter((h) => h.name === name)[1];
      return fail('duplicate-header', 'parse', `repeated ${name}`, dup?.offset);
    }
  }
  // RFC 3261 8.1.1: To, From, CSeq, Call-ID and Via are needed to answer at all
  // (RFC 4475 3.3.1). Max-Forwards may be absent (RFC 2543 peers, 3.4.1).
  for (const name of ['via', 'from', 'to', 'call-id', 'cseq']) {
    if (!counts.has(name)) return fail('missing-header', 'parse', `missing ${name}`);
  }
  for (const h of headers) {
    try {
      switch (h.name) {
        case 'via': parseVia(h.value); break;
        case 'from': case 'to': parseNameAddr(h.value); break;
        case 'call-id': checkCallId(h.value); break;
        case 'max-forwards': parseMaxForwards(h.value); break;
        // The syntax check reads a don't-bind ":-2" port as absent, so a
        // linphone REGISTER reaches the registrar (which knows when a contact
        // needs no port) instead of being refused here. The value is kept
        // as is: every consumer that parses it strictly still refuses it.
        case 'contact': parseContact(withoutDontBindPorts(h.value).text); break;
        case 'route': case 'record-route': parseNameAddrList(h.value); break;
        case 'cseq': {
          const cseq = parseCSeq(h.value);
          // RFC 4475 3.1.2.17/18: the CSeq method must be the request's
          if (method !== undefined && cseq.method !== method) return fail('cseq', 'parse', 'CSeq method differs from request method', h.offset);
          break;
        }
        default: break;
      }
    } catch (e) {
      if (!isPbxError(e)) throw e;
      const reason: RejectReason = h.name === 'cseq' ? 'cseq' : e.code === 'limit' ? 'too-large' : 'header-value';
      return fail(reason, e.code === 'limit' ? 'limit' : 'parse', `${h.name}: ${e.message}`, h.offset);
    }
  }
  return undefined;
}

function parseInner(buf: Buffer): ParseResult | Failure {
  if (buf.length > MAX_MESSAGE_BYTES) return fail('too-large', 'limit', 'message too large', MAX_MESSAGE_BYTES);
  // RFC 3261 7.5: CRLFs before the start line are ignored
  const start = 2 * leadingCrlfs(buf, 0);
  if (start >= buf.length) return fail('start-line', 'parse', 'no start line', start);
  const headerEnd = findHeaderEnd(buf, start, MAX_HEADER_SECTION_BYTES);
  if (headerEnd < 0) {
    return buf.length - start >= MAX_HEADER_SECTION_BYTES
      ? fail('too-large', 'limit', 'header section too large', start + MAX_HEADER_SECTION_BYTES)
      : fail('headers', 'parse', 'header section not terminated by an empty line', buf.length);
  }
  const read = readHead(buf, start, headerEnd);
  if (!read.ok) return read;
  const { head } = read;
  const sl = parseStartLine(head.startLine, start);
  if (!sl.ok) return sl;
  const bad = checkHeaders(head.headers, sl.kind === 'request' ? sl.method : undefined);
  if (bad) return bad;

  const cl = contentLength(head.headers);
  if (typeof cl === 'object') return cl;
  const available = buf.length - head.bodyStart;
  const length = cl ?? available;
  if (length > MAX_BODY_BYTES) return fail('too-large', 'limit', 'body too large', head.bodyStart);
  // RFC 4475 3.1.2.2: a Content-Length past the end of the datagram is an error
  if (length > available) return fail('content-length', 'parse', 'Content-Length larger than the data', head.bodyStart);
  const body = Buffer.from(buf.subarray(head.bodyStart, head.bodyStart + length));
  const headers: Header[] = head.headers.map((h) => ({ name: h.name, value: h.value }));
  const message: SipMessage = sl.kind === 'request'
    ? { kind: 'request', method: sl.method, uri: sl.uri, headers, body }
    : { kind: 'response', status: sl.status, reason: sl.reason, headers, body };
  return { ok: true, message };
}
