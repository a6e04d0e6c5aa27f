import { SRTP_SUITES, SRTP_SUITE_NAMES, type SrtpSuiteName } from '../../media/srtp/index.js';

/**
 * The SRTP crypto suites the box accepts in SDES (RFC 4568 6.2, RFC 6188 6
 * for AES-256, RFC 7714 14.1 for AES-GCM): the SRTP module's table, seen with
 * the lengths SDES checks and the lifetime it bounds.
 */

export type SdesSuiteName = SrtpSuiteName;

export interface SdesSuite {
  readonly name: SdesSuiteName;
  /** Master key bytes. */
  readonly keyLen: number;
  /** Master salt bytes: 14 (112 bits) for counter mode, 12 (96 bits) for GCM. */
  readonly saltLen: number;
  /** Authentication tag bytes on SRTP packets. */
  readonly srtpTagLen: number;
  /** Tag bytes on SRTCP: the _32 suites still carry an 80-bit tag there (RFC 4568 6.2.2). */
  readonly srtcpTagLen: number;
  readonly aead: boolean;
  /** Largest SDES lifetime (packets per master key) we accept for this suite: 2^48 SRTP packets (RFC 3711 9.2). */
  readonly maxLifetime: number;
}

const MAX_LIFETIME = 2 ** 48;

export const SDES_SUITES: Readonly<Record<SdesSuiteName, SdesSuite>> = Object.fromEntries(SRTP_SUITE_NAMES.map((name) => {
  const s = SRTP_SUITES[name];
  return [name, { name, keyLen: s.keyLength, saltLen: s.saltLength, srtpTagLen: s.srtpTagLength, srtcpTagLen: s.srtcpTagLength, aead: s.aead, maxLifetime: MAX_LIFETIME }];
})) as Record<SdesSuiteName, SdesSuite>;

export const SDES_SUITE_NAMES = Object.keys(SDES_SUITES) as readonly SdesSuiteName[];

/**
 * Suites the box answers with, in no particular order: the answer follows the
 * offerer's order (RFC 4568 7.1.1 lets the offerer rank its lines).
 */
export const SUPPORTED_SDES_SUITES: readonly SdesSuiteName[] = SDES_SUITE_NAMES;

/**
 * Suites the box offers when it keys a leg itself, most preferred first.
 * AES_CM_128_HMAC_SHA1_80 leads because RFC 4568 6.2 makes it the one every
 * SDES endpoint must implement; the stronger ones follow for phones that
 * pick by their own preference.
 */
export const DEFAULT_OFFER_SUITES: readonly SdesSuiteName[] = [
  'AES_CM_128_HMAC_SHA1_80', 'AES_256_CM_HMAC_SHA1_80', 'AEAD_AES_128_GCM', 'AEAD_AES_256_GCM',
];

export function isSdesSuiteName(s: string): s is SdesSuiteName {
  return Object.prototype.hasOwnProperty.call(SDES_SUITES, s);
}

/** Bytes of inline key||salt a suite needs (30, 46, 28 or 44). */
export function keySaltLength(suite: SdesSuiteName): number {
  const s = SDES_SUITES[suite];
  return s.keyLen + s.saltLen;
}
