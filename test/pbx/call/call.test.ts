/**
 * A Call on its own: its typed events and close(), which is idempotent and
 * cascades (lifecycle to ended and every timer with it, the media session
 * freed, 'closed' told once).
 */
import t from 'tap';
import { Counters, FakeClock, seededRandom, silentLogger } from '../../../firmware/core/index.js';
import { Call, type CallDeps } from '../../../firmware/pbx/call/index.js';
import type { SipRequest } from '../../../firmware/sip/message/index.js';
import type { InviteServerTransaction, TransactionLayer } from '../../../firmware/sip/transaction/index.js';
import { FakeEngine } from './fake-engine.js';

function aCall(): { call: Call; clock: FakeClock; engine: FakeEngine } {
  const clock = new FakeClock();
  const engine = new FakeEngine();
  const deps: CallDeps = {
    clock, random: seededRandom(7), media: engine, counters: new Counters(), log: silentLogger,
    // The Call itself sends nothing: only its fork and legs do, and these tests never ring.
    transactions: {} as TransactionLayer, contactFor: () => 'sip:box@192.0.2.1',
  };
  const invite: SipRequest = { kind: 'request', method: 'INVITE', uri: 'sip:101@box', headers: [{ name: 'call-id', value: 'c1' }], body: Buffer.alloc(0) };
  const tx = { isTerminated: false, respond: () => {} } as unknown as InviteServerTransaction;
  return { call: new Call(deps, invite, tx, { transport: 'udp', address: '192.0.2.9', port: 5060 }, '100', '101', 'Bob'), clock, engine };
}

t.test('events: each phase move is told with where it came from', async (t) => {
  const { call } = aCall();
  const seen: string[] = [];
  const off = call.on('phase', (e) => seen.push(`${e.from}>${e.to}`));
  call.life.move('ringing');
  call.life.move('answered');
  off();
  call.life.move('ending');
  t.same(seen, ['routing>ringing', 'ringing>answered'], 'and an unsubscribed listener hears no more');
});

t.test('close(): cascades once; a second close waits and says it did nothing; a throwing listener breaks nothing', async (t) => {
  const { call, clock, engine } = aCall();
  await call.media.open({});
  call.life.move('ringing');
  let fired = 0;
  call.life.timer(1_000, () => fired++);
  const closed: string[] = [];
  call.on('closed', () => { throw new Error('a bad watcher'); });
  call.on('closed', (e) => closed.push(e.reason));
  const [first, second] = await Promise.all([call.close('cancelled'), call.close('failed')]);
  t.same([first, second], [true, false]);
  t.equal(call.life.phase, 'ended');
  t.equal(call.life.pendingTimers, 0, 'every timer of the call is gone');
  clock.advance(2_000);
  t.equal(fired, 0);
  t.ok(engine.deleted(), 'the media session is freed');
  t.same(closed, ['cancelled'], 'closed is told once, with the first reason');
  t.equal(await call.close('failed'), false);
});
