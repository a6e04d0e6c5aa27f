import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { PbxError } from '../core/index.js';

/**
 * Admin password hashing with scrypt (RFC 7914). Stored as
 * `scrypt$N$r$p$saltB64$hashB64`. Parameters are read back from the stored
 * string, so they can be raised later without breaking old hashes; they are
 * bounded so a tampered file cannot make verification eat the board's memory.
 */
export const SCRYPT_N = 1 << 15;
export const SCRYPT_R = 8;
export const SCRYPT_P = 1;
export const SCRYPT_SALT_BYTES = 16;
export const SCRYPT_KEY_BYTES = 32;
export const MAX_ADMIN_PASSWORD_LENGTH = 1024;
export const MIN_ADMIN_PASSWORD_LENGTH = 8;
const MAX_SCRYPT_N = 1 << 20;
const MAX_SCRYPT_R = 32;
const MAX_SCRYPT_P = 16;

export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

function derive(pw: string, salt: Buffer, keyLen: number, params: ScryptParams): Promise<Buffer> {
  // scrypt needs about 128 * N * r bytes; leave headroom over Node's 32 MiB default.
  const opts: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + (1 << 20) };
  return new Promise((resolve, reject) => {
    scrypt(pw.normalize('NFC'), salt, keyLen, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(pw: string, params: ScryptParams = { N: SCRYPT_N, r: SCRYPT_R, p: SCRYPT_P }): Promise<string> {
  if (pw.length < MIN_ADMIN_PASSWORD_LENGTH) {
    throw new PbxError('config', `password must have at least ${MIN_ADMIN_PASSWORD_LENGTH} characters`);
  }
  if (pw.length > MAX_ADMIN_PASSWORD_LENGTH) throw new PbxError('limit', 'password is too long');
  checkParams(params);
  const salt = randomBytes(SCRYPT_SALT_BYTES);
  const key = await derive(pw, salt, SCRYPT_KEY_BYTES, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

function checkParams(p: ScryptParams): void {
  const powerOfTwo = Number.isInteger(p.N) && p.N >= 2 && (p.N & (p.N - 1)) === 0;
  if (!powerOfTwo || p.N > MAX_SCRYPT_N || !Number.isInteger(p.r) || p.r < 1 || p.r > MAX_SCRYPT_R
    || !Number.isInteger(p.p) || p.p < 1 || p.p > MAX_SCRYPT_P) {
    throw new PbxError('config', 'scrypt parameters out of range');
  }
}

/** Constant-time check of `pw` against a stored hash; false for a malformed hash. */
export async function verifyPassword(pw: string, stored: string): Promise<boolean> {
  if (pw.length > MAX_ADMIN_PASSWORD_LENGTH) return false;
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, saltB64, hashB64] = parts as [string, string, string, string, string, string];
  const params: ScryptParams = { N: Number(n), r: Number(r), p: Number(p) };
  try {
    checkParams(params);
  } catch {
    return false;
  }
  const salt = Buffer.from(saltB64, 'base64');
  const expected = Buffer.from(hashB64, 'base64');
  if (salt.length < 8 || expected.length < 16 || expected.length > 64) return false;
  const actual = await derive(pw, salt, expected.length, params);
  return timingSafeEqual(actual, expected);
}
