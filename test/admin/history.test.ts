import t from 'tap';
import type { CallRecordJson } from '../../firmware/api/index.js';
import { CSV_HEADER, filterHistory, historyCsv, outcomeOf, parseHistoryFilter } from '../../firmware/admin/index.js';
import { CommandError } from '../../firmware/control/index.js';

const rec = (id: string, over: Partial<CallRecordJson>): CallRecordJson => ({
  id, caller: '1001', callee: '1002', startedAt: '2026-03-10T09:00:00.000Z', endedAt: '2026-03-10T09:01:00.000Z', endReason: 'bye-caller',
  legs: { a: { party: '1001', transport: 'udp', protection: 'rtp' } }, mode: 'relay', ...over,
});
const all = [
  rec('ans', { answeredAt: '2026-03-10T09:00:05.000Z' }),
  rec('miss', { caller: 'sip:2000@trunk.example', callee: '1003', endReason: 'no-answer', startedAt: '2026-03-09T23:30:00.000Z' }),
  rec('busy', { endReason: 'busy', startedAt: '2026-03-11T00:00:00.000Z' }),
  rec('fail', { endReason: 'media-policy', caller: '=HYPERLINK("x")', callee: '1002' }),
];

t.test('outcomes', async (t) => {
  t.same(all.map(outcomeOf), ['answered', 'missed', 'busy', 'failed']);
});

t.test('filters by extension (a URI of it too), outcome and day range', async (t) => {
  const ids = (q: Record<string, string>): string[] => filterHistory(all, parseHistoryFilter(q)).map((r) => r.id);
  t.same(ids({ extension: '1003' }), ['miss']);
  t.same(ids({ extension: '2000' }), ['miss'], 'sip:2000@trunk matches 2000');
  t.same(ids({ outcome: 'busy' }), ['busy']);
  t.same(ids({ from: '2026-03-10', to: '2026-03-10' }), ['ans', 'fail'], 'one UTC day, end inclusive');
  t.same(ids({ from: '2026-03-10', to: '2026-03-10', tz: '-60' }), ['ans', 'miss', 'fail'], 'the same day at UTC+1 runs from 23:00 to 23:00 UTC');
  t.same(ids({ from: '2026-03-10', tz: '60' }), ['ans', 'busy', 'fail'], 'UTC-1: the day starts at 01:00 UTC');
  t.same(ids({}), ['ans', 'miss', 'busy', 'fail']);
});

t.test('bad filters are refused naming the field', async (t) => {
  for (const [q, field] of [[{ outcome: 'lost' }, 'outcome'], [{ from: '10/03/2026' }, 'from'], [{ from: '2026-03-11', to: '2026-03-10' }, 'to'],
    [{ extension: 'a b' }, 'extension'], [{ tz: 'x' }, 'tz'], [{ extension: ['1', '2'] }, 'extension']] as const) {
    let caught: unknown;
    try { parseHistoryFilter(q as Record<string, unknown>); } catch (e) { caught = e; }
    t.ok(caught instanceof CommandError && caught.field === field, `${JSON.stringify(q)} -> ${field}`);
  }
});

t.test('CSV: a header, one line per call, quoted fields, no formula', async (t) => {
  const csv = historyCsv(all);
  const lines = csv.split('\r\n');
  t.equal(lines[0], CSV_HEADER.join(','));
  t.equal(lines.length, all.length + 2, 'header, calls, a final line break');
  t.equal(lines[1], 'ans,2026-03-10T09:00:00.000Z,2026-03-10T09:00:05.000Z,2026-03-10T09:01:00.000Z,1001,1002,55,answered,bye-caller,relay,1001 plain RTP,');
  t.match(lines[4], /^fail,[^,]*,,[^,]*,"'=HYPERLINK\(""x""\)",1002,0,failed,media-policy,/, 'a formula is quoted away and its quotes doubled');
});
