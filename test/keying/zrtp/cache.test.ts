import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { seededRandom } from '../../../firmware/core/index.js';
import { FileZrtpCache, ZRTP_CACHE_FILE } from '../../../firmware/keying/zrtp/index.js';
import { world } from './world.js';

function dir(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'zrtp-cache-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

t.test('the box ZID is made once and stays across restarts; the file is 0600 and written atomically', async (t) => {
  const d = dir(t);
  const c1 = FileZrtpCache.open(d, seededRandom(1));
  t.equal(c1.zid.length, 12);
  const path = join(d, ZRTP_CACHE_FILE);
  t.equal(statSync(path).mode & 0o777, 0o600);
  const c2 = FileZrtpCache.open(d, seededRandom(2));
  t.same(c2.zid, c1.zid, 'same ZID after a restart, whatever the random source says');
  const peer = Buffer.alloc(12, 7);
  c2.put(peer, { rs1: Buffer.alloc(32, 1), rs2: Buffer.alloc(32, 2), verified: true, pbxSecret: Buffer.alloc(32, 3), expiresAt: 123 });
  t.same(readdirSync(d), [ZRTP_CACHE_FILE], 'no temp file left behind');
  t.equal(statSync(path).mode & 0o777, 0o600);
  const c3 = FileZrtpCache.open(d, seededRandom(3));
  t.same(c3.get(peer), { rs1: Buffer.alloc(32, 1), rs2: Buffer.alloc(32, 2), verified: true, pbxSecret: Buffer.alloc(32, 3), expiresAt: 123 });
  c3.delete(peer);
  t.equal(FileZrtpCache.open(d, seededRandom(4)).get(peer), undefined);
});

t.test('a corrupt or foreign cache file is refused with PbxError config, not overwritten', async (t) => {
  const d = dir(t);
  const path = join(d, ZRTP_CACHE_FILE);
  writeFileSync(path, '{ not json');
  t.throws(() => FileZrtpCache.open(d, seededRandom(1)), { name: 'PbxError', code: 'config' });
  t.equal(readFileSync(path, 'utf8'), '{ not json');
  writeFileSync(path, JSON.stringify({ version: 9, zid: '00'.repeat(12), peers: {} }));
  t.throws(() => FileZrtpCache.open(d, seededRandom(1)), { name: 'PbxError', code: 'config' });
  try {
    writeFileSync(path, '{ "secret": "c2VjcmV0" ');
    FileZrtpCache.open(d, seededRandom(1));
  } catch (e) {
    t.notMatch(String(e), /c2VjcmV0/, 'the error never shows the file content');
  }
});

t.test('two calls through the file cache: the second matches, and a restart in between changes nothing', async (t) => {
  const da = dir(t); const db = dir(t);
  const ca = FileZrtpCache.open(da, seededRandom(1));
  const cb = FileZrtpCache.open(db, seededRandom(2));
  const w1 = world({ zid: ca.zid, cache: ca }, { zid: cb.zid, cache: cb, commit: false });
  w1.run();
  t.equal(w1.a.secure?.cacheMatch, 'none');
  w1.a.ep.setSasVerified(true); w1.b.ep.setSasVerified(true);
  const ra = FileZrtpCache.open(da, seededRandom(9));
  const rb = FileZrtpCache.open(db, seededRandom(9));
  const w2 = world({ zid: ra.zid, cache: ra, commit: false }, { zid: rb.zid, cache: rb }, undefined, 2);
  w2.run();
  t.equal(w2.a.secure?.cacheMatch, 'match'); t.equal(w2.b.secure?.cacheMatch, 'match');
  t.equal(w2.a.secure?.sasVerified, true);
  t.equal(w2.a.secure?.sas, w2.b.secure?.sas);
});

t.test('cache expiration: an expired rs1 is not used; an interval of 0 keeps no secret (RFC 6189 4.9)', async (t) => {
  const w1 = world({ cacheExpiration: 60 }, { commit: false });
  w1.run();
  const entry = w1.a.cache.get(Buffer.alloc(12, 0xb2));
  t.equal(entry?.expiresAt, w1.clock.now() + 60_000, 'the shorter interval (ours, 60 s) applies');
  t.equal(w1.b.cache.get(Buffer.alloc(12, 0xa1))?.expiresAt, w1.clock.now() + 60_000, 'the peer took the same, from our Confirm');
  const w0 = world({ cacheExpiration: 0 }, { commit: false });
  w0.run();
  t.equal(w0.a.cache.get(Buffer.alloc(12, 0xb2))?.rs1, undefined);
  t.equal(w0.b.cache.get(Buffer.alloc(12, 0xa1))?.rs1, undefined);
  // An entry past its time counts as no secret: 'none', not 'match' and not 'mismatch'.
  const w2 = world({ cache: w1.a.cache }, { cache: w1.b.cache, commit: false }, undefined, 4);
  w2.clock.advance(61_000);
  w2.run();
  t.equal(w2.a.secure?.cacheMatch, 'none');
  t.equal(w2.b.secure?.cacheMatch, 'none');
});
