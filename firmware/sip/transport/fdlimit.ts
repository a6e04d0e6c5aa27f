/**
 * Open-file limit checks for the launcher. Every SIP/TLS connection is a file
 * descriptor, so a soft RLIMIT_NOFILE of 1024 caps the box at far fewer phones
 * than it could serve. Node cannot call setrlimit itself (it does raise the
 * soft limit to the hard one at start-up); the systemd unit sets LimitNOFILE
 * and the npm start script raises `ulimit -n`. Here we only read the limits,
 * nudge the soft one up with util-linux `prlimit` when it lags, and warn.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Logger } from '../../core/index.js';

/** Below this soft limit the launcher logs a warning. */
export const MIN_OPEN_FILES = 4096;

export interface FileLimit {
  /** Infinity stands for "unlimited". */
  readonly soft: number;
  readonly hard: number;
}

/** Parses the "Max open files" row of /proc/<pid>/limits text. */
export function parseOpenFileLimit(limitsText: string): FileLimit | undefined {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limitsText);
  if (m?.[1] === undefined || m[2] === undefined) return undefined;
  const num = (s: string): number => (s === 'unlimited' ? Infinity : Number(s));
  return { soft: num(m[1]), hard: num(m[2]) };
}

/** This process's open-file limits, or undefined where /proc is missing. */
export function openFileLimit(): FileLimit | undefined {
  try {
    return parseOpenFileLimit(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Raises the soft limit to the hard one if it is lower (a child process may
 * change its parent's soft limit with prlimit(2) when both run as the same
 * user), logs the result and warns when it is still under MIN_OPEN_FILES.
 */
export function raiseOpenFileLimit(log: Logger): FileLimit | undefined {
  let limit = openFileLimit();
  if (limit === undefined) {
    log.warn('cannot read the open-file limit');
    return undefined;
  }
  if (limit.soft < limit.hard) {
    const hard = limit.hard === Infinity ? 'unlimited' : String(limit.hard);
    const r = spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${hard}:`], { timeout: 2000, stdio: 'ignore' });
    if (r.status !== 0) log.debug({ status: r.status }, 'prlimit could not raise the open-file limit');
    limit = openFileLimit() ?? limit;
  }
  const fields = { soft: limit.soft, hard: limit.hard };
  if (limit.soft < MIN_OPEN_FILES) {
    log.warn(fields, `open-file limit is below ${MIN_OPEN_FILES}: raise LimitNOFILE / ulimit -n`);
  } else {
    log.info(fields, 'open-file limit');
  }
  return limit;
}
