import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { BackupError, MAX_BACKUP_BYTES } from './format.js';
import type { BackupService, RestoreOutcome } from './service.js';

/**
 * `pbx restore` on a running box: the CLI sends the file's path and the
 * passphrase over the control socket (the socket is the box user's only),
 * the running box reads the file itself, checks it and restarts its services
 * with it.
 */

export const RESTORE_COMMAND = 'backup.restore';

/** A file of at most `limit` bytes (a FIFO or /dev/zero must not grow without end). */
export function readBackupFile(path: string, limit = MAX_BACKUP_BYTES): Buffer {
  const fd = openSync(path, 'r');
  try {
    if (!fstatSync(fd).isFile()) throw new BackupError('not-a-backup', `${path} is not a file`);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const b = Buffer.alloc(64 * 1024);
      const n = readSync(fd, b, 0, b.length, null);
      if (n === 0) break;
      total += n;
      if (total > limit) throw new BackupError('too-big', `${path} is larger than ${limit / 1024 / 1024} MiB; it is not a backup of this box`);
      chunks.push(b.subarray(0, n));
    }
    return Buffer.concat(chunks);
  } finally {
    closeSync(fd);
  }
}

export async function restoreOverControl(service: BackupService, req: { readonly args: Readonly<Record<string, unknown>> }): Promise<RestoreOutcome> {
  const { path, passphrase } = req.args;
  if (typeof path !== 'string' || path === '') throw new BackupError('not-a-backup', 'restore needs the backup file');
  if (typeof passphrase !== 'string') throw new BackupError('wrong-passphrase', 'restore needs the passphrase');
  return service.restore(readBackupFile(path), passphrase);
}
