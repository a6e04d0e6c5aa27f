/**
 * Call pickup (pbx/features/pickup): a phone answers another extension's
 * ringing call, by the directed code (**EXT) or the group code (*8). The box
 * answers the caller and the picker itself, cancels the ringing phones, and
 * joins the two legs' media; a fully private call is refused in words.
 */
import t from 'tap';
import { getHeader } from '../../../firmware/sip/message/index.js';
import { LATENCY, World } from './world.js';

async function ringing(): Promise<{ w: World; alice: ReturnType<World['phone']>; bob: ReturnType<World['phone']>; carol: ReturnType<World['phone']> }> {
  const w = new World();
  const alice = w.phone('100');
  const bob = w.phone('101');
  const carol = w.phone('102');
  await w.registerAll();
  alice.call('101');
  await w.run(4 * LATENCY);
  bob.incoming[0]!.ring();
  await w.run(4 * LATENCY);
  return { w, alice, bob, carol };
}

t.test('directed pickup: **101 answers 101\'s ringing call; the caller and the picker talk, the ringing phone stops', async (t) => {
  const { w, alice, bob, carol } = await ringing();
  const m = w.mark();
  const pick = carol.call('**101');
  await w.run(6 * LATENCY);
  t.equal(pick.final?.status, 200, 'the picker is answered');
  t.match(pick.final?.body.toString() ?? '', /m=audio [1-9]\d* RTP\/AVP 0/, 'with the box\'s SDP');
  const callerFinal = w.delivered(alice, m).find((x) => x.kind === 'response' && x.status === 200);
  t.ok(callerFinal, 'the caller is answered');
  t.ok(w.seen(bob, m).includes('CANCEL'), 'the ringing phone is cancelled');
  const v = w.calls();
  t.equal(v.length, 1, 'still one call');
  t.same([v[0]!.state, v[0]!.legs.a.party, v[0]!.legs.b?.party, v[0]!.callee], ['answered', '100', '102', '102']);
  t.match(v[0]!.notes ?? [], [/picked up by 102/]);
  t.ok(w.engine.connected('a', 'b') && w.engine.connected('b', 'a'), 'media joined both ways');
  t.ok(w.engine.remote('b'), 'the picker\'s leg sends to the picker');
  t.equal(w.counters.get('pickup.done'), 1);

  // The picker hangs up: the caller gets a BYE; the call is over.
  const m2 = w.mark();
  carol.request('BYE', { callId: pick.callId });
  await w.run(6 * LATENCY);
  t.ok(w.seen(alice, m2).includes('BYE'), 'the caller hears the picker hang up');
  t.equal(w.calls().length, 0);
  t.equal(w.internalErrors, 0);
});

t.test('group pickup: *8 picks up a ringing call of the dialler\'s pickup group only', async (t) => {
  const { w, carol } = await ringing();
  const none = carol.call('*8');
  await w.run(4 * LATENCY);
  t.equal(none.final?.status, 404, 'no pickup group: 404');
  t.equal(none.final?.reason, 'No Pickup Group');
  w.configure('102', { pickupGroup: 'sales' });
  const other = carol.call('*8');
  await w.run(4 * LATENCY);
  t.equal(other.final?.status, 480, 'the ringing phone is in no group of the picker\'s');
  w.configure('101', { pickupGroup: 'sales' });
  const pick = carol.call('*8');
  await w.run(6 * LATENCY);
  t.equal(pick.final?.status, 200);
  t.equal(w.calls()[0]?.legs.b?.party, '102');
});

t.test('nothing ringing: 480 No Call To Pick Up; a phone cannot pick up its own call', async (t) => {
  const w = new World();
  const alice = w.phone('100');
  const bob = w.phone('101');
  await w.registerAll();
  const out = alice.call('**101');
  await w.run(4 * LATENCY);
  t.equal(out.final?.status, 480);
  t.equal(out.final?.reason, 'No Call To Pick Up');
  alice.call('101');
  await w.run(4 * LATENCY);
  bob.incoming[0]!.ring();
  const own = alice.call('**101');
  await w.run(4 * LATENCY);
  t.equal(own.final?.status, 480, 'the caller itself cannot pick up');
  t.equal(w.counters.get('pickup.nothing'), 2);
});

t.test('a ring group\'s ringing call is picked up by a member\'s number', async (t) => {
  const w = new World();
  const alice = w.phone('100');
  w.phone('101'); w.phone('102');
  const dave = w.phone('103');
  await w.registerAll();
  w.groups = [{ extension: '600', name: '', members: ['101', '102'], order: 'parallel', memberRingSec: 15, noAnswerTo: null }];
  alice.call('600');
  await w.run(4 * LATENCY);
  const pick = dave.call('**102');
  await w.run(6 * LATENCY);
  t.equal(pick.final?.status, 200);
  t.match(getHeader(pick.final!, 'contact') ?? '', /securepbx@/);
});
