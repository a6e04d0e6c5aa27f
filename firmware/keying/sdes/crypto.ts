import { PbxError } from '../../core/index.js';
import { SDES_SUITES, isSdesSuiteName, keySaltLength, type SdesSuiteName } from './suites.js';

/**
 * One a=crypto attribute value (RFC 4568 9.1, with the SRTP key-info of 9.2):
 *
 *   <tag> 1*WSP <crypto-suite> 1*WSP <key-params> *(1*WSP <session-param>)
 *   key-params = key-param *(";" key-param)
 *   key-param  = "inline:" <base64 key||salt> ["|" lifetime] ["|" mki-value ":" mki-length]
 *   lifetime   = ["2^"] 1*DIGIT
 *
 * The box takes exactly one key per line. A line it cannot use is skipped
 * with a reason (RFC 4568 7.1.2: the answerer ignores lines it does not
 * understand and picks among the rest), never an exception. Reasons and
 * details never contain key material.
 */

/** Longer a=crypto values are skipped unread. */
export const MAX_CRYPTO_LINE = 1024;
/** Session parameters per line; RFC 4568 registers seven. */
export const MAX_SESSION_PARAMS = 8;
/** Tag: 1 to 9 digits (RFC 4568 9.1). */
export const MAX_TAG = 999_999_999;
/** MKI length in bytes (RFC 4568 9.2: 1 to 128). */
export const MAX_MKI_BYTES = 128;
/** WSH below 64 is not allowed: SRTP's replay window is at least 64 packets (RFC 4568 6.3.6, RFC 3711 3.3.2). */
export const MIN_WSH = 64;
/** Largest WSH we record as a hint. */
export const MAX_WSH = 32768;

export interface Mki {
  /** The MKI as a number, as written in SDP (decimal). */
  readonly value: bigint;
  /** Bytes the MKI takes in each packet. */
  readonly length: number;
}

export interface CryptoAttribute {
  readonly tag: number;
  readonly suite: SdesSuiteName;
  readonly key: Buffer;
  readonly salt: Buffer;
  /** Packets the master key may protect, when the sender limits it (RFC 4568 6.1). */
  readonly lifetime?: number;
  readonly mki?: Mki;
  /** KDR=n: the SRTP key derivation rate is 2^n, n in 1..24 (RFC 4568 6.3.1); absent means derive once. */
  readonly kdr?: number;
  /** WSH=n: the replay window the sender suggests (RFC 4568 6.3.6); a hint only. */
  readonly wsh?: number;
}

export type CryptoSkipReason =
  | 'too-long'
  | 'malformed'
  | 'unknown-suite'
  | 'unknown-key-method'
  | 'several-keys'
  | 'bad-base64'
  | 'wrong-key-length'
  | 'bad-lifetime'
  | 'lifetime-too-long'
  | 'bad-mki'
  | 'bad-session-param'
  | 'unsupported-session-param'
  | 'unknown-session-param'
  | 'too-many-session-params'
  | 'duplicate-tag'
  | 'too-many-lines';

export interface CryptoSkip {
  readonly skip: CryptoSkipReason;
  /** Human text for logs and the admin page; never any key material. */
  readonly detail: string;
  readonly tag?: number;
}

export type CryptoParse = { readonly ok: true; readonly crypto: CryptoAttribute } | ({ readonly ok: false } & CryptoSkip);

/**
 * Session parameters that change the SRTP transform itself. The box refuses
 * them: the UNENCRYPTED/UNAUTHENTICATED ones would let clear or forgeable
 * media through an SRTP leg, and it implements no FEC (RFC 4568 6.3.2-6.3.5).
 * A peer that needs one of them gets its line skipped, not a weaker call.
 */
const UNSUPPORTED_PARAMS = ['UNENCRYPTED_SRTP', 'UNENCRYPTED_SRTCP', 'UNAUTHENTICATED_SRTP', 'FEC_ORDER', 'FEC_KEY'];

const WSP = /[ \t]+/;
const TAG = /^\d{1,9}$/;
const SUITE_TOKEN = /^[A-Za-z0-9_]{1,64}$/;
const KEY_METHOD = /^[A-Za-z0-9_.-]{1,32}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function skip(reason: CryptoSkipReason, detail: string, tag?: number): CryptoParse {
  return tag === undefined ? { ok: false, skip: reason, detail } : { ok: false, skip: reason, detail, tag };
}

/** Strict base64 (RFC 4648 4): canonical, padding optional. */
export function decodeBase64(text: string): Buffer | undefined {
  if (!BASE64.test(text)) return undefined;
  const bare = text.replace(/=+$/, '');
  if (text.length !== bare.length && text.length % 4 !== 0) return undefined;
  if (bare.length % 4 === 1) return undefined;
  const bytes = Buffer.from(bare, 'base64');
  // Non-zero spare bits in the last character would decode to the same bytes as another text: refuse them.
  if (bytes.toString('base64').replace(/=+$/, '') !== bare) return undefined;
  return bytes;
}

function parseLifetime(text: string, suite: SdesSuiteName, tag: number): number | CryptoParse {
  const max = SDES_SUITES[suite].maxLifetime;
  const pow = /^2\^(\d{1,3})$/.exec(text);
  if (pow) {
    const n = Number(pow[1]);
    return 2 ** n > max ? skip('lifetime-too-long', `lifetime 2^${n} exceeds 2^48 packets for ${suite}`, tag) : 2 ** n;
  }
  if (!/^\d{1,20}$/.test(text)) return skip('bad-lifetime', 'lifetime is neither 2^n nor a decimal count', tag);
  const n = Number(text);
  if (n === 0) return skip('bad-lifetime', 'a lifetime of 0 packets', tag);
  return n > max ? skip('lifetime-too-long', `lifetime exceeds 2^48 packets for ${suite}`, tag) : n;
}

function parseMki(text: string, tag: number): Mki | CryptoParse {
  const m = /^(\d{1,310}):(\d{1,3})$/.exec(text);
  if (!m) return skip('bad-mki', 'MKI is not <value>:<length>', tag);
  const length = Number(m[2]);
  if (length < 1 || length > MAX_MKI_BYTES) return skip('bad-mki', `MKI length ${length} is outside 1..${MAX_MKI_BYTES} bytes`, tag);
  const value = BigInt(m[1] ?? '0');
  if (value >= 1n << BigInt(8 * length)) return skip('bad-mki', `MKI value does not fit in ${length} bytes`, tag);
  return { value, length };
}

type SessionParams = { kdr?: number; wsh?: number };

function parseSessionParams(params: readonly string[], tag: number): SessionParams | CryptoParse {
  if (params.length > MAX_SESSION_PARAMS) return skip('too-many-session-params', `${params.length} session parameters`, tag);
  const out: SessionParams = {};
  for (const p of params) {
    const name = p.split('=', 1)[0] ?? '';
    if (name === 'KDR') {
      // RFC 4568 6.3.1: n in 1..24 without leading zeroes.
      const m = /^KDR=([1-9]|1\d|2[0-4])$/.exec(p);
      if (!m || out.kdr !== undefined) return skip('bad-session-param', 'KDR must appear once, as KDR=1..24', tag);
      out.kdr = Number(m[1]);
    } else if (name === 'WSH') {
      const m = /^WSH=(\d{1,6})$/.exec(p);
      const n = m ? Number(m[1]) : NaN;
      if (!(n >= MIN_WSH) || out.wsh !== undefined) return skip('bad-session-param', `WSH must appear once, as WSH=${MIN_WSH} or more`, tag);
      out.wsh = Math.min(n, MAX_WSH);
    } else if (UNSUPPORTED_PARAMS.includes(name)) {
      return skip('unsupported-session-param', `session parameter ${name} is not supported`, tag);
    } else {
      const shown = /^[A-Za-z0-9_]{1,32}$/.test(name) ? name : '(unreadable)';
      return skip('unknown-session-param', `unknown session parameter ${shown}`, tag);
    }
  }
  return out;
}

/** Parses the value of one a=crypto attribute (the text after "crypto:"). Never throws. */
export function parseCryptoLine(value: string): CryptoParse {
  if (value.length > MAX_CRYPTO_LINE) return skip('too-long', `a=crypto longer than ${MAX_CRYPTO_LINE} characters`);
  const fields = value.replace(/^[ \t]+|[ \t]+$/g, '').split(WSP);
  const [tagText = '', suiteText = '', keyParams = '', ...sessionParams] = fields;
  if (!TAG.test(tagText)) return skip('malformed', 'the tag is not 1 to 9 digits');
  const tag = Number(tagText);
  if (!SUITE_TOKEN.test(suiteText)) return skip('malformed', 'the crypto-suite is missing or not a token', tag);
  if (!isSdesSuiteName(suiteText)) return skip('unknown-suite', `crypto-suite ${suiteText} is not supported`, tag);
  const suite = suiteText;
  if (keyParams === '') return skip('malformed', 'no key parameters', tag);

  const keys = keyParams.split(';');
  if (keys.some((k) => k === '')) return skip('malformed', 'an empty key parameter', tag);
  const colon = keys[0]!.indexOf(':');
  const method = colon < 0 ? '' : keys[0]!.slice(0, colon);
  if (!KEY_METHOD.test(method)) return skip('malformed', 'a key parameter is not <method>:<info>', tag);
  if (method !== 'inline') return skip('unknown-key-method', `key method ${method} is not supported`, tag);
  // Several keys are legal (each then carries an MKI), but the box keys SRTP with exactly one master key.
  if (keys.length > 1) return skip('several-keys', `${keys.length} keys in one line; only one is supported`, tag);

  const [keySalt = '', ...extras] = keys[0]!.slice(colon + 1).split('|');
  if (extras.length > 2) return skip('malformed', 'too many "|" fields after the key', tag);
  const bytes = decodeBase64(keySalt);
  if (!bytes) return skip('bad-base64', 'the inline key is not valid base64', tag);
  const expected = keySaltLength(suite);
  if (bytes.length !== expected) {
    return skip('wrong-key-length', `${suite} needs ${expected} bytes of key and salt, the line has ${bytes.length}`, tag);
  }

  // One extra field is a lifetime unless it has the MKI's colon; two are lifetime then MKI.
  let lifetime: number | undefined;
  let mki: Mki | undefined;
  const mkiText = extras.length === 2 ? extras[1] : extras[0]?.includes(':') ? extras[0] : undefined;
  const lifetimeText = extras.length === 2 ? extras[0] : extras[0]?.includes(':') ? undefined : extras[0];
  if (lifetimeText !== undefined) {
    const r = parseLifetime(lifetimeText, suite, tag);
    if (typeof r !== 'number') return r;
    lifetime = r;
  }
  if (mkiText !== undefined) {
    const r = parseMki(mkiText, tag);
    if ('ok' in r) return r;
    mki = r;
  }
  const params = parseSessionParams(sessionParams, tag);
  if ('ok' in params) return params;

  const s = SDES_SUITES[suite];
  const crypto: CryptoAttribute = {
    tag, suite,
    key: Buffer.from(bytes.subarray(0, s.keyLen)),
    salt: Buffer.from(bytes.subarray(s.keyLen)),
    ...(lifetime !== undefined ? { lifetime } : {}),
    ...(mki ? { mki } : {}),
    ...(params.kdr !== undefined ? { kdr: params.kdr } : {}),
    ...(params.wsh !== undefined ? { wsh: params.wsh } : {}),
  };
  return { ok: true, crypto };
}

function formatLifetime(n: number): string {
  const log = Math.log2(n);
  return Number.isInteger(log) ? `2^${log}` : String(n);
}

function checkShape(c: CryptoAttribute): void {
  const s = SDES_SUITES[c.suite];
  if (!s) throw new PbxError('protocol', `unknown SRTP crypto suite`);
  if (!Number.isInteger(c.tag) || c.tag < 0 || c.tag > MAX_TAG) throw new PbxError('protocol', 'a crypto tag is 1 to 9 digits');
  if (c.key.length !== s.keyLen || c.salt.length !== s.saltLen) {
    throw new PbxError('protocol', `${c.suite} takes a ${s.keyLen}-byte key and a ${s.saltLen}-byte salt`);
  }
  if (c.mki && (c.mki.length < 1 || c.mki.length > MAX_MKI_BYTES || c.mki.value < 0n || c.mki.value >= 1n << BigInt(8 * c.mki.length))) {
    throw new PbxError('protocol', 'the MKI does not fit its length');
  }
  if (c.lifetime !== undefined && !(Number.isInteger(c.lifetime) && c.lifetime > 0 && c.lifetime <= s.maxLifetime)) {
    throw new PbxError('protocol', 'the lifetime is outside 1..2^48 packets');
  }
  if (c.kdr !== undefined && !(Number.isInteger(c.kdr) && c.kdr >= 1 && c.kdr <= 24)) throw new PbxError('protocol', 'KDR is 1..24');
  if (c.wsh !== undefined && !(Number.isInteger(c.wsh) && c.wsh >= MIN_WSH)) throw new PbxError('protocol', `WSH is at least ${MIN_WSH}`);
}

/** The a=crypto value for one attribute (RFC 4568 9.1). This text carries the key: it belongs in SDP only, never in a log. */
export function formatCryptoLine(c: CryptoAttribute): string {
  checkShape(c);
  const keySalt = Buffer.concat([c.key, c.salt]).toString('base64');
  return cryptoText(c, keySalt);
}

/** The same line with the key replaced, for logs and the admin page. */
export function describeCrypto(c: CryptoAttribute): string {
  return cryptoText(c, '<key>');
}

function cryptoText(c: CryptoAttribute, keySalt: string): string {
  let out = `${c.tag} ${c.suite} inline:${keySalt}`;
  if (c.lifetime !== undefined) out += `|${formatLifetime(c.lifetime)}`;
  if (c.mki) out += `|${c.mki.value}:${c.mki.length}`;
  if (c.kdr !== undefined) out += ` KDR=${c.kdr}`;
  if (c.wsh !== undefined) out += ` WSH=${c.wsh}`;
  return out;
}

/** The MKI as the bytes each packet carries (big-endian, RFC 3711 3.1). */
export function mkiBytes(mki: Mki): Buffer {
  const out = Buffer.alloc(mki.length);
  let v = mki.value;
  for (let i = mki.length - 1; i >= 0 && v > 0n; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}
