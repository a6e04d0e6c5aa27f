/**
 * Recorder taps ('tap' / 'untap'): what a sink gets (authenticated and
 * decrypted RTP on legs the box keys, the SRTP packet untouched and marked
 * opaque on end-to-end legs, also what no connection forwards), what it never
 * gets (forgeries, replays, strangers' packets), the buffer handed without a
 * copy, a throwing sink contained, and the request checks.
 */
import t from 'tap';
import fc from 'fast-check';
import { PbxError } from '../../firmware/core/index.js';
import type { EngineRequest, TapSink } from '../../firmware/media/index.js';
import { SrtpSession } from '../../firmware/media/srtp/index.js';
import { ok, rtp } from './helpers.js';
import { PHONES, key, rig, srtpPhone } from './features.js';

const voice = (seq: number, ssrc: number): Buffer => rtp({ pt: 0, seq, ts: seq * 160, ssrc, payload: Buffer.alloc(160, seq & 0xff) });

t.test('a tap gets decrypted RTP from a leg the box keys and the SRTP untouched (opaque) from an end-to-end leg', async (t) => {
  const r = await rig();
  const a = srtpPhone();
  await r.add('A', a.security);
  await r.add('B');
  await r.add('C', { kind: 'srtp-relay' });
  await r.add('D', { kind: 'srtp-relay' });
  await r.connect('A', 'B');
  await r.connect('C', 'D');
  const spec = { recording: 'rec-1', dir: '/data/rec' };
  await r.engine.request({ op: 'tap', sessionId: 's', tapId: 'rec', legs: ['A', 'C'], sink: spec });
  t.equal(r.sinks.length, 1, 'the factory made one sink');
  t.same(r.sinks[0]!.spec, spec, 'from the request\'s spec');
  t.not(r.sinks[0]!.spec, spec, 'a copy of it');
  t.ok(Object.isFrozen(r.sinks[0]!.spec));

  r.clock.advance(5);
  const clear = voice(1, 0xa);
  r.send('A', ok(a.out.protectRtp(clear)));
  const e2e = new SrtpSession(key());
  const wire = ok(e2e.protectRtp(voice(1, 0xc)));
  r.send('C', wire);
  const got = r.sinks[0]!.packets;
  t.same(got.map((p) => [p.leg, p.opaque, p.arrivedAt]), [['A', false, r.clock.now()], ['C', true, r.clock.now()]]);
  t.same(got[0]!.rtp, clear, 'A\'s packet decrypted');
  t.same(got[1]!.rtp, wire, 'C\'s packet as it came, tag and all');
  t.same(r.heard('B'), [clear], 'forwarding is unchanged');
  t.same(r.heard('D'), [wire]);
  t.same(r.sinks[0]!.packets.length, 2);
  const st = await r.stats();
  t.same(st.taps, [{ tapId: 'rec', legs: ['A', 'C'] }]);
});

t.test('a tap hears what no connection forwards, and never forgeries, replays or strangers', async (t) => {
  const r = await rig();
  const a = srtpPhone();
  await r.add('A', a.security, 's', 'inactive'); // a held phone that still sends
  await r.add('B');
  await r.engine.request({ op: 'tap', sessionId: 's', tapId: 'rec', legs: ['A', 'B'], sink: {} });
  const p1 = ok(a.out.protectRtp(voice(1, 0xa)));
  r.send('A', p1);
  r.send('B', voice(1, 0xb));
  t.equal(r.sinks[0]!.packets.length, 2, 'both heard though nothing is connected and A is inactive');
  const st = await r.stats();
  t.equal(st.legs['A']!.dropped['direction'], 1, 'A\'s packet was still not forwarded');
  t.equal(st.legs['B']!.dropped['not-connected'], 1);

  r.send('A', p1);
  const forged = Buffer.from(ok(a.out.protectRtp(voice(2, 0xa))));
  forged[20]! ^= 1;
  r.send('A', forged);
  r.net.at(r.local['B']!.rtpPort).deliver(voice(2, 0xb), { address: '10.9.9.9', port: 5000 });
  t.equal(r.sinks[0]!.packets.length, 2, 'a replay, a forgery and a stranger are not recorded');
  const after = await r.stats();
  t.equal(after.legs['A']!.dropped['srtp-replay'], 1);
  t.equal(after.legs['A']!.dropped['srtp-auth'], 1);
  t.equal(after.legs['B']!.dropped['unexpected-source'], 1);
});

t.test('the sink gets the receive buffer itself (no copy on the forwarding path) and copies what it keeps', async (t) => {
  const seen: Uint8Array[] = [];
  const held: TapSink = { packet: (_leg, pkt) => { seen.push(pkt); }, close: () => {} };
  const r2 = await rig({ tapSinks: () => held });
  await r2.add('A');
  await r2.engine.request({ op: 'tap', sessionId: 's', tapId: 'x', legs: ['A'], sink: {} });
  const msg = voice(1, 0xa);
  r2.net.at(r2.local['A']!.rtpPort).deliver(msg, PHONES['A']!);
  t.equal(seen[0], msg, 'the very buffer the socket gave');
});

t.test('a sink that throws is counted, closed and removed; the packet still goes on; an event says so', async (t) => {
  const r = await rig();
  await r.add('A');
  await r.add('B');
  await r.connect('A', 'B');
  await r.engine.request({ op: 'tap', sessionId: 's', tapId: 'rec', legs: ['A', 'B'], sink: { n: 1 } });
  await r.engine.request({ op: 'tap', sessionId: 's', tapId: 'rec2', legs: ['A'], sink: { n: 2 } });
  r.sinks[0]!.throwOnPacket = true;
  r.send('A', voice(1, 0xa));
  t.equal(r.heard('B').length, 1, 'forwarded despite the sink');
  t.equal(r.sinks[1]!.packets.length, 1, 'the other tap still got it');
  t.equal(r.counters.get('media.tap.sink-error'), 1);
  t.equal(r.counters.get('media.packet-error'), 0, 'nothing unwound the socket path');
  t.equal(r.sinks[0]!.closed, 1, 'closed once');
  t.same(r.events.filter((e) => e.type === 'tap-closed'), [{ type: 'tap-closed', sessionId: 's', tapId: 'rec', reason: 'sink-error' }]);
  r.send('A', voice(2, 0xa));
  r.send('B', voice(1, 0xb));
  t.equal(r.counters.get('media.tap.sink-error'), 1, 'the tap is gone from both legs');
  t.same((await r.stats()).taps, [{ tapId: 'rec2', legs: ['A'] }]);
  await r.engine.request({ op: 'delete', sessionId: 's' });
  t.equal(r.sinks[0]!.closed, 1, 'not closed twice');
  t.equal(r.sinks[1]!.closed, 1, 'session delete closes the rest');
});

t.test('tap again with the same id replaces the leg list (same sink); untap closes; limits and factory failures', async (t) => {
  const r = await rig();
  await r.add('A');
  await r.add('B');
  const tap = (legs: string[], sink: Record<string, unknown> = { f: 1 }, tapId = 'rec') => r.engine.request({ op: 'tap', sessionId: 's', tapId, legs, sink });
  await tap(['A']);
  await tap(['B']);
  t.equal(r.sinks.length, 1, 'one sink');
  r.send('A', voice(1, 0xa));
  r.send('B', voice(1, 0xb));
  t.same(r.sinks[0]!.packets.map((p) => p.leg), ['B'], 'only the new list');
  await tap(['A', 'B']);
  r.send('A', voice(2, 0xa));
  t.same(r.sinks[0]!.packets.map((p) => p.leg), ['B', 'A'], 'a leg added');
  await t.rejects(tap(['A'], { f: 2 }), { code: 'conflict' }, 'another sink under the same id');
  await r.engine.request({ op: 'untap', sessionId: 's', tapId: 'rec' });
  t.equal(r.sinks[0]!.closed, 1);
  r.send('A', voice(3, 0xa));
  t.equal(r.sinks[0]!.packets.length, 2, 'nothing after untap');
  await r.engine.request({ op: 'untap', sessionId: 's', tapId: 'rec' });
  t.pass('untap of nothing is no error');
  for (let i = 0; i < 4; i++) await tap(['A'], {}, `t${i}`);
  await t.rejects(tap(['A'], {}, 't4'), { code: 'limit' });
  await r.engine.request({ op: 'remove-leg', sessionId: 's', leg: 'A' });
  t.same((await r.stats()).taps?.map((x) => x.legs), [[], [], [], []], 'a removed leg leaves its taps');

  const none = await rig({ tapSinks: false });
  await none.add('A');
  await t.rejects(none.engine.request({ op: 'tap', sessionId: 's', tapId: 'x', legs: ['A'], sink: {} }), { code: 'config' });
  const broken = await rig({ tapSinks: () => { throw new Error('/secret/path unwritable'); } });
  await broken.add('A');
  const err = await broken.engine.request({ op: 'tap', sessionId: 's', tapId: 'x', legs: ['A'], sink: {} }).catch((e: unknown) => e);
  t.ok(err instanceof PbxError && err.code === 'config', 'a failing factory is a config error');
  t.notMatch(String((err as Error).message), /secret/, 'without the factory\'s words');
  const limited = await rig({ tapSinks: () => { throw new PbxError('limit', 'disk quota'); } });
  await limited.add('A');
  await t.rejects(limited.engine.request({ op: 'tap', sessionId: 's', tapId: 'x', legs: ['A'], sink: {} }), { code: 'limit' }, 'a PbxError keeps its code');
  const nothing = await rig({ tapSinks: () => undefined as unknown as TapSink });
  await nothing.add('A');
  await t.rejects(nothing.engine.request({ op: 'tap', sessionId: 's', tapId: 'x', legs: ['A'], sink: {} }), { code: 'config' });
  t.notOk((await nothing.stats()).taps, 'no tap left behind');
});

t.test('hostile tap requests are refused with protocol and make no sink', async (t) => {
  const r = await rig();
  await r.add('A');
  const good = { op: 'tap', sessionId: 's', tapId: 'rec', legs: ['A'], sink: { x: 1 } };
  const cyclic: Record<string, unknown> = {};
  cyclic['self'] = cyclic;
  const bad: [string, Record<string, unknown>, string][] = [
    ['tapId empty', { tapId: '' }, 'protocol'],
    ['tapId with a slash', { tapId: 'a/b' }, 'protocol'],
    ['tapId too long', { tapId: 'x'.repeat(65) }, 'protocol'],
    ['tapId a number', { tapId: 1 }, 'protocol'],
    ['legs not a list', { legs: 'A' }, 'protocol'],
    ['legs empty', { legs: [] }, 'protocol'],
    ['a leg twice', { legs: ['A', 'A'] }, 'protocol'],
    ['a bad leg id', { legs: ['A', 'no way'] }, 'protocol'],
    ['too many legs', { legs: Array.from({ length: 33 }, (_, i) => `L${i}`) }, 'protocol'],
    ['an unknown leg', { legs: ['A', 'Z'] }, 'not-found'],
    ['sink missing', { sink: undefined }, 'protocol'],
    ['sink null', { sink: null }, 'protocol'],
    ['sink a list', { sink: [1] }, 'protocol'],
    ['sink a string', { sink: 'file' }, 'protocol'],
    ['sink bytes', { sink: new Uint8Array(4) }, 'protocol'],
    ['sink with a function', { sink: { f: () => 1 } }, 'protocol'],
    ['sink that loops', { sink: cyclic }, 'protocol'],
    ['sink too large', { sink: { big: 'x'.repeat(5000) } }, 'limit'],
  ];
  for (const [what, patch, code] of bad) {
    await t.rejects(r.engine.request({ ...good, ...patch } as unknown as EngineRequest), { code }, what);
  }
  await t.rejects(r.engine.request({ op: 'untap', sessionId: 's', tapId: {} } as unknown as EngineRequest), { code: 'protocol' });
  t.equal(r.sinks.length, 0, 'no sink was made');
  t.notOk((await r.stats()).taps);
});

t.test('property: mutated packets on a tapped leg never crash the path; the sink gets only what passed', async (t) => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.tuple(fc.nat(200), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.integer({ min: 0, max: 200 }),
    async (flips, cut) => {
      const r = await rig();
      const a = srtpPhone();
      await r.add('A', a.security);
      await r.engine.request({ op: 'tap', sessionId: 's', tapId: 'x', legs: ['A'], sink: {} });
      const pkt = Buffer.from(ok(a.out.protectRtp(voice(1, 0xa))));
      for (const [at, v] of flips) if (at < pkt.length) pkt[at] = v;
      r.send('A', pkt.subarray(0, Math.max(0, pkt.length - cut)));
      const st = await r.leg('A');
      const dropped = Object.values(st.dropped).reduce((n, x) => n + x, 0);
      const got = r.sinks[0]!.packets.length;
      // Either it passed (and then it is exactly the clear packet) or it was dropped with a reason.
      const sound = got === 1 ? r.sinks[0]!.packets[0]!.rtp.equals(voice(1, 0xa)) && st.dropped['not-connected'] === 1 : dropped === 1;
      return sound && r.counters.get('media.packet-error') === 0;
    },
  ), { numRuns: 200 });
  t.pass();
});
