import type { TargetedEvent } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, errorMessage, fieldErrors } from './api.js';
import { html, type Html } from './html.js';
import type { AccountView, DeviceCertIssued, DeviceCertView, PhoneView, ProvisionFetch, TlsModeOption } from './types.js';
import { Field, FormError, when } from './ui.js';

/**
 * Desk phones (issue 12): the phones that asked the box for a configuration
 * and those assigned by hand, the extension each belongs to, how its SIP
 * password reaches it, a short window in which a phone without its own
 * credentials may fetch its file; per extension the TLS mode; device
 * certificates the box issues and revokes. A MAC address alone never gets a password.
 */

type Change = TargetedEvent<HTMLInputElement | HTMLSelectElement>;
interface Fetches { dhcpOption: string | null; httpsBase: string | null; fetches: readonly ProvisionFetch[] }

const VENDORS = ['yealink', 'polycom', 'snom', 'grandstream', 'generic'] as const;
const MODES: ReadonlyArray<[string, string]> = [
  ['once', 'once'],
  ['always', 'always'],
  ['never', 'never'],
];
const TLS_MODES: ReadonlyArray<[TlsModeOption, string]> = [
  ['encrypt', 'encrypt only (phone does not check the box)'],
  ['server', 'server (phone checks the box)'],
  ['mutual', 'mutual (phone shows its certificate)'],
];
const MAC = /^([0-9A-Fa-f]{2}[:-]?){5}[0-9A-Fa-f]{2}$/;
const AUTH: Record<string, string> = { certificate: 'device certificate', digest: 'fetch password', window: 'open window', none: 'none' };

const macText = (m: string): string => m.match(/../g)?.join(':') ?? m;

function Assign(props: { accounts: readonly AccountView[]; onDone: () => void; mac?: string }): Html {
  const [v, setV] = useState({ mac: props.mac ?? '', extension: props.accounts[0]?.extension ?? '', vendor: 'yealink', passwordMode: 'once' });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const set = (k: keyof typeof v) => (e: Change) => setV({ ...v, [k]: e.currentTarget.value });
  const submit = async (ev: Event): Promise<void> => {
    ev.preventDefault();
    if (!MAC.test(v.mac.trim())) { setErrors({ mac: 'A MAC address is 12 hex digits, e.g. 00:15:65:aa:bb:cc.' }); return; }
    try {
      await api('POST', '/phones', { ...v, mac: v.mac.trim() });
      setErrors({});
      setV({ ...v, mac: '' });
      props.onDone();
    } catch (e) { setErrors(fieldErrors(e)); }
  };
  return html`<form id="assign-phone" onSubmit=${submit} novalidate>
    <${FormError} errors=${errors} />
    <div class="grid">
      <${Field} id="phone-mac" label="MAC address" error=${errors.mac} hint="On the phone's label or its status screen.">
        <input id="phone-mac" type="text" value=${v.mac} onInput=${set('mac')} autocomplete="off" placeholder="00:15:65:aa:bb:cc" /></${Field}>
      <${Field} id="phone-ext" label="Extension" error=${errors.extension}>
        <select id="phone-ext" value=${v.extension} onChange=${set('extension')}>${props.accounts.map((a) => html`<option value=${a.extension}>${a.extension}${a.name ? ` (${a.name})` : ''}</option>`)}</select></${Field}>
      <${Field} id="phone-vendor" label="Make" error=${errors.vendor}>
        <select id="phone-vendor" value=${v.vendor} onChange=${set('vendor')}>${VENDORS.map((x) => html`<option value=${x}>${x}</option>`)}</select></${Field}>
      <${Field} id="phone-mode" label="SIP password in the file" error=${errors.passwordMode}>
        <select id="phone-mode" value=${v.passwordMode} onChange=${set('passwordMode')}>${MODES.map(([k, t]) => html`<option value=${k}>${t}</option>`)}</select></${Field}>
    </div>
    <p class="hint">Once: only the phone's first authenticated fetch carries the SIP password. Always: every authenticated fetch does. Never: you type it into the phone. Once or always: the box gives the extension a new SIP password for the phone to receive (it keeps only hashes of the old one).</p>
    <button type="submit">Assign phone</button>
  </form>`;
}

function PhoneList(props: { phones: readonly PhoneView[]; act: (fn: () => Promise<unknown>, done?: string) => void }): Html {
  const [preview, setPreview] = useState<{ mac: string; file: string; body: string } | null>(null);
  const { act } = props;
  return html`${props.phones.length === 0 ? html`<p class="empty">No phone yet: assign one below, or let a phone ask (plug-and-play or DHCP option 66).</p>` : html`
    <table id="phones"><thead><tr><th>MAC</th><th>Extension</th><th>Phone</th><th>Password</th><th>Last fetch</th><th>Window</th><th class="actions">Actions</th></tr></thead>
    <tbody>${props.phones.map((p) => {
      const open = p.windowUntil !== null && Date.parse(p.windowUntil) > Date.now();
      return html`<tr data-mac=${p.mac}>
        <td class="mono nowrap">${macText(p.mac)}</td><td>${p.extension ?? html`<span class="warn">not assigned</span>`}</td>
        <td>${p.vendor ?? ''}${p.model ? ` ${p.model}` : ''}${p.firmware ? html`<div class="hint">firmware ${p.firmware}</div>` : ''}</td>
        <td>${p.passwordMode ?? '—'}${p.passwordMode === 'once' ? html`<div class="hint">${p.passwordServed ? 'fetched already' : 'not fetched yet'}</div>` : ''}</td>
        <td>${p.lastFetch ? html`${when(p.lastFetch)}<div class="hint mono">${p.lastSource ?? ''}</div>` : 'never'}</td>
        <td>${open ? html`<span class="ok">open until ${new Date(p.windowUntil!).toLocaleTimeString()}</span>` : 'closed'}</td>
        <td class="actions"><div class="row">
          ${p.extension ? html`<button class="plain window" onClick=${() => act(() => api('POST', `/phones/${p.mac}/window`, { minutes: open ? 0 : 10 }), open ? `Window for ${macText(p.mac)} closed.` : `For 10 minutes ${macText(p.mac)} may fetch its file without other credentials.`)}>${open ? 'Close window' : 'Open window (10 min)'}</button>` : null}
          ${p.passwordMode === 'once' && p.passwordServed ? html`<button class="plain" onClick=${() => act(() => api('POST', `/phones/${p.mac}/reset-once`), `${macText(p.mac)} gets its password with its next authenticated fetch.`)}>Send password again</button>` : null}
          ${p.extension ? html`<button class="plain" onClick=${() => act(async () => setPreview({ mac: p.mac, ...await api<{ file: string; body: string }>('GET', `/phones/${p.mac}/preview`) }))}>Show file</button>` : null}
          <button class="danger" onClick=${() => { if (confirm(`Forget phone ${macText(p.mac)}?`)) act(() => api('DELETE', `/phones/${p.mac}`)); }}>Remove</button>
        </div></td></tr>`;
    })}</tbody></table>`}
    ${preview ? html`<div class="preview" id="phone-preview"><div class="row"><strong>${preview.file}</strong> for ${macText(preview.mac)} (password masked)
      <button class="plain" onClick=${() => setPreview(null)}>Close</button></div><pre>${preview.body}</pre></div>` : null}`;
}

function TlsModes(props: { accounts: readonly AccountView[]; act: (fn: () => Promise<unknown>, done?: string) => void }): Html {
  return html`<table id="tls-modes"><thead><tr><th>Extension</th><th>TLS mode</th></tr></thead>
    <tbody>${props.accounts.map((a) => html`<tr data-extension=${a.extension}><td>${a.extension}${a.name ? ` (${a.name})` : ''}</td>
      <td><select id=${`tls-${a.extension}`} aria-label=${`TLS mode of ${a.extension}`} value=${a.tlsMode}
        onChange=${(e: Change) => { const m = e.currentTarget.value; props.act(() => api('PUT', `/accounts/${encodeURIComponent(a.extension)}/tls-mode`, { tlsMode: m }), `${a.extension}: TLS mode ${m}.`); }}>
        ${TLS_MODES.map(([k, t]) => html`<option value=${k}>${t}</option>`)}</select></td></tr>`)}</tbody></table>
    <p class="hint">Mutual: a stolen SIP password alone registers nothing; the phone also needs the certificate issued below for its extension. Server: give the phone the box's CA (Certificates page).</p>`;
}

function DeviceCerts(props: { accounts: readonly AccountView[]; certs: readonly DeviceCertView[]; act: (fn: () => Promise<unknown>, done?: string) => void }): Html {
  const [ext, setExt] = useState(props.accounts[0]?.extension ?? '');
  const [issued, setIssued] = useState<{ href: string; name: string; passphrase: string; extension: string } | null>(null);
  useEffect(() => () => { if (issued) URL.revokeObjectURL(issued.href); }, [issued]);
  const issue = (): void => props.act(async () => {
    const r = await api<DeviceCertIssued>('POST', '/certs/devices', { extension: ext });
    const bytes = Uint8Array.from(atob(r.p12Base64), (ch) => ch.charCodeAt(0));
    setIssued({ href: URL.createObjectURL(new Blob([bytes], { type: 'application/x-pkcs12' })), name: `${r.extension}-${r.serial.slice(0, 8)}.p12`, passphrase: r.passphrase, extension: r.extension });
  });
  return html`
    ${issued ? html`<div class="notice" id="issued-cert" role="status"><div class="row">Certificate for <strong>${issued.extension}</strong>:
      <a class="button plain" href=${issued.href} download=${issued.name}>Download ${issued.name}</a>
      passphrase <span class="secret" id="p12-passphrase">${issued.passphrase}</span></div>
      <div class="hint">Shown once: import the file into the phone or softphone with this passphrase. The box does not keep the passphrase.</div>
      <button class="plain" onClick=${() => setIssued(null)}>Done</button></div>` : null}
    <div class="row"><label for="cert-ext">Extension</label>
      <select id="cert-ext" value=${ext} onChange=${(e: Change) => setExt(e.currentTarget.value)}>${props.accounts.map((a) => html`<option value=${a.extension}>${a.extension}</option>`)}</select>
      <button id="issue-cert" onClick=${issue} disabled=${!ext}>Issue device certificate</button></div>
    ${props.certs.length === 0 ? html`<p class="empty">No device certificate issued.</p>` : html`
    <table id="device-certs"><thead><tr><th>Serial</th><th>Extension</th><th>Issued</th><th>Valid until</th><th>State</th><th class="actions">Actions</th></tr></thead>
    <tbody>${props.certs.map((c) => html`<tr data-serial=${c.serial}><td class="mono">${c.serial.slice(0, 16)}</td><td>${c.extension}</td><td>${when(c.issuedAt)}</td><td>${when(c.notAfter)}</td>
      <td>${c.revokedAt ? html`<span class="warn">revoked ${when(c.revokedAt)}</span>` : html`<span class="ok">valid</span>`}</td>
      <td class="actions">${c.revokedAt ? null : html`<button class="danger revoke" onClick=${() => { if (confirm(`Revoke the certificate of ${c.extension}? Its phone's connection closes at once.`)) props.act(() => api('DELETE', `/certs/devices/${c.serial}`), `Revoked the certificate of ${c.extension}.`); }}>Revoke</button>`}</td></tr>`)}</tbody></table>`}`;
}

export function Phones(): Html {
  const [data, setData] = useState<{ phones: readonly PhoneView[]; accounts: readonly AccountView[]; certs: readonly DeviceCertView[]; fetches: Fetches } | null>(null);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const load = async (): Promise<void> => {
    const [phones, accounts, certs, fetches] = await Promise.all([
      api<PhoneView[]>('GET', '/phones'), api<AccountView[]>('GET', '/accounts'), api<DeviceCertView[]>('GET', '/certs/devices'), api<Fetches>('GET', '/phones/fetches'),
    ]);
    setData({ phones, accounts, certs, fetches });
  };
  useEffect(() => { load().catch((e: unknown) => setError(errorMessage(e))); }, []);
  const act = (fn: () => Promise<unknown>, done?: string): void => {
    setError('');
    setNotice('');
    fn().then(() => { if (done) setNotice(done); return load(); }).catch((e: unknown) => setError(errorMessage(e)));
  };
  if (!data) return html`<p class="boot">${error || 'Loading…'}</p>`;
  const f = data.fetches;
  return html`
  ${notice ? html`<div class="notice" role="status" id="phones-done">${notice}</div>` : null}
  ${error ? html`<div class="notice bad" role="alert">${error}</div>` : null}
  <section class="card" id="phones-card"><h2>Desk phones</h2>
    ${f.dhcpOption ? html`<p class="hint">Phones find the box by plug-and-play on the LAN, or set DHCP option 66 on the office router to <code id="dhcp-option">${f.dhcpOption}</code>.</p>` : null}
    <${PhoneList} phones=${data.phones} act=${act} />
  </section>
  <section class="card"><h2>Assign a phone</h2>
    ${data.accounts.length === 0 ? html`<p class="empty">Add an extension first.</p>` : html`<${Assign} accounts=${data.accounts} onDone=${() => act(async () => {}, 'Phone assigned.')} />`}
  </section>
  <section class="card" id="tls-card"><h2>TLS mode per extension</h2><${TlsModes} accounts=${data.accounts} act=${act} /></section>
  <section class="card" id="certs-card"><h2>Device certificates</h2><${DeviceCerts} accounts=${data.accounts} certs=${data.certs} act=${act} /></section>
  <section class="card" id="fetches"><h2>Recent provisioning fetches</h2>
    ${f.fetches.length === 0 ? html`<p class="empty">No phone has fetched a file yet.</p>` : html`
    <table><thead><tr><th>When</th><th>MAC</th><th>From</th><th>File</th><th>Authenticated by</th><th>Answer</th></tr></thead>
    <tbody>${f.fetches.slice(0, 50).map((x) => html`<tr><td>${when(x.at)}</td><td class="mono">${x.mac ? macText(x.mac) : '?'}</td><td class="mono">${x.source}</td>
      <td class="mono">${x.file}${x.secure ? '' : ' (plain HTTP)'}</td><td>${AUTH[x.auth] ?? x.auth}</td>
      <td>${x.status}${x.withPassword ? ' · with password' : ''}</td></tr>`)}</tbody></table>`}
  </section>`;
}
