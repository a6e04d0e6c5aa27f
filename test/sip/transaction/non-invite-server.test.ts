import t from 'tap';
import { Counters } from '../../../firmware/core/index.js';
import { NonInviteServerTransaction } from '../../../firmware/sip/transaction/index.js';
import { ServerUser, TCP, UDP, request, response, setup } from './helpers.js';

const make = (target = UDP) => {
  const env = setup();
  const counters = new Counters();
  const user = new ServerUser();
  const req = request('REGISTER');
  const tx = new NonInviteServerTransaction(req, { sink: env.sink, clock: env.clock, target, user, counters });
  return { ...env, counters, user, req, tx };
};

t.test('17.2.2: Trying absorbs retransmissions; no automatic 100 for non-INVITE', async (t) => {
  const { clock, sink, counters, tx, req } = make();
  t.equal(tx.state, 'trying');
  tx.receiveRequest(req);
  clock.advance(10_000);
  t.equal(sink.sent.length, 0);
  t.equal(counters.get('transaction.request.absorbed'), 1);
  t.equal(clock.timerCount, 0);
});

t.test('17.2.2: Trying -> Proceeding on 1xx; a retransmission resends the last provisional', async (t) => {
  const { sink, tx, req } = make();
  tx.respond(response(req, 100));
  t.equal(tx.state, 'proceeding');
  tx.respond(response(req, 101));
  tx.receiveRequest(req);
  t.same(sink.responses().map((r) => r.status), [100, 101, 101]);
  tx.destroy();
});

t.test('17.2.2: Completed resends the final on retransmissions until Timer J = 64*T1 (UDP)', async (t) => {
  const { clock, sink, tx, req } = make();
  tx.respond(response(req, 100));
  tx.respond(response(req, 200));
  t.equal(tx.state, 'completed');
  clock.advance(31_000);
  tx.receiveRequest(req);
  t.same(sink.responses().map((r) => r.status), [100, 200, 200]);
  t.equal(sink.sent.at(-1)!.target, UDP);
  clock.advance(999);
  t.equal(tx.state, 'completed');
  clock.advance(1);
  t.equal(tx.state, 'terminated');
  t.equal(clock.timerCount, 0);
  tx.receiveRequest(req);
  t.equal(sink.responses().length, 3, 'nothing after Terminated');
});

t.test('Timer J is zero over TCP', async (t) => {
  const { clock, tx, req } = make(TCP);
  tx.respond(response(req, 401));
  t.equal(tx.state, 'terminated');
  t.equal(clock.timerCount, 0);
});

t.test('17.2.2: a second final is rejected with invalid-state', async (t) => {
  const { sink, tx, req } = make();
  tx.respond(response(req, 200));
  t.throws(() => tx.respond(response(req, 500)), { code: 'invalid-state' });
  t.throws(() => tx.respond(response(req, 100)), { code: 'invalid-state' });
  t.same(sink.responses().map((r) => r.status), [200]);
  tx.destroy();
});

t.test('transport error terminates and is reported', async (t) => {
  const { clock, sink, user, tx, req } = make();
  sink.failing = true;
  tx.respond(response(req, 200));
  t.equal(tx.state, 'terminated');
  t.equal(user.errors[0]?.code, 'transport');
  t.equal(clock.timerCount, 0);
});

t.test('INVITE and ACK cannot start a non-INVITE server transaction', async (t) => {
  const { clock, sink } = setup();
  for (const m of ['INVITE', 'ACK']) {
    t.throws(() => new NonInviteServerTransaction(request(m), { sink, clock, target: UDP }), { code: 'protocol' }, m);
  }
});
