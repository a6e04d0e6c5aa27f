import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { SimBoard, asideName, keepDataAside } from '../../board/index.js';
import { silentLogger } from '../../firmware/core/index.js';
import { startAppliance } from '../../firmware/main.js';
import { executeCommand } from '../../firmware/control/index.js';

t.test('keepDataAside moves the folder whole and leaves an empty one; names never collide', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-aside-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const data = join(dir, 'data');
  const now = Date.UTC(2026, 11, 2, 15, 30, 0);
  t.equal(asideName(data, now), `${data}.before-reset-20261202T153000Z`);
  const first = keepDataAside(data, now);
  const second = keepDataAside(data, now);
  t.not(first, second);
  t.equal(second, `${data}.before-reset-20261202T153000Z-2`);
  t.same(readdirSync(data), []);
});

t.test('a long press on the running appliance restores factory settings and keeps the old data aside', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-reset-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dataDir = join(dir, 'data');
  const lines: string[] = [];
  const board = new SimBoard({ print: () => {}, showLeds: false });
  const app = await startAppliance({ dataDir, bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, print: (l) => lines.push(l), log: silentLogger, board });
  await executeCommand({ store: app.store, dataDir }, { command: 'account.add', args: { extension: '201', password: 'secret-201-pass' } });

  board.resetButton.press(400);
  t.ok(lines.some((l) => l.startsWith('SecurePBX at ')), 'a short press prints the addresses');
  t.ok(lines.some((l) => l.includes(app.info.adminUrl)), 'and the admin URL');
  t.same(board.leds.get('power'), { mode: 'blink', periodMs: 150, color: 'green' }, 'and blinks the status LED');

  board.resetButton.down();
  board.resetButton.release(10_000);
  const aside = await app.factoryReset;
  t.match(aside, /data\.before-reset-\d{8}T\d{6}Z$/);
  const kept = JSON.parse(readFileSync(join(aside, 'config.json'), 'utf8')) as { accounts: Array<{ extension: string }> };
  t.same(kept.accounts.map((a) => a.extension), ['201'], 'the old config, account and all, is kept aside');
  t.ok(existsSync(join(aside, 'digest.secret')), 'with the rest of the old data (the digest secret)');
  t.same(readdirSync(dataDir), [], 'the data folder is empty: the next start is a first boot');
  t.ok(lines.includes('restoring factory settings'));

  // The next start is a first boot: no accounts, a new setup code.
  const again = await startAppliance({ dataDir, bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, print: (l) => lines.push(l), log: silentLogger, board: new SimBoard({ print: () => {}, showLeds: false }) });
  t.teardown(() => again.stop());
  t.same(again.store.data.accounts, []);
  t.equal(again.store.data.admin.passwordHash, null);
});
