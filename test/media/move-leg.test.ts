/**
 * 'move-leg' (attended transfer, pickup, park): a leg goes into another
 * session with its sockets, latch and SRTP contexts, so a packet replayed
 * after the move is still a replay (RFC 3711 3.3.2) and the box still sends
 * where the phone's packets really come from (RFC 4961); what it had in the
 * old session (connections, player, mixer, taps) stays behind.
 */
import t from 'tap';
import type { EngineRequest } from '../../firmware/media/index.js';
import { ok, rtp } from './helpers.js';
import { PHONES, header, rig, srtpPhone, tone } from './features.js';

const voice = (seq: number, ssrc: number): Buffer => rtp({ pt: 0, seq, ts: seq * 160, ssrc, payload: Buffer.alloc(160, seq & 0xff) });

t.test('a moved SRTP leg keeps its replay window, its rollover state and its latch, and leaves its old connections behind', async (t) => {
  const r = await rig();
  await r.engine.request({ op: 'create', sessionId: 's2' });
  const a = srtpPhone();
  const la = await r.add('A', a.security);
  await r.add('B');
  await r.add('C', undefined, 's2');
  await r.connect('A', 'B');
  await r.connect('B', 'A');
  // A's phone is behind a NAT: its packets come from another port than its SDP says, and the box latches to it.
  const nat = { address: PHONES['A']!.address, port: 40000 };
  const fromA: Buffer[] = [];
  for (let seq = 1; seq <= 5; seq++) {
    const wire = ok(a.out.protectRtp(voice(seq, 0xa)));
    fromA.push(wire);
    r.net.at(la.rtpPort).deliver(Buffer.from(wire), nat);
  }
  t.equal(r.heard('B').length, 5, 'A reaches B before the move');
  r.send('B', voice(1, 0xb));
  t.equal(r.net.at(la.rtpPort).sent.at(-1)!.port, 40000, 'latched to the NAT port');

  await r.engine.request({ op: 'move-leg', sessionId: 's', leg: 'A', toSessionId: 's2', as: 'X' });
  await r.connect('X', 'C', 's2');
  await r.connect('C', 'X', 's2');
  const old = await r.stats('s');
  t.same(Object.keys(old.legs), ['B'], 'A is gone from the old session');
  t.same(old.connections, [], 'with both its connections');
  const moved = await r.leg('X', 's2');
  t.same(moved.local, la, 'the same ports');
  t.equal(moved.security, 'srtp');
  t.ok(moved.latched, 'still latched');
  t.same(moved.remote, nat, 'to where its packets came from');

  r.net.at(la.rtpPort).deliver(Buffer.from(fromA[2]!), nat);
  t.equal((await r.leg('X', 's2')).dropped['srtp-replay'], 1, 'a packet replayed after the move is a replay');
  t.equal(r.heard('C').length, 0, 'and reaches nobody');
  r.net.at(la.rtpPort).deliver(ok(a.out.protectRtp(voice(6, 0xa))), nat);
  t.equal(r.heard('C').length, 1, 'the next genuine one goes to C');
  t.same(r.heard('C')[0], voice(6, 0xa), 'decrypted by the same receive context');
  t.equal(r.heard('B').length, 5, 'and not to B');
  r.send('C', voice(1, 0xc));
  const toX = r.net.at(la.rtpPort).sent.at(-1)!;
  t.equal(toX.port, 40000, 'C\'s media goes to A\'s latched address');
  t.same(ok(a.in.unprotectRtp(toX.data)), voice(1, 0xc), 'protected under A\'s own tx key');
  t.same(r.events.filter((e) => e.type === 'first-packet').map((e) => e.type === 'first-packet' && e.leg), ['A', 'B', 'C'],
    'no second first-packet for the moved leg');
});

t.test('the leg\'s player, mixer membership and taps stay behind in the old session', async (t) => {
  const r = await rig();
  await r.engine.request({ op: 'create', sessionId: 's2' });
  await r.add('A');
  await r.add('B');
  await r.engine.request({ op: 'play', sessionId: 's', leg: 'A', pcm: tone(500, 800), codec: 'PCMU', payloadType: 0 });
  await r.engine.request({ op: 'mix', sessionId: 's', mixer: 'm', leg: 'B', codec: 'PCMU', payloadType: 0 });
  await r.engine.request({ op: 'tap', sessionId: 's', tapId: 'rec', legs: ['A', 'B'], sink: { to: 'x' } });
  await r.engine.request({ op: 'move-leg', sessionId: 's', leg: 'A', toSessionId: 's2' });
  await r.engine.request({ op: 'move-leg', sessionId: 's', leg: 'B', toSessionId: 's2' });
  const sentA = r.heard('A').length;
  r.clock.advance(200);
  t.equal(r.heard('A').length, sentA, 'the player stopped');
  const s2 = await r.stats('s2');
  t.notOk(s2.legs['A']!.playing);
  t.notOk(s2.legs['B']!.mixer);
  const s = await r.stats('s');
  t.notOk(s.mixers, 'the mixer lost its only member and is gone');
  t.same(s.taps, [{ tapId: 'rec', legs: [] }], 'the tap stays, without the moved legs');
  r.send('A', voice(1, 0xa));
  t.same(r.sinks[0]!.packets, [], 'and hears nothing of them');
  t.equal(r.sinks[0]!.closed, 0, 'the sink is not closed by a move');
  await r.engine.request({ op: 'connect', sessionId: 's2', from: 'A', to: 'B' });
  r.send('A', voice(2, 0xa));
  t.equal(header(r.heard('B').at(-1)!).ssrc, 0xa, 'no longer a mixer member: B hears its new connection');
});

t.test('after the move the leg\'s packets count as media of its new session; the old one does not time out because of it', async (t) => {
  const r = await rig({ mediaTimeoutMs: 1000 });
  await r.engine.request({ op: 'create', sessionId: 's2' });
  await r.add('A');
  await r.add('B');
  await r.add('C', undefined, 's2');
  await r.connect('A', 'B');
  await r.connect('B', 'A');
  for (let i = 1; i <= 40; i++) {
    r.send('A', voice(i, 0xa));
    r.send('B', voice(i, 0xb));
    r.clock.advance(20);
  }
  await r.engine.request({ op: 'move-leg', sessionId: 's', leg: 'B', toSessionId: 's2' });
  await r.connect('B', 'C', 's2');
  await r.connect('C', 'B', 's2');
  // B keeps talking on its own socket; C is silent.
  for (let i = 41; i <= 200; i++) {
    r.send('B', voice(i, 0xb));
    r.clock.advance(20);
  }
  t.same(r.events.filter((e) => e.type === 'media-timeout'), [], 'neither session timed out: B\'s packets keep s2 alive, s expects no media');
  t.equal(r.heard('C').length, 160, 'C heard B');
  r.clock.advance(1500);
  t.same(r.events.filter((e) => e.type === 'media-timeout').map((e) => e.type === 'media-timeout' && e.sessionId), ['s2'],
    'once B stops, s2 times out (its timer is alive), s never');
});

t.test('move-leg refusals: conflict, not found, malformed, still opening; a refused move changes nothing', async (t) => {
  const r = await rig();
  await r.engine.request({ op: 'create', sessionId: 's2' });
  await r.add('A');
  await r.add('B');
  await r.add('C', undefined, 's2');
  await r.connect('A', 'B');
  const mv = (patch: Record<string, unknown>): Promise<unknown> =>
    r.engine.request({ op: 'move-leg', sessionId: 's', leg: 'A', toSessionId: 's2', ...patch } as unknown as EngineRequest);
  await t.rejects(mv({ as: 'C' }), { code: 'conflict' }, 'the id is taken there');
  await t.rejects(mv({ toSessionId: 'nope' }), { code: 'not-found' });
  await t.rejects(mv({ sessionId: 'nope' }), { code: 'not-found' });
  await t.rejects(mv({ leg: 'Z' }), { code: 'not-found' });
  await t.rejects(mv({ as: 'bad id' }), { code: 'protocol' });
  await t.rejects(mv({ as: '' }), { code: 'protocol' });
  await t.rejects(mv({ as: 5 }), { code: 'protocol' });
  await t.rejects(mv({ leg: null }), { code: 'protocol' });
  await t.rejects(mv({ toSessionId: 42 }), { code: 'protocol' });
  await t.rejects(mv({ toSessionId: 's' }), { code: 'protocol' }, 'to where it is');
  const pending = r.engine.request({ op: 'add-leg', sessionId: 's', leg: 'D' });
  await t.rejects(r.engine.request({ op: 'move-leg', sessionId: 's', leg: 'D', toSessionId: 's2' }), { code: 'invalid-state' });
  await pending;
  await t.rejects(r.engine.request({ op: 'move-leg', sessionId: 's2', leg: 'C', toSessionId: 's' , as: 'D' }), { code: 'conflict' });
  const s = await r.stats('s');
  t.same(Object.keys(s.legs).sort(), ['A', 'B', 'D']);
  t.same(s.connections, [{ from: 'A', to: 'B' }], 'nothing changed');

  // A rename inside one session is a move too: connections dropped, the leg under its new name.
  await r.engine.request({ op: 'move-leg', sessionId: 's', leg: 'A', toSessionId: 's', as: 'A2' });
  const after = await r.stats('s');
  t.same(Object.keys(after.legs).sort(), ['A2', 'B', 'D']);
  t.same(after.connections, []);
  r.send('A', voice(1, 0xa));
  t.equal((await r.leg('A2')).dropped['not-connected'], 1, 'its packets are counted under the new name');
  await r.engine.request({ op: 'delete', sessionId: 's' });
  await r.engine.request({ op: 'delete', sessionId: 's2' });
  t.equal(r.net.bound.size, 0, 'every socket closed, moved or not');
});
