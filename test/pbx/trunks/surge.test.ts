import { Writable } from 'node:stream';
import t from 'tap';
import { TrunkingSchema } from '../../../firmware/config/index.js';
import { Counters, FakeClock, createLogger, seededRandom } from '../../../firmware/core/index.js';
import { OutboundWatch, Trunks, type TrunkDialer, type TrunkIncoming } from '../../../firmware/pbx/trunks/index.js';

const MIN = 60_000;

t.test('OutboundWatch: more than N attempts in the window raise one alarm, kept until cleared', async (t) => {
  const clock = new FakeClock();
  const w = new OutboundWatch(clock, () => ({ calls: 3, windowMs: 10 * MIN }));
  for (let i = 0; i < 3; i++) {
    t.equal(w.record('1001', `0301234${i}`), undefined, `attempt ${i + 1} of 3: no alarm`);
    clock.advance(MIN);
  }
  const a = w.record('1001', '00441234');
  t.ok(a, 'the fourth within 10 minutes raises the alarm');
  t.same({ ext: a?.extension, calls: a?.calls, minutes: a?.windowMinutes, last: a?.lastNumber }, { ext: '1001', calls: 4, minutes: 10, last: '00441234' });
  t.equal(w.record('1001', '00449999'), undefined, 'a raised alarm is not raised again');
  t.equal(w.alarms()[0]?.calls, 5, 'but it counts every attempt since');
  t.equal(w.alarms()[0]?.lastNumber, '00449999', 'and the last number tried');
  t.same(w.alarms().map((x) => x.extension), ['1001'], 'one alarm, for 1001 only');
  t.ok(w.clear('1001'), 'cleared');
  t.equal(w.clear('1001'), false, 'clearing again: nothing to clear');
  t.equal(w.record('1001', '1'), undefined, 'after clearing, the count starts again');
  t.same(w.alarms(), [], 'no alarm left');
});

t.test('OutboundWatch: attempts spread wider than the window never alarm; 0 turns it off', async (t) => {
  const clock = new FakeClock();
  const w = new OutboundWatch(clock, () => ({ calls: 3, windowMs: 10 * MIN }));
  for (let i = 0; i < 50; i++) {
    t.equal(w.record('1002', '0301'), undefined, `attempt ${i + 1}, 4 minutes apart`);
    clock.advance(4 * MIN);
  }
  let limit = { calls: 0, windowMs: 10 * MIN };
  const off = new OutboundWatch(clock, () => limit);
  for (let i = 0; i < 100; i++) off.record('1003', '00');
  t.same(off.alarms(), [], 'calls 0: off, however many');
  limit = { calls: 2, windowMs: 10 * MIN };
  off.record('1003', '00'); off.record('1003', '00');
  t.ok(off.record('1003', '00'), 'the limit is read at each attempt: turned on, it counts from then');
});

t.test('OutboundWatch: accounts are counted apart, and the watch list is bounded', async (t) => {
  const clock = new FakeClock();
  const w = new OutboundWatch(clock, () => ({ calls: 2, windowMs: 10 * MIN }));
  w.record('1001', '0'); w.record('1002', '0'); w.record('1001', '0'); w.record('1002', '0');
  t.same(w.alarms(), [], 'two each: none over the limit');
  t.ok(w.record('1002', '0'), '1002\'s third raises its alarm');
  t.same(w.alarms().map((a) => a.extension), ['1002'], 'only 1002\'s');
  for (let i = 0; i < 5000; i++) w.record(`x${i}`, '0');
  t.same(w.alarms().map((a) => a.extension), ['1002'], 'thousands of other callers later the raised alarm stays');
});

t.test('Trunks: an account dialling out too often raises the alarm once, with a log line and a counter; calls are still judged as before', async (t) => {
  const clock = new FakeClock();
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: 'info', destination: new Writable({ write(chunk, _e, cb) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); cb(); } }) });
  const counters = new Counters();
  const config = TrunkingSchema.parse({ alarm: { calls: 5, windowMinutes: 10 }, routes: [{ prefix: '0', trunks: ['nowhere'] }] });
  const raised: string[] = [];
  const trunks = new Trunks({
    clock, random: seededRandom(1), log, counters, contactFor: () => 'sip:box@127.0.0.1',
    dns: { resolveNaptr: async () => [], resolveSrv: async () => [], resolve4: async () => [], resolve6: async () => [] } as never,
    send: () => {}, config: () => config, account: () => undefined, onAlarm: (a) => raised.push(a.extension),
  });
  const refusals: string[] = [];
  const dialer: TrunkDialer = { ring: () => { throw new Error('no trunk is up, nothing rings'); }, refuse: (_i, answer) => { refusals.push(answer); } };
  const incoming = (dialled: string): TrunkIncoming => ({ req: {} as never, tx: {} as never, source: { transport: 'udp', address: '10.0.0.5', port: 5060 }, caller: '1001', dialled });
  for (let i = 0; i < 5; i++) trunks.outbound(incoming(`030123${i}`), dialer);
  t.same(raised, [], 'five calls: no alarm');
  for (let i = 0; i < 3; i++) trunks.outbound(incoming(`00449${i}`), dialer);
  t.same(raised, ['1001'], 'the sixth within 10 minutes raised it, once');
  t.equal(counters.get('trunk.alarm.raised'), 1, 'counted');
  const warn = lines.find((l) => String(l.msg).startsWith('toll-fraud alarm'));
  t.match(warn, { level: 40, extension: '1001', calls: 6, minutes: 10 }, 'a warning names the extension and the count');
  t.equal(refusals.length, 8, 'every call still got its own answer (no trunk up: unreachable; international: forbidden)');
  t.ok(refusals.includes('forbidden'), 'the international guard still refused the 00 numbers');
  t.same(trunks.alarms().map((a) => [a.extension, a.calls, a.lastNumber]), [['1001', 8, '004492']], 'the alarm as the status shows it');
  t.ok(trunks.clearAlarm('1001'), 'the admin clears it');
  t.match(lines.at(-1), { msg: 'toll-fraud alarm cleared', extension: '1001' }, 'and that is logged');
  t.same(trunks.alarms(), [], 'gone');
});
