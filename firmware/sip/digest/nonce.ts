import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Stateless nonces. RFC 7616 section 3.3 suggests building the nonce from a
 * time stamp and a keyed hash so the server need not remember what it handed
 * out; ours binds it to this box (the secret) and to the realm:
 *
 *   0               8               16                              32
 *   +---------------+---------------+-------------------------------+
 *   | issue time ms | random        | HMAC-SHA256(secret, t|r|realm) |
 *   | (uint64 BE)   | (8 bytes)     | first 16 bytes                 |
 *   +---------------+---------------+-------------------------------+
 *
 * carried as base64url without padding (43 characters).
 */
const TIME_BYTES = 8;
const RANDOM_BYTES = 8;
const MAC_BYTES = 16;
const NONCE_BYTES = TIME_BYTES + RANDOM_BYTES + MAC_BYTES;
const NONCE_CHARS = Math.ceil((NONCE_BYTES * 8) / 6);
const NONCE_RE = new RegExp(`^[A-Za-z0-9_-]{${NONCE_CHARS}}$`);

function mac(secret: Buffer, body: Buffer, realm: string): Buffer {
  return createHmac('sha256', secret).update(body).update(realm, 'utf8').digest().subarray(0, MAC_BYTES);
}

export function mintNonce(secret: Buffer, realm: string, issuedAt: number, random: Buffer): string {
  const body = Buffer.alloc(TIME_BYTES + RANDOM_BYTES);
  body.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(issuedAt))), 0);
  random.copy(body, TIME_BYTES, 0, RANDOM_BYTES);
  return Buffer.concat([body, mac(secret, body, realm)]).toString('base64url');
}

/** The issue time of a nonce this box minted for this realm, or undefined if it is not ours. */
export function checkNonce(secret: Buffer, realm: string, nonce: string): number | undefined {
  if (!NONCE_RE.test(nonce)) return undefined;
  const raw = Buffer.from(nonce, 'base64url');
  // base64url decoding ignores the spare low bits of the last character, so
  // insist on the canonical spelling: one nonce, one string.
  if (raw.length !== NONCE_BYTES || raw.toString('base64url') !== nonce) return undefined;
  const body = raw.subarray(0, TIME_BYTES + RANDOM_BYTES);
  if (!timingSafeEqual(raw.subarray(TIME_BYTES + RANDOM_BYTES), mac(secret, body, realm))) return undefined;
  return Number(raw.readBigUInt64BE(0));
}

/** The opaque value: fixed per box and realm, so a foreign challenge's opaque shows. */
export function opaqueFor(secret: Buffer, realm: string): string {
  return createHmac('sha256', secret).update('opaque\0').update(realm, 'utf8').digest().subarray(0, 12).toString('base64url');
}
