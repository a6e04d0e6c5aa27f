import t from 'tap';
import { Counters, FakeClock } from '../../../firmware/core/index.js';
import { createResponse, type SipRequest } from '../../../firmware/sip/message/index.js';
import type { ClientTransactionUser } from '../../../firmware/sip/transaction/index.js';
import { FAILURES_TO_DOWN, KeepAlive, type Liveness } from '../../../firmware/pbx/trunks/index.js';

/** OPTIONS keep-alive: any final answer is "up"; FAILURES_TO_DOWN misses in a row is "down"; back up on the next answer. */

const options: SipRequest = {
  kind: 'request', method: 'OPTIONS', uri: 'sip:voip.example', body: Buffer.alloc(0),
  headers: [{ name: 'from', value: '<sip:box@192.0.2.1>;tag=a' }, { name: 'to', value: '<sip:voip.example>' }, { name: 'call-id', value: 'c1' }, { name: 'cseq', value: '1 OPTIONS' }],
};

t.test('a trunk that stops answering OPTIONS is marked down, and up again when it answers', async (t) => {
  const clock = new FakeClock();
  let answer: 'ok' | 'timeout' | 'transport' | '405' = 'ok';
  let sent = 0;
  const changes: Liveness[] = [];
  const ka = new KeepAlive({
    clock, counters: new Counters(),
    send: (req, _target, user: ClientTransactionUser) => {
      sent++;
      if (answer === 'timeout') user.onTimeout?.();
      else if (answer === 'transport') user.onTransportError?.(Object.assign(new Error('ECONNREFUSED'), { code: 'transport' }) as never);
      else user.onResponse(createResponse(req, answer === '405' ? 405 : 200));
    },
    options: () => options,
    target: () => ({ transport: 'udp', address: '192.0.2.10', port: 5060 }),
    onChange: (s) => changes.push(s),
  }, 30_000);
  ka.start();
  t.equal(ka.state, 'up');
  answer = 'timeout';
  clock.advance(30_000);
  t.equal(ka.state, 'up', 'one miss is not down');
  clock.advance(30_000);
  t.equal(FAILURES_TO_DOWN, 2);
  t.equal(ka.state, 'down');
  t.match(ka.lastError, /no answer/);
  answer = 'transport';
  clock.advance(30_000);
  t.equal(ka.state, 'down', 'still down, still asking');
  t.match(ka.lastError, /transport/);
  answer = '405';
  clock.advance(30_000);
  t.equal(ka.state, 'up', 'a 405 is an answer: the server is there');
  t.same(changes, ['up', 'down', 'up']);
  t.equal(sent, 5);
  ka.stop();
  clock.advance(300_000);
  t.equal(sent, 5, 'nothing after stop');
});
