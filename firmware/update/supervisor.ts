import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../core/index.js';
import { checkHealth, type HealthResult } from './health.js';
import { SUPERVISOR_PID_FILE, SlotStore, type SlotName, type SlotState } from './slots.js';

/** How long a new firmware has to become healthy before it is rolled back. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;

/**
 * What to start, from the slot state alone: a trial that was already started
 * once and never committed (it crashed, hung, or the power went) is rolled
 * back, not tried again.
 */
export type BootPlan =
  | { readonly kind: 'committed'; readonly slot: SlotName }
  | { readonly kind: 'trial'; readonly slot: SlotName; readonly next: SlotState }
  | { readonly kind: 'rollback'; readonly next: SlotState };

export function bootPlan(state: SlotState, now: Date): BootPlan {
  const t = state.trial;
  if (!t) return { kind: 'committed', slot: state.committed };
  if (t.attempts >= 1) {
    return {
      kind: 'rollback',
      next: { committed: state.committed, trial: null, last: { version: t.version, slot: t.slot, outcome: 'rolled-back', reason: 'it was started before and never passed its health check', at: now.toISOString() } },
    };
  }
  return { kind: 'trial', slot: t.slot, next: { ...state, trial: { ...t, attempts: t.attempts + 1 } } };
}

export function afterHealth(state: SlotState, result: HealthResult, now: Date): SlotState {
  const t = state.trial;
  if (!t) return state;
  return result.ok
    ? { committed: t.slot, trial: null, last: { version: t.version, slot: t.slot, outcome: 'committed', reason: `healthy after ${result.ms} ms`, at: now.toISOString() } }
    : { committed: state.committed, trial: null, last: { version: t.version, slot: t.slot, outcome: 'rolled-back', reason: result.reason, at: now.toISOString() } };
}

export interface SupervisorOptions {
  readonly root: string;
  readonly dataDir: string;
  /** Extra `pbx run` arguments (--board, --bind, ports). */
  readonly runArgs: readonly string[];
  readonly healthTimeoutMs?: number;
  readonly log: Logger;
  readonly print?: (line: string) => void;
}

/**
 * `pbx boot`: what the systemd unit runs. It starts the firmware of the right
 * slot as a child, checks a trial slot's health and commits it or rolls back
 * to the committed slot, restarts into a new trial on SIGHUP (sent by
 * `pbx update`), and stops the child on SIGTERM. When the committed firmware
 * itself exits, so does the supervisor, with its code, for systemd to
 * restart.
 */
export class Supervisor {
  private readonly slots: SlotStore;
  private wake: ((why: 'hup' | 'term' | 'exit') => void) | null = null;
  private terminating = false;

  constructor(private readonly opts: SupervisorOptions) {
    this.slots = new SlotStore(opts.root);
  }

  async run(): Promise<number> {
    const pidFile = join(this.opts.root, SUPERVISOR_PID_FILE);
    writeFileSync(pidFile, `${process.pid}\n`);
    const onHup = (): void => this.wake?.('hup');
    const onTerm = (): void => { this.terminating = true; this.wake?.('term'); };
    process.on('SIGHUP', onHup);
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onTerm);
    try {
      return await this.loop();
    } finally {
      process.off('SIGHUP', onHup);
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onTerm);
      rmSync(pidFile, { force: true });
    }
  }

  private say(line: string): void {
    this.opts.log.info(line);
    this.opts.print?.(line);
  }

  private async loop(): Promise<number> {
    for (;;) {
      if (this.terminating) return 0;
      const state = this.slots.read();
      const plan = bootPlan(state, new Date());
      if (plan.kind === 'rollback') {
        this.say(`update: rolling back from slot ${state.trial?.slot} (${state.trial?.version}): ${plan.next.last?.reason}`);
        this.slots.write(plan.next);
        continue;
      }
      if (plan.kind === 'trial') this.slots.write(plan.next);
      const slot = plan.slot;
      const child = this.start(slot);
      let exited = false;
      const exit = new Promise<number>((resolve) => child.once('exit', (code, signal) => { exited = true; resolve(code ?? (signal ? 128 : 1)); this.wake?.('exit'); }));
      if (plan.kind === 'trial') {
        this.say(`update: trying slot ${slot} (${plan.next.trial?.version})`);
        const result = await checkHealth({ dataDir: this.opts.dataDir, pid: child.pid ?? -1, timeoutMs: this.opts.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS, gone: () => exited });
        const next = afterHealth(this.slots.read(), result, new Date());
        this.slots.write(next);
        if (!result.ok) {
          this.say(`update: slot ${slot} failed its health check (${result.reason}); rolling back to slot ${next.committed}`);
          await this.stop(child, exit, exited);
          continue;
        }
        this.say(`update: slot ${slot} is healthy after ${result.ms} ms; committed`);
      }
      const why = exited ? 'exit' : await new Promise<'hup' | 'term' | 'exit'>((resolve) => { this.wake = resolve; });
      this.wake = null;
      if (why === 'exit') return await exit;
      await this.stop(child, exit, exited);
      if (why === 'term') return 0;
      // hup: read the state again (a new trial, most likely) and start what it says.
    }
  }

  private start(slot: SlotName): ChildProcess {
    const main = join(this.slots.dir(slot), 'dist', 'firmware', 'cli', 'pbx.js');
    return spawn(process.execPath, [main, 'run', '--data', this.opts.dataDir, ...this.opts.runArgs], { stdio: 'inherit' });
  }

  private async stop(child: ChildProcess, exit: Promise<number>, exited: boolean): Promise<void> {
    if (exited) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exit;
    clearTimeout(t);
  }
}
