import { PbxError, type Clock, type TimerHandle } from '../../core/index.js';

/**
 * The life of a call as one explicit state with one transition function:
 *
 *   routing ──> ringing ──> answered ──> ending ──> ended
 *      │           │            └────────────────────^
 *      └───────────┴──(refused, cancelled, failed)───^
 *
 * Timers belong to the lifecycle: each is scoped to the phases it makes sense
 * in (the no-answer timer to ringing, the 2xx retransmission to answered) and
 * is cancelled the moment the call leaves them, so no timer of a finished
 * phase can fire into a later one. Entering `ended` cancels every timer.
 */

export type CallPhase = 'routing' | 'ringing' | 'answered' | 'ending' | 'ended';

const NEXT: Readonly<Record<CallPhase, readonly CallPhase[]>> = {
  routing: ['ringing', 'ended'],
  ringing: ['answered', 'ended'],
  answered: ['ending', 'ended'],
  ending: ['ended'],
  ended: [],
};

export function mayMove(from: CallPhase, to: CallPhase): boolean {
  return NEXT[from].includes(to);
}

interface ScopedTimer {
  readonly handle: TimerHandle;
  readonly phases: readonly CallPhase[];
}

export class CallLifecycle {
  private current: CallPhase = 'routing';
  private readonly timers = new Set<ScopedTimer>();
  private readonly listeners = new Set<(to: CallPhase, from: CallPhase) => void>();

  constructor(private readonly clock: Clock) {}

  get phase(): CallPhase {
    return this.current;
  }

  get ended(): boolean {
    return this.current === 'ended';
  }

  /** Move to `to`; an illegal move is a bug in call control and throws. */
  move(to: CallPhase): void {
    const from = this.current;
    if (!mayMove(from, to)) throw new PbxError('invalid-state', `call cannot go from ${from} to ${to}`);
    this.current = to;
    for (const t of [...this.timers]) {
      if (!t.phases.includes(to)) {
        t.handle.cancel();
        this.timers.delete(t);
      }
    }
    for (const l of [...this.listeners]) l(to, from);
  }

  /** Move if the move is legal now; false (and nothing changes) otherwise. */
  tryMove(to: CallPhase): boolean {
    if (!mayMove(this.current, to)) return false;
    this.move(to);
    return true;
  }

  /**
   * A timer that lives while the call stays within `phases` (by default the
   * phase it is set in). It does not fire once the call has left them.
   */
  timer(ms: number, fn: () => void, phases: readonly CallPhase[] = [this.current]): TimerHandle {
    const entry: ScopedTimer = {
      phases,
      handle: this.clock.setTimer(ms, () => {
        this.timers.delete(entry);
        if (phases.includes(this.current)) fn();
      }),
    };
    this.timers.add(entry);
    return { cancel: () => { entry.handle.cancel(); this.timers.delete(entry); } };
  }

  /** Timers still pending (for tests and leak checks). */
  get pendingTimers(): number {
    return this.timers.size;
  }

  onMove(listener: (to: CallPhase, from: CallPhase) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
