import type { TargetedEvent } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, errorMessage } from './api.js';
import { html, type Html } from './html.js';
import { when } from './ui.js';

/**
 * Security: the sources the SIP digest throttle blocks (why, which extension
 * they tried, how long is left) with an unblock button each, and the audit
 * log of admin changes, which the page can read and search but not change.
 */

interface BlockLine { source: string; extension: string | null; failures: number; until: string; secondsLeft: number; scope?: 'address' | 'source' | 'account' }

/** What a block refuses (issue 20): the whole address, one account from it, or one account from untrusted addresses. */
function refuses(b: BlockLine): string {
  if (b.scope === 'source') return `extension ${b.extension ?? '?'} from this address`;
  if (b.scope === 'account') return `extension ${b.extension ?? '?'} from new addresses`;
  return 'every request';
}
interface AuditLine { at: string; who: string; from: string; what: string; ok: boolean; status?: number }

function left(s: number): string {
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${s} s`;
}

function Blocks(): Html {
  const [list, setList] = useState<readonly BlockLine[] | null>(null);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const load = (): void => { api<BlockLine[]>('GET', '/blocks').then((l) => { setList(l); setError(''); }).catch((e: unknown) => setError(errorMessage(e))); };
  useEffect(() => {
    load();
    // New blocks arrive with the live status; the countdown moves every second.
    const es = new EventSource('/api/events');
    es.addEventListener('status', load);
    const t = setInterval(() => setList((l) => l?.map((b) => ({ ...b, secondsLeft: Math.max(0, b.secondsLeft - 1) })).filter((b) => b.secondsLeft > 0) ?? l), 1000);
    return () => { es.close(); clearInterval(t); };
  }, []);
  const unblock = async (source: string): Promise<void> => {
    try {
      await api('DELETE', `/blocks/${encodeURIComponent(source)}`);
      setNotice(`Unblocked ${source}: its phones can register again.`);
      load();
    } catch (e) { setError(errorMessage(e)); }
  };
  return html`<section class="card" id="blocks"><h2>Blocked sources</h2>
    <p class="hint">An address that sends too many wrong SIP passwords is refused for a while, so nobody can guess a phone's password. An extension that gets too many wrong passwords (10 a minute, 30 an hour, 100 a day) refuses the guessing address; phones already connected over TLS keep working. A phone with a mistyped password blocks itself: fix the password, then unblock it here.</p>
    ${notice ? html`<div class="notice" role="status" id="unblock-done">${notice}</div>` : null}
    ${error ? html`<div class="notice bad" role="alert">${error}</div>` : null}
    ${!list ? html`<p class="boot">Loading…</p>` : list.length === 0 ? html`<p class="empty">No source is blocked.</p>` : html`
    <table><thead><tr><th>Source</th><th>Reason</th><th>Extension tried</th><th>Time left</th><th>Refuses</th><th class="actions">Actions</th></tr></thead>
    <tbody>${list.map((b) => html`<tr data-source=${b.source}>
      <td class="mono">${b.source}</td><td>${b.failures} wrong password${b.failures === 1 ? '' : 's'}</td><td>${b.extension ?? 'unknown'}</td>
      <td title=${when(b.until)}>${left(b.secondsLeft)}</td><td>${refuses(b)}</td>
      <td class="actions"><button class="plain" onClick=${() => void unblock(b.source)}>Unblock</button></td></tr>`)}</tbody></table>`}
  </section>`;
}

export function AuditView(): Html {
  const [list, setList] = useState<readonly AuditLine[] | null>(null);
  const [q, setQ] = useState('');
  const [error, setError] = useState('');
  useEffect(() => {
    const t = setTimeout(() => {
      api<AuditLine[]>('GET', `/audit?limit=300${q ? `&q=${encodeURIComponent(q)}` : ''}`).then(setList).catch((e: unknown) => setError(errorMessage(e)));
    }, q ? 250 : 0);
    return () => clearTimeout(t);
  }, [q]);
  return html`<section class="card" id="audit"><h2>Audit log</h2>
    <p class="hint">Every change made from this page or with the <code>pbx</code> command: who, when, what and from where. It is kept on the box and cannot be edited from here.</p>
    <div class="field"><label for="audit-search">Search</label><input id="audit-search" type="text" value=${q} placeholder="extension, address, word…" onInput=${(e: TargetedEvent<HTMLInputElement>) => setQ(e.currentTarget.value)} /></div>
    ${error ? html`<div class="notice bad" role="alert">${error}</div>` : null}
    ${!list ? html`<p class="boot">Loading…</p>` : list.length === 0 ? html`<p class="empty">${q ? 'Nothing matches.' : 'No change recorded yet.'}</p>` : html`
    <table id="audit-log"><thead><tr><th>When</th><th>Who</th><th>From</th><th>What</th><th>Result</th></tr></thead>
    <tbody>${list.map((e) => html`<tr><td>${when(e.at)}</td><td>${e.who}</td><td class="mono">${e.from}</td><td>${e.what}</td>
      <td>${e.ok ? html`<span class="ok">done</span>` : html`<span class="warn">refused${e.status ? ` (${e.status})` : ''}</span>`}</td></tr>`)}</tbody></table>`}
  </section>`;
}

export function Security(): Html {
  return html`<${Blocks} /><${AuditView} />`;
}
