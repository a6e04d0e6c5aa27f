/**
 * G.711 (ITU-T G.711) companding: 16-bit linear PCM to and from mu-law (PCMU,
 * RTP payload type 0) and A-law (PCMA, payload type 8), 8000 samples/s.
 *
 * Decoding goes through 256-entry tables built once; encoding computes the
 * segment (exponent) from the position of the highest set bit. mu-law adds a
 * bias of 0x84 before finding the segment so that the segments line up; both
 * laws send the bits inverted (mu-law all bits, A-law the even bits) so that
 * silence is not a run of zeros on the line.
 */

export type G711Law = 'PCMU' | 'PCMA';

const MULAW_BIAS = 0x84;

/** Segment 0..7 of a magnitude: how many times it halves before reaching `first` (the top of segment 0). */
function segmentOf(v: number, first: number): number {
  let seg = 0;
  for (let top = first; v > top && seg < 8; top = (top << 1) | 1) seg++;
  return seg;
}

/**
 * mu-law works on 14-bit samples, A-law on 13-bit ones (G.711's inputs). A
 * 16-bit sample is rounded to the nearest of those, as sox does, rather than
 * truncated, so negative and positive samples are treated alike.
 */
export function linearToUlaw(sample: number): number {
  let v = ((sample | 0) + 2) >> 2;
  let mask = 0xff;
  if (v < 0) { v = -v; mask = 0x7f; }
  if (v > 8159) v = 8159;
  v += MULAW_BIAS >> 2;
  const seg = segmentOf(v, 0x3f);
  if (seg >= 8) return 0x7f ^ mask;
  const code = (seg << 4) | ((v >> (seg + 1)) & 0x0f);
  return (code ^ mask) & 0xff;
}

export function linearToAlaw(sample: number): number {
  let v = Math.min(4095, ((sample | 0) + 4) >> 3);
  let mask = 0xd5;
  if (v < 0) { v = -v - 1; mask = 0x55; }
  const seg = segmentOf(v, 0x1f);
  if (seg >= 8) return 0x7f ^ mask;
  const code = (seg << 4) | ((seg < 2 ? v >> 1 : v >> seg) & 0x0f);
  return code ^ mask;
}

export function ulawToLinear(byte: number): number {
  const u = ~byte & 0xff;
  const seg = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  const magnitude = (((mantissa << 3) + MULAW_BIAS) << seg) - MULAW_BIAS;
  return u & 0x80 ? -magnitude : magnitude;
}

export function alawToLinear(byte: number): number {
  const a = (byte ^ 0x55) & 0xff;
  const seg = (a >> 4) & 0x07;
  const mantissa = a & 0x0f;
  const magnitude = seg === 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (seg - 1);
  return a & 0x80 ? magnitude : -magnitude;
}

const ULAW_TABLE = Int16Array.from({ length: 256 }, (_, i) => ulawToLinear(i));
const ALAW_TABLE = Int16Array.from({ length: 256 }, (_, i) => alawToLinear(i));

/** Linear samples of a G.711 payload (one sample per byte). */
export function decodeG711(law: G711Law, payload: Uint8Array, out: Int16Array = new Int16Array(payload.length)): Int16Array {
  const table = law === 'PCMU' ? ULAW_TABLE : ALAW_TABLE;
  const n = Math.min(payload.length, out.length);
  for (let i = 0; i < n; i++) out[i] = table[payload[i]!]!;
  return out;
}

/** A G.711 payload of linear samples. */
export function encodeG711(law: G711Law, pcm: Int16Array, out: Uint8Array = new Uint8Array(pcm.length)): Uint8Array {
  const enc = law === 'PCMU' ? linearToUlaw : linearToAlaw;
  const n = Math.min(pcm.length, out.length);
  for (let i = 0; i < n; i++) out[i] = enc(pcm[i]!);
  return out;
}

/** The encoded value of digital silence: what a gap is filled with on the wire. */
export function g711Silence(law: G711Law): number {
  return law === 'PCMU' ? 0xff : 0xd5;
}
