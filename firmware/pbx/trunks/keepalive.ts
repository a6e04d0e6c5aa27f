import type { Clock, Counters, TimerHandle } from '../../core/index.js';
import type { SipRequest } from '../../sip/message/index.js';
import type { ClientTransactionUser, Target } from '../../sip/transaction/index.js';

/**
 * OPTIONS keep-alive toward a trunk's server (RFC 3261 11): one OPTIONS
 * every interval; any final response (a 404 or 405 too: the server is
 * there) keeps the trunk up, FAILURES_TO_DOWN timeouts or transport errors
 * in a row mark it down. A trunk that is down is skipped by outbound
 * routes; it comes back up with its first answer.
 */

export const KEEPALIVE_INTERVAL_MS = 30_000;
export const FAILURES_TO_DOWN = 2;

export type Liveness = 'unknown' | 'up' | 'down';

export interface KeepAliveDeps {
  readonly clock: Clock;
  readonly counters: Counters;
  send(req: SipRequest, target: Target, user: ClientTransactionUser): void;
  /** Build one OPTIONS toward the target (fresh Call-ID and tags). */
  options(target: Target): SipRequest;
  target(): Target | undefined;
  onChange(state: Liveness): void;
}

export class KeepAlive {
  private stateValue: Liveness = 'unknown';
  private misses = 0;
  private timer?: TimerHandle;
  private running = false;
  private lastErrorValue?: string;

  constructor(private readonly deps: KeepAliveDeps, private readonly intervalMs = KEEPALIVE_INTERVAL_MS) {}

  get state(): Liveness {
    return this.stateValue;
  }

  get lastError(): string | undefined {
    return this.lastErrorValue;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.ping();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
  }

  private set(state: Liveness): void {
    if (state === this.stateValue) return;
    this.stateValue = state;
    this.deps.counters.inc(`trunk.keepalive.${state}`);
    try { this.deps.onChange(state); } catch { /* a listener must not stop the keep-alive */ }
  }

  private next(): void {
    if (!this.running) return;
    this.timer = this.deps.clock.setTimer(this.intervalMs, () => this.ping());
  }

  private ping(): void {
    if (!this.running) return;
    const target = this.deps.target();
    if (!target) { this.miss('no server to ask'); return; }
    let settled = false;
    const done = (ok: boolean, why?: string): void => {
      if (settled) return;
      settled = true;
      if (ok) { this.misses = 0; this.lastErrorValue = undefined; this.set('up'); this.next(); } else this.miss(why ?? 'no answer');
    };
    const user: ClientTransactionUser = {
      onResponse: (res) => { if (res.status >= 200) done(true); },
      onTimeout: () => done(false, 'no answer to OPTIONS'),
      onTransportError: (e) => done(false, `transport error: ${e.message}`),
    };
    try { this.deps.send(this.deps.options(target), target, user); } catch (e) {
      done(false, `cannot send: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private miss(why: string): void {
    this.misses++;
    this.lastErrorValue = why;
    if (this.misses >= FAILURES_TO_DOWN) this.set('down');
    this.next();
  }
}
