import t from 'tap';
import { MAX_SESSIONS, SESSION_IDLE_MS, SESSION_MAX_MS, SessionStore, tokensEqual } from '../../firmware/admin/index.js';
import { FakeClock, seededRandom } from '../../firmware/core/index.js';

t.test('sessions expire when idle and at their maximum age', async (t) => {
  const clock = new FakeClock();
  const s = new SessionStore(clock, seededRandom(7));
  const a = s.create();
  t.not(a.id, a.csrfToken, 'the CSRF token is not the session id');
  t.ok(a.id.length >= 43, '256-bit ids');
  clock.advance(SESSION_IDLE_MS - 1);
  t.equal(s.touch(a.id), a, 'used just before the idle limit');
  clock.advance(SESSION_IDLE_MS - 1);
  t.equal(s.peek(a.id), a, 'touch() restarted the idle timer');
  clock.advance(1);
  t.equal(s.peek(a.id), undefined, 'peek() does not refresh: idle too long');

  const b = s.create();
  for (let i = 0; i < SESSION_MAX_MS / (SESSION_IDLE_MS / 2); i++) {
    clock.advance(SESSION_IDLE_MS / 2);
    s.touch(b.id);
  }
  t.equal(s.touch(b.id), undefined, 'even an active session ends at its maximum age');
  t.equal(s.touch(undefined), undefined);
  t.equal(s.touch('nope'), undefined);
});

t.test('the session table is bounded; clear() logs everyone out', async (t) => {
  const s = new SessionStore(new FakeClock(), seededRandom(9));
  const first = s.create();
  for (let i = 0; i < MAX_SESSIONS; i++) s.create();
  t.equal(s.size, MAX_SESSIONS);
  t.equal(s.peek(first.id), undefined, 'the oldest went first');
  s.clear();
  t.equal(s.size, 0);
});

t.test('tokensEqual compares whole tokens', async (t) => {
  t.ok(tokensEqual('abc', 'abc'));
  t.notOk(tokensEqual('abc', 'abd'));
  t.notOk(tokensEqual('abc', 'abcd'));
  t.notOk(tokensEqual('', 'a'));
});
