/**
 * Typed parsers for header values (RFC 3261 section 20 and the grammar of
 * 25.1). Values are the unfolded strings the message parser produced. Every
 * parser throws PbxError 'parse' on bad input and never reads past the end.
 */
import { PbxError } from '../../core/index.js';
import type { CSeq, NameAddr, UriParam, Via } from './types.js';
import {
  allIn, Cursor, GEN_VALUE, HOST_CHARS, inSet, isToken, isWs, parseError, quote, TOKEN, trimWs, WORD,
} from './chars.js';
import { checkUri } from './uri.js';

/**
 * Splits a list-valued header at commas that are outside quoted strings and
 * angle brackets. Items are trimmed; empty items are kept so that validators
 * can reject them (RFC 4475 3.1.2.1). An empty value gives no items.
 */
export function splitHeaderValues(value: string): string[] {
  if (trimWs(value).length === 0) return [];
  const out: string[] = [];
  let start = 0;
  let inQuote = false;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (inQuote) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inQuote = false;
    } else if (c === 0x22) {
      inQuote = true;
    } else if (c === 0x3c) {
      angle = true;
    } else if (c === 0x3e) {
      angle = false;
    } else if (c === 0x2c && !angle) {
      out.push(trimWs(value.slice(start, i)));
      start = i + 1;
    }
  }
  out.push(trimWs(value.slice(start)));
  return out;
}

/** The value of a parameter by case-insensitive name: null if it has no value, undefined if absent. */
export function paramValue(params: readonly UriParam[], name: string): string | null | undefined {
  const lower = name.toLowerCase();
  for (const p of params) if (p.name.toLowerCase() === lower) return p.value;
  return undefined;
}

/**
 * `;name[=value]` header parameters. A value is a token, a host (IPv6
 * references included) or a quoted string, which keeps its quotes here.
 */
function readParams(cur: Cursor, stopAtComma: boolean): UriParam[] {
  const params: UriParam[] = [];
  for (;;) {
    cur.sws();
    if (cur.done || (stopAtComma && cur.peek() === 0x2c)) return params;
    cur.expect(';', 'before a parameter');
    cur.sws();
    const name = cur.token('parameter name');
    cur.sws();
    if (cur.eat('=')) {
      cur.sws();
      const value = cur.peek() === 0x22 ? cur.quoted().raw : cur.run(GEN_VALUE);
      if (value.length === 0) throw parseError(`empty value for parameter ${name}`, cur.pos);
      params.push({ name, value });
    } else {
      params.push({ name, value: null });
    }
  }
}

function readSentBy(cur: Cursor): { host: string; port?: number } {
  let host: string;
  if (cur.peek() === 0x5b) {
    const close = cur.s.indexOf(']', cur.pos);
    if (close < 0) throw parseError('unterminated IPv6 reference in Via', cur.pos);
    host = cur.s.slice(cur.pos, close + 1);
    if (!/^\[[0-9a-fA-F:.]{2,45}\]$/.test(host)) throw parseError('invalid IPv6 reference in Via', cur.pos);
    cur.pos = close + 1;
  } else {
    host = cur.run(HOST_CHARS);
    if (host.length === 0) throw parseError('Via without a host', cur.pos);
  }
  cur.sws();
  if (cur.eat(':')) {
    cur.sws();
    const digits = cur.run(DIGITS);
    const port = Number(digits);
    if (digits.length === 0 || digits.length > 5 || port > 65535) throw parseError('invalid Via port', cur.pos);
    return { host: host.toLowerCase(), port };
  }
  return { host: host.toLowerCase() };
}

const DIGITS = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) DIGITS[c] = 1;

function parseOneVia(text: string): Via {
  if (text.length === 0) throw parseError('empty Via value');
  const cur = new Cursor(text);
  // sent-protocol = protocol-name SLASH protocol-version SLASH transport, LWS allowed around the slashes
  const proto = cur.token('Via protocol');
  cur.sws();
  cur.expect('/', 'after the Via protocol');
  cur.sws();
  const version = cur.token('Via version');
  cur.sws();
  cur.expect('/', 'after the Via version');
  cur.sws();
  const transport = cur.token('Via transport').toUpperCase();
  if (proto.toUpperCase() !== 'SIP' || version !== '2.0') throw parseError(`unsupported Via protocol ${proto}/${version}`);
  if (!cur.sws()) throw parseError('expected whitespace before the Via sent-by', cur.pos);
  const sentBy = readSentBy(cur);
  const params = readParams(cur, false);
  const via: { -readonly [K in keyof Via]: Via[K] } = { transport, host: sentBy.host, params };
  if (sentBy.port !== undefined) via.port = sentBy.port;
  for (const p of params) {
    const name = p.name.toLowerCase();
    if (name === 'branch') {
      if (p.value === null || !isToken(p.value)) throw parseError('invalid Via branch');
      via.branch = p.value;
    } else if (name === 'received') {
      // RFC 5118 4.5: take a bracketed IPv6 address too, and store it bare
      const v = p.value === null ? '' : p.value.replace(/^\[(.*)\]$/, '$1');
      if (!/^[0-9a-fA-F:.]{2,45}$/.test(v)) throw parseError('invalid Via received');
      via.received = v;
    } else if (name === 'rport') {
      if (p.value === null) via.rport = null;
      else if (/^\d{1,5}$/.test(p.value) && Number(p.value) <= 65535) via.rport = Number(p.value);
      else throw parseError('invalid Via rport');
    } else if (name === 'ttl') {
      if (p.value === null || !/^\d{1,3}$/.test(p.value) || Number(p.value) > 255) throw parseError('invalid Via ttl');
    }
  }
  return via;
}

/** All Vias of one header value, in order (RFC 3261 20.42). */
export function parseVia(value: string): Via[] {
  const items = splitHeaderValues(value);
  if (items.length === 0) throw parseError('empty Via header');
  return items.map(parseOneVia);
}

function readUriInBrackets(cur: Cursor): string {
  cur.expect('<', 'to open a URI');
  const start = cur.pos;
  const close = cur.s.indexOf('>', start);
  if (close < 0) throw parseError('unterminated <URI>', start);
  const uri = cur.s.slice(start, close);
  // LAQUOT and RAQUOT allow no whitespace inside the brackets (RFC 4475 3.1.2.14)
  for (let i = 0; i < uri.length; i++) {
    if (isWs(uri.charCodeAt(i))) throw parseError('whitespace inside <URI>', start + i);
  }
  checkUri(uri);
  cur.pos = close + 1;
  return uri;
}

function readNameAddr(cur: Cursor, inList: boolean): NameAddr {
  cur.sws();
  let displayName: string | undefined;
  let uri: string;
  const c = cur.peek();
  if (c === 0x22) {
    displayName = cur.quoted().text;
    cur.sws();
    uri = readUriInBrackets(cur);
  } else if (c === 0x3c) {
    uri = readUriInBrackets(cur);
  } else {
    // Either a display name of tokens before '<', or an addr-spec whose scheme
    // is the first "token" followed by ':'.
    const start = cur.pos;
    let first = true;
    let nameEnd = start;
    for (;;) {
      const t = cur.run(TOKEN);
      if (t.length === 0) throw parseError('expected a display name or URI', cur.pos);
      if (first && cur.peek() === 0x3a) {
        cur.pos = start;
        return readAddrSpec(cur, inList);
      }
      first = false;
      nameEnd = cur.pos;
      cur.sws();
      if (cur.peek() === 0x3c) break;
      if (!inSet(TOKEN, cur.peek())) throw parseError('invalid character in display name', cur.pos);
    }
    displayName = cur.s.slice(start, nameEnd);
    uri = readUriInBrackets(cur);
  }
  const params = readParams(cur, inList);
  const na: { -readonly [K in keyof NameAddr]: NameAddr[K] } = { uri, params };
  if (displayName !== undefined) na.displayName = displayName;
  return na;
}

function readAddrSpec(cur: Cursor, inList: boolean): NameAddr {
  const start = cur.pos;
  while (!cur.done) {
    const c = cur.peek();
    if (isWs(c) || c === 0x3b || c === 0x2c) break;
    cur.pos++;
  }
  const uri = cur.s.slice(start, cur.pos);
  // RFC 3261 20: a URI holding ',', ';' or '?' must be in name-addr form, so
  // here ';' starts header parameters and a '?' is an error (RFC 4475 3.1.2.13).
  if (uri.includes('?')) throw parseError('URI with headers outside <>', start);
  checkUri(uri);
  return { uri, params: readParams(cur, inList) };
}

/** One name-addr or addr-spec with its header parameters (From, To, Refer-To ...). */
export function parseNameAddr(value: string): NameAddr {
  const cur = new Cursor(value);
  const na = readNameAddr(cur, false);
  cur.sws();
  if (!cur.done) throw parseError('unexpected text after name-addr', cur.pos);
  return na;
}

/** A comma-separated list of name-addrs (Contact, Route, Record-Route ...). */
export function parseNameAddrList(value: string): NameAddr[] {
  const cur = new Cursor(value);
  const out: NameAddr[] = [];
  for (;;) {
    out.push(readNameAddr(cur, true));
    cur.sws();
    if (cur.done) return out;
    cur.expect(',', 'between list items');
  }
}

/** True for the `Contact: *` of a REGISTER that removes all bindings (RFC 3261 10.2.2). */
export function isWildcardContact(value: string): boolean {
  return trimWs(value) === '*';
}

export type ContactValue = { readonly wildcard: true } | { readonly wildcard: false; readonly contacts: readonly NameAddr[] };

/** A Contact header value: either the wildcard or a list of name-addrs. */
export function parseContact(value: string): ContactValue {
  if (isWildcardContact(value)) return { wildcard: true };
  return { wildcard: false, contacts: parseNameAddrList(value) };
}

/** Writes a name-addr, always with <> so URI parameters cannot be mistaken for header ones. */
export function formatNameAddr(n: NameAddr): string {
  let out = n.displayName !== undefined ? quote(n.displayName) + ' ' : '';
  if (/[\s<>]/.test(n.uri)) throw new PbxError('protocol', 'URI with whitespace or brackets');
  out += `<${n.uri}>`;
  for (const p of n.params) {
    if (!isToken(p.name)) throw new PbxError('protocol', `invalid parameter name ${p.name}`);
    out += ';' + p.name;
    if (p.value !== null) {
      if (!(p.value.startsWith('"') || allIn(GEN_VALUE, p.value)) || /[\r\n]/.test(p.value)) {
        throw new PbxError('protocol', `invalid value for parameter ${p.name}`);
      }
      out += '=' + p.value;
    }
  }
  return out;
}

/** Largest sequence number the CSeq grammar's 32-bit space allows (RFC 3261 8.1.1.5). */
export const MAX_CSEQ = 0xffffffff;

/** `CSeq: 1*DIGIT LWS Method` (RFC 3261 20.16). */
export function parseCSeq(value: string): CSeq {
  const cur = new Cursor(value);
  cur.sws();
  const digits = cur.run(DIGITS);
  if (digits.length === 0) throw parseError('CSeq without a number');
  const trimmed = digits.replace(/^0+(?=\d)/, '');
  if (trimmed.length > 10 || Number(trimmed) > MAX_CSEQ) throw parseError('CSeq number too large');
  if (!cur.sws()) throw parseError('expected whitespace in CSeq', cur.pos);
  const method = cur.token('CSeq method');
  cur.sws();
  if (!cur.done) throw parseError('unexpected text after CSeq method', cur.pos);
  return { seq: Number(trimmed), method };
}

/** `Call-ID: word ["@" word]` (RFC 3261 20.8). */
export function checkCallId(value: string): void {
  const at = value.indexOf('@');
  const parts = at < 0 ? [value] : [value.slice(0, at), value.slice(at + 1)];
  for (const p of parts) if (p.length === 0 || !allIn(WORD, p)) throw parseError('invalid Call-ID');
}

/** `Max-Forwards: 1*DIGIT`, 0 to 255 (RFC 3261 20.22; RFC 4475 3.1.2.4 allows rejecting 300). */
export function parseMaxForwards(value: string): number {
  if (!/^\d{1,10}$/.test(value) || Number(value) > 255) throw parseError('invalid Max-Forwards');
  return Number(value);
}

export interface AuthParams {
  readonly scheme: string;
  /** Parameter names in lower case, values unquoted. */
  readonly params: Readonly<Record<string, string>>;
}

/** Authorization / WWW-Authenticate and their proxy forms (RFC 3261 25.1, RFC 7616 3.3). */
export function parseAuthParams(value: string): AuthParams {
  const cur = new Cursor(value);
  cur.sws();
  const scheme = cur.token('auth scheme');
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  if (!cur.sws()) {
    if (!cur.done) throw parseError('expected whitespace after auth scheme', cur.pos);
    return { scheme, params };
  }
  for (;;) {
    cur.sws();
    if (cur.done) break;
    const name = cur.token('auth parameter').toLowerCase();
    cur.sws();
    cur.expect('=', 'after an auth parameter name');
    cur.sws();
    const isQuoted = cur.peek() === 0x22;
    const v = isQuoted ? cur.quoted().text : cur.run(AUTH_TOKEN);
    if (v.length === 0 && !isQuoted) throw parseError(`empty auth parameter ${name}`, cur.pos);
    // A repeated parameter would let two parties read different values.
    if (Object.prototype.hasOwnProperty.call(params, name)) throw parseError(`repeated auth parameter ${name}`, cur.pos);
    params[name] = v;
    cur.sws();
    if (cur.done) break;
    cur.expect(',', 'between auth parameters');
  }
  return { scheme, params: { ...params } };
}

/** Token characters and the few that unquoted digest values use in practice. */
const AUTH_TOKEN = new Uint8Array(TOKEN);
for (const ch of ':/@') AUTH_TOKEN[ch.charCodeAt(0)] = 1;

/** Writes `scheme name=value, ...`; names listed in `quoted` get quoted values. */
export function formatAuthParams(scheme: string, params: Readonly<Record<string, string>>, quoted: readonly string[]): string {
  if (!isToken(scheme)) throw new PbxError('protocol', 'invalid auth scheme');
  const q = new Set(quoted.map((n) => n.toLowerCase()));
  const parts: string[] = [];
  for (const [name, value] of Object.entries(params)) {
    if (!isToken(name)) throw new PbxError('protocol', `invalid auth parameter name ${name}`);
    if (q.has(name.toLowerCase())) parts.push(`${name}=${quote(value)}`);
    else if (value.length > 0 && allIn(AUTH_TOKEN, value)) parts.push(`${name}=${value}`);
    else throw new PbxError('protocol', `auth parameter ${name} needs quoting`);
  }
  return parts.length === 0 ? scheme : `${scheme} ${parts.join(', ')}`;
}
