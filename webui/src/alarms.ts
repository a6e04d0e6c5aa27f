import { useState } from 'preact/hooks';
import { api, errorMessage } from './api.js';
import { html, type Html } from './html.js';
import type { TollAlarmView } from './types.js';
import { when } from './ui.js';

/**
 * Toll-fraud alarms on the dashboard: an account whose outbound calls jumped
 * (pbx/trunks/surge.ts). Shown until the admin clears each one; clearing
 * does not unblock or change anything else, it says "I have looked".
 */
export function Alarms(props: { alarms: readonly TollAlarmView[] }): Html {
  const [error, setError] = useState('');
  if (props.alarms.length === 0) return html``;
  const clear = async (ext: string): Promise<void> => {
    setError('');
    try { await api('DELETE', `/alarms/${encodeURIComponent(ext)}`); } catch (e) { setError(errorMessage(e)); }
  };
  return html`<section class="card alarm" id="alarms"><h2>Toll-fraud alarm</h2>
    <p>An extension placed far more outside calls than an office phone does. If nobody at that desk made them,
      its password or phone may be in someone else's hands: change the password (Extensions), and check the call history.</p>
    <table><thead><tr><th>Extension</th><th>Outside calls</th><th>Last number tried</th><th>Since</th><th></th></tr></thead>
    <tbody>${props.alarms.map((a) => html`<tr data-alarm=${a.extension}>
      <td>${a.extension}</td><td>${a.calls} within ${a.windowMinutes} min</td><td class="mono">${a.lastNumber}</td>
      <td title=${`last attempt ${when(a.lastAt)}`}>${when(a.raisedAt)}</td>
      <td><button class="plain" onClick=${() => { void clear(a.extension); }}>I have looked: clear</button></td></tr>`)}</tbody></table>
    ${error ? html`<p class="error">${error}</p>` : null}
  </section>`;
}
