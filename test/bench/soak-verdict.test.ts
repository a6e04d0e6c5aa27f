import t from 'tap';
import { judge, slope, type Sample } from '../../scripts/bench/soak-verdict.js';

/** A steady box: 3 idle samples, `n` under load one a minute, 2 drained; `over` changes any figure at a minute. */
function run(n: number, over: (minute: number) => Partial<Sample> = () => ({})): Sample[] {
  const base = (t: number, phase: Sample['phase']): Sample => ({
    t, phase, rssMb: 140, anonMb: 110, fds: 60, heapUsedMb: 45, heapTotalMb: 90, externalMb: 5, arrayBuffersMb: 2,
    calls: 20, sessions: 20, ports: 80, bindings: 200, serverTx: 300, clientTx: 40, answered: 768,
    newSpaceMb: 32, oldSpaceMb: 45, largeSpaceMb: 3, rtpIn: 5000,
  });
  const out: Sample[] = [];
  for (let i = 0; i < 3; i++) out.push({ ...base(i * 60, 'idle'), rssMb: 85, fds: 26, calls: 0, sessions: 0, ports: 0 });
  for (let m = 0; m < n; m++) out.push({ ...base(180 + m * 60, 'load'), ...over(m) });
  for (let i = 0; i < 2; i++) out.push({ ...base(180 + (n + i) * 60, 'drain'), fds: 27, calls: 0, sessions: 0, ports: 0 });
  return out;
}

const line = (lines: readonly string[], key: string): string => lines.find((l) => l.startsWith(`${key}:`)) ?? '';

t.test('slope is the least-squares rise per unit', async (t) => {
  t.equal(slope([0, 1, 2, 3], [1, 3, 5, 7]), 2);
  t.ok(Number.isNaN(slope([0], [1])), 'one point has no slope');
});

t.test('a steady box is judged level', async (t) => {
  const v = judge(run(40, (m) => ({ rssMb: 140 + (m % 3) * 0.4 })));
  t.ok(v.ok, v.lines.join('\n'));
});

t.test('memory that climbs 2 MB a minute to the end is a leak', async (t) => {
  const v = judge(run(40, (m) => ({ rssMb: 140 + 2 * m })));
  t.notOk(v.ok);
  t.match(line(v.lines, 'rssMb'), /GROWING/);
  t.match(line(v.lines, 'heapUsedMb'), /: level$/, 'the other figures stay level');
});

t.test('a count that dips under starvation and comes back is level, not a leak (what the 50-minute soak saw)', async (t) => {
  // Remembered answers fall from 768 to 156 around minutes 22-28 and climb back.
  const v = judge(run(40, (m) => ({ answered: m >= 22 && m < 28 ? 156 : m >= 28 && m < 32 ? 156 + (m - 27) * 150 : 768 })));
  t.ok(v.ok, v.lines.join('\n'));
  t.match(line(v.lines, 'answered'), /dipped and came back/);
});

t.test('a count that steps up and stays up in the last quarter is growth', async (t) => {
  const v = judge(run(40, (m) => ({ bindings: m >= 30 ? 400 : 200 })));
  t.notOk(v.ok);
  t.match(line(v.lines, 'bindings'), /GROWING/);
});

t.test('calls or descriptors still held after the drain fail the soak', async (t) => {
  const samples = run(20);
  const last = samples[samples.length - 1]!;
  samples[samples.length - 1] = { ...last, calls: 2, fds: 80 };
  const v = judge(samples);
  t.notOk(v.ok);
  t.match(v.lines.join('\n'), /NOT RELEASED/);
  t.match(judge(run(4)).lines[0], /too few samples/);
});
