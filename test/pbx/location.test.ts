import t from 'tap';
import { FakeClock } from '../../firmware/core/index.js';
import { LocationService, type Binding, type BindingPersistence } from '../../firmware/pbx/index.js';
import { uriEquals } from '../../firmware/sip/message/index.js';

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
  const [b] = loc.lookup('100');
  t.ok(b, 'binding still there');
  t.equal(b?.flowId, undefined, 'flow id dropped');
  t.equal('flowId' in (b ?? {}), false, 'the property is gone, not set to undefined');
  t.equal(loc.lookup('101')[0]?.flowId, 'flow-2', 'other flows untouched');
  t.equal(changes, 1);
  loc.flowClosed('no-such-flow');
  t.equal(changes, 1, 'an unknown flow changes nothing');
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
