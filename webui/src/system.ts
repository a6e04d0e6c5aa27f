import type { TargetedEvent } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, errorMessage, fieldErrors, setCsrfToken, toBase64 } from './api.js';
import { html, type Html } from './html.js';
import type { HoldMusicInfo, HoldMusicReset, HoldMusicSet, SessionToken, StatusReport, SystemSettings, SystemSettingsSaved } from './types.js';
import { Field, FormError } from './ui.js';

/**
 * System settings (issue 16): the box's host name (the operating system's),
 * the SIP domain, the time the phones are given (time zone, NTP server),
 * the ports and the RTP range, each saying when a change applies; and the
 * admin password; the music on hold. The box checks every value and says which one is wrong.
 */

type InputEvent = TargetedEvent<HTMLInputElement>;
type Form = Record<'realm' | 'timeZone' | 'ntpServer' | 'sipPort' | 'tlsPort' | 'webPort' | 'httpPort' | 'rtpMin' | 'rtpMax', string>;

const formOf = (s: SystemSettings): Form => ({
  realm: s.realm, timeZone: s.timeZone, ntpServer: s.ntpServer,
  sipPort: String(s.sipPort), tlsPort: String(s.tlsPort), webPort: String(s.webPort), httpPort: String(s.httpPort),
  rtpMin: String(s.rtpMin), rtpMax: String(s.rtpMax),
});

function PasswordForm(): Html {
  const [v, setV] = useState({ current: '', password: '', confirm: '' });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [done, setDone] = useState(false);
  const set = (k: keyof typeof v) => (ev: InputEvent) => setV({ ...v, [k]: ev.currentTarget.value });
  const submit = async (ev: Event): Promise<void> => {
    ev.preventDefault();
    setDone(false);
    const e: Record<string, string> = {};
    if (!v.current) e.current = 'Enter the current password.';
    if (v.password.length < 8) e.password = 'At least 8 characters.';
    else if (v.password !== v.confirm) e.confirm = 'The two passwords differ.';
    setErrors(e);
    if (Object.keys(e).length) return;
    try {
      const r = await api<SessionToken>('POST', '/admin/password', { current: v.current, password: v.password });
      // The box ended every session and opened a new one for this page.
      setCsrfToken(r.csrfToken);
      setV({ current: '', password: '', confirm: '' });
      setDone(true);
    } catch (err) { setErrors(fieldErrors(err)); }
  };
  return html`<form id="admin-password" onSubmit=${submit} novalidate>
    <${FormError} errors=${errors} />
    ${done ? html`<div class="notice" role="status" id="password-changed">Password changed. Every other admin session was logged out.</div>` : null}
    <div class="grid">
      <${Field} id="pw-current" label="Current password" error=${errors.current}><input id="pw-current" type="password" autocomplete="current-password" value=${v.current} onInput=${set('current')} /></${Field}>
      <${Field} id="pw-new" label="New password" error=${errors.password}><input id="pw-new" type="password" autocomplete="new-password" value=${v.password} onInput=${set('password')} /></${Field}>
      <${Field} id="pw-confirm" label="Repeat the new password" error=${errors.confirm}><input id="pw-confirm" type="password" autocomplete="new-password" value=${v.confirm} onInput=${set('confirm')} /></${Field}>
    </div>
    <button type="submit">Change password</button>
  </form>`;
}

/** Music on hold (issue 8): what plays now, and a WAV to upload; the box converts it once to G.711 and says why a file will not do. */
function HoldMusic(): Html {
  const [info, setInfo] = useState<HoldMusicInfo | null>(null);
  const [file, setFile] = useState<File | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [done, setDone] = useState<HoldMusicSet | null>(null);
  const [busy, setBusy] = useState(false);
  const [reverted, setReverted] = useState(false);
  const load = (): void => { api<HoldMusicInfo>('GET', '/moh').then(setInfo).catch((e: unknown) => setErrors({ '': errorMessage(e) })); };
  useEffect(load, []);
  const submit = async (ev: Event): Promise<void> => {
    ev.preventDefault();
    setDone(null);
    setReverted(false);
    if (!file) { setErrors({ file: 'Choose a WAV file.' }); return; }
    setErrors({});
    setBusy(true);
    try {
      setDone(await api<HoldMusicSet>('POST', '/moh', { file: toBase64(await file.arrayBuffer()) }));
      load();
    } catch (err) {
      setErrors(fieldErrors(err));
    } finally { setBusy(false); }
  };
  const reset = async (): Promise<void> => {
    setDone(null);
    setErrors({});
    setBusy(true);
    try {
      await api<HoldMusicReset>('DELETE', '/moh');
      setReverted(true);
      load();
    } catch (err) {
      setErrors(fieldErrors(err));
    } finally { setBusy(false); }
  };
  const now = info === null ? 'Loading…'
    : info.playing === 'uploaded' ? `The uploaded music (${info.seconds ?? 0} s, looped).`
      : 'The box\'s built-in tune (no upload stored).';
  return html`<section class="card" id="moh"><h2>Music on hold</h2>
    <p>Playing to a held caller now: <strong id="moh-now">${now}</strong></p>
    <p class="hint">Heard when a phone puts a call on hold, on a parked call and while a hold rings back. The box encrypts it with the held phone's own keys. On a fully private call (encrypted end to end, keys only in the phones) the box cannot add audio: the hold passes through to the other phone and the box plays nothing.</p>
    <form id="moh-form" onSubmit=${submit} novalidate>
      <${FormError} errors=${errors} />
      ${done ? html`<div class="notice" role="status" id="moh-done">Saved: ${done.seconds.toFixed(1)} s from a ${done.source.sampleRate} Hz ${done.source.channels === 1 ? 'mono' : `${done.source.channels}-channel`} WAV${done.cut ? ' (cut to the first 10 minutes)' : ''}. It plays from the next hold on.</div>` : null}
      <${Field} id="moh-file" label="WAV file" error=${errors.file} hint="Any WAV of at least 1 s (PCM, A-law or u-law; mono or stereo); it is converted once to 8 kHz for the phones.">
        <input id="moh-file" type="file" accept=".wav,audio/wav" onChange=${(ev: InputEvent) => { setFile(ev.currentTarget.files?.[0] ?? null); setDone(null); setReverted(false); setErrors({}); }} /></${Field}>
      ${reverted ? html`<div class="notice" role="status" id="moh-reverted">The uploaded music was removed: the built-in tune plays from the next hold on.</div>` : null}
      <div class="row"><button type="submit" disabled=${busy}>${busy ? 'Working…' : 'Upload'}</button>
        ${info?.playing === 'uploaded' ? html`<button type="button" id="moh-reset" class="plain" disabled=${busy} onClick=${() => { void reset(); }}>Use the built-in tune</button>` : null}</div>
    </form>
  </section>`;
}

export function System(): Html {
  const [settings, setSettings] = useState<SystemSettings | null>(null);
  const [running, setRunning] = useState<Record<string, number>>({});
  const [v, setV] = useState<Form | null>(null);
  const [realmConfirm, setRealmConfirm] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [saved, setSaved] = useState<SystemSettingsSaved | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    api<SystemSettings>('GET', '/system').then((s) => { setSettings(s); setV(formOf(s)); }).catch((e: unknown) => setError(errorMessage(e)));
    api<StatusReport>('GET', '/status').then((s) => setRunning(s.ports ? { ...s.ports } : {})).catch(() => {});
  }, []);
  if (!settings || !v) return html`<p class="boot">${error || 'Loading…'}</p>`;
  const set = (k: keyof Form) => (ev: InputEvent) => setV({ ...v, [k]: ev.currentTarget.value });
  const realmChanged = v.realm.trim() !== settings.realm;
  const submit = async (ev: Event): Promise<void> => {
    ev.preventDefault();
    setSaved(null);
    const e: Record<string, string> = {};
    for (const k of ['sipPort', 'tlsPort', 'webPort', 'httpPort', 'rtpMin', 'rtpMax'] as const) {
      if (!/^\d{1,5}$/.test(v[k]) || Number(v[k]) < 1 || Number(v[k]) > 65535) e[k] = 'A port: a whole number from 1 to 65535.';
    }
    if (realmChanged && !realmConfirm) e.realm = 'Tick the box below to confirm: every SIP password must be set again after this.';
    setErrors(e);
    if (Object.keys(e).length) return;
    try {
      const r = await api<SystemSettingsSaved>('PUT', '/system', {
        realm: v.realm, timeZone: v.timeZone, ntpServer: v.ntpServer, ...(realmChanged ? { realmConfirm: true } : {}),
        ...Object.fromEntries((['sipPort', 'tlsPort', 'webPort', 'httpPort', 'rtpMin', 'rtpMax'] as const).map((k) => [k, Number(v[k])])),
      });
      setSettings(r.settings);
      setV(formOf(r.settings));
      setRealmConfirm(false);
      setSaved(r);
    } catch (err) { setErrors(fieldErrors(err)); }
  };
  const inUse = (key: string, value: string): string | undefined => {
    const now = running[key];
    return now !== undefined && String(now) !== value ? `in use now: ${now} (until the restart)` : undefined;
  };
  const portField = (k: 'sipPort' | 'tlsPort' | 'webPort' | 'httpPort', label: string, live: string) =>
    html`<${Field} id=${`sys-${k}`} label=${label} error=${errors[k]} hint=${inUse(live, v[k]) ?? 'needs a restart'}>
      <input id=${`sys-${k}`} type="text" inputmode="numeric" value=${v[k]} onInput=${set(k)} /></${Field}>`;
  return html`
  <section class="card" id="system"><h2>System settings</h2>
    <form id="system-form" onSubmit=${submit} novalidate>
      <${FormError} errors=${errors} />
      ${saved ? html`<div class="notice" role="status" id="system-saved">Saved.
        ${saved.restartNeeded.length ? html` <strong class="warn" id="restart-needed">Restart needed</strong> for: ${saved.restartNeeded.join(', ')}. Until then the box keeps the ports it runs on.` : ' Everything applies now.'}
        ${saved.passwordsInvalid ? html` <strong class="warn">Set every extension's SIP password again</strong>: the old ones do not work in the new domain.` : null}</div>` : null}
      <h3>The box</h3>
      <div class="field"><label>Host name</label><div id="sys-hostname" class="mono">${settings.hostname}</div>
        <div class="hint">Set by the operating system (the board's network settings come with the image); its certificate names it.</div></div>
      <${Field} id="sys-realm" label="SIP domain" error=${errors.realm} hint="The domain phones register in (the digest realm). Applies at once.">
        <input id="sys-realm" type="text" value=${v.realm} onInput=${set('realm')} /></${Field}>
      ${realmChanged ? html`<div class="field check"><input id="sys-realm-confirm" type="checkbox" checked=${realmConfirm} onChange=${(e: InputEvent) => setRealmConfirm(e.currentTarget.checked)} />
        <label for="sys-realm-confirm">I know every SIP password stops working and must be set again (they are stored hashed with the domain)</label></div>` : null}
      <h3>Time for the phones</h3>
      <div class="grid">
        <${Field} id="sys-tz" label="Time zone" error=${errors.timeZone} hint="A name like Europe/London. Given to the phones from their next provisioning fetch.">
          <input id="sys-tz" type="text" value=${v.timeZone} onInput=${set('timeZone')} /></${Field}>
        <${Field} id="sys-ntp" label="NTP server" error=${errors.ntpServer} hint="The phones set their clocks from it; the same timing as the time zone.">
          <input id="sys-ntp" type="text" value=${v.ntpServer} onInput=${set('ntpServer')} /></${Field}>
      </div>
      <h3>Ports <span class="pill warn">restart needed</span></h3>
      <p class="hint">Read when the services start: a change here applies after the box restarts.</p>
      <div class="grid">
        ${portField('sipPort', 'SIP port (UDP and TCP)', 'sipUdp')}
        ${portField('tlsPort', 'SIP TLS port', 'sipTls')}
        ${portField('webPort', 'HTTPS port (this page)', 'web')}
        ${portField('httpPort', 'HTTP port (provisioning)', 'http')}
        <${Field} id="sys-rtpMin" label="RTP ports from" error=${errors.rtpMin} hint="needs a restart"><input id="sys-rtpMin" type="text" inputmode="numeric" value=${v.rtpMin} onInput=${set('rtpMin')} /></${Field}>
        <${Field} id="sys-rtpMax" label="RTP ports to" error=${errors.rtpMax} hint="Each call uses 2 to 4 ports."><input id="sys-rtpMax" type="text" inputmode="numeric" value=${v.rtpMax} onInput=${set('rtpMax')} /></${Field}>
      </div>
      <button type="submit">Save settings</button>
    </form>
  </section>
  <${HoldMusic} />
  <section class="card"><h2>Admin password</h2><${PasswordForm} /></section>`;
}
