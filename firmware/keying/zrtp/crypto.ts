/**
 * The algorithms ZRTP negotiates (RFC 6189 5.1.2 - 5.1.6) and its key
 * derivation (RFC 6189 4.4.1.4, 4.5). All built on node:crypto; secrets
 * come from the injected Random.
 */
import {
  createCipheriv, createDecipheriv, createDiffieHellman, createECDH, createHash, createHmac, createPrivateKey, createPublicKey,
  diffieHellman, getDiffieHellman, timingSafeEqual,
} from 'node:crypto';
import type { Random } from '../../core/index.js';
import type { SrtpSuiteName } from '../../media/srtp/index.js';
import { PGP_WORDS_EVEN, PGP_WORDS_ODD } from './pgp-words.js';

export type HashType = 'S256';
export type CipherType = 'AES1' | 'AES3';
export type AuthTagType = 'HS32' | 'HS80';
/**
 * DH3k and EC25 are RFC 6189 5.1.5 types. X255 (X25519, RFC 7748) is not in
 * RFC 6189; it is the name linphone's bzrtp sends, with a 32-byte pv and the
 * raw X25519 output as the DH result, so it is offered only when asked for.
 */
export type KeyAgreementType = 'DH3k' | 'EC25' | 'X255';
export type SasType = 'B32' | 'B256';

export const HASH_TYPES: readonly HashType[] = ['S256'];
export const CIPHER_TYPES: readonly CipherType[] = ['AES1', 'AES3'];
export const AUTH_TAG_TYPES: readonly AuthTagType[] = ['HS32', 'HS80'];
export const KEY_AGREEMENT_TYPES: readonly KeyAgreementType[] = ['DH3k', 'EC25', 'X255'];
export const SAS_TYPES: readonly SasType[] = ['B32', 'B256'];

/**
 * RFC 6189 5.1.x: what an endpoint is taken to support even when its Hello
 * lists none of a kind (the mandatory ones).
 */
export const MANDATORY = { hash: 'S256', cipher: 'AES1', authTags: ['HS32', 'HS80'], keyAgreement: 'DH3k', sas: 'B32' } as const;

export const HASH_LENGTH = 32;
export const RETAINED_SECRET_BYTES = 32;
export const CIPHER_KEY_BYTES: Readonly<Record<CipherType, number>> = { AES1: 16, AES3: 32 };
export const SRTP_SALT_BYTES = 14;
export const PV_BYTES: Readonly<Record<KeyAgreementType, number>> = { DH3k: 384, EC25: 64, X255: 32 };

export function hash(...parts: readonly Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

export function hmac(key: Uint8Array, ...parts: readonly Uint8Array[]): Buffer {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** The 64-bit MAC of messages and of the secret IDs (RFC 6189 5.2, 4.3.1). */
export function mac64(key: Uint8Array, ...parts: readonly Uint8Array[]): Buffer {
  return hmac(key, ...parts).subarray(0, 8);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

const u32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b; };

/**
 * KDF(KI, Label, Context, L) = HMAC(KI, i || Label || 0x00 || Context || L)
 * with i = 1 and L the output length in bits, truncated to L bits
 * (RFC 6189 4.5.1; one block suffices for every L we use).
 */
export function kdf(ki: Uint8Array, label: string, context: Uint8Array, bits: number): Buffer {
  return hmac(ki, u32(1), Buffer.from(label, 'latin1'), Buffer.of(0), context, u32(bits)).subarray(0, bits / 8);
}

/** H0 random, H1 = hash(H0), H2 = hash(H1), H3 = hash(H2) (RFC 6189 9). */
export interface HashChain { readonly h0: Buffer; readonly h1: Buffer; readonly h2: Buffer; readonly h3: Buffer }
export function hashChain(h0: Buffer): HashChain {
  const h1 = hash(h0);
  const h2 = hash(h1);
  return { h0, h1, h2, h3: hash(h2) };
}

/** CFB-128 over the Confirm and SASrelay encrypted parts (RFC 6189 5.7). */
export function cfb(cipher: CipherType, key: Uint8Array, iv: Uint8Array, data: Uint8Array, encrypt: boolean): Buffer {
  const alg = cipher === 'AES1' ? 'aes-128-cfb' : 'aes-256-cfb';
  const c = encrypt ? createCipheriv(alg, key, iv) : createDecipheriv(alg, key, iv);
  return Buffer.concat([c.update(data), c.final()]);
}

/** The SRTP suite a cipher and auth tag choose (RFC 6189 5.1.3, 5.1.4). */
export function srtpSuiteOf(cipher: CipherType, tag: AuthTagType): SrtpSuiteName {
  if (cipher === 'AES1') return tag === 'HS80' ? 'AES_CM_128_HMAC_SHA1_80' : 'AES_CM_128_HMAC_SHA1_32';
  return tag === 'HS80' ? 'AES_256_CM_HMAC_SHA1_80' : 'AES_256_CM_HMAC_SHA1_32';
}

/** One side's ephemeral key pair for the chosen key agreement. */
export interface KeyPair {
  readonly type: KeyAgreementType;
  /** Our public value as it goes in DHPart (big-endian, fixed length). */
  readonly pv: Buffer;
  /** The DH result for the peer's pv, or undefined when the pv is unusable (RFC 6189 5.1.5: error 0x61). */
  agree(peerPv: Buffer): Buffer | undefined;
}

let modp15: { readonly prime: Buffer; readonly pMinus1: bigint; readonly p: bigint } | undefined;
function group15(): { readonly prime: Buffer; readonly pMinus1: bigint; readonly p: bigint } {
  if (!modp15) {
    // RFC 3526 group 15 (3072-bit MODP, generator 2) as node ships it.
    const prime = getDiffieHellman('modp15').getPrime();
    const p = BigInt(`0x${prime.toString('hex')}`);
    modp15 = { prime, p, pMinus1: p - 1n };
  }
  return modp15;
}

/** DH secret exponent bytes: RFC 6189 5.1.5 asks for at least twice the AES key strength; 256 bits covers AES3. */
export const DH_SECRET_BYTES = 32;

export function generateKeyPair(type: KeyAgreementType, random: Random): KeyPair {
  switch (type) {
    case 'DH3k': {
      const g = group15();
      const dh = createDiffieHellman(g.prime, 2);
      const sv = random.bytes(DH_SECRET_BYTES);
      sv[0] = (sv[0] as number) | 0x80;
      dh.setPrivateKey(sv);
      const pv = Buffer.from(powMod(2n, BigInt(`0x${sv.toString('hex')}`), g.p).toString(16).padStart(768, '0'), 'hex');
      return {
        type, pv,
        agree(peer) {
          if (peer.length !== PV_BYTES.DH3k) return undefined;
          const v = BigInt(`0x${peer.toString('hex')}`);
          // RFC 6189 4.4.1.1: pv of 1, 0 or p-1 (or not below p) is refused.
          if (v <= 1n || v >= g.pMinus1) return undefined;
          try { return leftPad(dh.computeSecret(peer), PV_BYTES.DH3k); } catch { return undefined; }
        },
      };
    }
    case 'EC25': {
      const ecdh = createECDH('prime256v1');
      for (;;) {
        try { ecdh.setPrivateKey(random.bytes(32)); break; } catch { /* zero or >= n: draw again */ }
      }
      const pv = ecdh.getPublicKey().subarray(1);
      return {
        type, pv,
        agree(peer) {
          if (peer.length !== PV_BYTES.EC25) return undefined;
          try { return ecdh.computeSecret(Buffer.concat([Buffer.of(4), peer])); } catch { return undefined; }
        },
      };
    }
    case 'X255': {
      const d = random.bytes(32);
      // PKCS#8 wrapping of a raw X25519 private key (RFC 8410).
      const priv = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, d]), format: 'der', type: 'pkcs8' });
      const x = createPublicKey(priv).export({ format: 'jwk' }).x ?? '';
      const pv = Buffer.from(x, 'base64url');
      return {
        type, pv,
        agree(peer) {
          if (peer.length !== PV_BYTES.X255) return undefined;
          try {
            const pub = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: peer.toString('base64url') }, format: 'jwk' });
            const s = diffieHellman({ privateKey: priv, publicKey: pub });
            // RFC 7748 6.1: an all-zero result means a small-order point.
            return s.every((v) => v === 0) ? undefined : s;
          } catch { return undefined; }
        },
      };
    }
  }
}

const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

function leftPad(b: Buffer, n: number): Buffer {
  return b.length >= n ? b : Buffer.concat([Buffer.alloc(n - b.length), b]);
}

function powMod(base: bigint, exp: bigint, mod: bigint): bigint {
  let r = 1n;
  let b = base % mod;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % mod;
    b = (b * b) % mod;
    e >>= 1n;
  }
  return r;
}

/** z-base-32 (RFC 6189 5.1.6). */
const ZBASE32 = 'ybndrfg8ejkmcpqxot1uwisza345h769';

/**
 * Render a SAS from sasvalue, the leftmost 32 bits of sashash (RFC 6189 5.1.6):
 * B32 takes the leftmost 20 bits as four z-base-32 characters; B256 the
 * leftmost 16 bits as two PGP words (even list, then odd list).
 */
export function renderSas(type: SasType, sasHash: Uint8Array): string {
  const v = ((sasHash[0] as number) << 24 | (sasHash[1] as number) << 16 | (sasHash[2] as number) << 8 | (sasHash[3] as number)) >>> 0;
  if (type === 'B32') {
    let s = '';
    for (let i = 0; i < 4; i++) s += ZBASE32[(v >>> (27 - 5 * i)) & 0x1f];
    return s;
  }
  return `${PGP_WORDS_EVEN[sasHash[0] as number]} ${PGP_WORDS_ODD[sasHash[1] as number]}`;
}

/** The keys of one exchange (RFC 6189 4.5.2, 4.5.3). */
export interface DerivedKeys {
  readonly s0: Buffer;
  readonly kdfContext: Buffer;
  readonly zrtpSess: Buffer;
  readonly sasHash: Buffer;
  readonly srtpKeyI: Buffer;
  readonly srtpSaltI: Buffer;
  readonly srtpKeyR: Buffer;
  readonly srtpSaltR: Buffer;
  readonly macKeyI: Buffer;
  readonly macKeyR: Buffer;
  readonly zrtpKeyI: Buffer;
  readonly zrtpKeyR: Buffer;
  readonly newRs1: Buffer;
}

export interface S0Input {
  readonly dhResult: Buffer;
  readonly zidI: Buffer;
  readonly zidR: Buffer;
  /** hash(responder's Hello || Commit || DHPart1 || DHPart2), each message from preamble to MAC. */
  readonly totalHash: Buffer;
  /** The matched retained secret (rs1 or rs2), auxsecret and pbxsecret, each when both sides share it. */
  readonly s1?: Buffer;
  readonly s2?: Buffer;
  readonly s3?: Buffer;
}

/** s0 = hash(1 || DHResult || "ZRTP-HMAC-KDF" || ZIDi || ZIDr || total_hash || len(s1) || s1 || len(s2) || s2 || len(s3) || s3). */
export function computeS0(i: S0Input): Buffer {
  const part = (s: Buffer | undefined): Buffer[] => (s ? [u32(s.length), s] : [u32(0)]);
  return hash(u32(1), i.dhResult, Buffer.from('ZRTP-HMAC-KDF', 'latin1'), i.zidI, i.zidR, i.totalHash,
    ...part(i.s1), ...part(i.s2), ...part(i.s3));
}

export function deriveKeys(s0: Buffer, zidI: Buffer, zidR: Buffer, totalHash: Buffer, cipher: CipherType): DerivedKeys {
  const ctx = Buffer.concat([zidI, zidR, totalHash]);
  const keyBits = CIPHER_KEY_BYTES[cipher] * 8;
  const k = (label: string, bits: number): Buffer => kdf(s0, label, ctx, bits);
  return {
    s0, kdfContext: ctx,
    zrtpSess: k('ZRTP Session Key', HASH_LENGTH * 8),
    sasHash: k('SAS', 256),
    srtpKeyI: k('Initiator SRTP master key', keyBits),
    srtpSaltI: k('Initiator SRTP master salt', SRTP_SALT_BYTES * 8),
    srtpKeyR: k('Responder SRTP master key', keyBits),
    srtpSaltR: k('Responder SRTP master salt', SRTP_SALT_BYTES * 8),
    macKeyI: k('Initiator HMAC key', HASH_LENGTH * 8),
    macKeyR: k('Responder HMAC key', HASH_LENGTH * 8),
    zrtpKeyI: k('Initiator ZRTP key', keyBits),
    zrtpKeyR: k('Responder ZRTP key', keyBits),
    newRs1: k('retained secret', RETAINED_SECRET_BYTES * 8),
  };
}

/** RFC 6189 7.3.1: pbxsecret = KDF(ZRTPSess, "Trusted MiTM key", ZIDi || ZIDr, 256). */
export function pbxSecretOf(zrtpSess: Buffer, zidI: Buffer, zidR: Buffer): Buffer {
  return kdf(zrtpSess, 'Trusted MiTM key', Buffer.concat([zidI, zidR]), 256);
}

/** rs1IDi = MAC(rs1, "Initiator"), rs1IDr = MAC(rs1, "Responder"), and so on (RFC 6189 4.3.1). */
export function secretId(secret: Buffer, role: 'initiator' | 'responder'): Buffer {
  return mac64(secret, Buffer.from(role === 'initiator' ? 'Initiator' : 'Responder', 'latin1'));
}
