import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, closeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Helpers for interop tests that drive real clients. Every test runs inside a
 * private network namespace with only loopback up, every process is bounded by
 * `timeout` and stopped by its own PID.
 */

/** Re-run this test file inside `unshare -n` with lo up. Returns true in the
 * parent, which must then do nothing else (the child prints the TAP output). */
export function reexecInNetns(extraSetup = ''): boolean {
  if (process.env.PBX_IN_NETNS === '1') return false;
  // extraSetup: more shell commands run inside the namespace first (a multicast route on lo, ...).
  const script = `ip link set lo up && ${extraSetup ? `${extraSetup} && ` : ''}exec "$0" "$@"`;
  const r = spawnSync('unshare', ['-n', 'sh', '-c', script, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, PBX_IN_NETNS: '1' },
  });
  process.exitCode = r.status ?? 1;
  return true;
}

export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

export interface Proc {
  readonly child: ChildProcess;
  readonly log: string;
  output(): string;
  stop(): Promise<void>;
  exited: Promise<number | null>;
}

/** Start a program bounded by `timeout`, its output going to a log file. */
export function startProc(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutSec: number; log: string; stdin?: 'pipe' | 'ignore' }): Proc {
  const fd = openSync(opts.log, 'a');
  const child = spawn('timeout', ['-k', '5', String(opts.timeoutSec), cmd, ...args], {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: [opts.stdin ?? 'ignore', fd, fd],
  });
  closeSync(fd);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    log: opts.log,
    exited,
    output: () => { try { return readFileSync(opts.log, 'utf8'); } catch { return ''; } },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function tmpDir(base: string, name: string): string {
  const d = join(base, name);
  mkdirSync(d, { recursive: true });
  return d;
}

/** A packet capture on lo with a capture filter; stop() returns the pcap's bytes. */
export async function startCapture(file: string, filter: string, log: string): Promise<{ stop(): Promise<Buffer> }> {
  const p = startProc('tshark', ['-i', 'lo', '-f', filter, '-w', file, '-q'], { timeoutSec: 120, log });
  // tshark prints "Capturing on 'Loopback: lo'" once the capture runs.
  await waitFor('tshark to start capturing', () => /Capturing on/.test(p.output()), 15_000);
  return {
    async stop() {
      await new Promise((r) => setTimeout(r, 500)); // let the last frames land in the file
      await p.stop();
      return readFileSync(file);
    },
  };
}

/**
 * Ask tshark to decode a capture with a display filter and print one field per frame.
 * A call's capture with payloads runs to megabytes: spawnSync's default 1 MiB
 * output limit cut the last line short once (a 182-byte SRTP packet read as 62
 * bytes, a flaky size assertion), so the limit is generous and any cut or
 * failure throws instead of returning partial lines.
 */
export function tsharkFields(file: string, displayFilter: string, fields: string[], extra: string[] = []): string[] {
  const r = spawnSync('tshark', ['-r', file, ...extra, '-Y', displayFilter, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])],
    { encoding: 'utf8', timeout: 60_000, maxBuffer: 512 * 1024 * 1024 });
  if (r.error) throw new Error(`tshark on ${file}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`tshark on ${file} exited ${r.status}: ${r.stderr.slice(0, 500)}`);
  return r.stdout.split('\n').filter((l) => l.length > 0);
}
