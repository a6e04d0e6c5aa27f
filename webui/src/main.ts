import { render, type TargetedEvent } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, fieldErrors, setCsrfToken, whenLoggedOut } from './api.js';
import { Certificates } from './certificates.js';
import { Dashboard } from './dashboard.js';
import { Extensions } from './extensions.js';
import { History } from './history.js';
import { html, type Html } from './html.js';
import { Policies } from './policies.js';
import { Backup } from './backup.js';
import { Security } from './security.js';
import { Trunks } from './trunks.js';
import { Logs } from './logs.js';
import { Recordings } from './recordings.js';
import { Phones } from './phones.js';
import { System } from './system.js';
import type { SessionToken, SetupState } from './types.js';
import { Field, FormError } from './ui.js';

/** The admin page: first-run setup, login, then the pages behind a hash route. */

type InputChange = TargetedEvent<HTMLInputElement>;

const PAGES: Record<string, { title: string; view: () => Html }> = {
  dashboard: { title: 'Dashboard', view: Dashboard },
  extensions: { title: 'Extensions', view: Extensions },
  policies: { title: 'Policies', view: Policies },
  trunks: { title: 'Trunks', view: Trunks },
  certificates: { title: 'Certificates', view: Certificates },
  history: { title: 'Call history', view: History },
  recordings: { title: 'Recordings', view: Recordings },
  phones: { title: 'Phones', view: Phones },
  logs: { title: 'Log', view: Logs },
  security: { title: 'Security', view: Security },
  backup: { title: 'Backup', view: Backup },
  system: { title: 'System', view: System },
};
const MIN_ADMIN_PASSWORD = 8;

function pageFromHash(): string {
  const p = location.hash.replace(/^#\/?/, '');
  return PAGES[p] ? p : 'dashboard';
}

function Setup(props: { onDone: () => void }): Html {
  const [v, setV] = useState({ setupCode: '', password: '', confirm: '' });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const set = (k: keyof typeof v) => (ev: InputChange) => setV({ ...v, [k]: ev.currentTarget.value });
  const submit = async (ev: Event) => {
    ev.preventDefault();
    const e: Record<string, string> = {};
    if (!v.setupCode.trim()) e.setupCode = 'Enter the setup code shown on the console.';
    if (v.password.length < MIN_ADMIN_PASSWORD) e.password = `At least ${MIN_ADMIN_PASSWORD} characters.`;
    else if (v.password !== v.confirm) e.confirm = 'The two passwords differ.';
    setErrors(e);
    if (Object.keys(e).length) return;
    try {
      const r = await api<SessionToken>('POST', '/setup', { setupCode: v.setupCode, password: v.password });
      setCsrfToken(r.csrfToken);
      props.onDone();
    } catch (err) { setErrors(fieldErrors(err)); }
  };
  return html`<main class="login"><section class="card"><h2>Welcome: set the admin password</h2>
    <p class="hint">This box has no default password. Type the one-time setup code printed on its console (or by <code>npm start</code>), then choose the admin password.</p>
    <form id="setup" onSubmit=${submit} novalidate>
      <${FormError} errors=${errors} />
      <${Field} id="setup-code" label="Setup code" error=${errors.setupCode}><input id="setup-code" type="text" autocomplete="off" value=${v.setupCode} onInput=${set('setupCode')} /></${Field}>
      <${Field} id="setup-password" label="New admin password" error=${errors.password}><input id="setup-password" type="password" autocomplete="new-password" value=${v.password} onInput=${set('password')} /></${Field}>
      <${Field} id="setup-confirm" label="Repeat the password" error=${errors.confirm}><input id="setup-confirm" type="password" autocomplete="new-password" value=${v.confirm} onInput=${set('confirm')} /></${Field}>
      <button type="submit">Set password</button>
    </form></section></main>`;
}

function Login(props: { onDone: () => void }): Html {
  const [password, setPassword] = useState('');
  const [errors, setErrors] = useState<Record<string, string>>({});
  const submit = async (ev: Event) => {
    ev.preventDefault();
    if (!password) { setErrors({ password: 'Enter the admin password.' }); return; }
    try {
      const r = await api<SessionToken>('POST', '/login', { password });
      setCsrfToken(r.csrfToken);
      props.onDone();
    } catch (err) { setErrors(fieldErrors(err)); }
  };
  return html`<main class="login"><section class="card"><h2>SecurePBX admin</h2>
    <form id="login" onSubmit=${submit} novalidate>
      <${FormError} errors=${errors} />
      <${Field} id="login-password" label="Admin password" error=${errors.password}><input id="login-password" type="password" autocomplete="current-password" value=${password} onInput=${(e: InputChange) => setPassword(e.currentTarget.value)} /></${Field}>
      <button type="submit">Log in</button>
    </form></section></main>`;
}

function Shell(props: { onLogout: () => void }): Html {
  const [page, setPage] = useState(pageFromHash());
  useEffect(() => {
    const on = () => setPage(pageFromHash());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  const logout = async () => {
    try { await api('POST', '/logout'); } finally { props.onLogout(); }
  };
  const View = PAGES[page]!.view;
  document.title = `${PAGES[page]!.title} · SecurePBX`;
  return html`<header><h1>SecurePBX</h1>
    <nav>${Object.entries(PAGES).map(([k, p]) => html`<a href=${`#${k}`} class=${k === page ? 'active' : ''}>${p.title}</a>`)}</nav>
    <button class="plain" id="logout" onClick=${logout}>Log out</button></header>
    <main><${View} key=${page} /></main>`;
}

function App(): Html {
  const [state, setState] = useState<'loading' | 'setup' | 'login' | 'in'>('loading');
  const check = async () => {
    const s = await api<SetupState>('GET', '/setup');
    if (s.needsSetup) { setState('setup'); return; }
    if (!s.loggedIn) { setState('login'); return; }
    const sess = await api<SessionToken>('GET', '/session');
    setCsrfToken(sess.csrfToken);
    setState('in');
  };
  useEffect(() => {
    whenLoggedOut(() => setState('login'));
    check().catch(() => setState('login'));
  }, []);
  if (state === 'loading') return html`<p class="boot">Loading…</p>`;
  if (state === 'setup') return html`<${Setup} onDone=${() => setState('in')} />`;
  if (state === 'login') return html`<${Login} onDone=${() => setState('in')} />`;
  return html`<${Shell} onLogout=${() => setState('login')} />`;
}

render(html`<${App} />`, document.getElementById('app')!);
