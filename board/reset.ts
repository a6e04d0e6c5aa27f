import { existsSync, mkdirSync, renameSync } from 'node:fs';
import type { Clock, TimerHandle } from '../firmware/core/index.js';
import type { ResetButton } from './hal.js';

/** A press shorter than this identifies the box; held this long the LEDs warn of a factory reset. */
export const RESET_WARN_MS = 5_000;
/** Released after at least this long, the press restores factory settings. */
export const RESET_LONG_MS = 10_000;

export interface ResetHandlers {
  /** Short press: print the box's addresses and admin URL, blink the status LED. */
  identify(): void;
  /** The press has lasted RESET_WARN_MS (true), or ended (false): the distinct blink. */
  pending(on: boolean): void;
  /** Released after RESET_LONG_MS or more. */
  factoryReset(): void;
}

/**
 * What the reset button means: under 5 s a short press (identify); from 5 s
 * on the LEDs warn while it is held; released after 10 s or more it restores
 * factory settings; released between 5 and 10 s it does nothing (a change of
 * mind). The button is already debounced (gpio/button.ts).
 */
export class ResetController {
  private warnTimer: TimerHandle | null = null;
  private warned = false;
  private readonly offs: Array<() => void>;

  constructor(button: ResetButton, private readonly clock: Clock, private readonly on: ResetHandlers) {
    this.offs = [button.onPress(() => this.pressed()), button.onRelease((ms) => this.released(ms))];
  }

  close(): void {
    this.warnTimer?.cancel();
    for (const off of this.offs) off();
  }

  private pressed(): void {
    this.warnTimer?.cancel();
    this.warnTimer = this.clock.setTimer(RESET_WARN_MS, () => {
      this.warnTimer = null;
      this.warned = true;
      this.on.pending(true);
    });
  }

  private released(heldMs: number): void {
    this.warnTimer?.cancel();
    this.warnTimer = null;
    if (this.warned) { this.warned = false; this.on.pending(false); }
    if (heldMs >= RESET_LONG_MS) this.on.factoryReset();
    else if (heldMs < RESET_WARN_MS) this.on.identify();
  }
}

/** `data` -> `data.before-reset-20261202T153000Z` (a counter added if that exists): the old data kept aside. */
export function asideName(dataDir: string, now: number): string {
  const stamp = new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  let name = `${dataDir}.before-reset-${stamp}`;
  for (let i = 2; existsSync(name); i++) name = `${dataDir}.before-reset-${stamp}-${i}`;
  return name;
}

/**
 * Factory settings: the whole data folder (config, keys, CA, recordings) is
 * moved aside in one rename, so nothing of it is lost and nothing of it stays
 * in use, and an empty folder takes its place: the next start is a first boot.
 * The caller has stopped everything that holds files in it.
 */
export function keepDataAside(dataDir: string, now: number): string {
  const aside = asideName(dataDir, now);
  if (existsSync(dataDir)) renameSync(dataDir, aside);
  else mkdirSync(aside, { mode: 0o700 });
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  return aside;
}
