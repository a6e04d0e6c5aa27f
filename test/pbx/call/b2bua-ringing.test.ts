/**
 * A call that rings and does not get answered, or gets answered on one of
 * several contacts: CANCEL (RFC 3261 9), the no-answer timer, the callee's
 * refusals, and forking to every contact of the account.
 */
import t from 'tap';
import { LATENCY, World } from './world.js';

async function setup(calleePhones = 1) {
  const w = new World();
  const alice = w.phone('100');
  const bobs = Array.from({ length: calleePhones }, () => w.phone('101'));
  await w.registerAll();
  return { w, alice, bob: bobs[0]!, bobs };
}

t.test('RFC 3261 9.1: the caller CANCELs before the callee sent any provisional: the CANCEL to the callee waits for one', async (t) => {
  const { w, alice, bob } = await setup();
  const m = w.mark();
  const out = alice.call('101');
  await w.run(4 * LATENCY); // the callee has the INVITE and says nothing
  out.cancel();
  await w.run(2 * LATENCY);
  t.same(out.statuses, [100, 487], 'the caller\'s INVITE is ended at once');
  t.same(out.cancels[0]!.statuses, [200]);
  t.equal(w.phase, 'none', 'the call is over for the caller');
  t.same(w.records.map((r) => r.endReason), ['cancelled']);
  t.ok(w.engine.deleted(), 'media freed with the call');
  t.same(w.seen(bob, m), ['INVITE'], 'no CANCEL before a provisional');
  await w.run(250); // the callee's transaction sends 100 Trying by itself (17.2.1)
  t.same(w.sent(bob, m), ['100 INVITE', '200 CANCEL', '487 INVITE'], 'its 100 lets the CANCEL out');
  t.same(w.seen(bob, m), ['INVITE', 'CANCEL', 'ACK'], 'the 487 is ACKed');
  t.ok(bob.incoming[0]!.cancelled);
  await w.run(40_000);
  t.equal(w.seen(bob, m).length, 3, 'no INVITE resent after its 100, nothing else');
  t.equal(w.records.length, 1, 'one record');
  t.equal(w.internalErrors, 0);
});

t.test('RFC 3261 9.2: CANCEL while the callee rings: 200 and 487 to the caller, CANCEL to the callee at once', async (t) => {
  const { w, alice, bob } = await setup();
  const m = w.mark();
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  bob.incoming[0]!.ring();
  await w.run(2 * LATENCY);
  t.equal(w.phase, 'ringing');
  out.cancel();
  await w.run(LATENCY);
  t.equal(w.phase, 'none');
  await w.run(3 * LATENCY);
  t.same(out.statuses, [100, 180, 487]);
  t.same(w.seen(bob, m), ['INVITE', 'CANCEL', 'ACK']);
  t.same(w.records.map((r) => r.endReason), ['cancelled']);
  t.equal(w.records[0]!.legs.b, undefined, 'no callee leg was ever connected');
});

t.test('the callee\'s 200 crosses the caller\'s CANCEL: the callee gets ACK and BYE, the caller keeps its 487', async (t) => {
  const { w, alice, bob } = await setup();
  const m = w.mark();
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  bob.incoming[0]!.ring();
  await w.run(2 * LATENCY);
  out.cancel();
  await w.run(LATENCY); // the box has the CANCEL and sent its own; the callee answers before it arrives
  bob.incoming[0]!.answer();
  await w.run(4 * LATENCY);
  t.same(out.statuses, [100, 180, 487]);
  t.same(w.seen(bob, m), ['INVITE', 'CANCEL', 'ACK', 'BYE'], 'the late 200 is ACKed and hung up');
  t.same(w.sent(bob, m), ['180 INVITE', '200 INVITE', '200 CANCEL', '200 BYE']);
  t.same(w.calls(), []);
  t.same(w.records.map((r) => r.endReason), ['cancelled']);
});

t.test('a CANCEL matching no call gets 481; a CANCEL after the answer gets 200 and changes nothing', async (t) => {
  const { w, alice, bob } = await setup();
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  out.rawCancel('challenged'); // the INVITE the 401 answered: a transaction, but no call
  await w.run(2 * LATENCY);
  t.same(alice.strays.map((r) => r.status), [481]);
  bob.incoming[0]!.answer();
  await w.run(4 * LATENCY);
  t.equal(w.phase, 'answered');
  out.rawCancel(); // too late (RFC 3261 9.2: the CANCEL has no effect on an answered INVITE)
  await w.run(2 * LATENCY);
  t.same(alice.strays.map((r) => r.status), [481, 200]);
  t.equal(w.phase, 'answered');
  t.same(w.records, []);
  t.same(out.statuses, [100, 200]);
});

t.test('no answer: the timer on the fake clock CANCELs the callee and gives the caller 480', async (t) => {
  const { w, alice, bob } = await setup();
  w.noAnswerMs = 30_000;
  const m = w.mark();
  const start = w.clock.now();
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  bob.incoming[0]!.ring();
  const routedAt = start + 3 * LATENCY; // the authenticated INVITE reached the box: the timer starts
  await w.run(routedAt + 30_000 - 1 - w.clock.now());
  t.equal(w.phase, 'ringing', 'still ringing just before the timer');
  await w.run(4 * LATENCY);
  t.equal(w.phase, 'none');
  t.same(out.statuses, [100, 180, 480]);
  t.equal(out.final!.reason, 'No Answer');
  t.same(w.seen(bob, m), ['INVITE', 'CANCEL', 'ACK']);
  t.same(w.records.map((r) => r.endReason), ['no-answer']);
  t.ok(w.engine.deleted());
  t.equal(w.counters.get('call.no-answer'), 1);
});

t.test('no answer with two contacts: both are CANCELled, one 480 to the caller', async (t) => {
  const { w, alice, bobs } = await setup(2);
  w.noAnswerMs = 10_000;
  const m = w.mark();
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  for (const b of bobs) b.incoming[0]!.ring();
  await w.run(10_000 + 4 * LATENCY);
  t.same(out.statuses, [100, 180, 180, 480]);
  t.same(bobs.map((b) => w.seen(b, m)), [['INVITE', 'CANCEL', 'ACK'], ['INVITE', 'CANCEL', 'ACK']]);
  t.same(w.records.map((r) => r.endReason), ['no-answer']);
});

t.test('the caller CANCELs and the silent callee then answers 200 straight away: ACK and BYE, no CANCEL needed', async (t) => {
  const { w, alice, bob } = await setup();
  const m = w.mark();
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  out.cancel();
  await w.run(2 * LATENCY);
  t.same(out.statuses, [100, 487]);
  bob.incoming[0]!.answer();
  await w.run(4 * LATENCY);
  t.same(w.seen(bob, m), ['INVITE', 'ACK', 'BYE']);
  t.same(w.records.map((r) => r.endReason), ['cancelled']);
  t.equal(w.engine.lateRequests, 0, 'the late answer is not given to the freed media');
});

t.test('the no-answer timer does not fire into an answered call', async (t) => {
  const { w, alice, bob } = await setup();
  w.noAnswerMs = 1_000;
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  bob.incoming[0]!.answer();
  await w.run(5_000);
  t.equal(w.phase, 'answered');
  t.equal(out.final!.status, 200);
  t.equal(w.counters.get('call.no-answer'), 0);
});

for (const [status, expect, reason] of [
  [486, 486, 'busy'], [600, 600, 'busy'], [603, 603, 'rejected'], [403, 403, 'rejected'], [404, 404, 'rejected'], [420, 420, 'rejected'],
  [408, 480, 'unavailable'], [500, 480, 'unavailable'], [503, 480, 'unavailable'],
] as const) {
  t.test(`the callee answers ${status}: the caller gets ${expect}, the record says ${reason}`, async (t) => {
    const { w, alice, bob } = await setup();
    const m = w.mark();
    const out = alice.call('101');
    await w.run(4 * LATENCY);
    bob.incoming[0]!.ring();
    bob.incoming[0]!.respond(status);
    await w.run(4 * LATENCY);
    t.same(out.statuses, [100, 180, expect]);
    t.same(w.seen(bob, m), ['INVITE', 'ACK'], 'the box ACKs the refusal (its transaction does)');
    t.same(w.records.map((r) => r.endReason), [reason]);
    t.ok(w.engine.deleted());
    t.same(w.calls(), []);
  });
}

t.test('a phone that refuses the media (488) is offered another shape on the same contact; when it refuses that too, the caller gets 488', async (t) => {
  const { w, alice, bob } = await setup();
  const retries = w.counters.get('call.retry');
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  const first = bob.incoming[0]!;
  t.match(first.req.body.toString(), /m=audio \d+ RTP\/AVP /, 'first the caller\'s plain offer, relayed');
  first.respond(488);
  await w.run(4 * LATENCY);
  const second = bob.incoming[1];
  t.ok(second, 'a second INVITE to the same phone');
  t.match(second?.req.body.toString(), /m=audio \d+ RTP\/AVPF /, 'a UDP leg gets no SDES: only the feedback profile is left to try');
  t.equal(w.counters.get('call.retry'), retries + 1);
  t.equal(w.phase, 'ringing', 'the call still rings');
  second!.respond(488);
  await w.run(4 * LATENCY);
  t.equal(out.final?.status, 488, 'nothing left: the caller hears the refusal');
  t.same(w.records.map((r) => r.endReason), ['rejected']);
  t.ok(w.engine.deleted());
});

t.test('RFC 3261 21.6.2: a callee that declines (603) — the caller should hear Decline, not "unavailable"', async (t) => {
  const { w, alice, bob } = await setup();
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  bob.incoming[0]!.respond(603);
  await w.run(4 * LATENCY);
  t.same(out.statuses, [100, 603]);
});

t.test('RFC 3261 16.7: a 6xx on one contact ends the forking: the other contact is CANCELled at once', async (t) => {
  const { w, alice, bobs } = await setup(2);
  const m = w.mark();
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  for (const b of bobs) b.incoming[0]!.ring();
  bobs[0]!.incoming[0]!.respond(603);
  await w.run(4 * LATENCY);
  t.same(w.seen(bobs[1]!, m), ['INVITE', 'CANCEL', 'ACK']);
  t.equal(out.final?.status, 603);
});

t.test('an unreachable contact: the INVITE is resent (Timer A) and given up after 64*T1 (Timer B): 480', async (t) => {
  const { w, alice, bob } = await setup();
  w.net.isolate(bob.address);
  const m = w.mark();
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  const first = w.net.log.slice(m).find((e) => e.to === bob.address)!.at;
  await w.run(first + 32_000 - 1 - w.clock.now());
  t.equal(w.phase, 'ringing', 'still ringing just before Timer B');
  const sentToBob = w.net.log.slice(m).filter((e) => e.to === bob.address).map((e) => e.at - first);
  t.same(sentToBob, [0, 500, 1500, 3500, 7500, 15500, 31500], 'Timer A doubles without a cap');
  await w.run(4 * LATENCY);
  t.same(out.statuses, [100, 480]);
  t.same(w.records.map((r) => r.endReason), ['unavailable']);
});

t.test('forking: every contact rings; the first 200 wins, the other contact is CANCELled, one record names the winner', async (t) => {
  const { w, alice, bobs } = await setup(2);
  const [b1, b2] = bobs as [typeof bobs[0], typeof bobs[0]];
  const m = w.mark();
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  t.same([w.seen(b1, m), w.seen(b2, m)], [['INVITE'], ['INVITE']], 'both contacts get the INVITE');
  t.not(b1.incoming[0]!.req.body.toString(), '', 'each with an offer');
  b1.incoming[0]!.ring();
  b2.incoming[0]!.ring();
  await w.run(2 * LATENCY);
  t.same(out.statuses, [100, 180, 180], 'each ringing contact\'s 180 is relayed');
  b2.incoming[0]!.answer();
  await w.run(4 * LATENCY);
  t.same(out.statuses, [100, 180, 180, 200]);
  t.same(w.seen(b2, m), ['INVITE', 'ACK']);
  t.same(w.seen(b1, m), ['INVITE', 'CANCEL', 'ACK'], 'the other contact is CANCELled (and its 487 ACKed)');
  t.ok(b1.incoming[0]!.cancelled);
  const [view] = w.calls();
  t.equal(view!.legs.b?.address, b2.address, 'leg b is the contact that answered');
  t.same(w.engine.remote('b')?.rtp, { address: b2.address, port: b2.mediaPort });
  alice.request('BYE');
  await w.run(4 * LATENCY);
  t.same(w.seen(b2, m).slice(-1), ['BYE']);
  t.equal(w.seen(b1, m).length, 3, 'the loser hears nothing more');
  t.equal(w.records.length, 1);
  t.equal(w.records[0]!.legs.b?.address, b2.address);
  t.equal(w.internalErrors, 0);
});

t.test('forking: a contact still silent when another answers is CANCELled once it sends its first provisional', async (t) => {
  const { w, alice, bobs } = await setup(2);
  const [b1, b2] = bobs as [typeof bobs[0], typeof bobs[0]];
  const m = w.mark();
  alice.call('101');
  await w.run(4 * LATENCY);
  b2.incoming[0]!.answer();
  await w.run(4 * LATENCY);
  t.equal(w.phase, 'answered');
  t.same(w.seen(b1, m), ['INVITE'], 'no CANCEL yet');
  await w.run(200);
  t.same(w.seen(b1, m), ['INVITE', 'CANCEL', 'ACK'], 'its automatic 100 lets the CANCEL go');
  t.equal(w.phase, 'answered', 'the call goes on');
});

t.test('forking: a second 200 that crossed the CANCEL is ACKed and hung up; the call stays with the first', async (t) => {
  const { w, alice, bobs } = await setup(2);
  const [b1, b2] = bobs as [typeof bobs[0], typeof bobs[0]];
  const m = w.mark();
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  b1.incoming[0]!.ring();
  b2.incoming[0]!.ring();
  await w.run(2 * LATENCY);
  b2.incoming[0]!.answer();
  b1.incoming[0]!.answer(); // sent before the box's CANCEL can reach it
  await w.run(6 * LATENCY);
  t.same(out.statuses, [100, 180, 180, 200], 'the caller gets one 200');
  t.same(w.seen(b1, m), ['INVITE', 'CANCEL', 'ACK', 'BYE'], 'the late 200 gets ACK and BYE');
  t.same(w.sent(b1, m), ['180 INVITE', '200 INVITE', '200 CANCEL', '200 BYE']);
  t.same(w.seen(b2, m), ['INVITE', 'ACK']);
  t.equal(w.phase, 'answered');
  t.equal(w.calls()[0]!.legs.b?.address, b2.address);
  t.equal(w.internalErrors, 0);
});

t.test('forking: when every contact fails the caller gets the most telling answer', async (t) => {
  for (const [statuses, expect] of [
    [[503, 486], 486], [[404, 500], 404], [[408, 503], 480], [[500, 420], 420],
  ] as const) {
    const { w, alice, bobs } = await setup(2);
    const out = alice.call('101');
    await w.run(4 * LATENCY);
    bobs[0]!.incoming[0]!.respond(statuses[0]);
    await w.run(LATENCY);
    t.equal(w.phase, 'ringing', `${statuses[0]} from one contact: the other still rings`);
    bobs[1]!.incoming[0]!.respond(statuses[1]);
    await w.run(4 * LATENCY);
    t.equal(out.final?.status, expect, `${statuses.join(' + ')} -> ${expect}`);
    t.equal(w.records.length, 1);
  }
});
