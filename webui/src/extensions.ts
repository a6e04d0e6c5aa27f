import type { TargetedEvent } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, errorMessage, fieldErrors } from './api.js';
import { html, type Html } from './html.js';
import type { AccountView, AddedAccount, PasswordReset, PolicyListEntry, StatusReport } from './types.js';
import { Field, FormError, fromNow, when } from './ui.js';

/** "registered 5 min ago", never in the future (the page's clock may run a little behind the box's). */
function registeredFor(at: number): string {
  const ms = Date.now() - at;
  return ms < 10_000 ? 'registered just now' : `registered ${fromNow(Date.now() - ms)}`;
}

/** Whether a phone of the extension is registered and whether it is in a call, from the live status. */
function Presence(props: { extension: string; status: StatusReport | null }): Html {
  const s = props.status;
  if (!s) return html`<span class="hint">…</span>`;
  const regs = (s.registrations ?? []).filter((r) => r.extension === props.extension);
  const call = (s.calls ?? []).find((c) => c.legs.a.party === props.extension || c.legs.b?.party === props.extension || c.caller === props.extension || c.callee === props.extension);
  if (regs.length === 0) return html`<span class="presence offline">offline</span>${call ? html` <span class="pill">${call.state === 'answered' ? 'in call' : call.state}</span>` : null}`;
  const r = regs[0]!;
  return html`<span class=${`presence ${call ? 'busy' : 'online'}`}>${call ? (call.state === 'answered' ? 'in call' : call.state) : 'registered'}</span>
    <div class="hint">${String(r.transport).toUpperCase()} · ${registeredFor(r.registeredAt)}${regs.length > 1 ? ` · ${regs.length} phones` : ''}${r.reachable === false ? ' · unreachable' : ''}</div>
    ${r.userAgent ? html`<div class="hint" title=${`registered ${when(r.registeredAt)}`}>${r.userAgent}</div>` : null}`;
}

/** Extensions: add, edit, remove, reset password (shown once), policy, TLS-only. */

const EXTENSION = /^[A-Za-z0-9._-]{1,32}$/;
const MIN_PASSWORD = 6;

type TextEvent = TargetedEvent<HTMLInputElement | HTMLSelectElement>;
type CheckEvent = TargetedEvent<HTMLInputElement>;

function checkAccount(v: { extension?: string; password?: string; name?: string }): Record<string, string> {
  const e: Record<string, string> = {};
  if (v.extension !== undefined && !EXTENSION.test(v.extension)) e.extension = 'Use 1-32 letters, digits, ".", "_" or "-".';
  if (v.password && v.password.length < MIN_PASSWORD) e.password = `At least ${MIN_PASSWORD} characters, or leave empty to generate one.`;
  if (v.name !== undefined && v.name.length > 64) e.name = 'At most 64 characters.';
  return e;
}

function ShownOnce(props: { extension: string; password: string; onClose: () => void }): Html {
  return html`<div class="notice" id="shown-once" role="status">
    Password for <strong>${props.extension}</strong>: <span class="secret" id="new-password">${props.password}</span>
    <div class="hint">Shown once only: enter it in the phone now. The box keeps only a hash of it.</div>
    <button class="plain" onClick=${props.onClose}>Done</button></div>`;
}

function AddForm(props: { policies: readonly PolicyListEntry[]; onAdded: (acct: AddedAccount) => void }): Html {
  const [v, setV] = useState({ extension: '', name: '', password: '', policy: 'default', tlsOnly: false });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const set = (k: 'extension' | 'name' | 'password' | 'policy') => (ev: TextEvent) => setV({ ...v, [k]: ev.currentTarget.value });
  const setTls = (ev: CheckEvent) => setV({ ...v, tlsOnly: ev.currentTarget.checked });
  const submit = async (ev: Event) => {
    ev.preventDefault();
    const local = checkAccount(v);
    setErrors(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    try {
      const acct = await api<AddedAccount>('POST', '/accounts', { extension: v.extension, name: v.name, policy: v.policy, tlsOnly: v.tlsOnly, ...(v.password ? { password: v.password } : {}) });
      setV({ extension: '', name: '', password: '', policy: v.policy, tlsOnly: false });
      props.onAdded(acct);
    } catch (e) {
      setErrors(fieldErrors(e));
    } finally { setBusy(false); }
  };
  return html`<form id="add-extension" onSubmit=${submit} novalidate>
    <${FormError} errors=${errors} />
    <div class="grid">
      <${Field} id="add-ext" label="Extension" error=${errors.extension}>
        <input id="add-ext" type="text" value=${v.extension} onInput=${set('extension')} autocomplete="off" /></${Field}>
      <${Field} id="add-name" label="Name" error=${errors.name}>
        <input id="add-name" type="text" value=${v.name} onInput=${set('name')} /></${Field}>
      <${Field} id="add-password" label="SIP password" error=${errors.password} hint="Leave empty to have one generated.">
        <input id="add-password" type="password" value=${v.password} onInput=${set('password')} autocomplete="new-password" /></${Field}>
      <${Field} id="add-policy" label="Policy" error=${errors.policy}>
        <select id="add-policy" value=${v.policy} onChange=${set('policy')}>${props.policies.map((p) => html`<option value=${p.name}>${p.name}</option>`)}</select></${Field}>
    </div>
    <div class="field check"><input id="add-tls" type="checkbox" checked=${v.tlsOnly} onChange=${setTls} /> <label for="add-tls">TLS only (refuse registrations over UDP and TCP)</label></div>
    <button type="submit" disabled=${busy}>Add extension</button>
  </form>`;
}

function EditRow(props: { acct: AccountView; policies: readonly PolicyListEntry[]; onDone: (changed: boolean) => void }): Html {
  const [v, setV] = useState({ name: props.acct.name, policy: props.acct.policy, tlsOnly: props.acct.tlsOnly });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const set = (k: 'name' | 'policy') => (ev: TextEvent) => setV({ ...v, [k]: ev.currentTarget.value });
  const setTls = (ev: CheckEvent) => setV({ ...v, tlsOnly: ev.currentTarget.checked });
  const save = async (ev: Event) => {
    ev.preventDefault();
    const local = checkAccount({ name: v.name });
    setErrors(local);
    if (Object.keys(local).length) return;
    try {
      await api('PATCH', `/accounts/${encodeURIComponent(props.acct.extension)}`, v);
      props.onDone(true);
    } catch (e) { setErrors(fieldErrors(e)); }
  };
  const id = `edit-${props.acct.extension}`;
  return html`<tr><td colspan="6"><form onSubmit=${save} id=${id} novalidate>
    <strong>Edit ${props.acct.extension}</strong>
    <${FormError} errors=${errors} />
    <div class="grid">
      <${Field} id=${`${id}-name`} label="Name" error=${errors.name}><input id=${`${id}-name`} type="text" value=${v.name} onInput=${set('name')} /></${Field}>
      <${Field} id=${`${id}-policy`} label="Policy" error=${errors.policy}>
        <select id=${`${id}-policy`} value=${v.policy} onChange=${set('policy')}>${props.policies.map((p) => html`<option value=${p.name}>${p.name}</option>`)}</select></${Field}>
    </div>
    <div class="field check"><input id=${`${id}-tls`} type="checkbox" checked=${v.tlsOnly} onChange=${setTls} /> <label for=${`${id}-tls`}>TLS only</label></div>
    <div class="row"><button type="submit">Save</button><button type="button" class="plain" onClick=${() => props.onDone(false)}>Cancel</button></div>
  </form></td></tr>`;
}

export function Extensions(): Html {
  const [accounts, setAccounts] = useState<readonly AccountView[] | null>(null);
  const [policies, setPolicies] = useState<readonly PolicyListEntry[]>([]);
  const [editing, setEditing] = useState<string | null>(null);
  const [shown, setShown] = useState<{ extension: string; password: string } | null>(null);
  const [error, setError] = useState('');
  const [status, setStatus] = useState<StatusReport | null>(null);
  useEffect(() => {
    // Registrations and calls change the status column live.
    const es = new EventSource('/api/events');
    es.addEventListener('status', (ev: MessageEvent<string>) => setStatus(JSON.parse(ev.data) as StatusReport));
    return () => es.close();
  }, []);
  const load = async () => {
    const [a, p] = await Promise.all([api<AccountView[]>('GET', '/accounts'), api<PolicyListEntry[]>('GET', '/policies')]);
    setAccounts(a);
    setPolicies(p);
  };
  useEffect(() => { load().catch((e: unknown) => setError(errorMessage(e))); }, []);
  const act = async (fn: () => Promise<void>) => {
    setError('');
    try { await fn(); await load(); } catch (e) { setError(errorMessage(e)); }
  };
  const remove = (ext: string) => act(async () => {
    if (!confirm(`Remove extension ${ext}? Its phones are logged off at once.`)) return;
    await api('DELETE', `/accounts/${encodeURIComponent(ext)}`);
  });
  const reset = (ext: string) => act(async () => {
    if (!confirm(`Give extension ${ext} a new password? The phone must then be set up with it.`)) return;
    const r = await api<PasswordReset>('POST', `/accounts/${encodeURIComponent(ext)}/password`, {});
    // No password was sent, so the box generated one and returns it.
    setShown({ extension: ext, password: r.password ?? '' });
  });
  if (!accounts) return html`<p class="boot">${error || 'Loading…'}</p>`;
  return html`
  ${shown ? html`<${ShownOnce} ...${shown} onClose=${() => setShown(null)} />` : null}
  <section class="card"><h2>Extensions</h2>
    ${error ? html`<div class="notice bad" role="alert">${error}</div>` : null}
    ${accounts.length === 0 ? html`<p class="empty">No extension yet.</p>` : html`
    <table id="extensions"><thead><tr><th>Extension</th><th>Name</th><th>Status</th><th>Policy</th><th>TLS</th><th class="actions">Actions</th></tr></thead>
    <tbody>${accounts.map((a) => editing === a.extension
      ? html`<${EditRow} acct=${a} policies=${policies} onDone=${(changed: boolean) => { setEditing(null); if (changed) void act(async () => {}); }} />`
      : html`<tr data-extension=${a.extension}><td>${a.extension}</td><td>${a.name}</td><td class="status"><${Presence} extension=${a.extension} status=${status} /></td>
        <td>${a.policy}${a.record ? html`<div class="hint">records ${a.record}</div>` : null}</td>
        <td>${a.tlsOnly ? 'TLS only' : 'any transport'}<div class="hint">${a.tlsMode === 'mutual' ? 'phone certificate required' : a.tlsMode === 'server' ? 'phone checks the box' : 'encryption only'}</div></td>
        <td class="actions"><div class="row"><button class="plain" onClick=${() => setEditing(a.extension)}>Edit</button>
          <button class="plain" onClick=${() => reset(a.extension)}>Reset password</button>
          <button class="danger" onClick=${() => remove(a.extension)}>Remove</button></div></td></tr>`)}</tbody></table>`}
  </section>
  <section class="card"><h2>Add an extension</h2>
    <${AddForm} policies=${policies} onAdded=${(acct: AddedAccount) => { if (acct.password) setShown({ extension: acct.extension, password: acct.password }); void load(); }} />
  </section>`;
}
