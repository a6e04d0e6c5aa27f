import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../firmware/core/index.js';
import { startAppliance } from '../../firmware/main.js';

/*
 * `pbx backup` and `pbx restore` as a person runs them: offline between two
 * folders, a wrong passphrase that changes nothing, messages without schema
 * words, a restore onto a running box (which restarts its services), and
 * `pbx status` on a folder with no box.
 */

const PBX = fileURLToPath(new URL('../../firmware/cli/pbx.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'pbx-cli-backup-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));

interface Run { code: number; stdout: string; stderr: string }
function pbx(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PBX, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err && typeof err.code === 'number' ? err.code : err ? -1 : 0, stdout, stderr });
    });
  });
}
const caFp = (dir: string): string => new X509Certificate(readFileSync(join(dir, 'pki', 'ca.crt'))).fingerprint256;

t.test('status on a folder with no box says so and exits 1', async (t) => {
  const r = await pbx('status', '--data', join(root, 'nothing-here'));
  t.equal(r.code, 1);
  t.match(r.stderr, /there is no box in .*nothing-here/);
  t.notMatch(r.stdout, /config: ok/i);
  t.notOk(existsSync(join(root, 'nothing-here')), 'and creates no folder');
});

t.test('backup offline, restore offline; wrong passphrase changes nothing; a running box takes a restore', async (t) => {
  const a = join(root, 'a');
  const b = join(root, 'b');
  // Boxes with a CA: started once, then stopped.
  for (const dir of [a, b]) {
    const app = await startAppliance({ dataDir: dir, bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, log: silentLogger, print: () => {}, nightlyBackup: false });
    await app.stop();
  }
  t.equal((await pbx('account', 'add', '1001', '--password', 'secret-1001', '--data', a)).code, 0);
  const file = join(root, 'a.pbxbackup');
  const usage = await pbx('backup', '--passphrase', 'long enough pass', '--data', a);
  t.equal(usage.code, 2, 'no --out: a usage error');
  t.match(usage.stderr, /backup needs --out FILE/);
  const bogus = await pbx('backup', '--out', file, '--passphrase', 'long enough pass', '--bogus', '--data', a);
  t.match(bogus.stderr, /^pbx: unknown option --bogus/, 'no raw parser text');
  const made = await pbx('backup', '--out', file, '--passphrase', 'long enough pass', '--data', a);
  t.equal(made.code, 0, made.stderr);
  t.match(made.stdout, /wrote the backup of .* to .*a\.pbxbackup/);
  t.equal(statSync(file).mode & 0o777, 0o600, 'the file is 0600');

  const before = readFileSync(join(b, 'config.json'), 'utf8');
  const wrong = await pbx('restore', file, '--passphrase', 'not the passphrase', '--data', b);
  t.equal(wrong.code, 1);
  t.equal(wrong.stderr, 'pbx: wrong passphrase, or the backup file was changed\n');
  t.equal(readFileSync(join(b, 'config.json'), 'utf8'), before, 'the wrong passphrase changed nothing');
  t.notOk(existsSync(join(b, 'restore-aside')));

  const ok = await pbx('restore', file, '--passphrase', 'long enough pass', '--data', b);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /restored the backup of .*: 1 extension, 1 policy/);
  t.equal(caFp(b), caFp(a), 'B has A\'s CA');
  t.match((await pbx('account', 'list', '--data', b)).stdout, /^1001\t/m, 'and A\'s extension');
  t.equal(readdirSync(join(b, 'restore-aside')).length, 1, 'B\'s old files kept aside');

  // A running box: restore over the control socket, then its services restart with the data.
  const c = join(root, 'c');
  let restarted: Awaited<ReturnType<typeof startAppliance>> | null = null;
  const running = await startAppliance({
    dataDir: c, bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, log: silentLogger, print: () => {}, nightlyBackup: false,
    onRestart: (next) => { restarted = next; },
  });
  t.teardown(async () => { await running.stop(); await (restarted as typeof running | null)?.stop(); });
  const live = await pbx('restore', file, '--passphrase', 'long enough pass', '--data', c);
  t.equal(live.code, 0, live.stderr);
  t.match(live.stdout, /restarts its services/);
  const deadline = Date.now() + 20_000;
  while (!restarted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const next = restarted as typeof running | null;
  t.ok(next, 'the running box restarted');
  t.same(next?.store.data.accounts.map((x) => x.extension), ['1001'], 'with A\'s accounts');
  t.equal(next ? caFp(c) : '', caFp(a), 'and A\'s CA');
  t.not(next?.pki.caInfo.sha256, running.pki.caInfo.sha256, 'the running PKI is the restored one, not the old');
  const audit = readFileSync(join(c, 'audit.jsonl'), 'utf8');
  t.match(audit, /"who":"cli".*"what":"pbx backup restore"/, 'the CLI restore is in the audit log');
});
