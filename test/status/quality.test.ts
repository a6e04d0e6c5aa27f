import t from 'tap';
import type { LegStats, SessionStats } from '../../firmware/media/index.js';
import { CallQuality, MAX_CALLS_KEPT, MAX_SAMPLES_PER_CALL } from '../../firmware/status/index.js';

const leg = (packetsIn: number, lost: number, jitterMs: number, remote?: { jitterMs: number; fractionLost: number }): LegStats => ({
  local: { address: '127.0.0.1', rtpPort: 4000, rtcpPort: 4001 }, security: 'rtp', latched: true, packetsIn, bytesIn: packetsIn * 172, packetsOut: packetsIn, bytesOut: packetsIn * 172,
  lost, jitterMs, dropped: {}, ...(remote ? { remoteReport: { ...remote, cumulativeLost: 0, at: 0 } } : {}),
});
const session = (id: string, a: LegStats, b?: LegStats): SessionStats => ({ sessionId: id, createdAt: 0, legs: { a, ...(b ? { b } : {}) }, connections: [] });

t.test('each sample of a call session is kept in order; other sessions are not calls', async (t) => {
  const q = new CallQuality(2000);
  q.sample(1000, [session('call-x1', leg(10, 0, 1.234), leg(9, 1, 2)), session('moh-1', leg(5, 0, 0))]);
  q.sample(3000, [session('call-x1', leg(110, 2, 3.456, { jitterMs: 4, fractionLost: 0.01 }), leg(108, 1, 2))]);
  const v = q.of('x1');
  t.match(v, { call: 'x1', live: true, everyMs: 2000 });
  t.same(v?.samples.map((s) => s.at), [1000, 3000]);
  t.same(v?.samples[1]?.legs.a, { packetsIn: 110, packetsOut: 110, lost: 2, jitterMs: 3.46, remoteJitterMs: 4, remoteFractionLost: 0.01 });
  t.equal(q.of('1'), undefined, 'a session not named call-… is no call');
  q.sample(5000, []);
  t.equal(q.of('x1')?.live, false, 'a session that is gone is an ended call');
  t.equal(q.of('x1')?.samples.length, 2, 'its series stays');
});

t.test('bounded: samples per call thinned, the oldest ended calls forgotten', async (t) => {
  const q = new CallQuality(2000);
  for (let i = 0; i < MAX_SAMPLES_PER_CALL + 1; i++) q.sample(i, [session('call-long', leg(i, 0, 0))]);
  const s = q.of('long')!.samples;
  t.ok(s.length <= MAX_SAMPLES_PER_CALL, `at most ${MAX_SAMPLES_PER_CALL} (${s.length})`);
  t.equal(s[0]!.at, 0, 'the start stays');
  t.equal(s[s.length - 1]!.at, MAX_SAMPLES_PER_CALL, 'and the newest');
  for (let i = 0; i < MAX_CALLS_KEPT + 5; i++) { q.sample(10_000 + i, [session(`call-c${i}`, leg(1, 0, 0))]); }
  q.sample(20_000, [session('call-live', leg(1, 0, 0))]);
  t.equal(q.of('long'), undefined, 'the oldest ended call is forgotten');
  t.ok(q.of('live'), 'a live call is kept');
  t.ok(q.of(`c${MAX_CALLS_KEPT + 4}`), 'recent ones are kept');
});
