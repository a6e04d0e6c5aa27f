import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../core/index.js';
import { UpdateError } from './errors.js';
import { DEFAULT_KEYS_DIR, DEFAULT_SLOTS_ROOT, SlotStore, installBundle, loadTrustedKeys, signalSupervisor } from './slots.js';
import { DEFAULT_HEALTH_TIMEOUT_MS, Supervisor } from './supervisor.js';

export const UPDATE_USAGE = `  pbx update FILE.pbxfw [--force] [--slots DIR] [--keys DIR] [--no-wait]
                                     verify a signed firmware bundle, install it into the inactive slot,
                                     switch to it; rolled back on its own unless it passes its health check
  pbx boot [--slots DIR] [--data DIR] [--health-timeout S] [-- RUN ARGS]
                                     the service's supervisor: runs the slot's firmware, commits or rolls back`;

export class UpdateUsageError extends Error {}

/**
 * `pbx update FILE`: verify and install (nothing is written unless the whole
 * bundle verifies), then tell the supervisor to switch and wait for its
 * verdict. Exit 0 once the new firmware is committed (or, with no supervisor
 * running, installed for the next boot); 1 when refused or rolled back.
 */
export async function updateCommand(argv: readonly string[], write: (text: string) => void): Promise<number> {
  let r;
  try {
    r = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: {
      force: { type: 'boolean' }, slots: { type: 'string' }, keys: { type: 'string' }, 'no-wait': { type: 'boolean' }, data: { type: 'string' }, timeout: { type: 'string' },
    } });
  } catch (e) {
    throw new UpdateUsageError(e instanceof Error ? e.message.split('\n')[0] ?? 'bad arguments' : 'bad arguments');
  }
  if (r.positionals.length !== 1) throw new UpdateUsageError('update needs one FILE');
  const root = resolve(r.values.slots ?? DEFAULT_SLOTS_ROOT);
  const keys = loadTrustedKeys(resolve(r.values.keys ?? DEFAULT_KEYS_DIR));
  const started = new Date();
  const done = installBundle(resolve(r.positionals[0]!), { root, keys, force: r.values.force === true, now: started });
  write(`verified ${done.files} files signed by ${done.signer.slice(0, 16)}; installed ${done.version} into slot ${done.slot} (running ${done.from})\n`);
  if (!signalSupervisor(root)) {
    write(`no supervisor running: slot ${done.slot} is tried at the next start of securepbx.service\n`);
    return 0;
  }
  write(`switching to slot ${done.slot}\n`);
  if (r.values['no-wait']) return 0;
  const slots = new SlotStore(root);
  const deadline = Date.now() + (Number(r.values.timeout) > 0 ? Number(r.values.timeout) * 1000 : DEFAULT_HEALTH_TIMEOUT_MS + 30_000);
  while (Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 200));
    const s = slots.read();
    const last = s.last;
    if (!s.trial && last && last.version === done.version && Date.parse(last.at) >= started.getTime() - 1000) {
      if (last.outcome === 'committed') { write(`updated to ${done.version}: ${last.reason}\n`); return 0; }
      throw new UpdateError('slots', `${done.version} was rolled back: ${last.reason}; ${done.from} runs again`);
    }
  }
  throw new UpdateError('slots', `no verdict on ${done.version} yet; see journalctl -u securepbx`);
}

export async function bootCommand(argv: readonly string[]): Promise<number> {
  let r;
  try {
    r = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: {
      slots: { type: 'string' }, data: { type: 'string' }, 'health-timeout': { type: 'string' },
    } });
  } catch (e) {
    throw new UpdateUsageError(e instanceof Error ? e.message.split('\n')[0] ?? 'bad arguments' : 'bad arguments');
  }
  const timeout = r.values['health-timeout'] === undefined ? DEFAULT_HEALTH_TIMEOUT_MS : Number(r.values['health-timeout']) * 1000;
  if (!(timeout > 0)) throw new UpdateUsageError('--health-timeout must be a number of seconds');
  const sup = new Supervisor({
    root: resolve(r.values.slots ?? DEFAULT_SLOTS_ROOT), dataDir: resolve(r.values.data ?? 'var'), runArgs: r.positionals,
    healthTimeoutMs: timeout, log: createLogger({ level: 'info', destination: process.stderr }),
    print: (l) => process.stdout.write(`${l}\n`),
  });
  return sup.run();
}
