import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { FakeClock, createLogger, seededRandom } from '../../firmware/core/index.js';
import { HOUSEKEEPING_EVERY_MS, HOUSEKEEPING_FIRST_MS, Housekeeping, RecordingStore } from '../../firmware/recording/index.js';
import type { PruneOptions } from '../../firmware/recording/index.js';
import { rtpPacket } from './helpers.js';

const DAY = 86_400_000;
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

function logger(): { log: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ level: 'info', destination: new Writable({ write(c, _e, cb) { lines.push(JSON.parse(String(c)) as Record<string, unknown>); cb(); } }) });
  return { log, lines };
}

t.test('a real store: recordings past the retention are deleted while the box runs; newer ones and voicemail pruning are kept apart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-keep-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const clock = new FakeClock();
  const store = await RecordingStore.open({ dir, clock, random: seededRandom(4), freeBytes: () => 10 * 1024 ** 3 });
  t.teardown(() => store.close());
  const made: string[] = [];
  for (const age of [0, 50, 100]) {
    if (age > 0) clock.advance(50 * DAY);
    const r = store.start({ kind: 'encrypted-capture', parties: ['1001', '1002'], legs: [{ id: 'a', protection: 'relayed SRTP, keys not held' }] });
    for (let i = 0; i < 10; i++) r.packet('a', rtpPacket(0, i, i * 160, 7, new Uint8Array(160)), clock.now(), true);
    made.push((await r.finish()).id);
  }
  // Now: the first is 100 days old, the second 50, the third new.
  let messagesPruned = 0;
  const { log, lines } = logger();
  const hk = new Housekeeping({
    clock, log, recordings: store, mailboxes: { prune: async () => { messagesPruned++; return ['m1']; } },
    settings: () => ({ retentionDays: 90, maxMegabytes: 4096 }),
  });
  const r = await hk.runOnce();
  t.same(r.recordings, [made[0]], 'only the 100-day-old recording goes (retention 90 days)');
  t.same(store.list().map((x) => x.id).sort(), [made[1], made[2]].sort(), 'the store keeps the other two');
  t.equal(messagesPruned, 1, 'voicemail pruned in the same pass');
  t.match(lines.at(-1), { msg: 'retention: deleted old recordings and voicemail', recordings: 1, messages: 1, retentionDays: 90 }, 'one log line says what went');
});

t.test('settings: 0 days and 0 MB mean no limit; MB become bytes', async (t) => {
  const clock = new FakeClock();
  const seen: PruneOptions[] = [];
  let settings = { retentionDays: 0, maxMegabytes: 0 };
  const hk = new Housekeeping({
    clock, log: logger().log, recordings: { prune: async (o) => { seen.push(o); return []; } }, mailboxes: { prune: async () => [] },
    settings: () => settings,
  });
  await hk.runOnce();
  settings = { retentionDays: 30, maxMegabytes: 2 };
  await hk.runOnce();
  t.same(seen, [{}, { maxAgeDays: 30, maxBytes: 2 * 1024 * 1024 }], 'no limits, then 30 days and 2 MB');
});

t.test('the timer: first pass a minute after start, then every 6 hours; a failing store is logged and the next pass still comes; stop ends it', async (t) => {
  const clock = new FakeClock();
  let passes = 0;
  let fail = true;
  const { log, lines } = logger();
  const hk = new Housekeeping({
    clock, log, settings: () => ({ retentionDays: 90, maxMegabytes: 0 }),
    recordings: { prune: async () => { passes++; if (fail) throw new Error('disk gone'); return []; } },
    mailboxes: { prune: async () => [] },
  });
  hk.start();
  clock.advance(HOUSEKEEPING_FIRST_MS - 1);
  await flush();
  t.equal(passes, 0, 'nothing during boot');
  clock.advance(1);
  await flush(); await flush();
  t.equal(passes, 1, 'the first pass after a minute');
  t.match(lines.find((l) => l.msg === 'retention pass failed'), { level: 40, store: 'recordings', err: 'disk gone' }, 'the failure is a warning');
  fail = false;
  clock.advance(HOUSEKEEPING_EVERY_MS);
  await flush(); await flush();
  t.equal(passes, 2, 'the next pass six hours later, despite the failure');
  hk.stop();
  clock.advance(10 * HOUSEKEEPING_EVERY_MS);
  await flush();
  t.equal(passes, 2, 'none after stop');
  t.equal(clock.timerCount, 0, 'no timer left');
});
