import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ConfigStore } from '../../firmware/config/index.js';
import { seededRandom, silentLogger } from '../../firmware/core/index.js';
import { tempDir } from './fixtures/helpers.js';

// The foundation issue's promise, end to end through the real CLI: `pbx
// account add` killed with SIGKILL at a random moment never leaves a config
// the box cannot boot from, and never loses an account whose add returned
// success (exit 0).
const ROUNDS = 20;
const PBX = fileURLToPath(new URL('../../firmware/cli/pbx.js', import.meta.url));

function addAndMaybeKill(dataDir: string, ext: string, killAfterMs: number): Promise<{ ok: boolean; killed: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [PBX, 'account', 'add', ext, '--password', `pw-${ext}`, '--data', dataDir], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ ok: code === 0, killed: signal === 'SIGKILL' });
    });
  });
}

t.test('SIGKILL during `pbx account add` never breaks the config or loses a confirmed account', async (t) => {
  const dir = await tempDir(t);
  const random = seededRandom(4242);
  const confirmed: string[] = [];
  let killed = 0;
  // Calibrate: how long one whole run takes on this machine now (it varies a
  // lot with load). Most of it is Node starting up and the write comes in its
  // last stretch, so the kill times spread from 20% to 120% of a run.
  const t0 = Date.now();
  const first = await addAndMaybeKill(dir, '2999', 60_000);
  t.ok(first.ok, 'an uninterrupted add succeeds');
  confirmed.push('2999');
  const runMs = Date.now() - t0;
  for (let i = 0; i < ROUNDS; i++) {
    const ext = String(3000 + i);
    const r = await addAndMaybeKill(dir, ext, Math.round(runMs * (0.2 + random.int(1000) / 1000)));
    if (r.ok) confirmed.push(ext);
    if (r.killed) killed++;
    const store = await ConfigStore.open(dir, { log: silentLogger });
    t.ok(store.health.ok, `round ${i}: the config loads cleanly${store.health.ok ? '' : `: ${store.health.problem}`}`);
    const have = new Set(store.data.accounts.map((a) => a.extension));
    const lost = confirmed.filter((e) => !have.has(e));
    t.same(lost, [], `round ${i}: no confirmed account lost`);
  }
  t.ok(killed > 0, `some runs were killed mid-way (${killed} of ${ROUNDS})`);
  t.ok(confirmed.length > 0, `some runs completed (${confirmed.length} of ${ROUNDS})`);
});
