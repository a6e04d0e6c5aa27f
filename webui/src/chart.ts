import { html, type Html } from './html.js';
import type { CallQualityView, QualitySample } from './types.js';

/**
 * A call's media quality over time as plain SVG (no chart library): per leg,
 * jitter in ms, packets lost and packets received per second. The legs are
 * the box's two sides of the call: "a" toward the caller, "b" toward the callee.
 */

const W = 640;
const H = 150;
const PAD = { l: 44, r: 10, t: 10, b: 22 };
const COLORS: Record<string, string> = { a: '#1f5f99', b: '#c05a00' };
const color = (leg: string): string => COLORS[leg] ?? '#555';

interface Line { readonly leg: string; readonly points: readonly (readonly [number, number])[] }

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function Plot(props: { title: string; unit: string; lines: readonly Line[]; t0: number; t1: number; id: string }): Html {
  const { lines, t0, t1 } = props;
  const max = niceMax(Math.max(0, ...lines.flatMap((l) => l.points.map((p) => p[1]))));
  const span = Math.max(1, t1 - t0);
  const x = (t: number): number => PAD.l + ((t - t0) / span) * (W - PAD.l - PAD.r);
  const y = (v: number): number => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
  const secs = Math.round(span / 1000);
  return html`<figure class="chart" id=${props.id}><figcaption>${props.title} (${props.unit})</figcaption>
    <svg viewBox=${`0 0 ${W} ${H}`} width=${W} height=${H} role="img" aria-label=${props.title}>
      <line x1=${PAD.l} y1=${H - PAD.b} x2=${W - PAD.r} y2=${H - PAD.b} class="axis" />
      <line x1=${PAD.l} y1=${PAD.t} x2=${PAD.l} y2=${H - PAD.b} class="axis" />
      <line x1=${PAD.l} y1=${y(max / 2)} x2=${W - PAD.r} y2=${y(max / 2)} class="grid" />
      <text x=${PAD.l - 4} y=${PAD.t + 8} class="tick" text-anchor="end">${max}</text>
      <text x=${PAD.l - 4} y=${y(max / 2) + 4} class="tick" text-anchor="end">${max / 2}</text>
      <text x=${PAD.l - 4} y=${H - PAD.b} class="tick" text-anchor="end">0</text>
      <text x=${PAD.l} y=${H - 6} class="tick">0 s</text>
      <text x=${W - PAD.r} y=${H - 6} class="tick" text-anchor="end">${secs} s</text>
      <text x=${(W + PAD.l) / 2} y=${H - 6} class="tick" text-anchor="middle">time into the call</text>
      ${lines.every((l) => l.points.length === 0) ? html`<text x=${(W + PAD.l) / 2} y=${H / 2} class="tick" text-anchor="middle">not enough samples yet</text>` : null}
      ${lines.map((l) => l.points.length === 0 ? null : l.points.length === 1
        ? html`<circle cx=${x(l.points[0]![0])} cy=${y(l.points[0]![1])} r="3" fill=${color(l.leg)} data-leg=${l.leg} />`
        : html`<polyline fill="none" stroke=${color(l.leg)} stroke-width="2" data-leg=${l.leg}
          points=${l.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ')} />`)}
    </svg></figure>`;
}

function series(samples: readonly QualitySample[], pick: (s: QualitySample, leg: string, prev: QualitySample | undefined) => number | undefined): Line[] {
  const legs = [...new Set(samples.flatMap((s) => Object.keys(s.legs)))].sort();
  return legs.map((leg) => ({
    leg,
    points: samples.flatMap((s, i): Array<[number, number]> => {
      const v = pick(s, leg, samples[i - 1]);
      return v === undefined ? [] : [[s.at, v]];
    }),
  }));
}

export function QualityChart(props: { quality: CallQualityView; names?: Readonly<Record<string, string>> }): Html {
  const s = props.quality.samples;
  if (s.length === 0) return html`<p class="empty">No media figures for this call yet.</p>`;
  const t0 = s[0]!.at;
  const t1 = s[s.length - 1]!.at;
  const jitter = series(s, (x, leg) => x.legs[leg]?.jitterMs);
  const lost = series(s, (x, leg) => x.legs[leg]?.lost);
  const rate = series(s, (x, leg, prev) => {
    const now = x.legs[leg];
    const before = prev?.legs[leg];
    // Samples closer than a second (an extra one after a call change) make a noisy rate.
    if (!now || !before || !prev || x.at - prev.at < 1000) return undefined;
    return Math.max(0, (now.packetsIn - before.packetsIn) / ((x.at - prev.at) / 1000));
  });
  const last = s[s.length - 1]!;
  const names = props.names ?? {};
  return html`<div class="quality" id="quality">
    <div class="row legend">${Object.keys(last.legs).sort().map((leg) => html`<span><span class="swatch" style=${{ background: color(leg) }}></span>
      leg ${leg}${names[leg] ? ` (${names[leg]})` : ''}: ${last.legs[leg]!.packetsIn} packets in, ${last.legs[leg]!.lost} lost, jitter ${last.legs[leg]!.jitterMs} ms</span>`)}</div>
    <${Plot} id="chart-jitter" title="Jitter of what the box receives" unit="ms" lines=${jitter} t0=${t0} t1=${t1} />
    <${Plot} id="chart-lost" title="Packets lost (so far)" unit="packets" lines=${lost} t0=${t0} t1=${t1} />
    <${Plot} id="chart-rate" title="Packets received per second" unit="packets/s" lines=${rate} t0=${t0} t1=${t1} />
    <p class="hint">${s.length} samples, one every ${Math.round(props.quality.everyMs / 1000)} s${props.quality.live ? ' (call in progress)' : ''}. Leg a faces the caller, leg b the callee.</p>
  </div>`;
}
