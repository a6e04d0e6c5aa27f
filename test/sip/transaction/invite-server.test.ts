import t from 'tap';
import { Counters } from '../../../firmware/core/index.js';
import { InviteServerTransaction } from '../../../firmware/sip/transaction/index.js';
import { ServerUser, TCP, UDP, header, request, response, setup } from './helpers.js';

const make = (target = UDP) => {
  const env = setup();
  const counters = new Counters();
  const user = new ServerUser();
  const req = request('INVITE');
  const tx = new InviteServerTransaction(req, { sink: env.sink, clock: env.clock, target, user, counters });
  return { ...env, counters, user, req, tx };
};

t.test('17.2.1: 100 Trying after 200 ms when the TU is silent', async (t) => {
  const { clock, sink, t0, tx, req } = make();
  t.equal(tx.state, 'proceeding');
  clock.advance(199);
  t.equal(sink.sent.length, 0);
  clock.advance(1);
  t.same(sink.times(t0), [200]);
  const trying = sink.responses(100)[0]!;
  t.equal(trying.status, 100);
  t.equal(header(trying, 'call-id'), header(req, 'call-id'));
  t.equal(header(trying, 'cseq'), header(req, 'cseq'));
  t.equal(sink.sent[0]!.target, UDP);
  t.same(tx.lastResponse, trying);
  tx.destroy();
  t.equal(clock.timerCount, 0);
});

t.test('17.2.1: no 100 Trying when the TU answers within 200 ms', async (t) => {
  const { clock, sink, tx, req } = make();
  clock.advance(150);
  tx.respond(response(req, 180, 'uas'));
  clock.advance(1000);
  t.same(sink.responses().map((r) => r.status), [180]);
  t.equal(tx.state, 'proceeding');
  t.equal(clock.timerCount, 0, 'no timers in Proceeding once the Trying timer is gone');
});

t.test('17.2.1: a retransmitted INVITE in Proceeding resends the last provisional', async (t) => {
  const { sink, tx, req, clock } = make();
  tx.receiveRequest(req);
  t.same(sink.responses().map((r) => r.status), [100], 'peer is retransmitting: 100 at once');
  clock.advance(1000);
  t.equal(sink.responses(100).length, 1, 'Trying timer cancelled');
  tx.respond(response(req, 180, 'uas'));
  tx.receiveRequest(req);
  t.same(sink.responses().map((r) => r.status), [100, 180, 180]);
  tx.destroy();
});

t.test('17.2.1: Proceeding -> Completed on 3xx-6xx; Timer G doubles up to T2; Timer H reports a timeout (UDP)', async (t) => {
  const { clock, sink, user, tx, req } = make();
  tx.respond(response(req, 486, 'uas'));
  t.equal(tx.state, 'completed');
  const t1 = clock.now();
  clock.advance(31_999);
  t.same(sink.times(t1, (m) => m.kind === 'response' && m.status === 486), [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
  t.equal(user.timeouts, 0);
  clock.advance(1);
  t.equal(tx.state, 'terminated');
  t.equal(user.timeouts, 1, 'Timer H: ACK never came');
  t.equal(clock.timerCount, 0);
});

t.test('17.2.1: over TCP there is no Timer G, Timer H still runs', async (t) => {
  const { clock, sink, user, tx, req } = make(TCP);
  tx.respond(response(req, 603, 'uas'));
  clock.advance(32_000);
  t.equal(sink.responses(603).length, 1);
  t.equal(tx.state, 'terminated');
  t.equal(user.timeouts, 1);
  t.equal(clock.timerCount, 0);
});

t.test('17.2.1: Completed resends the final on a retransmitted INVITE; ACK -> Confirmed absorbs ACKs until Timer I', async (t) => {
  const { clock, sink, counters, user, tx, req } = make();
  tx.respond(response(req, 404, 'uas'));
  tx.receiveRequest(req);
  t.equal(sink.responses(404).length, 2);
  const ack = request('ACK', { toTag: 'uas' });
  tx.receiveRequest(ack);
  t.equal(tx.state, 'confirmed');
  const sentAtAck = sink.sent.length;
  tx.receiveRequest(ack);
  tx.receiveRequest(req);
  t.equal(counters.get('transaction.request.absorbed'), 2);
  clock.advance(4999);
  t.equal(sink.sent.length, sentAtAck, 'Timer G stopped, retransmissions absorbed silently');
  t.equal(tx.state, 'confirmed');
  clock.advance(1);
  t.equal(tx.state, 'terminated', 'Timer I = T4');
  t.equal(user.timeouts, 0);
  t.equal(user.acks.length, 0, 'the ACK of a non-2xx stays in the transaction');
  t.equal(clock.timerCount, 0);
});

t.test('Timer I is zero over TCP: Confirmed ends at once', async (t) => {
  const { clock, tx, req } = make(TCP);
  tx.respond(response(req, 404, 'uas'));
  tx.receiveRequest(request('ACK', { toTag: 'uas' }));
  t.equal(tx.state, 'terminated');
  t.equal(clock.timerCount, 0);
});

t.test('RFC 6026 7.1: 2xx -> Accepted; TU retransmits the 2xx, INVITEs absorbed, ACK to the TU, Timer L ends it', async (t) => {
  const { clock, sink, user, tx, req } = make();
  const ok = response(req, 200, 'uas');
  tx.respond(ok);
  t.equal(tx.state, 'accepted');
  clock.advance(4000);
  t.equal(sink.responses(200).length, 1, 'the transaction does not retransmit a 2xx itself');
  tx.receiveRequest(req);
  t.equal(sink.responses().length, 1, 'retransmitted INVITE absorbed');
  tx.respond(ok);
  t.equal(sink.responses(200).length, 2, '2xx retransmission from the TU is sent');
  const ack = request('ACK', { toTag: 'uas' });
  tx.receiveRequest(ack);
  t.same(user.acks, [ack]);
  t.throws(() => tx.respond(response(req, 500, 'uas')), { code: 'invalid-state' });
  clock.advance(27_999);
  t.equal(tx.state, 'accepted');
  clock.advance(1);
  t.equal(tx.state, 'terminated', 'Timer L = 64*T1');
  t.equal(clock.timerCount, 0);
});

t.test('illegal moves are rejected with invalid-state', async (t) => {
  const { tx, req } = make();
  tx.respond(response(req, 486, 'uas'));
  t.throws(() => tx.respond(response(req, 200, 'uas')), { code: 'invalid-state' }, 'Completed -> Accepted');
  t.throws(() => tx.respond(response(req, 180, 'uas')), { code: 'invalid-state' }, 'provisional after final');
  tx.receiveRequest(request('ACK', { toTag: 'uas' }));
  t.throws(() => tx.respond(response(req, 486, 'uas')), { code: 'invalid-state' }, 'in Confirmed');
  tx.destroy();
  t.throws(() => tx.respond(response(req, 200, 'uas')), { code: 'invalid-state' }, 'in Terminated');
  t.throws(() => make().tx.respond(response(req, 99)), { code: 'protocol' });
});

t.test('an ACK before any final is counted and ignored', async (t) => {
  const { tx, counters } = make();
  tx.receiveRequest(request('ACK'));
  t.equal(tx.state, 'proceeding');
  t.equal(counters.get('transaction.request.unexpected-ack'), 1);
  tx.destroy();
});

t.test('a transport error sending a response terminates and is reported', async (t) => {
  const { clock, sink, user, tx, req } = make();
  tx.respond(response(req, 486, 'uas'));
  sink.failing = true;
  clock.advance(500);
  t.equal(tx.state, 'terminated');
  t.equal(user.errors[0]?.code, 'transport');
  t.equal(clock.timerCount, 0);

  const b = make();
  b.sink.failing = true;
  b.tx.respond(response(b.req, 200, 'uas'));
  t.equal(b.tx.state, 'terminated');
  t.equal(b.user.errors.length, 1);
  t.equal(b.clock.timerCount, 0);
});
