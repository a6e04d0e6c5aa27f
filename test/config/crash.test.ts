import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ConfigStore } from '../../firmware/config/index.js';
import { seededRandom, silentLogger } from '../../firmware/core/index.js';
import { listDir, tempDir } from './fixtures/helpers.js';

// Crash safety of the durable write (temp file, fsync, rename, fsync dir): a
// writer killed with SIGKILL at a random instant never leaves a config that
// fails to load, and every update it reported as done is on disk.
const ROUNDS = 25;
const MAX_KILL_DELAY_MS = 300;
const CHILD = fileURLToPath(new URL('./fixtures/crash-child.js', import.meta.url));

interface RunResult {
  added: string[];
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
}

function runAndKill(dataDir: string, prefix: string, delayMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dataDir, prefix], { stdio: ['ignore', 'pipe', 'pipe'] });
    const added: string[] = [];
    let buf = '';
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === 'ready') setTimeout(() => child.kill('SIGKILL'), delayMs);
        else if (line.startsWith('added ')) added.push(line.slice(6));
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ added, signal, code, stderr }));
  });
}

t.test('SIGKILL at a random moment never loses an acknowledged update', async (t) => {
  t.setTimeout(120_000);
  const dir = await tempDir(t);
  const rnd = seededRandom(0xc0ff1e);
  let total = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const delay = rnd.int(MAX_KILL_DELAY_MS + 1);
    const { added, signal, code, stderr } = await runAndKill(dir, `r${round}`, delay);
    t.same({ signal, code, stderr }, { signal: 'SIGKILL', code: null, stderr: '' }, `round ${round}: child was killed (delay ${delay} ms)`);
    const store = await ConfigStore.open(dir, { log: silentLogger });
    t.same(store.health, { ok: true }, `round ${round}: loads cleanly`);
    const present = new Set(store.data.accounts.map((a) => a.extension));
    const missing = added.filter((e) => !present.has(e));
    t.same(missing, [], `round ${round}: all ${added.length} acknowledged accounts present`);
    t.ok(
      (await listDir(dir)).every((f) => !f.includes('.tmp-') && !f.includes('.broken-')),
      `round ${round}: no temp or broken files remain`,
    );
    total += added.length;
    await store.update((d) => {
      d.accounts = [];
    });
  }
  t.ok(total > ROUNDS, `the children did real work (${total} updates acknowledged)`);
});
