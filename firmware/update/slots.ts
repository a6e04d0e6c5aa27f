import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { fsyncDirSync, writeFileAtomicSync } from '../core/index.js';
import { UpdateError } from './errors.js';
import { compareVersions, MAX_BUNDLE_BYTES, parsePublicKeys, verifyBundle, type Manifest, type VerifiedBundle } from './bundle.js';
import type { KeyObject } from 'node:crypto';

/*
 * A/B slots as directories under one root (/opt/securepbx on the box):
 *
 *   a/, b/          a whole firmware each: dist/, node_modules/, package.json, manifest.json
 *   state.json      which slot is committed (known good) and which, if any, is on trial
 *
 * An install writes the inactive slot (never the committed one) and puts it
 * on trial; the supervisor (supervisor.ts) starts the trial slot, commits it
 * once it passes its health check, and rolls back to the committed slot when
 * it does not. Config and data live in the data folder, outside the slots, so
 * they survive both ways.
 */

export type SlotName = 'a' | 'b';
const Slot = z.enum(['a', 'b']);
const StateSchema = z.object({
  committed: Slot,
  trial: z.object({ slot: Slot, version: z.string(), attempts: z.number().int().min(0), since: z.string() }).nullable(),
  last: z.object({
    version: z.string(), slot: Slot, outcome: z.enum(['committed', 'rolled-back']), reason: z.string(), at: z.string(),
  }).nullable().default(null),
});
export type SlotState = z.infer<typeof StateSchema>;

export const STATE_FILE = 'state.json';
export const SUPERVISOR_PID_FILE = 'supervisor.pid';
export const DEFAULT_SLOTS_ROOT = '/opt/securepbx';
export const DEFAULT_KEYS_DIR = '/etc/securepbx/update-keys';

export const otherSlot = (s: SlotName): SlotName => (s === 'a' ? 'b' : 'a');

export class SlotStore {
  constructor(readonly root: string) {}

  dir(slot: SlotName): string { return join(this.root, slot); }

  read(): SlotState {
    let raw: string;
    try {
      raw = readFileSync(join(this.root, STATE_FILE), 'utf8');
    } catch {
      throw new UpdateError('slots', `no slot state in ${this.root} (is this an installed box?)`);
    }
    const r = StateSchema.safeParse(JSON.parse(raw));
    if (!r.success) throw new UpdateError('slots', `${join(this.root, STATE_FILE)} is not valid`);
    return r.data;
  }

  write(state: SlotState): void {
    writeFileAtomicSync(join(this.root, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`, 0o644);
  }

  /** The version a slot holds, from its manifest.json (0.0.0 when it has none). */
  version(slot: SlotName): string {
    try {
      return (JSON.parse(readFileSync(join(this.dir(slot), 'manifest.json'), 'utf8')) as Manifest).version;
    } catch {
      return '0.0.0';
    }
  }

  /** A first install (the image): slot a committed, no trial. */
  static init(root: string, committed: SlotName = 'a'): SlotStore {
    mkdirSync(root, { recursive: true });
    const s = new SlotStore(root);
    s.write({ committed, trial: null, last: null });
    return s;
  }
}

export interface InstallOptions {
  readonly root: string;
  readonly keys: readonly KeyObject[];
  /** Install even when older than the running firmware. */
  readonly force?: boolean;
  readonly now?: Date;
}

export interface Installed {
  readonly slot: SlotName;
  readonly version: string;
  readonly from: string;
  readonly signer: string;
  readonly files: number;
}

/** Read the trusted vendor keys: every *.pub (PEM) in a folder. */
export function loadTrustedKeys(dir: string): KeyObject[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.pub'));
  } catch {
    return [];
  }
  return parsePublicKeys(names.map((n) => readFileSync(join(dir, n), 'utf8')));
}

/**
 * Verify a bundle file and install it into the inactive slot, on trial. The
 * whole bundle is verified in memory first: a bad signature, a changed or
 * missing file, a downgrade or a busy slot store throws before anything is
 * written anywhere. The slot is written in a staging folder beside it and
 * renamed into place.
 */
export function installBundle(file: string, opts: InstallOptions): Installed {
  const slots = new SlotStore(opts.root);
  const state = slots.read();
  if (state.trial) throw new UpdateError('slots', `version ${state.trial.version} is still on trial in slot ${state.trial.slot}`);
  const size = statSync(file).size;
  if (size > MAX_BUNDLE_BYTES) throw new UpdateError('too-large', `the bundle is larger than ${MAX_BUNDLE_BYTES} bytes`);
  const bundle: VerifiedBundle = verifyBundle(readFileSync(file), opts.keys);
  const running = slots.version(state.committed);
  const version = bundle.manifest.version;
  if (compareVersions(version, running) < 0 && !opts.force) {
    throw new UpdateError('downgrade', `version ${version} is older than the running ${running} (use --force to install it anyway)`);
  }
  const target = otherSlot(state.committed);
  const staging = join(opts.root, `.incoming-${target}`);
  rmSync(staging, { recursive: true, force: true });
  try {
    for (const f of bundle.files) {
      const p = join(staging, f.path);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, f.data, { mode: f.mode });
    }
    writeFileSync(join(staging, 'manifest.json'), `${JSON.stringify(bundle.manifest, null, 1)}\n`, { mode: 0o644 });
    rmSync(slots.dir(target), { recursive: true, force: true });
    renameSync(staging, slots.dir(target));
    fsyncDirSync(opts.root);
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    throw e;
  }
  slots.write({ ...state, trial: { slot: target, version, attempts: 0, since: (opts.now ?? new Date()).toISOString() } });
  return { slot: target, version, from: running, signer: bundle.signer, files: bundle.files.length };
}

export function slotsExist(root: string): boolean {
  return existsSync(join(root, STATE_FILE));
}

/**
 * The slot root a firmware file runs from, when it runs from a slot
 * (ROOT/a/dist/firmware/main.js with ROOT/state.json beside the slots);
 * null for a development run from a checkout.
 */
export function slotsRootOf(file: string, depth = 3): string | null {
  let slot = file;
  for (let i = 0; i < depth; i++) slot = dirname(slot);
  const name = slot.slice(slot.lastIndexOf('/') + 1);
  const root = dirname(slot);
  return (name === 'a' || name === 'b') && slotsExist(root) ? root : null;
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** The supervisor's pid (pbx boot, from ROOT/supervisor.pid) when it is running. */
export function supervisorPid(root: string): number | null {
  let pid = 0;
  try { pid = Number(readFileSync(join(root, SUPERVISOR_PID_FILE), 'utf8').trim()); } catch { /* no supervisor */ }
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : null;
}

/** Tell the supervisor to restart into the slot on trial; false when none runs. */
export function signalSupervisor(root: string): boolean {
  const pid = supervisorPid(root);
  if (pid === null) return false;
  process.kill(pid, 'SIGHUP');
  return true;
}
