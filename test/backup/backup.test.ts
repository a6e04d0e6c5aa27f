import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import {
  BACKUP_FILES, BackupError, BackupService, NightlyBackup, applyRestore, checkRestore, collectBackup, msUntilHour, openBackup, sealBackup,
  autoPassphrase, type BackupPayload,
} from '../../firmware/backup/index.js';
import { ConfigStore, addAccount } from '../../firmware/config/index.js';
import { FakeClock, seededRandom, silentLogger } from '../../firmware/core/index.js';
import { loadOrCreatePki } from '../../firmware/pki/index.js';
import { ID, tempDir } from '../pki/fixtures.js';

/*
 * The backup file (scrypt + AES-256-GCM), what goes in it, the checks a
 * restore makes before it touches anything, putting it in place with the old
 * files kept aside, and the nightly backups with retention. Small scrypt
 * costs keep the suite fast; one test uses the default cost.
 */

const CHEAP = { N: 1024, r: 8, p: 1 };
const PASS = 'correct horse battery';
const payload = (files: BackupPayload['files']): BackupPayload => ({ format: 1, created: '2026-01-01T00:00:00.000Z', product: 'SecurePBX', schemaVersion: 1, files });

async function makeBox(dir: string, clock: FakeClock, ext = '1001'): Promise<void> {
  const store = await ConfigStore.open(dir, { log: silentLogger, clock });
  await store.update((d) => addAccount(d, { extension: ext, password: 'secret-pass', name: `Phone ${ext}` }, clock.now()));
  await store.update((d) => { d.policies.push({ name: 'private', callerStream: 'forced_relay', calleeStream: 'as_caller' }); });
  await loadOrCreatePki(dir, { clock, identity: () => ID, logger: silentLogger });
}

/** The file with its header changed and its length field kept right. */
function rewriteHeader(file: Buffer, change: (h: { kdf: { N: number; r: number } }) => void): Buffer {
  const n = file.readUInt32BE(8);
  const h = JSON.parse(file.subarray(12, 12 + n).toString()) as { kdf: { N: number; r: number } };
  change(h);
  const bytes = Buffer.from(JSON.stringify(h));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.length);
  return Buffer.concat([file.subarray(0, 8), len, bytes, file.subarray(12 + n)]);
}

t.test('seal and open: a round trip, and every way a file can be wrong', async (t) => {
  const p = payload([{ path: 'config.json', mode: 0o600, data: Buffer.from('{"a":1}') }, { path: 'moh/music.pcm', mode: 0o644, data: Buffer.alloc(5000, 7) }]);
  const file = sealBackup(p, PASS, { cost: CHEAP });
  t.equal(file.subarray(0, 8).toString(), 'SPBXBAK1', 'starts with the magic');
  t.notOk(file.includes(Buffer.from('{"a":1}')), 'the content is not in the clear');
  const back = openBackup(file, PASS);
  t.same(back.files.map((f) => [f.path, f.mode, f.data.toString('hex')]), p.files.map((f) => [f.path, f.mode, f.data.toString('hex')]));
  const problem = (f: () => unknown): string => { try { f(); return 'none'; } catch (e) { return e instanceof BackupError ? e.problem : `other: ${String(e)}`; } };
  t.equal(problem(() => openBackup(file, 'wrong passphrase')), 'wrong-passphrase');
  const flipped = Buffer.from(file); flipped[flipped.length - 40]! ^= 1;
  t.equal(problem(() => openBackup(flipped, PASS)), 'wrong-passphrase', 'a changed byte of the ciphertext fails authentication');
  const header = Buffer.from(file.toString('latin1').replace('"created":"2026', '"created":"2027'), 'latin1');
  t.equal(problem(() => openBackup(header, PASS)), 'wrong-passphrase', 'the header is authenticated too');
  t.equal(problem(() => openBackup(Buffer.from('hello world, not a backup'), PASS)), 'not-a-backup');
  t.equal(problem(() => openBackup(file.subarray(0, 30), PASS)), 'bad-header', 'cut short');
  const greedy = rewriteHeader(file, (h) => { h.kdf.N = 1 << 20; h.kdf.r = 32; });
  t.equal(problem(() => openBackup(greedy, PASS)), 'kdf-bounds', 'a header asking for 4 GiB of scrypt memory is refused before scrypt runs');
  t.equal(problem(() => openBackup(rewriteHeader(file, (h) => { h.kdf.N = 2048; }), PASS)), 'wrong-passphrase', 'a lowered cost fails authentication');
  t.equal(problem(() => openBackup(rewriteHeader(file, (h) => { h.kdf.N = 3000; }), PASS)), 'kdf-bounds', 'N must be a power of two');
  t.equal(problem(() => sealBackup(p, 'short')), 'weak-passphrase');
  // Random garbage after the magic never crashes.
  for (let i = 0; i < 200; i++) {
    const junk = Buffer.concat([Buffer.from('SPBXBAK1'), Buffer.from(seededRandom(i).bytes(4 + (i % 60)))]);
    t.ok(problem(() => openBackup(junk, PASS)) !== 'none' && !problem(() => openBackup(junk, PASS)).startsWith('other'), `junk ${i} is refused cleanly`);
  }
  const evil = sealBackup(payload([{ path: '../../etc/passwd', mode: 0o644, data: Buffer.from('x') }]), PASS, { cost: CHEAP });
  t.equal(problem(() => openBackup(evil, PASS)), 'bad-files', 'a path leaving the data folder is refused');
});

t.test('the default cost: 32 MiB scrypt, and it still opens', async (t) => {
  const start = Date.now();
  const file = sealBackup(payload([]), PASS);
  t.ok(file.toString('latin1').includes('"N":32768'), 'N = 2^15');
  t.equal(openBackup(file, PASS).files.length, 0);
  t.comment(`seal + open at the default cost: ${Date.now() - start} ms`);
});

t.test('a box backed up and restored onto a fresh folder: same accounts, policies, certificates', async (t) => {
  const root = tempDir(t);
  const clock = new FakeClock(Date.now());
  const a = join(root, 'a');
  const b = join(root, 'b');
  await makeBox(a, clock, '1001');
  await makeBox(b, clock, '2002');
  const backupOf = (dir: string): Buffer => new BackupService({ dataDir: dir, clock, random: seededRandom(1), log: silentLogger, cost: CHEAP, replace: async (f) => f() }).backup(PASS).file;
  const file = backupOf(a);
  const before = Object.fromEntries(BACKUP_FILES.filter((f) => existsSync(join(b, f))).map((f) => [f, readFileSync(join(b, f), 'hex')]));
  const service = new BackupService({ dataDir: b, clock, random: seededRandom(2), log: silentLogger, cost: CHEAP, replace: async (f) => f() });

  const refused = await service.restore(file, 'not the passphrase').then(() => 'restored', (e: unknown) => (e instanceof BackupError ? e.problem : String(e)));
  t.equal(refused, 'wrong-passphrase', 'a wrong passphrase is refused');
  const after = Object.fromEntries(BACKUP_FILES.filter((f) => existsSync(join(b, f))).map((f) => [f, readFileSync(join(b, f), 'hex')]));
  t.same(after, before, 'a wrong passphrase changes nothing');
  t.notOk(existsSync(join(b, 'restore-aside')), 'and moves nothing aside');

  const r = await service.restore(file, PASS);
  t.equal(r.accounts, 1);
  t.equal(r.policies, 2, 'default and private');
  const restored = await ConfigStore.open(b, { log: silentLogger, clock });
  t.same(restored.data.accounts.map((x) => x.extension), ['1001'], 'the accounts of box a');
  t.same(restored.data.accounts[0]!.ha1Sha256, (await ConfigStore.open(a, { log: silentLogger, clock, readOnly: true })).data.accounts[0]!.ha1Sha256, 'with the same digest hashes');
  const fp = (dir: string, f: string): string => new X509Certificate(readFileSync(join(dir, 'pki', f))).fingerprint256;
  t.equal(fp(b, 'ca.crt'), fp(a, 'ca.crt'), 'the CA of box a');
  t.equal(fp(b, 'server.crt'), fp(a, 'server.crt'), 'the server certificate of box a');
  t.equal(r.caSha256, fp(a, 'ca.crt'));
  t.equal(statSync(join(b, 'pki', 'ca.key')).mode & 0o777, 0o600, 'keys 0600');
  t.equal(statSync(join(b, 'config.json')).mode & 0o777, 0o600);
  t.equal(readFileSync(join(r.keptAside, 'config.json'), 'hex'), before['config.json'], 'the old config is kept aside');
  t.equal(readFileSync(join(r.keptAside, 'pki', 'ca.key'), 'hex'), before['pki/ca.key'], 'and the old CA key');
  const pki = await loadOrCreatePki(b, { clock, identity: () => ID, logger: silentLogger });
  t.equal(pki.caInfo.sha256.replace(/:/g, '').toLowerCase(), fp(a, 'ca.crt').replace(/:/g, '').toLowerCase(), 'the PKI opens the restored CA');
});

t.test('restore checks the content before anything changes', async (t) => {
  const root = tempDir(t);
  const clock = new FakeClock(Date.now());
  const a = join(root, 'a');
  await makeBox(a, clock);
  const good = collectBackup(a, clock.now());
  const swap = (path: string, data: Buffer | null): BackupPayload => ({
    ...good, files: data === null ? good.files.filter((f) => f.path !== path) : good.files.map((f) => (f.path === path ? { ...f, data } : f)),
  });
  const problemOf = (p: BackupPayload): string => { try { checkRestore(p, clock.now()); return 'none'; } catch (e) { return e instanceof BackupError ? e.problem : String(e); } };
  t.equal(problemOf(good), 'none');
  t.equal(problemOf({ ...good, schemaVersion: 999 }), 'newer-schema');
  t.equal(problemOf(swap('config.json', Buffer.from('{"schemaVersion":1,"accounts":"nope"}'))), 'bad-config');
  t.equal(problemOf(swap('pki/ca.key', null)), 'bad-files');
  const other = join(root, 'other');
  await loadOrCreatePki(other, { clock, identity: () => ID, logger: silentLogger });
  t.equal(problemOf(swap('pki/server.key', readFileSync(join(other, 'pki', 'server.key')))), 'bad-certificates', 'a key that does not match');
  t.equal(problemOf(swap('pki/ca.crt', readFileSync(join(other, 'pki', 'ca.crt')))), 'bad-certificates', 'a CA that did not issue the server certificate');
  t.equal(problemOf({ ...good, files: [...good.files, { path: 'run.json', mode: 0o644, data: Buffer.from('{}') }] }), 'bad-files', 'a file outside the list');
  // applyRestore itself writes only listed files.
  const fresh = join(root, 'fresh');
  applyRestore(fresh, good, join(fresh, 'restore-aside', 'x'));
  t.same(readdirSync(join(fresh, 'pki')).sort(), good.files.filter((f) => f.path.startsWith('pki/')).map((f) => f.path.slice(4)).sort());
});

t.test('nightly: at 03:00 local, newest seven kept, readable with the stored passphrase', async (t) => {
  const root = tempDir(t);
  // 2026-03-01 12:00 UTC, a box at UTC+1.
  const clock = new FakeClock(Date.UTC(2026, 2, 1, 12, 0));
  const dir = join(root, 'box');
  await makeBox(dir, clock);
  t.equal(msUntilHour(Date.UTC(2026, 2, 1, 12, 0), 3, 60), 14 * 3_600_000, '12:00 UTC is 13:00 local; 03:00 is 14 h away');
  t.equal(msUntilHour(Date.UTC(2026, 2, 1, 1, 59), 3, 60), 60_000, '02:59 local: one minute');
  const nightly = new NightlyBackup({ dataDir: dir, clock, random: seededRandom(3), log: silentLogger, keep: 7, hour: 3, utcOffsetMin: () => 60, cost: CHEAP });
  nightly.start();
  clock.advance(14 * 3_600_000 - 1);
  t.same(nightly.list(), [], 'nothing before 03:00');
  clock.advance(1);
  t.equal(nightly.list().length, 1, 'one at 03:00');
  t.match(nightly.list()[0], /^auto-2026-03-02T02-00-00-000Z\.pbxbackup$/);
  clock.advance(9 * 86_400_000);
  const kept = nightly.list();
  t.equal(kept.length, 7, 'ten nights later, seven kept');
  t.match(kept[0], /2026-03-11T02-00/, 'the newest first');
  t.match(kept[6], /2026-03-05T02-00/, 'the oldest three are gone');
  const pass = autoPassphrase(dir, seededRandom(99));
  t.equal(statSync(join(dir, 'backups', 'auto.passphrase')).mode & 0o777, 0o600, 'the stored passphrase is 0600');
  const opened = openBackup(readFileSync(join(dir, 'backups', kept[0]!)), pass);
  t.ok(opened.files.some((f) => f.path === 'pki/ca.key'), 'an automatic backup opens with it and holds the CA key');
  nightly.stop();
  t.equal(clock.timerCount, 0, 'stop cancels the timer');
  writeFileSync(join(dir, 'backups', 'notes.txt'), 'mine');
  t.equal(nightly.list().length, 7, 'other files in the folder are left alone');
});
