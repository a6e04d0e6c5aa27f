import { link, open, readdir, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Adapter } from 'lowdb';
import { PbxError, fsyncDir, parseTempName, writeFileAtomic } from '../core/index.js';

/** A config file bigger than this is refused before it is parsed. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
export const CONFIG_FILE_MODE = 0o600;

/**
 * A lowdb adapter whose writes survive a crash or power cut at any instant:
 * core's writeFileAtomic (temp `<file>.tmp-<pid>-<n>` with mode 0600, fsync,
 * rename, fsync of the folder), so a reader sees the old file or the new one,
 * never a mix. lowdb's own JSONFile (steno) renames without fsync, which can
 * leave an empty file after a power cut.
 */
export class DurableJsonFile<T> implements Adapter<T> {
  constructor(
    readonly path: string,
    private readonly decode: (raw: unknown) => T,
  ) {}

  /** null when the file does not exist; PbxError 'parse' | 'limit' | whatever decode throws. */
  async read(): Promise<T | null> {
    const text = await readTextFile(this.path);
    return text === null ? null : this.decode(parseJsonText(text));
  }

  async write(data: T): Promise<void> {
    await writeFileAtomic(this.path, `${JSON.stringify(data, null, 2)}\n`, CONFIG_FILE_MODE);
  }
}

export async function readTextFile(path: string, limit = MAX_CONFIG_BYTES): Promise<string | null> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if (errno(e) === 'ENOENT') return null;
    throw e;
  }
  try {
    const { size } = await fh.stat();
    if (size > limit) throw new PbxError('limit', `file is ${size} bytes, more than the ${limit} allowed`);
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

/** JSON.parse with a syntax error's position turned into line and column. */
export function parseJsonText(text: string): unknown {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  if (body.trim() === '') throw new PbxError('parse', 'invalid JSON: the file is empty');
  try {
    return JSON.parse(body);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    // V8 gives a position for some errors only; find it ourselves otherwise.
    // Its other messages quote the file around the error, which could put an
    // HA1 in the log, so those are replaced by the one offending character.
    const m = /^(.*?)(?: in JSON)? at position (\d+)/.exec(msg);
    const pos = m ? Number(m[2]) : jsonErrorOffset(body);
    const what = m ? m[1] : pos < body.length ? `unexpected ${JSON.stringify(body[pos])}` : 'unexpected end of file';
    const before = body.slice(0, pos);
    const lineNo = before.split('\n').length;
    const col = pos - before.lastIndexOf('\n');
    throw new PbxError('parse', `invalid JSON at line ${lineNo} column ${col}: ${what}`, pos);
  }
}

const MAX_JSON_DEPTH = 256;

/**
 * Offset of the first character that breaks the JSON grammar (RFC 8259
 * section 2), for error messages only; called after JSON.parse has failed.
 */
export function jsonErrorOffset(s: string): number {
  let i = 0;
  const ws = (): void => {
    while (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r') i++;
  };
  class Stop extends Error {}
  const fail = (): never => {
    throw new Stop();
  };
  const lit = (word: string): void => {
    for (const ch of word) if (s[i++] !== ch) { i--; fail(); }
  };
  const digits = (): void => {
    if (!/[0-9]/.test(s[i] ?? '')) fail();
    while (/[0-9]/.test(s[i] ?? '')) i++;
  };
  const str = (): void => {
    i++; // opening quote
    for (;;) {
      const c = s[i];
      if (c === undefined || c < ' ') fail();
      if (c === '"') { i++; return; }
      if (c === '\\') {
        i++;
        if (s[i] === 'u') {
          i++;
          for (let k = 0; k < 4; k++, i++) if (!/[0-9a-fA-F]/.test(s[i] ?? '')) fail();
          continue;
        }
        if (!'"\\/bfnrt'.includes(s[i] ?? 'x')) fail();
      }
      i++;
    }
  };
  const value = (depth: number): void => {
    if (depth > MAX_JSON_DEPTH) fail();
    ws();
    const c = s[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      ws();
      if (s[i] === close) { i++; return; }
      for (;;) {
        if (c === '{') {
          ws();
          if (s[i] !== '"') fail();
          str();
          ws();
          if (s[i] !== ':') fail();
          i++;
        }
        value(depth + 1);
        ws();
        if (s[i] === ',') { i++; continue; }
        if (s[i] === close) { i++; return; }
        fail();
      }
    }
    if (c === '"') return str();
    if (c === 't') return lit('true');
    if (c === 'f') return lit('false');
    if (c === 'n') return lit('null');
    if (c === '-' || /[0-9]/.test(c ?? '')) {
      if (s[i] === '-') i++;
      if (s[i] === '0') i++;
      else digits();
      if (s[i] === '.') { i++; digits(); }
      if (s[i] === 'e' || s[i] === 'E') {
        i++;
        if (s[i] === '+' || s[i] === '-') i++;
        digits();
      }
      return;
    }
    fail();
  };
  try {
    value(0);
    ws();
    return i < s.length ? i : Math.max(0, s.length - 1);
  } catch (e) {
    if (e instanceof Stop) return Math.min(i, s.length);
    throw e;
  }
}

/**
 * Move `path` aside to `<path>.broken-<stamp>` without ever replacing an
 * existing file (link fails with EEXIST where rename would overwrite), so the
 * original bytes are always kept. Returns the new path.
 */
export async function keepAside(path: string, stamp: string): Promise<string> {
  for (let n = 0; ; n++) {
    const target = `${path}.broken-${stamp}${n === 0 ? '' : `-${n}`}`;
    try {
      await link(path, target);
    } catch (e) {
      if (errno(e) === 'EEXIST' && n < 1000) continue;
      throw e;
    }
    await unlink(path);
    await fsyncDir(dirname(path));
    return target;
  }
}

/** Remove temp files left by writers that died mid-write (their pid is gone). */
export async function removeStaleTemps(dir: string, fileNames: readonly string[]): Promise<string[]> {
  const removed: string[] = [];
  const names = new Set(fileNames.map((f) => basename(f)));
  for (const entry of await readdir(dir)) {
    const temp = parseTempName(entry);
    if (temp === undefined || !names.has(temp.target)) continue;
    const { pid } = temp;
    if (pid === process.pid || pidAlive(pid)) continue;
    await unlink(join(dir, entry)).catch(() => undefined);
    removed.push(entry);
  }
  return removed;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errno(e) === 'EPERM';
  }
}

function errno(e: unknown): string | undefined {
  return e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}
