import { type Clock, type Counters, type Logger, PbxError } from '../../core/index.js';

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
  /** Bumped as sip.auth-throttle.block, sip.auth-throttle.unblock and sip.auth-throttle.expired. */
  readonly counters?: Counters;
  /** Each block, lift and expiry gets a line (never a password: none reaches the throttle). */
  readonly log?: Logger;
  /** What the log lines call this throttle, e.g. "sip digest" or "admin login". */
  readonly name?: string;
}

export interface BlockedSource {
  readonly address: string;
  /** Clock time at which the block lifts. */
  readonly until: number;
  /** Failures counted when the block began, plus any while blocked. */
  readonly failures: number;
  /** The extension (or user name) of the latest failure, when the caller named it. */
  readonly extension?: string;
}

interface Block {
  readonly until: number;
  failures: number;
  extension?: string;
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
  private readonly log: Logger | undefined;
  private readonly name: string;
  /** Failure times per source, oldest first, at most `limit` of them. Map order is recency. */
  private readonly failures = new Map<string, number[]>();
  /** Blocks in the order they began; with one blockMs that is also the order they end. */
  private readonly blocks = new Map<string, Block>();
  /** The extension of each tracked source's latest failure (same keys as `failures`). */
  private readonly lastExtension = new Map<string, string>();

  constructor(opts: AuthThrottleOptions) {
    this.clock = opts.clock;
    this.limit = opts.limit ?? DEFAULT_THROTTLE_LIMIT;
    this.windowMs = opts.windowMs ?? DEFAULT_THROTTLE_WINDOW_MS;
    this.blockMs = opts.blockMs ?? DEFAULT_THROTTLE_BLOCK_MS;
    this.maxTracked = opts.maxTracked ?? MAX_THROTTLE_TRACKED;
    this.maxBlocked = opts.maxBlocked ?? MAX_THROTTLE_BLOCKED;
    this.counters = opts.counters;
    this.log = opts.log;
    this.name = opts.name ?? 'auth';
    if (!Number.isInteger(this.limit) || this.limit < 1 || !(this.windowMs > 0) || !(this.blockMs > 0) || this.maxTracked < 1 || this.maxBlocked < 1) {
      throw new PbxError('config', 'auth throttle limits must be positive');
    }
  }

  /** `extension`: the account the failed attempt named, shown beside the block. */
  recordFailure(address: string, extension?: string): void {
    const now = this.clock.now();
    const block = this.activeBlock(address, now);
    if (block !== undefined) {
      block.failures++;
      if (extension !== undefined) block.extension = extension;
      return;
    }
    const times = (this.failures.get(address) ?? []).filter((t) => now - t < this.windowMs);
    times.push(now);
    this.failures.delete(address);
    const ext = extension ?? this.lastExtension.get(address);
    this.lastExtension.delete(address);
    if (times.length >= this.limit) {
      const b: Block = { until: now + this.blockMs, failures: times.length, ...(ext === undefined ? {} : { extension: ext }) };
      this.blocks.set(address, b);
      this.counters?.inc('sip.auth-throttle.block');
      this.log?.warn({ source: address, extension: ext, failures: b.failures, until: new Date(b.until).toISOString() }, `${this.name}: source blocked after repeated authentication failures`);
      while (this.blocks.size > this.maxBlocked) this.dropFirst(this.blocks);
      return;
    }
    this.failures.set(address, times);
    if (ext !== undefined) this.lastExtension.set(address, ext);
    while (this.failures.size > this.maxTracked) {
      const first = this.failures.keys().next();
      if (first.done === true) break;
      this.failures.delete(first.value);
      this.lastExtension.delete(first.value);
    }
  }

  /** A success clears the failure count; it does not lift a block in force. */
  recordSuccess(address: string): void {
    this.failures.delete(address);
    this.lastExtension.delete(address);
  }

  /**
   * Lifts a block in force (`pbx block remove`, the page's button) and forgets
   * the source's failures; false when there was none. `by` names who lifted
   * it, for the log line.
   */
  unblock(address: string, by = 'admin'): boolean {
    const b = this.activeBlock(address, this.clock.now());
    this.failures.delete(address);
    this.lastExtension.delete(address);
    if (b === undefined) return false;
    this.blocks.delete(address);
    this.counters?.inc('sip.auth-throttle.unblock');
    this.log?.info({ source: address, extension: b.extension, failures: b.failures, by }, `${this.name}: block lifted`);
    return true;
  }

  isBlocked(address: string): boolean {
    return this.activeBlock(address, this.clock.now()) !== undefined;
  }

  /** Blocks in force, for `pbx status`. */
  blocked(): BlockedSource[] {
    const now = this.clock.now();
    const out: BlockedSource[] = [];
    for (const [address, b] of this.blocks) {
      if (b.until <= now) this.expire(address, b);
      else out.push({ address, until: b.until, failures: b.failures, ...(b.extension === undefined ? {} : { extension: b.extension }) });
    }
    return out;
  }

  private activeBlock(address: string, now: number): Block | undefined {
    const b = this.blocks.get(address);
    if (b === undefined) return undefined;
    if (b.until > now) return b;
    this.expire(address, b);
    return undefined;
  }

  /** Expiry is noticed lazily (on the next look at the source or at the list), and logged then. */
  private expire(address: string, b: Block): void {
    this.blocks.delete(address);
    this.counters?.inc('sip.auth-throttle.expired');
    this.log?.info({ source: address, extension: b.extension, failures: b.failures }, `${this.name}: block expired`);
  }

  private dropFirst<V>(map: Map<string, V>): void {
    const first = map.keys().next();
    if (first.done !== true) map.delete(first.value);
  }
}
