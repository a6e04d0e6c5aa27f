/**
 * The soak's verdict (bench:soak, soak.ts): whether any figure the soak
 * samples grew without bound under steady load, and whether the box let go
 * of its calls, descriptors and ports after it. Pure, so it is tested on
 * made-up samples (test/bench/soak-verdict.test.ts).
 */
import { fmt as f } from './lib.js';

/** Descriptors the box may hold above its pre-load count once drained (log files, a control connection). */
const FD_SLACK = 5;

/**
 * How much a figure's fitted line over the second half of the load may rise
 * per minute: memory in MB/min; counts in units/min plus a share of the mean
 * (a count that moves with the load is level, one that leaks climbs).
 */
export const SLOPE_LIMITS = {
  rssMb: 0.5, anonMb: 0.5, heapUsedMb: 0.25, externalMb: 0.25, fds: 0.5,
  count: { units: 0.5, shareOfMean: 0.01 },
} as const;
export interface Sample {
  readonly t: number; readonly phase: 'idle' | 'load' | 'drain';
  readonly rssMb: number; readonly anonMb: number; readonly fds: number;
  readonly heapUsedMb: number; readonly heapTotalMb: number; readonly externalMb: number; readonly arrayBuffersMb: number;
  readonly calls: number; readonly sessions: number; readonly ports: number; readonly bindings: number;
  readonly serverTx: number; readonly clientTx: number; readonly answered: number;
  /** V8's new, old and large-object spaces as reserved (MB): where heap total goes when heap used stays level. */
  readonly newSpaceMb: number; readonly oldSpaceMb: number; readonly largeSpaceMb: number;
  /** RTP packets the live calls' legs have received so far (proves the audio flows). */
  readonly rtpIn: number;
}

export interface Verdict { readonly ok: boolean; readonly lines: readonly string[] }

const meanOf = (xs: readonly number[]): number => {
  const v = xs.filter(Number.isFinite);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
};

const median = (xs: readonly number[]): number => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
};

/** Least-squares slope of y over x (per unit of x); NaN with fewer than two finite points. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const pts = xs.map((x, i) => [x, ys[i] ?? NaN] as const).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (pts.length < 2) return NaN;
  const mx = pts.reduce((a, [x]) => a + x, 0) / pts.length;
  const my = pts.reduce((a, [, y]) => a + y, 0) / pts.length;
  let num = 0; let den = 0;
  for (const [x, y] of pts) { num += (x - mx) * (y - my); den += (x - mx) ** 2; }
  return den > 0 ? num / den : NaN;
}

const MEMORY_KEYS = ['rssMb', 'anonMb', 'heapUsedMb', 'externalMb', 'fds'] as const;
const COUNT_KEYS = ['calls', 'ports', 'serverTx', 'clientTx', 'answered', 'bindings'] as const;

export function judge(samples: readonly Sample[]): Verdict {
  const idle = samples.filter((s) => s.phase === 'idle');
  const load = samples.filter((s) => s.phase === 'load');
  const last = samples[samples.length - 1];
  const lines: string[] = [];
  if (!idle.length || load.length < 8 || !last) return { ok: false, lines: ['too few samples to judge'] };
  const half = load.slice(Math.floor(load.length / 2));
  const minutes = half.map((s) => s.t / 60);
  const q = Math.floor(load.length / 4);
  const second = load.slice(q, 2 * q);
  const fourth = load.slice(load.length - q);
  const centre = (xs: readonly Sample[]): number => meanOf(xs.map((s) => s.t / 60));
  let ok = true;
  const trend = (key: keyof Sample, limit: number, unit: string): void => {
    const vals = half.map((s) => s[key] as number);
    const k = slope(minutes, vals);
    const rise = median(fourth.map((s) => s[key] as number)) - median(second.map((s) => s[key] as number));
    const level = rise <= limit * (centre(fourth) - centre(second));
    const grows = !(k <= limit) && !level;
    if (grows) ok = false;
    const first = load[0]?.[key] as number;
    lines.push(`${key}: start of load ${f(first, 1)}, second half mean ${f(meanOf(vals), 1)}, end ${f(half[half.length - 1]?.[key] as number, 1)}; `
      + `slope ${f(k, 3)} ${unit}/min (limit ${f(limit, 3)}), last quarter ${rise >= 0 ? '+' : ''}${f(rise, 1)} on the second: ${grows ? 'GROWING' : !(k <= limit) ? 'level (dipped and came back)' : 'level'}`);
  };
  for (const key of MEMORY_KEYS) trend(key, SLOPE_LIMITS[key], key === 'fds' ? 'fds' : 'MB');
  for (const key of COUNT_KEYS) {
    const m = meanOf(half.map((s) => s[key] as number));
    trend(key, SLOPE_LIMITS.count.units + SLOPE_LIMITS.count.shareOfMean * (Number.isFinite(m) ? m : 0), '');
  }
  lines.push(`RSS: idle ${f(meanOf(idle.map((s) => s.rssMb)), 1)} MB, peak ${f(Math.max(...samples.map((s) => s.rssMb)), 1)} MB, after drain ${f(last.rssMb, 1)} MB`);
  const fd0 = Math.max(...idle.map((s) => s.fds));
  const fdOk = last.fds <= fd0 + FD_SLACK;
  lines.push(`fds: idle ${fd0}, peak under load ${Math.max(...load.map((s) => s.fds))}, after drain ${last.fds}: ${fdOk ? 'ok' : 'NOT RELEASED'}`);
  const clean = last.calls === 0 && last.sessions === 0 && last.ports === 0;
  lines.push(`calls/sessions/ports after drain: ${last.calls}/${last.sessions}/${last.ports} (peak calls ${Math.max(...load.map((s) => s.calls))}, ports ${Math.max(...load.map((s) => s.ports))}): ${clean ? 'ok' : 'NOT RELEASED'}`);
  const rtp = Math.max(...load.map((s) => (Number.isFinite(s.rtpIn) ? s.rtpIn : 0)));
  lines.push(`RTP packets held by live calls, peak: ${rtp}`);
  return { ok: ok && fdOk && clean, lines };
}

