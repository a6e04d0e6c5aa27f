import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { PbxError } from '../core/index.js';

/**
 * The backup file: one passphrase-encrypted container.
 *
 *   "SPBXBAK1"                    8 bytes, the magic
 *   header length                 uint32 big-endian
 *   header                        JSON: format, kdf (scrypt N r p, salt), cipher iv, created
 *   ciphertext | tag              AES-256-GCM over the gzipped payload JSON, header as AAD
 *
 * The key is scrypt(passphrase, salt). The header is authenticated, so a
 * changed parameter fails like a wrong passphrase. Parameters read back are
 * bounded before scrypt runs, so a hostile file cannot make the box spend
 * gigabytes of memory; every failure is a BackupError with a reason code.
 */

export const BACKUP_MAGIC = 'SPBXBAK1';
export const BACKUP_FORMAT = 1;
export const MIN_PASSPHRASE_LENGTH = 8;
/** Largest backup the box reads (the files in it are config, keys and one music file). */
export const MAX_BACKUP_BYTES = 32 * 1024 * 1024;
const MAX_HEADER_BYTES = 4096;
const TAG_BYTES = 16;
const IV_BYTES = 12;
const SALT_BYTES = 16;

export interface ScryptCost { readonly N: number; readonly r: number; readonly p: number }
/** 2^15 x 8 x 128 bytes = 32 MiB of memory per try: slow to guess, fine on the board. */
export const DEFAULT_SCRYPT: ScryptCost = { N: 1 << 15, r: 8, p: 1 };
const MAX_N = 1 << 20;

export type BackupProblem =
  | 'not-a-backup' | 'bad-header' | 'unsupported-format' | 'kdf-bounds' | 'wrong-passphrase'
  | 'too-big' | 'bad-payload' | 'newer-schema' | 'bad-config' | 'bad-files' | 'bad-certificates' | 'weak-passphrase';

export class BackupError extends PbxError {
  constructor(readonly problem: BackupProblem, message: string) {
    super(problem === 'wrong-passphrase' ? 'auth' : problem === 'too-big' ? 'limit' : 'config', message);
  }
}

/** One file of the data folder, by its path relative to the folder. */
export interface BackupFile { readonly path: string; readonly mode: number; readonly data: Buffer }

export interface BackupPayload {
  readonly format: number;
  /** ISO time the backup was taken. */
  readonly created: string;
  readonly product: string;
  /** The config's schemaVersion at backup time. */
  readonly schemaVersion: number;
  readonly files: readonly BackupFile[];
}

interface Header {
  format: number;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  cipher: { name: 'aes-256-gcm'; iv: string };
  created: string;
}

function key(passphrase: string, salt: Buffer, cost: ScryptCost): Buffer {
  return scryptSync(passphrase.normalize('NFC'), salt, 32, { N: cost.N, r: cost.r, p: cost.p, maxmem: 256 * cost.N * cost.r + 1024 * 1024 });
}

export function checkPassphrase(passphrase: string): void {
  if ([...passphrase].length < MIN_PASSPHRASE_LENGTH) {
    throw new BackupError('weak-passphrase', `the backup passphrase needs at least ${MIN_PASSPHRASE_LENGTH} characters`);
  }
}

/** Payload -> encrypted file bytes. `random` is injected for tests (salt then iv). */
export function sealBackup(payload: BackupPayload, passphrase: string, opts: { cost?: ScryptCost; random?: (n: number) => Buffer } = {}): Buffer {
  checkPassphrase(passphrase);
  const cost = opts.cost ?? DEFAULT_SCRYPT;
  const rnd = opts.random ?? randomBytes;
  const salt = rnd(SALT_BYTES);
  const iv = rnd(IV_BYTES);
  const header: Header = {
    format: BACKUP_FORMAT,
    kdf: { name: 'scrypt', N: cost.N, r: cost.r, p: cost.p, salt: salt.toString('base64') },
    cipher: { name: 'aes-256-gcm', iv: iv.toString('base64') },
    created: payload.created,
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const json = JSON.stringify({ ...payload, files: payload.files.map((f) => ({ path: f.path, mode: f.mode, data: f.data.toString('base64') })) });
  const plain = gzipSync(Buffer.from(json, 'utf8'));
  const c = createCipheriv('aes-256-gcm', key(passphrase, salt, cost), iv);
  c.setAAD(headerBytes);
  const body = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(headerBytes.length);
  return Buffer.concat([Buffer.from(BACKUP_MAGIC, 'ascii'), len, headerBytes, body]);
}

const isInt = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

function readHeader(file: Buffer): { header: Header; headerBytes: Buffer; body: Buffer } {
  if (file.length > MAX_BACKUP_BYTES) throw new BackupError('too-big', `the file is larger than ${MAX_BACKUP_BYTES / 1024 / 1024} MiB; it is not a backup of this box`);
  if (file.length < 12 || file.subarray(0, 8).toString('latin1') !== BACKUP_MAGIC) {
    throw new BackupError('not-a-backup', 'this file is not a SecurePBX backup');
  }
  const n = file.readUInt32BE(8);
  if (n > MAX_HEADER_BYTES || 12 + n + TAG_BYTES > file.length) throw new BackupError('bad-header', 'the backup file is cut short or damaged');
  const headerBytes = file.subarray(12, 12 + n);
  let h: unknown;
  try { h = JSON.parse(headerBytes.toString('utf8')); } catch { throw new BackupError('bad-header', 'the backup file is damaged (its header does not read)'); }
  const o = h as Partial<Header> | null;
  if (typeof o !== 'object' || o === null || typeof o.format !== 'number') throw new BackupError('bad-header', 'the backup file is damaged (its header does not read)');
  if (o.format !== BACKUP_FORMAT) throw new BackupError('unsupported-format', `this backup has format ${o.format}; this box reads format ${BACKUP_FORMAT} (update the box first)`);
  const k = o.kdf;
  const c = o.cipher;
  if (!k || k.name !== 'scrypt' || !c || c.name !== 'aes-256-gcm' || typeof k.salt !== 'string' || typeof c.iv !== 'string' || typeof o.created !== 'string') {
    throw new BackupError('bad-header', 'the backup file is damaged (its header does not read)');
  }
  if (!isInt(k.N, 1024, MAX_N) || (k.N & (k.N - 1)) !== 0 || !isInt(k.r, 1, 32) || !isInt(k.p, 1, 4) || 128 * k.N * k.r > 256 * 1024 * 1024) {
    throw new BackupError('kdf-bounds', 'the backup asks for key-derivation settings outside what this box accepts');
  }
  if (Buffer.from(c.iv, 'base64').length !== IV_BYTES || Buffer.from(k.salt, 'base64').length < 8) throw new BackupError('bad-header', 'the backup file is damaged (its header does not read)');
  return { header: o as Header, headerBytes, body: file.subarray(12 + n) };
}

/** The time a backup says it was taken, without the passphrase (header only; not yet proven). */
export function backupCreated(file: Buffer): string {
  return readHeader(file).header.created;
}

/** Encrypted file bytes -> payload; BackupError on anything wrong, before any use of the content. */
export function openBackup(file: Buffer, passphrase: string): BackupPayload {
  const { header, headerBytes, body } = readHeader(file);
  const salt = Buffer.from(header.kdf.salt, 'base64');
  const iv = Buffer.from(header.cipher.iv, 'base64');
  const d = createDecipheriv('aes-256-gcm', key(passphrase, salt, header.kdf), iv);
  d.setAAD(headerBytes);
  d.setAuthTag(body.subarray(body.length - TAG_BYTES));
  let plain: Buffer;
  try {
    plain = Buffer.concat([d.update(body.subarray(0, body.length - TAG_BYTES)), d.final()]);
  } catch {
    throw new BackupError('wrong-passphrase', 'wrong passphrase, or the backup file was changed');
  }
  let json: unknown;
  try {
    json = JSON.parse(gunzipSync(plain, { maxOutputLength: 4 * MAX_BACKUP_BYTES }).toString('utf8'));
  } catch {
    throw new BackupError('bad-payload', 'the backup decrypts but its content does not read');
  }
  return checkPayload(json);
}

/** A relative path of plain names: no absolute path, no `..`, no empty part. */
export function safeRelativePath(p: unknown): p is string {
  return typeof p === 'string' && p.length > 0 && p.length <= 200 && /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(p)
    && p.split('/').every((part) => part !== '.' && part !== '..');
}

function checkPayload(v: unknown): BackupPayload {
  const o = v as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null || o.format !== BACKUP_FORMAT || typeof o.created !== 'string' || typeof o.product !== 'string'
    || !isInt(o.schemaVersion, 0, 1_000_000) || !Array.isArray(o.files)) {
    throw new BackupError('bad-payload', 'the backup decrypts but its content is not what this box writes');
  }
  const files: BackupFile[] = [];
  const seen = new Set<string>();
  for (const f of o.files as unknown[]) {
    const r = f as Record<string, unknown> | null;
    if (typeof r !== 'object' || r === null || !safeRelativePath(r.path) || !isInt(r.mode, 0, 0o777) || typeof r.data !== 'string' || seen.has(r.path)) {
      throw new BackupError('bad-files', 'the backup lists a file this box would not write');
    }
    seen.add(r.path);
    files.push({ path: r.path, mode: r.mode, data: Buffer.from(r.data, 'base64') });
  }
  return { format: BACKUP_FORMAT, created: o.created, product: o.product, schemaVersion: o.schemaVersion, files };
}
