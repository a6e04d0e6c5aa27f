import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_FILE } from '../../firmware/config/index.js';
import { silentLogger } from '../../firmware/core/index.js';
import { startAppliance } from '../../firmware/main.js';

/** The compiled CLI, beside this compiled test: dist/test/cli -> dist/firmware/cli. */
const PBX = fileURLToPath(new URL('../../firmware/cli/pbx.js', import.meta.url));

const root = mkdtempSync(join(tmpdir(), 'pbx-cli-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshData = (): string => join(mkdtempSync(join(root, `${++n}-`)), 'var');

interface Run { code: number; stdout: string; stderr: string }

/*
 * A run that is killed by the timeout reads as exit -1 with nothing on stderr.
 * 20 s was too short for four CLIs started at once on a loaded 2-core machine
 * (CI with other sessions running): the bound is generous, and the runs go one
 * after another.
 */
const CLI_TIMEOUT_MS = 60_000;

function pbx(data: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PBX, ...args, '--data', data], { timeout: CLI_TIMEOUT_MS }, (err, stdout, stderr) => {
      const code = err && typeof err.code === 'number' ? err.code : err ? -1 : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

t.test('bad arguments: exit 2 and one line on stderr', async (t) => {
  const data = freshData();
  const cases: string[][] = [['frobnicate'], ['account', 'add', '100', '--password', 'secret-100', '--bogus'], ['account', 'list', 'extra'], ['run', '--sip-port', '70000']];
  const runs: Run[] = [];
  for (const args of cases) runs.push(await pbx(data, ...args));
  runs.forEach((r, i) => {
    const what = cases[i]?.join(' ') ?? '';
    t.equal(r.code, 2, `${what}: exit 2`);
    t.equal(lines(r.stderr).length, 1, `${what}: one line`);
    t.match(r.stderr, /^pbx: /, `${what}: says who complains`);
    t.equal(r.stdout, '', `${what}: nothing on stdout`);
  });
});

t.test('account add without --password: exit 2, nothing added', async (t) => {
  const data = freshData();
  const r = await pbx(data, 'account', 'add', '100');
  t.equal(r.code, 2);
  t.match(r.stderr, /--password/);
  t.equal(existsSync(join(data, CONFIG_FILE)), false, 'the config was not even created');
});

t.test('offline account add then list: shown without HA1 or password; config file private', async (t) => {
  const data = freshData();
  const add = await pbx(data, 'account', 'add', '100', '--password', 'hunter2-secret', '--name', 'Front Desk', '--tls-only');
  t.equal(add.code, 0, add.stderr);
  t.equal(add.stdout, 'added account 100\n');
  const list = await pbx(data, 'account', 'list');
  t.equal(list.code, 0);
  t.match(list.stdout, /^100\tFront Desk\tpolicy=\S+\ttls-only\n$/);
  const json = await pbx(data, 'account', 'list', '--json');
  const parsed = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
  t.match(parsed, [{ extension: '100', name: 'Front Desk', tlsOnly: true }]);
  for (const out of [add.stdout, list.stdout, json.stdout, add.stderr, list.stderr]) {
    t.notMatch(out, /hunter2|ha1|[0-9a-f]{32}/i, 'no password, no HA1');
  }
  t.equal(statSync(join(data, CONFIG_FILE)).mode & 0o777, 0o600, 'HA1s are password-equivalent: config.json is 0600');
  const dup = await pbx(data, 'account', 'add', '100', '--password', 'another-secret');
  t.equal(dup.code, 1, 'a duplicate is an error, not a usage error');
  t.equal(lines(dup.stderr).length, 1);
});

t.test('account import is all or nothing: a bad row at line 3 names line 3 and adds nothing', async (t) => {
  const data = freshData();
  t.equal((await pbx(data, 'account', 'add', '100', '--password', 'secret-100')).code, 0);
  const before = readFileSync(join(data, CONFIG_FILE), 'utf8');
  const csv = join(root, 'bad.csv');
  writeFileSync(csv, '200,secret-200,Alice\n201,secret-201,Bob\n202,x,Carol\n203,secret-203,Dan\n');
  const r = await pbx(data, 'account', 'import', csv);
  t.equal(r.code, 1);
  t.match(r.stderr, /line 3/);
  t.equal(lines(r.stderr).length, 1);
  t.equal(readFileSync(join(data, CONFIG_FILE), 'utf8'), before, 'config.json untouched');
  const list = await pbx(data, 'account', 'list', '--json');
  t.same((JSON.parse(list.stdout) as Array<{ extension: string }>).map((a) => a.extension), ['100']);

  const good = join(root, 'good.csv');
  writeFileSync(good, 'extension,password,name\n200,secret-200,Alice\n201,secret-201,Bob\n');
  const ok = await pbx(data, 'account', 'import', good);
  t.equal(ok.code, 0, ok.stderr);
  t.equal(ok.stdout, 'imported 2 accounts\n');
  const missing = await pbx(data, 'account', 'import', join(root, 'nope.csv'));
  t.equal(missing.code, 1);
  t.match(missing.stderr, /cannot read/);
});

t.test('cert ca before the first start: prints DATA/pki/ca.crt and says the appliance will create it', async (t) => {
  const data = freshData();
  const r = await pbx(data, 'cert', 'ca');
  t.equal(r.code, 0);
  t.equal(r.stdout, `${join(data, 'pki', 'ca.crt')}\n`);
  t.match(r.stderr, /creates .* when it first starts/);
});

t.test('status --json offline: running false, accounts counted, config healthy', async (t) => {
  const data = freshData();
  await pbx(data, 'account', 'add', '100', '--password', 'secret-100');
  const r = await pbx(data, 'status', '--json');
  t.equal(r.code, 0, r.stderr);
  t.match(JSON.parse(r.stdout), { running: false, accounts: 1, configHealth: { ok: true }, registrations: [] });
  const text = await pbx(data, 'status');
  t.match(text.stdout, /^appliance: not running$/m);
});

t.test('with the appliance running, the CLI goes through the control socket and the change applies at once', async (t) => {
  const data = freshData();
  const app = await startAppliance({ dataDir: data, bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, print: () => {}, log: silentLogger });
  t.teardown(() => app.stop());
  const add = await pbx(data, 'account', 'add', '300', '--password', 'secret-300');
  t.equal(add.code, 0, add.stderr);
  t.ok(app.store.data.accounts.some((a) => a.extension === '300'), 'the running store has it without a reload');
  const s = JSON.parse((await pbx(data, 'status', '--json')).stdout) as { running: boolean; ports: { sipUdp: number } };
  t.equal(s.running, true);
  t.equal(s.ports.sipUdp, app.info.ports.sipUdp);
  const ca = await pbx(data, 'cert', 'ca');
  t.equal(ca.stdout, `${app.info.caPath}\n`);
  t.equal(ca.stderr, '', 'the CA exists now: no note');
});

t.test("phone media abilities: --media and --require set the policy's phone caps, bad ones refused", async (t) => {
  const data = freshData();
  const ok = await pbx(data, 'account', 'add', '200', '--password', 'secret-200', '--media', 'rtp,sdes', '--require', 'sdes');
  t.equal(ok.code, 0, ok.stderr);
  const bad = await pbx(data, 'account', 'add', '201', '--password', 'secret-201', '--media', 'rtp', '--require', 'sdes');
  t.equal(bad.code, 1);
  t.match(bad.stderr, /required but not supported: sdes/);
  const typo = await pbx(data, 'account', 'set', '200', '--media', 'rtp,sdess');
  t.equal(typo.code, 1);
  t.match(typo.stderr, /sdess is not one of/);
  t.equal((await pbx(data, 'account', 'set', '200', '--require', '')).code, 0, 'the requirement can be lifted');
  const cfg = JSON.parse(readFileSync(join(data, 'config.json'), 'utf8')) as { accounts: { extension: string; media: unknown }[] };
  t.same(cfg.accounts.map((a) => [a.extension, a.media]), [['200', { supported: ['rtp', 'sdes'], required: [] }]], '201 was never added');
});

t.test('pbx cert info and renew: renew swaps the running box\'s certificate; offline it refuses and creates nothing', async (t) => {
  const offline = freshData();
  const refused = await pbx(offline, 'cert', 'renew');
  t.equal(refused.code, 1);
  t.match(refused.stderr, /no appliance is running/);
  t.notOk(existsSync(offline), 'no data folder was created');

  const data = freshData();
  const app = await startAppliance({ dataDir: data, bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, print: () => {}, log: silentLogger });
  t.teardown(() => app.stop());
  const serialOf = async (): Promise<string> =>
    (JSON.parse((await pbx(data, 'cert', 'info', '--json')).stdout) as { server: { serial: string } }).server.serial;
  const before = await serialOf();
  t.equal(before, app.pki.serverInfo.serial);
  const renew = await pbx(data, 'cert', 'renew');
  t.equal(renew.code, 0, renew.stderr);
  t.match(renew.stdout, /renewed the server certificate/);
  const after = await serialOf();
  t.not(after, before, 'a new certificate');
  t.equal(after, app.pki.serverInfo.serial, 'and it is the one the running box uses');
  t.notMatch(renew.stdout + (await pbx(data, 'cert', 'info', '--json')).stdout, /PRIVATE KEY/, 'never a key');
});
