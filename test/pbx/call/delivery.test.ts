/**
 * Where a call goes (pbx/features/delivery): forwarding always, on busy and
 * on no answer, do-not-disturb and its feature codes, call waiting off, ring
 * groups in parallel and in order, and forwarding loops stopped. Every case
 * runs real SIP through the box's transaction layer on the fake network.
 */
import t from 'tap';
import { getHeader, toTag } from '../../../firmware/sip/message/index.js';
import { LATENCY, World, connect } from './world.js';

const FWD = { always: null, busy: null, noAnswer: null, noAnswerSec: 20 };

async function world(n: number): Promise<{ w: World; p: ReturnType<World['phone']>[] }> {
  const w = new World();
  const p = Array.from({ length: n }, (_, i) => w.phone(String(100 + i)));
  await w.registerAll();
  return { w, p };
}

t.test('forward always: the target rings instead of the dialled phone, and the call is with the target', async (t) => {
  const { w, p: [alice, bob, carol] } = await world(3);
  w.configure('101', { forward: { ...FWD, always: '102' } });
  const m = w.mark();
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  t.same(w.seen(bob!, m), [], 'the forwarding phone does not ring');
  const inc = carol!.incoming[0];
  t.ok(inc, 'the target rings');
  inc!.ring(); inc!.answer();
  await w.run(4 * LATENCY);
  t.equal(out.final?.status, 200);
  t.equal(w.calls()[0]?.callee, '102', 'the call shows the target');
  t.equal(w.counters.get('call.forward.always'), 1);
  t.equal(w.internalErrors, 0);
});

t.test('forward on busy: the callee answers 486, the target rings; the caller hears one dialog (the To tag carries on)', async (t) => {
  const { w, p: [alice, bob, carol] } = await world(3);
  w.configure('101', { forward: { ...FWD, busy: '102' } });
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  bob!.incoming[0]!.ring();
  await w.run(4 * LATENCY);
  bob!.incoming[0]!.respond(486);
  await w.run(4 * LATENCY);
  const inc = carol!.incoming[0];
  t.ok(inc, 'the busy target\'s forward rings');
  inc!.ring(); inc!.answer();
  await w.run(4 * LATENCY);
  t.notOk(out.statuses.includes(486), 'the caller never hears the 486');
  t.same(out.statuses.filter((s) => s >= 200), [200], 'one final answer: the target\'s');
  const tags = new Set(out.responses.filter((r) => r.status > 100).map((r) => toTag(r)));
  t.equal(tags.size, 1, 'the ringing and the answer share one To tag');
  t.equal(w.calls().length, 1);
  t.equal(w.calls()[0]?.callee, '102');
  t.match(w.records.map((r) => r.endReason), ['forwarded'], 'the first attempt is recorded as forwarded');
  t.equal(w.internalErrors, 0);
});

t.test('forward on no answer: after the account\'s ring time the phone is cancelled and the target rings', async (t) => {
  const { w, p: [alice, bob, carol] } = await world(3);
  w.configure('101', { forward: { ...FWD, noAnswer: '102', noAnswerSec: 10 } });
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  bob!.incoming[0]!.ring();
  const m = w.mark();
  await w.run(9_000);
  t.notOk(carol!.incoming[0], 'not before the ring time');
  await w.run(1_500);
  t.ok(w.seen(bob!, m).includes('CANCEL'), 'the unanswered phone is cancelled');
  const inc = carol!.incoming[0];
  t.ok(inc, 'the no-answer target rings');
  inc!.answer();
  await w.run(4 * LATENCY);
  t.equal(out.final?.status, 200);
  t.equal(w.counters.get('call.forward.no-answer'), 1);
  t.equal(w.internalErrors, 0);
});

t.test('forward on no answer also covers a phone that is not registered', async (t) => {
  const w = new World();
  const alice = w.phone('100');
  w.phone('101'); // the account exists, its phone never registers
  const carol = w.phone('102');
  alice.register(); carol.register();
  await w.run(50);
  w.configure('101', { forward: { ...FWD, noAnswer: '102' } });
  alice.call('101');
  await w.run(4 * LATENCY);
  t.ok(carol.incoming[0], 'the forward rings at once');
});

t.test('do-not-disturb: callers get 486; with a forward on busy they reach the target', async (t) => {
  const { w, p: [alice, bob, carol] } = await world(3);
  w.configure('101', { dnd: true });
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  t.equal(out.final?.status, 486, 'busy to the caller');
  t.equal(bob!.incoming.length, 0, 'the phone on DND does not ring');
  t.equal(w.counters.get('call.dnd'), 1);
  w.configure('101', { dnd: true, forward: { ...FWD, busy: '102' } });
  alice.call('101');
  await w.run(4 * LATENCY);
  t.ok(carol!.incoming[0], 'with a forward on busy, the target rings');
});

t.test('feature codes *78 and *79 turn do-not-disturb on and off for the dialling phone', async (t) => {
  const { w, p: [alice, bob] } = await world(2);
  const on = bob!.call('*78');
  await w.run(4 * LATENCY);
  t.equal(on.final?.status, 603);
  t.equal(on.final?.reason, 'Do Not Disturb On', 'the phone shows what changed');
  t.same(w.dndChanges, [{ ext: '101', on: true }], 'stored for the dialler');
  const call = alice.call('101');
  await w.run(4 * LATENCY);
  t.equal(call.final?.status, 486, 'calls to it are busy now');
  const off = bob!.call('*79');
  await w.run(4 * LATENCY);
  t.equal(off.final?.reason, 'Do Not Disturb Off');
  alice.call('101');
  await w.run(4 * LATENCY);
  t.equal(bob!.incoming.length, 1, 'after *79 it rings again');
});

t.test('call waiting off: a second call to an account in a call is busy (and goes to its forward on busy)', async (t) => {
  const { w, p: [alice, bob, carol, dave] } = await world(4);
  await connect(w, alice!, bob!);
  w.configure('101', { callWaiting: false });
  const second = carol!.call('101');
  await w.run(4 * LATENCY);
  t.equal(second.final?.status, 486);
  t.equal(bob!.incoming.length, 1, 'no second ring');
  w.configure('101', { callWaiting: false, forward: { ...FWD, busy: '103' } });
  carol!.call('101');
  await w.run(4 * LATENCY);
  t.ok(dave!.incoming[0], 'its forward on busy rings');
  w.configure('101', { callWaiting: true });
  carol!.call('101');
  await w.run(4 * LATENCY);
  t.equal(bob!.incoming.length, 2, 'with call waiting on, the second call rings');
});

t.test('a forwarding loop (A -> B -> A) is stopped: the caller gets an answer, nobody rings forever', async (t) => {
  const { w, p: [alice, bob, carol] } = await world(3);
  w.configure('101', { forward: { ...FWD, always: '102' } });
  w.configure('102', { forward: { ...FWD, always: '101' } });
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  t.equal(out.final?.status, 480);
  t.equal(bob!.incoming.length + carol!.incoming.length, 0);
  t.equal(w.counters.get('call.forward-loop'), 1);
  // A loop through the no-answer forward: 101 -> 102 (no answer) -> back to 101 stops too.
  w.configure('101', { forward: { ...FWD, noAnswer: '102', noAnswerSec: 5 } });
  w.configure('102', { forward: { ...FWD, noAnswer: '101', noAnswerSec: 5 } });
  const out2 = alice.call('101');
  await w.run(4 * LATENCY);
  await w.run(12_000);
  t.equal(out2.final?.status, 480, 'no answer in the end');
  t.equal(bob!.incoming.length, 1, 'the first phone rang once');
  t.equal(carol!.incoming.length, 1, 'the forward rang once');
  t.equal(w.calls().length, 0);
  t.equal(w.internalErrors, 0);
});

t.test('ring group in parallel: every member rings, the second answers, the first is cancelled', async (t) => {
  const { w, p: [alice, bob, carol] } = await world(3);
  w.groups = [{ extension: '600', name: 'Sales', members: ['101', '102'], order: 'parallel', memberRingSec: 15, noAnswerTo: null }];
  const out = alice.call('600');
  await w.run(4 * LATENCY);
  t.ok(bob!.incoming[0] && carol!.incoming[0], 'both members ring');
  t.match(getHeader(carol!.incoming[0]!.req, 'to') ?? '', /sip:102@/, 'each member sees its own number');
  t.equal(w.calls()[0]?.callee, '600', 'the ringing call shows the group');
  bob!.incoming[0]!.ring(); // a CANCEL waits for a provisional (RFC 3261 9.1)
  await w.run(4 * LATENCY);
  const m = w.mark();
  carol!.incoming[0]!.answer();
  await w.run(4 * LATENCY);
  t.equal(out.final?.status, 200);
  t.same(w.seen(bob!, m), ['CANCEL', 'ACK'], 'the other member stops ringing (CANCEL, and the ACK of its 487)');
  t.equal(w.calls()[0]?.callee, '102', 'the answered call is with the member');
  t.equal(w.calls()[0]?.legs.b?.party, '102');
  t.equal(w.internalErrors, 0);
});

t.test('ring group in order: each member rings for its time, then the next; then the no-answer destination', async (t) => {
  const { w, p: [alice, bob, carol, dave] } = await world(4);
  w.groups = [{ extension: '600', name: 'Sales', members: ['101', '102'], order: 'sequential', memberRingSec: 10, noAnswerTo: '103' }];
  const out = alice.call('600');
  await w.run(4 * LATENCY);
  t.ok(bob!.incoming[0], 'the first member rings');
  t.notOk(carol!.incoming[0], 'the second waits');
  await w.run(10_500);
  t.ok(carol!.incoming[0], 'then the second member');
  await w.run(10_500);
  const inc = dave!.incoming[0];
  t.ok(inc, 'then the group\'s no-answer destination');
  inc!.answer();
  await w.run(4 * LATENCY);
  t.equal(out.final?.status, 200);
  t.same(out.statuses.filter((s) => s >= 200), [200], 'one final answer');
  t.equal(w.calls()[0]?.callee, '103');
  t.equal(w.internalErrors, 0);
});

t.test('a ring group whose members are all on DND is busy; a member on DND is skipped', async (t) => {
  const { w, p: [alice, bob, carol] } = await world(3);
  w.groups = [{ extension: '600', name: '', members: ['101', '102'], order: 'parallel', memberRingSec: 15, noAnswerTo: null }];
  w.configure('101', { dnd: true });
  alice.call('600');
  await w.run(4 * LATENCY);
  t.equal(bob!.incoming.length, 0);
  t.equal(carol!.incoming.length, 1);
  w.configure('102', { dnd: true });
  const out = alice.call('600');
  await w.run(4 * LATENCY);
  t.equal(out.final?.status, 486);
});

t.test('an unknown number gets 404 and a record', async (t) => {
  const { w, p: [alice] } = await world(1);
  const out = alice.call('999');
  await w.run(4 * LATENCY);
  t.equal(out.final?.status, 404);
  t.match(w.records.map((r) => [r.callee, r.endReason]), [['999', 'not-found']]);
});
