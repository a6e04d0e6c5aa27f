import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import {
  SlotStore, UpdateError, afterHealth, bootPlan, compareVersions, createBundle, installBundle, readTar, verifyBundle, writeTar,
  type PayloadFile, type SlotState, type UpdateErrorCode,
} from '../../firmware/update/index.js';
import { treeDigest } from './tree.js';

const vendor = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const files: PayloadFile[] = [
  { path: 'package.json', mode: 0o644, data: Buffer.from('{"type":"module"}\n') },
  { path: 'dist/firmware/cli/pbx.js', mode: 0o755, data: Buffer.from('console.log("pbx")\n') },
  { path: `dist/${'deep/'.repeat(30)}file.js`, mode: 0o644, data: Buffer.alloc(1500, 7) },
];
const good = (version = '0.2.0', key: KeyObject = vendor.privateKey): Buffer => createBundle({ version, files, privateKey: key });

function code(t: Test, fn: () => unknown, want: UpdateErrorCode, what: string): void {
  try {
    fn();
    t.fail(`${what}: no error`);
  } catch (e) {
    t.ok(e instanceof UpdateError, `${what}: an UpdateError`);
    t.equal((e as UpdateError).code, want, `${what}: ${want}`);
  }
}

/** The bundle's tar entries, changed by `edit`, packed again (signature untouched). */
function retar(bundle: Buffer, edit: (e: Array<{ path: string; mode: number; data: Buffer }>) => void): Buffer {
  const entries = readTar(gunzipSync(bundle), 100).map((e) => ({ ...e, data: Buffer.from(e.data) }));
  edit(entries);
  return gzipSync(writeTar(entries));
}

t.test('ustar: round trip, long paths through the prefix field', async (t) => {
  const tar = writeTar(files);
  t.equal(tar.length % 512, 0);
  const back = readTar(tar, 10);
  t.same(back.map((e) => [e.path, e.mode, e.data.toString('hex')]), files.map((f) => [f.path, f.mode, f.data.toString('hex')]));
});

t.test('ustar: hostile archives are refused cleanly', async (t) => {
  const tar = writeTar(files);
  const flip = (at: number, v: number): Buffer => { const b = Buffer.from(tar); b[at] = v; return b; };
  code(t, () => readTar(flip(0, 0x41), 10), 'bad-archive', 'changed header byte (checksum)');
  code(t, () => readTar(tar.subarray(0, 700), 10), 'bad-archive', 'truncated');
  code(t, () => readTar(Buffer.alloc(512), 10), 'bad-archive', 'one zero block only');
  const link = writeTar([{ path: 'x', mode: 0o644, data: Buffer.alloc(0) }]);
  link[156] = 0x32; // symlink
  let sum = 0;
  link.fill(0x20, 148, 156);
  for (let i = 0; i < 512; i++) sum += link[i]!;
  link.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  code(t, () => readTar(link, 10), 'bad-archive', 'a symbolic link');
  t.throws(() => writeTar([{ path: '../etc/passwd', mode: 0o644, data: Buffer.alloc(0) }]));
  const dup = Buffer.concat([writeTar([files[0]!]).subarray(0, 1024), writeTar([files[0]!])]);
  code(t, () => readTar(dup, 10), 'bad-archive', 'the same path twice');
  code(t, () => readTar(writeTar(files), 2), 'too-large', 'more entries than allowed');
});

t.test('ustar: random bytes and random corruptions never throw anything but an UpdateError (property)', async (t) => {
  const tar = writeTar(files);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 3000 }), fc.nat(tar.length - 1), fc.integer({ min: 0, max: 255 }), (junk, at, v) => {
    for (const b of [Buffer.from(junk), (() => { const c = Buffer.from(tar); c[at] = v; return c; })()]) {
      try { readTar(b, 100); } catch (e) { if (!(e instanceof UpdateError)) throw e; }
    }
  }), { numRuns: 300 });
  t.pass('300 runs');
});

t.test('a bundle signed by the vendor verifies; every kind of tampering is refused with its code', async (t) => {
  const v = verifyBundle(good(), [stranger.publicKey, vendor.publicKey]);
  t.equal(v.manifest.version, '0.2.0');
  t.same(v.files.map((f) => f.path), files.map((f) => f.path));
  t.same(v.files.map((f) => f.data.toString('hex')), files.map((f) => f.data.toString('hex')));

  code(t, () => verifyBundle(good('0.2.0', stranger.privateKey), [vendor.publicKey]), 'bad-signature', 'signed by another key');
  code(t, () => verifyBundle(good(), []), 'no-keys', 'no trusted key');
  code(t, () => verifyBundle(retar(good(), (e) => { e[2]!.data[0] ^= 1; }), [vendor.publicKey]), 'hash-mismatch', 'a changed file');
  code(t, () => verifyBundle(retar(good(), (e) => { e[0]!.data = Buffer.from(e[0]!.data.toString().replace('0.2.0', '9.2.0')); }), [vendor.publicKey]), 'bad-signature', 'a changed manifest');
  code(t, () => verifyBundle(retar(good(), (e) => { e.push({ path: 'payload/evil.js', mode: 0o755, data: Buffer.from('x') }); }), [vendor.publicKey]), 'extra-file', 'an extra file');
  code(t, () => verifyBundle(retar(good(), (e) => { e.pop(); }), [vendor.publicKey]), 'missing-file', 'a missing file');
  code(t, () => verifyBundle(retar(good(), (e) => { e.push({ path: 'elsewhere', mode: 0o644, data: Buffer.alloc(1) }); }), [vendor.publicKey]), 'extra-file', 'a file outside payload/');
  code(t, () => verifyBundle(retar(good(), (e) => { e.reverse(); }), [vendor.publicKey]), 'bad-manifest', 'manifest not first');
  code(t, () => verifyBundle(Buffer.from('not gzip at all'), [vendor.publicKey]), 'bad-archive', 'not gzip');
  code(t, () => verifyBundle(gzipSync(Buffer.alloc(2048)), [vendor.publicKey]), 'bad-manifest', 'an empty archive');
});

t.test('versions compare numerically', async (t) => {
  t.equal(compareVersions('0.10.0', '0.9.9'), 1);
  t.equal(compareVersions('1.0.0', '1.0.0'), 0);
  t.equal(compareVersions('1.0.0', '1.0.1'), -1);
});

t.test('boot plan: a trial runs once; started before and never committed, it is rolled back; health decides', async (t) => {
  const now = new Date(Date.UTC(2026, 11, 2));
  const fresh: SlotState = { committed: 'a', trial: { slot: 'b', version: '0.2.0', attempts: 0, since: now.toISOString() }, last: null };
  t.same(bootPlan({ committed: 'a', trial: null, last: null }, now), { kind: 'committed', slot: 'a' });
  const p = bootPlan(fresh, now);
  t.equal(p.kind, 'trial');
  if (p.kind !== 'trial') return;
  t.equal(p.slot, 'b');
  t.equal(p.next.trial?.attempts, 1, 'the attempt is counted before the firmware starts');
  const again = bootPlan(p.next, now);
  t.equal(again.kind, 'rollback');
  if (again.kind === 'rollback') t.same([again.next.committed, again.next.trial, again.next.last?.outcome], ['a', null, 'rolled-back']);
  t.same(afterHealth(p.next, { ok: true, ms: 900 }, now), { committed: 'b', trial: null, last: { version: '0.2.0', slot: 'b', outcome: 'committed', reason: 'healthy after 900 ms', at: now.toISOString() } });
  const bad = afterHealth(p.next, { ok: false, reason: 'SIP did not answer' }, now);
  t.same([bad.committed, bad.trial, bad.last?.outcome, bad.last?.reason], ['a', null, 'rolled-back', 'SIP did not answer']);
});

t.test('install: refused bundles write nothing; a good one lands in the inactive slot on trial; downgrades need --force', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-install-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'opt');
  const slots = SlotStore.init(root);
  mkdirSync(join(root, 'a'));
  writeFileSync(join(root, 'a', 'manifest.json'), JSON.stringify({ version: '0.2.0' }));
  mkdirSync(join(root, 'b'));
  writeFileSync(join(root, 'b', 'old-firmware.js'), 'the previous firmware');
  const before = treeDigest(root);
  const keys = [vendor.publicKey];
  const put = (name: string, b: Buffer): string => { const p = join(dir, name); writeFileSync(p, b); return p; };

  for (const [name, bundle, want] of [
    ['bad signature', good('0.3.0', stranger.privateKey), 'bad-signature'],
    ['changed file', retar(good('0.3.0'), (e) => { e[3]!.data[10] ^= 0x20; }), 'hash-mismatch'],
    ['downgrade', good('0.1.9'), 'downgrade'],
  ] as const) {
    code(t, () => installBundle(put(`${name}.pbxfw`, bundle), { root, keys }), want, name);
    t.equal(treeDigest(root), before, `${name}: nothing written (slots and state unchanged)`);
  }
  t.notOk(existsSync(join(root, '.incoming-b')));

  const done = installBundle(put('good.pbxfw', good('0.3.0')), { root, keys });
  t.same([done.slot, done.version, done.from], ['b', '0.3.0', '0.2.0']);
  t.same(readdirSync(join(root, 'b')).sort(), ['dist', 'manifest.json', 'package.json'], 'the old slot contents are replaced whole');
  t.equal(readFileSync(join(root, 'b', 'dist/firmware/cli/pbx.js'), 'utf8'), 'console.log("pbx")\n');
  t.same(slots.read().trial?.slot, 'b');
  t.equal(slots.read().committed, 'a', 'the committed slot is untouched until the new one is healthy');
  code(t, () => installBundle(put('next.pbxfw', good('0.4.0')), { root, keys }), 'slots', 'a second install while one is on trial');

  slots.write({ committed: 'a', trial: null, last: null });
  const forced = installBundle(put('old.pbxfw', good('0.1.9')), { root, keys, force: true });
  t.equal(forced.version, '0.1.9', 'a downgrade goes in with force');
});
