import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import {
  addAccount, CONFIG_FILE, ConfigStore, CURRENT_SCHEMA_VERSION, defaultConfig, digestHa1, LAST_GOOD_SUFFIX, type ReadonlyConfig,
} from '../../firmware/config/index.js';
import { FakeClock, silentLogger } from '../../firmware/core/index.js';
import { captureLogger, listDir, tempDir } from './fixtures/helpers.js';

const NOW = Date.UTC(2026, 0, 1);
const STAMP = '2026-01-01T00-00-00-000Z';
const opts = () => ({ log: silentLogger, clock: new FakeClock(NOW) });
const readJson = async (p: string): Promise<unknown> => JSON.parse(await readFile(p, 'utf8'));
const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;

t.test('first boot writes the defaults, mode 0600, and a last-good copy', async (t) => {
  const dir = await tempDir(t);
  const store = await ConfigStore.open(join(dir, 'DATA'), opts());
  t.same(store.health, { ok: true });
  t.same(store.data, defaultConfig());
  const main = join(dir, 'DATA', CONFIG_FILE);
  t.same(await readJson(main), defaultConfig());
  t.equal(await mode(main), 0o600);
  t.equal(await mode(main + LAST_GOOD_SUFFIX), 0o600);
  t.equal(await readFile(main + LAST_GOOD_SUFFIX, 'utf8'), await readFile(main, 'utf8'));
  t.same(await listDir(join(dir, 'DATA')), [CONFIG_FILE, CONFIG_FILE + LAST_GOOD_SUFFIX], 'no temp files left');
});

t.test('update -> reopen round trip; data is frozen', async (t) => {
  const dir = await tempDir(t);
  const a = await ConfigStore.open(dir, opts());
  await a.update((d) => addAccount(d, { extension: '1001', password: 'password1', name: 'Desk' }, NOW));
  await a.update((d) => {
    d.sip.realm = 'office.example';
    d.network.sipPort = 5070;
  });
  const b = await ConfigStore.open(dir, opts());
  t.same(b.health, { ok: true });
  t.same(b.data, a.data);
  t.equal(b.data.accounts[0]?.name, 'Desk');
  t.equal(b.data.network.sipPort, 5070);
  t.throws(() => {
    (b.data.sip as { realm: string }).realm = 'x';
  }, TypeError, 'the live config cannot be changed behind the store\'s back');
});

t.test('a hand-written file with only some fields is filled with defaults', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, CONFIG_FILE), JSON.stringify({ schemaVersion: 1, sip: { realm: 'home.arpa' } }), { mode: 0o644 });
  const store = await ConfigStore.open(dir, opts());
  t.same(store.health, { ok: true });
  t.equal(store.data.sip.realm, 'home.arpa');
  t.equal(store.data.sip.maxExpires, 3600);
  t.equal(await mode(join(dir, CONFIG_FILE)), 0o600, 'permissions tightened on load');
});

t.test('a v0 file is migrated on load and written back without cleartext', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, CONFIG_FILE), JSON.stringify({ accounts: [{ extension: '1001', password: 'oldsecret1' }] }));
  const { log, lines } = captureLogger();
  const store = await ConfigStore.open(dir, { log, clock: new FakeClock(NOW) });
  t.same(store.health, { ok: true });
  t.equal(store.data.schemaVersion, CURRENT_SCHEMA_VERSION);
  t.equal(store.data.accounts[0]?.ha1Md5, digestHa1('MD5', '1001', 'pbx.local', 'oldsecret1'));
  const onDisk = await readFile(join(dir, CONFIG_FILE), 'utf8');
  t.notMatch(onDisk, /oldsecret1/);
  t.match(JSON.parse(onDisk), { schemaVersion: 1 });
  t.ok(lines.some((l) => l.msg === 'migrated config.json to the current schema' && l.from === 0));
});

t.test('a file from newer firmware is refused with a clear problem and kept', async (t) => {
  const dir = await tempDir(t);
  const first = await ConfigStore.open(dir, opts());
  await first.update((d) => addAccount(d, { extension: '1001', password: 'password1' }, NOW));
  const newer = JSON.stringify({ schemaVersion: CURRENT_SCHEMA_VERSION + 1, futureThing: true });
  await writeFile(join(dir, CONFIG_FILE), newer);
  const store = await ConfigStore.open(dir, opts());
  t.match(store.health, { ok: false, problem: /schemaVersion: the file is version 2, newer than this firmware understands \(1\)/ });
  t.equal(await readFile(join(dir, `${CONFIG_FILE}.broken-${STAMP}`), 'utf8'), newer, 'kept byte for byte');
  t.equal(store.data.accounts.length, 1, 'booted from last-good');
});

t.test('corrupt JSON: boots from last-good, keeps the broken bytes, reports the position', async (t) => {
  const dir = await tempDir(t);
  const first = await ConfigStore.open(dir, opts());
  await first.update((d) => addAccount(d, { extension: '1001', password: 'password1' }, NOW));
  const good = first.data;
  const broken = '{\n  "schemaVersion": 1,\n  "accounts": [,]\n}\n';
  await writeFile(join(dir, CONFIG_FILE), broken);
  const { log, lines } = captureLogger();
  const store = await ConfigStore.open(dir, { log, clock: new FakeClock(NOW) });
  const brokenCopy = join(dir, `${CONFIG_FILE}.broken-${STAMP}`);
  t.match(store.health, { ok: false, brokenCopy });
  t.match(store.health, { ok: false, problem: /^config\.json: invalid JSON at line 3 column 16: unexpected ","$/ });
  t.equal(await readFile(brokenCopy, 'utf8'), broken);
  t.same(store.data, good, 'nothing lost');
  t.same(await readJson(join(dir, CONFIG_FILE)), good, 'config.json restored from last-good');
  t.ok(lines.some((l) => l.level === 50 && typeof l.problem === 'string' && l.brokenCopy === brokenCopy), 'logged at error level');
});

t.test('schema-invalid file: the zod path is in the problem', async (t) => {
  const dir = await tempDir(t);
  await ConfigStore.open(dir, opts());
  const bad = JSON.stringify({ schemaVersion: 1, sip: { minExpires: 'soon' }, network: { rtpPorts: { min: 0 } } });
  await writeFile(join(dir, CONFIG_FILE), bad);
  const store = await ConfigStore.open(dir, opts());
  t.match(store.health, { ok: false, problem: /sip\.minExpires: .*expected number/ });
  t.match(store.health, { problem: /network\.rtpPorts\.min: /, brokenCopy: join(dir, `${CONFIG_FILE}.broken-${STAMP}`) });
  t.same(store.data, defaultConfig());
});

t.test('broken file and broken last-good: both kept, defaults used; repeated failures never overwrite a kept copy', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, CONFIG_FILE), 'not json');
  await writeFile(join(dir, CONFIG_FILE + LAST_GOOD_SUFFIX), '{"schemaVersion":1,"sip":{"realm":""}}');
  const store = await ConfigStore.open(dir, opts());
  t.equal(store.health.ok, false);
  t.same(store.data, defaultConfig());
  t.equal(await readFile(join(dir, `${CONFIG_FILE}.broken-${STAMP}`), 'utf8'), 'not json');
  t.match(await readFile(join(dir, `${CONFIG_FILE}${LAST_GOOD_SUFFIX}.broken-${STAMP}`), 'utf8'), /"realm":""/);
  await writeFile(join(dir, CONFIG_FILE), 'second');
  await ConfigStore.open(dir, opts());
  t.equal(await readFile(join(dir, `${CONFIG_FILE}.broken-${STAMP}`), 'utf8'), 'not json', 'first copy untouched');
  t.equal(await readFile(join(dir, `${CONFIG_FILE}.broken-${STAMP}-1`), 'utf8'), 'second');
});

t.test('a missing config.json is restored from last-good', async (t) => {
  const dir = await tempDir(t);
  const first = await ConfigStore.open(dir, opts());
  await first.update((d) => addAccount(d, { extension: '1001', password: 'password1' }, NOW));
  const { rm } = await import('node:fs/promises');
  await rm(join(dir, CONFIG_FILE));
  const store = await ConfigStore.open(dir, opts());
  t.equal(store.data.accounts.length, 1);
  t.same(await readJson(join(dir, CONFIG_FILE)), first.data);
});

t.test('an update that fails validation writes nothing', async (t) => {
  const dir = await tempDir(t);
  const store = await ConfigStore.open(dir, opts());
  const before = await readFile(join(dir, CONFIG_FILE));
  const seen: ReadonlyConfig[] = [];
  store.onChange((c) => seen.push(c));
  await t.rejects(store.update((d) => {
    d.network.sipPort = 0;
  }), { code: 'config', message: /network\.sipPort/ });
  await t.rejects(store.update(() => {
    throw new Error('mutation failed');
  }), { message: 'mutation failed' });
  t.same(await readFile(join(dir, CONFIG_FILE)), before);
  t.same(store.data, defaultConfig());
  t.same(seen, [], 'no change event');
  t.same(await listDir(dir), [CONFIG_FILE, CONFIG_FILE + LAST_GOOD_SUFFIX]);
  await store.update((d) => {
    d.pki.renewBeforeDays = 10;
  });
  t.equal(seen.length, 1, 'the queue still works after failures');
});

t.test('concurrent updates are serialized and all applied', async (t) => {
  const dir = await tempDir(t);
  const store = await ConfigStore.open(dir, opts());
  const order: number[] = [];
  const jobs = Array.from({ length: 20 }, (_, i) =>
    store.update(async (d) => {
      order.push(i);
      const n = d.accounts.length;
      await new Promise((r) => setImmediate(r)); // yield mid-mutation: another update must not interleave
      const next = addAccount(d, { extension: String(2000 + i), password: 'password1' }, NOW);
      if (next.accounts.length !== n + 1) throw new Error('interleaved');
      return next;
    }),
  );
  await Promise.all(jobs);
  t.same(order, Array.from({ length: 20 }, (_, i) => i));
  t.equal(store.data.accounts.length, 20);
  const reopened = await ConfigStore.open(dir, opts());
  t.same(reopened.data.accounts.map((a) => a.extension).sort(), Array.from({ length: 20 }, (_, i) => String(2000 + i)));
});

t.test('reload() picks up a change made by another process; a bad file is set aside', async (t) => {
  const dir = await tempDir(t);
  const running = await ConfigStore.open(dir, opts());
  const events: ReadonlyConfig[] = [];
  const off = running.onChange((c) => events.push(c));
  const cli = await ConfigStore.open(dir, opts());
  await cli.update((d) => addAccount(d, { extension: '1001', password: 'password1' }, NOW));
  t.equal(running.data.accounts.length, 0);
  t.same(await running.reload(), { ok: true });
  t.equal(running.data.accounts.length, 1);
  t.equal(events.length, 1);

  await writeFile(join(dir, CONFIG_FILE), '{"schemaVersion":1,"accounts":7}');
  const h = await running.reload();
  t.match(h, { ok: false, problem: /accounts: /, brokenCopy: join(dir, `${CONFIG_FILE}.broken-${STAMP}`) });
  t.equal(running.data.accounts.length, 1, 'memory keeps the good config');
  t.same(await readJson(join(dir, CONFIG_FILE)), running.data, 'and it is written back');
  off();
  await running.update((d) => {
    d.pki.renewBeforeDays = 5;
  });
  t.equal(events.length, 2, 'unsubscribed listener sees nothing more');
});

t.test('a throwing listener does not break the update', async (t) => {
  const dir = await tempDir(t);
  const { log, lines } = captureLogger();
  const store = await ConfigStore.open(dir, { log, clock: new FakeClock(NOW) });
  store.onChange(() => {
    throw new Error('boom');
  });
  await store.update((d) => {
    d.pki.renewBeforeDays = 7;
  });
  t.equal(store.data.pki.renewBeforeDays, 7);
  t.ok(lines.some((l) => l.msg === 'config change listener threw'));
});

t.test('temp files of a dead writer are removed at open', async (t) => {
  const dir = await tempDir(t);
  await ConfigStore.open(dir, opts());
  const deadPid = 2 ** 22 + 12345; // above Linux's pid_max ceiling, so never alive
  await writeFile(join(dir, `${CONFIG_FILE}.tmp-${deadPid}-1`), '{"half');
  await writeFile(join(dir, 'unrelated.tmp-1-1'), 'x');
  await ConfigStore.open(dir, opts());
  t.same(await listDir(dir), [CONFIG_FILE, CONFIG_FILE + LAST_GOOD_SUFFIX, 'unrelated.tmp-1-1']);
});
