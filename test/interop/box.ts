import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProc, waitFor, type Proc } from './harness.js';

/** The compiled pbx CLI, as `npm start` runs it. */
export const PBX = fileURLToPath(new URL('../../firmware/cli/pbx.js', import.meta.url));

export interface RunInfo {
  pid: number;
  ports: { sipUdp: number; sipTcp: number; sipTls: number; web: number; http: number };
  adminUrl: string;
  caPath: string;
}

export function pbx(dataDir: string, ...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [PBX, ...args, '--data', dataDir], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `pbx` on one data folder that must succeed: returns its stdout, throws with its stderr. */
export function pbxOk(dataDir: string): (...args: string[]) => string {
  return (...args) => {
    const r = pbx(dataDir, ...args);
    if (r.status !== 0) throw new Error(`pbx ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
}

/**
 * Let every hold of this box pass through as SIP (config features.musicOnHold false), for tests that pin what a
 * hold's re-INVITE does on the far leg; by default the box answers a bridged hold itself with music. Call it
 * after the CLI made the config and before startBox.
 */
export function holdsPassThrough(dataDir: string): void {
  const path = join(dataDir, 'config.json');
  const c = JSON.parse(readFileSync(path, 'utf8')) as { features?: Record<string, unknown> };
  c.features = { ...(c.features ?? {}), musicOnHold: false };
  writeFileSync(path, JSON.stringify(c, null, 2));
}

export interface Registration { extension: string; transport: string; contact: string; source: { address: string; port: number }; userAgent?: string }

export function registrations(dataDir: string): Registration[] {
  const r = pbx(dataDir, 'status', '--json');
  if (r.status !== 0) throw new Error(`pbx status failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { registrations: Registration[] }).registrations;
}

/**
 * Start `pbx run` on loopback with free ports and wait until it wrote run.json.
 * `extraArgs` come last, so a test may pin a port (`--sip-port 5090`): the
 * CLI takes the last value given.
 */
export async function startBox(dataDir: string, timeoutSec = 300, extraArgs: readonly string[] = [],
  log = join(dataDir, '..', 'box.log')): Promise<{ proc: Proc; info: RunInfo }> {
  rmSync(join(dataDir, 'run.json'), { force: true });
  const proc = startProc(process.execPath, [PBX, 'run', '--data', dataDir, '--bind', '127.0.0.1',
    '--sip-port', '0', '--tls-port', '0', '--web-port', '0', '--http-port', '0', ...extraArgs], { timeoutSec, log });
  const runJson = join(dataDir, 'run.json');
  const info = await waitFor('the box to start', () => {
    if (proc.child.exitCode !== null) throw new Error(`box exited: ${proc.output()}`);
    return existsSync(runJson) ? JSON.parse(readFileSync(runJson, 'utf8')) as RunInfo : undefined;
  }, 60_000);
  return { proc, info };
}
