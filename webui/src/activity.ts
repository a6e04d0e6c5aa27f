import { useEffect, useState } from 'preact/hooks';
import { api, errorMessage } from './api.js';
import { html, type Html } from './html.js';
import type { CallRecordJson, CertInfo } from './types.js';

/**
 * Pictures from data the box already has, as plain SVG (like chart.ts):
 * calls per hour and concurrent calls over the last day, from the call
 * records; the certificates' validity on one time line, with today marked.
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const W = 640;
const H = 140;
const PAD = { l: 34, r: 10, t: 10, b: 24 };

const ms = (v: unknown): number => (typeof v === 'number' ? v : Date.parse(String(v)));

export interface Activity {
  /** Start of the first hour shown (24 buckets of one hour, the last one holding now). */
  readonly from: number;
  /** Calls started in each hour. */
  readonly perHour: readonly number[];
  /** Calls in progress over the day as steps: [time, calls from then on]. */
  readonly concurrent: readonly (readonly [number, number])[];
  readonly peak: number;
}

/** Per-hour counts and the concurrency steps of the calls of the day before `now`. */
export function activityOf(records: readonly CallRecordJson[], now: number): Activity {
  const from = Math.floor(now / HOUR) * HOUR - 23 * HOUR;
  const perHour = new Array<number>(24).fill(0);
  const edges: Array<[number, number]> = [];
  for (const r of records) {
    const start = ms(r.startedAt);
    const end = ms(r.endedAt);
    if (!Number.isFinite(start) || !Number.isFinite(end) || end < from || start > now) continue;
    if (start >= from) perHour[Math.min(23, Math.floor((start - from) / HOUR))]! += 1;
    // A call counts from its start to its end; refused calls (no time between) do not overlap anything.
    if (end > start) edges.push([Math.max(start, from), 1], [Math.min(end, now), -1]);
  }
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const concurrent: Array<[number, number]> = [[from, 0]];
  let n = 0;
  let peak = 0;
  for (const [t, d] of edges) {
    n += d;
    peak = Math.max(peak, n);
    if (concurrent[concurrent.length - 1]![0] === t) concurrent[concurrent.length - 1] = [t, n];
    else concurrent.push([t, n]);
  }
  concurrent.push([now, n]);
  return { from, perHour, concurrent, peak };
}

const hourLabel = (t: number): string => `${String(new Date(t).getHours()).padStart(2, '0')}:00`;

function axisMax(v: number): number { return v <= 4 ? Math.max(1, v) : Math.ceil(v / 5) * 5; }

export function ActivityCharts(props: { records: readonly CallRecordJson[]; now?: number }): Html {
  const now = props.now ?? Date.now();
  const a = activityOf(props.records, now);
  const total = a.perHour.reduce((x, y) => x + y, 0);
  const x = (t: number): number => PAD.l + ((t - a.from) / (now - a.from)) * (W - PAD.l - PAD.r);
  const maxH = axisMax(Math.max(...a.perHour));
  const maxC = axisMax(a.peak);
  const y = (v: number, max: number): number => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
  const bw = (W - PAD.l - PAD.r) / 24;
  const ticks = [0, 6, 12, 18, 23].map((i) => a.from + i * HOUR);
  const frame = (max: number) => html`
    <line x1=${PAD.l} y1=${H - PAD.b} x2=${W - PAD.r} y2=${H - PAD.b} class="axis" />
    <line x1=${PAD.l} y1=${PAD.t} x2=${PAD.l} y2=${H - PAD.b} class="axis" />
    <text x=${PAD.l - 4} y=${PAD.t + 8} class="tick" text-anchor="end">${max}</text>
    <text x=${PAD.l - 4} y=${H - PAD.b} class="tick" text-anchor="end">0</text>
    ${ticks.map((t) => html`<text x=${x(t)} y=${H - 8} class="tick" text-anchor="middle">${hourLabel(t)}</text>`)}`;
  const steps = a.concurrent.map(([t, n], i) => {
    const next = a.concurrent[i + 1];
    return `${x(t).toFixed(1)},${y(n, maxC).toFixed(1)}${next ? ` ${x(next[0]).toFixed(1)},${y(n, maxC).toFixed(1)}` : ''}`;
  }).join(' ');
  return html`<div class="activity" id="activity">
    <figure class="chart" id="chart-per-hour"><figcaption>Calls per hour, last 24 hours (${total} calls)</figcaption>
      <svg viewBox=${`0 0 ${W} ${H}`} width=${W} height=${H} role="img" aria-label="calls per hour">${frame(maxH)}
        ${a.perHour.map((n, i) => n === 0 ? null : html`<rect x=${(PAD.l + i * bw + 1).toFixed(1)} y=${y(n, maxH).toFixed(1)} width=${(bw - 2).toFixed(1)}
          height=${(H - PAD.b - y(n, maxH)).toFixed(1)} fill="#1f5f99" data-hour=${i} data-calls=${n}><title>${hourLabel(a.from + i * HOUR)}: ${n} calls</title></rect>`)}
      </svg></figure>
    <figure class="chart" id="chart-concurrent"><figcaption>Calls in progress at once, last 24 hours (peak ${a.peak})</figcaption>
      <svg viewBox=${`0 0 ${W} ${H}`} width=${W} height=${H} role="img" aria-label="concurrent calls">${frame(maxC)}
        <polyline fill="none" stroke="#c05a00" stroke-width="2" points=${steps} data-peak=${a.peak} />
      </svg></figure>
  </div>`;
}

/** The certificates' validity as bars on one time line, today marked; red when less than `warnDays` are left. */
export function CertTimeline(props: { certs: readonly { readonly name: string; readonly info: CertInfo }[]; now?: number; warnDays?: number }): Html {
  const now = props.now ?? Date.now();
  const warn = (props.warnDays ?? 30) * DAY;
  const rows = props.certs.map((c) => ({ ...c, start: ms(c.info.notBefore), end: ms(c.info.notAfter) }));
  const t0 = Math.min(now, ...rows.map((r) => r.start));
  const t1 = Math.max(now + DAY, ...rows.map((r) => r.end));
  const LW = 150;
  const RH = 26;
  const top = PAD.t + 14;
  const h = top + rows.length * RH + 24;
  const x = (t: number): number => LW + ((t - t0) / (t1 - t0)) * (W - LW - PAD.r);
  const year = (t: number): string => String(new Date(t).getFullYear());
  const years: number[] = [];
  for (let yv = new Date(t0).getFullYear() + 1; yv <= new Date(t1).getFullYear(); yv++) years.push(new Date(yv, 0, 1).getTime());
  return html`<figure class="chart" id="cert-timeline"><figcaption>Certificate validity (today marked)</figcaption>
    <svg viewBox=${`0 0 ${W} ${h}`} width=${W} height=${h} role="img" aria-label="certificate validity">
      ${years.map((t) => html`<line x1=${x(t)} y1=${top} x2=${x(t)} y2=${h - 20} class="grid" /><text x=${x(t)} y=${h - 6} class="tick" text-anchor="middle">${year(t)}</text>`)}
      ${rows.map((r, i) => {
        const left = r.end - now;
        const cls = left < 0 ? 'expired' : left < warn ? 'soon' : 'ok';
        const yv = top + i * RH;
        const inside = x(r.end) > W - 90;
        return html`<g data-cert=${r.name} data-state=${cls}>
          <text x=${LW - 6} y=${yv + 15} class="tick" text-anchor="end">${r.name}</text>
          <rect x=${x(r.start).toFixed(1)} y=${yv + 4} width=${Math.max(2, x(r.end) - x(r.start)).toFixed(1)} height="14" rx="3"
            fill=${cls === 'ok' ? '#2e8b57' : cls === 'soon' ? '#c05a00' : '#b22222'}><title>${r.name}: until ${new Date(r.end).toLocaleDateString()}</title></rect>
          <text x=${inside ? x(r.end) - 6 : x(r.end) + 4} y=${yv + 15} class="tick" text-anchor=${inside ? 'end' : 'start'} fill=${inside ? '#fff' : undefined}
            style=${inside ? { fill: '#fff' } : undefined}>${Math.floor(left / DAY)} days left</text></g>`;
      })}
      <line x1=${x(now)} y1=${top - 4} x2=${x(now)} y2=${h - 20} stroke="#222" stroke-dasharray="3 3" id="cert-today" />
      <text x=${x(now)} y=${PAD.t + 4} class="tick" text-anchor="start">today</text>
    </svg></figure>`;
}

/** The last day's activity, from the box's call records (the newest 1000). */
export function DayActivity(): Html {
  const [records, setRecords] = useState<readonly CallRecordJson[] | null>(null);
  const [error, setError] = useState('');
  useEffect(() => { api<CallRecordJson[]>('GET', '/calls/history?limit=1000').then(setRecords).catch((e: unknown) => setError(errorMessage(e))); }, []);
  return html`<section class="card" id="day-activity"><h2>The last 24 hours</h2>
    ${records ? html`<${ActivityCharts} records=${records} />` : html`<p class="empty">${error || 'Loading…'}</p>`}</section>`;
}
