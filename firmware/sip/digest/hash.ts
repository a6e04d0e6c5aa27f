import { createHash } from 'node:crypto';

/**
 * The Digest hash computations (RFC 2617 section 3.2.2, RFC 7616 section 3.4.1
 * to 3.4.3, RFC 8760 for SHA-256 in SIP). Only qop=auth and the RFC 2069 form
 * without qop are supported: auth-int and the -sess variants are not offered.
 */
export type DigestAlgorithm = 'MD5' | 'SHA-256';

export const DIGEST_ALGORITHMS: readonly DigestAlgorithm[] = ['SHA-256', 'MD5'];

/** Hex length of each algorithm's output. */
export const HEX_LENGTH: Readonly<Record<DigestAlgorithm, number>> = { MD5: 32, 'SHA-256': 64 };

const NODE_NAME: Readonly<Record<DigestAlgorithm, string>> = { MD5: 'md5', 'SHA-256': 'sha256' };

/** H(data) as lower-case hex; strings are hashed as UTF-8 (RFC 7616 section 4). */
export function digestHash(algorithm: DigestAlgorithm, data: string): string {
  return createHash(NODE_NAME[algorithm]).update(data, 'utf8').digest('hex');
}

/** Map an algorithm token from a header to ours; absent means MD5 (RFC 3261 section 22.4). */
export function algorithmFromToken(token: string | undefined): DigestAlgorithm | undefined {
  if (token === undefined) return 'MD5';
  const t = token.toUpperCase();
  if (t === 'MD5') return 'MD5';
  if (t === 'SHA-256') return 'SHA-256';
  return undefined;
}

/** HA1 = H(username ":" realm ":" password), what the account store keeps. */
export function ha1(algorithm: DigestAlgorithm, username: string, realm: string, password: string): string {
  return digestHash(algorithm, `${username}:${realm}:${password}`);
}

export interface DigestResponseInput {
  readonly algorithm: DigestAlgorithm;
  /** Hex HA1 from ha1() or the account store. */
  readonly ha1: string;
  readonly nonce: string;
  readonly method: string;
  readonly uri: string;
  /** With qop=auth give nc (8 hex digits as sent), cnonce and qop; omit all three for RFC 2069. */
  readonly qop?: 'auth';
  readonly nc?: string;
  readonly cnonce?: string;
}

/**
 * request-digest: with qop, H(HA1:nonce:nc:cnonce:qop:HA2); without it (the
 * older RFC 2069 form), H(HA1:nonce:HA2). HA2 = H(method:digest-uri) for auth.
 */
export function digestResponse(input: DigestResponseInput): string {
  const { algorithm } = input;
  const ha2 = digestHash(algorithm, `${input.method}:${input.uri}`);
  const key = input.ha1.toLowerCase();
  if (input.qop === 'auth') {
    return digestHash(algorithm, `${key}:${input.nonce}:${input.nc ?? ''}:${input.cnonce ?? ''}:auth:${ha2}`);
  }
  return digestHash(algorithm, `${key}:${input.nonce}:${ha2}`);
}
