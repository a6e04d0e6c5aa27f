import type { TargetedEvent } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, apiDownload, errorMessage, fieldErrors, toBase64 } from './api.js';
import { html, type Html } from './html.js';
import { Field, FormError } from './ui.js';

/**
 * Backup and restore: the whole configuration, certificates and keys as one
 * file encrypted with a passphrase the admin picks (scrypt + AES-256-GCM),
 * and restoring such a file, which the box checks fully before it changes
 * anything. The passphrases are cleared from the page once used.
 */

type InputChange = TargetedEvent<HTMLInputElement>;
const MIN_PASSPHRASE = 8;

interface Restored { created: string; accounts: number; policies: number; caSha256: string; serverSha256: string; keptAside: string }
interface AutoList { automatic: Array<{ file: string; bytes: number }>; folder: string; passphraseFile: string; keep: number }

function TakeBackup(): Html {
  const [v, setV] = useState({ passphrase: '', confirm: '' });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [done, setDone] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    const e: Record<string, string> = {};
    if ([...v.passphrase].length < MIN_PASSPHRASE) e.passphrase = `At least ${MIN_PASSPHRASE} characters. You need it to restore: keep it somewhere safe.`;
    else if (v.passphrase !== v.confirm) e.confirm = 'The two passphrases differ.';
    setErrors(e);
    setDone('');
    if (Object.keys(e).length) return;
    setBusy(true);
    try {
      const blob = await apiDownload('/backup', { passphrase: v.passphrase });
      const name = `securepbx-${new Date().toISOString().slice(0, 10)}.pbxbackup`;
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
      setV({ passphrase: '', confirm: '' });
      setDone(`Downloaded ${name} (${Math.ceil(blob.size / 1024)} KiB). The passphrase was cleared from this page.`);
    } catch (err) { setErrors(fieldErrors(err)); } finally { setBusy(false); }
  };
  const set = (k: keyof typeof v) => (ev: InputChange) => setV({ ...v, [k]: ev.currentTarget.value });
  return html`<section class="card" id="take-backup"><h2>Download a backup</h2>
    <p class="hint">One file with the extensions, policies, admin password, the box's CA and server certificates and their private keys, and the music on hold, encrypted with the passphrase you choose here (scrypt + AES-256-GCM). Without the passphrase nobody can read it, not even you.</p>
    <form id="backup-form" onSubmit=${submit} novalidate>
      <${FormError} errors=${errors} />
      <${Field} id="backup-passphrase" label="Passphrase" error=${errors.passphrase}><input id="backup-passphrase" type="password" autocomplete="new-password" value=${v.passphrase} onInput=${set('passphrase')} /></${Field}>
      <${Field} id="backup-confirm" label="Repeat the passphrase" error=${errors.confirm}><input id="backup-confirm" type="password" autocomplete="new-password" value=${v.confirm} onInput=${set('confirm')} /></${Field}>
      <button type="submit" disabled=${busy}>${busy ? 'Encrypting…' : 'Download backup'}</button>
    </form>
    ${done ? html`<div class="notice" id="backup-done" role="status">${done}</div>` : null}
  </section>`;
}

function Restore(): Html {
  const [file, setFile] = useState<File | null>(null);
  const [passphrase, setPassphrase] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [result, setResult] = useState<Restored | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    const e: Record<string, string> = {};
    if (!file) e.file = 'Choose a backup file (.pbxbackup).';
    if (!passphrase) e.passphrase = 'The passphrase given when the backup was made.';
    setErrors(e);
    if (Object.keys(e).length || !file) return;
    setBusy(true);
    try {
      const r = await api<Restored>('POST', '/restore', { file: toBase64(await file.arrayBuffer()), passphrase });
      setPassphrase('');
      setResult(r);
      // The box restarts its services with the restored data; this session ends with them.
      setTimeout(() => location.reload(), 4000);
    } catch (err) {
      setPassphrase('');
      setErrors(fieldErrors(err));
    } finally { setBusy(false); }
  };
  if (result) {
    return html`<section class="card" id="restore"><h2>Restore a backup</h2>
      <div class="notice" id="restore-done" role="status">
        <p><strong>Restored the backup of ${new Date(result.created).toLocaleString()}</strong>: ${result.accounts} extension${result.accounts === 1 ? '' : 's'}, ${result.policies} polic${result.policies === 1 ? 'y' : 'ies'}.</p>
        <p>CA certificate SHA-256 <code id="restore-ca">${result.caSha256}</code></p>
        <p>The replaced files are kept in <code>${result.keptAside}</code>.</p>
        <p>The box is restarting its services with the restored data. Log in again with the admin password <em>of the backup</em>.</p>
      </div></section>`;
  }
  return html`<section class="card" id="restore"><h2>Restore a backup</h2>
    <p class="hint">The box checks the passphrase, the file's version, the configuration and the certificates before it changes anything. Then it replaces its configuration, certificates and keys with the backup's (the current files are kept aside) and restarts its services: calls in progress end, phones re-register.</p>
    <form id="restore-form" onSubmit=${submit} novalidate>
      <${FormError} errors=${errors} />
      <${Field} id="restore-file" label="Backup file" error=${errors.file}><input id="restore-file" type="file" accept=".pbxbackup" onChange=${(ev: InputChange) => setFile(ev.currentTarget.files?.[0] ?? null)} /></${Field}>
      <${Field} id="restore-passphrase" label="Passphrase" error=${errors.passphrase}><input id="restore-passphrase" type="password" autocomplete="off" value=${passphrase} onInput=${(ev: InputChange) => setPassphrase(ev.currentTarget.value)} /></${Field}>
      <button type="submit" class="danger" disabled=${busy}>${busy ? 'Checking…' : 'Restore'}</button>
    </form>
  </section>`;
}

function Automatic(): Html {
  const [list, setList] = useState<AutoList | null>(null);
  const [error, setError] = useState('');
  useEffect(() => { api<AutoList>('GET', '/backups').then(setList).catch((e: unknown) => setError(errorMessage(e))); }, []);
  return html`<section class="card" id="auto-backups"><h2>Automatic backups</h2>
    ${!list ? html`<p class="boot">${error || 'Loading…'}</p>` : html`
    <p class="hint">Every night at 03:00 the box writes a backup to <code>${list.folder}</code> and keeps the newest ${list.keep}. They are for undoing a mistake on this box; they live on the same disk, so download one above to keep a copy elsewhere. Their passphrase is in <code>${list.passphraseFile}</code> (readable only by the box): <code>pbx restore FILE --passphrase "$(cat ${list.passphraseFile})"</code>.</p>
    ${list.automatic.length === 0 ? html`<p class="empty">None yet: the first one is written tonight.</p>` : html`
    <table><thead><tr><th>File</th><th>Size</th></tr></thead>
    <tbody>${list.automatic.map((b) => html`<tr><td class="mono">${b.file}</td><td>${Math.ceil(b.bytes / 1024)} KiB</td></tr>`)}</tbody></table>`}`}
  </section>`;
}

export function Backup(): Html {
  return html`<${TakeBackup} /><${Restore} /><${Automatic} />`;
}
