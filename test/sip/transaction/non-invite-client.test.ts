import t from 'tap';
import { Counters } from '../../../firmware/core/index.js';
import { NonInviteClientTransaction } from '../../../firmware/sip/transaction/index.js';
import { ClientUser, TCP, UDP, request, response, setup } from './helpers.js';

t.test('17.1.2.2: Timer E doubles up to T2 in Trying; Timer F times out at 64*T1 (UDP)', async (t) => {
  const { clock, sink, t0 } = setup();
  const user = new ClientUser();
  const tx = new NonInviteClientTransaction(request('OPTIONS'), { sink, clock, target: UDP, user });
  t.equal(tx.state, 'trying');
  clock.advance(31_999);
  t.same(sink.times(t0), [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
  clock.advance(1);
  t.equal(tx.state, 'terminated');
  t.equal(user.timeouts, 1, 'Timer F reported');
  t.equal(clock.timerCount, 0);
});

t.test('17.1.2.2: over TCP the request is sent once; Timer F still applies', async (t) => {
  const { clock, sink, t0 } = setup();
  const user = new ClientUser();
  const tx = new NonInviteClientTransaction(request('REGISTER'), { sink, clock, target: TCP, user });
  clock.advance(32_000);
  t.same(sink.times(t0), [0]);
  t.equal(tx.state, 'terminated');
  t.equal(user.timeouts, 1);
  t.equal(clock.timerCount, 0);
});

t.test('Trying -> Proceeding on 1xx: Timer E continues, now every T2; Timer F still runs', async (t) => {
  const { clock, sink, t0 } = setup();
  const user = new ClientUser();
  const req = request('BYE');
  const tx = new NonInviteClientTransaction(req, { sink, clock, target: UDP, user });
  clock.advance(600);
  tx.receiveResponse(response(req, 100));
  t.equal(tx.state, 'proceeding');
  clock.advance(9400);
  t.same(sink.times(t0), [0, 500, 1500, 5500, 9500]);
  tx.receiveResponse(response(req, 100));
  t.equal(tx.state, 'proceeding');
  clock.advance(22_000);
  t.equal(tx.state, 'terminated', 'Timer F fires in Proceeding too');
  t.equal(user.timeouts, 1);
  t.same(user.responses.map((r) => r.status), [100, 100]);
  t.equal(clock.timerCount, 0);
});

t.test('Proceeding -> Completed on a final: TU told once, retransmissions absorbed, Timer K = T4 (UDP)', async (t) => {
  const { clock, sink } = setup();
  const counters = new Counters();
  const user = new ClientUser();
  const req = request('BYE');
  const tx = new NonInviteClientTransaction(req, { sink, clock, target: UDP, user, counters });
  tx.receiveResponse(response(req, 100));
  tx.receiveResponse(response(req, 200));
  t.equal(tx.state, 'completed');
  const sentBefore = sink.sent.length;
  tx.receiveResponse(response(req, 200));
  t.same(user.responses.map((r) => r.status), [100, 200]);
  t.equal(counters.get('transaction.response.absorbed'), 1);
  clock.advance(4999);
  t.equal(tx.state, 'completed');
  t.equal(sink.sent.length, sentBefore, 'Timer E stopped');
  clock.advance(1);
  t.equal(tx.state, 'terminated');
  t.equal(clock.timerCount, 0);
});

t.test('Trying -> Completed directly; Timer K is zero over TCP', async (t) => {
  const { clock, sink } = setup();
  let ended = 0;
  const user = new ClientUser();
  const req = request('MESSAGE');
  const tx = new NonInviteClientTransaction(req, { sink, clock, target: TCP, user, onTerminated: () => ended++ });
  tx.receiveResponse(response(req, 404));
  t.equal(tx.state, 'terminated');
  t.equal(ended, 1);
  t.same(user.responses.map((r) => r.status), [404]);
  t.equal(clock.timerCount, 0);
});

t.test('transport error on a retransmission terminates and is reported', async (t) => {
  const { clock, sink } = setup();
  const user = new ClientUser();
  const tx = new NonInviteClientTransaction(request('OPTIONS'), { sink, clock, target: UDP, user });
  sink.failing = true;
  clock.advance(500);
  t.equal(tx.state, 'terminated');
  t.equal(user.errors[0]?.code, 'transport');
  t.equal(user.timeouts, 0);
  t.equal(clock.timerCount, 0);
  tx.transportFailed(user.errors[0]!);
  t.equal(user.errors.length, 1, 'reported once');
});

t.test('INVITE and ACK cannot start a non-INVITE client transaction', async (t) => {
  const { clock, sink } = setup();
  const user = new ClientUser();
  for (const m of ['INVITE', 'ACK']) {
    t.throws(() => new NonInviteClientTransaction(request(m), { sink, clock, target: UDP, user }), { code: 'protocol' }, m);
  }
});
