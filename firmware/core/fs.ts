import { closeSync, constants, fchmodSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

/**
 * Atomic replacement of a file: a crash at any moment leaves the old or the
 * new content, never a mix. The new bytes go to a temp file beside the target,
 * created exclusively with the final mode (so no other file is reused and the
 * data is never readable more widely than asked), chmod'ed in case the umask
 * narrowed that mode, fsynced, renamed over the target, and the folder is
 * fsynced so the rename itself is durable. The temp file is removed on any
 * failure.
 */

/** Temp names tried before giving up; a name is only taken by a dead writer that had our pid. */
export const MAX_TEMP_ATTEMPTS = 16;

const TEMP_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL;
const TEMP_NAME = /^(.*)\.tmp-(\d+)-\d+$/;
let tmpCounter = 0;

/** `<path>.tmp-<pid>-<n>`: the pid lets a cleaner tell a dead writer's leftovers from a live one's. */
function tempPath(path: string): string {
  return `${path}.tmp-${process.pid}-${++tmpCounter}`;
}

/** For a temp file name left by writeFileAtomic(Sync): the target's base name and the writer's pid. */
export function parseTempName(name: string): { readonly target: string; readonly pid: number } | undefined {
  const m = TEMP_NAME.exec(basename(name));
  return m?.[1] === undefined || m[2] === undefined ? undefined : { target: m[1], pid: Number(m[2]) };
}

function errnoOf(e: unknown): string | undefined {
  return e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

/** Errors that mean "this file system cannot fsync a directory"; the rename is still atomic there. */
const DIR_FSYNC_UNSUPPORTED = new Set(['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EISDIR']);

export async function writeFileAtomic(path: string, data: string | Buffer, mode: number): Promise<void> {
  let tmp = '';
  let fh: FileHandle | undefined;
  for (let attempt = 1; fh === undefined; attempt++) {
    tmp = tempPath(path);
    try {
      fh = await open(tmp, TEMP_FLAGS, mode);
    } catch (e) {
      if (errnoOf(e) !== 'EEXIST' || attempt >= MAX_TEMP_ATTEMPTS) throw e;
    }
  }
  let isOpen = true;
  try {
    await fh.chmod(mode);
    await fh.writeFile(data);
    await fh.sync();
    isOpen = false;
    await fh.close();
    await rename(tmp, path);
  } catch (e) {
    if (isOpen) await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fsyncDir(dirname(path));
}

export function writeFileAtomicSync(path: string, data: string | Buffer, mode = 0o600): void {
  let tmp = '';
  let fd: number | undefined;
  for (let attempt = 1; fd === undefined; attempt++) {
    tmp = tempPath(path);
    try {
      fd = openSync(tmp, TEMP_FLAGS, mode);
    } catch (e) {
      if (errnoOf(e) !== 'EEXIST' || attempt >= MAX_TEMP_ATTEMPTS) throw e;
    }
  }
  let isOpen = true;
  try {
    fchmodSync(fd, mode);
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    isOpen = false;
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    if (isOpen) {
      try { closeSync(fd); } catch { /* already failing */ }
    }
    try { unlinkSync(tmp); } catch { /* best effort */ }
    throw e;
  }
  fsyncDirSync(dirname(path));
}

/** Make a rename (or unlink) in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  let dh: FileHandle | undefined;
  try {
    dh = await open(dir, constants.O_RDONLY);
    await dh.sync();
  } catch (e) {
    if (!DIR_FSYNC_UNSUPPORTED.has(errnoOf(e) ?? '')) throw e;
  } finally {
    await dh?.close();
  }
}

export function fsyncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY);
    fsyncSync(fd);
  } catch (e) {
    if (!DIR_FSYNC_UNSUPPORTED.has(errnoOf(e) ?? '')) throw e;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
