/**
 * The admin ends a call from the box (issue 16: the dashboard's Hang up,
 * `pbx call hangup ID`): an answered call gets BYE on both legs, one still
 * ringing 487 to the caller and CANCEL to the phone; the record says
 * 'admin'; the control command refuses what it cannot end.
 */
import t from 'tap';
import { executeCommand, type CommandContext } from '../../../firmware/control/index.js';
import { isPbxError } from '../../../firmware/core/index.js';
import { LATENCY, World, connect } from './world.js';

async function twoPhones() {
  const w = new World();
  const alice = w.phone('100');
  const bob = w.phone('101');
  await w.registerAll();
  return { w, alice, bob };
}

/** The control command as the running box answers it, over this world's B2BUA. */
function ctx(w: World): CommandContext {
  return { calls: { hangup: (id: string) => w.b2bua.hangupById(id) } } as unknown as CommandContext;
}

t.test('an answered call: BYE to both phones, each answered 200, the record says admin', async (t) => {
  const { w, alice, bob } = await twoPhones();
  await connect(w, alice, bob);
  const id = w.calls()[0]!.id;
  const m = w.mark();
  const reply = await executeCommand(ctx(w), { command: 'call.hangup', args: { id } });
  t.same(reply, { ended: id, caller: '100', callee: '101', state: 'answered' });
  t.same(w.calls(), [], 'no longer listed');
  await w.run(4 * LATENCY);
  t.same(w.seen(alice, m), ['BYE'], 'the caller gets BYE');
  t.same(w.seen(bob, m), ['BYE'], 'the callee gets BYE');
  t.same(w.sent(alice, m), ['200 BYE']);
  t.same(w.sent(bob, m), ['200 BYE']);
  t.same(w.records.map((r) => r.endReason), ['admin'], 'the record says why');
  t.equal(w.records[0]!.id, id);
  t.ok(w.records[0]!.answeredAt !== undefined, 'it was answered');
  t.ok(w.engine.deleted(), 'its media is freed');
  t.equal(w.internalErrors, 0);
});

t.test('a ringing call: 487 to the caller, CANCEL to the ringing phone, the record says admin', async (t) => {
  const { w, alice, bob } = await twoPhones();
  const out = alice.call('101');
  await w.run(4 * LATENCY);
  bob.incoming[0]!.ring();
  await w.run(2 * LATENCY);
  const id = w.calls()[0]!.id;
  const m = w.mark();
  const reply = await executeCommand(ctx(w), { command: 'call.hangup', args: { id } });
  t.match(reply, { ended: id, state: 'ringing' });
  await w.run(4 * LATENCY);
  t.same(out.statuses, [100, 180, 487], 'the caller hears the call end');
  t.same(w.seen(bob, m), ['CANCEL', 'ACK'], 'the phone stops ringing');
  t.same(w.records.map((r) => r.endReason), ['admin']);
  t.equal(w.records[0]!.answeredAt, undefined);
});

t.test('only the chosen call ends; an unknown, ended or malformed id is refused and changes nothing', async (t) => {
  const w = new World();
  const [a, b, c, d] = ['100', '101', '102', '103'].map((e) => w.phone(e)) as [ReturnType<World['phone']>, ReturnType<World['phone']>, ReturnType<World['phone']>, ReturnType<World['phone']>];
  await w.registerAll();
  await connect(w, a, b);
  await connect(w, c, d);
  const [first, second] = w.calls();
  const m = w.mark();
  await executeCommand(ctx(w), { command: 'call.hangup', args: { id: first!.id } });
  await w.run(4 * LATENCY);
  t.same(w.calls().map((x) => x.id), [second!.id], 'the other call goes on');
  t.same([w.seen(c, m), w.seen(d, m)], [[], []]);
  const code = async (args: Record<string, unknown>, context = ctx(w)): Promise<string> => {
    try { await executeCommand(context, { command: 'call.hangup', args }); return 'ok'; } catch (e) { return isPbxError(e) ? e.code : String(e); }
  };
  t.equal(await code({ id: first!.id }), 'not-found', 'an ended call');
  t.equal(await code({ id: 'no-such-call' }), 'not-found', 'an unknown id');
  t.equal(await code({ id: '../x y' }), 'parse', 'not an id');
  t.equal(await code({}), 'parse', 'no id');
  t.equal(await code({ id: second!.id }, {} as CommandContext), 'invalid-state', 'no appliance running');
  t.same(w.calls().map((x) => x.id), [second!.id], 'still running after all that');
  t.same(w.records.map((r) => r.endReason), ['admin']);
});
