/**
 * Issue 20, "a flood locks legitimate phones out": challenges, OPTIONS and
 * out-of-dialog errors are answered statelessly (RFC 3261 8.2.7), an answered
 * UDP non-INVITE transaction is reduced to its key and serialized response
 * (measured here: under 1 KB), those do not count against the transaction
 * cap, and a per-source token bucket drops a flooding address's excess
 * datagrams before they are parsed.
 */
import { createContext, runInContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import t from 'tap';
import { Counters, FakeClock, seededRandom } from '../../firmware/core/index.js';
import { parseMessage, serialize, type SipMessage, type SipRequest, type SipResponse } from '../../firmware/sip/message/index.js';
import {
  MAX_ANSWERED, TransactionLayer, answerStatelessly, type ServerTransaction, type Target, type TransportSink,
} from '../../firmware/sip/transaction/index.js';
import { SourceRate } from '../../firmware/sip/transport/index.js';
import { request, response } from '../sip/transaction/helpers.js';

const PEER: Target = { transport: 'udp', address: '198.51.100.7', port: 5062 };
const J_MS = 32_000;

/** A sink that records messages and serialized resends, like the transports. */
class WireSink implements TransportSink {
  readonly msgs: SipMessage[] = [];
  readonly bytes: Buffer[] = [];
  keep = true;
  send(msg: SipMessage): void { if (this.keep) this.msgs.push(msg); }
  sendSerialized(bytes: Buffer): void { this.bytes.push(bytes); }
}

/** A TU answering as the PBX does: 401 without Authorization, 200 with, 403 for "wrong". */
function makeLayer(opts: { maxServerTransactions?: number; maxAnswered?: number } = {}) {
  const clock = new FakeClock();
  const sink = new WireSink();
  const counters = new Counters();
  const seen: SipRequest[] = [];
  const acks: SipRequest[] = [];
  const answer = (req: SipRequest): SipResponse => {
    const auth = req.headers.find((h) => h.name === 'authorization')?.value;
    if (req.method === 'OPTIONS') return response(req, 200, 'opt', 'OK');
    if (auth === undefined) return { ...response(req, 401, 'chal', 'Unauthorized'), headers: [...response(req, 401, 'chal').headers, { name: 'www-authenticate', value: 'Digest realm="pbx", nonce="n", qop="auth"' }] };
    if (auth === 'wrong') return response(req, 403, 'f', 'Forbidden');
    return { ...response(req, 200, 'ok', 'OK'), headers: [...response(req, 200, 'ok').headers, { name: 'contact', value: '<sip:100@192.0.2.50:5060>;expires=3600' }] };
  };
  const layer = new TransactionLayer({
    sink, clock, random: seededRandom(7), counters, sentBy: () => '192.0.2.1:5060',
    ...opts,
    user: {
      onRequest: (req: SipRequest, tx: ServerTransaction) => { seen.push(req); tx.respond(answer(req)); },
      onCancel: () => {},
      onAck: (ack: SipRequest) => { acks.push(ack); },
    },
  });
  return { clock, sink, counters, seen, acks, layer };
}

const withAuth = (req: SipRequest, value: string): SipRequest => ({ ...req, headers: [...req.headers, { name: 'authorization', value }] });

t.test('the stateless policy: challenges, OPTIONS and out-of-dialog errors; not 403, 2xx or INVITE finals other than challenges', async (t) => {
  const reg = request('REGISTER');
  t.equal(answerStatelessly(reg, response(reg, 401)), true);
  t.equal(answerStatelessly(reg, response(reg, 407)), true);
  t.equal(answerStatelessly(reg, response(reg, 403)), false, 'a 403 after a digest check is kept');
  t.equal(answerStatelessly(reg, response(reg, 200)), false);
  t.equal(answerStatelessly(reg, response(reg, 100)), false);
  t.equal(answerStatelessly(request('OPTIONS'), response(request('OPTIONS'), 200)), true);
  t.equal(answerStatelessly(request('MESSAGE'), response(request('MESSAGE'), 405)), true);
  t.equal(answerStatelessly(request('BYE', { toTag: 'x' }), response(request('BYE', { toTag: 'x' }), 481)), false, 'in a dialog: kept');
  t.equal(answerStatelessly(request('INVITE'), response(request('INVITE'), 401)), true);
  t.equal(answerStatelessly(request('INVITE'), response(request('INVITE'), 486)), false);
});

t.test('a 401 challenge leaves no transaction: a retransmission is simply challenged again', async (t) => {
  const { layer, sink, seen, counters } = makeLayer();
  const reg = request('REGISTER', { branch: 'z9hG4bKchal1' });
  layer.receive(reg, PEER);
  t.equal(sink.msgs.length, 1);
  t.equal((sink.msgs[0] as SipResponse).status, 401);
  t.equal(layer.serverCount, 0, 'no server transaction');
  t.equal(layer.answeredCount, 0, 'nothing remembered');
  layer.receive(reg, PEER);
  t.equal(seen.length, 2, 'the retransmission reaches the TU again');
  t.equal(sink.msgs.length, 2);
  t.equal(counters.get('transaction.server.stateless'), 2);
});

t.test('OPTIONS and a 405 are stateless too; so is a 401 to INVITE, whose ACK goes to the TU', async (t) => {
  const { layer, sink, acks } = makeLayer();
  layer.receive(request('OPTIONS', { branch: 'z9hG4bKopt' }), PEER);
  t.equal(layer.serverCount + layer.answeredCount, 0);
  const inv = request('INVITE', { branch: 'z9hG4bKinv' });
  layer.receive(inv, PEER);
  t.equal((sink.msgs.at(-1) as SipResponse).status, 401);
  t.equal(layer.serverCount + layer.answeredCount, 0, 'no INVITE server transaction waits 32 s for the ACK');
  layer.receive(request('ACK', { branch: 'z9hG4bKinv', toTag: 'chal' }), PEER);
  t.equal(acks.length, 1, 'the ACK for the 401 reaches the TU (which finds no dialog)');
});

t.test('an answered REGISTER is kept as key + serialized bytes until Timer J: a retransmission gets the same bytes, not the TU', async (t) => {
  const { layer, sink, seen, clock } = makeLayer();
  const reg = withAuth(request('REGISTER', { branch: 'z9hG4bKok1' }), 'good');
  layer.receive(reg, PEER);
  t.equal((sink.msgs[0] as SipResponse).status, 200);
  t.equal(layer.serverCount, 0, 'not a live transaction');
  t.equal(layer.answeredCount, 1);
  layer.receive(reg, PEER);
  t.equal(seen.length, 1, 'the TU saw it once');
  t.equal(sink.bytes.length, 1);
  t.same(sink.bytes[0], serialize(sink.msgs[0] as SipResponse), 'the very response, byte for byte');
  clock.advance(J_MS - 1);
  t.equal(layer.answeredCount, 1);
  clock.advance(1);
  t.equal(layer.answeredCount, 0, 'forgotten at Timer J (64*T1)');
  layer.receive(reg, PEER);
  t.equal(seen.length, 2, 'after J it is a new request');
});

t.test('a 403 after a wrong password is kept likewise (its retransmission is not another guess)', async (t) => {
  const { layer, seen } = makeLayer();
  const reg = withAuth(request('REGISTER', { branch: 'z9hG4bKbad' }), 'wrong');
  layer.receive(reg, PEER);
  layer.receive(reg, PEER);
  t.equal(seen.length, 1);
  t.equal(layer.answeredCount, 1);
});

t.test('over TCP nothing is kept (Timer J is 0)', async (t) => {
  const { layer } = makeLayer();
  layer.receive(withAuth(request('REGISTER', { branch: 'z9hG4bKtcp', transport: 'TCP' }), 'good'), { transport: 'tcp', address: '192.0.2.9', port: 40000, flowId: 'f1' });
  t.equal(layer.serverCount + layer.answeredCount, 0);
});

t.test('a flood of 60,000 unauthenticated REGISTER/OPTIONS and answered ones never makes the box answer 503', async (t) => {
  const { layer, sink, counters } = makeLayer({ maxServerTransactions: 1000, maxAnswered: 5000 });
  for (let i = 0; i < 20_000; i++) layer.receive(request('REGISTER', { branch: `z9hG4bKf${i}`, callId: `c${i}` }), PEER);
  for (let i = 0; i < 20_000; i++) layer.receive(request('OPTIONS', { branch: `z9hG4bKo${i}`, callId: `o${i}` }), PEER);
  for (let i = 0; i < 20_000; i++) layer.receive(withAuth(request('REGISTER', { branch: `z9hG4bKa${i}`, callId: `a${i}` }), 'wrong'), PEER);
  t.equal(layer.serverCount, 0);
  t.equal(layer.answeredCount, 5000, 'answered entries are capped; the oldest go');
  t.equal(counters.get('transaction.answered.evicted'), 15_000);
  t.equal(counters.get('transaction.request.overload'), 0, 'no 503');
  sink.msgs.length = 0;
  layer.receive(withAuth(request('REGISTER', { branch: 'z9hG4bKlegit', callId: 'legit' }), 'good'), { transport: 'udp', address: '203.0.113.5', port: 5060 });
  t.equal((sink.msgs[0] as SipResponse).status, 200, 'a legitimate phone is served');
});

t.test('what an answered transaction keeps: under 1 KB each (heap and buffers)', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInContext('gc', createContext()) as () => void;
  const N = 20_000;
  const { layer, sink, seen } = makeLayer({ maxAnswered: MAX_ANSWERED });
  sink.keep = false;
  // A realistic REGISTER as the parser produces it (the layer keeps none of it).
  const text = (i: number) => [
    'REGISTER sip:192.0.2.1 SIP/2.0',
    `Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bK${String(i).padStart(12, '0')}abcdef;rport=5060;received=192.0.2.50`,
    'Max-Forwards: 70', `From: <sip:100@192.0.2.1>;tag=${i}a8f3e2`, 'To: <sip:100@192.0.2.1>',
    `Call-ID: ${i}-9f8e7d6c5b4a3f2e1d0c@192.0.2.50`, 'CSeq: 2 REGISTER',
    'Contact: <sip:100@192.0.2.50:5060;transport=udp>;expires=3600', 'Expires: 3600',
    'Authorization: Digest username="100", realm="pbx", nonce="n", uri="sip:192.0.2.1", response="0123456789abcdef0123456789abcdef"',
    'User-Agent: desk phone 1.0', 'Content-Length: 0', '', ''].join('\r\n');
  gc();
  const used = (): number => { const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
  const before = used();
  for (let i = 0; i < N; i++) {
    const p = parseMessage(Buffer.from(text(i)));
    if (!p.ok) throw new Error('fixture does not parse');
    layer.receive(p.message, PEER);
  }
  seen.length = 0; // the test TU's own record of requests
  gc();
  const per = (used() - before) / N;
  t.equal(layer.answeredCount, N);
  t.ok(per < 1024, `bytes per answered transaction: ${Math.round(per)} (< 1024)`);
  t.comment(`answered transaction: ${Math.round(per)} bytes of heap each (${N} kept)`);
});

t.test('SourceRate: a burst, then the rate; other sources untouched; tracking bounded', async (t) => {
  const r = new SourceRate(100, 200, 3);
  let ok = 0;
  for (let i = 0; i < 1000; i++) if (r.take('10.0.0.1', 0)) ok++;
  t.equal(ok, 200, 'the burst');
  t.equal(r.take('10.0.0.2', 0), true, 'another source has its own bucket');
  t.equal(r.take('10.0.0.1', 5), false, 'half a token is not enough');
  t.equal(r.take('10.0.0.1', 10), true, 'one token after 10 ms at 100/s');
  ok = 0;
  for (let i = 0; i < 1000; i++) if (r.take('10.0.0.1', 1010)) ok++;
  t.equal(ok, 100, 'one second refills 100');
  r.take('10.0.0.3', 0);
  r.take('10.0.0.4', 0);
  t.equal(r.tracked, 3, 'at most maxSources tracked');
});
