/**
 * The SRTP crypto suites we speak, as data. Names are the SDES names
 * (RFC 4568 6.2, RFC 6188 6, RFC 7714 14.1); DTLS-SRTP profile names map onto
 * the same rows elsewhere.
 */

export type SrtpSuiteName =
  | 'AES_CM_128_HMAC_SHA1_80'
  | 'AES_CM_128_HMAC_SHA1_32'
  | 'AES_256_CM_HMAC_SHA1_80'
  | 'AES_256_CM_HMAC_SHA1_32'
  | 'AEAD_AES_128_GCM'
  | 'AEAD_AES_256_GCM';

export interface SrtpSuite {
  readonly name: SrtpSuiteName;
  /** AES-GCM (RFC 7714) rather than AES counter mode with HMAC-SHA1 (RFC 3711). */
  readonly aead: boolean;
  /** Master key bytes; the session encryption key has the same length. */
  readonly keyLength: number;
  /** Master salt bytes; the session salt has the same length (14 for CM, 12 for GCM). */
  readonly saltLength: number;
  /** Session HMAC-SHA1 key bytes (RFC 3711 4.2.1: 160 bits); 0 for AEAD. */
  readonly authKeyLength: number;
  readonly srtpTagLength: number;
  /** RFC 4568 6.2.2 and RFC 6188 6: the _32 suites still use an 80-bit tag on SRTCP. */
  readonly srtcpTagLength: number;
}

export const SRTP_SUITES: Readonly<Record<SrtpSuiteName, SrtpSuite>> = {
  AES_CM_128_HMAC_SHA1_80: {
    name: 'AES_CM_128_HMAC_SHA1_80', aead: false, keyLength: 16, saltLength: 14, authKeyLength: 20, srtpTagLength: 10, srtcpTagLength: 10,
  },
  AES_CM_128_HMAC_SHA1_32: {
    name: 'AES_CM_128_HMAC_SHA1_32', aead: false, keyLength: 16, saltLength: 14, authKeyLength: 20, srtpTagLength: 4, srtcpTagLength: 10,
  },
  AES_256_CM_HMAC_SHA1_80: {
    name: 'AES_256_CM_HMAC_SHA1_80', aead: false, keyLength: 32, saltLength: 14, authKeyLength: 20, srtpTagLength: 10, srtcpTagLength: 10,
  },
  AES_256_CM_HMAC_SHA1_32: {
    name: 'AES_256_CM_HMAC_SHA1_32', aead: false, keyLength: 32, saltLength: 14, authKeyLength: 20, srtpTagLength: 4, srtcpTagLength: 10,
  },
  AEAD_AES_128_GCM: {
    name: 'AEAD_AES_128_GCM', aead: true, keyLength: 16, saltLength: 12, authKeyLength: 0, srtpTagLength: 16, srtcpTagLength: 16,
  },
  AEAD_AES_256_GCM: {
    name: 'AEAD_AES_256_GCM', aead: true, keyLength: 32, saltLength: 12, authKeyLength: 0, srtpTagLength: 16, srtcpTagLength: 16,
  },
};

export const SRTP_SUITE_NAMES = Object.keys(SRTP_SUITES) as readonly SrtpSuiteName[];

export function isSrtpSuiteName(s: string): s is SrtpSuiteName {
  return Object.prototype.hasOwnProperty.call(SRTP_SUITES, s);
}

export type KeySaltResult =
  | { readonly ok: true; readonly masterKey: Buffer; readonly masterSalt: Buffer }
  | { readonly ok: false; readonly reason: 'bad-base64' | 'wrong-length'; readonly expected: number; readonly got: number };

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes an SDES key-salt (RFC 4568 6.1: base64 of master key || master
 * salt) and checks its length against the suite: 30 bytes for the AES-128 CM
 * suites, 46 for AES-256 CM, 28 for AES-128 GCM, 44 for AES-256 GCM. Peers that
 * send a 128-bit key under an AES-256 name, or a 14-byte salt with GCM, are
 * refused here with the lengths in the result rather than failing every packet
 * later. Padding may be omitted; any other non-canonical base64 is refused.
 */
export function decodeKeySalt(suite: SrtpSuiteName, text: string): KeySaltResult {
  const s = SRTP_SUITES[suite];
  const expected = s.keyLength + s.saltLength;
  if (!BASE64.test(text) || text.length % 4 === 1) return { ok: false, reason: 'bad-base64', expected, got: 0 };
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64').replace(/=+$/, '') !== text.replace(/=+$/, '')) {
    return { ok: false, reason: 'bad-base64', expected, got: bytes.length };
  }
  if (bytes.length !== expected) return { ok: false, reason: 'wrong-length', expected, got: bytes.length };
  return { ok: true, masterKey: bytes.subarray(0, s.keyLength), masterSalt: bytes.subarray(s.keyLength) };
}
