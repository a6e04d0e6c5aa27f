/**
 * A token bucket per source address for datagrams (issue 20, in the manner of
 * Kamailio's pike): a source that sends faster than its rate loses the excess
 * before anything of it is parsed, so one flooding address costs the box a map
 * lookup per datagram and cannot take the transaction table from the others.
 * Connections have their own per-flow cap (MAX_MESSAGES_PER_SECOND).
 */

/** Datagrams a second one address may keep sending (phones behind one NAT share it). */
export const UDP_SOURCE_RATE = 200;
/** Datagrams one address may send at once after a quiet spell (a site's phones re-registering). */
export const UDP_SOURCE_BURST = 400;
/** Addresses tracked; past this the longest tracked is forgotten (it starts again with a full bucket). */
export const MAX_RATE_SOURCES = 10_000;

interface Bucket {
  tokens: number;
  at: number;
}

export class SourceRate {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly rate: number = UDP_SOURCE_RATE,
    private readonly burst: number = UDP_SOURCE_BURST,
    private readonly maxSources: number = MAX_RATE_SOURCES,
  ) {}

  /** True when `address` may send one more datagram at `now` (ms). */
  take(address: string, now: number): boolean {
    let b = this.buckets.get(address);
    if (b === undefined) {
      b = { tokens: this.burst, at: now };
      this.buckets.set(address, b);
      if (this.buckets.size > this.maxSources) {
        const first = this.buckets.keys().next();
        if (first.done !== true) this.buckets.delete(first.value);
      }
    } else if (now > b.at) {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) * this.rate) / 1000);
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  get tracked(): number {
    return this.buckets.size;
  }
}
