/**
 * Packet index estimation (RFC 3711 3.3.1 and appendix A) and the sliding
 * replay window (3.3.2). Indexes are exact integers below 2^48 held in
 * doubles. Checking never changes state; `commit` is called only once the
 * packet has authenticated.
 */

export const SEQ_MOD = 0x10000;
const HALF_SEQ = 0x8000;

/**
 * RFC 3711 appendix A: the index closest to `highest` whose low 16 bits are
 * `seq`. With no packet seen yet (`highest` < 0) the rollover counter is taken
 * as 0, as 3.3.1 says for a receiver's first packet. Returns -1 when the
 * nearest guess would lie before index 0.
 */
export function estimateIndex(highest: number, seq: number): number {
  if (highest < 0) return seq;
  const sl = highest % SEQ_MOD;
  const roc = (highest - sl) / SEQ_MOD;
  let v = roc;
  if (sl < HALF_SEQ) {
    if (seq - sl > HALF_SEQ) v = roc - 1;
  } else if (sl - HALF_SEQ > seq) {
    v = roc + 1;
  }
  return v < 0 ? -1 : v * SEQ_MOD + seq;
}

export type WindowVerdict = 'new' | 'replay' | 'old';

/** Bit k of the map stands for index highest - k. */
export class ReplayWindow {
  highest = -1;
  private readonly bits: Uint32Array;

  constructor(readonly size: 64 | 128) {
    this.bits = new Uint32Array(size >>> 5);
  }

  check(index: number): WindowVerdict {
    if (this.highest < 0 || index > this.highest) return 'new';
    const delta = this.highest - index;
    if (delta >= this.size) return 'old';
    return (this.bits[delta >>> 5]! >>> (delta & 31)) & 1 ? 'replay' : 'new';
  }

  commit(index: number): void {
    const bits = this.bits;
    if (this.highest < 0 || index > this.highest) {
      const shift = this.highest < 0 ? this.size : index - this.highest;
      if (shift >= this.size) {
        bits.fill(0);
      } else {
        const ws = shift >>> 5, bs = shift & 31;
        for (let i = bits.length - 1; i >= 0; i--) {
          const lo = i - ws >= 0 ? bits[i - ws]! : 0;
          const below = i - ws - 1 >= 0 ? bits[i - ws - 1]! : 0;
          bits[i] = bs === 0 ? lo : ((lo << bs) | (below >>> (32 - bs))) >>> 0;
        }
      }
      bits[0] = (bits[0]! | 1) >>> 0;
      this.highest = index;
      return;
    }
    const delta = this.highest - index;
    if (delta < this.size) bits[delta >>> 5] = (bits[delta >>> 5]! | (1 << (delta & 31))) >>> 0;
  }
}
