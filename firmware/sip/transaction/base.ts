import { type Clock, type Counters, type TimerHandle, PbxError, isPbxError } from '../../core/index.js';
import type { SipMessage, SipRequest } from '../message/index.js';
import { type BaseTimers, type TimerValues, timerValues } from './timers.js';
import { type Target, type TransactionUser, type TransportSink, isReliable } from './types.js';

export type TimerName = 'A' | 'B' | 'D' | 'E' | 'F' | 'G' | 'H' | 'I' | 'J' | 'K' | 'L' | 'M' | 'Trying';

export interface TransactionOptions {
  readonly sink: TransportSink;
  readonly clock: Clock;
  /** Client: where the request (and ACK) go. Server: where responses go. */
  readonly target: Target;
  /** Override T1/T2/T4 (17.1.1.1 lets T1 be raised, e.g. on slow links). */
  readonly timers?: Partial<BaseTimers>;
  readonly counters?: Counters;
  /** Called once, when the transaction reaches Terminated. */
  readonly onTerminated?: () => void;
}

/**
 * What the four machines share: the state with its table of legal moves,
 * named timers that all die with the transaction, retransmission and timeout
 * timers, and guarded calls out to the transport and the TU. Each subclass
 * has one `transition` that calls `setState` and then starts and stops the
 * timers of the states it leaves and enters.
 */
export abstract class Transaction<S extends string, U extends TransactionUser = TransactionUser> {
  readonly request: SipRequest;
  readonly target: Target;
  readonly reliable: boolean;
  readonly timers: TimerValues;
  protected readonly user: U;
  protected readonly sink: TransportSink;
  protected readonly clock: Clock;
  protected readonly counters: Counters | undefined;
  private current: S;
  private readonly running = new Map<TimerName, TimerHandle>();
  private readonly onTerminated: (() => void) | undefined;
  private finished = false;

  protected constructor(
    request: SipRequest,
    initial: S,
    private readonly terminal: S,
    private readonly edges: Readonly<Record<S, readonly S[]>>,
    opts: TransactionOptions,
    user: U,
  ) {
    this.request = request;
    this.user = user;
    this.current = initial;
    this.target = opts.target;
    this.reliable = isReliable(opts.target.transport);
    this.timers = timerValues(this.reliable, opts.timers);
    this.sink = opts.sink;
    this.clock = opts.clock;
    this.counters = opts.counters;
    this.onTerminated = opts.onTerminated;
  }

  get state(): S {
    return this.current;
  }

  get isTerminated(): boolean {
    return this.current === this.terminal;
  }

  /** Stop at once, without telling the TU (layer shutdown). Idempotent. */
  destroy(): void {
    if (this.finished) return;
    this.current = this.terminal;
    this.finish();
  }

  /** The one place state changes: setState, then the timers of the states left and entered. */
  protected abstract transition(to: S): void;

  /** Check the move against the table, then make it. Returns the state left. */
  protected setState(to: S): S {
    const from = this.current;
    if (!this.edges[from].includes(to)) {
      throw new PbxError('invalid-state', `${this.constructor.name}: ${from} -> ${to} is not allowed`);
    }
    this.current = to;
    return from;
  }

  /** Start a timer; a zero duration means "now" (reliable transports), so the
   * callback runs synchronously. Call it last in an entry action. */
  protected startTimer(name: TimerName, ms: number, fn: () => void): void {
    this.stopTimer(name);
    if (ms <= 0) {
      fn();
      return;
    }
    const handle = this.clock.setTimer(ms, () => {
      this.running.delete(name);
      fn();
    });
    this.running.set(name, handle);
  }

  protected stopTimer(name: TimerName): void {
    this.running.get(name)?.cancel();
    this.running.delete(name);
  }

  /**
   * A retransmission timer (A, E or G). `first` is its initial interval, null
   * over reliable transports, which never need one (17.1.1.2, 17.1.2.2,
   * 17.2.1). Each time it fires it calls `resend`, and if that sent, runs
   * again after `next(the interval just used)`.
   */
  protected startRetransmit(name: TimerName, first: number | null, resend: () => boolean, next: (interval: number) => number): void {
    if (first === null) return;
    const arm = (ms: number): void => this.startTimer(name, ms, () => {
      if (resend()) arm(next(ms));
    });
    arm(first);
  }

  /** Timer B, F or H: no answer in time; terminate and tell the TU. */
  protected startTimeout(name: TimerName, ms: number): void {
    this.startTimer(name, ms, () => {
      this.transition(this.terminal);
      this.notify(() => this.user.onTimeout?.());
    });
  }

  /** Entry action of Terminated: every timer dies, the owner forgets us. */
  protected finish(): void {
    for (const h of this.running.values()) h.cancel();
    this.running.clear();
    if (this.finished) return;
    this.finished = true;
    this.onTerminated?.();
  }

  /** Send; a throwing transport becomes a transport error of this transaction. */
  protected send(msg: SipMessage): boolean {
    try {
      this.sink.send(msg, this.target);
      return true;
    } catch (e: unknown) {
      this.counters?.inc('transaction.transport-error');
      const err = isPbxError(e) ? e : new PbxError('transport', e instanceof Error ? e.message : String(e));
      this.transportFailed(err);
      return false;
    }
  }

  /** Run TU code; a TU that throws must not unwind the transport's stack. */
  protected notify(fn: () => void): void {
    try {
      fn();
    } catch {
      this.counters?.inc('transaction.tu-exception');
    }
  }

  /**
   * The transport reported that it cannot deliver for this transaction:
   * terminate and tell the TU (17.1.1.2, 17.1.2.2, 17.2.1, 17.2.2), unless
   * the current state no longer needs the transport.
   */
  transportFailed(err: PbxError): void {
    if (this.isTerminated || this.survivesTransportError()) return;
    this.transition(this.terminal);
    this.notify(() => this.user.onTransportError?.(err));
  }

  /** States where a transport error changes nothing; none unless a machine says so. */
  protected survivesTransportError(): boolean {
    return false;
  }
}
