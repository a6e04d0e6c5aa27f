import { createHash } from 'node:crypto';

/**
 * HMAC-SHA1 (RFC 2104 over FIPS 180-4 SHA-1) for the SRTP packet path,
 * written in JavaScript on purpose: a node:crypto call costs about a
 * microsecond whatever its size, and an SRTP tag needs one HMAC of ~200 bytes.
 * The key's inner and outer pad blocks are compressed once per key, so a tag
 * costs the message blocks plus one outer block, with no allocation.
 */

const BLOCK = 64;
/** Shared message schedule: the packet path is single-threaded and never re-enters. */
const W = new Int32Array(80);
/** Tail of the message plus padding: at most two blocks. */
const TAIL = new Uint8Array(2 * BLOCK);

function compress(st: Int32Array): void {
  const w = W;
  for (let t = 16; t < 80; t++) {
    const x = w[t - 3]! ^ w[t - 8]! ^ w[t - 14]! ^ w[t - 16]!;
    w[t] = (x << 1) | (x >>> 31);
  }
  let a = st[0]!, b = st[1]!, c = st[2]!, d = st[3]!, e = st[4]!;
  let t = 0;
  for (; t < 20; t++) {
    const n = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + w[t]! + 0x5a827999) | 0;
    e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = n;
  }
  for (; t < 40; t++) {
    const n = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + w[t]! + 0x6ed9eba1) | 0;
    e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = n;
  }
  for (; t < 60; t++) {
    const n = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + w[t]! + 0x8f1bbcdc) | 0;
    e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = n;
  }
  for (; t < 80; t++) {
    const n = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + w[t]! + 0xca62c1d6) | 0;
    e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = n;
  }
  st[0] = (st[0]! + a) | 0;
  st[1] = (st[1]! + b) | 0;
  st[2] = (st[2]! + c) | 0;
  st[3] = (st[3]! + d) | 0;
  st[4] = (st[4]! + e) | 0;
}

function load(src: Uint8Array, o: number): void {
  const w = W;
  for (let i = 0; i < 16; i++, o += 4) {
    w[i] = (src[o]! << 24) | (src[o + 1]! << 16) | (src[o + 2]! << 8) | src[o + 3]!;
  }
}

const IV = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];

export class HmacSha1 {
  private readonly inner = new Int32Array(5);
  private readonly outer = new Int32Array(5);
  /** The last digest, as five big-endian words. */
  readonly digest = new Int32Array(5);

  constructor(key: Uint8Array) {
    let k = key;
    if (k.length > BLOCK) k = createHash('sha1').update(k).digest();
    const pad = new Uint8Array(BLOCK);
    for (const [state, byte] of [[this.inner, 0x36], [this.outer, 0x5c]] as const) {
      pad.fill(byte);
      for (let i = 0; i < k.length; i++) pad[i] = k[i]! ^ byte;
      state.set(IV);
      load(pad, 0);
      compress(state);
    }
  }

  /**
   * HMAC over buf[off, off+len) followed, when `extraLen` is 4, by the 32-bit
   * big-endian `extra` (the SRTP rollover counter, RFC 3711 4.2). The result
   * lands in `digest`.
   */
  mac(buf: Uint8Array, off: number, len: number, extra: number, extraLen: 0 | 4): Int32Array {
    const st = this.digest;
    st.set(this.inner);
    const end = off + len;
    let o = off;
    for (; o + BLOCK <= end; o += BLOCK) {
      load(buf, o);
      compress(st);
    }
    const tail = TAIL;
    let n = 0;
    while (o < end) tail[n++] = buf[o++]!;
    if (extraLen === 4) {
      tail[n++] = extra >>> 24; tail[n++] = (extra >>> 16) & 0xff; tail[n++] = (extra >>> 8) & 0xff; tail[n++] = extra & 0xff;
    }
    tail[n++] = 0x80;
    const blocks = n + 8 <= BLOCK ? 1 : 2;
    const lenAt = blocks * BLOCK - 8;
    while (n < lenAt) tail[n++] = 0;
    // Message bits, counting the inner pad block; packets are far below 2^29 bytes.
    const bits = (BLOCK + len + extraLen) * 8;
    tail[n++] = 0; tail[n++] = 0; tail[n++] = 0; tail[n++] = 0;
    tail[n++] = bits >>> 24; tail[n++] = (bits >>> 16) & 0xff; tail[n++] = (bits >>> 8) & 0xff; tail[n++] = bits & 0xff;
    load(tail, 0);
    compress(st);
    if (blocks === 2) {
      load(tail, BLOCK);
      compress(st);
    }
    // Outer hash: one block holding the inner digest, padding and length.
    const w = W;
    w[0] = st[0]!; w[1] = st[1]!; w[2] = st[2]!; w[3] = st[3]!; w[4] = st[4]!;
    w[5] = 0x80000000 | 0;
    for (let i = 6; i < 15; i++) w[i] = 0;
    w[15] = (BLOCK + 20) * 8;
    st.set(this.outer);
    compress(st);
    return st;
  }
}

/** Writes the first `n` bytes of a digest (big-endian words) at buf[off]. */
export function writeTag(d: Int32Array, n: number, buf: Uint8Array, off: number): void {
  for (let i = 0; i < n; i++) buf[off + i] = (d[i >> 2]! >>> (24 - 8 * (i & 3))) & 0xff;
}

/** Compares the first `n` digest bytes with buf[off..] without an early exit. */
export function tagDiffers(d: Int32Array, n: number, buf: Uint8Array, off: number): boolean {
  let diff = 0;
  for (let i = 0; i < n; i++) diff |= buf[off + i]! ^ ((d[i >> 2]! >>> (24 - 8 * (i & 3))) & 0xff);
  return diff !== 0;
}
