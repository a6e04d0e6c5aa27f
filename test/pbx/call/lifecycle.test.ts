import t from 'tap';
import { FakeClock, isPbxError } from '../../../firmware/core/index.js';
import { CallLifecycle, mayMove, type CallPhase } from '../../../firmware/pbx/call/index.js';

const PHASES: readonly CallPhase[] = ['routing', 'ringing', 'answered', 'ending', 'ended'];
const LEGAL = new Set(['routing>ringing', 'routing>ended', 'ringing>answered', 'ringing>ended', 'answered>ending', 'answered>ended', 'ending>ended']);

t.test('every pair of phases: exactly the drawn moves are legal, the rest throw invalid-state and change nothing', async (t) => {
  for (const from of PHASES) {
    for (const to of PHASES) {
      const legal = LEGAL.has(`${from}>${to}`);
      t.equal(mayMove(from, to), legal, `${from} -> ${to}`);
      const c = new CallLifecycle(new FakeClock(0));
      // Walk to `from` along legal moves.
      const path: Record<CallPhase, CallPhase[]> = {
        routing: [], ringing: ['ringing'], answered: ['ringing', 'answered'], ending: ['ringing', 'answered', 'ending'], ended: ['ended'],
      };
      for (const p of path[from]) c.move(p);
      if (legal) {
        c.move(to);
        t.equal(c.phase, to);
      } else {
        let caught: unknown;
        try { c.move(to); } catch (e) { caught = e; }
        t.ok(isPbxError(caught, 'invalid-state'), 'throws invalid-state');
        t.equal(c.phase, from, 'unchanged');
        t.equal(c.tryMove(to), false);
      }
    }
  }
});

t.test('a timer scoped to ringing never fires once the call is answered (the no-answer timer)', async (t) => {
  const clock = new FakeClock(0);
  const c = new CallLifecycle(clock);
  c.move('ringing');
  let fired = 0;
  c.timer(30_000, () => fired++);
  clock.advance(10_000);
  c.move('answered');
  t.equal(c.pendingTimers, 0, 'cancelled when the call left ringing');
  clock.advance(60_000);
  t.equal(fired, 0);
});

t.test('a timer scoped to several phases survives moves among them; ended cancels everything', async (t) => {
  const clock = new FakeClock(0);
  const c = new CallLifecycle(clock);
  c.move('ringing');
  const fired: string[] = [];
  c.timer(1000, () => fired.push('a'), ['ringing', 'answered']);
  c.timer(5000, () => fired.push('b'), ['ringing', 'answered', 'ending']);
  c.move('answered');
  clock.advance(1000);
  t.same(fired, ['a'], 'fires within its phases');
  c.move('ending');
  c.move('ended');
  t.equal(c.pendingTimers, 0);
  clock.advance(10_000);
  t.same(fired, ['a'], 'nothing fires after the end');
});

t.test('a cancelled timer does not fire; listeners hear every move in order', async (t) => {
  const clock = new FakeClock(0);
  const c = new CallLifecycle(clock);
  const moves: string[] = [];
  c.onMove((to, from) => moves.push(`${from}>${to}`));
  const h = c.timer(100, () => t.fail('cancelled timer fired'));
  h.cancel();
  clock.advance(200);
  c.move('ringing');
  c.move('ended');
  t.same(moves, ['routing>ringing', 'ringing>ended']);
  t.equal(c.ended, true);
});
