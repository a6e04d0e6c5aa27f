/**
 * RTP/RTCP port pairs from a configured range: RTP on an even port, RTCP on
 * the next one (RFC 3550 11 recommends the even/odd pair; RFC 3605 lets SDP
 * say otherwise, but a pair keeps it simple for phones that ignore a=rtcp).
 *
 * The allocator does not open sockets itself: `allocate` hands each candidate
 * pair to a bind function and moves on to the next pair when the port is
 * busy (another process holds it). A pair is reserved before the bind is
 * awaited, so concurrent allocations never pick the same pair, and released
 * again on any failure, so errors never leak a pair.
 */
import { PbxError } from '../core/index.js';

export interface PortRange {
  readonly min: number;
  readonly max: number;
}

export interface PortPair<T> {
  readonly rtpPort: number;
  readonly rtcpPort: number;
  readonly value: T;
}

/** Errors that mean "this port is taken, try another", as opposed to a broken socket layer. */
export function isPortBusyError(e: unknown): boolean {
  const code = typeof e === 'object' && e !== null && 'code' in e ? (e as { code: unknown }).code : undefined;
  return code === 'EADDRINUSE' || code === 'EACCES';
}

export class PortPairAllocator {
  private readonly first: number;
  /** Number of pairs in the range. */
  readonly capacity: number;
  private readonly used = new Set<number>();
  /** Where the next search starts: round robin, so a just-freed pair rests a while (late packets of the old call). */
  private cursor = 0;
  /** Pairs skipped because the bind found them busy, over the allocator's life. */
  busySkips = 0;

  constructor(range: PortRange) {
    const { min, max } = range;
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 65535 || min > max) {
      throw new PbxError('config', `invalid media port range ${min}-${max}`);
    }
    this.first = min % 2 === 0 ? min : min + 1;
    this.capacity = this.first + 1 <= max ? Math.floor((max - this.first + 1) / 2) : 0;
    if (this.capacity === 0) throw new PbxError('config', `media port range ${min}-${max} holds no even/odd pair`);
  }

  /** Ports held (two per pair). */
  get inUse(): number {
    return this.used.size * 2;
  }

  /**
   * Find a free pair and bind it. `bind` must either resolve with whatever it
   * opened or reject having closed whatever it opened. A busy-port rejection
   * moves on to the next pair; any other rejection is rethrown as 'transport'.
   * When every pair is held or busy: PbxError 'limit'.
   */
  async allocate<T>(bind: (rtpPort: number, rtcpPort: number) => Promise<T>): Promise<PortPair<T>> {
    for (let tried = 0; tried < this.capacity; tried++) {
      const index = (this.cursor + tried) % this.capacity;
      const rtpPort = this.first + index * 2;
      if (this.used.has(rtpPort)) continue;
      this.used.add(rtpPort);
      let value: T;
      try {
        value = await bind(rtpPort, rtpPort + 1);
      } catch (e) {
        this.used.delete(rtpPort);
        if (isPortBusyError(e)) {
          this.busySkips++;
          continue;
        }
        throw new PbxError('transport', `binding media ports ${rtpPort}/${rtpPort + 1} failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      this.cursor = (index + 1) % this.capacity;
      return { rtpPort, rtcpPort: rtpPort + 1, value };
    }
    throw new PbxError('limit', `no free media port pair in ${this.first}-${this.first + this.capacity * 2 - 1}`);
  }

  /** Release a pair by its RTP port; false if it was not held (freeing twice is harmless). */
  free(rtpPort: number): boolean {
    return this.used.delete(rtpPort);
  }
}
