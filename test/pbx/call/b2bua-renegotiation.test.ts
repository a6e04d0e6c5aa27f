/**
 * Offer/answer rounds that do not simply succeed: glare (RFC 3261 14.1), an
 * offer while one is pending (RFC 3311 5.2), a refused round and its rollback
 * (RFC 6337 3.2), a passed-on re-INVITE that times out, and a re-INVITE
 * without SDP (the offer in the 2xx, the answer in the ACK, RFC 3261 14.2).
 */
import t from 'tap';
import { sdpFacts } from './sdp.js';
import { LATENCY, answered } from './world.js';


t.test('RFC 3261 14.1 glare: both phones re-INVITE at once; the later one gets 491, the other round completes, the next re-INVITE works', async (t) => {
  const { w, alice, bob } = await answered();
  const m = w.mark();
  const bobPort = bob.mediaPort;
  alice.mediaPort = 31_000;
  bob.mediaPort = 32_000;
  const fromA = alice.request('INVITE', { body: alice.sdp('sendonly') });
  const fromB = bob.request('INVITE', { body: bob.sdp('sendonly') });
  bob.mediaPort = bobPort; // its answer to the box's re-INVITE keeps the old port
  await w.run(6 * LATENCY);
  t.same(fromB.statuses, [491], 'the callee\'s re-INVITE, arriving second, gets Request Pending');
  t.same(fromA.statuses, [200], 'the caller\'s round goes through');
  t.same(w.seen(bob, m), ['491 INVITE', 'INVITE', 'ACK'], 'the callee still gets the caller\'s re-INVITE');
  t.same(w.seen(alice, m), ['200 INVITE'], 'the caller never sees the refused one');
  t.same(w.engine.remote('a')?.rtp.port, 31_000, 'the completed round moved leg a');
  t.same(w.engine.remote('b')?.rtp, { address: bob.address, port: bobPort }, 'the refused offer never reached the engine');
  t.same(w.engine.remote('b')?.direction, 'recvonly', 'leg b has the callee\'s answer to the caller\'s hold');
  await w.run(2_000);
  bob.mediaPort = 32_000;
  t.equal(w.counters.get('call.glare'), 1);
  // RFC 3261 14.1: the 491'd side retries after a while; with no round open, it goes through.
  const retry = bob.request('INVITE', { body: bob.sdp('sendonly') });
  await w.run(4 * LATENCY);
  t.same(retry.statuses, [200]);
  t.same(w.engine.remote('b')?.rtp, { address: bob.address, port: 32_000 });
  t.equal(w.phase, 'answered');
  t.equal(w.internalErrors, 0);
});

t.test('RFC 3311 5.2: a second offer while a round is open gets 491, from either side; the open round still completes', async (t) => {
  const { w, alice, bob } = await answered();
  bob.auto.INVITE = undefined; // the callee takes its time with the first re-INVITE
  const m = w.mark();
  const first = alice.request('INVITE', { body: alice.sdp('sendonly') });
  await w.run(2 * LATENCY);
  const again = alice.request('INVITE', { body: alice.sdp('inactive') });
  const update = bob.request('UPDATE', { body: bob.sdp() });
  await w.run(4 * LATENCY);
  t.same([again.statuses, update.statuses], [[491], [491]]);
  t.equal(w.counters.get('call.offer-pending') + w.counters.get('call.glare'), 2);
  const pending = bob.last('INVITE')!;
  bob.reply(pending, 200, bob.answerTo(pending.req.body));
  await w.run(4 * LATENCY);
  t.same(first.statuses, [200]);
  t.same(w.seen(bob, m), ['INVITE', '491 UPDATE', 'ACK']);
  t.equal(w.engine.remote('a')?.direction, 'sendonly', 'the round that completed holds');
  const next = bob.request('UPDATE', { body: bob.sdp() });
  await w.run(4 * LATENCY);
  t.same(next.statuses, [200], 'with the round closed an UPDATE goes through');
});

for (const status of [488, 491, 603] as const) {
  t.test(`RFC 6337 3.2: the other side refuses a re-INVITE with ${status}: the asker gets ${status}, its leg's media is put back, the next re-INVITE works`, async (t) => {
    const { w, alice, bob } = await answered();
    const was = w.engine.remote('a');
    bob.auto.INVITE = status;
    alice.mediaPort = 31_500;
    const m = w.mark();
    const refused = alice.request('INVITE', { body: alice.sdp('sendonly') });
    await w.run(4 * LATENCY);
    t.same(refused.statuses, [status]);
    t.same(w.seen(bob, m), ['INVITE', 'ACK'], 'the refusal is ACKed (by the box\'s transaction)');
    t.same(w.engine.remote('a'), was, 'leg a is back on the media it had (rollback)');
    t.equal(w.phase, 'answered', 'a refused round does not end the call');
    bob.auto.INVITE = 'sdp';
    const next = alice.request('INVITE', { body: alice.sdp('sendonly') });
    await w.run(4 * LATENCY);
    t.same(next.statuses, [200]);
    t.same(w.engine.remote('a')?.rtp, { address: alice.address, port: 31_500 });
    t.equal(w.engine.remote('a')?.direction, 'sendonly');
    t.equal(w.internalErrors, 0);
  });
}

t.test('a refused UPDATE rolls back too', async (t) => {
  const { w, alice, bob } = await answered();
  const was = w.engine.remote('b');
  alice.auto.UPDATE = 488;
  bob.mediaPort = 33_000;
  const refused = bob.request('UPDATE', { body: bob.sdp() });
  await w.run(4 * LATENCY);
  t.same(refused.statuses, [488]);
  t.same(w.engine.remote('b'), was);
  alice.auto.UPDATE = 'sdp';
  const next = bob.request('UPDATE', { body: bob.sdp() });
  await w.run(4 * LATENCY);
  t.same(next.statuses, [200]);
  t.equal(w.engine.remote('b')?.rtp.port, 33_000);
});

t.test('a re-INVITE whose SDP the box cannot use (no audio) gets 488 at once and nothing crosses', async (t) => {
  const { w, alice, bob } = await answered();
  const was = w.engine.remote('a');
  const m = w.mark();
  const bad = alice.request('INVITE', { body: Buffer.from('v=0\r\no=x 1 1 IN IP4 10.0.0.11\r\ns=-\r\nc=IN IP4 10.0.0.11\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n') });
  await w.run(4 * LATENCY);
  t.same(bad.statuses, [488]);
  t.same(w.seen(bob, m), []);
  t.same(w.engine.remote('a'), was);
  const next = alice.request('INVITE', { body: alice.sdp('sendonly') });
  await w.run(4 * LATENCY);
  t.same(next.statuses, [200], 'the refused offer left no round open');
});

t.test('a passed-on re-INVITE that is never answered (Timer B): 408 to the asker, then BYE on both legs', async (t) => {
  const { w, alice, bob } = await answered();
  w.net.isolate(bob.address);
  const m = w.mark();
  const hold = alice.request('INVITE', { body: alice.sdp('sendonly') });
  await w.run(31_000);
  t.same(hold.statuses, [100], 'the box\'s transaction said Trying; the call waits');
  t.equal(w.phase, 'answered');
  await w.run(2_000);
  t.same(hold.statuses, [100, 408]);
  t.same(w.seen(alice, m), ['100 INVITE', '408 INVITE', 'BYE']);
  t.equal(w.phase, 'none');
  t.same(w.records.map((r) => r.endReason), ['timeout']);
  t.ok(w.engine.deleted());
});

t.test('a re-INVITE the other side only answers 100 to is not left open for ever', async (t) => {
  const { w, alice, bob } = await answered();
  bob.auto.INVITE = undefined; // its transaction sends 100 Trying, the phone never answers
  const hold = alice.request('INVITE', { body: alice.sdp('sendonly') });
  await w.run(200_000);
  t.ok(hold.final, 'the asker gets a final answer (Timer C, RFC 3261 16.6 step 11, is 3 minutes)');
  const next = alice.request('INVITE', { body: alice.sdp('sendrecv') });
  await w.run(4 * LATENCY);
  t.not(next.final?.status, 491, 'and may renegotiate again');
});

t.test('a re-INVITE left at 100 is given up 32 s after the provisional: CANCEL on the other leg, 408 to the asker, the call goes on', async (t) => {
  const { w, alice, bob } = await answered();
  bob.auto.INVITE = undefined;
  const m = w.mark();
  const hold = alice.request('INVITE', { body: alice.sdp('sendonly') });
  await w.run(31_000);
  t.same(hold.statuses, [100], 'still waiting before the bound');
  t.same(w.seen(bob, m), ['INVITE']);
  await w.run(2_000);
  t.same(hold.statuses, [100, 408]);
  t.same(w.seen(bob, m), ['INVITE', 'CANCEL'], 'the box CANCELs its own re-INVITE');
  t.equal(w.phase, 'answered');
  t.equal(w.counters.get('call.crossing-timeout'), 1);
});

t.test('a 2xx to a passed-on re-INVITE resent by the other side is ACKed again and changes nothing for the asker', async (t) => {
  const { w, alice, bob } = await answered();
  bob.auto.INVITE = undefined;
  const m = w.mark();
  const hold = alice.request('INVITE', { body: alice.sdp('sendonly') });
  await w.run(2 * LATENCY);
  const r = bob.last('INVITE')!;
  const ok = bob.reply(r, 200, bob.answerTo(r.req.body));
  await w.run(4 * LATENCY);
  const changes = w.engine.changes('b');
  r.tx.respond(ok);
  await w.run(4 * LATENCY);
  t.same(w.seen(bob, m), ['INVITE', 'ACK', 'ACK'], 'the resent 2xx is ACKed again');
  t.equal(w.engine.changes('b'), changes, 'no second media update');
  const versions = new Set(hold.responses.filter((x) => x.status === 200).map((x) => sdpFacts(x.body).version));
  t.equal(versions.size, 1, 'the asker sees one answer');
});

t.test('RFC 3261 14.2: a re-INVITE without SDP: the other side\'s offer reaches the asker as the box\'s, the asker\'s answer in its ACK reaches the other side', async (t) => {
  const { w, alice, bob } = await answered();
  bob.mediaPort = 35_000;
  alice.mediaPort = 36_000;
  const m = w.mark();
  const ask = alice.request('INVITE');
  await w.run(8 * LATENCY);
  t.equal(bob.last('INVITE')?.req.body.length, 0, 'the re-INVITE crosses without SDP');
  t.same(ask.statuses, [200]);
  const offer = sdpFacts(ask.final!.body);
  t.equal(offer.port, w.engine.local('a')!.rtpPort, 'the asker is offered the box\'s port');
  t.same(w.engine.remote('b')?.rtp.port, 35_000, 'leg b follows the other side\'s offer');
  t.same(w.engine.remote('a')?.rtp.port, 36_000, 'leg a follows the answer in the asker\'s ACK');
  t.same(w.seen(bob, m), ['INVITE', 'ACK']);
  t.equal(sdpFacts(bob.acks[bob.acks.length - 1]!.body).port, w.engine.local('b')!.rtpPort, 'the ACK to the other side carries the box\'s answer');
});

t.test('a re-INVITE without SDP today: both phones get final answers and the call goes on', async (t) => {
  const { w, alice, bob } = await answered();
  const m = w.mark();
  const ask = alice.request('INVITE');
  await w.run(8 * LATENCY);
  t.same(ask.statuses, [200]);
  t.same(w.seen(bob, m), ['INVITE', 'ACK']);
  t.equal(w.phase, 'answered');
  const next = alice.request('INVITE', { body: alice.sdp('sendonly') });
  await w.run(4 * LATENCY);
  t.same(next.statuses, [200], 'the round it opened is closed');
  t.equal(w.internalErrors, 0);
});
