import t from 'tap';
import { AccountDelay } from '../../firmware/admin/throttle.js';
import { FakeClock } from '../../firmware/core/index.js';
import { plainGet } from './client.js';
import { SETUP_CODE, startAdmin } from './fixture.js';

/*
 * Issue 18, from the same attack run: 100 guesses spread over 20 addresses
 * were all answered as real guesses, because login throttling counted per
 * source address only. Each admin credential now keeps its own count across
 * addresses with growing waits; the per-address block stays. And the
 * plain-HTTP redirect no longer echoes whatever Host a request claims.
 */

const PASSWORD = 'correct horse battery';

t.test('AccountDelay: free failures, then waits that double up to the cap; old failures are forgotten', async (t) => {
  const clock = new FakeClock(0);
  const d = new AccountDelay(clock, { freeFailures: 3, baseDelayMs: 1000, maxDelayMs: 8000, forgetMs: 60_000 });
  for (let i = 0; i < 3; i++) {
    t.equal(d.waitMs('admin'), 0, `attempt ${i + 1} is heard`);
    d.recordFailure('admin');
  }
  t.equal(d.waitMs('admin'), 1000, 'after the free failures: the base wait');
  t.equal(d.waitMs('setup'), 0, 'another credential is not affected');
  clock.advance(1000);
  t.equal(d.waitMs('admin'), 0, 'the wait is over');
  d.recordFailure('admin');
  t.equal(d.waitMs('admin'), 2000, 'doubled');
  for (let i = 0; i < 5; i++) { clock.advance(10_000); d.recordFailure('admin'); }
  t.equal(d.waitMs('admin'), 8000, 'capped');
  clock.advance(60_000);
  t.equal(d.waitMs('admin'), 0, 'forgotten after an hour without failures (here a minute)');
  d.recordFailure('admin');
  t.equal(d.waitMs('admin'), 0, 'and counting starts again');
  d.recordSuccess('admin');
  t.equal(d.waitMs('admin'), 0);
});

t.test('distributed guessing over 20 addresses is slowed after a handful of failures; the right password works from a clean address after the wait', async (t) => {
  const fx = await startAdmin({ accountDelay: { freeFailures: 5, baseDelayMs: 2000, maxDelayMs: 60_000 } });
  t.teardown(() => fx.stop());
  t.equal((await fx.call('POST', '/api/setup', { body: { setupCode: SETUP_CODE, password: PASSWORD } })).status, 200);

  const answered: number[] = [];
  let refused = 0;
  for (let i = 0; i < 100; i++) {
    const from = `127.0.${10 + (i % 20)}.1`;
    const r = await fx.call('POST', '/api/login', { body: { password: `guess-${i}-wrong` }, from });
    if (r.status === 401) answered.push(i);
    else if (r.status === 429) {
      refused++;
      t.ok(Number(r.headers['retry-after']) >= 1, 'Retry-After says how long');
    } else t.fail(`guess ${i}: unexpected ${r.status}`);
    if (i % 10 === 9) fx.clock.advance(1000); // the attacker keeps going, ten guesses a second
  }
  t.ok(answered.length <= 12, `only ${answered.length} of 100 guesses were checked against the password`);
  t.equal(refused, 100 - answered.length, 'every other one was refused unheard');
  t.equal(fx.admin.counters.get('admin.login.delayed'), refused, 'counted');

  const early = await fx.call('POST', '/api/login', { body: { password: PASSWORD }, from: '127.0.99.1' });
  t.equal(early.status, 429, 'during the wait even the right password is not checked');
  fx.clock.advance(Number(early.headers['retry-after']) * 1000);
  const ok = await fx.call('POST', '/api/login', { body: { password: PASSWORD }, from: '127.0.99.1' });
  t.equal(ok.status, 200, 'after the wait the admin logs in from a clean address');
  const again = await fx.call('POST', '/api/login', { body: { password: 'one-more-wrong' }, from: '127.0.99.2' });
  t.equal(again.status, 401, 'a success clears the count');
});

t.test('the per-address block still holds', async (t) => {
  const fx = await startAdmin({ loginThrottle: { limit: 3, windowMs: 60_000, blockMs: 120_000 } });
  t.teardown(() => fx.stop());
  t.equal((await fx.call('POST', '/api/setup', { body: { setupCode: SETUP_CODE, password: PASSWORD } })).status, 200);
  for (let i = 0; i < 3; i++) t.equal((await fx.call('POST', '/api/login', { body: { password: `x-${i}-wrong` }, from: '127.0.5.1' })).status, 401);
  t.equal((await fx.call('POST', '/api/login', { body: { password: PASSWORD }, from: '127.0.5.1' })).status, 429, 'that address is blocked');
  t.equal((await fx.call('POST', '/api/login', { body: { password: PASSWORD }, from: '127.0.5.2' })).status, 200, 'another one is not');
});

t.test('guessing the setup code is slowed across addresses too', async (t) => {
  const fx = await startAdmin({ accountDelay: { freeFailures: 3, baseDelayMs: 5000, maxDelayMs: 60_000 } });
  t.teardown(() => fx.stop());
  const statuses: number[] = [];
  for (let i = 0; i < 10; i++) {
    statuses.push((await fx.call('POST', '/api/setup', { body: { setupCode: `WRONG${i}00`, password: PASSWORD }, from: `127.0.${20 + i}.1` })).status);
  }
  t.same(statuses, [401, 401, 401, 429, 429, 429, 429, 429, 429, 429]);
  fx.clock.advance(5000);
  t.equal((await fx.call('POST', '/api/setup', { body: { setupCode: SETUP_CODE, password: PASSWORD }, from: '127.0.40.1' })).status, 200);
});

t.test('the plain-HTTP redirect names the box, never a Host it was handed', async (t) => {
  const fx = await startAdmin({ selfHosts: () => new Set(['127.0.0.1', 'pbx.local', '::1']), defaultHost: '127.0.0.1' });
  t.teardown(() => fx.stop());
  const evil = await plainGet(fx.httpPort, '/x', { host: 'evil.example' });
  t.equal(evil.status, 301);
  t.equal(evil.headers.location, `https://127.0.0.1:${fx.webPort}/x`, 'a foreign Host is replaced by the box\'s address');
  t.equal(fx.admin.counters.get('admin.redirect.foreign-host'), 1, 'and counted');
  const withPort = await plainGet(fx.httpPort, '/x', { host: 'evil.example:8080' });
  t.equal(withPort.headers.location, `https://127.0.0.1:${fx.webPort}/x`);
  const own = await plainGet(fx.httpPort, '/x', { host: 'PBX.local:8080' });
  t.equal(own.headers.location, `https://pbx.local:${fx.webPort}/x`, 'the box\'s own name is kept, so the certificate matches');
  const v6 = await plainGet(fx.httpPort, '/x', { host: '[::1]:8080' });
  t.equal(v6.headers.location, `https://[::1]:${fx.webPort}/x`, 'IPv6 in brackets');
  const odd = await plainGet(fx.httpPort, '/%61pi/status', { host: '127.0.0.1' });
  t.equal(odd.status, 404, 'the plain server refuses odd spellings too');
  const ca = await plainGet(fx.httpPort, '/ca.crt', { host: 'evil.example' });
  t.equal(ca.status, 200, 'the CA download works whatever the Host');
});
