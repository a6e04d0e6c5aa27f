import type { Clock, Logger, TimerHandle } from '../core/index.js';
import type { PruneOptions } from './store.js';

/**
 * Retention, on a timer: recordings older than the office's retention (or
 * beyond its space budget, oldest first) and voicemail past its age are
 * deleted while the box runs, not only at start. A box that runs for months
 * would otherwise fill its SD card, or keep calls longer than the office
 * promised its callers. Recordings in progress are never touched (the store
 * skips them).
 */

export const HOUSEKEEPING_EVERY_MS = 6 * 60 * 60 * 1000;
/** The first run waits this long after start, so boot is not slowed. */
export const HOUSEKEEPING_FIRST_MS = 60_000;

export interface RetentionSettings {
  /** Days a recording is kept; 0: no age limit. */
  readonly retentionDays: number;
  /** Space the recordings may take, in MB; 0: no limit. */
  readonly maxMegabytes: number;
}

export interface HousekeepingDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly recordings: { prune(opts: PruneOptions): Promise<string[]> };
  readonly mailboxes: { prune(): Promise<string[]> };
  readonly settings: () => RetentionSettings;
}

export class Housekeeping {
  private timer: TimerHandle | null = null;
  private stopped = false;

  constructor(private readonly deps: HousekeepingDeps) {}

  start(): void {
    this.stopped = false;
    this.schedule(HOUSEKEEPING_FIRST_MS);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = null;
  }

  /** One pass; what was deleted. A failing store is logged, and the next pass comes as usual. */
  async runOnce(): Promise<{ recordings: string[]; messages: string[] }> {
    const { retentionDays, maxMegabytes } = this.deps.settings();
    const opts: PruneOptions = {
      ...(retentionDays > 0 ? { maxAgeDays: retentionDays } : {}),
      ...(maxMegabytes > 0 ? { maxBytes: maxMegabytes * 1024 * 1024 } : {}),
    };
    const recordings = await this.deps.recordings.prune(opts).catch((e: unknown) => this.failed('recordings', e));
    const messages = await this.deps.mailboxes.prune().catch((e: unknown) => this.failed('voicemail', e));
    if (recordings.length + messages.length > 0) {
      this.deps.log.info({ recordings: recordings.length, messages: messages.length, retentionDays, maxMegabytes }, 'retention: deleted old recordings and voicemail');
    }
    return { recordings, messages };
  }

  private failed(what: string, e: unknown): string[] {
    this.deps.log.warn({ store: what, err: e instanceof Error ? e.message : String(e) }, 'retention pass failed');
    return [];
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.deps.clock.setTimer(ms, () => {
      void this.runOnce().finally(() => this.schedule(HOUSEKEEPING_EVERY_MS));
    });
  }
}
