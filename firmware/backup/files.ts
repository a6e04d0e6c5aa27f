import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CONFIG_FILE, CURRENT_SCHEMA_VERSION, decodeConfig } from '../config/index.js';
import { fsyncDirSync, writeFileAtomicSync } from '../core/index.js';
import { splitPem } from '../pki/index.js';
import { BACKUP_FORMAT, BackupError, type BackupFile, type BackupPayload } from './format.js';

/**
 * Which files of the data folder a backup holds, reading them, checking a
 * restored set before anything changes, and putting it in place with the
 * old files kept aside.
 *
 * A backup is the configuration (accounts with their digest hashes, policies,
 * the admin password hash), the CA and server certificates with their keys,
 * the renewal history, the ZRTP cache and the music on hold. Not in it: live
 * state (registrations, run.json, locks, the control socket), the call
 * records, the audit log and the backups themselves.
 */

export const BACKUP_FILES: readonly string[] = [
  CONFIG_FILE,
  'pki/ca.crt', 'pki/ca.key', 'pki/server.crt', 'pki/server.key', 'pki/history.json', 'pki/server.custom',
  'zrtp-cache.json',
  'moh/music.pcm',
];
const REQUIRED = [CONFIG_FILE, 'pki/ca.crt', 'pki/ca.key', 'pki/server.crt', 'pki/server.key'];
const SECRET = new Set(['pki/ca.key', 'pki/server.key', CONFIG_FILE, 'zrtp-cache.json']);
/** Where restore moves the files it replaces: DATA/restore-aside/<time>/. */
export const ASIDE_DIR = 'restore-aside';

/** The data folder's backup files as they are now. */
export function collectBackup(dataDir: string, now: number, product = 'SecurePBX'): BackupPayload {
  const files: BackupFile[] = [];
  for (const path of BACKUP_FILES) {
    const full = join(dataDir, path);
    if (!existsSync(full)) continue;
    files.push({ path, mode: statSync(full).mode & 0o777, data: readFileSync(full) });
  }
  const config = files.find((f) => f.path === CONFIG_FILE);
  if (!config) throw new BackupError('bad-files', `no box in ${dataDir}: there is no ${CONFIG_FILE} to back up`);
  let schemaVersion = CURRENT_SCHEMA_VERSION;
  try {
    const v = (JSON.parse(config.data.toString('utf8')) as { schemaVersion?: unknown }).schemaVersion;
    if (typeof v === 'number') schemaVersion = v;
  } catch {
    throw new BackupError('bad-config', `${CONFIG_FILE} in ${dataDir} does not read; fix it before backing it up`);
  }
  return { format: BACKUP_FORMAT, created: new Date(now).toISOString(), product, schemaVersion, files };
}

/** What a checked backup holds, for the messages and the page. */
export interface BackupSummary {
  readonly created: string;
  readonly schemaVersion: number;
  readonly accounts: number;
  readonly policies: number;
  readonly caSha256: string;
  readonly serverSha256: string;
  readonly files: readonly string[];
}

const fingerprint = (pem: string): string => new X509Certificate(pem).fingerprint256;

/**
 * Every check a restore makes before it touches the data folder: the schema
 * version, the config against the schema (after the usual migrations), the
 * file list, and the certificates against their keys and the CA.
 */
export function checkRestore(payload: BackupPayload, now: number): BackupSummary {
  if (payload.schemaVersion > CURRENT_SCHEMA_VERSION) {
    throw new BackupError('newer-schema', `this backup comes from a newer box (config version ${payload.schemaVersion}; this one reads up to ${CURRENT_SCHEMA_VERSION}): update this box first`);
  }
  const byPath = new Map(payload.files.map((f) => [f.path, f]));
  for (const f of payload.files) {
    if (!BACKUP_FILES.includes(f.path)) throw new BackupError('bad-files', `the backup holds ${f.path}, which is not part of a box's backup`);
  }
  for (const p of REQUIRED) if (!byPath.has(p)) throw new BackupError('bad-files', `the backup has no ${p}`);
  let decoded;
  try {
    decoded = decodeConfig(JSON.parse(byPath.get(CONFIG_FILE)!.data.toString('utf8')), now);
  } catch (e) {
    throw new BackupError('bad-config', `the configuration in the backup is not valid: ${e instanceof Error ? e.message : String(e)}`);
  }
  const text = (p: string): string => byPath.get(p)!.data.toString('utf8');
  let caSha256: string;
  let serverSha256: string;
  try {
    const ca = new X509Certificate(text('pki/ca.crt'));
    if (!ca.checkPrivateKey(createPrivateKey(text('pki/ca.key')))) throw new Error('the CA key does not match the CA certificate');
    const leafPem = splitPem(text('pki/server.crt'))[0];
    if (!leafPem) throw new Error('no server certificate');
    const leaf = new X509Certificate(leafPem);
    if (!leaf.checkPrivateKey(createPrivateKey(text('pki/server.key')))) throw new Error('the server key does not match the server certificate');
    if (!byPath.has('pki/server.custom') && !leaf.checkIssued(ca)) throw new Error('the server certificate was not issued by the CA in the backup');
    caSha256 = ca.fingerprint256;
    serverSha256 = fingerprint(leafPem);
  } catch (e) {
    throw new BackupError('bad-certificates', `the certificates in the backup do not check out: ${e instanceof Error ? e.message : String(e)}`);
  }
  return {
    created: payload.created, schemaVersion: payload.schemaVersion,
    accounts: decoded.config.accounts.length, policies: decoded.config.policies.length,
    caSha256, serverSha256, files: payload.files.map((f) => f.path),
  };
}

/**
 * Put a checked backup in place. Every backup file the folder has now moves
 * to DATA/restore-aside/<time>/ first (a rename: nothing is deleted), then
 * the restored files are written atomically, keys 0600. Returns `aside`.
 */
export function applyRestore(dataDir: string, payload: BackupPayload, aside: string): string {
  mkdirSync(aside, { recursive: true, mode: 0o700 });
  for (const path of BACKUP_FILES) {
    const from = join(dataDir, path);
    if (!existsSync(from)) continue;
    mkdirSync(dirname(join(aside, path)), { recursive: true, mode: 0o700 });
    renameSync(from, join(aside, path));
  }
  // The last-good copy belongs to the config being replaced.
  for (const extra of [`${CONFIG_FILE}.last-good`]) {
    if (existsSync(join(dataDir, extra))) renameSync(join(dataDir, extra), join(aside, extra));
  }
  fsyncDirSync(dataDir);
  for (const f of payload.files) {
    const to = join(dataDir, f.path);
    mkdirSync(dirname(to), { recursive: true, mode: 0o700 });
    const mode = SECRET.has(f.path) ? 0o600 : (f.mode & 0o644);
    writeFileAtomicSync(to, f.data, mode);
    chmodSync(to, mode);
  }
  return aside;
}
