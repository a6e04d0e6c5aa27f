import {
  constants, createECDH, createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, sign, verify, type KeyObject,
} from 'node:crypto';
import { PbxError, type Random } from '../../core/index.js';
import type { SrtpSessionOptions, SrtpSuiteName } from '../../media/srtp/index.js';
import type { AeadKeys } from './record.js';

// ---------------------------------------------------------------- suites

export type CipherSuiteName =
  | 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'
  | 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'
  | 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'
  | 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384';

export interface CipherSuite {
  readonly name: CipherSuiteName;
  readonly code: number;
  /** The key type of the server's certificate. */
  readonly auth: 'ecdsa' | 'rsa';
  readonly keyLength: 16 | 32;
  /** The PRF's hash (RFC 5288 3, RFC 5289 3.2). */
  readonly hash: 'sha256' | 'sha384';
}

export const CIPHER_SUITES: readonly CipherSuite[] = [
  { name: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', code: 0xc02b, auth: 'ecdsa', keyLength: 16, hash: 'sha256' },
  { name: 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', code: 0xc02c, auth: 'ecdsa', keyLength: 32, hash: 'sha384' },
  { name: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', code: 0xc02f, auth: 'rsa', keyLength: 16, hash: 'sha256' },
  { name: 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', code: 0xc030, auth: 'rsa', keyLength: 32, hash: 'sha384' },
];
export const CIPHER_SUITE_NAMES: readonly CipherSuiteName[] = CIPHER_SUITES.map((s) => s.name);
export const suiteByCode = (code: number): CipherSuite | undefined => CIPHER_SUITES.find((s) => s.code === code);
export const suiteByName = (name: CipherSuiteName): CipherSuite => CIPHER_SUITES.find((s) => s.name === name)!;

export type GroupName = 'x25519' | 'secp256r1';
/** Named groups (RFC 8422 5.1.1, RFC 7748). */
export const GROUPS: Readonly<Record<GroupName, number>> = { secp256r1: 23, x25519: 29 };
export const groupByCode = (c: number): GroupName | undefined => (c === 23 ? 'secp256r1' : c === 29 ? 'x25519' : undefined);

export type SignatureSchemeName = 'ecdsa_secp256r1_sha256' | 'rsa_pkcs1_sha256' | 'rsa_pss_rsae_sha256';
/** SignatureAndHashAlgorithm codes (RFC 5246 7.4.1.4.1 as renamed by RFC 8446 4.2.3). */
export const SIGNATURE_SCHEMES: Readonly<Record<SignatureSchemeName, number>> = {
  ecdsa_secp256r1_sha256: 0x0403, rsa_pkcs1_sha256: 0x0401, rsa_pss_rsae_sha256: 0x0804,
};
export const schemeByCode = (c: number): SignatureSchemeName | undefined =>
  (Object.keys(SIGNATURE_SCHEMES) as SignatureSchemeName[]).find((k) => SIGNATURE_SCHEMES[k] === c);
export const schemeKeyType = (s: SignatureSchemeName): 'ecdsa' | 'rsa' => (s === 'ecdsa_secp256r1_sha256' ? 'ecdsa' : 'rsa');

// ------------------------------------------------------- SRTP profiles

export type SrtpProfileName = 'SRTP_AES128_CM_SHA1_80' | 'SRTP_AES128_CM_SHA1_32' | 'SRTP_AEAD_AES_128_GCM' | 'SRTP_AEAD_AES_256_GCM';

export interface SrtpProfile {
  readonly name: SrtpProfileName;
  /** RFC 5764 4.1.2, RFC 7714 14.2. */
  readonly code: number;
  /** The media engine's suite of the same keys. */
  readonly suite: SrtpSuiteName;
  readonly keyLength: number;
  readonly saltLength: number;
}

export const SRTP_PROFILES: readonly SrtpProfile[] = [
  { name: 'SRTP_AEAD_AES_256_GCM', code: 0x0008, suite: 'AEAD_AES_256_GCM', keyLength: 32, saltLength: 12 },
  { name: 'SRTP_AEAD_AES_128_GCM', code: 0x0007, suite: 'AEAD_AES_128_GCM', keyLength: 16, saltLength: 12 },
  { name: 'SRTP_AES128_CM_SHA1_80', code: 0x0001, suite: 'AES_CM_128_HMAC_SHA1_80', keyLength: 16, saltLength: 14 },
  { name: 'SRTP_AES128_CM_SHA1_32', code: 0x0002, suite: 'AES_CM_128_HMAC_SHA1_32', keyLength: 16, saltLength: 14 },
];
export const SRTP_PROFILE_NAMES: readonly SrtpProfileName[] = SRTP_PROFILES.map((p) => p.name);
/** Offered when the owner names none: what browsers accept, strongest first. */
export const DEFAULT_SRTP_PROFILES: readonly SrtpProfileName[] = SRTP_PROFILE_NAMES;
export const srtpProfileByCode = (c: number): SrtpProfile | undefined => SRTP_PROFILES.find((p) => p.code === c);
export const srtpProfileByName = (n: SrtpProfileName): SrtpProfile => SRTP_PROFILES.find((p) => p.name === n)!;
/** RFC 5764 4.2: the exporter yields 2 * (key + salt) bytes. */
export const exportLength = (p: SrtpProfile): number => 2 * (p.keyLength + p.saltLength);

export const SRTP_EXPORTER_LABEL = 'EXTRACTOR-dtls_srtp';

/** The SRTP keys of one side of a DTLS-SRTP association, as the engine's SrtpSession takes them. */
export interface DtlsSrtpKeys {
  /** What this endpoint sends with (RFC 5764 4.2: the client's write key when it is the client). */
  readonly localTx: SrtpSessionOptions;
  /** What it receives with (the peer's write key). */
  readonly localRx: SrtpSessionOptions;
}

/**
 * RFC 5764 4.2: the exported bytes are client key | server key | client
 * salt | server salt; each side sends with its own write key.
 */
export function splitSrtpKeys(profile: SrtpProfile, material: Buffer, role: 'client' | 'server'): DtlsSrtpKeys {
  if (material.length !== exportLength(profile)) throw new PbxError('invalid-state', 'exported key material of the wrong length');
  const k = profile.keyLength;
  const s = profile.saltLength;
  const client: SrtpSessionOptions = {
    suite: profile.suite, masterKey: Buffer.from(material.subarray(0, k)), masterSalt: Buffer.from(material.subarray(2 * k, 2 * k + s)),
  };
  const server: SrtpSessionOptions = {
    suite: profile.suite, masterKey: Buffer.from(material.subarray(k, 2 * k)), masterSalt: Buffer.from(material.subarray(2 * k + s, 2 * k + 2 * s)),
  };
  return role === 'client' ? { localTx: client, localRx: server } : { localTx: server, localRx: client };
}

// ------------------------------------------------------------------ PRF

/** P_hash (RFC 5246 5): HMAC chained over A(i) until `length` bytes. */
function pHash(hash: 'sha256' | 'sha384', secret: Buffer, seed: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  let total = 0;
  let a = seed;
  while (total < length) {
    a = createHmac(hash, secret).update(a).digest();
    const block = createHmac(hash, secret).update(a).update(seed).digest();
    out.push(block);
    total += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

/** The TLS 1.2 PRF: P_<hash>(secret, label || seed). */
export const prf = (hash: 'sha256' | 'sha384', secret: Buffer, label: string, seed: Buffer, length: number): Buffer =>
  pHash(hash, secret, Buffer.concat([Buffer.from(label, 'ascii'), seed]), length);

/** RFC 7627 4: master_secret = PRF(pre_master_secret, "extended master secret", session_hash)[0..47]. */
export const extendedMasterSecret = (hash: 'sha256' | 'sha384', preMaster: Buffer, sessionHash: Buffer): Buffer =>
  prf(hash, preMaster, 'extended master secret', sessionHash, 48);

export interface RecordKeys {
  readonly client: AeadKeys;
  readonly server: AeadKeys;
}

/** RFC 5246 6.3 with RFC 5288's AEAD suites: no MAC keys; write keys then 4-byte implicit IVs. */
export function recordKeys(suite: CipherSuite, master: Buffer, clientRandom: Buffer, serverRandom: Buffer): RecordKeys {
  const k = suite.keyLength;
  const block = prf(suite.hash, master, 'key expansion', Buffer.concat([serverRandom, clientRandom]), 2 * k + 8);
  return {
    client: { key: block.subarray(0, k), salt: block.subarray(2 * k, 2 * k + 4) },
    server: { key: block.subarray(k, 2 * k), salt: block.subarray(2 * k + 4, 2 * k + 8) },
  };
}

/** RFC 5246 7.4.9: verify_data = PRF(master, label, Hash(handshake_messages))[0..11]. */
export const finishedData = (suite: CipherSuite, master: Buffer, label: 'client finished' | 'server finished', transcript: Buffer): Buffer =>
  prf(suite.hash, master, label, createHash(suite.hash).update(transcript).digest(), 12);

/** RFC 5705 4 without a context: PRF(master, label, client_random || server_random). */
export const exportKeyingMaterial = (
  suite: CipherSuite, master: Buffer, label: string, clientRandom: Buffer, serverRandom: Buffer, length: number,
): Buffer => prf(suite.hash, master, label, Buffer.concat([clientRandom, serverRandom]), length);

export const transcriptHash = (suite: CipherSuite, transcript: Buffer): Buffer => createHash(suite.hash).update(transcript).digest();

// ---------------------------------------------------------------- ECDHE

export interface EphemeralKey {
  readonly group: GroupName;
  readonly publicKey: Buffer;
  /** The shared secret with the peer's public value, or undefined when that value is not a valid point. */
  agree(peer: Buffer): Buffer | undefined;
}

const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

/** An ephemeral key pair from the injected random source (so tests are reproducible). */
export function ephemeralKey(group: GroupName, random: Random): EphemeralKey {
  if (group === 'secp256r1') {
    for (;;) {
      const d = random.bytes(32);
      const v = BigInt(`0x${d.toString('hex')}`);
      if (v === 0n || v >= P256_ORDER) continue;
      const ecdh = createECDH('prime256v1');
      ecdh.setPrivateKey(d);
      return {
        group, publicKey: ecdh.getPublicKey(undefined, 'uncompressed'),
        agree(peer) {
          // RFC 8422 5.4: only the uncompressed form is negotiated.
          if (peer.length !== 65 || peer[0] !== 4) return undefined;
          try {
            return ecdh.computeSecret(peer);
          } catch {
            return undefined;
          }
        },
      };
    }
  }
  const d = random.bytes(32);
  const priv = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: d.toString('base64url'), x: '' }, format: 'jwk' });
  const jwk = createPublicKey(priv).export({ format: 'jwk' });
  const pub = Buffer.from(String(jwk.x), 'base64url');
  return {
    group, publicKey: pub,
    agree(peer) {
      if (peer.length !== 32) return undefined;
      try {
        const pk = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: peer.toString('base64url') }, format: 'jwk' });
        const s = diffieHellman({ privateKey: priv, publicKey: pk });
        // RFC 7748 6.1: an all-zero result means a small-order point; refuse it.
        return s.every((x) => x === 0) ? undefined : s;
      } catch {
        return undefined;
      }
    },
  };
}

// ----------------------------------------------------------- signatures

export function keyTypeOf(k: KeyObject): 'ecdsa' | 'rsa' | undefined {
  if (k.asymmetricKeyType === 'ec') return k.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? 'ecdsa' : undefined;
  if (k.asymmetricKeyType === 'rsa') return (k.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048 ? 'rsa' : undefined;
  return undefined;
}

export function signWith(scheme: SignatureSchemeName, key: KeyObject, data: Buffer): Buffer {
  if (scheme === 'rsa_pss_rsae_sha256') {
    return sign('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  }
  return sign('sha256', data, key);
}

/** Verifies without throwing: a malformed signature is just a failed one. */
export function verifyWith(scheme: SignatureSchemeName, key: KeyObject, data: Buffer, signature: Buffer): boolean {
  if (schemeKeyType(scheme) !== keyTypeOf(key)) return false;
  try {
    if (scheme === 'rsa_pss_rsae_sha256') {
      return verify('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature);
    }
    return verify('sha256', data, key, signature);
  } catch {
    return false;
  }
}
