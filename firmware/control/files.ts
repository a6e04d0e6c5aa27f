import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { PbxError } from '../core/index.js';

/**
 * Files the CLI hands to the appliance (an account CSV, a certificate) are
 * read with a size cap: a path like /dev/zero or a FIFO has no size to
 * check up front, so the read itself stops one byte past the cap.
 */

/** The largest input file: a 2,000-account CSV is about 100 KB. */
export const MAX_INPUT_FILE_BYTES = 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;

function sizeText(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  return Number.isInteger(mb) ? `${mb} MB` : `${bytes} bytes`;
}

/** The file as UTF-8; PbxError('limit') "FILE is larger than N MB" past maxBytes, 'not-found' when unreadable. */
export function readFileLimited(path: string, maxBytes = MAX_INPUT_FILE_BYTES): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new PbxError('not-found', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new PbxError('not-found', `cannot read ${path}: it is a folder`);
    if (st.isFile() && st.size > maxBytes) throw new PbxError('limit', `${path} is larger than ${sizeText(maxBytes)}`);
    const parts: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.alloc(Math.min(CHUNK_BYTES, maxBytes + 1 - total));
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        throw new PbxError('not-found', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
      }
      if (n === 0) break;
      total += n;
      if (total > maxBytes) throw new PbxError('limit', `${path} is larger than ${sizeText(maxBytes)}`);
      parts.push(buf.subarray(0, n));
    }
    return Buffer.concat(parts).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
