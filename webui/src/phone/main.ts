import { Inviter, Invitation, Registerer, RegistererState, SessionState, UserAgent, type Session, Web } from 'sip.js';
import type { CallView, LegView } from '../../../firmware/api/index.js';
import { describeLeg } from '../../../firmware/admin/explain.js';
import { dominantTone } from './tone.js';

/**
 * The browser phone at /phone (issue 10). Its user logs in with the
 * extension's own SIP password (POST /phone/api/login checks it and gives a
 * phone session that sees only this extension's calls); the page then
 * registers over SIP over secure WebSocket (RFC 7118, /sip on this origin)
 * with SIP.js, and makes and answers audio calls whose media is DTLS-SRTP.
 * It shows how each leg of the call is protected (from the box), what this
 * browser negotiated (from WebRTC stats), the tone it hears (WebAudio), and
 * sends RFC 4733 telephone-events from the dial pad.
 */

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`missing #${id}`);
  return e as T;
};
const text = (id: string, s: string): void => { $(id).textContent = s; };
const show = (id: string, on: boolean): void => { $(id).hidden = !on; };

const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '0', '#'];
const POLL_MS = 1000;
const TONE_EVERY_MS = 250;

interface LoginReply { readonly extension?: string; readonly sipPath?: string; readonly error?: string }

let ua: UserAgent | undefined;
let registerer: Registerer | undefined;
let session: Session | undefined;
let extension = '';
let pollTimer: number | undefined;
let toneTimer: number | undefined;
let audioCtx: AudioContext | undefined;
const dtmfSent: string[] = [];

function setCallState(s: string): void { text('call-state', s); document.body.dataset.call = s.toLowerCase(); }

function buttonsFor(state: 'idle' | 'ringing-in' | 'calling' | 'in-call'): void {
  show('call', state === 'idle');
  show('answer', state === 'ringing-in');
  show('hangup', state !== 'idle');
}

async function login(ev: Event): Promise<void> {
  ev.preventDefault();
  text('login-error', '');
  const ext = $<HTMLInputElement>('login-extension').value.trim();
  const password = $<HTMLInputElement>('login-password').value;
  let reply: LoginReply;
  let status: number;
  try {
    const r = await fetch('/phone/api/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ extension: ext, password }) });
    status = r.status;
    reply = await r.json() as LoginReply;
  } catch (e) {
    text('login-error', `cannot reach the box: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  if (status !== 200 || reply.extension === undefined) {
    text('login-error', reply.error ?? `login failed (${status})`);
    return;
  }
  extension = reply.extension;
  show('login-card', false);
  show('phone-ui', true);
  show('logout', true);
  text('who', `extension ${extension}`);
  await startSip(password, reply.sipPath ?? '/sip');
}

async function startSip(password: string, path: string): Promise<void> {
  const uri = UserAgent.makeURI(`sip:${extension}@${location.hostname}`);
  if (uri === undefined) { text('reg-state', 'bad SIP address'); return; }
  ua = new UserAgent({
    uri,
    transportOptions: { server: `wss://${location.host}${path}` },
    authorizationUsername: extension,
    authorizationPassword: password,
    displayName: extension,
    logBuiltinEnabled: false,
    sessionDescriptionHandlerFactoryOptions: { peerConnectionConfiguration: { iceServers: [] }, iceGatheringTimeout: 500 },
    delegate: {
      onInvite: (invitation) => { incoming(invitation); },
      onDisconnect: (err) => { text('reg-state', err ? `disconnected: ${err.message}` : 'disconnected'); },
    },
  });
  try {
    await ua.start();
  } catch (e) {
    text('reg-state', `cannot connect to ${path}: ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  registerer = new Registerer(ua, { expires: 600 });
  registerer.stateChange.addListener((s) => {
    text('reg-state', s === RegistererState.Registered ? `Registered as ${extension} over WSS` : s === RegistererState.Unregistered ? 'Not registered' : s);
    document.body.dataset.registered = String(s === RegistererState.Registered);
  });
  text('reg-state', 'Registering…');
  await registerer.register({
    requestDelegate: { onReject: (res) => { text('reg-state', `registration refused: ${res.message.statusCode} ${res.message.reasonPhrase}`); } },
  });
}

const mediaOptions = { sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } } };

function watch(s: Session, direction: 'out' | 'in'): void {
  session = s;
  text('call-reason', '');
  s.stateChange.addListener((state) => {
    if (state === SessionState.Establishing) setCallState(direction === 'out' ? 'Calling' : 'Answering');
    if (state === SessionState.Established) {
      setCallState('Connected');
      buttonsFor('in-call');
      attachMedia(s);
    }
    if (state === SessionState.Terminated) {
      setCallState('Idle');
      buttonsFor('idle');
      stopMedia();
      session = undefined;
    }
  });
  s.delegate = {
    onBye: (bye) => {
      const reason = bye.request.getHeader('Reason');
      if (reason) text('call-reason', `ended by the box: ${reason}`);
    },
  };
  startPolling();
}

async function call(): Promise<void> {
  if (ua === undefined || session !== undefined) return;
  const number = $<HTMLInputElement>('dial-number').value.trim();
  const target = UserAgent.makeURI(`sip:${number}@${location.hostname}`);
  if (number === '' || target === undefined) { text('call-reason', 'type a number to call'); return; }
  const inviter = new Inviter(ua, target, mediaOptions);
  watch(inviter, 'out');
  buttonsFor('calling');
  setCallState('Calling');
  try {
    await inviter.invite({
      requestDelegate: {
        onReject: (res) => {
          const reason = res.message.getHeader('Reason');
          text('call-reason', `${res.message.statusCode} ${res.message.reasonPhrase}${reason ? ` (${reason})` : ''}`);
        },
      },
    });
  } catch (e) {
    text('call-reason', `call failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function incoming(inv: Invitation): void {
  if (session !== undefined) { void inv.reject({ statusCode: 486 }); return; }
  watch(inv, 'in');
  setCallState(`Ringing: ${inv.remoteIdentity.uri.user ?? 'unknown'}`);
  buttonsFor('ringing-in');
}

async function answer(): Promise<void> {
  if (session instanceof Invitation) await session.accept(mediaOptions);
}

async function hangup(): Promise<void> {
  const s = session;
  if (s === undefined) return;
  if (s instanceof Inviter && s.state !== SessionState.Established) await s.cancel();
  else if (s instanceof Invitation && s.state !== SessionState.Established) await s.reject();
  else await s.bye();
}

function sdhOf(s: Session): Web.SessionDescriptionHandler | undefined {
  const h = s.sessionDescriptionHandler;
  return h instanceof Web.SessionDescriptionHandler ? h : undefined;
}

/** RFC 4733: the tone goes as telephone-events in the RTP stream (RTCDTMFSender), not as SIP INFO. */
function dtmf(key: string): void {
  const s = session;
  const h = s === undefined ? undefined : sdhOf(s);
  const sender = h?.peerConnection?.getSenders().find((x) => x.track?.kind === 'audio');
  if (sender?.dtmf === undefined || sender.dtmf === null || !sender.dtmf.canInsertDTMF) {
    text('dtmf-sent', 'no call to send tones into (or the box took no telephone-event)');
    return;
  }
  sender.dtmf.insertDTMF(key, 120, 70);
  dtmfSent.push(key);
  text('dtmf-sent', `sent: ${dtmfSent.join('')}`);
}

function attachMedia(s: Session): void {
  const h = sdhOf(s);
  if (h === undefined) return;
  const stream = h.remoteMediaStream;
  const audio = $<HTMLAudioElement>('remote-audio');
  audio.srcObject = stream;
  void audio.play().catch(() => {});
  // WebAudio reads the same stream: the frequency and level the page shows.
  audioCtx ??= new AudioContext();
  void audioCtx.resume();
  const src = audioCtx.createMediaStreamSource(stream);
  const analyser = audioCtx.createAnalyser();
  analyser.fftSize = 8192;
  analyser.smoothingTimeConstant = 0.5;
  src.connect(analyser);
  const bins = new Float32Array(analyser.frequencyBinCount);
  const ctx = audioCtx;
  toneTimer = window.setInterval(() => {
    analyser.getFloatFrequencyData(bins);
    const r = dominantTone(bins, ctx.sampleRate, analyser.fftSize);
    text('rx-freq', r.frequency > 0 ? `${Math.round(r.frequency)} Hz` : 'silence');
    text('rx-level', Number.isFinite(r.levelDb) ? `${Math.round(r.levelDb)} dBFS` : '');
    $('rx-freq').dataset.hz = String(Math.round(r.frequency));
  }, TONE_EVERY_MS);
}

function stopMedia(): void {
  if (toneTimer !== undefined) window.clearInterval(toneTimer);
  toneTimer = undefined;
  $<HTMLAudioElement>('remote-audio').srcObject = null;
}

function legBox(leg: LegView, who: string): HTMLElement {
  const d = document.createElement('div');
  d.className = `leg ${leg.protection === 'rtp' ? 'plain' : 'secure'}`;
  d.dataset.protection = leg.protection;
  const what = document.createElement('span');
  what.className = 'what';
  what.textContent = `${who}: ${describeLeg(leg)}`;
  d.append(what);
  const more = document.createElement('span');
  more.className = 'suite';
  more.textContent = [leg.transport.toUpperCase(), leg.keys === 'end-to-end' ? 'keys end to end' : leg.keys === 'box' ? 'the box holds the keys' : '', leg.codec ?? ''].filter(Boolean).join(' · ');
  d.append(more);
  return d;
}

function renderLegs(calls: readonly CallView[]): void {
  const host = $('legs');
  host.replaceChildren();
  const c = calls[0];
  if (c === undefined) {
    const e = document.createElement('span');
    e.className = 'empty';
    e.textContent = 'No call';
    host.append(e);
    return;
  }
  const mine = c.caller === extension ? 'a' : 'b';
  host.append(legBox(c.legs.a, mine === 'a' ? 'this phone' : 'caller'));
  const box = document.createElement('div');
  box.className = 'box';
  box.textContent = c.mode === 'relay' ? 'box (relayed)' : 'box (bridged)';
  host.append(box);
  if (c.legs.b) host.append(legBox(c.legs.b, mine === 'b' ? 'this phone' : 'callee'));
}

async function browserLeg(): Promise<void> {
  const h = session === undefined ? undefined : sdhOf(session);
  const pc = h?.peerConnection;
  if (pc === undefined) { text('browser-leg', ''); return; }
  const stats = await pc.getStats();
  let line = '';
  stats.forEach((r: { type: string; dtlsState?: string; srtpCipher?: string; dtlsCipher?: string; tlsVersion?: string }) => {
    if (r.type === 'transport') {
      line = `this browser: DTLS ${r.dtlsState ?? '?'}${r.dtlsCipher ? ` (${r.dtlsCipher})` : ''}${r.srtpCipher ? `, SRTP ${r.srtpCipher}` : ''}`;
    }
  });
  text('browser-leg', line);
}

function startPolling(): void {
  if (pollTimer !== undefined) return;
  const tick = async (): Promise<void> => {
    try {
      const r = await fetch('/phone/api/calls', { cache: 'no-store' });
      if (r.ok) renderLegs(((await r.json()) as { calls: CallView[] }).calls);
      await browserLeg();
    } catch { /* the next tick tries again */ }
    if (session === undefined) {
      window.clearInterval(pollTimer);
      pollTimer = undefined;
      renderLegs([]);
      text('browser-leg', '');
    }
  };
  pollTimer = window.setInterval(() => { void tick(); }, POLL_MS);
}

async function logout(): Promise<void> {
  await hangup().catch(() => {});
  await registerer?.unregister().catch(() => {});
  await ua?.stop().catch(() => {});
  await fetch('/phone/api/logout', { method: 'POST' }).catch(() => {});
  location.reload();
}

function init(): void {
  $('login').addEventListener('submit', (e) => { void login(e); });
  $('call').addEventListener('click', () => { void call(); });
  $('answer').addEventListener('click', () => { void answer(); });
  $('hangup').addEventListener('click', () => { void hangup(); });
  $('logout').addEventListener('click', () => { void logout(); });
  $('dial-number').addEventListener('keydown', (e) => { if (e.key === 'Enter') void call(); });
  const pad = $('keypad');
  for (const k of KEYS) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = k;
    b.dataset.key = k;
    b.addEventListener('click', () => {
      if (session === undefined) $<HTMLInputElement>('dial-number').value += k;
      else dtmf(k);
    });
    pad.append(b);
  }
  buttonsFor('idle');
}

init();
