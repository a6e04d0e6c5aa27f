/**
 * What the benches share: the host (sipp present, clock ticks, CPU and memory
 * of a process from /proc), free UDP ports, the pbx CLI and the box's
 * run.json, and small helpers for the report. sipp's own files are read in
 * sipp.ts.
 */
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cryptoRandom } from '../../firmware/core/index.js';

/** Every socket of a bench run (box, sipp, probe) is on this address. */
export const BIND = '127.0.0.1';
/** The built pbx CLI, next to this file's tree in dist/. */
export const PBX_CLI = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'firmware', 'cli', 'pbx.js');
const CLI_TIMEOUT_MS = 60_000;
const TOOL_QUERY_TIMEOUT_MS = 10_000;
/** Ports tried before giving up on finding a free one. */
const PORT_ATTEMPTS = 100;

/** A bench cannot go on; main reports the message and exits 1. */
export class BenchError extends Error {}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- the host

export function haveSipp(): boolean {
  const r = spawnSync('sipp', ['-v'], { encoding: 'utf8', timeout: TOOL_QUERY_TIMEOUT_MS });
  return r.error === undefined && /SIPp v\d/.test(`${r.stdout}${r.stderr}`);
}

export function clockTicksPerSecond(): number {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: TOOL_QUERY_TIMEOUT_MS });
  const n = Number(r.stdout.trim());
  if (!Number.isInteger(n) || n <= 0) throw new BenchError('getconf CLK_TCK gave no answer');
  return n;
}

/** utime + stime in clock ticks: fields 14 and 15 of /proc/<pid>/stat, counted after the ")" ending comm (proc(5)); NaN once the process is gone. */
export function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return NaN;
  }
}

/** Busy and total jiffies over all CPUs from the first line of /proc/stat (proc(5)); idle and iowait are not busy. */
export function hostCpu(): { busy: number; total: number } {
  const v = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - (v[3] ?? 0) - (v[4] ?? 0), total };
}

/** The busy share of all CPUs between two hostCpu() readings, 0..1; NaN when no tick passed. */
export function busyShare(before: { busy: number; total: number }, after: { busy: number; total: number }): number {
  return after.total > before.total ? (after.busy - before.busy) / (after.total - before.total) : NaN;
}

/** A kB figure from /proc/<pid>/status (VmRSS, VmHWM), in MB; NaN once the process is gone. */
export function memMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** The first child of a process (the program `timeout` runs), from /proc/<pid>/task/<pid>/children. */
export function childOf(pid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- ports

/** Bind and release UDP `port` (0: any) on BIND; the port bound, or undefined when it is taken. */
export function tryBind(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => { s.close(); resolve(undefined); });
    s.bind(port, BIND, () => { const p = s.address().port; s.close(); resolve(p); });
  });
}

export async function udpPortFree(port: number): Promise<boolean> {
  return (await tryBind(port)) !== undefined;
}

/** Where a run of several ports (sipp's media sockets) is looked for; an even base from min up to below max. */
export interface PortRange { readonly min: number; readonly max: number }
export const DEFAULT_SPAN_RANGE: PortRange = { min: 20_000, max: 60_000 };

/**
 * A UDP port nobody holds right now: any one for `span` 1, else an even base
 * with `span` free ports from it (sipp binds audio and video, RTP and RTCP, from -mp).
 */
export async function freeUdpPort(span = 1, range: PortRange = DEFAULT_SPAN_RANGE): Promise<number> {
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const base = span === 1 ? 0 : range.min + 2 * cryptoRandom.int(Math.floor((range.max - range.min) / 2));
    const first = await tryBind(base);
    if (first === undefined) continue;
    let ok = true;
    for (let i = 1; i < span && ok; i++) ok = (await tryBind(first + i)) !== undefined;
    if (ok) return first;
  }
  throw new BenchError('no free UDP port found');
}

// ---------------------------------------------------------------- the box

/** Run the pbx CLI to completion; throws when it fails (only the subcommand is named: later arguments may be passwords). */
export function runCli(args: readonly string[]): void {
  const r = spawnSync(process.execPath, [PBX_CLI, ...args], { encoding: 'utf8', timeout: CLI_TIMEOUT_MS });
  if (r.status !== 0) throw new BenchError(`pbx ${args[0]} ${args[1] ?? ''} failed (${r.status ?? r.signal}): ${r.stderr.trim()}`);
}

/** The arguments of `pbx run` for a bench box: every port chosen by the kernel, on BIND. */
export function boxRunArgs(dataDir: string, nodeArgs: readonly string[], extra: readonly string[] = []): string[] {
  return [
    ...nodeArgs, PBX_CLI, 'run', '--data', dataDir, '--bind', BIND,
    '--sip-port', '0', '--tls-port', '0', '--web-port', '0', '--http-port', '0', ...extra,
  ];
}

export interface RunJson { readonly pid: number; readonly ports: { readonly sipUdp: number } }

/**
 * Wait for the box to write run.json naming its pid and SIP port. `exited`
 * returns an error message once the box has died; `pid` the box's own pid
 * once known.
 */
export async function waitRunJson(
  dataDir: string, timeoutMs: number, exited: () => string | undefined, pid: () => number | undefined,
): Promise<RunJson> {
  const runPath = join(dataDir, 'run.json');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const died = exited();
    if (died !== undefined) throw new BenchError(died);
    const expected = pid();
    if (expected !== undefined && existsSync(runPath)) {
      try {
        const info = JSON.parse(readFileSync(runPath, 'utf8')) as RunJson;
        if (info.pid === expected && info.ports.sipUdp > 0) return info;
      } catch { /* being written */ }
    }
    await sleep(100);
  }
  throw new BenchError(`the box wrote no run.json within ${timeoutMs} ms`);
}

// ---------------------------------------------------------------- files

/** The first file in `dir` whose name ends with `suffix` (sipp prefixes its own), latin1; '' when there is none. */
export function readSuffix(dir: string, suffix: string): string {
  const f = readdirSync(dir).find((n) => n.endsWith(suffix));
  return f ? readFileSync(join(dir, f), 'latin1') : '';
}

export function tail(path: string, lines: number): string {
  try { return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n'); } catch { return ''; }
}

// ---------------------------------------------------------------- figures and report

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? NaN;
}

export const mean = (xs: readonly number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** A number with `digits` decimals, '-' when it is not finite. */
export const fmt = (v: number, digits = 0): string => (Number.isFinite(v) ? v.toFixed(digits) : '-');

/** `k=v k=v ...` */
export const kv = (o: Readonly<Record<string, number>>): string => Object.entries(o).map(([k, v]) => `${k}=${v}`).join(' ');

/** Right-aligned columns, two spaces apart. */
export function renderTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}

/** Run a bench's main and set the exit code; an exception is reported as `name: message`, exit 1. */
export function runMain(name: string, main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e: unknown) => {
      process.stderr.write(`${name}: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    },
  );
}

/** sipp and the built CLI are there; otherwise says what is missing (as `name: ...`) and returns false. */
export function prerequisitesMet(name: string): boolean {
  if (!haveSipp()) {
    process.stderr.write(`${name} needs sipp (Debian package sip-tester). Install it with: bash scripts/install-deps.sh\n`);
    return false;
  }
  if (!existsSync(PBX_CLI)) {
    process.stderr.write(`${name}: ${PBX_CLI} is missing; build first (npx tsc -p .)\n`);
    return false;
  }
  return true;
}

/** On SIGINT or SIGTERM: release what the bench holds, then exit 130. */
export function releaseOnSignal(name: string, release: () => Promise<void>): void {
  const onSignal = (sig: NodeJS.Signals): void => {
    process.stderr.write(`${name}: ${sig}, cleaning up\n`);
    void release().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

/**
 * Try `rates` in order until one is not steady, then bisect (rounded to
 * `step`) up to `refine` times between the last steady rate and that one;
 * `mayRefine` is asked once before bisecting. The highest steady rate, 0 if none.
 */
export async function climbAndBisect(
  rates: readonly number[], refine: number, step: number,
  measure: (rate: number) => Promise<{ readonly steady: boolean }>, mayRefine: () => boolean = () => true,
): Promise<number> {
  let lo = 0;
  let hi: number | undefined;
  for (const rate of rates) {
    if ((await measure(rate)).steady) lo = rate;
    else { hi = rate; break; }
  }
  const refining = hi !== undefined && mayRefine();
  for (let i = 0; refining && hi !== undefined && i < refine; i++) {
    const mid = Math.round((lo + hi) / 2 / step) * step;
    if (mid <= lo || mid >= hi) break;
    if ((await measure(mid)).steady) lo = mid; else hi = mid;
  }
  return lo;
}
