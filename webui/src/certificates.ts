import type { ComponentChildren, TargetedEvent } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, errorMessage } from './api.js';
import { html, type Html } from './html.js';
import type { CertInfo, CertsInfo, CustomCertUpload, Problem, RenewResult, RenewalRecord } from './types.js';
import { Field, FormError, daysLeft, when } from './ui.js';
import { CertTimeline } from './activity.js';

/** The CA and server certificate, CA download, renewal, custom upload and renewal history. */

function CertCard(props: { id: string; title: string; info: CertInfo; children?: ComponentChildren }): Html {
  const i = props.info;
  const left = daysLeft(i.notAfter);
  return html`<section class="card" id=${props.id}><h2>${props.title}</h2>
    <table><tbody>
      <tr><th>Subject</th><td>${i.subjectCn ?? '—'}</td></tr>
      <tr><th>Issuer</th><td>${i.issuerCn ?? '—'}</td></tr>
      ${i.sans.length ? html`<tr><th>Names (SAN)</th><td class="mono">${i.sans.map((s) => `${s.type.toUpperCase()}:${s.value}`).join(', ')}</td></tr>` : null}
      <tr><th>Valid from</th><td>${when(i.notBefore)}</td></tr>
      <tr><th>Expires</th><td data-expiry=${i.notAfter} class="expiry">${when(i.notAfter)} <span class=${left < 30 ? 'warn' : 'hint'}>(${left} days)</span></td></tr>
      <tr><th>Serial</th><td class="mono serial">${i.serial}</td></tr>
      <tr><th>SHA-256</th><td class="mono">${i.sha256}</td></tr>
      <tr><th>SHA-1</th><td class="mono">${i.sha1}</td></tr>
    </tbody></table>
    ${props.children}
  </section>`;
}

type UploadKey = keyof CustomCertUpload;

const FIELDS: readonly { readonly key: UploadKey; readonly label: string; readonly hint: string }[] = [
  { key: 'certPem', label: 'Certificate (PEM)', hint: 'The server certificate; intermediates may follow it.' },
  { key: 'chainPem', label: 'Chain (PEM, optional)', hint: 'Intermediate certificates, closest to the server certificate first.' },
  { key: 'keyPem', label: 'Private key (PEM, unencrypted)', hint: 'Sent once over this HTTPS connection and stored with mode 0600.' },
];

function Upload(props: { onInstalled: () => void }): Html {
  const [v, setV] = useState<Record<UploadKey, string>>({ certPem: '', chainPem: '', keyPem: '' });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [problems, setProblems] = useState<readonly Problem[]>([]);
  const [done, setDone] = useState(false);
  const readFile = (key: UploadKey) => async (ev: TargetedEvent<HTMLInputElement>) => {
    const f: File | undefined = ev.currentTarget.files?.[0];
    if (f) setV({ ...v, [key]: await f.text() });
  };
  const submit = async (ev: Event) => {
    ev.preventDefault();
    setDone(false);
    const local: Record<string, string> = {};
    if (!v.certPem.includes('BEGIN CERTIFICATE')) local.certPem = 'Paste or choose a PEM certificate.';
    if (!/BEGIN (RSA |EC )?PRIVATE KEY/.test(v.keyPem)) local.keyPem = 'Paste or choose the PEM private key.';
    setErrors(local);
    setProblems([]);
    if (Object.keys(local).length) return;
    try {
      const upload: CustomCertUpload = { certPem: v.certPem, keyPem: v.keyPem, ...(v.chainPem.trim() ? { chainPem: v.chainPem } : {}) };
      await api('POST', '/certs/custom', upload);
      setDone(true);
      props.onInstalled();
    } catch (e) {
      if (e instanceof ApiError) {
        setErrors({ [e.field ?? '']: e.message });
        setProblems(e.problems ?? []);
      } else setErrors({ '': String(e) });
    }
  };
  return html`<form id="upload-cert" onSubmit=${submit} novalidate>
    <${FormError} errors=${errors} />
    ${FIELDS.map((f) => html`<${Field} id=${`up-${f.key}`} label=${f.label} error=${errors[f.key]} hint=${f.hint}>
      <textarea id=${`up-${f.key}`} value=${v[f.key]} onInput=${(ev: TargetedEvent<HTMLTextAreaElement>) => setV({ ...v, [f.key]: ev.currentTarget.value })}></textarea>
      <input type="file" accept=".pem,.crt,.key,.cer" aria-label=${`${f.label} file`} onChange=${readFile(f.key)} />
    </${Field}>`)}
    ${problems.length > 1 ? html`<ul class="error" id="cert-problems">${problems.map((p) => html`<li>${p.message}</li>`)}</ul>` : null}
    ${done ? html`<div class="notice" role="status">Certificate installed; new connections use it now.</div>` : null}
    <button type="submit">Install certificate</button>
  </form>`;
}

export function Certificates(): Html {
  const [info, setInfo] = useState<CertsInfo | null>(null);
  const [history, setHistory] = useState<readonly RenewalRecord[]>([]);
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState('');
  const load = async () => {
    const [i, h] = await Promise.all([api<CertsInfo>('GET', '/certs'), api<RenewalRecord[]>('GET', '/certs/history')]);
    setInfo(i);
    setHistory(h);
  };
  useEffect(() => { load().catch((e: unknown) => setMsg(errorMessage(e))); }, []);
  const renew = async () => {
    setBusy(true);
    setMsg('');
    try {
      const r = await api<RenewResult>('POST', '/certs/renew');
      setMsg(`Renewed: the new certificate expires ${when(r.server.notAfter)}.`);
      await load();
    } catch (e) { setMsg(errorMessage(e)); } finally { setBusy(false); }
  };
  if (!info) return html`<p class="boot">${msg || 'Loading…'}</p>`;
  return html`
  <section class="card" id="cert-validity"><h2>Validity</h2>
    <${CertTimeline} certs=${[{ name: 'CA', info: info.ca }, { name: info.custom ? 'server (uploaded)' : 'server', info: info.server }]} /></section>
  <${CertCard} id="ca-cert" title="Certificate authority (phones and browsers trust this)" info=${info.ca}>
    <div class="row" style=${{ marginTop: '.6rem' }}>
      <a class="button" id="download-ca-pem" href="/ca.crt" download="pbx-ca.crt">Download CA (PEM)</a>
      <a class="button plain" id="download-ca-der" href="/ca.der" download="pbx-ca.der">Download CA (DER)</a>
    </div>
  </${CertCard}>
  <${CertCard} id="server-cert" title=${`Server certificate${info.custom ? ' (uploaded)' : ' (issued by the box)'}`} info=${info.server}>
    <div class="row" style=${{ marginTop: '.6rem' }}>
      <button id="renew" onClick=${renew} disabled=${busy}>${busy ? 'Renewing…' : 'Renew now'}</button>
      ${msg ? html`<span role="status" id="renew-status">${msg}</span>` : null}
    </div>
    <p class="hint">The box renews its own certificate 30 days before it expires; SIP over TLS and this page switch to it without dropping calls.</p>
  </${CertCard}>
  <section class="card"><h2>Upload a certificate</h2>
    <p class="hint">Use a certificate from your own CA instead. It must match its key, come with its full chain, be valid now and name this box.</p>
    <${Upload} onInstalled=${() => void load()} />
  </section>
  <section class="card"><h2>Renewal history</h2>
    ${history.length === 0 ? html`<p class="empty">No renewals yet.</p>` : html`
    <table id="cert-history"><thead><tr><th>When</th><th>Why</th><th>Old serial</th><th>New serial</th></tr></thead>
    <tbody>${history.map((h) => html`<tr><td>${when(h.at)}</td><td>${h.reason}</td><td class="mono">${h.oldSerial ?? '—'}</td><td class="mono">${h.newSerial}</td></tr>`)}</tbody></table>`}
  </section>`;
}
