import type { TargetedEvent } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, apiUpload, errorMessage, fieldErrors } from './api.js';
import { html, type Html } from './html.js';
import type { FirmwareInstalled, FirmwarePhase, FirmwareResult, FirmwareStatus } from './types.js';
import { Field, FormError, when } from './ui.js';

/**
 * Firmware: the running version and the last update's outcome, and
 * uploading a signed bundle (.pbxfw) with a progress bar. The box verifies
 * the bundle before it writes anything, installs it into the other slot and
 * restarts into it; this page then follows the update by its ticket (the
 * restart ends the session) until the new firmware is committed or rolled
 * back.
 */

type InputChange = TargetedEvent<HTMLInputElement>;
const POLL_MS = 1000;
/** How long the page follows an update before it gives up asking. */
const FOLLOW_MS = 3 * 60 * 1000;
const FINAL: ReadonlySet<FirmwarePhase> = new Set(['committed', 'rolled-back', 'installed', 'superseded']);

const PHASE_TEXT: Record<FirmwarePhase, string> = {
  installed: 'Installed',
  switching: 'Switching to the new firmware…',
  committed: 'Updated',
  'rolled-back': 'Rolled back',
  superseded: 'Superseded',
};

const mib = (n: number): string => `${(n / 1048576).toFixed(n < 10 * 1048576 ? 1 : 0)} MiB`;

function Current(props: { status: FirmwareStatus | null; error: string }): Html {
  const s = props.status;
  if (!s) return html`<section class="card" id="firmware-current"><h2>Firmware</h2><p class="boot">${props.error || 'Loading…'}</p></section>`;
  return html`<section class="card" id="firmware-current"><h2>Firmware</h2>
    <table><tbody>
      <tr><th>Running</th><td id="firmware-running">${s.running}${s.committed ? html` <span class="pill">slot ${s.committed}</span>` : null}</td></tr>
      ${s.trial ? html`<tr><th>On trial</th><td>${s.trial.version} in slot ${s.trial.slot}</td></tr>` : null}
      ${s.last ? html`<tr><th>Last update</th><td id="firmware-last">${s.last.version}: <span class=${s.last.outcome === 'committed' ? 'ok' : 'warn'}>${s.last.outcome === 'committed' ? 'committed' : 'rolled back'}</span> (${s.last.reason}), ${when(s.last.at)}</td></tr>` : null}
    </tbody></table>
    ${s.available ? null : html`<div class="notice bad" id="firmware-unavailable" role="status">${s.reason}</div>`}
  </section>`;
}

function Verdict(props: { installed: FirmwareInstalled; result: FirmwareResult | null; waiting: string }): Html {
  const { installed, result } = props;
  const phase = result?.phase ?? installed.phase;
  const cls = phase === 'committed' ? 'notice good' : phase === 'rolled-back' || phase === 'superseded' ? 'notice bad' : 'notice';
  return html`<div class=${cls} id="firmware-verdict" role="status" data-phase=${phase}>
    <p><strong id="firmware-phase">${PHASE_TEXT[phase]}</strong>: ${installed.version} (from ${installed.from}) in slot ${installed.slot}.</p>
    <p>Verified ${installed.files} files, ${mib(installed.bytes)}, signed by key <code>${installed.signer.slice(0, 16)}</code>.</p>
    ${result ? html`<p id="firmware-reason">${result.reason.charAt(0).toUpperCase()}${result.reason.slice(1)}.</p>` : null}
    ${props.waiting ? html`<p class="hint">${props.waiting}</p>` : null}
    ${phase === 'committed' || phase === 'rolled-back' ? html`<p>The box restarted: log in again.</p>` : null}
  </div>`;
}

function Upload(props: { status: FirmwareStatus | null; onFinal: () => void }): Html {
  const [file, setFile] = useState<File | null>(null);
  const [force, setForce] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [sent, setSent] = useState<number | null>(null);
  const [installed, setInstalled] = useState<FirmwareInstalled | null>(null);
  const [result, setResult] = useState<FirmwareResult | null>(null);
  const [waiting, setWaiting] = useState('');
  const available = props.status?.available === true;

  // Follow the update by its ticket until it is final; while the box restarts the requests fail, and that is expected.
  useEffect(() => {
    if (!installed || FINAL.has(installed.phase)) return;
    let stopped = false;
    const until = Date.now() + FOLLOW_MS;
    const poll = async (): Promise<void> => {
      if (stopped) return;
      try {
        const res = await fetch(`/api/firmware/result/${encodeURIComponent(installed.ticket)}`, { cache: 'no-store', credentials: 'same-origin' });
        if (res.ok) {
          const r = (await res.json()) as FirmwareResult;
          setResult(r);
          setWaiting('');
          // The running version changed (or went back): read it again, not the one from before the update.
          if (FINAL.has(r.phase)) { props.onFinal(); return; }
        }
      } catch {
        setWaiting('The box is restarting into the new firmware…');
      }
      if (Date.now() > until) { setWaiting('No verdict yet: look at this page again in a minute.'); return; }
      setTimeout(() => void poll(), POLL_MS);
    };
    void poll();
    return () => { stopped = true; };
  }, [installed]);

  const submit = async (ev: Event) => {
    ev.preventDefault();
    const max = props.status?.maxBytes ?? Infinity;
    const e: Record<string, string> = {};
    if (!file) e.file = 'Choose a firmware bundle (.pbxfw).';
    else if (file.size > max) e.file = `The file is ${mib(file.size)}; the box takes at most ${mib(max)}.`;
    setErrors(e);
    if (Object.keys(e).length || !file) return;
    setSent(0);
    setResult(null);
    try {
      setInstalled(await apiUpload<FirmwareInstalled>(`/firmware${force ? '?force=1' : ''}`, file, setSent));
    } catch (err) {
      setSent(null);
      setErrors(fieldErrors(err));
    }
  };

  const pct = sent === null ? 0 : Math.round(sent * 100);
  const busy = sent !== null && !installed;
  return html`<section class="card" id="firmware-upload"><h2>Update the firmware</h2>
    <p class="hint">Upload a firmware bundle signed by the vendor. The box checks the signature and every file before it writes anything, installs it beside the running firmware and restarts into it (calls in progress end). If the new firmware does not start, answer SIP and serve this page within a minute, the box goes back to the current one on its own. Configuration and data are kept either way.</p>
    <form id="firmware-form" onSubmit=${submit} novalidate>
      <${FormError} errors=${errors} />
      <${Field} id="firmware-file" label="Firmware bundle" error=${errors.file}><input id="firmware-file" type="file" accept=".pbxfw" disabled=${!available || busy} onChange=${(ev: InputChange) => { setFile(ev.currentTarget.files?.[0] ?? null); setInstalled(null); setSent(null); setErrors({}); }} /></${Field}>
      <div class="field check"><input id="firmware-force" type="checkbox" checked=${force} disabled=${!available || busy} onChange=${(ev: InputChange) => setForce(ev.currentTarget.checked)} /> <label for="firmware-force">Install an older version</label>
        ${errors.force ? html`<div class="error" id="firmware-force-error" role="alert">${errors.force}</div>` : null}</div>
      <button type="submit" id="firmware-submit" disabled=${!available || busy}>${busy ? 'Uploading…' : 'Upload and install'}</button>
    </form>
    ${sent !== null ? html`<div class="progress" id="firmware-progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=${pct}>
      <div class="bar"><div class=${`fill${pct === 100 ? ' done' : ''}`} style=${{ width: `${pct}%` }}></div></div>
      <span id="firmware-percent">${pct} %</span><span class="hint">${pct < 100 ? 'uploading' : installed ? 'verified and installed' : 'verifying…'}</span></div>` : null}
    ${installed ? html`<${Verdict} installed=${installed} result=${result} waiting=${waiting} />` : null}
  </section>`;
}

export function Firmware(): Html {
  const [status, setStatus] = useState<FirmwareStatus | null>(null);
  const [error, setError] = useState('');
  const load = (): void => { api<FirmwareStatus>('GET', '/firmware').then(setStatus).catch((e: unknown) => setError(errorMessage(e))); };
  useEffect(load, []);
  return html`<${Current} status=${status} error=${error} /><${Upload} status=${status} onFinal=${load} />`;
}
