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

const PROTECTIONS = ['rtp', 'sdes', 'dtls', 'zrtp'] as const;
type Protection = (typeof PROTECTIONS)[number];
const PROTECTION_NAMES: Record<Protection, string> = { rtp: 'plain RTP', sdes: 'SDES', dtls: 'DTLS-SRTP', zrtp: 'ZRTP' };

/** What the phone speaks and what the account insists on (`--media`, `--require`). */
function MediaSummary(props: { acct: AccountView }): Html {
  const m = props.acct.media;
  if (!m) return html`<span class="hint">—</span>`;
  return html`<div class="media-caps">speaks ${m.supported.map((p) => PROTECTION_NAMES[p]).join(', ')}</div>
    ${m.required.length ? html`<div class="hint">requires ${m.required.map((p) => PROTECTION_NAMES[p]).join(' or ')}</div>` : html`<div class="hint">requires nothing more</div>`}`;
}

/** Forwarding, do-not-disturb, call waiting and voicemail, in words. */
function CallSettings(props: { acct: AccountView }): Html {
  const a = props.acct;
  const f = a.forward;
  const forwards = [
    f.always ? `always → ${f.always}` : '', f.busy ? `busy → ${f.busy}` : '', f.noAnswer ? `no answer (${f.noAnswerSec} s) → ${f.noAnswer}` : '',
  ].filter((x) => x !== '');
  return html`<div class="call-settings">
    <div>${a.dnd ? html`<span class="pill warn">do not disturb</span>` : null} ${forwards.length ? `forwards ${forwards.join(', ')}` : 'no forwarding'}</div>
    <div class="hint">call waiting ${a.callWaiting ? 'on' : 'off'} · voicemail ${a.voicemail ? (a.voicemail.enabled ? `on${a.voicemail.pin ? ', PIN set' : ', no PIN yet'}` : 'off') : '—'}</div>
  </div>`;
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
  const a = props.acct;
  const [v, setV] = useState({
    name: a.name, policy: a.policy, tlsOnly: a.tlsOnly,
    forwardAlways: a.forward.always ?? '', forwardBusy: a.forward.busy ?? '', forwardNoAnswer: a.forward.noAnswer ?? '', noAnswerSec: String(a.forward.noAnswerSec),
    dnd: a.dnd, callWaiting: a.callWaiting, voicemail: a.voicemail?.enabled ?? true, voicemailPin: '',
  });
  const [media, setMedia] = useState({ supported: [...(a.media?.supported ?? ['rtp', 'sdes'])], required: [...(a.media?.required ?? [])] });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const set = (k: 'name' | 'policy' | 'forwardAlways' | 'forwardBusy' | 'forwardNoAnswer' | 'noAnswerSec' | 'voicemailPin') => (ev: TextEvent) => setV({ ...v, [k]: ev.currentTarget.value });
  const setTls = (ev: CheckEvent) => setV({ ...v, tlsOnly: ev.currentTarget.checked });
  const flag = (k: 'dnd' | 'callWaiting' | 'voicemail') => (ev: CheckEvent) => setV({ ...v, [k]: ev.currentTarget.checked });
  const toggle = (list: 'supported' | 'required', p: Protection) => (ev: CheckEvent) => {
    const on = ev.currentTarget.checked;
    setMedia({ ...media, [list]: on ? PROTECTIONS.filter((x) => x === p || media[list].includes(x)) : media[list].filter((x) => x !== p) });
  };
  const save = async (ev: Event) => {
    ev.preventDefault();
    const local = checkAccount({ name: v.name });
    for (const k of ['forwardAlways', 'forwardBusy', 'forwardNoAnswer'] as const) if (v[k] && !EXTENSION.test(v[k])) local[k] = 'An extension: 1-32 letters, digits, ".", "_" or "-"; empty for none.';
    if (!/^\d{1,3}$/.test(v.noAnswerSec) || Number(v.noAnswerSec) < 5 || Number(v.noAnswerSec) > 120) local.noAnswerSec = 'From 5 to 120 seconds.';
    if (v.voicemailPin && !/^\d{4,12}$/.test(v.voicemailPin)) local.voicemailPin = 'A PIN is 4 to 12 digits; empty keeps the current one.';
    if (media.supported.length === 0) local.media = 'The phone must speak at least one of them.';
    const missing = media.required.filter((p) => !media.supported.includes(p));
    if (missing.length) local.requireMedia = `Required but not spoken by the phone: ${missing.map((p) => PROTECTION_NAMES[p]).join(', ')}.`;
    setErrors(local);
    if (Object.keys(local).length) return;
    try {
      const { voicemailPin, ...rest } = v;
      await api('PATCH', `/accounts/${encodeURIComponent(a.extension)}`, {
        ...rest, ...(voicemailPin ? { voicemailPin } : {}), noAnswerSec: Number(v.noAnswerSec), media: media.supported.join(','), requireMedia: media.required.join(','),
      });
      props.onDone(true);
    } catch (e) { setErrors(fieldErrors(e)); }
  };
  const id = `edit-${props.acct.extension}`;
  return html`<tr><td colspan="8"><form onSubmit=${save} id=${id} novalidate>
    <strong>Edit ${props.acct.extension}</strong>
    <${FormError} errors=${errors} />
    <div class="grid">
      <${Field} id=${`${id}-name`} label="Name" error=${errors.name}><input id=${`${id}-name`} type="text" value=${v.name} onInput=${set('name')} /></${Field}>
      <${Field} id=${`${id}-policy`} label="Policy" error=${errors.policy}>
        <select id=${`${id}-policy`} value=${v.policy} onChange=${set('policy')}>${props.policies.map((p) => html`<option value=${p.name}>${p.name}</option>`)}</select></${Field}>
    </div>
    <div class="field check"><input id=${`${id}-tls`} type="checkbox" checked=${v.tlsOnly} onChange=${setTls} /> <label for=${`${id}-tls`}>TLS only</label></div>
    <fieldset class="media-edit"><legend>Media the phone speaks, and what the account requires</legend>
      <table class="media-grid"><thead><tr><th>Protection</th><th>The phone speaks it</th><th>The account requires it</th></tr></thead>
      <tbody>${PROTECTIONS.map((p) => html`<tr><td>${PROTECTION_NAMES[p]}</td>
        <td><input id=${`${id}-speaks-${p}`} type="checkbox" aria-label=${`speaks ${PROTECTION_NAMES[p]}`} checked=${media.supported.includes(p)} onChange=${toggle('supported', p)} /></td>
        <td><input id=${`${id}-requires-${p}`} type="checkbox" aria-label=${`requires ${PROTECTION_NAMES[p]}`} checked=${media.required.includes(p)} onChange=${toggle('required', p)} /></td></tr>`)}</tbody></table>
      ${errors.media ? html`<div class="error" role="alert">${errors.media}</div>` : null}
      ${errors.requireMedia ? html`<div class="error" role="alert" id=${`${id}-media-error`}>${errors.requireMedia}</div>` : null}
      <div class="hint">Requiring a protection refuses calls this phone would make or take without it (never plain RTP when SDES is required).</div>
    </fieldset>
    <fieldset><legend>Calls</legend>
      <div class="grid">
        <${Field} id=${`${id}-fwd-always`} label="Forward always to" error=${errors.forwardAlways}><input id=${`${id}-fwd-always`} type="text" value=${v.forwardAlways} onInput=${set('forwardAlways')} placeholder="none" /></${Field}>
        <${Field} id=${`${id}-fwd-busy`} label="Forward when busy to" error=${errors.forwardBusy}><input id=${`${id}-fwd-busy`} type="text" value=${v.forwardBusy} onInput=${set('forwardBusy')} placeholder="none" /></${Field}>
        <${Field} id=${`${id}-fwd-noanswer`} label="Forward on no answer to" error=${errors.forwardNoAnswer}><input id=${`${id}-fwd-noanswer`} type="text" value=${v.forwardNoAnswer} onInput=${set('forwardNoAnswer')} placeholder="none" /></${Field}>
        <${Field} id=${`${id}-noanswer-sec`} label="after (seconds)" error=${errors.noAnswerSec}><input id=${`${id}-noanswer-sec`} type="text" inputmode="numeric" value=${v.noAnswerSec} onInput=${set('noAnswerSec')} /></${Field}>
      </div>
      <div class="field check"><input id=${`${id}-dnd`} type="checkbox" checked=${v.dnd} onChange=${flag('dnd')} /> <label for=${`${id}-dnd`}>Do not disturb (callers hear busy, or go to the forward on busy)</label></div>
      <div class="field check"><input id=${`${id}-cw`} type="checkbox" checked=${v.callWaiting} onChange=${flag('callWaiting')} /> <label for=${`${id}-cw`}>Call waiting (off: a second call gets busy)</label></div>
      <div class="field check"><input id=${`${id}-vm`} type="checkbox" checked=${v.voicemail} onChange=${flag('voicemail')} /> <label for=${`${id}-vm`}>Voicemail for unanswered calls</label></div>
      <${Field} id=${`${id}-vm-pin`} label=${a.voicemail?.pin ? 'New mailbox PIN (empty: keep it)' : 'Mailbox PIN (none yet: the mailbox cannot be opened until one is set)'} error=${errors.voicemailPin}><input id=${`${id}-vm-pin`} type="password" inputmode="numeric" autocomplete="off" value=${v.voicemailPin} onInput=${set('voicemailPin')} /></${Field}>
    </fieldset>
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
    <table id="extensions"><thead><tr><th>Extension</th><th>Name</th><th>Status</th><th>Policy</th><th>TLS</th><th>Media</th><th>Calls</th><th class="actions">Actions</th></tr></thead>
    <tbody>${accounts.map((a) => editing === a.extension
      ? html`<${EditRow} acct=${a} policies=${policies} onDone=${(changed: boolean) => { setEditing(null); if (changed) void act(async () => {}); }} />`
      : html`<tr data-extension=${a.extension}><td>${a.extension}</td><td>${a.name}</td><td class="status"><${Presence} extension=${a.extension} status=${status} /></td>
        <td>${a.policy}${a.record ? html`<div class="hint">records ${a.record}</div>` : null}</td>
        <td>${a.tlsOnly ? 'TLS only' : 'any transport'}<div class="hint">${a.tlsMode === 'mutual' ? 'phone certificate required' : a.tlsMode === 'server' ? 'phone checks the box' : 'encryption only'}</div></td>
        <td class="media"><${MediaSummary} acct=${a} /></td><td class="features"><${CallSettings} acct=${a} /></td>
        <td class="actions"><div class="row"><button class="plain" onClick=${() => setEditing(a.extension)}>Edit</button>
          <button class="plain" onClick=${() => reset(a.extension)}>Reset password</button>
          <button class="danger" onClick=${() => remove(a.extension)}>Remove</button></div></td></tr>`)}</tbody></table>`}
  </section>
  <section class="card"><h2>Add an extension</h2>
    <${AddForm} policies=${policies} onAdded=${(acct: AddedAccount) => { if (acct.password) setShown({ extension: acct.extension, password: acct.password }); void load(); }} />
  </section>`;
}
