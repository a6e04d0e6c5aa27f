import t from 'tap';
import type { CallView, LegView } from '../../firmware/api/index.js';
import { StatusLeds, secureCallCount } from '../../firmware/status/index.js';
import { SimBoard } from '../../board/index.js';

const leg = (protection: LegView['protection']): LegView => ({ party: 'x', transport: 'tls', protection });
const call = (a: LegView, b?: LegView): CallView => ({
  id: 'c', caller: '201', callee: '202', state: 'answered', startedAt: 0, legs: b ? { a, b } : { a }, mode: 'bridge', recordingPossible: true,
});

t.test('secure calls are those whose every leg is SRTP, whatever the key agreement', async (t) => {
  t.equal(secureCallCount([]), 0);
  t.equal(secureCallCount([call(leg('sdes'), leg('dtls')), call(leg('zrtp'), leg('sdes'))]), 2);
  t.equal(secureCallCount([call(leg('sdes'), leg('rtp'))]), 0, 'SRTP to plain RTP is not secure');
  t.equal(secureCallCount([call(leg('rtp'), leg('sdes'))]), 0);
  t.equal(secureCallCount([call(leg('sdes'))]), 1, 'a call still routing is judged on its caller leg');
  t.equal(secureCallCount([call(leg('rtp'))]), 0);
});

t.test('the call LED turns blue only when every call is secure (the count main.ts now feeds)', async (t) => {
  const board = new SimBoard({ print: () => {}, showLeds: false });
  const leds = new StatusLeds(board.leds);
  leds.update({ phase: 'running', registeredPhones: 2 });
  const calls = [call(leg('sdes'), leg('sdes')), call(leg('sdes'), leg('rtp'))];
  leds.update({ activeCalls: calls.length, secureCalls: secureCallCount(calls) });
  t.same(board.leds.get('call'), { mode: 'on', color: 'green' });
  const secure = calls.slice(0, 1);
  leds.update({ activeCalls: secure.length, secureCalls: secureCallCount(secure) });
  t.same(board.leds.get('call'), { mode: 'on', color: 'blue' });
});
