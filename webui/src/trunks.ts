import { useEffect, useState } from 'preact/hooks';
import { api, errorMessage } from './api.js';
import { html, type Html } from './html.js';
import type { DidView, RouteView, TrunkView } from './types.js';

/** Trunks with their live state, the outbound routes and the DIDs (changed with `pbx trunk|route|did`). */

const REFRESH_MS = 5000;

function state(t: TrunkView): Html {
  const live = t.live;
  if (!live) return html`<span class="hint">not running</span>`;
  const reg = live.registration === 'off' ? 'IP-authenticated' : live.registration;
  const good = (live.registration === 'registered' || live.registration === 'off') && live.liveness !== 'down';
  return html`<span class=${good ? 'ok' : 'warn'}>${reg}</span>${live.liveness === 'down' ? html` <span class="warn">down</span>` : ''}`;
}

export function Trunks(): Html {
  const [trunks, setTrunks] = useState<readonly TrunkView[]>([]);
  const [routes, setRoutes] = useState<readonly RouteView[]>([]);
  const [dids, setDids] = useState<readonly DidView[]>([]);
  const [error, setError] = useState('');
  useEffect(() => {
    let stop = false;
    const load = async (): Promise<void> => {
      try {
        const [t, r, d] = await Promise.all([api<TrunkView[]>('GET', '/trunks'), api<RouteView[]>('GET', '/routes'), api<DidView[]>('GET', '/dids')]);
        if (!stop) { setTrunks(t); setRoutes(r); setDids(d); setError(''); }
      } catch (e) { if (!stop) setError(errorMessage(e)); }
    };
    void load();
    const timer = setInterval(() => void load(), REFRESH_MS);
    return () => { stop = true; clearInterval(timer); };
  }, []);
  return html`<section id="trunks">
    <h2>Trunks</h2>
    ${error ? html`<p class="error">${error}</p>` : ''}
    ${trunks.length === 0 ? html`<p class="hint">No trunks. Add one with <code>pbx trunk add</code>.</p>` : html`<table>
      <thead><tr><th>Name</th><th>Server</th><th>Transport</th><th>State</th><th>Calls</th><th>sips:</th><th>Last error</th></tr></thead>
      <tbody>${trunks.map((t) => html`<tr>
        <td>${t.name}</td><td>${t.host}${t.port !== null ? `:${t.port}` : ''}</td>
        <td>${t.transport.toUpperCase()}${t.transport === 'tls' ? (t.customCa ? ' (uploaded CA)' : ' (system CAs)') : ''}</td>
        <td>${state(t)}</td><td>${t.live ? `${t.live.activeCalls} / ${t.maxCalls}` : '-'}</td>
        <td>${t.sipsExempt ? html`<span class="hint">exempt</span>` : 'enforced'}</td>
        <td>${t.live?.lastError ?? ''}</td>
      </tr>`)}</tbody></table>`}
    <h3>Outbound routes</h3>
    ${routes.length === 0 ? html`<p class="hint">No routes: nothing leaves on a trunk.</p>` : html`<table>
      <thead><tr><th>Prefix</th><th>Trunks, in order</th><th>Strip</th><th>Prepend</th><th>International</th><th>Premium</th></tr></thead>
      <tbody>${routes.map((r) => html`<tr><td>${r.prefix || '(any)'}</td><td>${r.trunks.join(', then ')}</td><td>${r.strip}</td><td>${r.prepend}</td>
        <td>${r.international ? html`<span class="warn">allowed</span>` : 'blocked'}</td><td>${r.premium ? html`<span class="warn">allowed</span>` : 'blocked'}</td></tr>`)}</tbody></table>`}
    <p class="hint">Emergency numbers always go out, on every trunk; international and premium numbers need both the route and the extension enabled.</p>
    <h3>DIDs</h3>
    ${dids.length === 0 ? html`<p class="hint">No DIDs: calls from trunks get 404.</p>` : html`<table>
      <thead><tr><th>Number</th><th>Rings</th><th>Trunk</th></tr></thead>
      <tbody>${dids.map((d) => html`<tr><td>${d.number}</td><td>${d.to}</td><td>${d.trunk}</td></tr>`)}</tbody></table>`}
  </section>`;
}
