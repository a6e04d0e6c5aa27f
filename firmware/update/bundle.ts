import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { z } from 'zod';
import { UpdateError } from './errors.js';
import { readTar, safePath, writeTar, type TarEntry } from './tar.js';

/*
 * A firmware bundle (.pbxfw): a gzip'd ustar archive of
 *
 *   manifest.json   product, version, and every payload file's path, size, mode and SHA-256
 *   manifest.sig    Ed25519 signature of manifest.json's exact bytes by the vendor key
 *   payload/...     the slot's contents (dist/, node_modules/, package.json)
 *
 * in that order. verifyBundle checks everything in memory (signature first,
 * then each file against the manifest, nothing missing, nothing extra)
 * before the installer writes a byte; the installer then writes the very
 * buffers it verified.
 */

export const PRODUCT = 'securepbx';
export const BUNDLE_FORMAT = 1;
/** A bundle larger than this is refused unread; unpacked contents are capped likewise. */
export const MAX_BUNDLE_BYTES = 256 * 1024 * 1024;
export const MAX_UNPACKED_BYTES = 768 * 1024 * 1024;
export const MAX_FILES = 50_000;

const Version = z.string().regex(/^\d{1,6}\.\d{1,6}\.\d{1,6}$/, 'MAJOR.MINOR.PATCH');
const ManifestSchema = z.object({
  format: z.literal(BUNDLE_FORMAT),
  product: z.literal(PRODUCT),
  version: Version,
  created: z.string(),
  files: z.array(z.object({
    path: z.string().refine(safePath, 'unsafe path'),
    size: z.number().int().min(0),
    mode: z.number().int().min(0).max(0o777),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  }).strict()).max(MAX_FILES),
}).strict();

export type Manifest = z.infer<typeof ManifestSchema>;

export interface PayloadFile { readonly path: string; readonly mode: number; readonly data: Buffer }

export interface VerifiedBundle {
  readonly manifest: Manifest;
  readonly files: readonly PayloadFile[];
  /** Which trusted key signed it (its SHA-256 fingerprint). */
  readonly signer: string;
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The SHA-256 of a key's SPKI DER: how a signer is named in logs. */
export function keyFingerprint(key: KeyObject): string {
  return sha256(key.export({ type: 'spki', format: 'der' }));
}

export function createBundle(opts: { version: string; files: readonly PayloadFile[]; privateKey: KeyObject; created?: Date }): Buffer {
  const manifest: Manifest = {
    format: BUNDLE_FORMAT, product: PRODUCT, version: opts.version, created: (opts.created ?? new Date()).toISOString(),
    files: opts.files.map((f) => ({ path: f.path, size: f.data.length, mode: f.mode & 0o777, sha256: sha256(f.data) })),
  };
  ManifestSchema.parse(manifest);
  const json = Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`);
  const sig = sign(null, json, opts.privateKey);
  const entries: TarEntry[] = [
    { path: 'manifest.json', mode: 0o644, data: json },
    { path: 'manifest.sig', mode: 0o644, data: sig },
    ...opts.files.map((f) => ({ path: `payload/${f.path}`, mode: f.mode, data: f.data })),
  ];
  return gzipSync(writeTar(entries), { level: 9 });
}

export function verifyBundle(bundle: Buffer, trusted: readonly KeyObject[]): VerifiedBundle {
  if (trusted.length === 0) throw new UpdateError('no-keys', 'no vendor key is trusted on this box');
  if (bundle.length > MAX_BUNDLE_BYTES) throw new UpdateError('too-large', `the bundle is larger than ${MAX_BUNDLE_BYTES} bytes`);
  let tar: Buffer;
  try {
    tar = gunzipSync(bundle, { maxOutputLength: MAX_UNPACKED_BYTES });
  } catch (e) {
    if (e instanceof RangeError) throw new UpdateError('too-large', `the bundle unpacks to more than ${MAX_UNPACKED_BYTES} bytes`);
    throw new UpdateError('bad-archive', 'not a gzip file');
  }
  const entries = readTar(tar, MAX_FILES + 2);
  const [m, s, ...payload] = entries;
  if (m?.path !== 'manifest.json' || s?.path !== 'manifest.sig') throw new UpdateError('bad-manifest', 'the bundle must start with manifest.json and manifest.sig');

  // The signature first: nothing of an unsigned manifest is believed, not even its JSON.
  const signer = trusted.find((k) => k.asymmetricKeyType === 'ed25519' && verify(null, m.data, k, s.data));
  if (!signer) throw new UpdateError('bad-signature', 'the manifest is not signed by a trusted vendor key');

  let manifest: Manifest;
  try {
    manifest = ManifestSchema.parse(JSON.parse(m.data.toString('utf8')));
  } catch (e) {
    throw new UpdateError('bad-manifest', `the signed manifest is not valid: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
  const listed = new Map(manifest.files.map((f) => [f.path, f]));
  if (listed.size !== manifest.files.length) throw new UpdateError('bad-manifest', 'the manifest lists a file twice');
  const files: PayloadFile[] = [];
  for (const e of payload) {
    if (!e.path.startsWith('payload/')) throw new UpdateError('extra-file', `${e.path} is outside payload/`);
    const path = e.path.slice('payload/'.length);
    const want = listed.get(path);
    if (!want) throw new UpdateError('extra-file', `${path} is in the bundle but not in the manifest`);
    if (e.data.length !== want.size || sha256(e.data) !== want.sha256) throw new UpdateError('hash-mismatch', `${path} differs from the signed manifest`);
    listed.delete(path);
    files.push({ path, mode: want.mode, data: e.data });
  }
  const missing = [...listed.keys()];
  if (missing.length > 0) throw new UpdateError('missing-file', `the bundle lacks ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''}`);
  return { manifest, files, signer: keyFingerprint(signer) };
}

/** Ed25519 public keys (PEM) the box trusts for updates. */
export function parsePublicKeys(pems: readonly string[]): KeyObject[] {
  return pems.map((p) => createPublicKey(p)).filter((k) => k.asymmetricKeyType === 'ed25519');
}

/** -1, 0 or 1 as a is older than, the same as, or newer than b (MAJOR.MINOR.PATCH). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}
