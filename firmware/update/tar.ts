import { UpdateError } from './errors.js';

/*
 * The subset of POSIX ustar a firmware bundle uses: regular files only, in
 * 512-byte blocks. A header block:
 *
 *   offset size field
 *        0  100 name          (NUL-padded)
 *      100    8 mode          (octal, NUL/space terminated)
 *      108    8 uid, 116 8 gid
 *      124   12 size          (octal)
 *      136   12 mtime         (octal)
 *      148    8 chksum        (octal sum of the header with this field as spaces)
 *      156    1 typeflag      ('0' or NUL: a regular file; anything else is refused)
 *      157  100 linkname
 *      257    6 magic "ustar\0", 263 2 version "00"
 *      265   32 uname, 297 32 gname, 329 8 devmajor, 337 8 devminor
 *      345  155 prefix        (the path is prefix + "/" + name when set)
 *
 * Data follows, padded to a block; two zero blocks end the archive. Links,
 * devices, directories and pax headers have no place in a bundle and are
 * refused, as are paths that are absolute, climb with "..", or repeat.
 */

const BLOCK = 512;

export interface TarEntry {
  readonly path: string;
  readonly mode: number;
  readonly data: Buffer;
}

export const MAX_PATH = 255;

/** A relative path of plain names: no leading "/", no "." or ".." parts, no NUL or backslash. */
export function safePath(p: string): boolean {
  if (p.length === 0 || p.length > MAX_PATH || p.startsWith('/') || p.includes('\0') || p.includes('\\')) return false;
  return p.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

function writeString(h: Buffer, off: number, len: number, s: string): void {
  const b = Buffer.from(s, 'utf8');
  if (b.length > len) throw new RangeError(`tar field too long: ${s}`);
  b.copy(h, off);
}

function writeOctal(h: Buffer, off: number, len: number, n: number): void {
  writeString(h, off, len, `${n.toString(8).padStart(len - 1, '0')}\0`);
}

function splitPath(p: string): { prefix: string; name: string } {
  if (Buffer.byteLength(p) <= 100) return { prefix: '', name: p };
  for (let i = p.indexOf('/'); i !== -1; i = p.indexOf('/', i + 1)) {
    const prefix = p.slice(0, i);
    const name = p.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) return { prefix, name };
  }
  throw new RangeError(`path does not fit a ustar header: ${p}`);
}

export function writeTar(entries: readonly TarEntry[]): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    if (!safePath(e.path)) throw new RangeError(`unsafe path: ${e.path}`);
    const h = Buffer.alloc(BLOCK);
    const { prefix, name } = splitPath(e.path);
    writeString(h, 0, 100, name);
    writeOctal(h, 100, 8, e.mode & 0o7777);
    writeOctal(h, 108, 8, 0);
    writeOctal(h, 116, 8, 0);
    writeOctal(h, 124, 12, e.data.length);
    writeOctal(h, 136, 12, 0);
    h.fill(0x20, 148, 156);
    h[156] = 0x30;
    writeString(h, 257, 6, 'ustar\0');
    writeString(h, 263, 2, '00');
    writeString(h, 345, 155, prefix);
    let sum = 0;
    for (const b of h) sum += b;
    writeString(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
    out.push(h, e.data);
    const pad = (BLOCK - (e.data.length % BLOCK)) % BLOCK;
    if (pad) out.push(Buffer.alloc(pad));
  }
  out.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(out);
}

function readString(h: Buffer, off: number, len: number): string {
  const end = h.indexOf(0, off);
  return h.subarray(off, end === -1 || end > off + len ? off + len : end).toString('utf8');
}

function readOctal(h: Buffer, off: number, len: number, what: string, at: number): number {
  const s = readString(h, off, len).trim();
  if (!/^[0-7]{1,11}$/.test(s)) throw new UpdateError('bad-archive', `bad ${what} in the tar header at byte ${at}`);
  return parseInt(s, 8);
}

/** Every entry of a bundle's tar; throws UpdateError('bad-archive') on anything outside the subset. */
export function readTar(buf: Buffer, maxEntries: number): TarEntry[] {
  const entries: TarEntry[] = [];
  const seen = new Set<string>();
  let off = 0;
  for (;;) {
    if (off + BLOCK > buf.length) throw new UpdateError('bad-archive', 'the archive ends without its end blocks');
    const h = buf.subarray(off, off + BLOCK);
    if (h.every((b) => b === 0)) {
      if (off + 2 * BLOCK > buf.length || !buf.subarray(off + BLOCK, off + 2 * BLOCK).every((b) => b === 0)) {
        throw new UpdateError('bad-archive', 'a zero block without a second one');
      }
      return entries;
    }
    if (readString(h, 257, 6) !== 'ustar' || readString(h, 263, 2) !== '00') throw new UpdateError('bad-archive', `no ustar header at byte ${off}`);
    const sum = readOctal(h, 148, 8, 'checksum', off);
    let actual = 0;
    for (let i = 0; i < BLOCK; i++) actual += i >= 148 && i < 156 ? 0x20 : h[i]!;
    if (sum !== actual) throw new UpdateError('bad-archive', `tar header checksum mismatch at byte ${off}`);
    const type = h[156];
    if (type !== 0x30 && type !== 0) throw new UpdateError('bad-archive', `entry type '${String.fromCharCode(type ?? 0)}' at byte ${off}: only regular files belong in a bundle`);
    const prefix = readString(h, 345, 155);
    const name = readString(h, 0, 100);
    const path = prefix ? `${prefix}/${name}` : name;
    if (!safePath(path)) throw new UpdateError('bad-archive', `unsafe path in the bundle: ${JSON.stringify(path)}`);
    if (seen.has(path)) throw new UpdateError('bad-archive', `the bundle carries ${path} twice`);
    seen.add(path);
    const mode = readOctal(h, 100, 8, 'mode', off) & 0o777;
    const size = readOctal(h, 124, 12, 'size', off);
    const start = off + BLOCK;
    if (size > buf.length - start) throw new UpdateError('bad-archive', `${path} runs past the end of the archive`);
    entries.push({ path, mode, data: buf.subarray(start, start + size) });
    if (entries.length > maxEntries) throw new UpdateError('too-large', `more than ${maxEntries} files`);
    off = start + Math.ceil(size / BLOCK) * BLOCK;
  }
}
