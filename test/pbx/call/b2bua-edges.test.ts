/**
 * Where a re-INVITE meets the end of the call or a lossy network: the 2xx
 * to a re-INVITE over UDP (RFC 3261 13.3.1.4 holds for every INVITE), a
 * CANCEL of a re-INVITE (RFC 3261 9.2), and a BYE while a re-INVITE is
 * pending (RFC 3261 15.1.2).
 */
import t from 'tap';
import { LATENCY, World, answered } from './world.js';


t.test('plain RTP on both legs of a plain call, as the engine was told', async (t) => {
  const { w } = await answered();
  t.same([w.engine.security('a'), w.engine.security('b')], ['rtp', 'rtp']);
});

t.test('a refused re-INVITE whose ACK is lost: the box resends the 488 (Timer G) and the round stays closed', async (t) => {
  const { w, alice, bob } = await answered();
  bob.auto.INVITE = 488;
  const m = w.mark();
  w.net.drop((e) => e.from === alice.address && e.msg.kind === 'request' && e.msg.method === 'ACK');
  const refused = alice.request('INVITE', { body: alice.sdp('sendonly') });
  await w.run(2_000);
  t.same(refused.statuses, [488]);
  t.same(w.seen(alice, m), ['488 INVITE', '488 INVITE'], 'the 488 again at T1');
  t.same(w.sent(alice, m), ['INVITE', 'ACK', 'ACK']);
  t.equal(w.phase, 'answered');
});

t.test('RFC 3261 13.3.1.4: the 2xx to a re-INVITE from a UDP phone is resent until its ACK', async (t) => {
  const { w, alice, bob } = await answered();
  const m = w.mark();
  w.net.drop((e) => e.to === alice.address && e.msg.kind === 'response' && e.msg.status === 200);
  const hold = alice.request('INVITE', { body: alice.sdp('sendonly') });
  await w.run(2_000);
  t.same(hold.statuses.filter((s) => s >= 200), [200], 'the resent 200 reaches the asker');
  t.same(w.seen(bob, m), ['INVITE', 'ACK']);
});

t.test('RFC 3261 9.2: a CANCEL of a pending re-INVITE: 200, 487 to the re-INVITE, the call goes on', async (t) => {
  const { w, alice, bob } = await answered();
  bob.auto.INVITE = undefined;
  const m = w.mark();
  const hold = alice.request('INVITE', { body: alice.sdp('sendonly') });
  await w.run(300); // the box's 100 Trying lets the phone CANCEL
  hold.cancelVia(alice.layer);
  await w.run(300);
  t.same(hold.cancelResponses.map((r) => r.status), [200]);
  t.same(hold.statuses, [100, 487]);
  t.same(w.seen(bob, m).slice(0, 2), ['INVITE', 'CANCEL'], 'the box CANCELs its own re-INVITE on the other leg');
  t.equal(w.phase, 'answered');
});

t.test('a 2xx that crosses the box\'s CANCEL of a re-INVITE is ACKed; the asker, already given 487, hears nothing more', async (t) => {
  const { w, alice, bob } = await answered();
  bob.auto.INVITE = undefined;
  const hold = alice.request('INVITE', { body: alice.sdp('sendonly') });
  await w.run(300);
  hold.cancelVia(alice.layer);
  await w.run(300);
  t.same(hold.statuses, [100, 487]);
  const changes = w.engine.changes('b');
  const m = w.mark();
  const r = bob.last('INVITE')!;
  bob.reply(r, 200, bob.answerTo(r.req.body));
  await w.run(4 * LATENCY);
  t.same(w.seen(bob, m), ['ACK'], 'the late 2xx is ACKed');
  t.same(w.seen(alice, m), [], 'the asker hears nothing of it');
  t.equal(w.engine.changes('b'), changes, 'the given-up round touches no media');
  t.equal(w.phase, 'answered');
  t.equal(w.internalErrors, 0);
  bob.auto.INVITE = 'sdp';
  const next = alice.request('INVITE', { body: alice.sdp('sendonly') });
  await w.run(8 * LATENCY);
  t.equal(next.final?.status, 200, 'a later re-INVITE works');
});

t.test('RFC 3261 15.1.2: the other side hangs up while a re-INVITE is pending: the asker gets BYE and its re-INVITE a final answer', async (t) => {
  const { w, alice, bob } = await answered();
  bob.auto.INVITE = undefined;
  const m = w.mark();
  const hold = alice.request('INVITE', { body: alice.sdp('sendonly') });
  await w.run(300);
  bob.request('BYE');
  await w.run(4 * LATENCY);
  t.equal(w.phase, 'none');
  t.ok(w.seen(alice, m).includes('BYE'));
  await w.run(40_000);
  t.ok(hold.final, 'the re-INVITE is answered (487 recommended)');
});

t.test('the other side hangs up while a re-INVITE is pending: the call ends with one record and BYE to the asker', async (t) => {
  const { w, alice, bob } = await answered();
  bob.auto.INVITE = undefined;
  const m = w.mark();
  alice.request('INVITE', { body: alice.sdp('sendonly') });
  await w.run(300);
  const bye = bob.request('BYE');
  await w.run(4 * LATENCY);
  t.same(bye.statuses, [200]);
  t.same(w.seen(alice, m), ['100 INVITE', '487 INVITE', 'BYE'], 'the pending re-INVITE is answered before the BYE (RFC 3261 15.1.2)');
  t.same(w.records.map((r) => r.endReason), ['bye-callee']);
  t.ok(w.engine.deleted());
  // The callee's phone, its dialog over, refuses the re-INVITE it still has: nothing breaks.
  const r = bob.last('INVITE')!;
  bob.reply(r, 481);
  await w.run(4 * LATENCY);
  t.same(w.calls(), []);
  t.equal(w.records.length, 1);
});

t.test('a late refusal of a re-INVITE after the call ended does not touch the freed media', async (t) => {
  const { w, alice, bob } = await answered();
  bob.auto.INVITE = undefined;
  alice.request('INVITE', { body: alice.sdp('sendonly') });
  await w.run(300);
  bob.request('BYE');
  await w.run(4 * LATENCY);
  bob.reply(bob.last('INVITE')!, 481);
  await w.run(4 * LATENCY);
  t.equal(w.engine.lateRequests, 0);
  t.equal(w.internalErrors, 0);
});

t.test('the caller hangs up while its own re-INVITE is pending: the call ends, the callee gets BYE', async (t) => {
  const { w, alice, bob } = await answered();
  bob.auto.INVITE = undefined;
  const m = w.mark();
  alice.request('INVITE', { body: alice.sdp('sendonly') });
  await w.run(300);
  const bye = alice.request('BYE');
  await w.run(4 * LATENCY);
  t.same(bye.statuses, [200]);
  t.same(w.seen(bob, m), ['INVITE', 'BYE']);
  t.same(w.records.map((r) => r.endReason), ['bye-caller']);
});

t.test('RFC 3261 14.1: no re-INVITE goes to a caller whose initial INVITE is not ACKed yet', async (t) => {
  const w = new World();
  const alice = w.phone('100');
  const bob = w.phone('101');
  await w.registerAll();
  const out = alice.call('101', { autoAck: false });
  await w.run(4 * LATENCY);
  bob.incoming[0]!.answer();
  await w.run(4 * LATENCY);
  const m = w.mark();
  const hold = bob.request('INVITE', { body: bob.sdp('sendonly') });
  await w.run(4 * LATENCY);
  t.notOk(w.seen(alice, m).includes('INVITE'), 'the caller gets no INVITE before its ACK');
  t.ok(hold.final, 'the callee gets an answer (491, or the round once the ACK came)');
  out.ack();
  await w.run(4 * LATENCY);
});
