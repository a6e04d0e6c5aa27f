import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import WebSocket from 'ws';
import { addAccount } from '../../firmware/config/index.js';
import { cryptoRandom, silentLogger } from '../../firmware/core/index.js';
import { startAppliance } from '../../firmware/main.js';
import { authBlocks, digestAuthorization } from '../../firmware/sip/digest/index.js';
import { getCSeq, getHeader, parseMessage, type SipMessage, type SipResponse } from '../../firmware/sip/message/index.js';
import { CallUa, sdp } from './call-ua.js';

/*
 * SIP over secure WebSocket (RFC 7118) on the admin HTTPS server, against
 * the whole appliance in-process: the upgrade needs the "sip" subprotocol and
 * this origin; REGISTER is digest-authenticated and throttled as over TLS;
 * the binding is bound to the WebSocket and an INVITE for the extension comes
 * down that same socket (flow reuse: the box cannot connect to a browser); a
 * renewed certificate is what a new WebSocket sees; the phone page's login
 * takes the extension's SIP password and never the admin's.
 */

const root = mkdtempSync(join(tmpdir(), 'pbx-wss-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const app = await startAppliance({ dataDir: join(root, 'box'), bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, print: () => {}, log: silentLogger });
t.teardown(() => app.stop());
await app.store.update((d) => addAccount(d, { extension: '200', password: 'secret-200-web' }));
await app.store.update((d) => addAccount(d, { extension: '201', password: 'secret-201-desk' }));
// Voicemail (on by default) off: the refusals here must reach the caller as they are.
await app.store.update((d) => { for (const a of d.accounts) a.voicemail = { enabled: false, pinHash: null }; });
const ca = readFileSync(app.info.caPath);
const web = app.info.ports.web;
const url = `wss://127.0.0.1:${web}/sip`;

/** A browser-like SIP WebSocket client: one SIP message per WebSocket message. */
class WsUa {
  readonly messages: SipMessage[] = [];
  readonly callId = `${cryptoRandom.token(72)}@wss-test`;
  private cseq = 0;
  private readonly tag = cryptoRandom.token(48);
  readonly host = `${cryptoRandom.token(40).toLowerCase().replace(/[^a-z0-9]/g, 'x')}.invalid`;
  private constructor(readonly ws: WebSocket, readonly user: string) {
    ws.on('message', (data: Buffer) => {
      const p = parseMessage(Buffer.from(data));
      if (p.ok) this.messages.push(p.message);
    });
  }

  static open(user: string, headers: Record<string, string> = {}, protocol: string | undefined = 'sip'): Promise<WsUa> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocol === undefined ? [] : [protocol], { ca, headers });
      ws.once('open', () => resolve(new WsUa(ws, user)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  send(text: string): void { this.ws.send(text); }

  async waitFor(pred: (m: SipMessage) => boolean, ms = 5000): Promise<SipMessage> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.messages.findIndex(pred);
      if (i >= 0) return this.messages.splice(i, 1)[0]!;
      if (Date.now() > end) throw new Error('timed out waiting for a SIP message');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async request(method: string, extra: string[] = []): Promise<SipResponse> {
    const seq = ++this.cseq;
    this.send([
      `${method} sip:127.0.0.1 SIP/2.0`,
      `Via: SIP/2.0/WSS ${this.host};branch=z9hG4bK${cryptoRandom.token(64)}`,
      'Max-Forwards: 70',
      `From: <sip:${this.user}@127.0.0.1>;tag=${this.tag}`,
      `To: <sip:${this.user}@127.0.0.1>`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${seq} ${method}`,
      ...extra,
      'Content-Length: 0', '', '',
    ].join('\r\n'));
    return await this.waitFor((m) => m.kind === 'response' && m.status >= 200 && getCSeq(m).seq === seq) as SipResponse;
  }

  async register(password: string): Promise<SipResponse> {
    const contact = `Contact: <sip:${this.user}@${this.host};transport=ws>;expires=600`;
    const first = await this.request('REGISTER', [contact]);
    if (first.status !== 401) return first;
    const authorization = digestAuthorization({
      challenge: getHeader(first, 'www-authenticate') ?? '', method: 'REGISTER', uri: 'sip:127.0.0.1', username: this.user, password,
    });
    return this.request('REGISTER', [contact, `Authorization: ${authorization}`]);
  }

  close(): void { this.ws.terminate(); }
}

/** A small HTTPS client trusting the box's CA (fetch takes no CA). */
interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string }
function https(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: web, path, method, ca, headers, checkServerIdentity: () => undefined }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const uas: WsUa[] = [];
t.teardown(() => { for (const u of uas) u.close(); });

t.test('RFC 7118 4.1: an upgrade without the sip subprotocol, on another path or from another site is refused', async (t) => {
  await t.rejects(WsUa.open('200', {}, 'chat'), /HTTP 400/, 'no "sip" subprotocol: 400');
  await t.rejects(WsUa.open('200', { origin: 'https://evil.example' }), /HTTP 403/, 'a foreign Origin: 403');
  await t.rejects(new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${web}/api/sip`, ['sip'], { ca });
    ws.once('open', resolve);
    ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  }), /HTTP 404/, 'another path: 404');
  const counters = app.admin.counters.snapshot();
  t.ok((counters['admin.ws.no-sip-protocol'] ?? 0) >= 1 && (counters['admin.ws.origin'] ?? 0) >= 1 && (counters['admin.ws.path'] ?? 0) >= 1, 'each refusal counted');
});

t.test('REGISTER over WSS: digest challenge, then a binding with transport wss; the same origin is accepted', async (t) => {
  const u = await WsUa.open('200', { origin: `https://127.0.0.1:${web}` });
  uas.push(u);
  const tlsSocket = (u.ws as unknown as { _socket: TLSSocket })._socket;
  t.ok(tlsSocket.getProtocol()?.startsWith('TLSv1.'), 'the WebSocket runs inside TLS');
  t.equal(u.ws.protocol, 'sip', 'the server chose the sip subprotocol');
  const bad = await u.register('wrong password');
  t.equal(bad.status, 403, 'a wrong password: 403, as over TLS');
  const ok = await u.register('secret-200-web');
  t.equal(ok.status, 200, 'the right password: 200');
  const reg = app.status().registrations?.find((r) => r.extension === '200');
  t.equal(reg?.transport, 'wss', 'the binding is listed as wss');
  t.match(reg?.contact, /\.invalid;transport=ws/, 'the browser\'s unreachable contact is kept as given');
  t.equal(reg?.reachable, true, 'reachable through its WebSocket');
});

t.test('flow reuse: an INVITE for the WSS extension comes down the WebSocket it registered on', async (t) => {
  const u = uas[0]!;
  const desk = await CallUa.open({ boxPort: app.info.ports.sipTls, transport: 'tls', user: '201', password: 'secret-201-desk' });
  t.teardown(() => desk.close());
  t.equal((await desk.register()).status, 200, 'desk phone registered over TLS');
  const out = await desk.call('200', { sdp: sdp({ port: 40_000, profile: 'RTP/SAVP', extraMedia: [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${Buffer.alloc(30, 7).toString('base64')}`] }) });
  const inv = await u.waitFor((m) => m.kind === 'request' && m.method === 'INVITE');
  t.equal(inv.kind === 'request' ? inv.uri : '', `sip:200@${u.host};transport=ws`, 'the INVITE names the browser\'s contact');
  t.match(getHeader(inv, 'via'), /^SIP\/2\.0\/WSS /, 'its top Via says WSS');
  t.match(getHeader(inv, 'contact'), new RegExp(`:${web};transport=ws>`), 'the box\'s Contact is its WebSocket (admin) port, transport=ws');
  // Decline, so the call ends cleanly.
  const h = (n: string): string => getHeader(inv, n) ?? '';
  u.send([
    'SIP/2.0 486 Busy Here', ...((inv.headers.filter((x) => x.name.toLowerCase() === 'via')).map((v) => `Via: ${v.value}`)),
    `From: ${h('from')}`, `To: ${h('to')};tag=wsbusy`, `Call-ID: ${h('call-id')}`, `CSeq: ${h('cseq')}`, 'Content-Length: 0', '', '',
  ].join('\r\n'));
  await u.waitFor((m) => m.kind === 'request' && m.method === 'ACK');
  t.pass('the box acknowledged the browser\'s 486 over the WebSocket');
  t.equal((await out.final()).status, 486, 'and the desk phone hears busy');
});

t.test('the phone page login takes the extension\'s SIP password, not the admin\'s, and is throttled with SIP', async (t) => {
  const post = (body: object, origin = `https://127.0.0.1:${web}`): Promise<Reply> =>
    https('POST', '/phone/api/login', { 'content-type': 'application/json', origin }, JSON.stringify(body));
  const ok = await post({ extension: '200', password: 'secret-200-web' });
  t.equal(ok.status, 200, 'the extension\'s own password logs in');
  const cookie = String(ok.headers['set-cookie'] ?? '');
  t.match(cookie, /pbx_phone=/, 'a phone session cookie');
  t.match(cookie, /HttpOnly/i, 'HttpOnly');
  t.match(cookie, /Secure/i, 'Secure');
  const session = { cookie: cookie.split(';')[0]! };
  const calls = await https('GET', '/phone/api/calls', session);
  t.equal(calls.status, 200, 'the session lists its calls');
  t.equal((JSON.parse(calls.body) as { extension: string }).extension, '200', 'for its own extension');
  t.equal((await https('GET', '/phone/api/calls')).status, 401, 'no session: 401');
  t.equal((await post({ extension: '200', password: 'nope' })).status, 401, 'a wrong password: 401');
  t.equal((await post({ extension: '999', password: 'secret-200-web' })).status, 401, 'an unknown extension: the same 401');
  t.equal((await post({ extension: '200', password: 'secret-200-web' }, 'https://evil.example')).status, 403, 'another site: 403');
  t.equal((await https('GET', '/api/status', session)).status, 401, 'a phone session is no admin session');
  const page = await https('GET', '/phone');
  t.equal(page.status, 200, 'the page is served at /phone');
  t.match(String(page.headers['permissions-policy']), /microphone=\(self\)/, 'the phone page may use the microphone');
  t.match(String((await https('GET', '/')).headers['permissions-policy']), /microphone=\(\)/, 'the admin page may not');
});

t.test('a renewed certificate is what the next WebSocket sees (the HTTPS server\'s hot swap)', async (t) => {
  const before = (await WsUa.open('200')).ws;
  const certOf = (ws: WebSocket): string => new X509Certificate((ws as unknown as { _socket: TLSSocket })._socket.getPeerX509Certificate()!.raw).serialNumber;
  const s1 = certOf(before);
  before.terminate();
  await app.renewer.renewNow();
  const after = (await WsUa.open('200')).ws;
  const s2 = certOf(after);
  after.terminate();
  t.not(s2, s1, 'a new serial after renewal');
  t.equal(s2.toLowerCase(), app.pki.serverInfo.serial.toLowerCase().replace(/^0+/, '').padStart(s2.length, '0'), 'the renewed certificate');
});

t.test('wrong phone-page passwords count in the SIP digest throttle: the address is then refused on the page and over SIP', async (t) => {
  const post = (password: string): Promise<Reply> =>
    https('POST', '/phone/api/login', { 'content-type': 'application/json', origin: `https://127.0.0.1:${web}` }, JSON.stringify({ extension: '200', password }));
  let status = 0;
  for (let i = 0; i < 50 && status !== 429; i++) status = (await post(`guess ${i}`)).status;
  t.equal(status, 429, 'the page answers 429 once the address is blocked');
  t.ok(app.throttle.isBlocked('127.0.0.1'), 'the block is the SIP digest throttle\'s');
  t.equal((await post('secret-200-web')).status, 429, 'even the right password waits');
  const u = await WsUa.open('200');
  t.teardown(() => u.close());
  const r = await u.register('secret-200-web');
  t.not(r.status, 200, `a REGISTER over WSS from the blocked address is refused (${r.status})`);
  // The admin's unblock (pbx block remove) lifts the address block and the account's guessing lockout together.
  t.ok(authBlocks(app.throttle, app.guesses!).unblock('127.0.0.1'), 'unblocked');
  t.equal((await post('secret-200-web')).status, 200, 'after unblocking, the right password logs in');
});
