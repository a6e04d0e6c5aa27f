/**
 * GHASH (NIST SP 800-38D 6.4) in JavaScript, for AES-GCM SRTP (RFC 7714)
 * without a per-packet node:crypto cipher object.
 *
 * Multiplication by the hash subkey H is linear over GF(2), so X·H is the XOR,
 * over the 16 bytes of X, of (byte at position i)·H. We precompute those
 * 16 x 256 products once per key (64 KiB) and a block then costs 16 lookups.
 * Bits follow GCM's order: bit 0 is the most significant bit of byte 0, and
 * multiplying by x is a right shift with the reduction constant 0xe1 << 120.
 */
export class Ghash {
  private readonly table = new Int32Array(16 * 256 * 4);
  private y0 = 0; private y1 = 0; private y2 = 0; private y3 = 0;

  constructor(h: Uint8Array) {
    // basis[k] = H·x^k for k = 0..127
    const basis = new Int32Array(128 * 4);
    let v0 = rd(h, 0), v1 = rd(h, 4), v2 = rd(h, 8), v3 = rd(h, 12);
    for (let k = 0; k < 128; k++) {
      basis[k * 4] = v0; basis[k * 4 + 1] = v1; basis[k * 4 + 2] = v2; basis[k * 4 + 3] = v3;
      const lsb = v3 & 1;
      v3 = (v3 >>> 1) | (v2 << 31);
      v2 = (v2 >>> 1) | (v1 << 31);
      v1 = (v1 >>> 1) | (v0 << 31);
      v0 = (v0 >>> 1) ^ (lsb ? 0xe1000000 | 0 : 0);
    }
    const t = this.table;
    for (let i = 0; i < 16; i++) {
      const base = i * 256 * 4;
      for (let b = 1; b < 256; b++) {
        // Highest set bit of b (as a GCM coefficient: bit 7 of the byte is x^(8i)).
        const low = b & -b;
        const rest = b ^ low;
        const j = 7 - (31 - Math.clz32(low));
        const src = (8 * i + j) * 4;
        const o = base + b * 4, r = base + rest * 4;
        t[o] = t[r]! ^ basis[src]!;
        t[o + 1] = t[r + 1]! ^ basis[src + 1]!;
        t[o + 2] = t[r + 2]! ^ basis[src + 2]!;
        t[o + 3] = t[r + 3]! ^ basis[src + 3]!;
      }
    }
  }

  reset(): void {
    this.y0 = 0; this.y1 = 0; this.y2 = 0; this.y3 = 0;
  }

  /** Absorbs buf[off, off+len), zero-padded to a whole block at the end. */
  update(buf: Uint8Array, off: number, len: number): void {
    const end = off + len;
    let o = off;
    for (; o + 16 <= end; o += 16) this.block(rd(buf, o), rd(buf, o + 4), rd(buf, o + 8), rd(buf, o + 12));
    if (o < end) {
      let a = 0, b = 0, c = 0, d = 0;
      for (let i = 0; o < end; i++, o++) {
        const v = buf[o]! << (24 - 8 * (i & 3));
        if (i < 4) a |= v; else if (i < 8) b |= v; else if (i < 12) c |= v; else d |= v;
      }
      this.block(a, b, c, d);
    }
  }

  /** The final length block: bit lengths of the associated data and the ciphertext. */
  lengths(aadBytes: number, ctBytes: number): void {
    this.block(0, aadBytes * 8, 0, ctBytes * 8);
  }

  get w0(): number { return this.y0; }
  get w1(): number { return this.y1; }
  get w2(): number { return this.y2; }
  get w3(): number { return this.y3; }

  private block(a: number, b: number, c: number, d: number): void {
    a ^= this.y0; b ^= this.y1; c ^= this.y2; d ^= this.y3;
    const t = this.table;
    let z0 = 0, z1 = 0, z2 = 0, z3 = 0;
    let p = 0;
    for (let s = 24; s >= 0; s -= 8, p += 1024) {
      const o = p + ((a >>> s) & 0xff) * 4;
      z0 ^= t[o]!; z1 ^= t[o + 1]!; z2 ^= t[o + 2]!; z3 ^= t[o + 3]!;
    }
    for (let s = 24; s >= 0; s -= 8, p += 1024) {
      const o = p + ((b >>> s) & 0xff) * 4;
      z0 ^= t[o]!; z1 ^= t[o + 1]!; z2 ^= t[o + 2]!; z3 ^= t[o + 3]!;
    }
    for (let s = 24; s >= 0; s -= 8, p += 1024) {
      const o = p + ((c >>> s) & 0xff) * 4;
      z0 ^= t[o]!; z1 ^= t[o + 1]!; z2 ^= t[o + 2]!; z3 ^= t[o + 3]!;
    }
    for (let s = 24; s >= 0; s -= 8, p += 1024) {
      const o = p + ((d >>> s) & 0xff) * 4;
      z0 ^= t[o]!; z1 ^= t[o + 1]!; z2 ^= t[o + 2]!; z3 ^= t[o + 3]!;
    }
    this.y0 = z0; this.y1 = z1; this.y2 = z2; this.y3 = z3;
  }
}

function rd(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}
