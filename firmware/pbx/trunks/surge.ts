import type { TollAlarmView } from '../../api/index.js';
import type { Clock } from '../../core/index.js';

/**
 * The toll-fraud alarm: an account whose outbound calls jump. A hijacked
 * phone or a guessed password is used to dial out as fast as the box lets it
 * (hundreds of calls an hour, most of them refused or short); an office phone
 * places a few. Every outbound attempt that reaches the dial plan is counted
 * per account in a sliding window; more than `calls` in `windowMs` raises an
 * alarm for that account, once, until the admin clears it. The alarm does not
 * stop calls by itself (the concurrent-call limits and the international and
 * premium guards do that); it makes the office look: the error LED blinks and
 * the page shows it.
 */

export interface SurgeLimit {
  /** More outbound attempts than this in the window raise the alarm; 0 turns it off. */
  readonly calls: number;
  readonly windowMs: number;
}

/** One raised alarm, as the status and the page show it (api TollAlarmView). */
export type TollAlarm = TollAlarmView;

/** Accounts watched at most; beyond that the oldest quiet one is forgotten. */
export const MAX_WATCHED = 2000;

export class OutboundWatch {
  private readonly recent = new Map<string, number[]>();
  private readonly raised = new Map<string, TollAlarm>();

  constructor(private readonly clock: Clock, private readonly limit: () => SurgeLimit) {}

  /** Count one outbound attempt; the alarm when this attempt raised it. */
  record(extension: string, number: string): TollAlarm | undefined {
    const { calls, windowMs } = this.limit();
    if (calls <= 0) return undefined;
    const now = this.clock.now();
    const times = (this.recent.get(extension) ?? []).filter((t) => t > now - windowMs);
    times.push(now);
    // Only the last calls+1 matter for the threshold.
    if (times.length > calls + 1) times.splice(0, times.length - calls - 1);
    this.recent.delete(extension);
    this.recent.set(extension, times);
    if (this.recent.size > MAX_WATCHED) this.recent.delete(this.recent.keys().next().value!);
    const at = new Date(now).toISOString();
    const open = this.raised.get(extension);
    if (open) {
      this.raised.set(extension, { ...open, calls: open.calls + 1, lastAt: at, lastNumber: number });
      return undefined;
    }
    if (times.length <= calls) return undefined;
    const alarm: TollAlarm = { extension, calls: times.length, windowMinutes: Math.round(windowMs / 60_000), raisedAt: at, lastAt: at, lastNumber: number };
    this.raised.set(extension, alarm);
    return alarm;
  }

  alarms(): TollAlarm[] {
    return [...this.raised.values()];
  }

  /** The admin has looked: the alarm goes and the account's count starts again. */
  clear(extension: string): boolean {
    this.recent.delete(extension);
    return this.raised.delete(extension);
  }
}
