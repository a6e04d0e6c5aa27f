import { useEffect, useState } from 'preact/hooks';
import { describeLeg, describeMode } from '../../firmware/admin/explain.js';
import { api, errorMessage } from './api.js';
import { html, type Html } from './html.js';
import type { CallQualityView, CallView, LedName, LedState, LegView, StatusReport } from './types.js';
import { QualityChart } from './chart.js';
import { Alarms } from './alarms.js';
import { daysLeft, fromNow, when } from './ui.js';

/** Appliance health, LED mirror, registered phones and live calls; pushed by the server as they change. */

const LED_ORDER: readonly LedName[] = ['power', 'registration', 'call', 'error'];

function Led(props: { name: LedName; state: LedState | undefined }): Html {
  const s: LedState = props.state ?? { mode: 'off' };
  const color = s.mode === 'off' ? undefined : s.color;
  const cls = `lamp ${s.mode === 'off' ? '' : (color ?? 'green')}${s.mode === 'blink' ? ' blink' : ''}`;
  const style = s.mode === 'blink' ? { animationDuration: `${s.periodMs ?? 1000}ms` } : {};
  const text = s.mode === 'off' ? 'off' : `${s.mode}${color ? ` ${color}` : ''}`;
  return html`<div class="led" data-led=${props.name} data-state=${text} title=${`${props.name}: ${text}`}>
    <span class=${cls} style=${style}></span>${props.name}</div>`;
}

function Leg(props: { leg: LegView }): Html {
  const secure = props.leg.protection !== 'rtp';
  return html`<div class=${`leg ${secure ? 'secure' : 'plain'}`}>
    <strong>${props.leg.party}</strong> <span class="pill">${props.leg.transport?.toUpperCase()}</span><br />
    ${secure ? describeLeg(props.leg).slice(props.leg.party.length + 1) : 'plain RTP'}${props.leg.codec ? html` · ${props.leg.codec}` : null}
  </div>`;
}

export function CallCard(props: { call: CallView }): Html {
  const c = props.call;
  return html`<div class="call" data-call=${c.id} data-state=${c.state}>
    <div class="row"><strong>${c.caller} → ${c.callee}</strong> <span class="pill">${c.state}</span>
      <span class="hint" title=${`since ${when(c.answeredAt ?? c.startedAt)}`}><${Elapsed} since=${c.answeredAt ?? c.startedAt} /></span></div>
    <div class="legs">
      <${Leg} leg=${c.legs.a} />
      <span class="arrow">→</span>
      <div class="box">box<br /><strong>${describeMode(c)}</strong></div>
      <span class="arrow">→</span>
      ${c.legs.b ? html`<${Leg} leg=${c.legs.b} />` : html`<div class="leg">${c.callee}<br />not answered yet</div>`}
    </div>
    <div class="hint">Recording ${c.recordingPossible ? html`<span class="ok">possible</span> (the box can read the media)` : html`<span class="warn">only as an encrypted capture</span> (the box cannot read the media)`}</div>
    <${RecordButton} call=${c} />
    ${c.state === 'answered' ? html`<${LiveQuality} call=${c.id} />` : null}
  </div>`;
}

/** A running m:ss since the call was answered (or began ringing). */
function Elapsed(props: { since: number }): Html {
  const [now, setNow] = useState(Date.now());
  useEffect(() => { const t = setInterval(() => setNow(Date.now()), 1000); return () => clearInterval(t); }, []);
  const s = Math.max(0, Math.floor((now - props.since) / 1000));
  return html`<span class="elapsed">${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}</span>`;
}

/** The live call's quality chart, refreshed as the box samples it (every 2 s), on request. */
function LiveQuality(props: { call: string }): Html {
  const [open, setOpen] = useState(false);
  const [q, setQ] = useState<CallQualityView | null>(null);
  useEffect(() => {
    if (!open) return undefined;
    const load = (): void => { api<CallQualityView>('GET', `/calls/${encodeURIComponent(props.call)}/quality`).then(setQ).catch(() => {}); };
    load();
    const t = setInterval(load, 2000);
    return () => clearInterval(t);
  }, [open, props.call]);
  return html`<div class="live-quality"><button class="plain" id=${`quality-${props.call}`} onClick=${() => setOpen(!open)}>${open ? 'Hide quality' : 'Show quality'}</button>
    ${open ? (q ? html`<${QualityChart} quality=${q} />` : html`<p class="empty">No media figures yet.</p>`) : null}</div>`;
}

/** On-demand recording of a live call (issue 9): the same toggle as the feature code and `pbx recording toggle`. */
function RecordButton(props: { call: CallView }): Html | null {
  const c = props.call;
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  if (c.state !== 'answered' || c.recordMode === undefined || c.recordMode === 'never') return null;
  const on = c.recording !== undefined;
  const toggle = async (): Promise<void> => {
    setBusy(true);
    setError('');
    // The live status brings the new state; the answer is not needed here.
    try { await api('POST', `/calls/${encodeURIComponent(c.id)}/record`, { on: !on }); } catch (e) { setError(errorMessage(e)); } finally { setBusy(false); }
  };
  return html`<div class="row record">
    ${on ? html`<span class="pill rec" title=${c.recording?.kind === 'decoded' ? 'decoded, one channel per party' : 'encrypted capture'}>● recording</span>` : null}
    <button class=${on ? 'danger' : 'plain'} id=${`record-${c.id}`} disabled=${busy} onClick=${() => void toggle()}>${on ? 'Stop recording' : 'Record'}</button>
    ${c.recordMode === 'always' ? html`<span class="hint">this call's accounts record always</span>` : null}
    ${error ? html`<span class="error" role="alert">${error}</span>` : null}
  </div>`;
}

/** The status the server pushes in a `status` event; it sends the same JSON as GET /api/status. */
function statusFrom(ev: MessageEvent<string>): StatusReport {
  return JSON.parse(ev.data) as StatusReport;
}

export function Dashboard(): Html {
  const [status, setStatus] = useState<StatusReport | null>(null);
  const [live, setLive] = useState(false);
  const [, tick] = useState(0);

  useEffect(() => {
    let stopped = false;
    api<StatusReport>('GET', '/status').then((s) => { if (!stopped) setStatus(s); }).catch(() => {});
    const es = new EventSource('/api/events');
    es.addEventListener('status', (ev: MessageEvent<string>) => { setStatus(statusFrom(ev)); setLive(true); });
    es.addEventListener('logout', () => { es.close(); location.reload(); });
    es.onerror = () => setLive(false);
    const t = setInterval(() => tick((n) => n + 1), 5000);
    return () => { stopped = true; es.close(); clearInterval(t); };
  }, []);

  if (!status) return html`<p class="boot">Loading status…</p>`;
  const regs = status.registrations ?? [];
  const calls = status.calls ?? [];
  const cert = status.certificate;
  const health = status.configHealth ?? { ok: true };
  const blocked = status.blocked ?? [];
  return html`
  <${Alarms} alarms=${status.alarms ?? []} />
  <div class="grid">
    <section class="card" id="health"><h2>Appliance</h2>
      <div>Config: ${health.ok ? html`<span class="ok">OK</span>` : html`<span class="warn">${health.problem}</span>`}</div>
      ${cert ? html`<div>Certificate: valid until ${when(cert.notAfter)} (${daysLeft(cert.notAfter)} days)</div>` : null}
      <div>Extensions: ${status.accounts ?? 0}, registered phones: ${regs.length}, calls: ${calls.length}</div>
      <div>Blocked sources: ${blocked.length ? blocked.map((b) => b.address).join(', ') : 'none'}</div>
      <div class="hint">Live updates: ${live ? html`<span class="ok" id="live-state">connected</span>` : html`<span class="warn" id="live-state">reconnecting…</span>`}</div>
    </section>
    <section class="card"><h2>LEDs</h2>
      <div class="leds">${LED_ORDER.map((n) => html`<${Led} name=${n} state=${status.leds?.[n]} />`)}</div>
    </section>
  </div>
  <section class="card" id="registrations"><h2>Registered phones</h2>
    ${regs.length === 0 ? html`<p class="empty">No phone is registered.</p>` : html`
    <table><thead><tr><th>Extension</th><th>Transport</th><th>Address</th><th>Expires</th><th>Phone</th></tr></thead>
    <tbody>${regs.map((r) => html`<tr data-extension=${r.extension}>
      <td>${r.extension}</td><td>${String(r.transport).toUpperCase()}</td>
      <td class="mono">${r.source?.address}:${r.source?.port}</td>
      <td title=${when(r.expiresAt)}>${fromNow(r.expiresAt)}${r.reachable === false ? html` <span class="pill warn" title="its connection is gone; calls fail until the phone reconnects">unreachable</span>` : ''}</td><td>${r.userAgent ?? ''}</td></tr>`)}</tbody></table>`}
  </section>
  <section class="card" id="calls"><h2>Calls in progress</h2>
    ${calls.length === 0 ? html`<p class="empty">No call in progress.</p>` : calls.map((c) => html`<${CallCard} call=${c} />`)}
  </section>`;
}
