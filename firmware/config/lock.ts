import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * One writer of a data folder's config at a time, across processes: a running
 * appliance holds the lock for its whole life (the CLI then goes through its
 * control socket), and an offline `pbx account add` holds it for one change,
 * so two CLI runs at once never lose each other's update. The lock file names
 * its holder's PID; a lock whose holder is dead is stale and taken over.
 */

export const LOCK_FILE = 'config.lock';
/** A lock file nobody could read for this long was left half-written by a crash. */
const UNREADABLE_STALE_MS = 5000;

function olderThan(path: string, ms: number): boolean {
  try { return Date.now() - statSync(path).mtimeMs > ms; } catch { return false; }
}

export interface LockHolder {
  readonly pid: number;
  readonly owner: 'appliance' | 'cli';
}

export type LockAttempt =
  | { readonly acquired: true; release(): void }
  | { readonly acquired: false; readonly holder: LockHolder | null };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(path: string): LockHolder | null {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>;
    if (typeof v.pid === 'number' && (v.owner === 'appliance' || v.owner === 'cli')) return { pid: v.pid, owner: v.owner };
  } catch { /* unreadable: being written, or garbage */ }
  return null;
}

export function tryLockConfig(dataDir: string, owner: LockHolder['owner']): LockAttempt {
  const path = join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, JSON.stringify({ pid: process.pid, owner }));
      closeSync(fd);
      let released = false;
      return {
        acquired: true,
        release() {
          if (released) return;
          released = true;
          if (readHolder(path)?.pid === process.pid) {
            try { unlinkSync(path); } catch { /* already gone */ }
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = readHolder(path);
      // A holder that died (SIGKILL, power cut) leaves its file behind: take it over once.
      const dead = holder ? !alive(holder.pid) : olderThan(path, UNREADABLE_STALE_MS);
      if (dead && attempt === 0) {
        try { unlinkSync(path); } catch { /* someone else took it over */ }
        continue;
      }
      return { acquired: false, holder };
    }
  }
  return { acquired: false, holder: readHolder(path) };
}
