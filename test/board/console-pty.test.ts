import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import t from 'tap';
import { SimBoard } from '../../board/index.js';
import { hashPassword } from '../../firmware/config/index.js';
import { FakeClock, silentLogger } from '../../firmware/core/index.js';
import { startAppliance } from '../../firmware/main.js';

/*
 * The serial console over a pseudo-terminal pair (socat): the appliance opens
 * one end with serialport as it would /dev/serial0, the test types on the
 * other. The console's clock is fake, so the wrong-password throttle is
 * checked without waiting.
 */

const hasSocat = spawnSync('socat', ['-V']).status === 0;

t.test('serial console over a pty: wrong password refused and throttled, login, status, account add, logout', { skip: hasSocat ? false : 'socat is not installed (scripts/install-deps.sh)' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-console-'));
  const box = join(dir, 'ttyBOX');
  const user = join(dir, 'ttyUSER');
  const socat = spawn('socat', [`pty,raw,echo=0,link=${box}`, `pty,raw,echo=0,link=${user}`], { stdio: 'ignore' });
  t.teardown(() => { socat.kill('SIGTERM'); rmSync(dir, { recursive: true, force: true }); });
  for (let i = 0; i < 200 && !(existsSync(box) && existsSync(user)); i++) await new Promise((r) => setTimeout(r, 25));
  t.ok(existsSync(box) && existsSync(user), 'the pty pair is up');

  // The user's end first, so the banner is not lost.
  const port = new SerialPort({ path: user, baudRate: 115200, autoOpen: false });
  await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
  let screen = '';
  port.on('data', (d: Buffer) => { screen += d.toString('latin1'); });
  const waitFor = async (re: RegExp, what: string): Promise<string> => {
    const end = Date.now() + 60_000;
    while (!re.test(screen)) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; screen: ${JSON.stringify(screen.slice(-400))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const s = screen;
    screen = '';
    return s;
  };
  const type = (text: string): void => { port.write(text); };

  const clock = new FakeClock();
  const dataDir = join(dir, 'data');
  const app = await startAppliance({
    dataDir, bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, print: () => {}, log: silentLogger,
    board: new SimBoard({ print: () => {}, showLeds: false }), console: { path: box, clock },
  });
  t.teardown(async () => { await app.stop(); await new Promise<void>((r) => (port.isOpen ? port.close(() => r()) : r())); });
  const hash = await hashPassword('console-admin-pw');
  await app.store.update((d) => { d.admin.passwordHash = hash; d.admin.setupCode = null; });

  t.match(await waitFor(/admin password: $/, 'the prompt'), new RegExp(`SecurePBX console; admin ${app.info.adminUrl.replace(/[.]/g, '\\.')}`));
  type('not-the-password\r');
  const refused = await waitFor(/admin password: $/, 'the refusal');
  t.match(refused, /wrong password; next try in 2 s/);
  t.notMatch(refused, /not-the-password/, 'the password is not echoed');
  type('console-admin-pw\r');
  t.match(await waitFor(/admin password: $/, 'the throttle'), /too many wrong passwords: wait 2 s/, 'the right password waits out the delay');
  clock.advance(2000);
  type('console-admin-pw\r');
  t.match(await waitFor(/pbx> $/, 'the shell'), /logged in/);

  type('status\r');
  const status = await waitFor(/pbx> $/, 'status');
  t.match(status, /^status\r\n/, 'the command is echoed');
  t.match(status, /appliance: running\r\n/, 'pbx status from the running appliance');
  t.match(status, /accounts: 0\r\n/);
  type('account add 202 --password "console pass 202"\r');
  t.match(await waitFor(/pbx> $/, 'account add'), /added account 202/);
  t.same(app.store.data.accounts.map((a) => a.extension), ['202'], 'the running appliance has the account');
  const added = 'account add 202 --password "console pass 202"';
  type(`\x1b[A${'\x7f'.repeat(added.length - 'account '.length)}list\r`);
  t.match(await waitFor(/pbx> $/, 'history + editing'), /202\s+202|202\t/, 'history and backspace: "account list"');
  type('logout\r');
  t.match(await waitFor(/admin password: $/, 'logout'), /logged out/);
});
