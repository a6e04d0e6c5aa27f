import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock, Logger, Random } from '../core/index.js';
import { ASIDE_DIR, applyRestore, checkRestore, collectBackup, type BackupSummary } from './files.js';
import { openBackup, sealBackup, type ScryptCost } from './format.js';

/**
 * Backup and restore as the CLI and the page use them. A restore opens the
 * file (passphrase), checks everything (checkRestore) and only then hands
 * `apply` to `replace`: on a running box that stops the services, applies and
 * starts them again; offline it simply applies under the config lock.
 */

export interface BackupServiceOptions {
  readonly dataDir: string;
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  /**
   * Runs `apply` where nothing else writes the data folder: offline at once
   * (resolves once it ran); on a running box after the reply, when the
   * services have stopped (resolves once that is scheduled).
   */
  readonly replace: (apply: () => void) => Promise<void>;
  readonly cost?: ScryptCost;
}

export interface RestoreOutcome extends BackupSummary {
  /** Where the replaced files were moved. */
  readonly keptAside: string;
}

export class BackupService {
  constructor(private readonly opts: BackupServiceOptions) {}

  get dataDir(): string { return this.opts.dataDir; }

  /** The data folder as one encrypted file. */
  backup(passphrase: string): { file: Buffer; created: string } {
    const { dataDir, clock, random } = this.opts;
    const payload = collectBackup(dataDir, clock.now());
    const file = sealBackup(payload, passphrase, { ...(this.opts.cost ? { cost: this.opts.cost } : {}), random: (n) => random.bytes(n) });
    this.opts.log.info({ bytes: file.length, files: payload.files.length }, 'backup taken');
    return { file, created: payload.created };
  }

  /** Check the file fully, then replace the data folder's files with it; nothing changes when a check fails. */
  async restore(file: Buffer, passphrase: string): Promise<RestoreOutcome> {
    const { dataDir, clock, log } = this.opts;
    const payload = openBackup(file, passphrase);
    const summary = checkRestore(payload, clock.now());
    const now = clock.now();
    const stamp = new Date(now).toISOString().replace(/[:.]/g, '-');
    let aside = join(dataDir, ASIDE_DIR, stamp);
    for (let n = 1; existsSync(aside); n++) aside = join(dataDir, ASIDE_DIR, `${stamp}-${n}`);
    await this.opts.replace(() => { applyRestore(dataDir, payload, aside); });
    log.info({ created: summary.created, accounts: summary.accounts, keptAside: aside }, 'backup restored');
    return { ...summary, keptAside: aside };
  }
}
