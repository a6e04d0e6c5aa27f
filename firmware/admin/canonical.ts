/**
 * Which request paths the admin servers accept at all. A path that can be
 * spelt two ways lets a check on one spelling and a router matching another
 * disagree (the bug this file exists for: `/%61pi/accounts` reached the API
 * while the session check looked for the prefix `/api/`). So before routing,
 * the servers refuse every path that is not in its one canonical form:
 *
 * - it starts with `/`, holds no empty segment (`//`), no `.` or `..`
 *   segment, no segment ending in a dot, and no trailing `/` (except `/`);
 * - it has no `;` (path parameters, RFC 3986 3.3) and no backslash;
 * - percent-encoding appears only where it must (RFC 3986 6.2.2.2): an
 *   encoded unreserved character (`%61` for `a`) is another spelling of
 *   the same path, so it is refused; so are encoded `/`, `\`, `%`, `.`, `;`
 *   and control bytes, which exist only to fool a decoder, and encoded bytes
 *   that are not UTF-8. Nothing the page
 *   or the API uses needs any of them (extensions and policy names are
 *   plain ASCII).
 *
 * The query string is not judged here: handlers parse it themselves.
 */

/** Longest path accepted, in bytes; the API's longest is far shorter. */
export const MAX_PATH_BYTES = 1024;

/** Bytes allowed literally in a path (RFC 3986 pchar without `;` and `%`, plus `/`). */
const LITERAL = /^[A-Za-z0-9\-._~!$&'()*+,=:@/]$/;
/** Encoded bytes that are refused because they have a literal spelling or exist to confuse. */
const MUST_NOT_ENCODE = /^[A-Za-z0-9\-._~/\\%;]$/;

export type PathVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** The path part of a raw request target (everything before `?` or `#`). */
export function pathOf(rawUrl: string): string {
  const q = rawUrl.search(/[?#]/);
  return q === -1 ? rawUrl : rawUrl.slice(0, q);
}

export function checkCanonicalPath(rawUrl: string): PathVerdict {
  const path = pathOf(rawUrl);
  if (path.length === 0 || path[0] !== '/') return { ok: false, reason: 'not-absolute' };
  if (path.length > MAX_PATH_BYTES) return { ok: false, reason: 'too-long' };
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    if (c === '%') {
      const hex = path.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return { ok: false, reason: 'bad-escape' };
      const byte = parseInt(hex, 16);
      if (byte < 0x20 || byte === 0x7f || MUST_NOT_ENCODE.test(String.fromCharCode(byte))) {
        return { ok: false, reason: 'needless-escape' };
      }
      i += 2;
      continue;
    }
    if (c === ';') return { ok: false, reason: 'path-parameter' };
    if (!LITERAL.test(c)) return { ok: false, reason: 'bad-character' };
  }
  try {
    decodeURIComponent(path);
  } catch {
    return { ok: false, reason: 'bad-utf8' }; // an overlong or broken sequence (`%C0%AF` for `/`)
  }
  if (path === '/') return { ok: true };
  if (path.endsWith('/')) return { ok: false, reason: 'trailing-slash' };
  for (const seg of path.slice(1).split('/')) {
    if (seg === '') return { ok: false, reason: 'empty-segment' };
    if (seg === '.' || seg === '..') return { ok: false, reason: 'dot-segment' };
    if (seg.endsWith('.')) return { ok: false, reason: 'trailing-dot' };
  }
  return { ok: true };
}
