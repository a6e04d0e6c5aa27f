/** Reading headers of a message, immutable builders, and responses to requests. */
import { PbxError } from '../../core/index.js';
import { isToken } from './chars.js';
import { paramValue, parseCSeq, parseNameAddr, parseVia, splitHeaderValues } from './headers.js';
import { isListHeader, normalizeHeaderName } from './names.js';
import type { CSeq, Header, SipMessage, SipRequest, SipResponse, Via } from './types.js';

/** First value of a header (name case-insensitive, compact or long), undefined if absent. */
export function getHeader(msg: SipMessage, name: string): string | undefined {
  const n = normalizeHeaderName(name);
  for (const h of msg.headers) if (h.name === n) return h.value;
  return undefined;
}

/**
 * All values of a header in order. List headers (Via, Contact, Route ...) are
 * split at top-level commas and empty items dropped; others (WWW-Authenticate,
 * Authorization, Date ...) come back one value per header line.
 */
export function getHeaders(msg: SipMessage, name: string): string[] {
  const n = normalizeHeaderName(name);
  const split = isListHeader(n);
  const out: string[] = [];
  for (const h of msg.headers) {
    if (h.name !== n) continue;
    if (split) {
      for (const v of splitHeaderValues(h.value)) if (v.length > 0) out.push(v);
    } else {
      out.push(h.value);
    }
  }
  return out;
}

function required(msg: SipMessage, name: string): string {
  const v = getHeader(msg, name);
  if (v === undefined) throw new PbxError('parse', `missing ${name}`);
  return v;
}

/** The first Via: the hop that sent this request, or this element for a response. */
export function topVia(msg: SipMessage): Via {
  const first = parseVia(required(msg, 'via'))[0];
  if (first === undefined) throw new PbxError('parse', 'empty Via');
  return first;
}

export function getCSeq(msg: SipMessage): CSeq {
  return parseCSeq(required(msg, 'cseq'));
}

export function getCallId(msg: SipMessage): string {
  return required(msg, 'call-id');
}

function tagOf(msg: SipMessage, name: string): string | undefined {
  const tag = paramValue(parseNameAddr(required(msg, name)).params, 'tag');
  return typeof tag === 'string' ? tag : undefined;
}

export function fromTag(msg: SipMessage): string | undefined {
  return tagOf(msg, 'from');
}

export function toTag(msg: SipMessage): string | undefined {
  return tagOf(msg, 'to');
}

function header(name: string, value: string): Header {
  const n = normalizeHeaderName(name);
  if (!isToken(n)) throw new PbxError('protocol', `invalid header name ${JSON.stringify(name)}`);
  // A line break in a value would let it inject headers on the wire.
  if (/[\r\n]/.test(value)) throw new PbxError('protocol', `line break in ${n} value`);
  return { name: n, value };
}

function withHeaders<M extends SipMessage>(msg: M, headers: readonly Header[]): M {
  return { ...msg, headers };
}

/** Adds a header after all others. */
export function withHeader<M extends SipMessage>(msg: M, name: string, value: string): M {
  return withHeaders(msg, [...msg.headers, header(name, value)]);
}

/** Adds a header before all others (a new top Via, Record-Route ...). */
export function prependHeader<M extends SipMessage>(msg: M, name: string, value: string): M {
  return withHeaders(msg, [header(name, value), ...msg.headers]);
}

/** Removes every header of that name. */
export function withoutHeader<M extends SipMessage>(msg: M, name: string): M {
  const n = normalizeHeaderName(name);
  return withHeaders(msg, msg.headers.filter((h) => h.name !== n));
}

/** Replaces every header of that name with one value, at the position of the first (or last if absent). */
export function replaceHeader<M extends SipMessage>(msg: M, name: string, value: string): M {
  const h = header(name, value);
  const out: Header[] = [];
  let placed = false;
  for (const x of msg.headers) {
    if (x.name !== h.name) out.push(x);
    else if (!placed) {
      out.push(h);
      placed = true;
    }
  }
  if (!placed) out.push(h);
  return withHeaders(msg, out);
}

/**
 * Sets the body. With a content type, Content-Type is set too; an empty body
 * without one drops Content-Type. Content-Length is left to serialize().
 */
export function withBody<M extends SipMessage>(msg: M, body: Buffer, contentType?: string): M {
  let out: M = { ...withoutHeader(msg, 'content-length'), body: Buffer.from(body) };
  if (contentType !== undefined) out = replaceHeader(out, 'content-type', contentType);
  else if (body.length === 0) out = withoutHeader(out, 'content-type');
  return out;
}

const REASONS: Readonly<Record<number, string>> = {
  100: 'Trying', 180: 'Ringing', 181: 'Call Is Being Forwarded', 182: 'Queued', 183: 'Session Progress',
  199: 'Early Dialog Terminated', 200: 'OK', 202: 'Accepted', 204: 'No Notification',
  300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Moved Temporarily', 305: 'Use Proxy',
  380: 'Alternative Service', 400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required',
  403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 406: 'Not Acceptable',
  407: 'Proxy Authentication Required', 408: 'Request Timeout', 410: 'Gone', 412: 'Conditional Request Failed',
  413: 'Request Entity Too Large', 414: 'Request-URI Too Long', 415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme', 417: 'Unknown Resource-Priority', 420: 'Bad Extension',
  421: 'Extension Required', 422: 'Session Interval Too Small', 423: 'Interval Too Brief',
  428: 'Use Identity Header', 429: 'Provide Referrer Identity', 430: 'Flow Failed', 433: 'Anonymity Disallowed',
  436: 'Bad Identity-Info', 437: 'Unsupported Certificate', 438: 'Invalid Identity Header',
  439: 'First Hop Lacks Outbound Support', 440: 'Max-Breadth Exceeded', 469: 'Bad Info Package',
  470: 'Consent Needed', 480: 'Temporarily Unavailable', 481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected', 483: 'Too Many Hops', 484: 'Address Incomplete', 485: 'Ambiguous', 486: 'Busy Here',
  487: 'Request Terminated', 488: 'Not Acceptable Here', 489: 'Bad Event', 491: 'Request Pending',
  493: 'Undecipherable', 494: 'Security Agreement Required', 500: 'Server Internal Error',
  501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Server Time-out',
  505: 'Version Not Supported', 513: 'Message Too Large', 555: 'Push Notification Service Not Supported',
  580: 'Precondition Failure', 600: 'Busy Everywhere', 603: 'Decline', 604: 'Does Not Exist Anywhere',
  606: 'Not Acceptable', 607: 'Unwanted', 608: 'Rejected',
};

const CLASS_REASONS = ['', 'Provisional', 'Success', 'Redirection', 'Request Failure', 'Server Failure', 'Global Failure'];

/** The usual reason phrase for a status code (RFC 3261 21 and later RFCs), or its class's name. */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? CLASS_REASONS[Math.floor(status / 100)] ?? '';
}

export interface ResponseOptions {
  /** Added to To when the request's To has no tag (RFC 3261 8.2.6.2). */
  readonly toTag?: string;
  /** Extra headers, after the copied ones. */
  readonly headers?: readonly Header[];
  readonly body?: Buffer;
  readonly contentType?: string;
}

/**
 * A response to `req` (RFC 3261 8.2.6): Vias copied in order, From, To
 * (with the given tag unless it already has one), Call-ID and CSeq; a 100
 * also echoes Timestamp (8.2.6.1).
 */
export function createResponse(req: SipRequest, status: number, reason?: string, opts: ResponseOptions = {}): SipResponse {
  if (!Number.isInteger(status) || status < 100 || status > 699) throw new PbxError('protocol', `invalid status ${status}`);
  const phrase = reason ?? reasonPhrase(status);
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(phrase)) throw new PbxError('protocol', 'invalid reason phrase');
  const headers: Header[] = req.headers.filter((h) => h.name === 'via');
  const from = required(req, 'from');
  let to = required(req, 'to');
  if (opts.toTag !== undefined && toTagOf(to) === undefined) {
    if (!isToken(opts.toTag)) throw new PbxError('protocol', 'invalid To tag');
    to = `${to};tag=${opts.toTag}`;
  }
  headers.push({ name: 'from', value: from }, { name: 'to', value: to });
  headers.push({ name: 'call-id', value: required(req, 'call-id') }, { name: 'cseq', value: required(req, 'cseq') });
  const timestamp = getHeader(req, 'timestamp');
  if (status === 100 && timestamp !== undefined) headers.push({ name: 'timestamp', value: timestamp });
  for (const h of opts.headers ?? []) headers.push(header(h.name, h.value));
  const body = opts.body ? Buffer.from(opts.body) : Buffer.alloc(0);
  if (opts.contentType !== undefined) headers.push(header('content-type', opts.contentType));
  return { kind: 'response', status, reason: phrase, headers, body };
}

function toTagOf(value: string): string | null | undefined {
  return paramValue(parseNameAddr(value).params, 'tag');
}
