/**
 * An INVITE with Replaces arriving directly (RFC 3891, pbx/features/replaces):
 * a phone's new INVITE naming a dialog of a call through the box takes that
 * dialog's place: the box answers it itself, joins its leg to the party that
 * stays (never re-INVITEd) and BYEs the replaced dialog. No match: 481; the
 * caller's early dialog: 481; a ringing callee's early dialog: a pickup;
 * early-only on a confirmed dialog: 486; a malformed header: 400.
 */
import t from 'tap';
import { fromTag, getCallId, getHeader, toTag } from '../../../firmware/sip/message/index.js';
import { LATENCY, World, answered } from './world.js';

const replaces = (callId: string, to: string, from: string, extra = ''): { name: string; value: string }[] =>
  [{ name: 'replaces', value: `${callId};to-tag=${to};from-tag=${from}${extra}` }];

async function three(): Promise<Awaited<ReturnType<typeof answered>> & { carol: ReturnType<World['phone']> }> {
  const world = await answered();
  const carol = world.w.phone('102');
  carol.register();
  await world.w.run(50);
  return { ...world, carol };
}

t.test('a confirmed dialog matches: the new phone takes the replaced leg\'s place, audio joined, the replaced dialog gets BYE', async (t) => {
  const { w, alice, bob, inc, carol } = await three();
  const bobDialog = bob.dialogs.get(inc.callId)!;
  const m = w.mark();
  const out = carol.call('100', { headers: [...replaces(inc.callId, bobDialog.localTag, bobDialog.remoteTag), { name: 'require', value: 'replaces' }] });
  await w.run(6 * LATENCY);
  t.equal(out.final?.status, 200, 'the box answers the INVITE with Replaces itself (Require: replaces is honoured, no 420)');
  t.match(out.final?.body.toString() ?? '', /m=audio [1-9]\d* RTP\/AVP 0/, 'with an SDP answer to its own offer');
  t.match(getHeader(out.final!, 'supported') ?? '', /replaces/);
  t.ok(w.seen(bob, m).includes('BYE'), 'the replaced dialog ends with BYE');
  t.same(w.seen(alice, m), [], 'the party that stays is not re-INVITEd');
  const v = w.calls();
  t.equal(v.length, 1);
  t.same([v[0]!.legs.a.party, v[0]!.legs.b?.party], ['100', '102'], 'the new phone is in the call');
  t.match(v[0]!.notes ?? [], [/101 replaced by 102/]);
  const id = [...(w.engine.legs() ?? [])].find((l) => l !== 'a');
  t.ok(id && id !== 'b' && w.engine.connected('a', id) && w.engine.connected(id, 'a'), 'media flows both ways between the stayer and the new leg');
  t.equal(w.engine.legs()?.length, 2, 'the replaced leg\'s ports are freed');
  t.equal(w.counters.get('replaces.joined'), 1);

  // The joined call ends normally from the new phone.
  const m2 = w.mark();
  carol.request('BYE', { callId: out.callId });
  await w.run(6 * LATENCY);
  t.ok(w.seen(alice, m2).includes('BYE'));
  t.equal(w.calls().length, 0);
  t.equal(w.internalErrors, 0);
});

t.test('no dialog matches: 481; early-only on a confirmed dialog: 486', async (t) => {
  const { w, bob, inc, carol } = await three();
  const none = carol.call('100', { headers: replaces('nobody@nowhere', 'aaaa', 'bbbb') });
  await w.run(6 * LATENCY);
  t.equal(none.final?.status, 481, 'RFC 3891 3: no match');
  t.equal(w.counters.get('replaces.unknown'), 1);
  const d = bob.dialogs.get(inc.callId)!;
  const early = carol.call('100', { headers: replaces(inc.callId, d.localTag, d.remoteTag, ';early-only') });
  await w.run(6 * LATENCY);
  t.equal(early.final?.status, 486, 'early-only and the dialog is confirmed');
  t.equal(w.phase, 'answered', 'the call goes on untouched');
  t.equal(w.calls()[0]!.legs.b?.party, '101');
});

t.test('early dialogs: the caller\'s (the box did not start it) gets 481; a ringing callee\'s is picked up', async (t) => {
  const w = new World();
  const alice = w.phone('100');
  const bob = w.phone('101');
  const carol = w.phone('102');
  await w.registerAll();
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  const inc = bob.incoming[0]!;
  inc.ring();
  await w.run(4 * LATENCY);
  const ringing = out.responses.find((r) => r.status === 180)!;
  t.ok(ringing, 'the caller hears ringing');

  const callerSide = carol.call('101', { headers: replaces(out.callId, toTag(ringing)!, fromTag(out.request)!) });
  await w.run(6 * LATENCY);
  t.equal(callerSide.final?.status, 481, 'RFC 3891 3: an early dialog this UA did not initiate');
  t.equal(w.phase, 'ringing', 'the call still rings');

  const calleeSide = carol.call('101', { headers: replaces(inc.callId, inc.tag, fromTag(inc.req)!) });
  await w.run(6 * LATENCY);
  t.equal(calleeSide.final?.status, 200, 'the box started the callee\'s early dialog: the new phone picks the call up');
  t.equal(out.final?.status, 200, 'the caller is answered');
  t.ok(inc.cancelled, 'the ringing phone is cancelled');
  t.equal(w.calls()[0]!.legs.b?.party, '102');
  t.equal(w.counters.get('replaces.pickup'), 1);
  t.equal(getCallId(inc.req), inc.callId);
  t.equal(w.internalErrors, 0);
});

t.test('hostile Replaces: malformed or repeated headers get 400 and are counted; the call is untouched', async (t) => {
  const { w, inc, bob, carol } = await three();
  const d = bob.dialogs.get(inc.callId)!;
  const bad = [
    [{ name: 'replaces', value: '' }],
    [{ name: 'replaces', value: `${inc.callId};to-tag=${d.localTag}` }],
    [{ name: 'replaces', value: `;to-tag=a;from-tag=b` }],
    [{ name: 'replaces', value: `${'x'.repeat(600)};to-tag=a;from-tag=b` }],
    [...replaces(inc.callId, d.localTag, d.remoteTag), ...replaces(inc.callId, d.localTag, d.remoteTag)],
  ];
  for (const headers of bad) {
    const r = carol.call('100', { headers });
    await w.run(6 * LATENCY);
    t.equal(r.final?.status, 400, `400 for ${headers.map((h) => h.value.slice(0, 30)).join(' + ')}`);
  }
  t.equal(w.counters.get('replaces.bad'), bad.length, 'each one counted');
  t.equal(w.phase, 'answered');
  t.equal(w.calls()[0]!.legs.b?.party, '101');
  t.equal(w.internalErrors, 0);
});
