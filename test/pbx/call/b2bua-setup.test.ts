/**
 * Call setup through call control, step by step on the fake clock: what each
 * phone receives, the call list's phase after each step, the engine's state
 * and the record written at the end.
 */
import t from 'tap';
import { getHeader, parseNameAddr, parseUri, type SipRequest } from '../../../firmware/sip/message/index.js';
import { ENGINE_ADDRESS } from './fake-engine.js';
import { sdpFacts } from './sdp.js';
import { BOX, LATENCY, World, connect } from './world.js';

async function twoPhones() {
  const w = new World();
  const alice = w.phone('100');
  const bob = w.phone('101');
  await w.registerAll();
  return { w, alice, bob };
}

t.test('setup: INVITE, 401, INVITE, 100, INVITE to the callee, 180 relayed, 200, ACK to the callee, 200 to the caller, ACK', async (t) => {
  const { w, alice, bob } = await twoPhones();
  const m = w.mark();
  const out = alice.call('101');
  await w.run(LATENCY);
  t.same(w.calls(), [], 'an unauthenticated INVITE makes no call');
  await w.run(2 * LATENCY); // 401 back, authenticated INVITE in: 100 at once and the callee's INVITE
  t.equal(w.phase, 'ringing', 'media allocated, the callee is being rung');
  t.same(w.sent(bob, m), [], 'the callee has not answered anything yet');
  await w.run(LATENCY);
  t.same(w.seen(alice, m), ['401 INVITE', '100 INVITE']);
  t.same(w.seen(bob, m), ['INVITE']);

  const inc = bob.incoming[0]!;
  const toBob: SipRequest = inc.req;
  t.equal(toBob.uri, bob.contact, 'the INVITE goes to the registered contact');
  t.equal(parseNameAddr(getHeader(toBob, 'from')!).displayName, 'Phone 100', 'the caller\'s display name is kept');
  t.equal(parseUri(parseNameAddr(getHeader(toBob, 'from')!).uri).user, '100');
  t.not(getHeader(toBob, 'call-id'), out.callId, 'leg b is a dialog of its own');
  const offerB = sdpFacts(toBob.body);
  t.same([offerB.address, offerB.port], [ENGINE_ADDRESS, w.engine.local('b')!.rtpPort], 'the callee is offered the box\'s leg-b port');
  t.same(offerB.codecs, [0, 8, 101], 'the caller\'s relayed codecs, same numbers');
  t.same(w.engine.remote('a')?.rtp, { address: alice.address, port: alice.mediaPort }, 'leg a sends to the caller\'s SDP');
  t.equal(w.engine.remote('b'), undefined, 'leg b has no remote before an answer');

  inc.ring();
  await w.run(2 * LATENCY);
  t.same(w.seen(alice, m), ['401 INVITE', '100 INVITE', '180 INVITE'], '180 relayed');
  t.equal(w.phase, 'ringing');
  t.ok(toTagOf(out.responses[1]!.headers), 'the 180 carries the box\'s tag');

  inc.answer();
  await w.run(LATENCY);
  t.equal(w.phase, 'answered', 'the callee\'s 200 answers the call');
  t.same(w.engine.remote('b')?.rtp, { address: bob.address, port: bob.mediaPort });
  await w.run(LATENCY);
  t.same(w.seen(bob, m), ['INVITE', 'ACK'], 'the box ACKs the callee\'s 200 itself');
  t.equal(bob.acks.length, 1);
  t.same(w.seen(alice, m), ['401 INVITE', '100 INVITE', '180 INVITE', '200 INVITE']);
  const ok = out.final!;
  const answerA = sdpFacts(ok.body);
  t.same([answerA.address, answerA.port], [ENGINE_ADDRESS, w.engine.local('a')!.rtpPort], 'the caller gets the box\'s leg-a port');
  t.same(answerA.codecs, [0, 8, 101]);
  t.match(getHeader(ok, 'contact'), `sip:securepbx@${BOX}:5060`, 'the box is the caller\'s dialog peer');
  t.equal(toTagOf(ok.headers), toTagOf(out.responses[2]!.headers), '180 and 200 share the box\'s tag: one dialog');
  await w.run(LATENCY);
  t.equal(w.sent(alice, m).at(-1), 'ACK');

  const [view] = w.calls();
  t.match(view, {
    caller: '100', callee: '101', state: 'answered', mode: 'relay',
    legs: { a: { party: '100', transport: 'udp', address: alice.address }, b: { party: '101', transport: 'udp', address: bob.address } },
  });
  t.equal(view!.answeredAt, w.clock.now() - 2 * LATENCY, 'answered when the callee\'s 200 arrived');
  t.same(w.records, [], 'no record while the call runs');

  await w.run(60_000);
  t.same(w.seen(alice, m), ['401 INVITE', '100 INVITE', '180 INVITE', '200 INVITE'], 'nothing more once ACKed: no 2xx resent');
  alice.request('BYE');
  await w.run(4 * LATENCY);
  t.same(w.seen(bob, m), ['INVITE', 'ACK', 'BYE'], 'the caller\'s BYE crosses to the callee');
  t.equal(w.seen(alice, m).at(-1), '200 BYE');
  t.equal(w.phase, 'none', 'the call is no longer listed');
  t.ok(w.engine.deleted(), 'media freed');
  t.equal(w.records.length, 1);
  t.match(w.records[0], { caller: '100', callee: '101', endReason: 'bye-caller', answeredAt: view!.answeredAt, endedAt: w.clock.now() - 3 * LATENCY });
  t.equal(w.internalErrors, 0);
});

function toTagOf(headers: readonly { name: string; value: string }[]): string | undefined {
  const to = headers.find((h) => h.name === 'to')?.value ?? '';
  return /;\s*tag=([^;>\s]+)/.exec(to)?.[1];
}

t.test('the phase is routing while the engine opens ports; a CANCEL then ends the call and frees what was opened', async (t) => {
  const { w, alice, bob } = await twoPhones();
  w.engine.hold();
  const m = w.mark();
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  t.equal(w.phase, 'routing');
  t.same(out.statuses, [100], 'the caller has its 100 Trying');
  t.same(w.seen(bob, m), [], 'nobody rings before there is media');
  out.cancel();
  await w.run(2 * LATENCY);
  t.same(out.statuses, [100, 487]);
  t.same(out.cancels[0]!.statuses, [200]);
  t.equal(w.phase, 'none');
  w.engine.release();
  await w.run(LATENCY);
  t.ok(w.engine.deleted(), 'the ports opened after the CANCEL are freed at once');
  t.same(w.seen(bob, m), [], 'the callee never rang');
  t.same(w.records.map((r) => r.endReason), ['cancelled']);
  t.equal(w.internalErrors, 0);
});

t.test('early media: a 183 with SDP is relayed with the box\'s SDP and leg b gets the callee\'s media before the answer', async (t) => {
  const { w, alice, bob } = await twoPhones();
  const m = w.mark();
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  const inc = bob.incoming[0]!;
  inc.respond(183, bob.answerTo(inc.req.body));
  await w.run(2 * LATENCY);
  t.same(w.seen(alice, m), ['401 INVITE', '100 INVITE', '183 INVITE']);
  const early = out.responses.find((r) => r.status === 183)!;
  t.same(sdpFacts(early.body).port, w.engine.local('a')!.rtpPort, 'the 183 names the box\'s port, not the callee\'s');
  t.same(w.engine.remote('b')?.rtp, { address: bob.address, port: bob.mediaPort }, 'early media flows from leg b now');
  t.equal(w.phase, 'ringing');
  w.engine.raiseTimeout();
  await w.run(LATENCY);
  t.equal(w.phase, 'ringing', 'silent early media does not end a ringing call (media-timeout)');
  inc.answer();
  await w.run(2 * LATENCY);
  t.equal(w.phase, 'answered');
  t.equal(out.final?.status, 200);
  w.engine.raiseTimeout();
  await w.run(2 * LATENCY);
  t.equal(w.phase, 'none', 'media-timeout ends an answered call');
  t.same(w.seen(alice, m).slice(-1), ['BYE']);
  t.same(w.seen(bob, m).slice(-1), ['BYE']);
  t.same(w.records.map((r) => r.endReason), ['media-timeout']);
  t.ok(w.engine.deleted());
});

t.test('a 183 without SDP is passed on as 180 Ringing', async (t) => {
  const { w, alice, bob } = await twoPhones();
  const m = w.mark();
  alice.call('101');
  await w.run(4 * LATENCY);
  bob.incoming[0]!.respond(183);
  await w.run(2 * LATENCY);
  t.same(w.seen(alice, m), ['401 INVITE', '100 INVITE', '180 INVITE']);
  t.equal(w.engine.remote('b'), undefined);
});

t.test('an answer the box cannot use (no codec in common): 488 to the caller, ACK and BYE to the callee', async (t) => {
  const { w, alice, bob } = await twoPhones();
  const m = w.mark();
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  const inc = bob.incoming[0]!;
  inc.ring();
  inc.respond(200, bob.sdp('sendrecv', [18]));
  await w.run(4 * LATENCY);
  t.same(out.statuses, [100, 180, 488]);
  t.same(w.seen(bob, m), ['INVITE', 'ACK', 'BYE']);
  t.equal(w.phase, 'none');
  t.ok(w.engine.deleted());
  t.same(w.records.map((r) => r.endReason), ['codec-mismatch']);
  t.equal(w.records[0]!.answeredAt, undefined, 'never answered');
  t.same(w.sent(alice, m).slice(-1), ['ACK'], 'the caller ACKs the 488 (its transaction does)');
});

t.test('an answer without SDP to an offer: 488 to the caller, ACK and BYE to the callee', async (t) => {
  const { w, alice, bob } = await twoPhones();
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  const m = w.mark();
  bob.incoming[0]!.respond(200);
  await w.run(4 * LATENCY);
  t.same(out.statuses, [100, 488]);
  t.same(w.seen(bob, m), ['ACK', 'BYE']);
  t.same(w.records.map((r) => r.endReason), ['codec-mismatch']);
});

t.test('media the engine cannot open (no ports): the caller gets the catalogue\'s answer and nobody rings', async (t) => {
  const { w, alice, bob } = await twoPhones();
  w.engine.failAllocations();
  const m = w.mark();
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  t.same(out.statuses, [100, 500], 'an engine fault that is not a PbxError is the box\'s own: 500');
  t.same(w.seen(bob, m), []);
  t.same(w.records.map((r) => r.endReason), ['failed']);
  t.equal(w.phase, 'none');
});

t.test('unknown extension 404 and an account with no contact 480, each with a record', async (t) => {
  const { w, alice } = await twoPhones();
  w.phone('102'); // an account, never registered
  const nobody = alice.call('199');
  const unregistered = alice.call('102');
  await w.run(4 * LATENCY);
  t.same(nobody.statuses, [100, 404]);
  t.same(unregistered.statuses, [100, 480]);
  t.same(w.records.map((r) => [r.callee, r.endReason]).sort(), [['102', 'unavailable'], ['199', 'not-found']]);
  t.equal(w.engine.sessionCount, 0, 'no media allocated for either');
});

t.test('a late offer: INVITE without SDP, the callee offers in its 200, the caller answers in its ACK, the callee gets it in the box\'s ACK', async (t) => {
  const { w, alice, bob } = await twoPhones();
  const m = w.mark();
  const { out } = await connect(w, alice, bob, { sdp: null });
  t.equal(bob.incoming[0]!.req.body.length, 0, 'the callee gets no offer');
  const offerA = sdpFacts(out.final!.body);
  t.equal(offerA.port, w.engine.local('a')!.rtpPort, 'the caller is offered the box\'s port');
  await w.run(4 * LATENCY);
  t.same(w.seen(bob, m), ['INVITE', 'ACK']);
  const ack = bob.acks[0]!;
  t.equal(sdpFacts(ack.body).port, w.engine.local('b')!.rtpPort, 'the ACK to the callee carries the box\'s answer');
  t.same(w.engine.remote('a')?.rtp, { address: alice.address, port: alice.mediaPort }, 'leg a from the answer in the caller\'s ACK');
  t.same(w.engine.remote('b')?.rtp, { address: bob.address, port: bob.mediaPort });
  t.equal(w.internalErrors, 0);
});
