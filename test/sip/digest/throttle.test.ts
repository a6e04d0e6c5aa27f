import t from 'tap';
import { Counters, FakeClock } from '../../../firmware/core/index.js';
import { AuthThrottle } from '../../../firmware/sip/digest/index.js';

function setup(opts: { maxTracked?: number; maxBlocked?: number } = {}) {
  const clock = new FakeClock();
  const counters = new Counters();
  return { clock, counters, throttle: new AuthThrottle({ clock, counters, ...opts }) };
}

t.test('10 failures within the window block the address; others unaffected', async (t) => {
  const { clock, counters, throttle } = setup();
  for (let i = 0; i < 9; i++) {
    throttle.recordFailure('192.0.2.1');
    clock.advance(1_000);
  }
  t.notOk(throttle.isBlocked('192.0.2.1'), '9 failures do not block');
  throttle.recordFailure('192.0.2.1');
  t.ok(throttle.isBlocked('192.0.2.1'), 'the 10th does');
  t.notOk(throttle.isBlocked('192.0.2.2'), 'another address is not blocked');
  t.same(throttle.blocked(), [{ address: '192.0.2.1', until: clock.now() + 300_000, failures: 10 }]);
  t.equal(counters.get('sip.auth-throttle.block'), 1);
});

t.test('the window slides: old failures stop counting', async (t) => {
  const { clock, throttle } = setup();
  for (let i = 0; i < 9; i++) throttle.recordFailure('198.51.100.7');
  clock.advance(60_000);
  throttle.recordFailure('198.51.100.7');
  t.notOk(throttle.isBlocked('198.51.100.7'), 'failures a full window ago are forgotten');
  for (let i = 0; i < 8; i++) throttle.recordFailure('198.51.100.7');
  t.notOk(throttle.isBlocked('198.51.100.7'));
  throttle.recordFailure('198.51.100.7');
  t.ok(throttle.isBlocked('198.51.100.7'), '10 within the last window');
});

t.test('a block expires after blockMs', async (t) => {
  const { clock, throttle } = setup();
  for (let i = 0; i < 10; i++) throttle.recordFailure('203.0.113.5');
  clock.advance(299_999);
  t.ok(throttle.isBlocked('203.0.113.5'));
  throttle.recordFailure('203.0.113.5');
  t.equal(throttle.blocked()[0]?.failures, 11, 'failures while blocked are counted for status');
  clock.advance(1);
  t.notOk(throttle.isBlocked('203.0.113.5'));
  t.same(throttle.blocked(), []);
  throttle.recordFailure('203.0.113.5');
  t.notOk(throttle.isBlocked('203.0.113.5'), 'count starts again after the block');
});

t.test('success resets the count but does not lift a block in force', async (t) => {
  const { throttle } = setup();
  for (let i = 0; i < 9; i++) throttle.recordFailure('192.0.2.9');
  throttle.recordSuccess('192.0.2.9');
  for (let i = 0; i < 9; i++) throttle.recordFailure('192.0.2.9');
  t.notOk(throttle.isBlocked('192.0.2.9'), 'reset by the success');
  throttle.recordFailure('192.0.2.9');
  t.ok(throttle.isBlocked('192.0.2.9'));
  throttle.recordSuccess('192.0.2.9');
  t.ok(throttle.isBlocked('192.0.2.9'), 'one valid account cannot unblock a guesser');
});

t.test('memory is bounded: oldest tracked addresses are evicted', async (t) => {
  const { throttle } = setup({ maxTracked: 3, maxBlocked: 2 });
  for (let i = 0; i < 9; i++) throttle.recordFailure('10.0.0.1');
  for (const a of ['10.0.0.2', '10.0.0.3', '10.0.0.4']) throttle.recordFailure(a);
  throttle.recordFailure('10.0.0.1');
  t.notOk(throttle.isBlocked('10.0.0.1'), 'evicted count started over');
  for (const a of ['10.1.0.1', '10.1.0.2', '10.1.0.3']) for (let i = 0; i < 10; i++) throttle.recordFailure(a);
  t.same(throttle.blocked().map((b) => b.address), ['10.1.0.2', '10.1.0.3'], 'block list capped, oldest dropped');
});

t.test('configuration is validated', async (t) => {
  const clock = new FakeClock();
  t.throws(() => new AuthThrottle({ clock, limit: 0 }), { code: 'config' });
  t.throws(() => new AuthThrottle({ clock, windowMs: -1 }), { code: 'config' });
});
