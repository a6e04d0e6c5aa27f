/**
 * sip:, sips: and tel: URIs (RFC 3261 section 19.1 and 25.1, RFC 3966), and
 * the RFC 3261 19.1.4 comparison rules.
 */
import { isUtf8 } from 'node:buffer';
import { PbxError } from '../../core/index.js';
import type { SipUri, UriParam } from './types.js';
import {
  allIn, HEADER_CHARS, HEX, HOST_CHARS, inSet, PARAM_CHARS, parseError, PASSWORD_CHARS,
  SCHEME_CHARS, URIC, USER_CHARS,
} from './chars.js';

/** Longest URI we accept anywhere; longer ones are rejected as 'limit'. */
export const MAX_URI_LENGTH = 2048;

/** Percent-decodes `s`, which may only hold characters of `allowed` and escapes. */
function unescapePart(s: string, allowed: Uint8Array, what: string): string {
  if (s.indexOf('%') < 0) {
    if (!allIn(allowed, s)) throw parseError(`invalid character in URI ${what}`);
    return s;
  }
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      // RFC 3261 19.1.2: an escape is '%' and two hex digits
      if (i + 2 >= s.length) throw parseError(`truncated escape in URI ${what}`);
      const h1 = s.charCodeAt(i + 1);
      const h2 = s.charCodeAt(i + 2);
      if (!inSet(HEX, h1) || !inSet(HEX, h2)) throw parseError(`invalid escape in URI ${what}`);
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (inSet(allowed, c)) {
      bytes.push(c);
    } else {
      throw parseError(`invalid character in URI ${what}`);
    }
  }
  const buf = Buffer.from(bytes);
  // Escaped octets are usually UTF-8; anything else is kept byte for byte.
  return buf.toString(isUtf8(buf) ? 'utf8' : 'latin1');
}

/** Percent-encodes every character outside `allowed` as UTF-8 octets. */
export function escapePart(s: string, allowed: Uint8Array): string {
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch.length === 1 && inSet(allowed, c) && c !== 0x25) {
      out += ch;
    } else {
      for (const b of Buffer.from(ch, 'utf8')) out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
    }
  }
  return out;
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function checkHost(host: string): void {
  if (host.startsWith('[')) {
    // RFC 5118 4.10 lets a robust parser take a reference with an extra
    // colon, so the check is on the characters, not the exact IPv6 grammar.
    const inner = host.slice(1, -1);
    if (!host.endsWith(']') || inner.length < 2 || inner.length > 45 || !inner.includes(':')
      || !/^[0-9a-fA-F:.]+$/.test(inner)) {
      throw parseError('invalid IPv6 reference');
    }
    return;
  }
  if (host.length === 0 || host.length > 255) throw parseError('invalid host');
  const v4 = IPV4.exec(host);
  if (v4) {
    for (let i = 1; i <= 4; i++) if (Number(v4[i]) > 255) throw parseError('invalid IPv4 address');
    return;
  }
  if (!allIn(HOST_CHARS, host)) throw parseError('invalid character in host');
  for (const label of host.endsWith('.') ? host.slice(0, -1).split('.') : host.split('.')) {
    if (label.length === 0 || label.length > 63 || label.startsWith('-') || label.endsWith('-')) {
      throw parseError('invalid host label');
    }
  }
}

/**
 * liblinphone's "don't bind" transports (a phone that must not listen, common
 * on mobile) write port -2 (its LC_SIP_TRANSPORT_DONTBIND) in a Contact:
 * `<sip:alice@127.0.0.1:-2;transport=tls>`. The grammar allows digits only, so
 * parseUri refuses it and stays strict. This matches "scheme:[userinfo@]host"
 * immediately followed by ":-2" and then ';', '?', '>', ',' or the end, the
 * one shape that is tolerated where a message is checked as a whole
 * (parse.ts, the Contact header) and where a REGISTER binds a contact.
 */
export const DONT_BIND_PORT_PATTERN = /(sips?:(?:[^@<>;?\s",]*@)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)):-2(?=[;?>,]|$)/i;

/** The text with every don't-bind ":-2" port taken out (read as "no port"), and whether there was one. */
export function withoutDontBindPorts(text: string): { readonly text: string; readonly found: boolean } {
  const all = new RegExp(DONT_BIND_PORT_PATTERN.source, 'gi');
  const out = text.replace(all, '$1');
  return { text: out, found: out !== text };
}

function parsePort(s: string): number {
  if (!/^\d{1,5}$/.test(s)) throw parseError('invalid port');
  const port = Number(s);
  if (port > 65535) throw parseError('port out of range');
  return port;
}

function parseParams(s: string, what: string): UriParam[] {
  const params: UriParam[] = [];
  for (const part of s.split(';')) {
    const eq = part.indexOf('=');
    const name = unescapePart(eq < 0 ? part : part.slice(0, eq), PARAM_CHARS, what);
    if (name.length === 0) throw parseError(`empty ${what} name`);
    if (eq < 0) {
      params.push({ name, value: null });
    } else {
      const value = unescapePart(part.slice(eq + 1), PARAM_CHARS, what);
      if (value.length === 0) throw parseError(`empty ${what} value`);
      params.push({ name, value });
    }
  }
  return params;
}

function parseUriHeaders(s: string): UriParam[] {
  return s.split('&').map((part) => {
    const eq = part.indexOf('=');
    if (eq <= 0) throw parseError('URI header without a name or value');
    return {
      name: unescapePart(part.slice(0, eq), HEADER_CHARS, 'header'),
      value: unescapePart(part.slice(eq + 1), HEADER_CHARS, 'header'),
    };
  });
}

function parseSip(scheme: 'sip' | 'sips', rest: string): SipUri {
  let user: string | undefined;
  let password: string | undefined;
  let hostPart = rest;
  // Neither user, password, parameters nor headers may hold a raw '@', so
  // the first one ends the userinfo (the user part may hold ';' and '?').
  const at = rest.indexOf('@');
  if (at >= 0) {
    if (rest.indexOf('@', at + 1) >= 0) throw parseError('more than one @ in URI');
    const userinfo = rest.slice(0, at);
    hostPart = rest.slice(at + 1);
    const colon = userinfo.indexOf(':');
    const rawUser = colon < 0 ? userinfo : userinfo.slice(0, colon);
    if (rawUser.length === 0) throw parseError('empty user in URI');
    user = unescapePart(rawUser, USER_CHARS, 'user');
    if (colon >= 0) password = unescapePart(userinfo.slice(colon + 1), PASSWORD_CHARS, 'password');
  }
  let i: number;
  let host: string;
  if (hostPart.startsWith('[')) {
    const close = hostPart.indexOf(']');
    if (close < 0) throw parseError('unterminated IPv6 reference');
    host = hostPart.slice(0, close + 1);
    i = close + 1;
  } else {
    i = 0;
    while (i < hostPart.length && !':;?'.includes(hostPart[i]!)) i++;
    host = hostPart.slice(0, i);
  }
  checkHost(host);
  let port: number | undefined;
  if (hostPart[i] === ':') {
    let j = i + 1;
    while (j < hostPart.length && hostPart[j] !== ';' && hostPart[j] !== '?') j++;
    port = parsePort(hostPart.slice(i + 1, j));
    i = j;
  }
  const q = hostPart.indexOf('?', i);
  const paramText = hostPart.slice(i, q < 0 ? hostPart.length : q);
  if (paramText.length > 0 && !paramText.startsWith(';')) throw parseError('unexpected text after host');
  const params = paramText.length === 0 ? [] : parseParams(paramText.slice(1), 'parameter');
  const headers = q < 0 ? [] : parseUriHeaders(hostPart.slice(q + 1));
  const uri: { -readonly [K in keyof SipUri]: SipUri[K] } = { scheme, host: host.toLowerCase(), params, headers };
  if (user !== undefined) uri.user = user;
  if (password !== undefined) uri.password = password;
  if (port !== undefined) uri.port = port;
  return uri;
}

/** RFC 3966: the number goes in `user`, `host` is empty. */
function parseTel(rest: string): SipUri {
  const semi = rest.indexOf(';');
  const number = semi < 0 ? rest : rest.slice(0, semi);
  const global = number.startsWith('+');
  const digits = global ? number.slice(1) : number;
  const ok = global ? /^[0-9().-]*[0-9][0-9().-]*$/.test(digits) : /^[0-9a-fA-F*#().-]*[0-9a-fA-F*#][0-9a-fA-F*#().-]*$/.test(digits);
  if (!ok) throw parseError('invalid telephone number');
  const params = semi < 0 ? [] : parseParams(rest.slice(semi + 1), 'parameter');
  // A local number is only meaningful with its phone-context (RFC 3966 5.1.5).
  if (!global && !params.some((p) => p.name.toLowerCase() === 'phone-context')) {
    throw parseError('local tel number without phone-context');
  }
  return { scheme: 'tel', user: number, host: '', params, headers: [] };
}

/** The lower-cased scheme of a URI string, or undefined if it has none. */
export function uriScheme(s: string): string | undefined {
  const colon = s.indexOf(':');
  if (colon <= 0) return undefined;
  const scheme = s.slice(0, colon);
  const first = scheme.charCodeAt(0);
  const alpha = (first >= 0x41 && first <= 0x5a) || (first >= 0x61 && first <= 0x7a);
  return alpha && allIn(SCHEME_CHARS, scheme) ? scheme.toLowerCase() : undefined;
}

/** Parses a sip:, sips: or tel: URI; throws PbxError 'parse' (or 'limit'). */
export function parseUri(s: string): SipUri {
  if (s.length > MAX_URI_LENGTH) throw new PbxError('limit', 'URI too long');
  const scheme = uriScheme(s);
  if (scheme === undefined) throw parseError('URI without a scheme');
  const rest = s.slice(scheme.length + 1);
  // URIs are ASCII with escapes: no whitespace or controls anywhere (RFC 4475 3.1.2.8).
  for (let i = 0; i < rest.length; i++) {
    const c = rest.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) throw parseError('invalid character in URI', scheme.length + 1 + i);
  }
  if (scheme === 'sip' || scheme === 'sips') return parseSip(scheme, rest);
  if (scheme === 'tel') return parseTel(rest);
  throw parseError(`unsupported URI scheme ${scheme}`);
}

/** Syntax check for a URI of any scheme: sip/sips/tel fully, others as an RFC 2396 absoluteURI. */
export function checkUri(s: string): void {
  const scheme = uriScheme(s);
  if (scheme === 'sip' || scheme === 'sips' || scheme === 'tel') {
    parseUri(s);
    return;
  }
  if (scheme === undefined) throw parseError('URI without a scheme');
  if (s.length > MAX_URI_LENGTH) throw new PbxError('limit', 'URI too long');
  const rest = s.slice(scheme.length + 1);
  if (rest.length === 0 || !allIn(URIC, rest)) throw parseError('invalid character in URI');
  for (let i = rest.indexOf('%'); i >= 0; i = rest.indexOf('%', i + 1)) {
    if (!inSet(HEX, rest.charCodeAt(i + 1)) || !inSet(HEX, rest.charCodeAt(i + 2))) throw parseError('invalid escape in URI');
  }
}

function formatParams(params: readonly UriParam[]): string {
  let out = '';
  for (const p of params) {
    out += ';' + escapePart(p.name, PARAM_CHARS);
    if (p.value !== null) out += '=' + escapePart(p.value, PARAM_CHARS);
  }
  return out;
}

export function formatUri(u: SipUri): string {
  if (u.scheme === 'tel') return `tel:${u.user ?? ''}${formatParams(u.params)}`;
  let out = u.scheme + ':';
  if (u.user !== undefined) {
    out += escapePart(u.user, USER_CHARS);
    if (u.password !== undefined) out += ':' + escapePart(u.password, PASSWORD_CHARS);
    out += '@';
  }
  out += u.host;
  if (u.port !== undefined) out += ':' + String(u.port);
  out += formatParams(u.params);
  if (u.headers.length > 0) {
    out += '?' + u.headers.map((h) => `${escapePart(h.name, HEADER_CHARS)}=${escapePart(h.value ?? '', HEADER_CHARS)}`).join('&');
  }
  return out;
}

function paramMap(params: readonly UriParam[]): Map<string, string | null> {
  const m = new Map<string, string | null>();
  for (const p of params) {
    const k = p.name.toLowerCase();
    if (!m.has(k)) m.set(k, p.value === null ? null : p.value.toLowerCase());
  }
  return m;
}

/** Parameters that must match when either side has them (RFC 3261 19.1.4). */
const STRICT_PARAMS = ['user', 'ttl', 'method', 'maddr', 'transport'];

function telNumber(u: SipUri): string {
  return (u.user ?? '').replace(/[().-]/g, '').toLowerCase();
}

/**
 * URI equivalence. For sip/sips per RFC 3261 19.1.4: user and password are
 * compared exactly after unescaping, host case-insensitively, an explicit
 * port never equals an absent one; user/ttl/method/maddr/transport must agree
 * whenever either side has them, other parameters only when both do, and URI
 * headers must all be present on both sides. tel per RFC 3966 4: numbers
 * without visual separators, and the same parameters on both sides.
 */
export function uriEquals(a: SipUri | string, b: SipUri | string): boolean {
  let ua: SipUri;
  let ub: SipUri;
  try {
    ua = typeof a === 'string' ? parseUri(a) : a;
    ub = typeof b === 'string' ? parseUri(b) : b;
  } catch (e) {
    if (e instanceof PbxError) return false;
    throw e;
  }
  if (ua.scheme !== ub.scheme) return false;
  const pa = paramMap(ua.params);
  const pb = paramMap(ub.params);
  if (ua.scheme === 'tel') {
    if (telNumber(ua) !== telNumber(ub) || pa.size !== pb.size) return false;
    for (const [k, v] of pa) if (!pb.has(k) || pb.get(k) !== v) return false;
    return true;
  }
  if (ua.user !== ub.user || ua.password !== ub.password) return false;
  if (ua.host !== ub.host || ua.port !== ub.port) return false;
  for (const k of STRICT_PARAMS) {
    if ((pa.has(k) || pb.has(k)) && pa.get(k) !== pb.get(k)) return false;
  }
  for (const [k, v] of pa) if (pb.has(k) && pb.get(k) !== v) return false;
  if (ua.headers.length !== ub.headers.length) return false;
  const hb = ub.headers.map((h) => [h.name.toLowerCase(), h.value] as const);
  for (const h of ua.headers) {
    if (!hb.some(([n, v]) => n === h.name.toLowerCase() && v === h.value)) return false;
  }
  return true;
}
