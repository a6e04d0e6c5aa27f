import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { type Clock, type Logger, type Random, type TimerHandle, writeFileAtomicSync } from '../core/index.js';
import { collectBackup } from './files.js';
import { sealBackup, type ScryptCost } from './format.js';

/**
 * The nightly automatic backup: at the given local hour, the data folder's
 * backup files go to DATA/backups/auto-<date>.pbxbackup, and only the newest
 * `keep` of those stay. These are for undoing a mistake on this box (they
 * live on the same disk); an admin takes a copy elsewhere from the page.
 *
 * They need a passphrase nobody types at 3 a.m.: one is generated on first
 * use and kept in DATA/backups/auto.passphrase (0600, readable only by the
 * box's user, like its private keys). `pbx restore FILE --passphrase "$(cat ...)"`
 * reads them back.
 */

export const BACKUPS_DIR = 'backups';
export const AUTO_PASSPHRASE_FILE = 'auto.passphrase';
export const AUTO_PREFIX = 'auto-';
export const BACKUP_SUFFIX = '.pbxbackup';
export const DEFAULT_KEEP = 7;
export const DEFAULT_HOUR = 3;
const DAY_MS = 86_400_000;

export interface NightlyOptions {
  readonly dataDir: string;
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  readonly keep?: number;
  /** Local hour of day (0-23) to run at. */
  readonly hour?: number;
  /** Offset of local time from UTC in minutes at a given instant; the host's by default. */
  readonly utcOffsetMin?: (at: number) => number;
  readonly cost?: ScryptCost;
}

export interface AutoBackup { readonly file: string; readonly created: string; readonly bytes: number }

/** The passphrase of the automatic backups, made on first use. */
export function autoPassphrase(dataDir: string, random: Random): string {
  const dir = join(dataDir, BACKUPS_DIR);
  const path = join(dir, AUTO_PASSPHRASE_FILE);
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const p = random.token(192);
  writeFileAtomicSync(path, `${p}\n`, 0o600);
  return p;
}

/** Milliseconds from `now` to the next local `hour`:00. */
export function msUntilHour(now: number, hour: number, offsetMin: number): number {
  const local = now + offsetMin * 60_000;
  const dayStart = Math.floor(local / DAY_MS) * DAY_MS;
  let next = dayStart + hour * 3_600_000;
  if (next <= local) next += DAY_MS;
  return next - local;
}

export class NightlyBackup {
  private timer: TimerHandle | null = null;
  private readonly keep: number;
  private readonly hour: number;

  constructor(private readonly opts: NightlyOptions) {
    this.keep = Math.max(1, opts.keep ?? DEFAULT_KEEP);
    this.hour = opts.hour ?? DEFAULT_HOUR;
  }

  start(): void {
    const now = this.opts.clock.now();
    const offset = this.opts.utcOffsetMin?.(now) ?? -new Date(now).getTimezoneOffset();
    this.timer = this.opts.clock.setTimer(msUntilHour(now, this.hour, offset), () => {
      this.timer = null;
      try {
        this.runNow();
      } catch (e) {
        this.opts.log.error({ err: e instanceof Error ? e.message : String(e) }, 'nightly backup failed');
      }
      this.start();
    });
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  /** Take one automatic backup now and prune to `keep`; returns the file written. */
  runNow(): AutoBackup {
    const { dataDir, clock, random, log } = this.opts;
    const now = clock.now();
    const dir = join(dataDir, BACKUPS_DIR);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const payload = collectBackup(dataDir, now);
    const sealed = sealBackup(payload, autoPassphrase(dataDir, random), {
      ...(this.opts.cost ? { cost: this.opts.cost } : {}),
      random: (n) => random.bytes(n),
    });
    const name = `${AUTO_PREFIX}${payload.created.replace(/[:.]/g, '-')}${BACKUP_SUFFIX}`;
    writeFileAtomicSync(join(dir, name), sealed, 0o600);
    const pruned = this.prune();
    log.info({ file: name, bytes: sealed.length, pruned }, 'automatic backup written');
    return { file: name, created: payload.created, bytes: sealed.length };
  }

  /** The automatic backups kept, newest first. */
  list(): string[] {
    return listAutoBackups(this.opts.dataDir);
  }

  private prune(): number {
    const all = this.list();
    let n = 0;
    for (const old of all.slice(this.keep)) {
      unlinkSync(join(this.opts.dataDir, BACKUPS_DIR, old));
      n++;
    }
    return n;
  }
}

export function listAutoBackups(dataDir: string): string[] {
  const dir = join(dataDir, BACKUPS_DIR);
  if (!existsSync(dir)) return [];
  // ISO times sort as text; newest first.
  return readdirSync(dir).filter((f) => f.startsWith(AUTO_PREFIX) && f.endsWith(BACKUP_SUFFIX)).sort().reverse();
}
