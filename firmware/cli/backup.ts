import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BackupService, RESTORE_COMMAND, readBackupFile, type RestoreOutcome } from '../backup/index.js';
import { CONFIG_FILE, tryLockConfig } from '../config/index.js';
import { callControl, controlSocketPath, isAlive } from '../control/index.js';
import { PbxError, createLogger, cryptoRandom, systemClock } from '../core/index.js';

/**
 * `pbx backup --out FILE --passphrase P` and `pbx restore FILE --passphrase P`.
 * A backup reads the data folder's files (the config is always written whole
 * by rename, so a running box is read safely). A restore on a running box goes
 * over the control socket (the box checks it, replies, then restarts its
 * services with it); offline it is checked and applied under the config lock.
 */

export const BACKUP_USAGE = `  pbx backup --out FILE --passphrase P     the config, certificates and keys as one encrypted file
                                           (scrypt + AES-256-GCM; P has at least 8 characters)
  pbx restore FILE --passphrase P          check FILE, then replace this box's config, certificates
                                           and keys with it; the old files are kept in DATA/restore-aside/`;

export class BackupUsageError extends Error {}

export interface BackupIo { readonly write: (text: string) => void }

function parse(argv: readonly string[], positionals: number) {
  let r;
  try {
    r = parseArgs({ args: [...argv], options: { data: { type: 'string' }, out: { type: 'string' }, passphrase: { type: 'string' } }, allowPositionals: true, strict: true });
  } catch (e) {
    const m = e instanceof Error ? e.message : '';
    const opt = /'(-[-\w]+)/.exec(m)?.[1];
    throw new BackupUsageError(opt ? `unknown option ${opt}` : 'these options do not read');
  }
  if (r.positionals.length !== positionals) {
    throw new BackupUsageError(r.positionals.length > positionals ? `unexpected argument: ${r.positionals[positionals]}` : 'which backup file? pbx restore FILE --passphrase P');
  }
  return { values: r.values, positionals: r.positionals };
}

export function summaryText(r: RestoreOutcome): string {
  return `restored the backup of ${r.created}: ${r.accounts} extension${r.accounts === 1 ? '' : 's'}, ${r.policies} polic${r.policies === 1 ? 'y' : 'ies'}\n`
    + `  CA SHA-256      ${r.caSha256}\n  server SHA-256  ${r.serverSha256}\n  old files kept in ${r.keptAside}\n`;
}

export async function backupCommand(cmd: 'backup' | 'restore', argv: readonly string[], io: BackupIo): Promise<number> {
  const log = createLogger({ level: 'warn', destination: process.stderr });
  if (cmd === 'backup') {
    const { values } = parse(argv, 0);
    if (typeof values.out !== 'string' || values.out === '') throw new BackupUsageError('backup needs --out FILE (where to write the backup)');
    if (typeof values.passphrase !== 'string') throw new BackupUsageError('backup needs --passphrase P (you will need it to restore)');
    const dataDir = resolve(String(values.data ?? 'var'));
    if (!existsSync(join(dataDir, CONFIG_FILE))) throw new PbxError('not-found', `there is no box in ${dataDir} (no ${CONFIG_FILE}); give its folder with --data DIR`);
    const service = new BackupService({ dataDir, clock: systemClock, random: cryptoRandom, log, replace: async (apply) => apply() });
    const made = service.backup(values.passphrase);
    writeFileSync(values.out, made.file, { mode: 0o600, flag: 'w' });
    io.write(`wrote the backup of ${dataDir} to ${values.out} (${Math.ceil(made.file.length / 1024)} KiB, encrypted; keep the passphrase)\n`);
    return 0;
  }
  const { values, positionals } = parse(argv, 1);
  if (typeof values.passphrase !== 'string') throw new BackupUsageError('restore needs --passphrase P (the one given when the backup was made)');
  const path = resolve(positionals[0]!);
  const dataDir = resolve(String(values.data ?? 'var'));
  const sock = controlSocketPath(dataDir);
  if (await isAlive(sock)) {
    const r = await callControl(sock, { command: RESTORE_COMMAND, args: { path, passphrase: values.passphrase } }) as RestoreOutcome;
    io.write(summaryText(r));
    io.write('the running box restarts its services with it now\n');
    return 0;
  }
  const file = readBackupFile(path);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const lock = tryLockConfig(dataDir, 'cli');
  if (!lock.acquired) throw new PbxError('conflict', `the config in ${dataDir} is locked by ${lock.holder ? `${lock.holder.owner} (pid ${lock.holder.pid})` : 'another process'}`);
  try {
    const service = new BackupService({ dataDir, clock: systemClock, random: cryptoRandom, log, replace: async (apply) => apply() });
    io.write(summaryText(await service.restore(file, values.passphrase)));
    return 0;
  } finally {
    lock.release();
  }
}
