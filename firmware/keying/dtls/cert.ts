import { X509Certificate, createHash, generateKeyPairSync, sign, timingSafeEqual, type KeyObject } from 'node:crypto';
import { PbxError, type Random } from '../../core/index.js';
import { keyTypeOf } from './crypto.js';

// ------------------------------------------------------------ DER writer

/*
 * A DER TLV (X.690 8.1): tag (1) | length (short form < 128, else 0x80|n
 * followed by n big-endian bytes) | contents. Only what a certificate needs.
 */
function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, content]);
}
export const derSequence = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
export const derSet = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
export const derNull = (): Buffer => Buffer.from([0x05, 0x00]);
export const derUtf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
export const derBitString = (b: Buffer): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));
export const derOctetString = (b: Buffer): Buffer => tlv(0x04, b);
export const derExplicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner);
export const derBoolean = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0]));

/** A non-negative INTEGER from big-endian bytes: minimal, with a 0 pad when the top bit is set. */
export function derUnsigned(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  return tlv(0x02, v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

export function derOid(oid: string): Buffer {
  const parts = oid.split('.').map(Number);
  if (parts.length < 2 || parts.some((p) => !Number.isInteger(p) || p < 0)) throw new PbxError('parse', `bad OID ${oid}`);
  const out: number[] = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime up to 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
export function derTime(ms: number): Buffer {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  const rest = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  const y = d.getUTCFullYear();
  return y < 2050 ? tlv(0x17, Buffer.from(`${p(y % 100)}${rest}`, 'ascii')) : tlv(0x18, Buffer.from(`${y}${rest}`, 'ascii'));
}

const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_RSA_SHA256 = '1.2.840.113549.1.1.11';
const OID_COMMON_NAME = '2.5.4.3';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_KEY_USAGE = '2.5.29.15';

// --------------------------------------------------------- certificates

export type FingerprintAlgorithm = 'sha-256' | 'sha-384' | 'sha-512';
export const FINGERPRINT_ALGORITHMS: readonly FingerprintAlgorithm[] = ['sha-256', 'sha-384', 'sha-512'];

/** An SDP fingerprint (RFC 8122 5): hash name and upper-case hex pairs joined by colons. */
export interface Fingerprint {
  readonly algorithm: FingerprintAlgorithm;
  readonly value: string;
}

const nodeHash = (a: FingerprintAlgorithm): string => a.replace('-', '');

export function fingerprint(der: Buffer, algorithm: FingerprintAlgorithm = 'sha-256'): Fingerprint {
  const hex = createHash(nodeHash(algorithm)).update(der).digest('hex').toUpperCase();
  return { algorithm, value: hex.match(/../g)!.join(':') };
}

/** The a=fingerprint value: "sha-256 AB:CD:...". */
export const formatFingerprint = (f: Fingerprint): string => `${f.algorithm} ${f.value}`;

const HEX_PAIRS = /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})*$/;
const DIGEST_BYTES: Readonly<Record<FingerprintAlgorithm, number>> = { 'sha-256': 32, 'sha-384': 48, 'sha-512': 64 };

/** Reads an a=fingerprint value (RFC 8122 5); undefined for an unknown hash or a malformed or wrong-length value. */
export function parseFingerprint(text: string): Fingerprint | undefined {
  const m = /^\s*(\S+)\s+(\S+)\s*$/.exec(text);
  if (!m) return undefined;
  const algorithm = m[1]!.toLowerCase() as FingerprintAlgorithm;
  if (!FINGERPRINT_ALGORITHMS.includes(algorithm)) return undefined;
  const value = m[2]!;
  if (!HEX_PAIRS.test(value) || (value.length + 1) / 3 !== DIGEST_BYTES[algorithm]) return undefined;
  return { algorithm, value: value.toUpperCase() };
}

/** Does this DER hash to the expected fingerprint? The digests are compared in constant time. */
export function fingerprintMatches(der: Buffer, expected: Fingerprint): boolean {
  if (!FINGERPRINT_ALGORITHMS.includes(expected.algorithm)) return false;
  const want = Buffer.from(expected.value.replace(/:/g, ''), 'hex');
  const got = createHash(nodeHash(expected.algorithm)).update(der).digest();
  return want.length === got.length && timingSafeEqual(want, got);
}

/** The box's (or a test peer's) certificate and key for DTLS. Never log privateKey. */
export interface DtlsCertificate {
  readonly der: Buffer;
  readonly privateKey: KeyObject;
  readonly keyType: 'ecdsa' | 'rsa';
  readonly fingerprint: Fingerprint;
}

export interface CertificateOptions {
  readonly random: Random;
  /** Defaults to the current time of the caller's clock. */
  readonly now: number;
  readonly keyType?: 'ecdsa' | 'rsa';
  readonly commonName?: string;
  readonly validDays?: number;
}

export const DEFAULT_CERT_VALID_DAYS = 365;

/**
 * A fresh key pair (ECDSA P-256 by default, as WebRTC uses) and a
 * self-signed X.509 v3 certificate over it, written here in DER: version
 * 3, a random positive 128-bit serial, subject = issuer = CN, validity
 * from an hour ago (clock skew) for `validDays`, the key's SPKI as node
 * exports it, basicConstraints (not a CA) and keyUsage digitalSignature.
 */
export function generateCertificate(o: CertificateOptions): DtlsCertificate {
  const keyType = o.keyType ?? 'ecdsa';
  const { privateKey, publicKey } = keyType === 'ecdsa'
    ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const sigAlg = keyType === 'ecdsa' ? derSequence(derOid(OID_ECDSA_SHA256)) : derSequence(derOid(OID_RSA_SHA256), derNull());
  const serial = o.random.bytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const name = derSequence(derSet(derSequence(derOid(OID_COMMON_NAME), derUtf8(o.commonName ?? 'securepbx'))));
  const validity = derSequence(derTime(o.now - 3600_000), derTime(o.now + (o.validDays ?? DEFAULT_CERT_VALID_DAYS) * 86400_000));
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const extensions = derExplicit(3, derSequence(
    derSequence(derOid(OID_BASIC_CONSTRAINTS), derOctetString(derSequence())),
    // keyUsage: BIT STRING with digitalSignature (bit 0), 7 unused bits.
    derSequence(derOid(OID_KEY_USAGE), derBoolean(true), derOctetString(Buffer.from([0x03, 0x02, 0x07, 0x80]))),
  ));
  const tbs = derSequence(derExplicit(0, derUnsigned(Buffer.from([2]))), derUnsigned(serial), sigAlg, name, validity, name, spki, extensions);
  const signature = sign('sha256', tbs, privateKey);
  const der = derSequence(tbs, sigAlg, derBitString(signature));
  return { der, privateKey, keyType, fingerprint: fingerprint(der) };
}

/** Wraps an existing DER certificate and its key (e.g. one openssl made) for DTLS. */
export function certificateFrom(der: Buffer, privateKey: KeyObject): DtlsCertificate {
  const keyType = keyTypeOf(privateKey);
  if (!keyType) throw new PbxError('config', 'DTLS needs an ECDSA P-256 or an RSA (2048 bits or more) key');
  const pub = peerPublicKey(der);
  if (!pub || keyTypeOf(pub) !== keyType) throw new PbxError('config', 'the certificate does not carry this key type');
  return { der, privateKey, keyType, fingerprint: fingerprint(der) };
}

/** The public key of a peer's DER certificate, or undefined when it does not parse or carries another key type. */
export function peerPublicKey(der: Buffer): KeyObject | undefined {
  try {
    const k = new X509Certificate(der).publicKey;
    return keyTypeOf(k) ? k : undefined;
  } catch {
    return undefined;
  }
}
