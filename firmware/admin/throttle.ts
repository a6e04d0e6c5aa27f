import type { Clock } from '../core/index.js';

/**
 * Password guessing spread over many addresses. The per-address throttle
 * (sip/digest AuthThrottle) stops one source; an attacker with twenty
 * addresses on the LAN gets twenty times the guesses. So each admin
 * credential (the password, the one-time setup code) also keeps its own
 * count of failures, whatever address they came from: after a few, every
 * further attempt must wait, and the wait doubles with each failure, up to a
 * cap. An attempt made before the wait is over is refused without looking
 * at the password, so it teaches the attacker nothing and does not grow the
 * wait (the admin, trying later from any address, gets in).
 */

/** Failures allowed before waits begin. */
export const ACCOUNT_FREE_FAILURES = 5;
/** The first wait; each further failure doubles it. */
export const ACCOUNT_BASE_DELAY_MS = 2_000;
export const ACCOUNT_MAX_DELAY_MS = 10 * 60_000;
/** Failures this old are forgotten. */
export const ACCOUNT_FORGET_MS = 60 * 60_000;

export interface AccountDelayOptions {
  readonly freeFailures?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly forgetMs?: number;
}

interface Failures {
  count: number;
  last: number;
}

export class AccountDelay {
  private readonly free: number;
  private readonly base: number;
  private readonly max: number;
  private readonly forget: number;
  /** Keyed by credential name ('admin', 'setup'): a handful of entries at most. */
  private readonly failures = new Map<string, Failures>();

  constructor(private readonly clock: Clock, opts: AccountDelayOptions = {}) {
    this.free = opts.freeFailures ?? ACCOUNT_FREE_FAILURES;
    this.base = opts.baseDelayMs ?? ACCOUNT_BASE_DELAY_MS;
    this.max = opts.maxDelayMs ?? ACCOUNT_MAX_DELAY_MS;
    this.forget = opts.forgetMs ?? ACCOUNT_FORGET_MS;
  }

  /** How long before an attempt on this credential is heard; 0 when it may be tried now. */
  waitMs(account: string): number {
    const f = this.current(account);
    if (f === undefined || f.count < this.free) return 0;
    const delay = Math.min(this.max, this.base * 2 ** Math.min(30, f.count - this.free));
    return Math.max(0, f.last + delay - this.clock.now());
  }

  recordFailure(account: string): void {
    const f = this.current(account) ?? { count: 0, last: 0 };
    f.count++;
    f.last = this.clock.now();
    this.failures.set(account, f);
  }

  recordSuccess(account: string): void {
    this.failures.delete(account);
  }

  private current(account: string): Failures | undefined {
    const f = this.failures.get(account);
    if (f !== undefined && this.clock.now() - f.last >= this.forget) {
      this.failures.delete(account);
      return undefined;
    }
    return f;
  }
}
