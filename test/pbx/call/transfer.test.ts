/**
 * Blind transfer (RFC 3515, RFC 5589 4): the box carries out a REFER itself.
 * The target rings with an offer made from the transferee's media, takes the
 * transferor's place when it answers, and the transferee's leg is never
 * re-INVITEd (its keys and SRTP context go on). Progress reaches the
 * transferor as message/sipfrag NOTIFYs (RFC 3515 2.4.5).
 */
import t from 'tap';
import { getHeader, type SipMessage, type SipRequest } from '../../../firmware/sip/message/index.js';
import { LATENCY, answered, connect } from './world.js';

const MUSIC = Int16Array.from({ length: 800 }, (_, i) => Math.round(4000 * Math.sin(i)));

function notifies(msgs: SipMessage[]): string[] {
  return msgs.filter((m): m is SipRequest => m.kind === 'request' && m.method === 'NOTIFY')
    .map((n) => `${n.body.toString('utf8').trim()} | ${getHeader(n, 'subscription-state')?.split(';')[0]} | ${getHeader(n, 'event')} | ${getHeader(n, 'content-type')}`);
}

async function three(): Promise<Awaited<ReturnType<typeof answered>> & { carol: ReturnType<Awaited<ReturnType<typeof answered>>['w']['phone']> }> {
  const world = await answered();
  const carol = world.w.phone('102');
  carol.register();
  await world.w.run(50);
  return { ...world, carol };
}

const referTo = (ext: string): { name: string; value: string }[] => [{ name: 'refer-to', value: `<sip:${ext}@10.0.0.1>` }];

t.test('blind transfer: the callee refers the caller to a third phone; the target rings, answers, and takes the transferor\'s place', async (t) => {
  const { w, alice, bob, carol } = await three();
  const m = w.mark();
  const refer = bob.request('REFER', { headers: referTo('102') });
  await w.run(4 * LATENCY);
  t.same(refer.statuses, [202], 'REFER accepted (RFC 3515 2.4.2)');
  const inc = carol.incoming[0];
  t.ok(inc, 'the target rings');
  if (!inc) return;
  t.match(getHeader(inc.req, 'from') ?? '', /sip:100@/, 'the target sees the transferee calling');
  t.ok(getHeader(inc.req, 'referred-by'), 'with Referred-By (RFC 3892)');
  inc.ring();
  await w.run(4 * LATENCY);
  inc.answer();
  await w.run(6 * LATENCY);
  t.same(notifies(w.delivered(bob, m)), [
    'SIP/2.0 100 Trying | active | refer | message/sipfrag;version=2.0',
    'SIP/2.0 180 Ringing | active | refer | message/sipfrag;version=2.0',
    'SIP/2.0 200 OK | terminated | refer | message/sipfrag;version=2.0',
  ], 'the transferor hears the progress, the last NOTIFY ends the subscription');
  t.ok(w.seen(bob, m).includes('BYE'), 'the transferor\'s leg ends');
  t.same(w.seen(alice, m), [], 'the transferee sees no re-INVITE: its media context goes on untouched');
  t.notOk(w.engine.local('b'), 'the transferor\'s ports are freed');
  const v = w.calls();
  t.equal(v.length, 1);
  t.same([v[0]!.legs.a.party, v[0]!.legs.b?.party], ['100', '102'], 'the call now joins the transferee and the target');
  const id = [...(w.engine.legs() ?? [])].find((l) => l !== 'a');
  t.ok(id && w.engine.connected('a', id) && w.engine.connected(id, 'a'), 'media flows both ways between transferee and target');
  t.match(v[0]!.notes ?? [], [/transferred by 101 to 102/]);

  // The joined legs renegotiate with each other: the target's re-INVITE crosses to the transferee.
  const m2 = w.mark();
  const re = carol.request('INVITE', { body: carol.sdp() });
  await w.run(6 * LATENCY);
  t.same(re.statuses, [200]);
  t.same(w.seen(alice, m2), ['INVITE', 'ACK'], 'a re-offer from the target reaches the transferee');

  alice.request('BYE');
  await w.run(6 * LATENCY);
  t.ok(w.seen(carol, m2).includes('BYE'), 'the transferee hanging up ends the target\'s leg');
  t.equal(w.calls().length, 0);
  t.equal(w.counters.get('transfer.done'), 1);
  t.equal(w.internalErrors, 0);
});

t.test('the target is busy: the transferor hears 486 in the NOTIFY and keeps its call', async (t) => {
  const { w, alice, bob, carol } = await three();
  const m = w.mark();
  bob.request('REFER', { headers: referTo('102') });
  await w.run(4 * LATENCY);
  carol.incoming[0]!.respond(486);
  await w.run(6 * LATENCY);
  t.same(notifies(w.delivered(bob, m)).map((n) => n.split(' | ').slice(0, 2).join(' | ')), ['SIP/2.0 100 Trying | active', 'SIP/2.0 486 Busy Here | terminated']);
  t.notOk(w.seen(bob, m).includes('BYE'), 'the transferor\'s call goes on');
  t.ok(w.engine.connected('a', 'b') && w.engine.connected('b', 'a'));
  t.equal(w.engine.legs()?.length, 2, 'the target\'s ports are freed');
  t.same(w.seen(alice, m), []);
  t.equal(w.phase, 'answered');
});

t.test('unknown target: 202 then a NOTIFY with 404; a REFER without Refer-To gets 400', async (t) => {
  const { w, bob } = await three();
  const m = w.mark();
  const r = bob.request('REFER', { headers: referTo('999') });
  await w.run(4 * LATENCY);
  t.same(r.statuses, [202]);
  t.same(notifies(w.delivered(bob, m)).map((n) => n.split(' | ')[0]), ['SIP/2.0 100 Trying', 'SIP/2.0 404 Not Found']);
  const bad = bob.request('REFER');
  await w.run(4 * LATENCY);
  t.same(bad.statuses, [400]);
  t.equal(w.phase, 'answered');
});

t.test('RFC 5589 6: the transferor hangs up before the target answers; the transferee hears music, then the target', async (t) => {
  const { w, alice, bob, carol } = await three();
  w.holdMusic = MUSIC;
  bob.request('REFER', { headers: referTo('102') });
  await w.run(4 * LATENCY);
  const m = w.mark();
  bob.request('BYE');
  await w.run(4 * LATENCY);
  t.equal(w.calls().length, 1, 'the call stays up for the transferee');
  t.ok(w.engine.playing('a'), 'the transferee waits with music');
  carol.incoming[0]!.answer();
  await w.run(6 * LATENCY);
  t.equal(w.engine.playing('a'), undefined, 'the music stops when the target answers');
  t.same(notifies(w.delivered(bob, m)), [], 'nothing more goes to the transferor that left');
  t.same(w.calls()[0]!.legs.b?.party, '102');
  t.same(w.seen(alice, m), []);
});

t.test('the transferor left and the target does not answer: the transferee\'s call ends', async (t) => {
  const { w, alice, bob, carol } = await three();
  bob.request('REFER', { headers: referTo('102') });
  await w.run(4 * LATENCY);
  bob.request('BYE');
  await w.run(4 * LATENCY);
  const m = w.mark();
  carol.incoming[0]!.respond(603);
  await w.run(6 * LATENCY);
  t.ok(w.seen(alice, m).includes('BYE'), 'the transferee is hung up, not left in silence');
  t.equal(w.calls().length, 0);
});

t.test('attended transfer (RFC 5589 7, Replaces): the transferor\'s two calls through the box become one between the parties that stay', async (t) => {
  const { w, alice, bob, carol } = await three();
  const first = [...alice.dialogs.keys()][0]!;
  await connect(w, alice, carol);
  const second = [...alice.dialogs.keys()].find((k) => k !== first)!;
  const d2 = alice.dialogs.get(second)!;
  t.equal(w.calls().length, 2);
  const before = w.engine.moves.length;
  const m = w.mark();
  const replaces = encodeURIComponent(`${d2.callId};to-tag=${d2.remoteTag};from-tag=${d2.localTag}`);
  const refer = alice.request('REFER', { callId: first, headers: [{ name: 'refer-to', value: `<sip:102@10.0.0.1?Replaces=${replaces}>` }] });
  await w.run(8 * LATENCY);
  t.same(refer.statuses, [202]);
  t.same(notifies(w.delivered(alice, m)).map((n) => n.split(' | ').slice(0, 2).join(' | ')), ['SIP/2.0 100 Trying | active', 'SIP/2.0 200 OK | terminated']);
  t.equal(w.seen(alice, m).filter((x) => x === 'BYE').length, 2, 'both of the transferor\'s legs end');
  t.same(w.seen(bob, m), [], 'the party that stays is not re-INVITEd');
  t.same(w.seen(carol, m), [], 'nor is the party joined to it: its leg moved with its keys');
  t.equal(w.engine.moves.length - before, 1, 'one leg moved between the media sessions');
  const calls = w.calls();
  t.equal(calls.length, 1, 'one call is left');
  t.same([calls[0]!.legs.a.party, calls[0]!.legs.b?.party].sort(), ['101', '102']);
  const session = `call-${calls[0]!.id}`;
  const legs = w.engine.legs(session)!;
  t.equal(legs.length, 2, 'the first call\'s session holds the two parties\' legs');
  t.ok(w.engine.connected(legs[0]!, legs[1]!, session) && w.engine.connected(legs[1]!, legs[0]!, session), 'media flows both ways between them');
  t.match(w.records.map((r) => r.endReason), ['transferred'], 'the second call\'s record says it was transferred');
  // The joined parties talk on: a re-INVITE from the moved leg reaches the other party.
  const m2 = w.mark();
  const re = carol.request('INVITE', { body: carol.sdp() });
  await w.run(6 * LATENCY);
  t.same(re.statuses, [200]);
  t.same(w.seen(bob, m2), ['INVITE', 'ACK']);
  bob.request('BYE');
  await w.run(6 * LATENCY);
  t.ok(w.seen(carol, m2).includes('BYE'));
  t.equal(w.calls().length, 0);
  t.equal(w.internalErrors, 0);
});

t.test('a Replaces that names no dialog gets 481; the call goes on', async (t) => {
  const { w, bob } = await three();
  const r = bob.request('REFER', { headers: [{ name: 'refer-to', value: '<sip:102@10.0.0.1?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2>' }] });
  await w.run(4 * LATENCY);
  t.same(r.statuses, [481]);
  t.equal(w.phase, 'answered');
});
