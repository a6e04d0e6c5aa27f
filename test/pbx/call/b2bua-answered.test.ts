/**
 * An answered call: the 2xx and its ACK on both legs (RFC 3261 13.3.1.4,
 * 13.2.2.4), and every way it ends: BYE from either side, BYEs crossing,
 * media stopping, the box shutting down.
 */
import t from 'tap';
import { LATENCY, World, connect } from './world.js';

async function setup(o: { callerTransport?: 'udp' | 'tcp' } = {}) {
  const w = new World();
  const alice = w.phone('100', { transport: o.callerTransport ?? 'udp' });
  const bob = w.phone('101');
  await w.registerAll();
  return { w, alice, bob };
}

/** Times (ms after the first) at which these messages reached the phone. */
function arrivals(w: World, address: string, since: number, what: string): number[] {
  const at = w.net.log.slice(since).filter((e) => e.to === address && !e.dropped && (e.msg.kind === 'response' ? `${e.msg.status}` : e.msg.method) === what).map((e) => e.at);
  return at.map((x) => x - at[0]!);
}

t.test('RFC 3261 13.3.1.4: the 2xx is resent to a UDP caller at T1, doubling to T2, until its ACK', async (t) => {
  const { w, alice, bob } = await setup();
  const out = alice.call('101', { autoAck: false });
  await w.run(4 * LATENCY);
  const m = w.mark();
  bob.incoming[0]!.answer();
  await w.run(12_000);
  t.same(arrivals(w, alice.address, m, '200'), [0, 500, 1500, 3500, 7500, 11500], 'every 2xx the same one, intervals 500, 1000, 2000, 4000, 4000');
  t.equal(new Set(out.responses.filter((r) => r.status === 200).map((r) => r.body.toString())).size, 1, 'the same SDP each time');
  out.ack();
  await w.run(20_000);
  t.equal(arrivals(w, alice.address, m, '200').length, 6, 'the ACK stops the retransmission');
  t.equal(w.phase, 'answered');
  t.same(w.seen(bob, m), ['ACK'], 'the callee saw none of it');
  t.equal(w.internalErrors, 0);
});

t.test('a lost ACK: the 2xx comes again, the phone ACKs again, and that ends it', async (t) => {
  const { w, alice, bob } = await setup();
  alice.call('101');
  await w.run(4 * LATENCY);
  w.net.drop((e) => e.from === alice.address && e.msg.kind === 'request' && e.msg.method === 'ACK');
  const m = w.mark();
  bob.incoming[0]!.answer();
  await w.run(10_000);
  t.same(arrivals(w, alice.address, m, '200'), [0, 500]);
  t.same(w.sent(alice, m), ['ACK', 'ACK']);
  t.equal(w.phase, 'answered');
});

t.test('RFC 3261 13.3.1.4: no ACK at all: the call ends with BYE on both legs once 64*T1 have passed', async (t) => {
  const { w, alice, bob } = await setup();
  alice.call('101', { autoAck: false });
  await w.run(4 * LATENCY);
  const m = w.mark();
  bob.incoming[0]!.answer();
  await w.run(31_000);
  t.equal(w.phase, 'answered', 'still answered after 31 s');
  t.same(w.seen(bob, m), ['ACK']);
  await w.run(5_000);
  t.equal(w.phase, 'none');
  t.same(arrivals(w, alice.address, m, '200'), [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
  const bye = w.net.log.slice(m).find((e) => e.to === alice.address && e.msg.kind === 'request' && e.msg.method === 'BYE')!;
  const first200 = w.net.log.slice(m).find((e) => e.to === alice.address)!.at;
  // The check runs at the next retransmission tick after 64*T1: 35.5 s, not 32 s.
  t.equal(bye.at - first200, 35_500, 'the BYE goes at the first tick past 64*T1');
  t.same(w.seen(bob, m), ['ACK', 'BYE']);
  t.same(w.records.map((r) => r.endReason), ['timeout']);
  t.ok(w.engine.deleted());
});

t.test('a TCP caller: the 2xx is not resent over the stream', async (t) => {
  const { w, alice, bob } = await setup({ callerTransport: 'tcp' });
  alice.call('101', { autoAck: false });
  await w.run(4 * LATENCY);
  const m = w.mark();
  bob.incoming[0]!.answer();
  await w.run(10_000);
  t.same(arrivals(w, alice.address, m, '200'), [0]);
  t.equal(w.calls()[0]?.legs.a.transport, 'tcp');
});

t.test('RFC 3261 13.3.1.4: a TCP caller that never ACKs is hung up after 64*T1 too', async (t) => {
  const { w, alice, bob } = await setup({ callerTransport: 'tcp' });
  alice.call('101', { autoAck: false });
  await w.run(4 * LATENCY);
  const m = w.mark();
  bob.incoming[0]!.answer();
  await w.run(40_000);
  t.equal(w.phase, 'none');
  t.same(w.seen(bob, m), ['ACK', 'BYE']);
});

t.test('RFC 3261 13.2.2.4: a 2xx the callee resends (our ACK lost) is ACKed again; the caller hears nothing of it', async (t) => {
  const { w, alice, bob } = await setup();
  const { inc, out } = await connect(w, alice, bob);
  const m = w.mark();
  inc.retransmit();
  await w.run(2 * LATENCY);
  t.same(w.seen(bob, m), ['ACK']);
  const [first, again] = bob.acks;
  t.equal(again?.headers.find((h) => h.name === 'cseq')?.value, first?.headers.find((h) => h.name === 'cseq')?.value, 'the same ACK: CSeq of the INVITE');
  t.same(w.seen(alice, m), []);
  t.equal(out.responses.filter((r) => r.status === 200).length, 1);
  t.equal(w.phase, 'answered');
});

t.test('BYE from the caller: 200 to it, BYE to the callee, record bye-caller', async (t) => {
  const { w, alice, bob } = await setup();
  await connect(w, alice, bob);
  const m = w.mark();
  const bye = alice.request('BYE');
  await w.run(LATENCY);
  t.equal(w.phase, 'none', 'the call ends as the BYE arrives');
  await w.run(3 * LATENCY);
  t.same(bye.statuses, [200]);
  t.same(w.seen(bob, m), ['BYE']);
  t.same(w.sent(bob, m), ['200 BYE']);
  t.same(w.records.map((r) => r.endReason), ['bye-caller']);
});

t.test('BYE from the callee: 200 to it, BYE to the caller, record bye-callee', async (t) => {
  const { w, alice, bob } = await setup();
  await connect(w, alice, bob);
  const m = w.mark();
  const bye = bob.request('BYE');
  await w.run(4 * LATENCY);
  t.same(bye.statuses, [200]);
  t.same(w.seen(alice, m), ['BYE']);
  t.same(w.records.map((r) => r.endReason), ['bye-callee']);
  t.ok(w.engine.deleted());
  const next = alice.request('INFO');
  const reinvite = alice.request('INVITE', { body: alice.sdp() });
  await w.run(2 * LATENCY);
  t.same(next.statuses, [481], 'the dialog is gone');
  t.same(reinvite.statuses, [481], 'a re-INVITE in it too (RFC 3261 12.2.2)');
  t.equal(w.engine.lateRequests, 0, 'nothing asked of the freed media');
});

t.test('BYEs crossing: both phones hang up at once; each BYE gets a final answer, the call ends once', async (t) => {
  const { w, alice, bob } = await setup();
  await connect(w, alice, bob);
  const m = w.mark();
  const fromA = alice.request('BYE');
  const fromB = bob.request('BYE');
  await w.run(10 * LATENCY);
  t.same(fromA.statuses, [200], 'the first BYE to arrive ends the call');
  t.same(fromB.statuses, [481], 'the other finds the dialog already gone');
  t.same(w.seen(bob, m), ['BYE', '481 BYE'], 'the box\'s BYE still reaches the callee');
  t.same(w.seen(alice, m), ['200 BYE']);
  t.same(w.records.map((r) => r.endReason), ['bye-caller']);
  t.equal(w.internalErrors, 0);
});

t.test('stopAll: an answered call gets BYE on both legs, a ringing one 487 and CANCEL; every record says failed', async (t) => {
  const w = new World();
  const [a, b, c, d] = ['100', '101', '102', '103'].map((e) => w.phone(e)) as [ReturnType<World['phone']>, ReturnType<World['phone']>, ReturnType<World['phone']>, ReturnType<World['phone']>];
  await w.registerAll();
  await connect(w, a, b);
  const ringing = c.call('103');
  await w.run(4 * LATENCY);
  d.incoming[0]!.ring();
  await w.run(2 * LATENCY);
  t.same(w.calls().map((x) => x.state).sort(), ['answered', 'ringing']);
  const m = w.mark();
  await w.b2bua.stopAll();
  t.same(w.calls(), [], 'nothing listed once stopAll resolves');
  await w.run(4 * LATENCY);
  t.same([w.seen(a, m), w.seen(b, m)], [['BYE'], ['BYE']]);
  t.same(ringing.statuses, [100, 180, 487]);
  t.same(w.seen(d, m), ['CANCEL', 'ACK']);
  t.same(w.records.map((r) => r.endReason), ['failed', 'failed']);
  t.equal(w.engine.liveCount, 0, 'all media freed');
});

t.test('media-timeout ends only the call whose session went silent', async (t) => {
  const w = new World();
  const [a, b, c, d] = ['100', '101', '102', '103'].map((e) => w.phone(e)) as [ReturnType<World['phone']>, ReturnType<World['phone']>, ReturnType<World['phone']>, ReturnType<World['phone']>];
  await w.registerAll();
  await connect(w, a, b);
  const first = w.engine.lastSession!;
  await connect(w, c, d);
  const m = w.mark();
  w.engine.raiseTimeout(first);
  await w.run(4 * LATENCY);
  t.same(w.calls().map((x) => x.caller), ['102'], 'the other call goes on');
  t.same([w.seen(a, m), w.seen(b, m), w.seen(c, m), w.seen(d, m)], [['BYE'], ['BYE'], [], []]);
  t.ok(w.engine.deleted(first));
  t.notOk(w.engine.deleted());
  w.engine.raiseTimeout('no-such-session');
  await w.run(LATENCY);
  t.equal(w.calls().length, 1, 'an unknown session changes nothing');
  t.same(w.records.map((r) => r.endReason), ['media-timeout']);
});

t.test('stopAll while the engine is still opening ports: 487 to the caller, and the ports are freed when they arrive', async (t) => {
  const w = new World();
  const alice = w.phone('100');
  const bob = w.phone('101');
  await w.registerAll();
  w.engine.hold();
  const m = w.mark();
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  t.equal(w.phase, 'routing');
  const stopping = w.b2bua.stopAll();
  await w.run(2 * LATENCY);
  t.same(out.statuses, [100, 487]);
  t.same(w.calls(), []);
  w.engine.release();
  await stopping;
  await w.run(4 * LATENCY);
  t.same(w.seen(bob, m), [], 'nobody rang');
  t.equal(w.engine.liveCount, 0);
  t.same(w.records.map((r) => r.endReason), ['failed']);
});

t.test('the call list tells its listeners of each change: new call, answer, end', async (t) => {
  const w = new World();
  const alice = w.phone('100');
  const bob = w.phone('101');
  await w.registerAll();
  const seen: string[] = [];
  const off = w.b2bua.onChange(() => { seen.push(w.calls()[0]?.state ?? 'none'); });
  await connect(w, alice, bob);
  t.same(seen, ['routing', 'answered']);
  t.equal(w.b2bua.activeCount, 1);
  alice.request('BYE');
  await w.run(4 * LATENCY);
  t.same(seen, ['routing', 'answered', 'none']);
  t.equal(w.b2bua.activeCount, 0);
  off();
  await connect(w, alice, bob);
  t.equal(seen.length, 3, 'a listener that left hears nothing');
});
