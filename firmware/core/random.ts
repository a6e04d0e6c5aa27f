import { randomBytes, randomInt } from 'node:crypto';

/**
 * The one source of randomness for tags, branches, nonces and keys. Built on
 * node:crypto; tests may inject a deterministic one.
 */
export interface Random {
  bytes(n: number): Buffer;
  /** Uniform integer in [0, max). */
  int(max: number): number;
  /** URL-safe token with at least `bits` bits of entropy. */
  token(bits?: number): string;
}

export const cryptoRandom: Random = {
  bytes: (n) => randomBytes(n),
  int: (max) => randomInt(max),
  token: (bits = 96) => randomBytes(Math.ceil(bits / 8)).toString('base64url'),
};

/** Deterministic source for tests only: a counter stream, never for production keys. */
export function seededRandom(seed = 1): Random {
  let s = seed >>> 0;
  const next = (): number => {
    // xorshift32
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
  const bytes = (n: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = next() & 0xff;
    return b;
  };
  return {
    bytes,
    int: (max) => next() % max,
    token: (bits = 96) => bytes(Math.ceil(bits / 8)).toString('base64url'),
  };
}
