import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock, silentLogger } from '../../firmware/core/index.js';
import {
  LocationService, REGISTRATIONS_FILE, fileBindingPersistence, isReachable, requestInstance, sameBinding, type Binding, type BindingPersistence,
} from '../../firmware/pbx/index.js';
import { parseMessage, uriEquals } from '../../firmware/sip/message/index.js';

const same = (a: string, b: string): boolean => uriEquals(a, b);

function binding(clock: FakeClock, over: Partial<Binding> = {}): Binding {
  return {
    extension: '100',
    contact: 'sip:100@192.0.2.10:5060',
    expiresAt: clock.now() + 60_000,
    callId: 'call-1',
    cseq: 1,
    transport: 'udp',
    source: { address: '192.0.2.10', port: 5060 },
    registeredAt: clock.now(),
    ...over,
  };
}

/** Persistence in memory that records every save. */
class MemoryPersistence implements BindingPersistence {
  readonly saves: Binding[][] = [];
  constructor(private readonly initial: Binding[] = []) {}
  load(): Binding[] {
    return this.initial;
  }
  save(bindings: readonly Binding[]): void {
    this.saves.push([...bindings]);
  }
}

t.test('RFC 3261 10.3 step 8: an expired binding is no longer returned', async (t) => {
  const clock = new FakeClock();
  const loc = new LocationService(clock);
  loc.upsert(binding(clock, { expiresAt: clock.now() + 30_000 }), same);
  loc.upsert(binding(clock, { extension: '101', contact: 'sip:101@192.0.2.11', expiresAt: clock.now() + 90_000 }), same);
  t.equal(loc.lookup('100').length, 1);
  t.equal(loc.registeredAccounts(), 2);
  clock.advance(29_999);
  t.equal(loc.lookup('100').length, 1, 'still live one ms before expiry');
  clock.advance(1);
  t.same(loc.lookup('100'), [], 'gone at expiresAt');
  t.same(loc.all().map((b) => b.extension), ['101']);
  t.equal(loc.registeredAccounts(), 1);
});

t.test('sweep removes expired bindings and tells listeners, so the LEDs follow expiry', async (t) => {
  const clock = new FakeClock();
  const loc = new LocationService(clock);
  loc.upsert(binding(clock, { expiresAt: clock.now() + 7_000 }), same);
  let changes = 0;
  loc.onChange(() => { changes++; });
  loc.start();
  clock.advance(5_000);
  t.equal(changes, 0, 'first sweep: nothing expired yet');
  clock.advance(5_000);
  t.equal(changes, 1, 'second sweep removed the expired binding');
  clock.advance(20_000);
  t.equal(changes, 1, 'nothing more to sweep: no spurious change events');
  loc.stop();
  t.equal(clock.timerCount, 0, 'stop cancels the sweep timer');
});

t.test('upsert replaces the binding whose contact is equal per RFC 3261 19.1.4, keeps others', async (t) => {
  const clock = new FakeClock();
  const loc = new LocationService(clock);
  loc.upsert(binding(clock, { contact: 'sip:100@Phone.Example.COM:5060', cseq: 1 }), same);
  loc.upsert(binding(clock, { contact: 'sip:100@phone.example.com:5060', cseq: 2 }), same);
  t.equal(loc.lookup('100').length, 1, 'host compares case-insensitively: one binding');
  t.equal(loc.lookup('100')[0]?.cseq, 2, 'the newer one wins');
  loc.upsert(binding(clock, { contact: 'sip:100@phone.example.com', cseq: 3 }), same);
  t.equal(loc.lookup('100').length, 2, 'an absent port is not equal to an explicit 5060');
  loc.remove('100', 'sip:100@PHONE.example.com:5060', same);
  t.same(loc.lookup('100').map((b) => b.contact), ['sip:100@phone.example.com']);
  loc.removeAll('100');
  t.same(loc.lookup('100'), []);
  t.equal(loc.registeredAccounts(), 0);
});

t.test('flowClosed forgets the connection but keeps the binding until it expires', async (t) => {
  const clock = new FakeClock();
  const loc = new LocationService(clock);
  loc.upsert(binding(clock, { transport: 'tcp', flowId: 'flow-1' }), same);
  loc.upsert(binding(clock, { extension: '101', contact: 'sip:101@192.0.2.11', transport: 'tls', flowId: 'flow-2' }), same);
  let changes = 0;
  loc.onChange(() => { changes++; });
  loc.flowClosed('flow-1');
  t.same(loc.lookup('100'), [], 'unreachable: call routing no longer sees it');
  const [b] = loc.bindings('100');
  t.ok(b, 'binding still there');
  t.equal(b?.flowId, undefined, 'flow id dropped');
  t.equal('flowId' in (b ?? {}), false, 'the property is gone, not set to undefined');
  t.equal(loc.lookup('101')[0]?.flowId, 'flow-2', 'other flows untouched');
  t.equal(changes, 1);
  loc.flowClosed('no-such-flow');
  t.equal(changes, 1, 'an unknown flow changes nothing');
});

t.test('flowInUse and flowClosed follow every way a binding changes its flow (the per-flow index)', async (t) => {
  const clock = new FakeClock();
  const persisted = binding(clock, { extension: '102', contact: 'sip:102@192.0.2.12', transport: 'tls', flowId: 'tls:0' });
  const loc = new LocationService(clock, new MemoryPersistence([persisted]));
  t.ok(loc.flowInUse('tls:0'), 'a binding loaded from disk indexes its flow');
  // Two accounts on one connection (a gateway registering several lines).
  loc.upsert(binding(clock, { transport: 'tls', flowId: 'tls:1', expiresAt: clock.now() + 10_000 }), same);
  loc.upsert(binding(clock, { extension: '101', contact: 'sip:101@192.0.2.11', transport: 'tls', flowId: 'tls:1' }), same);
  t.ok(loc.flowInUse('tls:1'));
  t.notOk(loc.flowInUse('tls:9'), 'an unknown flow is not in use');
  // 100 moves to a new connection: the old one still carries 101.
  t.equal(loc.followFlow('100', { transport: 'tls', address: '192.0.2.10', port: 5061, flowId: 'tls:2' }, undefined), 0, 'a live flow stays without an instance');
  loc.upsert(binding(clock, { transport: 'tls', flowId: 'tls:2', expiresAt: clock.now() + 10_000 }), same);
  t.ok(loc.flowInUse('tls:2'), 'the re-registration on the new flow indexes it');
  loc.removeAll('101');
  t.notOk(loc.flowInUse('tls:1'), 'nothing left on the old flow once 101 is removed and 100 moved');
  loc.flowClosed('tls:1');
  t.equal(loc.bindings('100')[0]?.flowId, 'tls:2', 'closing a flow nobody uses touches no binding');
  clock.advance(10_000);
  t.notOk(loc.flowInUse('tls:2'), 'an expired binding keeps no flow in use, even before the sweep');
  loc.sweep();
  loc.flowClosed('tls:2');
  t.same(loc.all().map((b) => b.extension), ['102']);
  loc.flowClosed('tls:0');
  t.equal(loc.lookup('102').length, 0, 'the loaded binding lost its flow');
  t.notOk(loc.flowInUse('tls:0'));
});

t.test('a thousand flows closing at once cost each flow its own bindings, not the whole table', async (t) => {
  const clock = new FakeClock();
  const loc = new LocationService(clock);
  for (let i = 0; i < 1000; i++) {
    loc.upsert(binding(clock, { extension: String(1000 + i), contact: `sip:${1000 + i}@192.0.2.1:${5000 + i}`, transport: 'tls', flowId: `tls:${i}` }), same);
  }
  // Count binding reads: the index must not scan every account per closed flow.
  let reads = 0;
  const byExt = (loc as unknown as { byExt: Map<string, unknown[]> }).byExt;
  const get = byExt.get.bind(byExt);
  const set = byExt.set.bind(byExt);
  byExt.get = (k: string) => { reads++; return get(k) as unknown[] | undefined; };
  byExt.set = (k: string, v: unknown[]) => { reads++; return set(k, v); };
  for (let i = 0; i < 1000; i++) loc.flowClosed(`tls:${i}`);
  t.ok(reads <= 4000, `map reads and writes: ${reads} (rewriting every account per closed flow was 10^6)`);
  t.equal(loc.all().filter((b) => b.flowId !== undefined).length, 0, 'every binding lost its flow');
  t.equal(loc.unreachableCount(), 1000);
});

t.test('persistence: expired bindings are dropped on load, live ones restored', async (t) => {
  const clock = new FakeClock();
  const p = new MemoryPersistence([
    binding(clock, { contact: 'sip:100@192.0.2.10', expiresAt: clock.now() - 1 }),
    binding(clock, { contact: 'sip:100@192.0.2.12', expiresAt: clock.now() + 1_000 }),
    binding(clock, { extension: '101', contact: 'sip:101@192.0.2.11', expiresAt: clock.now() }),
  ]);
  const loc = new LocationService(clock, p);
  t.same(loc.all().map((b) => b.contact), ['sip:100@192.0.2.12']);
  t.equal(loc.registeredAccounts(), 1);
  t.equal(p.saves.length, 0, 'loading writes nothing');
});

t.test('persistence: a burst of changes costs one save after the delay; stop flushes a pending save', async (t) => {
  const clock = new FakeClock();
  const p = new MemoryPersistence();
  const loc = new LocationService(clock, p);
  for (let i = 0; i < 5; i++) loc.upsert(binding(clock, { contact: `sip:100@192.0.2.${i + 1}` }), same);
  clock.advance(499);
  t.equal(p.saves.length, 0, 'not yet');
  clock.advance(1);
  t.equal(p.saves.length, 1, 'one coalesced save at 500 ms');
  t.equal(p.saves[0]?.length, 5, 'holding every binding');

  loc.remove('100', 'sip:100@192.0.2.1', same);
  t.equal(p.saves.length, 1);
  loc.stop();
  t.equal(p.saves.length, 2, 'stop writes the pending change at once');
  t.equal(p.saves[1]?.length, 4);
  clock.advance(1_000);
  t.equal(p.saves.length, 2, 'the cancelled timer does not save again');

  const idle = new MemoryPersistence();
  new LocationService(clock, idle).stop();
  t.equal(idle.saves.length, 0, 'stop with nothing pending writes nothing');
});

t.test('a throwing listener does not break registration', async (t) => {
  const clock = new FakeClock();
  const loc = new LocationService(clock);
  let second = 0;
  loc.onChange(() => { throw new Error('boom'); });
  const off = loc.onChange(() => { second++; });
  t.doesNotThrow(() => loc.upsert(binding(clock), same));
  t.equal(second, 1);
  off();
  loc.removeAll('100');
  t.equal(second, 1, 'unsubscribed listener is not called');
});

t.test('reachability: UDP always, TCP/TLS only on a live flow; status can count the unreachable', async (t) => {
  const clock = new FakeClock();
  const loc = new LocationService(clock);
  loc.upsert(binding(clock), same);
  loc.upsert(binding(clock, { extension: '101', contact: 'sip:101@192.0.2.11;transport=tls', transport: 'tls', flowId: 'tls:1' }), same);
  loc.upsert(binding(clock, { extension: '102', contact: 'sip:102@192.0.2.12;transport=tcp', transport: 'tcp' }), same);
  t.same(loc.all().map((b) => [b.extension, isReachable(b)]), [['100', true], ['101', true], ['102', false]]);
  t.equal(loc.unreachableCount(), 1);
  t.same(loc.lookup('102'), [], 'a stream binding without a flow is not routed to');
  t.equal(loc.bindings('102').length, 1, 'but it is still registered');
  t.equal(loc.registeredAccounts(), 3, 'and counts as registered for the LED');
  loc.flowClosed('tls:1');
  t.equal(loc.unreachableCount(), 2);
});

t.test('followFlow: the same +sip.instance moves a binding to the new connection, even from a live one', async (t) => {
  const clock = new FakeClock();
  const loc = new LocationService(clock);
  loc.upsert(binding(clock, { transport: 'tls', contact: 'sip:100@192.0.2.10:5061;transport=tls', flowId: 'tls:1', instance: 'urn:uuid:aaa' }), same);
  let changes = 0;
  loc.onChange(() => { changes++; });
  t.equal(loc.followFlow('100', { transport: 'tls', address: '198.51.100.7', port: 40001, flowId: 'tls:9' }, 'urn:uuid:aaa'), 1);
  t.match(loc.lookup('100')[0], { flowId: 'tls:9', source: { address: '198.51.100.7', port: 40001 } }, 'new flow and source (the phone changed address)');
  t.equal(changes, 1);
  t.equal(loc.followFlow('100', { transport: 'tls', address: '198.51.100.7', port: 40001, flowId: 'tls:9' }, 'urn:uuid:aaa'), 0, 'already there: no change');
  t.equal(changes, 1);
  t.equal(loc.followFlow('100', { transport: 'tls', address: '198.51.100.7', port: 40002, flowId: 'tls:10' }, 'urn:uuid:other'), 0,
    'another instance on a live flow does not take it');
  t.equal(loc.followFlow('101', { transport: 'tls', address: '192.0.2.10', port: 40003, flowId: 'tls:11' }, 'urn:uuid:aaa'), 0,
    'another account never moves this account\'s bindings');
});

t.test('followFlow by source address: only bindings whose flow is gone, only on the same transport', async (t) => {
  const clock = new FakeClock();
  const loc = new LocationService(clock);
  loc.upsert(binding(clock, { contact: 'sip:100@192.0.2.10:1;transport=tls', transport: 'tls', flowId: 'tls:1' }), same);
  loc.upsert(binding(clock, { contact: 'sip:100@192.0.2.10:2;transport=tls', transport: 'tls' }), same);
  loc.upsert(binding(clock, { contact: 'sip:100@192.0.2.10:3;transport=tcp', transport: 'tcp' }), same);
  loc.upsert(binding(clock, { contact: 'sip:100@192.0.2.99:4;transport=tls', transport: 'tls', source: { address: '192.0.2.99', port: 4 } }), same);
  const src = { transport: 'tls', address: '192.0.2.10', port: 50000, flowId: 'tls:5' } as const;
  t.equal(loc.followFlow('100', src), 1, 'one binding moved');
  const flowOf = (port: number): string | undefined => loc.bindings('100').find((b) => b.contact.includes(`:${port};`))?.flowId;
  t.equal(flowOf(1), 'tls:1', 'a live flow from the same host stays: it may be another phone of the account');
  t.equal(flowOf(2), 'tls:5', 'the dead TLS binding from this host follows');
  t.equal(flowOf(3), undefined, 'a TCP binding never moves to TLS (nor TLS to TCP)');
  t.equal(flowOf(4), undefined, 'a binding from another host stays dead without an instance');
  t.equal(loc.followFlow('100', { transport: 'udp', address: '192.0.2.99', port: 5060 }), 0, 'UDP has no flow to follow');
});

t.test('followFlow ignores expired bindings', async (t) => {
  const clock = new FakeClock();
  const loc = new LocationService(clock);
  loc.upsert(binding(clock, { transport: 'tls', expiresAt: clock.now() + 1_000, instance: 'urn:uuid:aaa' }), same);
  clock.advance(1_000);
  t.equal(loc.followFlow('100', { transport: 'tls', address: '192.0.2.10', port: 1, flowId: 'tls:2' }, 'urn:uuid:aaa'), 0);
});

t.test('requestAuthenticated reads +sip.instance from the request Contact, a don\'t-bind one included', async (t) => {
  const clock = new FakeClock();
  const loc = new LocationService(clock);
  loc.upsert(binding(clock, { transport: 'tls', flowId: 'tls:1', instance: 'urn:uuid:e6bfbdc1-bcdb-0039-8797-41ca9e845d3c' }), same);
  const req = parseMessage(Buffer.from([
    'INVITE sip:101@pbx.local SIP/2.0', 'Via: SIP/2.0/TLS 127.0.0.1;branch=z9hG4bK1', 'From: <sip:100@pbx.local>;tag=1', 'To: <sip:101@pbx.local>',
    'Call-ID: c1', 'CSeq: 1 INVITE', 'Contact: <sip:100@127.0.0.1:-2;transport=tls>;+sip.instance="<urn:uuid:E6BFBDC1-bcdb-0039-8797-41ca9e845d3c>"',
    'Content-Length: 0', '', '',
  ].join('\r\n')));
  if (!req.ok || req.message.kind !== 'request') throw new Error('fixture does not parse');
  t.equal(requestInstance(req.message), 'urn:uuid:e6bfbdc1-bcdb-0039-8797-41ca9e845d3c', 'URN compared lower-case');
  t.equal(loc.requestAuthenticated('100', req.message, { transport: 'tls', address: '10.0.0.5', port: 6000, flowId: 'tls:2' }), 1);
  t.equal(loc.lookup('100')[0]?.flowId, 'tls:2');
});

t.test('RFC 5626 section 6 / RFC 5627: the binding key is (instance, reg-id) when both carry one', async (t) => {
  const clock = new FakeClock();
  const loc = new LocationService(clock);
  loc.upsert(binding(clock, { contact: 'sip:100@192.0.2.10:40001;transport=tls', transport: 'tls', flowId: 'tls:1', instance: 'urn:uuid:a', regId: 1 }), same);
  loc.upsert(binding(clock, { contact: 'sip:100@192.0.2.10:40002;transport=tls', transport: 'tls', flowId: 'tls:2', instance: 'urn:uuid:a', regId: 1 }), same);
  t.same(loc.bindings('100').map((b) => b.flowId), ['tls:2'], 'the same phone\'s new contact replaces its old one');
  loc.upsert(binding(clock, { contact: 'sip:100@192.0.2.10:40003;transport=tls', transport: 'tls', flowId: 'tls:3', instance: 'urn:uuid:a', regId: 2 }), same);
  t.equal(loc.bindings('100').length, 2, 'a second reg-id is a second flow (RFC 5626 4.2)');
  t.ok(sameBinding({ contact: 'sip:x@h', instance: 'urn:uuid:b' }, { contact: 'sip:x@h' }, same), 'without an instance on both sides the contact decides');
  loc.removeWhere('100', (b) => b.regId === 2);
  t.same(loc.bindings('100').map((b) => b.regId), [1]);
});

t.test('restart: saved bindings come back without their flow (unreachable) and keep instance and reg-id', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-loc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const clock = new FakeClock();
  const p = fileBindingPersistence(dir, silentLogger);
  const first = new LocationService(clock, p);
  first.upsert(binding(clock, { transport: 'tls', flowId: 'tls:1', instance: 'urn:uuid:a', regId: 1 }), same);
  await first.stop();
  const raw = JSON.parse(readFileSync(join(dir, REGISTRATIONS_FILE), 'utf8')) as { bindings: Array<Record<string, unknown>> };
  raw.bindings.push({ ...raw.bindings[0], extension: '101', instance: 42, regId: 'x' });
  writeFileSync(join(dir, REGISTRATIONS_FILE), JSON.stringify(raw));

  const after = new LocationService(clock, fileBindingPersistence(dir, silentLogger));
  const [b] = after.bindings('100');
  t.match(b, { instance: 'urn:uuid:a', regId: 1 });
  t.equal(b?.flowId, undefined, 'the old process\'s flow id means nothing now');
  t.same(after.lookup('100'), [], 'unreachable until the phone talks again');
  t.same(after.bindings('101').map((x) => [x.instance, x.regId]), [[undefined, undefined]], 'malformed identity fields dropped, binding kept');
  t.equal(after.followFlow('100', { transport: 'tls', address: '192.0.2.10', port: 41000, flowId: 'tls:1' }, 'urn:uuid:a'), 1);
  t.equal(after.lookup('100').length, 1, 'reachable from the first request on the new connection');
});

t.test('the registrations file is written in the background: saves during a write coalesce, the last state lands, flush waits; a failed write is logged, not thrown', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-loc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const clock = new FakeClock();
  const p = fileBindingPersistence(dir, silentLogger);
  const states = [1, 2, 3].map((n) => Array.from({ length: n }, (_, i) => binding(clock, { contact: `sip:100@192.0.2.${i + 1}` })));
  for (const s of states) p.save(s);
  await p.flush?.();
  const saved = JSON.parse(readFileSync(join(dir, REGISTRATIONS_FILE), 'utf8')) as { bindings: unknown[] };
  t.equal(saved.bindings.length, 3, 'the file holds the last state saved');
  t.equal((statSync(join(dir, REGISTRATIONS_FILE)).mode & 0o777).toString(8), '600', 'mode 0600');

  const gone = fileBindingPersistence(join(dir, 'no', 'such', 'folder'), silentLogger);
  gone.save(states[0]!);
  await gone.flush?.();
  t.pass('an unwritable folder: the save fails quietly (logged), flush still resolves');
});
