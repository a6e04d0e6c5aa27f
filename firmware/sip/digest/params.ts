/**
 * The Digest challenge and credentials parser (RFC 3261 section 25.1:
 * challenge, credentials, auth-param; RFC 7616 sections 3.3 and 3.4).
 *
 *   "Digest" LWS auth-param *(COMMA auth-param)
 *   auth-param = token LWS "=" LWS ( token / quoted-string )
 *
 * Writing goes through the message module (formatAuthParams, quote). Reading
 * stays here because the message module's parseAuthParams is looser where a
 * verifier must be strict: it sets no length or parameter-count limit, takes
 * a scheme with no parameters, lets a quoted-pair carry CR or LF, and lets an
 * unquoted value hold ':', '/' and '@'. It also refuses what this one must
 * take: empty list elements ("a=1,,b=2", RFC 7230 section 7) and a folded
 * line inside a quoted string of an unfolded value.
 *
 * It never throws: it returns the parameters or the offset of the first fault.
 */

/** Longest Authorization / WWW-Authenticate value we are willing to read. */
export const MAX_AUTH_HEADER_LENGTH = 4096;
/** Most auth-params in one header value; Digest defines about a dozen. */
export const MAX_AUTH_PARAMS = 32;

export type AuthParamsResult =
  | { readonly ok: true; readonly scheme: string; readonly params: ReadonlyMap<string, string> }
  | { readonly ok: false; readonly offset: number; readonly reason: string };

// token characters from RFC 3261 section 25.1
const TOKEN_RE = /[A-Za-z0-9\-.!%*_+`'~]/;

function isTokenChar(c: string | undefined): boolean {
  return c !== undefined && TOKEN_RE.test(c);
}

export function parseAuthParams(value: string): AuthParamsResult {
  if (value.length > MAX_AUTH_HEADER_LENGTH) return { ok: false, offset: MAX_AUTH_HEADER_LENGTH, reason: 'too long' };
  let i = 0;
  const fail = (reason: string): AuthParamsResult => ({ ok: false, offset: i, reason });

  // Linear white space, with line folding (CRLF followed by a blank) allowed.
  const skipWs = (): number => {
    const start = i;
    for (;;) {
      const c = value[i];
      if (c === ' ' || c === '\t') i++;
      else if (c === '\r' && value[i + 1] === '\n' && (value[i + 2] === ' ' || value[i + 2] === '\t')) i += 3;
      else return i - start;
    }
  };
  const readToken = (): string => {
    const start = i;
    while (isTokenChar(value[i])) i++;
    return value.slice(start, i);
  };

  skipWs();
  const scheme = readToken();
  if (scheme === '') return fail('missing scheme');
  if (skipWs() === 0) return fail('no space after scheme');

  const params = new Map<string, string>();
  let expectParam = true;
  while (i < value.length) {
    if (value[i] === ',') {
      // Empty list elements are tolerated (RFC 7230 section 7 list rule).
      i++;
      skipWs();
      expectParam = true;
      continue;
    }
    if (!expectParam) return fail('expected comma');
    const name = readToken().toLowerCase();
    if (name === '') return fail('expected parameter name');
    skipWs();
    if (value[i] !== '=') return fail('expected "="');
    i++;
    skipWs();
    let v: string;
    if (value[i] === '"') {
      i++;
      let out = '';
      for (;;) {
        const c = value[i];
        if (c === undefined) return fail('unterminated quoted string');
        if (c === '"') { i++; break; }
        if (c === '\\') {
          const n = value[i + 1];
          // quoted-pair may not carry CR or LF
          if (n === undefined || n === '\r' || n === '\n' || n.charCodeAt(0) > 0x7f) return fail('bad escape');
          out += n;
          i += 2;
          continue;
        }
        const code = c.charCodeAt(0);
        if (c === '\r') {
          if (skipWs() === 0) return fail('bare CR in quoted string');
          out += ' ';
          continue;
        }
        if ((code < 0x20 && c !== '\t') || code === 0x7f) return fail('control character in quoted string');
        out += c;
        i++;
      }
      v = out;
    } else {
      v = readToken();
      if (v === '') return fail('expected parameter value');
    }
    if (params.has(name)) return fail(`duplicate parameter ${name}`);
    if (params.size >= MAX_AUTH_PARAMS) return fail('too many parameters');
    params.set(name, v);
    skipWs();
    expectParam = false;
  }
  if (params.size === 0) return fail('no parameters');
  return { ok: true, scheme, params };
}

/** True if s can go inside a quoted-string: no control characters besides tab. */
export function isQuotable(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[\x00-\x08\x0a-\x1f\x7f]/.test(s);
}
