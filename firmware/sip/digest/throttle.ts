import { type Clock, type Counters, PbxError } from '../../core/index.js';

/** Failures within the window that block a source. */
export const DEFAULT_THROTTLE_LIMIT = 10;
export const DEFAULT_THROTTLE_WINDOW_MS = 60_000;
export const DEFAULT_THROTTLE_BLOCK_MS = 300_000;
/** Sources whose recent failures we count; the least recently failing go first. */
export const MAX_THROTTLE_TRACKED = 10_000;
/** Sources blocked at once; past this the block closest to expiry is dropped. */
export const MAX_THROTTLE_BLOCKED = 10_000;

export interface AuthThrottleOptions {
  readonly clock: Clock;
  readonly limit?: number;
  readonly windowMs?: number;
  readonly blockMs?: number;
  readonly maxTracked?: number;
  readonly maxBlocked?: number;
  /** Bumped as sip.auth-throttle.block. */
  readonly counters?: Counters;
}

export interface BlockedSource {
  readonly address: string;
  /** Clock time at which the block lifts. */
  readonly until: number;
  /** Failures counted when the block began, plus any while blocked. */
  readonly failures: number;
}

interface Block {
  readonly until: number;
  failures: number;
}

/**
 * Guards against password guessing and toll fraud: a source that fails
 * authentication `limit` times within a sliding window is blocked for a while.
 * Memory is bounded both in sources tracked and in failures kept per source.
 */
export class AuthThrottle {
  private readonly clock: Clock;
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly blockMs: number;
  private readonly maxTracked: number;
  private readonly maxBlocked: number;
  private readonly counters: Counters | undefined;
  /** Failure times per source, oldest first, at most `limit` of them. Map order is recency. */
  private readonly failures = new Map<string, number[]>();
  /** Blocks in the order they began; with one blockMs that is also the order they end. */
  private readonly blocks = new Map<string, Block>();

  constructor(opts: AuthThrottleOptions) {
    this.clock = opts.clock;
    this.limit = opts.limit ?? DEFAULT_THROTTLE_LIMIT;
    this.windowMs = opts.windowMs ?? DEFAULT_THROTTLE_WINDOW_MS;
    this.blockMs = opts.blockMs ?? DEFAULT_THROTTLE_BLOCK_MS;
    this.maxTracked = opts.maxTracked ?? MAX_THROTTLE_TRACKED;
    this.maxBlocked = opts.maxBlocked ?? MAX_THROTTLE_BLOCKED;
    this.counters = opts.counters;
    if (!Number.isInteger(this.limit) || this.limit < 1 || !(this.windowMs > 0) || !(this.blockMs > 0) || this.maxTracked < 1 || this.maxBlocked < 1) {
      throw new PbxError('config', 'auth throttle limits must be positive');
    }
  }

  recordFailure(address: string): void {
    const now = this.clock.now();
    const block = this.activeBlock(address, now);
    if (block !== undefined) {
      block.failures++;
      return;
    }
    const times = (this.failures.get(address) ?? []).filter((t) => now - t < this.windowMs);
    times.push(now);
    this.failures.delete(address);
    if (times.length >= this.limit) {
      this.blocks.set(address, { until: now + this.blockMs, failures: times.length });
      this.counters?.inc('sip.auth-throttle.block');
      while (this.blocks.size > this.maxBlocked) this.dropFirst(this.blocks);
      return;
    }
    this.failures.set(address, times);
    while (this.failures.size > this.maxTracked) this.dropFirst(this.failures);
  }

  /** A success clears the failure count; it does not lift a block in force. */
  recordSuccess(address: string): void {
    this.failures.delete(address);
  }

  isBlocked(address: string): boolean {
    return this.activeBlock(address, this.clock.now()) !== undefined;
  }

  /** Blocks in force, for `pbx status`. */
  blocked(): BlockedSource[] {
    const now = this.clock.now();
    const out: BlockedSource[] = [];
    for (const [address, b] of this.blocks) {
      if (b.until <= now) this.blocks.delete(address);
      else out.push({ address, until: b.until, failures: b.failures });
    }
    return out;
  }

  private activeBlock(address: string, now: number): Block | undefined {
    const b = this.blocks.get(address);
    if (b === undefined) return undefined;
    if (b.until > now) return b;
    this.blocks.delete(address);
    return undefined;
  }

  private dropFirst<V>(map: Map<string, V>): void {
    const first = map.keys().next();
    if (first.done !== true) map.delete(first.value);
  }
}
