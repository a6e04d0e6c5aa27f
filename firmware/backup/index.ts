export {
  BACKUP_MAGIC, BACKUP_FORMAT, MIN_PASSPHRASE_LENGTH, MAX_BACKUP_BYTES, DEFAULT_SCRYPT, BackupError,
  sealBackup, openBackup, backupCreated, checkPassphrase, safeRelativePath,
  type BackupFile, type BackupPayload, type BackupProblem, type ScryptCost,
} from './format.js';
export { BACKUP_FILES, ASIDE_DIR, collectBackup, checkRestore, applyRestore, type BackupSummary } from './files.js';
export {
  BACKUPS_DIR, AUTO_PASSPHRASE_FILE, AUTO_PREFIX, BACKUP_SUFFIX, DEFAULT_KEEP, DEFAULT_HOUR,
  NightlyBackup, autoPassphrase, listAutoBackups, msUntilHour, type NightlyOptions, type AutoBackup,
} from './nightly.js';
export { BackupService, type BackupServiceOptions, type RestoreOutcome } from './service.js';
export { RESTORE_COMMAND, readBackupFile, restoreOverControl } from './control.js';
