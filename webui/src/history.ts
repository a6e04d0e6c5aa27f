import { useEffect, useState } from 'preact/hooks';
import { describeCall } from '../../firmware/admin/explain.js';
import { api, errorMessage } from './api.js';
import { html, type Html } from './html.js';
import type { CallRecordJson } from './types.js';
import { when } from './ui.js';

/** Finished calls from the call records, newest first. */

const ms = (v: unknown): number => (typeof v === 'number' ? v : Date.parse(String(v)));

function duration(r: CallRecordJson): string {
  if (!r.answeredAt || !r.endedAt) return '—';
  const s = Math.max(0, Math.round((ms(r.endedAt) - ms(r.answeredAt)) / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function History(): Html {
  const [records, setRecords] = useState<readonly CallRecordJson[] | null>(null);
  const [error, setError] = useState('');
  useEffect(() => { api<CallRecordJson[]>('GET', '/calls/history?limit=200').then(setRecords).catch((e: unknown) => setError(errorMessage(e))); }, []);
  if (!records) return html`<p class="boot">${error || 'Loading…'}</p>`;
  return html`<section class="card"><h2>Call history</h2>
    ${records.length === 0 ? html`<p class="empty">No calls recorded yet.</p>` : html`
    <table id="call-history"><thead><tr><th>Started</th><th>From</th><th>To</th><th>Duration</th><th>Ended</th><th>Media</th></tr></thead>
    <tbody>${records.map((r) => html`<tr><td>${when(r.startedAt)}</td><td>${r.caller}</td><td>${r.callee}</td><td>${duration(r)}</td>
      <td>${r.endReason ?? ''}</td><td class="hint">${r.legs?.a ? describeCall(r) : ''}</td></tr>`)}</tbody></table>`}
  </section>`;
}
