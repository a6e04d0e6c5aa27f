import type { TargetedEvent } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { describeCall, describeLeg } from '../../firmware/admin/explain.js';
import { api, errorMessage } from './api.js';
import { QualityChart } from './chart.js';
import { DayActivity } from './activity.js';
import { html, type Html } from './html.js';
import type { CallQualityView, CallRecordJson, LegView } from './types.js';
import { when } from './ui.js';

/**
 * Finished calls from the call records, newest first, filtered by extension,
 * days and outcome on the box (the CSV link downloads exactly what the
 * filter shows); a click on a call opens its legs and its quality chart.
 */

const ms = (v: unknown): number => (typeof v === 'number' ? v : Date.parse(String(v)));

function duration(r: CallRecordJson): string {
  if (!r.answeredAt || !r.endedAt) return '—';
  const s = Math.max(0, Math.round((ms(r.endedAt) - ms(r.answeredAt)) / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function outcome(r: CallRecordJson): string {
  if (r.answeredAt !== undefined) return 'answered';
  if (['cancelled', 'no-answer', 'forwarded'].includes(r.endReason)) return 'missed';
  return r.endReason === 'busy' ? 'busy' : 'failed';
}

const REASONS: Record<string, string> = {
  'bye-caller': 'caller hung up', 'bye-callee': 'callee hung up', cancelled: 'caller gave up', busy: 'busy', 'no-answer': 'no answer',
  rejected: 'rejected', 'not-found': 'number unknown', unavailable: 'not reachable', 'media-timeout': 'media stopped', 'codec-mismatch': 'no common codec',
  failed: 'failed', timeout: 'timed out', 'media-policy': 'refused by the media policy', transferred: 'transferred', forwarded: 'forwarded', admin: 'ended by the admin',
};

interface Filter { extension: string; from: string; to: string; outcome: string }
const EMPTY: Filter = { extension: '', from: '', to: '', outcome: '' };

function query(f: Filter): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) if (v) p.set(k, v);
  if (f.from || f.to) p.set('tz', String(new Date().getTimezoneOffset()));
  return p.toString();
}

function LegDetail(props: { name: string; leg: LegView | undefined }): Html {
  const l = props.leg;
  if (!l) return html`<div class="leg">${props.name}: not answered</div>`;
  return html`<div class=${`leg ${l.protection === 'rtp' ? 'plain' : 'secure'}`}><strong>${props.name}</strong><br />
    ${describeLeg(l)}<br />${String(l.transport).toUpperCase()}${l.codec ? ` · ${l.codec}` : ''}${l.keys ? ` · keys: ${l.keys === 'box' ? 'the box' : 'the phones only'}` : ''}</div>`;
}

function Detail(props: { record: CallRecordJson; onClose: () => void }): Html {
  const r = props.record;
  const [quality, setQuality] = useState<CallQualityView | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    api<CallQualityView>('GET', `/calls/${encodeURIComponent(r.id)}/quality`).then(setQuality).catch((e: unknown) => setError(errorMessage(e)));
  }, [r.id]);
  return html`<section class="card" id="call-detail" data-call=${r.id}><h2>Call ${r.caller} → ${r.callee} <button class="plain" onClick=${props.onClose}>Close</button></h2>
    <p>${when(r.startedAt)} · ${outcome(r)} · ${REASONS[r.endReason] ?? r.endReason} · ${duration(r)} · ${r.mode === 'relay' ? 'relayed' : 'bridged'}</p>
    <div class="legs"><${LegDetail} name=${`leg a (${r.caller})`} leg=${r.legs?.a} /><${LegDetail} name=${`leg b (${r.callee})`} leg=${r.legs?.b} /></div>
    <h3>Quality</h3>
    ${quality ? html`<${QualityChart} quality=${quality} names=${{ a: r.caller, b: r.callee }} />` : html`<p class="empty">${error || 'Loading…'}</p>`}
  </section>`;
}

export function History(): Html {
  const [records, setRecords] = useState<readonly CallRecordJson[] | null>(null);
  const [filter, setFilter] = useState<Filter>(EMPTY);
  const [open, setOpen] = useState<CallRecordJson | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    const t = setTimeout(() => {
      const q = query(filter);
      api<CallRecordJson[]>('GET', `/calls/history?limit=500${q ? `&${q}` : ''}`).then((r) => { setRecords(r); setError(''); }).catch((e: unknown) => setError(errorMessage(e)));
    }, filter.extension ? 250 : 0);
    return () => clearTimeout(t);
  }, [filter]);
  const set = (k: keyof Filter) => (e: TargetedEvent<HTMLInputElement | HTMLSelectElement>) => setFilter({ ...filter, [k]: e.currentTarget.value });
  const q = query(filter);
  return html`${open ? html`<${Detail} record=${open} onClose=${() => setOpen(null)} />` : null}
  <section class="card"><h2>Call history</h2>
    <form class="row filters" id="history-filter" onSubmit=${(e: Event) => e.preventDefault()}>
      <div class="field"><label for="h-ext">Extension</label><input id="h-ext" type="text" value=${filter.extension} placeholder="any" onInput=${set('extension')} /></div>
      <div class="field"><label for="h-from">From</label><input id="h-from" type="date" value=${filter.from} onInput=${set('from')} /></div>
      <div class="field"><label for="h-to">To</label><input id="h-to" type="date" value=${filter.to} onInput=${set('to')} /></div>
      <div class="field"><label for="h-outcome">Outcome</label><select id="h-outcome" value=${filter.outcome} onChange=${set('outcome')}>
        <option value="">any</option><option value="answered">answered</option><option value="missed">missed</option><option value="busy">busy</option><option value="failed">failed</option></select></div>
      <button type="button" class="plain" onClick=${() => setFilter(EMPTY)}>Clear</button>
      <a class="button plain" id="history-csv" href=${`/api/calls/history.csv${q ? `?${q}` : ''}`} download="call-history.csv">Export CSV</a>
    </form>
    ${error ? html`<div class="notice bad" role="alert">${error}</div>` : null}
    ${!records ? html`<p class="boot">Loading…</p>` : records.length === 0 ? html`<p class="empty">${q ? 'No call matches.' : 'No calls recorded yet.'}</p>` : html`
    <table id="call-history"><thead><tr><th>Started</th><th>From</th><th>To</th><th>Duration</th><th>Outcome</th><th>Media</th></tr></thead>
    <tbody>${records.map((r) => html`<tr data-call=${r.id} data-outcome=${outcome(r)} class="clickable" onClick=${() => setOpen(r)} title="Show the call's legs and quality">
      <td>${when(r.startedAt)}</td><td>${r.caller}</td><td>${r.callee}</td><td>${duration(r)}</td>
      <td>${outcome(r)}${(REASONS[r.endReason] ?? r.endReason) !== outcome(r) ? html`<div class="hint">${REASONS[r.endReason] ?? r.endReason ?? ''}</div>` : null}</td><td class="hint">${r.legs?.a ? describeCall(r) : ''}</td></tr>`)}</tbody></table>
    <p class="hint">${records.length} call${records.length === 1 ? '' : 's'}. Click a call for its legs and quality chart.</p>`}
  </section>
  <${DayActivity} />`;
}
