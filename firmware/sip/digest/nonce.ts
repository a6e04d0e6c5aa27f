import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Stateless nonces. RFC 7616 section 3.3 suggests building the nonce from a
 * time stamp and a keyed hash so the server need not remember what it handed
 * out; ours binds it to this box (the secret), to the realm and (issue 20) to
 * the address the challenge went to, so a nonce fetched from one address is no
 * good for requests forged from another:
 *
 *   0          8          16                 32                    40
 *   +----------+----------+------------------+---------------------+
 *   | issue ms | random   | HMAC(secret,     | HMAC(secret, t|r|   |
 *   | uint64BE | 8 bytes  |  t|r|realm) 16 B |  realm|address) 8 B |
 *   +----------+----------+------------------+---------------------+
 *
 * carried as base64url without padding (54 characters). The first MAC tells
 * "ours" from "forged"; the second, "issued to this address" from "to another"
 * (which gets a fresh challenge with stale=true, never counts as a guess).
 */
const TIME_BYTES = 8;
const RANDOM_BYTES = 8;
const MAC_BYTES = 16;
const ADDRESS_MAC_BYTES = 8;
const NONCE_BYTES = TIME_BYTES + RANDOM_BYTES + MAC_BYTES + ADDRESS_MAC_BYTES;
const NONCE_CHARS = Math.ceil((NONCE_BYTES * 8) / 6);
const NONCE_RE = new RegExp(`^[A-Za-z0-9_-]{${NONCE_CHARS}}$`);

function mac(secret: Buffer, body: Buffer, realm: string): Buffer {
  return createHmac('sha256', secret).update(body).update(realm, 'utf8').digest().subarray(0, MAC_BYTES);
}

function addressMac(secret: Buffer, body: Buffer, realm: string, address: string): Buffer {
  return createHmac('sha256', secret).update('address\0').update(body).update(realm, 'utf8').update('\0').update(address, 'utf8')
    .digest().subarray(0, ADDRESS_MAC_BYTES);
}

/** `address`: where the challenge goes ('' when the caller has none, e.g. provisioning). */
export function mintNonce(secret: Buffer, realm: string, issuedAt: number, random: Buffer, address = ''): string {
  const body = Buffer.alloc(TIME_BYTES + RANDOM_BYTES);
  body.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(issuedAt))), 0);
  random.copy(body, TIME_BYTES, 0, RANDOM_BYTES);
  return Buffer.concat([body, mac(secret, body, realm), addressMac(secret, body, realm, address)]).toString('base64url');
}

export type NonceCheck =
  | { readonly ok: true; readonly issuedAt: number }
  /** 'foreign': not minted by this box for this realm; 'other-address': ours, but issued to another address. */
  | { readonly ok: false; readonly reason: 'foreign' | 'other-address'; readonly issuedAt?: number };

/** Is this a nonce this box minted for this realm and for this address? */
export function checkNonceFor(secret: Buffer, realm: string, nonce: string, address = ''): NonceCheck {
  const issuedAt = checkNonce(secret, realm, nonce);
  if (issuedAt === undefined) return { ok: false, reason: 'foreign' };
  const raw = Buffer.from(nonce, 'base64url');
  const body = raw.subarray(0, TIME_BYTES + RANDOM_BYTES);
  if (!timingSafeEqual(raw.subarray(TIME_BYTES + RANDOM_BYTES + MAC_BYTES), addressMac(secret, body, realm, address))) {
    return { ok: false, reason: 'other-address', issuedAt };
  }
  return { ok: true, issuedAt };
}

/** The issue time of a nonce this box minted for this realm (whatever address), or undefined if it is not ours. */
export function checkNonce(secret: Buffer, realm: string, nonce: string): number | undefined {
  if (!NONCE_RE.test(nonce)) return undefined;
  const raw = Buffer.from(nonce, 'base64url');
  // base64url decoding ignores the spare low bits of the last character, so
  // insist on the canonical spelling: one nonce, one string.
  if (raw.length !== NONCE_BYTES || raw.toString('base64url') !== nonce) return undefined;
  const body = raw.subarray(0, TIME_BYTES + RANDOM_BYTES);
  if (!timingSafeEqual(raw.subarray(TIME_BYTES + RANDOM_BYTES, TIME_BYTES + RANDOM_BYTES + MAC_BYTES), mac(secret, body, realm))) return undefined;
  return Number(raw.readBigUInt64BE(0));
}

/** The opaque value: fixed per box and realm, so a foreign challenge's opaque shows. */
export function opaqueFor(secret: Buffer, realm: string): string {
  return createHmac('sha256', secret).update('opaque\0').update(realm, 'utf8').digest().subarray(0, 12).toString('base64url');
}
