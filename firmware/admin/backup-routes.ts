import type { FastifyInstance } from 'fastify';
import { BackupError, BACKUPS_DIR, AUTO_PASSPHRASE_FILE, DEFAULT_KEEP, MAX_BACKUP_BYTES, listAutoBackups, type BackupService } from '../backup/index.js';
import { CommandError } from '../control/index.js';
import { join } from 'node:path';
import { statSync } from 'node:fs';

/**
 * Backup and restore from the page. POST /api/backup {passphrase} answers
 * with the encrypted file as a download; POST /api/restore {file (base64),
 * passphrase} checks it fully, answers what it holds, then the box restarts
 * its services with it (the page then asks to log in again, with the
 * restored admin password). GET /api/backups lists the automatic ones.
 */

const field = (b: unknown, name: string): string => {
  const v = (typeof b === 'object' && b !== null ? (b as Record<string, unknown>)[name] : undefined);
  if (typeof v !== 'string' || v === '') throw new CommandError('config', `${name} is required`, name);
  return v;
};

/** Where a backup problem belongs on the page's form. */
const rethrow = (e: unknown): never => {
  if (e instanceof BackupError) {
    const at = e.problem === 'wrong-passphrase' || e.problem === 'weak-passphrase' ? 'passphrase' : 'file';
    // Never 401 here: that means "log in again" to the page, and the session is fine.
    throw new CommandError(e.code === 'limit' ? 'limit' : 'config', e.message, at);
  }
  throw e;
};

export function backupRoutes(service: BackupService): (app: FastifyInstance) => void {
  return (app) => {
    app.post('/backup', async (req, reply) => {
      const passphrase = field(req.body, 'passphrase');
      let made;
      try { made = service.backup(passphrase); } catch (e) { return rethrow(e); }
      const day = made.created.slice(0, 10);
      return reply.header('content-type', 'application/octet-stream')
        .header('content-disposition', `attachment; filename="securepbx-${day}.pbxbackup"`).send(made.file);
    });
    // Base64 in JSON is 4/3 of the file.
    app.post('/restore', { bodyLimit: Math.ceil(MAX_BACKUP_BYTES * 4 / 3) + 4096 }, async (req) => {
      const file = Buffer.from(field(req.body, 'file'), 'base64');
      const passphrase = field(req.body, 'passphrase');
      try {
        return { ...(await service.restore(file, passphrase)), restarting: true };
      } catch (e) { return rethrow(e); }
    });
    app.get('/backups', async () => ({
      automatic: listAutoBackups(service.dataDir).map((f) => ({ file: f, bytes: statSync(join(service.dataDir, BACKUPS_DIR, f)).size })),
      folder: join(service.dataDir, BACKUPS_DIR),
      passphraseFile: join(service.dataDir, BACKUPS_DIR, AUTO_PASSPHRASE_FILE),
      keep: DEFAULT_KEEP,
    }));
  };
}
