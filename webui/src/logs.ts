import type { TargetedEvent } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, errorMessage } from './api.js';
import { html, type Html } from './html.js';
import type { LogLevelOption, LogLine } from './types.js';

/**
 * The box's log, newest at the bottom: the kept lines, then every new line
 * as it is written (the event stream's `log` events). Filter by lowest level
 * and by text. The box replaces secrets before a line ever reaches the page.
 */

const LEVELS: readonly LogLevelOption[] = ['debug', 'info', 'warn', 'error'];
const RANK: Record<LogLevelOption, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
const KEEP = 1000;

function fields(f: Readonly<Record<string, unknown>>): string {
  return Object.entries(f).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
}

const time = (iso: string): string => {
  const d = new Date(iso);
  return `${d.toLocaleDateString()} ${d.toLocaleTimeString()}`;
};

export function Logs(): Html {
  const [lines, setLines] = useState<readonly LogLine[]>([]);
  const [level, setLevel] = useState<LogLevelOption>('info');
  const [q, setQ] = useState('');
  const [live, setLive] = useState(false);
  const [paused, setPaused] = useState(false);
  const [error, setError] = useState('');
  const bottom = useRef<HTMLDivElement>(null);

  useEffect(() => {
    let stopped = false;
    api<LogLine[]>('GET', '/logs?level=debug&limit=1000').then((l) => {
      if (stopped) return;
      // Lines that came live while the backlog loaded are kept once.
      setLines((cur) => { const seen = new Set(l.map((x) => x.seq)); return [...l, ...cur.filter((x) => !seen.has(x.seq))].slice(-KEEP); });
    }).catch((e: unknown) => setError(errorMessage(e)));
    const es = new EventSource('/api/events?logs=1');
    es.addEventListener('log', (ev: MessageEvent<string>) => {
      const line = JSON.parse(ev.data) as LogLine;
      setLines((cur) => [...cur, line].slice(-KEEP));
    });
    es.addEventListener('status', () => setLive(true));
    es.onerror = () => setLive(false);
    return () => { stopped = true; es.close(); };
  }, []);

  const needle = q.trim().toLowerCase();
  const shown = lines.filter((l) => RANK[l.level] >= RANK[level]
    && (needle === '' || l.msg.toLowerCase().includes(needle) || fields(l.fields).toLowerCase().includes(needle)));
  useEffect(() => { if (!paused) bottom.current?.scrollIntoView({ block: 'nearest' }); }, [shown.length, paused]);

  return html`<section class="card" id="logs"><h2>Log</h2>
    <p class="hint">What the box is doing, as it happens: registrations, calls, refused requests, blocks, admin changes. Passwords and keys never appear here.</p>
    <div class="row filters">
      <label for="log-level">Lowest level</label>
      <select id="log-level" value=${level} onChange=${(e: TargetedEvent<HTMLSelectElement>) => setLevel(e.currentTarget.value as LogLevelOption)}>
        ${LEVELS.map((l) => html`<option value=${l}>${l}</option>`)}</select>
      <label for="log-search">Search</label>
      <input id="log-search" type="text" value=${q} placeholder="extension, address, word…" onInput=${(e: TargetedEvent<HTMLInputElement>) => setQ(e.currentTarget.value)} />
      <span class=${`pill ${live ? 'ok' : 'warn'}`} id="log-live">${live ? 'live' : 'connecting…'}</span>
      <button class="plain" onClick=${() => setPaused(!paused)}>${paused ? 'Follow new lines' : 'Stop following'}</button>
    </div>
    ${error ? html`<div class="notice bad" role="alert">${error}</div>` : null}
    ${shown.length === 0 ? html`<p class="empty">${lines.length ? 'Nothing matches.' : 'No log line yet.'}</p>` : html`
    <div class="logbox"><table id="log-lines"><thead><tr><th>Time</th><th>Level</th><th>Message</th><th>Details</th></tr></thead>
    <tbody>${shown.map((l) => html`<tr data-level=${l.level} data-seq=${l.seq}><td class="nowrap">${time(l.at)}</td>
      <td><span class=${`lvl ${l.level}`}>${l.level}</span></td><td>${l.msg}</td><td class="mono">${fields(l.fields)}</td></tr>`)}</tbody></table>
    <div ref=${bottom}></div></div>`}
  </section>`;
}
