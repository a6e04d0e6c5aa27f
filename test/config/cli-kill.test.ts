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
  for (let i = 0; i < ROUNDS; i++) {
    const ext = String(3000 + i);
    // Most of a CLI run is Node starting up; the write comes in its last
    // stretch, so the kill times spread over the whole run.
    const r = await addAndMaybeKill(dir, ext, 60 + random.int(400));
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
