import t from 'tap';
import { Counters } from '../../../firmware/core/index.js';
import { InviteClientTransaction } from '../../../firmware/sip/transaction/index.js';
import { ClientUser, TCP, UDP, header, request, response, setup } from './helpers.js';

const invite = () =>
  request('INVITE', {
    extraVia: 'SIP/2.0/UDP proxy.example.com;branch=z9hG4bKother',
    routes: ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>'],
  });

t.test('17.1.1.2: Timer A doubles (500, 1000, 2000 ... ms) until Timer B fires at 64*T1 over UDP', async (t) => {
  const { clock, sink, t0 } = setup();
  const user = new ClientUser();
  const tx = new InviteClientTransaction(invite(), { sink, clock, target: UDP, user });
  t.equal(tx.state, 'calling');
  clock.advance(31_999);
  t.same(sink.times(t0), [0, 500, 1500, 3500, 7500, 15500, 31500]);
  t.equal(user.timeouts, 0);
  clock.advance(1);
  t.equal(tx.state, 'terminated');
  t.equal(user.timeouts, 1, 'Timer B reported to the TU');
  t.equal(clock.timerCount, 0);
  t.ok(sink.sent.every((s) => s.target === UDP));
});

t.test('17.1.1.2: no retransmissions over TCP; Timer B still applies', async (t) => {
  const { clock, sink, t0 } = setup();
  const user = new ClientUser();
  const tx = new InviteClientTransaction(invite(), { sink, clock, target: TCP, user });
  clock.advance(31_999);
  t.same(sink.times(t0), [0]);
  clock.advance(1);
  t.equal(tx.state, 'terminated');
  t.equal(user.timeouts, 1);
  t.equal(clock.timerCount, 0);
});

t.test('Calling -> Proceeding on 1xx stops Timer A and Timer B; 1xx goes to the TU', async (t) => {
  const { clock, sink, t0 } = setup();
  const user = new ClientUser();
  const req = invite();
  const tx = new InviteClientTransaction(req, { sink, clock, target: UDP, user });
  clock.advance(600);
  tx.receiveResponse(response(req, 180, 'b1'));
  t.equal(tx.state, 'proceeding');
  clock.advance(120_000);
  t.same(sink.times(t0), [0, 500], 'no retransmission after a provisional');
  t.equal(user.timeouts, 0, 'Timer B no longer applies in Proceeding');
  tx.receiveResponse(response(req, 183, 'b1'));
  t.same(user.responses.map((r) => r.status), [180, 183]);
  t.equal(clock.timerCount, 0);
});

t.test('17.1.1.3: Proceeding -> Completed on 486 sends an ACK built field by field', async (t) => {
  const { clock, sink } = setup();
  const user = new ClientUser();
  const req = invite();
  const tx = new InviteClientTransaction(req, { sink, clock, target: UDP, user });
  tx.receiveResponse(response(req, 180, 'totag9'));
  const busy = response(req, 486, 'totag9');
  tx.receiveResponse(busy);
  t.equal(tx.state, 'completed');
  t.same(user.responses.map((r) => r.status), [180, 486]);
  const acks = sink.requests('ACK');
  t.equal(acks.length, 1);
  const ack = acks[0]!;
  t.equal(ack.uri, req.uri, 'Request-URI of the INVITE');
  t.same(ack.headers.filter((h) => h.name === 'via').map((h) => h.value), ['SIP/2.0/UDP pc33.atlanta.com:5060;branch=z9hG4bKabc123'], 'only the top Via');
  t.same(ack.headers.filter((h) => h.name === 'route').map((h) => h.value), ['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>'], 'Route set of the INVITE');
  t.equal(header(ack, 'call-id'), header(req, 'call-id'));
  t.equal(header(ack, 'from'), header(req, 'from'));
  t.equal(header(ack, 'to'), 'Bob <sip:bob@biloxi.com>;tag=totag9', 'To of the response, with its tag');
  t.equal(header(ack, 'cseq'), '314159 ACK');
  t.equal(header(ack, 'max-forwards'), '70');
  t.equal(ack.body.length, 0);
  t.equal(sink.sent.at(-1)!.target, UDP, 'sent where the INVITE went');
  t.same(tx.ackRequest, ack);
});

t.test('17.1.1.2: in Completed, retransmitted finals are re-ACKed, not passed up; Timer D ends it (UDP)', async (t) => {
  const { clock, sink } = setup();
  const user = new ClientUser();
  const req = invite();
  const tx = new InviteClientTransaction(req, { sink, clock, target: UDP, user });
  clock.advance(100);
  tx.receiveResponse(response(req, 404, 'x'));
  t.equal(tx.state, 'completed', 'Calling -> Completed directly');
  clock.advance(10_000);
  tx.receiveResponse(response(req, 404, 'x'));
  tx.receiveResponse(response(req, 404, 'x'));
  t.equal(sink.requests('ACK').length, 3);
  t.same(user.responses.map((r) => r.status), [404]);
  clock.advance(21_999);
  t.equal(tx.state, 'completed');
  clock.advance(1);
  t.equal(tx.state, 'terminated', 'Timer D = 32 s');
  t.equal(sink.requests('INVITE').length, 1, 'Timer A stopped on the final response');
  t.equal(clock.timerCount, 0);
});

t.test('Timer D is zero over TCP: Completed ends at once', async (t) => {
  const { clock, sink } = setup();
  let terminated = 0;
  const user = new ClientUser();
  const req = invite();
  const tx = new InviteClientTransaction(req, { sink, clock, target: TCP, user, onTerminated: () => terminated++ });
  tx.receiveResponse(response(req, 503, 'x'));
  t.equal(tx.state, 'terminated');
  t.equal(terminated, 1);
  t.equal(sink.requests('ACK').length, 1);
  t.same(user.responses.map((r) => r.status), [503]);
  t.equal(clock.timerCount, 0);
});

t.test('RFC 6026 7.2: 2xx -> Accepted; every 2xx retransmission goes to the TU until Timer M', async (t) => {
  const { clock, sink } = setup();
  const counters = new Counters();
  const user = new ClientUser();
  const req = invite();
  const tx = new InviteClientTransaction(req, { sink, clock, target: UDP, user, counters });
  tx.receiveResponse(response(req, 180, 'a'));
  tx.receiveResponse(response(req, 200, 'a'));
  t.equal(tx.state, 'accepted');
  tx.receiveResponse(response(req, 200, 'a'));
  tx.receiveResponse(response(req, 200, 'b'));
  tx.receiveResponse(response(req, 486, 'c'));
  t.same(user.responses.map((r) => r.status), [180, 200, 200, 200], 'forked and retransmitted 2xx all reach the TU');
  t.equal(sink.requests('ACK').length, 0, 'the TU ACKs a 2xx, not the transaction');
  t.equal(counters.get('transaction.response.ignored'), 1);
  clock.advance(31_999);
  t.equal(tx.state, 'accepted');
  clock.advance(1);
  t.equal(tx.state, 'terminated');
  t.equal(clock.timerCount, 0);
  tx.receiveResponse(response(req, 200, 'a'));
  t.equal(user.responses.length, 4, 'nothing after Terminated');
});

t.test('a transport error on the INVITE terminates and is reported (17.1.1.2)', async (t) => {
  const { clock, sink } = setup();
  sink.failing = true;
  const user = new ClientUser();
  const tx = new InviteClientTransaction(invite(), { sink, clock, target: TCP, user });
  t.equal(tx.state, 'terminated');
  t.equal(user.errors.length, 1);
  t.equal(user.errors[0]!.code, 'transport');
  t.equal(clock.timerCount, 0);
});

t.test('a transport error on a retransmission or the ACK terminates and is reported', async (t) => {
  const { clock, sink } = setup();
  const user = new ClientUser();
  const req = invite();
  const tx = new InviteClientTransaction(req, { sink, clock, target: UDP, user });
  sink.failing = true;
  clock.advance(500);
  t.equal(tx.state, 'terminated');
  t.equal(user.errors.length, 1);
  t.equal(clock.timerCount, 0);

  const user2 = new ClientUser();
  sink.failing = false;
  const tx2 = new InviteClientTransaction(req, { sink, clock, target: UDP, user: user2 });
  sink.failing = true;
  tx2.receiveResponse(response(req, 480, 'z'));
  t.equal(tx2.state, 'terminated');
  t.equal(user2.errors.length, 1);
  t.same(user2.responses.map((r) => r.status), [480]);
  t.equal(clock.timerCount, 0);
});

t.test('a final response without To cannot be ACKed: counted and dropped', async (t) => {
  const { clock, sink } = setup();
  const counters = new Counters();
  const user = new ClientUser();
  const req = invite();
  const tx = new InviteClientTransaction(req, { sink, clock, target: UDP, user, counters });
  const bad = response(req, 486, 'x');
  tx.receiveResponse({ ...bad, headers: bad.headers.filter((h) => h.name !== 'to') });
  t.equal(tx.state, 'calling');
  t.equal(counters.get('transaction.response.unackable'), 1);
  t.equal(user.responses.length, 0);
  tx.destroy();
  t.equal(clock.timerCount, 0);
});

t.test('only an INVITE with a Via branch can start it', async (t) => {
  const { clock, sink } = setup();
  const user = new ClientUser();
  t.throws(() => new InviteClientTransaction(request('OPTIONS'), { sink, clock, target: UDP, user }), { code: 'protocol' });
  t.throws(() => new InviteClientTransaction(request('INVITE', { branch: '' }), { sink, clock, target: UDP, user }), { code: 'protocol' });
  t.equal(sink.sent.length, 0);
});
