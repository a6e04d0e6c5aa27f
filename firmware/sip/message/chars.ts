/**
 * Character classes of the RFC 3261 section 25.1 grammar as lookup tables,
 * and a small cursor over a header value. Internal to this folder.
 */
import { PbxError } from '../../core/index.js';

function table(extra: string, alnum = true): Uint8Array {
  const t = new Uint8Array(128);
  if (alnum) {
    for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
    for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
    for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  }
  for (const ch of extra) t[ch.charCodeAt(0)] = 1;
  return t;
}

const MARK = "-_.!~*'()";
export const TOKEN = table("-.!%*_+`'~");
/** Call-ID words allow most separators too (RFC 3261 25.1 "word"). */
export const WORD = table("-.!%*_+`'~()<>:\\\"/[]?{}");
export const UNRESERVED = table(MARK);
export const USER_CHARS = table(MARK + '&=+$,;?/');
export const PASSWORD_CHARS = table(MARK + '&=+$,');
export const PARAM_CHARS = table(MARK + '[]/:&+$');
export const HEADER_CHARS = table(MARK + '[]/?:+$');
/** Characters of a generic absoluteURI (RFC 2396 uric, '%' checked separately). */
export const URIC = table(MARK + ';/?:@&=+$,%#[]');
export const HOST_CHARS = table('-._');
export const SCHEME_CHARS = table('+-.');
/** gen-value of a header parameter: token, host (with IPv6 reference). */
export const GEN_VALUE = table("-.!%*_+`'~:[]");
export const HEX = table('ABCDEFabcdef', false);
for (let c = 0x30; c <= 0x39; c++) HEX[c] = 1;

export function inSet(set: Uint8Array, code: number): boolean {
  return code < 128 && set[code] === 1;
}

export function allIn(set: Uint8Array, s: string): boolean {
  for (let i = 0; i < s.length; i++) if (!inSet(set, s.charCodeAt(i))) return false;
  return true;
}

export function isToken(s: string): boolean {
  return s.length > 0 && allIn(TOKEN, s);
}

export function parseError(message: string, offset?: number): PbxError {
  return new PbxError('parse', message, offset);
}

/** True for SP and HTAB, the only whitespace left after unfolding. */
export function isWs(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** Trims SP and HTAB only; other Unicode spaces are content. */
export function trimWs(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isWs(s.charCodeAt(a))) a++;
  while (b > a && isWs(s.charCodeAt(b - 1))) b--;
  return s.slice(a, b);
}

/** Reads a header value left to right; every method checks bounds first. */
export class Cursor {
  pos = 0;
  constructor(readonly s: string) {}

  get done(): boolean {
    return this.pos >= this.s.length;
  }

  peek(): number {
    return this.pos < this.s.length ? this.s.charCodeAt(this.pos) : -1;
  }

  /** Skips SWS; returns whether any whitespace was skipped. */
  sws(): boolean {
    const start = this.pos;
    while (this.pos < this.s.length && isWs(this.s.charCodeAt(this.pos))) this.pos++;
    return this.pos > start;
  }

  eat(ch: string): boolean {
    if (this.pos < this.s.length && this.s.charCodeAt(this.pos) === ch.charCodeAt(0)) {
      this.pos++;
      return true;
    }
    return false;
  }

  expect(ch: string, what: string): void {
    if (!this.eat(ch)) throw parseError(`expected '${ch}' ${what}`, this.pos);
  }

  /** Longest run of characters in `set` (possibly empty). */
  run(set: Uint8Array): string {
    const start = this.pos;
    while (this.pos < this.s.length && inSet(set, this.s.charCodeAt(this.pos))) this.pos++;
    return this.s.slice(start, this.pos);
  }

  token(what: string): string {
    const t = this.run(TOKEN);
    if (t.length === 0) throw parseError(`expected a token for ${what}`, this.pos);
    return t;
  }

  /** A quoted-string; returns the unescaped content and the raw text with quotes. */
  quoted(): { text: string; raw: string } {
    const start = this.pos;
    this.expect('"', 'to open a quoted string');
    let text = '';
    for (;;) {
      if (this.pos >= this.s.length) throw parseError('unterminated quoted string', start);
      const c = this.s.charCodeAt(this.pos);
      if (c === 0x22) {
        this.pos++;
        return { text, raw: this.s.slice(start, this.pos) };
      }
      if (c === 0x5c) {
        // quoted-pair: a backslash and any character but CR and LF (unfolding removed those)
        if (this.pos + 1 >= this.s.length) throw parseError('dangling escape in quoted string', this.pos);
        const next = this.s.charCodeAt(this.pos + 1);
        if (next > 0x7f) throw parseError('escaped non-ASCII character in quoted string', this.pos);
        text += this.s[this.pos + 1];
        this.pos += 2;
        continue;
      }
      // qdtext excludes control characters other than HTAB
      if ((c < 0x20 && c !== 0x09) || c === 0x7f) throw parseError('control character in quoted string', this.pos);
      text += this.s[this.pos];
      this.pos++;
    }
  }
}

/** Writes `s` as a quoted-string, escaping what qdtext cannot hold. */
export function quote(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x0d || c === 0x0a) throw new PbxError('protocol', 'CR or LF cannot be quoted');
    if (c === 0x22 || c === 0x5c || (c < 0x20 && c !== 0x09) || c === 0x7f) out += '\\';
    out += s[i];
  }
  return out + '"';
}

/** Removes the quotes and escapes of a quoted-string; other text is returned as is. */
export function unquote(s: string): string {
  if (s.length >= 2 && s.startsWith('"') && s.endsWith('"')) {
    const c = new Cursor(s);
    try {
      const q = c.quoted();
      if (c.done) return q.text;
    } catch (e) {
      if (!(e instanceof PbxError)) throw e;
    }
  }
  return s;
}
