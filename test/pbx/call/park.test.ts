/**
 * Call park (pbx/features/park): a blind transfer to the park number (700)
 * puts the other party in the first free slot (701..) with music; the
 * parker hears the slot in the REFER's final NOTIFY and its leg ends; any
 * phone dialling the slot is answered by the box and joined to the parked
 * party, whose leg is never re-INVITEd; a call nobody retrieves rings the
 * parker back.
 */
import t from 'tap';
import { getHeader, type SipMessage, type SipRequest } from '../../../firmware/sip/message/index.js';
import { parkSlots } from '../../../firmware/pbx/features/index.js';
import { LATENCY, answered } from './world.js';

const MUSIC = Int16Array.from({ length: 800 }, (_, i) => Math.round(4000 * Math.sin(i)));
const parkRefer = [{ name: 'refer-to', value: '<sip:700@10.0.0.1>' }];

function sipfrags(msgs: SipMessage[]): string[] {
  return msgs.filter((m): m is SipRequest => m.kind === 'request' && m.method === 'NOTIFY')
    .map((n) => `${n.body.toString('utf8').trim()} | ${getHeader(n, 'subscription-state')?.split(';')[0]}`);
}

async function parked(): Promise<Awaited<ReturnType<typeof answered>> & { carol: ReturnType<Awaited<ReturnType<typeof answered>>['w']['phone']>; m: number }> {
  const world = await answered();
  world.w.holdMusic = MUSIC;
  const carol = world.w.phone('102');
  carol.register();
  await world.w.run(50);
  const m = world.w.mark();
  const refer = world.bob.request('REFER', { headers: parkRefer });
  await world.w.run(6 * LATENCY);
  if (refer.statuses[0] !== 202) throw new Error(`REFER got ${refer.statuses.join(',')}`);
  return { ...world, carol, m };
}

t.test('the slots follow the park number', async (t) => {
  t.same(parkSlots({ park: '700', slots: 3, timeoutMs: 1 }), ['701', '702', '703']);
  t.same(parkSlots({ park: '0700', slots: 2, timeoutMs: 1 }), ['0701', '0702'], 'the width is kept');
});

t.test('blind transfer to 700 parks the call in 701: the parker hears the slot and is released, the parked party hears music', async (t) => {
  const { w, alice, bob, m } = await parked();
  t.same(sipfrags(w.delivered(bob, m)), ['SIP/2.0 100 Trying | active', 'SIP/2.0 200 Parked at 701 | terminated'], 'the slot in the final NOTIFY');
  t.ok(w.seen(bob, m).includes('BYE'), 'the parker\'s leg ends');
  t.same(w.seen(alice, m), [], 'the parked party sees nothing: no re-INVITE, its keys and SRTP context go on');
  t.ok(w.engine.playing('a'), 'music to the parked party');
  t.notOk(w.engine.local('b'), 'the parker\'s ports are freed');
  const v = w.calls();
  t.equal(v.length, 1);
  t.equal(v[0]!.parked, '701', 'the view shows the slot');
  t.match(v[0]!.notes ?? [], [/parked at 701 by 101/]);
  t.equal(w.counters.get('park.parked'), 1);
});

t.test('dialling the slot retrieves the call: the box answers the retriever and joins it to the parked party', async (t) => {
  const { w, alice, carol } = await parked();
  const m = w.mark();
  const get = carol.call('701');
  await w.run(6 * LATENCY);
  t.equal(get.final?.status, 200, 'the retriever is answered by the box');
  t.match(get.final?.body.toString() ?? '', /m=audio [1-9]\d* RTP\/AVP 0/, 'with the box\'s SDP');
  t.same(w.seen(alice, m), [], 'the parked party is not re-INVITEd');
  t.equal(w.engine.playing('a'), undefined, 'the music stops');
  const v = w.calls();
  t.equal(v.length, 1);
  t.same([v[0]!.legs.a.party, v[0]!.legs.b?.party], ['100', '102'], 'the retriever takes the parker\'s place');
  t.equal(v[0]!.parked, undefined, 'no longer parked');
  t.same(v[0]!.notes, ['parked at 701 by 101', 'retrieved from 701 by 102']);
  const id = [...(w.engine.legs() ?? [])].find((l) => l !== 'a');
  t.ok(id && w.engine.connected('a', id) && w.engine.connected(id, 'a'), 'media flows both ways');

  // Dialling the slot again finds it empty.
  const dave = w.phone('103');
  dave.register();
  await w.run(50);
  const again = dave.call('701');
  await w.run(6 * LATENCY);
  t.equal(again.final?.status, 480);
  t.equal(again.final?.reason, 'Nothing Parked At 701');

  // The retriever hangs up: the parked party's call ends.
  const m2 = w.mark();
  carol.request('BYE', { callId: get.callId });
  await w.run(6 * LATENCY);
  t.ok(w.seen(alice, m2).includes('BYE'));
  t.equal(w.calls().length, 0);
  t.equal(w.counters.get('park.retrieved'), 1);
  t.equal(w.internalErrors, 0);
});

t.test('a parked party\'s own re-INVITE is answered by the box; the music goes on', async (t) => {
  const { w, alice } = await parked();
  const m = w.mark();
  const re = alice.request('INVITE', { body: alice.sdp() });
  await w.run(6 * LATENCY);
  t.same(re.statuses, [200], 'answered, not passed to a phone that is gone');
  t.ok(w.engine.playing('a'), 'still music');
  t.notOk(w.seen(alice, m).includes('BYE'));
  t.equal(w.calls()[0]?.parked, '701');
});

t.test('the parked party hangs up: the slot is free again', async (t) => {
  const { w, alice, carol } = await parked();
  alice.request('BYE');
  await w.run(6 * LATENCY);
  t.equal(w.calls().length, 0);
  t.equal(w.records.at(-1)?.endReason, 'bye-caller', 'the call\'s record says who ended it');
  const get = carol.call('701');
  await w.run(6 * LATENCY);
  t.equal(get.final?.status, 480, 'nothing parked any more');
  await w.run(w.park.timeoutMs + 10 * LATENCY);
  t.equal(w.counters.get('park.timeout'), 0, 'no ring back for a call that ended');
});

t.test('nobody retrieves: after the park time the parker rings back and takes the call when it answers', async (t) => {
  const { w, alice, bob } = await parked();
  const ringsBefore = bob.incoming.length;
  await w.run(w.park.timeoutMs + 10 * LATENCY);
  const back = bob.incoming[ringsBefore];
  t.ok(back, 'the parker rings');
  if (!back) return;
  t.match(getHeader(back.req, 'from') ?? '', /sip:100@/, 'with the parked party calling');
  t.equal(w.calls()[0]?.parked, undefined, 'the slot is freed');
  t.ok(w.engine.playing('a'), 'the parked party waits with music');
  back.answer();
  await w.run(6 * LATENCY);
  t.equal(w.engine.playing('a'), undefined, 'the music stops');
  const v = w.calls();
  t.same([v[0]!.legs.a.party, v[0]!.legs.b?.party], ['100', '101']);
  t.same(v[0]!.notes, ['parked at 701 by 101', 'not retrieved from 701: rang 101 back', '101 answered the ring back']);
  t.equal(w.counters.get('park.timeout'), 1);
  t.notOk(w.seen(alice).includes('INVITE'), 'the parked party was never re-INVITEd');
});

t.test('nobody retrieves and the parker does not answer: the parked party is hung up, not left in music', async (t) => {
  const { w, alice, bob } = await parked();
  const ringsBefore = bob.incoming.length;
  await w.run(w.park.timeoutMs + 10 * LATENCY);
  const m = w.mark();
  bob.incoming[ringsBefore]!.respond(486);
  await w.run(6 * LATENCY);
  t.ok(w.seen(alice, m).includes('BYE'));
  t.equal(w.calls().length, 0);
});

t.test('every slot taken: the parker hears 486 and keeps its call; dialling 700 itself explains', async (t) => {
  const { w, bob } = await answered();
  w.park = { ...w.park, slots: 0 };
  const m = w.mark();
  bob.request('REFER', { headers: parkRefer });
  await w.run(6 * LATENCY);
  t.same(sipfrags(w.delivered(bob, m)), ['SIP/2.0 100 Trying | active', 'SIP/2.0 486 All Park Slots Busy | terminated']);
  t.notOk(w.seen(bob, m).includes('BYE'), 'the parker keeps its call');
  t.equal(w.phase, 'answered');
  const dave = w.phone('103');
  dave.register();
  await w.run(50);
  const direct = dave.call('700');
  await w.run(6 * LATENCY);
  t.equal(direct.final?.status, 403);
  t.equal(direct.final?.reason, 'Transfer A Call Here To Park It');
});
