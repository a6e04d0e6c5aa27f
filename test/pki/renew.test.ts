import t from 'tap';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { cpSync, readFileSync } from 'node:fs';
import { FakeClock, seededRandom } from '../../firmware/core/index.js';
import {
  CertRenewer,
  type HostIdentity,
  type PkiOptions,
  type TlsMaterial,
  loadOrCreatePki,
  pkiPaths,
  splitPem,
} from '../../firmware/pki/index.js';
import { DAY, ID, T0, countingKeyGen, tempDir } from './fixtures.js';

// Issue one PKI at T0; each test renews on its own copy of it.
const base = tempDir(t);
const kg = countingKeyGen();
await loadOrCreatePki(base, { clock: new FakeClock(T0), random: seededRandom(3), keyGen: kg.gen, identity: () => ID });

async function setup(tt: Parameters<typeof tempDir>[0], extra: Partial<PkiOptions> = {}) {
  const dir = tempDir(tt);
  cpSync(base, dir, { recursive: true });
  const clock = new FakeClock(T0);
  let id: HostIdentity = ID;
  const pki = await loadOrCreatePki(dir, { clock, random: seededRandom(11), keyGen: kg.gen, identity: () => id, ...extra });
  const setIdentity = (next: HostIdentity): void => {
    id = next;
  };
  return { dir, clock, pki, setIdentity };
}

t.test('renews within 30 days of notAfter, not before; listeners called once; history kept', async (t) => {
  const { dir, clock, pki } = await setup(t);
  const renewer = new CertRenewer({ pki, clock });
  const seen: TlsMaterial[] = [];
  renewer.onRenew((m) => seen.push(m));
  const firstSerial = pki.serverInfo.serial;
  const keysBefore = kg.count();

  renewer.start();
  t.equal(clock.timerCount, 1, 'daily check armed');
  clock.advance(334 * DAY); // 31 days left
  await renewer.settled();
  t.equal(seen.length, 0, 'not renewed with 31 days left');
  t.equal(pki.serverInfo.serial, firstSerial);
  t.equal(kg.count(), keysBefore);

  clock.advance(DAY); // 30 days left: inside the window
  await renewer.settled();
  t.equal(seen.length, 1, 'listeners called once');
  t.not(pki.serverInfo.serial, firstSerial, 'new serial');
  t.equal(Date.parse(pki.serverInfo.notAfter), T0 + 335 * DAY + 365 * DAY, 'a full year from the renewal');
  t.same(seen[0], pki.tlsMaterial());
  t.equal(splitPem(seen[0]!.cert)[0], pki.serverCertPem, 'material carries the new leaf first');
  t.ok(new X509Certificate(pki.serverCertPem).checkPrivateKey(createPrivateKey(seen[0]!.key)), 'with its new key');
  t.equal(splitPem(readFileSync(pkiPaths(dir).serverCert, 'utf8'))[0], pki.serverCertPem, 'stored');
  t.equal(renewer.counters.get('pki.renewed.expiring'), 1);

  const history = JSON.parse(readFileSync(pkiPaths(dir).history, 'utf8')) as { entries: { at: string; reason: string; oldSerial: string; newSerial: string }[] };
  t.same(history.entries.at(-1), { at: new Date(T0 + 335 * DAY).toISOString(), reason: 'expiring', oldSerial: firstSerial, newSerial: pki.serverInfo.serial });
  t.equal(history.entries.length, 2);

  clock.advance(30 * DAY);
  await renewer.settled();
  t.equal(seen.length, 1, 'no second renewal for the fresh certificate');
  renewer.stop();
  t.equal(clock.timerCount, 0, 'stop cancels the timer');
  clock.advance(400 * DAY);
  await renewer.settled();
  t.equal(seen.length, 1, 'nothing runs after stop');

  const reloaded = await loadOrCreatePki(dir, { clock, keyGen: kg.gen, identity: () => ID });
  t.equal(reloaded.serverCertPem, pki.serverCertPem, 'the renewed certificate survives a restart');
});

t.test('renewBeforeDays is configurable', async (t) => {
  const { clock, pki } = await setup(t);
  const renewer = new CertRenewer({ pki, clock, renewBeforeDays: 60 });
  let calls = 0;
  renewer.onRenew(() => calls++);
  renewer.start();
  clock.advance(304 * DAY);
  await renewer.settled();
  t.equal(calls, 0);
  clock.advance(DAY);
  await renewer.settled();
  t.equal(calls, 1);
  renewer.stop();
  t.throws(() => new CertRenewer({ pki, clock, renewBeforeDays: -1 }), RangeError);
});

t.test('a new address or hostname not in the SANs triggers renewal', async (t) => {
  const { clock, pki, setIdentity } = await setup(t);
  const renewer = new CertRenewer({ pki, clock });
  t.equal(renewer.dueReason(), null);
  t.same(await renewer.check(), { renewed: false });

  setIdentity({ hostname: 'pbx', addresses: [...ID.addresses.slice(1), '10.9.8.7'] });
  t.equal(renewer.dueReason(), 'names-changed', 'an added address is not covered');
  const out = await renewer.check();
  t.match(out, { renewed: true, record: { reason: 'names-changed' } });
  const san = new X509Certificate(pki.serverCertPem).subjectAltName ?? '';
  t.ok(san.includes('IP Address:10.9.8.7') && san.includes('DNS:10.9.8.7'));
  t.notOk(san.includes('192.168.1.20'), 'a vanished address is dropped');
  t.equal(renewer.dueReason(), null, 'covered now');

  setIdentity({ hostname: 'office-pbx', addresses: ['10.9.8.7'] });
  t.equal(renewer.dueReason(), 'names-changed', 'a new hostname is not covered');
  await renewer.check();
  t.equal(pki.serverInfo.subjectCn, 'office-pbx');
});

t.test('a clock set back before notBefore asks for a new certificate', async (t) => {
  const { clock, pki } = await setup(t);
  t.equal(new CertRenewer({ pki, clock: new FakeClock(T0 - 2 * DAY) }).dueReason(), 'not-yet-valid');
  t.equal(new CertRenewer({ pki, clock }).dueReason(), null);
});

t.test('renewNow always issues; a throwing listener does not stop the others', async (t) => {
  const { clock, pki } = await setup(t);
  const renewer = new CertRenewer({ pki, clock });
  const order: string[] = [];
  renewer.onRenew(() => {
    order.push('a');
    throw new Error('listener bug');
  });
  const off = renewer.onRenew(() => order.push('b'));
  const before = pki.serverInfo.serial;
  const out = await renewer.renewNow();
  t.match(out, { renewed: true, record: { reason: 'manual', oldSerial: before } });
  t.same(order, ['a', 'b']);
  t.equal(renewer.counters.get('pki.listener_error'), 1);
  off();
  await renewer.renewNow();
  t.same(order, ['a', 'b', 'a'], 'removed listener not called');
  const h = await pki.history();
  t.same(h.map((r) => r.reason), ['created', 'manual', 'manual']);
});

t.test('checks that overlap share one renewal', async (t) => {
  const { clock, pki } = await setup(t);
  const renewer = new CertRenewer({ pki, clock });
  let calls = 0;
  renewer.onRenew(() => calls++);
  clock.advance(340 * DAY);
  const keys = kg.count();
  const [a, b] = await Promise.all([renewer.check(), renewer.check()]);
  t.same(a, b);
  t.equal(kg.count(), keys + 1, 'one key generated');
  t.equal(calls, 1);
});

t.test('a failed renewal is counted and retried at the next daily check', async (t) => {
  let fail = true;
  const { clock, pki } = await setup(t, {
    keyGen: () => (fail ? Promise.reject(new Error('entropy exhausted')) : kg.gen()),
  });
  const renewer = new CertRenewer({ pki, clock });
  let calls = 0;
  renewer.onRenew(() => calls++);
  await t.rejects(renewer.renewNow());
  t.equal(renewer.counters.get('pki.renew_failed'), 1);
  renewer.start();
  clock.advance(335 * DAY);
  await renewer.settled();
  t.equal(calls, 0);
  t.ok(renewer.counters.get('pki.renew_failed') >= 2, 'the due check failed too');
  fail = false;
  clock.advance(DAY);
  await renewer.settled();
  t.equal(calls, 1, 'renewed on the next day');
  renewer.stop();
});

t.test('overlapping renewNow calls run one after the other', async (t) => {
  const { dir, clock, pki } = await setup(t);
  const renewer = new CertRenewer({ pki, clock });
  const first = pki.serverInfo.serial;
  const [a, b] = await Promise.all([renewer.renewNow(), renewer.renewNow()]);
  t.ok(a.renewed && b.renewed);
  if (!a.renewed || !b.renewed) return;
  t.equal(a.record.oldSerial, first);
  t.equal(b.record.oldSerial, a.record.newSerial, 'the second saw the first one finished');
  t.equal(pki.serverInfo.serial, b.record.newSerial);
  const onDisk = new X509Certificate(readFileSync(pkiPaths(dir).serverCert, 'utf8'));
  t.ok(onDisk.checkPrivateKey(createPrivateKey(readFileSync(pkiPaths(dir).serverKey, 'utf8'))), 'key and certificate on disk match');
  await renewer.settled();
});
