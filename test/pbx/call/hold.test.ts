/**
 * Hold and resume with music on hold (RFC 3264 8.4, RFC 6337 5.3): when the
 * box holds the keys it answers the holder's re-offer itself and plays music
 * into the other leg; the held phone sees no re-INVITE, so its media context
 * never restarts. With music off, or on a call relayed end to end, the hold
 * passes across as any re-offer does (b2bua-renegotiation.test.ts).
 */
import t from 'tap';
import { parseSdp } from '../../../firmware/sdp/index.js';
import { phoneSdp } from './sdp.js';
import { LATENCY, World, answered, connect } from './world.js';

const MUSIC = Int16Array.from({ length: 8000 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 500 * i) / 8000)));

function direction(body: Buffer): string | undefined {
  const sd = parseSdp(body);
  const names = new Set(['sendrecv', 'sendonly', 'recvonly', 'inactive']);
  return sd.media[0]?.attributes.find((a) => names.has(a.name))?.name ?? sd.attributes.find((a) => names.has(a.name))?.name ?? 'sendrecv';
}

async function held(): Promise<Awaited<ReturnType<typeof answered>>> {
  const world = await answered();
  world.w.holdMusic = MUSIC;
  return world;
}

t.test('the caller holds (sendonly): the box answers recvonly itself, the callee sees nothing and hears the music; resume stops it', async (t) => {
  const { w, alice, bob } = await held();
  const m = w.mark();
  const hold = alice.request('INVITE', { body: alice.sdp('sendonly') });
  await w.run(4 * LATENCY);
  t.same(hold.statuses, [200], 'the hold is answered');
  const answer = hold.final!.body;
  t.equal(direction(answer), 'recvonly', 'RFC 3264 6.1: a sendonly offer is answered recvonly');
  t.same(w.seen(bob, m), [], 'the held phone gets no re-INVITE: its SRTP context, SSRC and sequence never restart');
  t.same(w.engine.playing('b'), { codec: 'PCMU', payloadType: 0, samples: MUSIC.length }, 'music plays into the held leg, in the codec it takes');
  t.equal(w.engine.playing('a'), undefined, 'nothing plays to the holder');
  t.equal(w.engine.remote('a')?.direction, 'sendonly', 'the engine sends nothing to the holder');
  t.ok(w.engine.connected('a', 'b') && w.engine.connected('b', 'a'), 'connections stay: the player mutes them while it plays');
  const v = w.calls()[0]!;
  t.same([v.legs.a.held, v.legs.b?.music], [true, true], 'the views show who holds and who hears music');
  t.equal(w.counters.get('hold.held'), 1);

  const m2 = w.mark();
  const resume = alice.request('INVITE', { body: alice.sdp('sendrecv') });
  await w.run(4 * LATENCY);
  t.same(resume.statuses, [200]);
  const answer2 = resume.final!.body;
  t.equal(direction(answer2), 'sendrecv');
  t.same(w.seen(bob, m2), [], 'resume does not touch the held phone either');
  t.equal(w.engine.playing('b'), undefined, 'the music stops: the holder is heard again at once');
  t.equal(w.engine.remote('a')?.direction, 'sendrecv');
  const v2 = w.calls()[0]!;
  t.same([v2.legs.a.held, v2.legs.b?.music], [undefined, undefined]);
  await w.run(40_000);
  t.equal(w.phase, 'answered', 'both 2xx were ACKed: nothing timed out');
  t.equal(w.internalErrors, 0);
});

t.test('the old c=0.0.0.0 hold (RFC 2543) and inactive count as hold; the callee can hold too', async (t) => {
  const { w, alice, bob } = await held();
  const zero = Buffer.from(alice.sdp('sendrecv').toString('utf8').replace(/c=IN IP4 [0-9.]+/g, 'c=IN IP4 0.0.0.0'));
  const hold = alice.request('INVITE', { body: zero });
  await w.run(4 * LATENCY);
  t.same(hold.statuses, [200]);
  t.ok(w.engine.playing('b'), 'c=0.0.0.0 puts the callee on music');
  const resume = alice.request('INVITE', { body: alice.sdp() });
  await w.run(4 * LATENCY);
  t.same(resume.statuses, [200]);
  t.equal(w.engine.playing('b'), undefined);

  const m = w.mark();
  const fromBob = bob.request('INVITE', { body: bob.sdp('inactive') });
  await w.run(4 * LATENCY);
  t.same(fromBob.statuses, [200]);
  t.same(w.seen(alice, m), [], 'the caller, held by the callee, sees nothing');
  t.ok(w.engine.playing('a'), 'the caller hears the music');
  const up = bob.request('UPDATE', { body: bob.sdp('sendrecv') });
  await w.run(4 * LATENCY);
  t.same(up.statuses, [200], 'an UPDATE resumes as a re-INVITE does (RFC 3311)');
  t.equal(w.engine.playing('a'), undefined);
  t.equal(w.internalErrors, 0);
});

t.test('an ordinary re-offer that holds nothing still crosses to the other phone with music on', async (t) => {
  const { w, alice, bob } = await held();
  alice.mediaPort = 31_000;
  const m = w.mark();
  const moved = alice.request('INVITE', { body: alice.sdp() });
  await w.run(4 * LATENCY);
  t.same(moved.statuses, [200]);
  t.same(w.seen(bob, m), ['INVITE', 'ACK'], 'a new address is not a hold: it goes across');
  t.equal(w.engine.playing('b'), undefined);
});

t.test('music goes in the codec the held phone took: PCMA with its number', async (t) => {
  const w = new World();
  w.holdMusic = MUSIC;
  const alice = w.phone('100');
  const bob = w.phone('101');
  await w.registerAll();
  await connect(w, alice, bob, { sdp: alice.sdp('sendrecv', [8, 101]) });
  const hold = alice.request('INVITE', { body: alice.sdp('sendonly', [8, 101]) });
  await w.run(4 * LATENCY);
  t.same(hold.statuses, [200]);
  t.same(w.engine.playing('b'), { codec: 'PCMA', payloadType: 8, samples: MUSIC.length });
});

t.test('a held phone that takes neither PCMU nor PCMA is held without music, and the resume still works', async (t) => {
  const w = new World();
  w.holdMusic = MUSIC;
  const alice = w.phone('100');
  const bob = w.phone('101');
  await w.registerAll();
  alice.call('101', { sdp: alice.sdp('sendrecv', [9, 0]) });
  await w.run(4 * LATENCY);
  const inc = bob.incoming[0]!;
  inc.answer(phoneSdp({ address: bob.address, port: bob.mediaPort, codecs: [9] }));
  await w.run(4 * LATENCY);
  t.equal(w.phase, 'answered', 'a G.722-only callee');
  const hold = alice.request('INVITE', { body: alice.sdp('sendonly', [9, 0]) });
  await w.run(4 * LATENCY);
  t.same(hold.statuses, [200], 'the hold is answered all the same');
  t.equal(w.engine.playing('b'), undefined, 'no music: the box makes G.711 music only');
  t.equal(w.calls()[0]!.legs.a.held, true);
  const resume = alice.request('INVITE', { body: alice.sdp('sendrecv', [9, 0]) });
  await w.run(4 * LATENCY);
  t.same(resume.statuses, [200]);
  t.equal(w.calls()[0]!.legs.a.held, undefined);
  t.equal(w.internalErrors, 0);
});
