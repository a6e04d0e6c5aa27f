import t from 'tap';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addAccount, CONFIG_FILE } from '../../firmware/config/index.js';
import { Counters, cryptoRandom, silentLogger, systemClock } from '../../firmware/core/index.js';
import {
  DtlsEndpoint, formatFingerprint, generateCertificate, parseFingerprint, type DtlsCertificate, type DtlsConnected, type Fingerprint,
} from '../../firmware/keying/index.js';
import { startAppliance, type Appliance } from '../../firmware/main.js';
import { buildIceCheck, classifyFirstByte } from '../../firmware/media/index.js';
import { SrtpSession } from '../../firmware/media/srtp/index.js';
import type { CallView } from '../../firmware/pbx/index.js';
import { attributeValues, parseSdp, type MediaDescription } from '../../firmware/sdp/index.js';
import { CallUa, RtpPeer, sdp, type UaDialog } from './call-ua.js';

/*
 * Issue 10: "a DTLS restart (a new offer with a new fingerprint) and an ICE
 * restart during a call keep the audio", through the whole appliance over
 * real sockets. No real client here can be made to send either re-INVITE
 * (baresip and linphonec have no command for it), so the DTLS phone is an
 * in-test one: SIP from CallUa, ICE checks as a full-ICE controlling agent
 * would send them, a real DTLS 1.2 handshake with its own certificate (our
 * DtlsEndpoint, cross-checked against OpenSSL in test/keying/dtls), and SRTP
 * with the exported keys. The box keys that leg (DTLS-SRTP, ICE-lite) and
 * bridges it to a plain RTP phone under a "decrypted" policy.
 *   - DTLS restart: the phone re-INVITEs with a new certificate's
 *     fingerprint and a=setup:actpass; the box starts a new handshake and,
 *     until it completes, keeps the old keys, so audio never stops; after it
 *     the audio is under the new keys only.
 *   - ICE restart: the phone re-INVITEs with new ice-ufrag/ice-pwd and moves
 *     to a new port; checks under the old credentials are ignored, the new
 *     ones move the media there; the DTLS association (and its keys) stays.
 */

const root = mkdtempSync(join(tmpdir(), 'pbx-dtls-restart-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const dataDir = join(root, 'box');
mkdirSync(dataDir, { recursive: true });
writeFileSync(join(dataDir, CONFIG_FILE), JSON.stringify({
  schemaVersion: 1,
  policies: [{ name: 'default' }, { name: 'decrypted', callerStream: 'decrypt', calleeStream: 'decrypted' }],
}));
const rtpBase = 45_000 + 2 * Math.floor(Math.random() * 5_000);
const app: Appliance = await startAppliance({
  dataDir, bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, rtpPorts: { min: rtpBase, max: rtpBase + 19 },
  print: () => {}, log: silentLogger,
});
t.teardown(() => app.stop());
const closers: Array<{ close(): Promise<void> }> = [];
t.teardown(async () => { for (const c of closers.reverse()) await c.close(); });
for (const ext of ['600', '601']) {
  await app.store.update((d) => addAccount(d, { extension: ext, password: `secret-${ext}`, policy: 'decrypted' }));
}
const counter = (name: string): number => app.counters.snapshot()[name] ?? 0;
const calls = (): CallView[] => app.status().calls as CallView[];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function audio(body: Buffer): MediaDescription {
  const m = parseSdp(body).media.find((x) => x.type === 'audio' && x.port !== 0);
  if (!m) throw new Error('no audio');
  return m;
}
const one = (m: MediaDescription, name: string): string => {
  const v = attributeValues(m.attributes, name)[0];
  if (v === undefined) throw new Error(`no a=${name}`);
  return v.trim();
};

/** What the box's answer says about its side of the leg. */
interface BoxSide { port: number; fingerprint: Fingerprint; setup: string; ufrag: string; pwd: string }
function boxSide(body: Buffer): BoxSide {
  const m = audio(body);
  const fingerprint = parseFingerprint(one(m, 'fingerprint'));
  if (!fingerprint) throw new Error('bad a=fingerprint');
  return { port: m.port, fingerprint, setup: one(m, 'setup'), ufrag: one(m, 'ice-ufrag'), pwd: one(m, 'ice-pwd') };
}

const newCert = (name: string): DtlsCertificate => generateCertificate({ random: cryptoRandom, now: Date.now(), commonName: name });
const iceToken = (n: number): string => cryptoRandom.token(n * 6).replace(/[^A-Za-z0-9+/]/g, 'x').slice(0, n);

/**
 * The DTLS phone's media: one UDP socket (RFC 7983 demultiplexing, rtcp-mux)
 * carrying ICE checks, DTLS and SRTP. It sends a 20 ms PCMU packet of `fill`
 * every 20 ms once it has keys, and keeps what it decrypts.
 */
class DtlsPhone {
  ep: DtlsEndpoint | undefined;
  connected: DtlsConnected | undefined;
  handshakes = 0;
  private tx: SrtpSession | undefined;
  private rx: SrtpSession | undefined;
  /** Keys of the association before the latest one: what the box may still send under during a restart. */
  private oldRx: SrtpSession | undefined;
  private seq = 100;
  private readonly ssrc = cryptoRandom.int(0x7fffffff);
  private timer: NodeJS.Timeout | undefined;
  /** Clear payload fills received, with the keys they opened under ('new' or 'old'). */
  readonly heard: Array<{ fill: number; under: 'new' | 'old'; at: number }> = [];
  iceAnswers = 0;
  fill = 0x11;
  box: BoxSide | undefined;
  readonly counters = new Counters();

  private constructor(public sock: dgram.Socket, public cert: DtlsCertificate, public ufrag: string, public pwd: string) {
    this.listen(sock);
  }

  static async open(): Promise<DtlsPhone> {
    const p = new DtlsPhone(await DtlsPhone.socket(), newCert('phone-1'), iceToken(8), iceToken(24));
    closers.push(p);
    return p;
  }

  static async socket(): Promise<dgram.Socket> {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1');
    await once(s, 'listening');
    return s;
  }

  get port(): number { return this.sock.address().port; }

  /** The SDP this phone offers: DTLS-SRTP actpass, ICE credentials, rtcp-mux. */
  offer(version: number): string {
    return sdp({
      port: this.port, profile: 'UDP/TLS/RTP/SAVPF', codecs: [[0, 'PCMU/8000']], version,
      extraMedia: [
        `a=fingerprint:${formatFingerprint(this.cert.fingerprint)}`, 'a=setup:actpass', 'a=rtcp-mux',
        `a=ice-ufrag:${this.ufrag}`, `a=ice-pwd:${this.pwd}`, `a=candidate:1 1 udp 2130706431 127.0.0.1 ${this.port} typ host`,
      ],
    });
  }

  private listen(sock: dgram.Socket): void {
    sock.on('message', (m, rinfo) => {
      const kind = classifyFirstByte(m[0] ?? 255);
      if (kind === 'stun') { if (m.readUInt16BE(0) === 0x0101) this.iceAnswers++; return; }
      if (kind === 'dtls') { this.ep?.receive(m, { address: rinfo.address, port: rinfo.port }); return; }
      if (kind !== 'rtp') return;
      for (const [s, under] of [[this.rx, 'new'], [this.oldRx, 'old']] as const) {
        if (!s) continue;
        const clear = s.unprotectRtp(Buffer.from(m));
        if (typeof clear !== 'string') {
          if (clear.length === 172 && clear.subarray(12).every((b) => b === clear[12])) this.heard.push({ fill: clear[12]!, under, at: Date.now() });
          return;
        }
      }
    });
  }

  /** Prove our address to the box's ICE-lite (USE-CANDIDATE: we are the controlling agent). */
  async check(): Promise<void> {
    const b = this.box!;
    const before = this.iceAnswers;
    for (let i = 0; i < 50 && this.iceAnswers === before; i++) {
      this.sock.send(buildIceCheck(cryptoRandom.bytes(12), `${b.ufrag}:${this.ufrag}`, b.pwd, { useCandidate: true }), b.port, '127.0.0.1');
      await sleep(40);
    }
    if (this.iceAnswers === before) throw new Error('the box never answered our ICE check');
  }

  /** A new DTLS endpoint for the association the latest answer agreed on. The box answered actpass with active: we are the server. */
  handshake(): Promise<DtlsConnected> {
    const b = this.box!;
    if (b.setup !== 'active') throw new Error(`box answered a=setup:${b.setup}`);
    this.ep?.close();
    return new Promise((resolve, reject) => {
      const ep = new DtlsEndpoint({
        role: 'server', certificate: this.cert, expectedFingerprint: b.fingerprint, clock: systemClock, random: cryptoRandom, counters: this.counters,
        send: (d, to) => this.sock.send(d, to?.port ?? b.port, to?.address ?? '127.0.0.1'),
        onConnected: (c) => {
          this.handshakes++;
          this.connected = c;
          this.oldRx = this.rx;
          this.rx = new SrtpSession(c.srtp.localRx);
          this.tx = new SrtpSession(c.srtp.localTx);
          resolve(c);
        },
        onFailed: (f) => reject(new Error(`DTLS failed: ${f.code} ${f.message}`)),
      });
      this.ep = ep;
      ep.start();
      setTimeout(() => reject(new Error(`no DTLS handshake within 10 s: phone ${JSON.stringify(this.counters.snapshot())}, box ${JSON.stringify(
        Object.fromEntries(Object.entries(app.counters.snapshot()).filter(([k]) => /dtls|ice/.test(k))))}`)), 10_000).unref();
    });
  }

  /** Start sending audio (under the keys in force at each packet). */
  talk(): void {
    this.timer ??= setInterval(() => {
      if (!this.tx || !this.box) return;
      const clear = Buffer.alloc(172, this.fill);
      clear[0] = 0x80; clear[1] = 0;
      clear.writeUInt16BE(this.seq = (this.seq + 1) & 0xffff, 2);
      clear.writeUInt32BE((this.seq * 160) >>> 0, 4);
      clear.writeUInt32BE(this.ssrc, 8);
      const w = this.tx.protectRtp(clear);
      if (typeof w !== 'string') this.sock.send(w, this.box.port, '127.0.0.1');
    }, 20);
  }

  /** Move to a new local port (an ICE restart with a new candidate); the old socket stops. */
  async move(): Promise<void> {
    const old = this.sock;
    this.sock = await DtlsPhone.socket();
    this.listen(this.sock);
    await new Promise<void>((r) => old.close(() => r()));
  }

  close(): Promise<void> {
    clearInterval(this.timer);
    this.ep?.close();
    return new Promise((r) => { try { this.sock.close(() => r()); } catch { r(); } });
  }
}

/** The plain phone: echoes nothing, sends its own fill every 20 ms to the box, remembers what it heard. */
class PlainPhone {
  private timer: NodeJS.Timeout | undefined;
  to: { address: string; port: number } | undefined;
  fill = 0x66;
  constructor(readonly peer: RtpPeer) {}
  talk(): void { this.timer ??= setInterval(() => { if (this.to) this.peer.send(this.to, Buffer.alloc(160, this.fill)); }, 20); }
  async close(): Promise<void> { clearInterval(this.timer); await this.peer.close(); }
}

const caller = await CallUa.open({ boxPort: app.info.ports.sipUdp, transport: 'udp', user: '600', password: 'secret-600' });
const callee = await CallUa.open({ boxPort: app.info.ports.sipUdp, transport: 'udp', user: '601', password: 'secret-601' });
closers.push(caller, callee);
if ((await callee.register()).status !== 200) throw new Error('601 did not register');

const phone = await DtlsPhone.open();
const plain = new PlainPhone(await RtpPeer.open());
closers.push(plain);
let dialog: UaDialog | undefined;
let calleeDialog: UaDialog | undefined;
let calleeVersion = 1;

/**
 * The DTLS phone re-INVITEs; should the box pass a re-INVITE on to the plain
 * phone (it may, to refresh that leg too), the plain phone answers it with its
 * same media. Returns the final response and whether the callee was asked.
 */
async function reinvite(body: string): Promise<{ res: Awaited<ReturnType<UaDialog['request']>>; calleeAsked: boolean }> {
  let calleeAsked = false;
  const answering = calleeDialog!.waitRequest('INVITE', 4_000).then((inc) => {
    calleeAsked = true;
    inc.respond(200, 'OK', { body: sdp({ port: plain.peer.port, codecs: [[0, 'PCMU/8000']], version: ++calleeVersion }), headers: [['Contact', `<${callee.contactUri}>`]] });
  }, () => undefined);
  const res = await dialog!.request('INVITE', { sdp: body, ms: 8_000 });
  if (res.status === 200) dialog!.ack(res);
  await Promise.race([answering, sleep(100)]);
  return { res, calleeAsked };
}

/** Both directions carry audio now: a fresh fill each way arrives (the DTLS phone decrypts the plain phone's, the plain phone hears the DTLS phone's in the clear). */
async function audioBothWays(tt: Pick<typeof t, 'ok' | 'comment'>, fillA: number, fillB: number, what: string): Promise<void> {
  phone.fill = fillA;
  plain.fill = fillB;
  const t0 = Date.now();
  const toPlain = await plain.peer.waitPayload(Buffer.alloc(160, fillA), 3_000).then(() => true, () => false);
  const end = Date.now() + 3_000;
  while (!phone.heard.some((h) => h.fill === fillB && h.at >= t0) && Date.now() < end) await sleep(20);
  tt.ok(toPlain, `${what}: the plain phone hears the DTLS phone (fill 0x${fillA.toString(16)}, decrypted by the box)`);
  tt.ok(phone.heard.some((h) => h.fill === fillB && h.at >= t0), `${what}: the DTLS phone decrypts the plain phone's audio (fill 0x${fillB.toString(16)})`);
}

/** The longest stretch with nothing heard by the DTLS phone between `from` and now, in ms. */
function longestGap(from: number): number {
  const at = phone.heard.filter((h) => h.at >= from).map((h) => h.at);
  let gap = 0;
  for (let i = 1; i < at.length; i++) gap = Math.max(gap, at[i]! - at[i - 1]!);
  return at.length === 0 ? Infinity : Math.max(gap, Date.now() - at[at.length - 1]!);
}

t.test('a DTLS-SRTP call with ICE: the box (ICE-lite, DTLS client) keys the leg, bridged to plain RTP', async (t) => {
  const out = await caller.call('601', { sdp: phone.offer(1) });
  const inc = await callee.waitInvite();
  const offered = audio(inc.sdp);
  t.equal(offered.protocol, 'RTP/AVP', 'the callee is offered plain RTP ("decrypted" policy)');
  plain.to = { address: '127.0.0.1', port: offered.port };
  calleeDialog = inc.answer(sdp({ port: plain.peer.port, codecs: [[0, 'PCMU/8000']] }));
  const ok = await out.waitStatus(200);
  dialog = out.ack(ok);
  phone.box = boxSide(ok.body);
  t.equal(phone.box.setup, 'active', 'the box answers actpass with active (RFC 8842 5.3): it is the DTLS client');
  t.match(audio(ok.body).protocol, /^UDP\/TLS\/RTP\/SAVPF?$/, 'a DTLS-SRTP answer');
  const handshake = phone.handshake();
  await phone.check();
  const c = await handshake;
  t.pass(`DTLS done: ${c.suite}, ${c.profile}, the box's certificate matched its a=fingerprint`);
  phone.talk();
  plain.talk();
  await audioBothWays(t, 0x21, 0x61, 'after the first handshake');
  const v = calls()[0];
  t.equal(v?.legs.a.protection, 'dtls', 'the caller\'s leg is dtls in the status');
  t.equal(v?.legs.b?.protection, 'rtp', 'the callee\'s is plain RTP');
});

t.test('DTLS restart: a re-INVITE with a new certificate\'s fingerprint; the old keys carry the audio until the new handshake is done', async (t) => {
  if (!dialog || !phone.connected) return t.fail('no call');
  const oldKeys = Buffer.from(phone.connected.srtp.localTx.masterKey).toString('hex');
  const restarts = counter('media.dtls.restart');
  const t0 = Date.now();
  phone.cert = newCert('phone-2');
  const { res: re, calleeAsked } = await reinvite(phone.offer(2));
  t.equal(re.status, 200, 're-INVITE answered');
  t.comment(`the box ${calleeAsked ? 'did' : 'did not'} re-INVITE the plain phone`);
  const b = boxSide(re.body);
  t.equal(b.setup, 'active', 'a new association from actpass: the box is client again');
  t.same(b.fingerprint, phone.box!.fingerprint, 'the box keeps its own certificate');
  t.equal(b.port, phone.box!.port, 'and its port');
  phone.box = { ...phone.box!, ...b };
  // The box restarts at once with a ClientHello our old endpoint does not take; meanwhile both sides still
  // hold the old keys. Wait a moment on them before the phone's new endpoint answers.
  await sleep(300);
  t.equal(counter('media.dtls.restart'), restarts + 1, 'the box counts a DTLS restart');
  t.ok(phone.heard.filter((h) => h.at >= t0).length > 5, 'the audio goes on under the old keys while the restart is pending');
  const c = await phone.handshake();
  t.not(Buffer.from(c.srtp.localTx.masterKey).toString('hex'), oldKeys, 'new SRTP keys from the new handshake');
  t.equal(phone.handshakes, 2, 'two handshakes in this call');
  await audioBothWays(t, 0x22, 0x62, 'after the DTLS restart');
  t.ok(phone.heard.some((h) => h.fill === 0x62 && h.under === 'new'), 'what the phone hears now opens under the new keys');
  const gap = longestGap(t0);
  t.ok(gap < 500, `the DTLS phone never went more than ${gap} ms without audio across the restart`);
  t.equal(calls().length, 1, 'one call, still up');
});

t.test('ICE restart: new credentials and a new port; old checks ignored, the new ones move the media; the DTLS association stays', async (t) => {
  if (!dialog || !phone.box) return t.fail('no call');
  const handshakes = phone.handshakes;
  const iceRestarts = counter('media.ice.restart');
  const dtlsRestarts = counter('media.dtls.restart');
  const old = { ufrag: phone.ufrag, pwd: phone.pwd, boxUfrag: phone.box.ufrag, boxPwd: phone.box.pwd };
  phone.ufrag = iceToken(8);
  phone.pwd = iceToken(24);
  await phone.move();
  const t0 = Date.now();
  const { res: re, calleeAsked } = await reinvite(phone.offer(3));
  t.equal(re.status, 200, 're-INVITE answered');
  t.comment(`the box ${calleeAsked ? 'did' : 'did not'} re-INVITE the plain phone`);
  const b = boxSide(re.body);
  t.not(b.ufrag, old.boxUfrag, 'the box answers with a new ice-ufrag (RFC 8445 9)');
  t.not(b.pwd, old.boxPwd, 'and a new ice-pwd');
  t.same(b.fingerprint, phone.box.fingerprint, 'the same certificate');
  phone.box = { ...phone.box, ...b };
  t.equal(counter('media.ice.restart'), iceRestarts + 1, 'the box counts an ICE restart');
  // A check under the old credentials from the new port: not answered, the media stays where it was.
  const answers = phone.iceAnswers;
  phone.sock.send(buildIceCheck(cryptoRandom.bytes(12), `${old.boxUfrag}:${old.ufrag}`, old.boxPwd, { useCandidate: true }), b.port, '127.0.0.1');
  await sleep(200);
  t.equal(phone.iceAnswers, answers, 'a check under the old credentials is not answered');
  await phone.check();
  t.pass('a check under the new ones is');
  await audioBothWays(t, 0x23, 0x63, 'after the ICE restart, at the new port');
  t.equal(phone.handshakes, handshakes, 'no new DTLS handshake');
  t.equal(counter('media.dtls.restart'), dtlsRestarts, 'the box did not restart DTLS');
  t.ok(phone.heard.some((h) => h.fill === 0x63 && h.under === 'new' && h.at >= t0), 'the audio at the new port opens under the keys of the association in force');
  t.equal(calls()[0]?.legs.a.protection, 'dtls', 'still a dtls leg');
});

t.test('the call ends cleanly', async (t) => {
  if (!dialog) return t.fail('no call');
  t.equal((await dialog.bye()).status, 200, 'BYE answered');
  const end = Date.now() + 3_000;
  while (calls().length > 0 && Date.now() < end) await sleep(50);
  t.same(calls(), [], 'no call left');
});
