import t from 'tap';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addAccount, CONFIG_FILE } from '../../firmware/config/index.js';
import { cryptoRandom, silentLogger } from '../../firmware/core/index.js';
import { formatCryptoLine, offerCrypto, parseCryptoLine, srtpOptionsOf, type CryptoAttribute } from '../../firmware/keying/index.js';
import { startAppliance, type Appliance } from '../../firmware/main.js';
import { SrtpSession } from '../../firmware/media/srtp/index.js';
import { CALLS_FILE, type CallView } from '../../firmware/pbx/index.js';
import { attributeValues, mediaProfile, parseSdp, type MediaDescription } from '../../firmware/sdp/index.js';
import { getHeader } from '../../firmware/sip/message/index.js';
import { CallUa, sdp, type IncomingCall, type OutgoingCall, type UaDialog } from './call-ua.js';

/**
 * SRTP calls through the whole appliance (issue 4): the media policy
 * (pbx/policy) decides relay or bridge per call, SDES (RFC 4568) keys the
 * legs the box terminates, a=crypto travels only over TLS, sips: needs TLS
 * and SRTP end to end, and the media engine drops replayed or forged SRTP.
 * The in-test phones speak SIP over TLS or UDP and protect their media with
 * the firmware's own SrtpSession.
 */

const root = mkdtempSync(join(tmpdir(), 'pbx-srtp-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const dataDir = join(root, 'box');
mkdirSync(dataDir, { recursive: true });
writeFileSync(join(dataDir, CONFIG_FILE), JSON.stringify({
  schemaVersion: 1,
  policies: [
    { name: 'default' },
    { name: 'decrypted', callerStream: 'decrypt', calleeStream: 'decrypted' },
    { name: 'sdes', callerStream: 'decrypt', calleeStream: 'sdes' },
    { name: 'private', callerStream: 'forced_relay', calleeStream: 'as_caller' },
  ],
}));

const rtpBase = 45_000 + 2 * Math.floor(Math.random() * 5_000);
const app: Appliance = await startAppliance({
  dataDir, bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, rtpPorts: { min: rtpBase, max: rtpBase + 39 },
  print: () => {}, log: silentLogger,
});
t.teardown(() => app.stop());
const closers: Array<{ close(): Promise<void> }> = [];
t.teardown(async () => { for (const c of closers) await c.close(); });

for (const ext of ['300', '301', '302', '303']) await app.store.update((d) => addAccount(d, { extension: ext, password: `secret-${ext}` }));
// A hold here must cross the box as SIP (its SDP re-keyed per leg); the box's own music on hold is tested apart.
await app.store.update((d) => { d.features.musicOnHold = false; });
const setPolicy = async (ext: string, policy: string): Promise<void> => { await app.store.update((d) => {
  const a = d.accounts.find((x) => x.extension === ext);
  if (a) a.policy = policy;
}); };

async function phone(user: string, transport: 'udp' | 'tls'): Promise<CallUa> {
  const u = await CallUa.open({ boxPort: transport === 'tls' ? app.info.ports.sipTls : app.info.ports.sipUdp, transport, user, password: `secret-${user}` });
  closers.push(u);
  return u;
}

const caller = await phone('300', 'tls');
const udpCaller = await phone('303', 'udp');
const tlsCallee = await phone('301', 'tls');
const udpCallee = await phone('302', 'udp');
// No assertion before the subtests: tap's root test ends once it is idle after one.
for (const [ua, what] of [[tlsCallee, '301 over TLS'], [udpCallee, '302 over UDP']] as const) {
  const r = await ua.register();
  if (r.status !== 200) throw new Error(`${what}: REGISTER got ${r.status}`);
}

// ------------------------------------------------------------------ media

/** A phone's media socket with SRTP (or plain RTP when no keys are set). */
class Media {
  private readonly got: Buffer[] = [];
  private seq = 1000;
  private readonly ssrc = cryptoRandom.int(0x7fffffff);
  tx: SrtpSession | undefined;
  rx: SrtpSession | undefined;
  /** Raw datagrams as they arrived, before any unprotect. */
  readonly wire: Buffer[] = [];

  private constructor(private readonly sock: dgram.Socket) {
    sock.on('message', (m) => { this.wire.push(Buffer.from(m)); this.got.push(Buffer.from(m)); });
  }

  static async open(): Promise<Media> {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1');
    await once(s, 'listening');
    const m = new Media(s);
    closers.push(m);
    return m;
  }

  get port(): number { return this.sock.address().port; }

  /** One 20 ms PCMU packet carrying `fill`, protected when tx keys are set. Returns what went on the wire. */
  packet(fill: number): { clear: Buffer; wire: Buffer } {
    const clear = Buffer.alloc(172);
    clear[0] = 0x80;
    clear.writeUInt16BE(this.seq = (this.seq + 1) & 0xffff, 2);
    clear.writeUInt32BE(this.seq * 160, 4);
    clear.writeUInt32BE(this.ssrc, 8);
    clear.fill(fill, 12);
    const w = this.tx ? this.tx.protectRtp(clear) : clear;
    if (typeof w === 'string') throw new Error(w);
    return { clear, wire: Buffer.from(w) };
  }

  sendRaw(bytes: Buffer, to: { port: number }): void { this.sock.send(bytes, to.port, '127.0.0.1'); }

  /** Send until a packet whose clear payload is all `fill` arrives at `peer`; returns that packet as received on the wire. */
  async flow(to: { port: number }, peer: Media, fill: number, ms = 2_000): Promise<Buffer> {
    const timer = setInterval(() => this.sendRaw(this.packet(fill).wire, to), 20);
    try { return await peer.waitFill(fill, ms); } finally { clearInterval(timer); }
  }

  async waitFill(fill: number, ms = 2_000): Promise<Buffer> {
    const end = Date.now() + ms;
    for (;;) {
      while (this.got.length) {
        const m = this.got.shift()!;
        const clear = this.rx ? this.rx.unprotectRtp(m) : m;
        if (typeof clear !== 'string' && clear.length >= 172 && clear.subarray(12, 172).every((b) => b === fill)) return m;
      }
      if (Date.now() > end) throw new Error(`no packet filled with ${fill} within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): Promise<void> { return new Promise((r) => this.sock.close(() => r())); }
}

// ------------------------------------------------------------------ SDP

const b64 = (c: CryptoAttribute): string => Buffer.concat([c.key, c.salt]).toString('base64');
const cryptoLines = (lines: readonly CryptoAttribute[]): string[] => lines.map((c) => `a=crypto:${formatCryptoLine(c)}`);

function audio(body: Buffer): MediaDescription {
  const m = parseSdp(body).media.find((x) => x.type === 'audio' && x.port !== 0);
  if (!m) throw new Error('no audio');
  return m;
}
function boxPort(body: Buffer): { port: number } { return { port: audio(body).port }; }
function cryptoOf(body: Buffer): CryptoAttribute[] {
  return attributeValues(audio(body).attributes, 'crypto').map((v) => {
    const r = parseCryptoLine(v);
    if (!r.ok) throw new Error(`bad crypto line ${v}`);
    return r.crypto;
  });
}
const rawCryptoOf = (body: Buffer): string[] => attributeValues(audio(body).attributes, 'crypto');

interface Placed {
  out: OutgoingCall; inc: IncomingCall; a: UaDialog; b: UaDialog;
  /** The box's INVITE body toward the callee and its 200 body toward the caller. */
  offerToCallee: Buffer; answerToCaller: Buffer;
}

/** Place a call and have the callee answer with `answer(offerItGot)`. */
async function place(from: CallUa, to: CallUa, ext: string, offer: string, answer: (offerToCallee: Buffer) => string): Promise<Placed> {
  const out = await from.call(ext, { sdp: offer });
  const inc = await to.waitInvite();
  const b = inc.answer(answer(inc.sdp));
  const ok = await out.waitStatus(200);
  const a = out.ack(ok);
  await to.waitRequest('ACK', (r) => r.callId === inc.invite.callId);
  return { out, inc, a, b, offerToCallee: inc.sdp, answerToCaller: ok.body };
}

/** The caller hangs up; resolves once the call record is written. */
async function hangup(tt: Pick<typeof t, 'equal'>, p: Placed): Promise<void> {
  const before = records().length;
  tt.equal((await p.a.bye()).status, 200, 'BYE answered');
  await p.b.waitRequest('BYE');
  const end = Date.now() + 2_000;
  while (records().length === before && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
}

const calls = (): CallView[] => app.status().calls as CallView[];
const records = (): string => { try { return readFileSync(join(dataDir, CALLS_FILE), 'utf8'); } catch { return ''; } };
const counter = (name: string): number => app.counters.snapshot()[name] ?? 0;

// ------------------------------------------------------------------ tests

t.test('SDES over TLS to a plain-RTP phone under a "decrypted" policy: the box bridges SRTP to RTP', async (t) => {
  await setPolicy('300', 'decrypted');
  await setPolicy('302', 'decrypted');
  t.teardown(async () => { await setPolicy('300', 'default'); await setPolicy('302', 'default'); });
  const ma = await Media.open();
  const mb = await Media.open();
  const mine = offerCrypto(['AES_CM_128_HMAC_SHA1_32', 'AES_CM_128_HMAC_SHA1_80'], cryptoRandom);
  const p = await place(caller, udpCallee, '302', sdp({ port: ma.port, profile: 'RTP/SAVP', extraMedia: cryptoLines(mine) }),
    () => sdp({ port: mb.port }));
  t.equal(audio(p.offerToCallee).protocol, 'RTP/AVP', 'the plain leg is offered RTP/AVP');
  t.same(rawCryptoOf(p.offerToCallee), [], 'and no a=crypto ever goes to a UDP leg (RFC 4568 8.3)');
  t.equal(audio(p.answerToCaller).protocol, 'RTP/SAVP', 'the caller hears its own profile back');
  const answered = cryptoOf(p.answerToCaller);
  t.equal(answered.length, 1, 'one a=crypto in the answer (RFC 4568 7.1.2)');
  t.match(answered[0], { tag: 1, suite: 'AES_CM_128_HMAC_SHA1_32' }, 'the caller\'s first line is chosen, same tag and suite');
  t.not(b64(answered[0]!), b64(mine[0]!), 'with the box\'s own fresh key');

  ma.tx = new SrtpSession(srtpOptionsOf(mine[0]!));
  ma.rx = new SrtpSession(srtpOptionsOf(answered[0]!));
  await ma.flow(boxPort(p.answerToCaller), mb, 0x11);
  t.pass('caller -> callee: SRTP in, plain RTP out');
  const toCaller = await mb.flow(boxPort(p.offerToCallee), ma, 0x22);
  t.equal(toCaller.length, 172 + 4, 'the caller gets SRTP with the 4-byte tag of HMAC-SHA1-32');

  const view = calls()[0]!;
  t.match(view, { mode: 'bridge', recordingPossible: true, legs: { a: { protection: 'sdes', suite: 'AES_CM_128_HMAC_SHA1_32', keys: 'box' }, b: { protection: 'rtp' } } });
  const status = JSON.stringify(app.status());
  for (const c of [...mine, ...answered]) t.notMatch(status, b64(c), 'no key in the status');
  await hangup(t, p);
  for (const c of [...mine, ...answered]) t.notMatch(records(), b64(c), 'no key in the call records');
  const last = JSON.parse(records().trim().split('\n').pop() ?? '{}') as unknown;
  t.match(last, { mode: 'bridge', legs: { a: { protection: 'sdes', suite: 'AES_CM_128_HMAC_SHA1_32' }, b: { protection: 'rtp' } } },
    'the record names each leg\'s key agreement and suite, and the mode');
});

t.test('SDES to SDES, bridged: each leg has its own keys; the box offers its own suites to the callee', async (t) => {
  await setPolicy('301', 'sdes');
  t.teardown(() => setPolicy('301', 'default'));
  const ma = await Media.open();
  const mb = await Media.open();
  const mine = offerCrypto(['AES_CM_128_HMAC_SHA1_80'], cryptoRandom);
  let calleeLine: CryptoAttribute | undefined;
  const p = await place(caller, tlsCallee, '301', sdp({ port: ma.port, profile: 'RTP/SAVP', extraMedia: cryptoLines(mine) }), (offer) => {
    const offered = cryptoOf(offer);
    calleeLine = offerCrypto(['AEAD_AES_128_GCM'], cryptoRandom).map((c) => ({ ...c, tag: offered.find((o) => o.suite === 'AEAD_AES_128_GCM')!.tag }))[0]!;
    return sdp({ port: mb.port, profile: 'RTP/SAVP', extraMedia: cryptoLines([calleeLine]) });
  });
  const offered = cryptoOf(p.offerToCallee);
  t.equal(audio(p.offerToCallee).protocol, 'RTP/SAVP');
  t.same(offered.map((c) => c.suite), ['AES_CM_128_HMAC_SHA1_80', 'AES_256_CM_HMAC_SHA1_80', 'AEAD_AES_128_GCM', 'AEAD_AES_256_GCM'], 'the box\'s own offer');
  t.notOk(offered.some((c) => b64(c) === b64(mine[0]!)), 'the caller\'s key never reaches the callee');
  const toCaller = cryptoOf(p.answerToCaller)[0]!;
  const ours = offered.find((c) => c.tag === calleeLine!.tag)!;
  ma.tx = new SrtpSession(srtpOptionsOf(mine[0]!));
  ma.rx = new SrtpSession(srtpOptionsOf(toCaller));
  mb.tx = new SrtpSession(srtpOptionsOf(calleeLine!));
  mb.rx = new SrtpSession(srtpOptionsOf(ours));
  const atCallee = await ma.flow(boxPort(p.answerToCaller), mb, 0x33);
  t.equal(atCallee.length, 172 + 16, 'AES-GCM toward the callee: 16-byte tag (RFC 7714)');
  const atCaller = await mb.flow(boxPort(p.offerToCallee), ma, 0x44);
  t.equal(atCaller.length, 172 + 10, 'HMAC-SHA1-80 toward the caller: 10-byte tag');
  t.match(calls()[0], { mode: 'bridge', legs: { a: { protection: 'sdes', suite: 'AES_CM_128_HMAC_SHA1_80' }, b: { protection: 'sdes', suite: 'AEAD_AES_128_GCM' } } });

  // A replayed and a tampered packet at the box's port: dropped and counted, audio goes on (RFC 3711 3.3.2).
  const replayBefore = counter('media.drop.srtp-replay');
  const authBefore = counter('media.drop.srtp-auth');
  const pkt = ma.packet(0x55).wire;
  ma.sendRaw(pkt, boxPort(p.answerToCaller));
  await mb.waitFill(0x55);
  ma.sendRaw(pkt, boxPort(p.answerToCaller));
  const bad = ma.packet(0x66).wire;
  bad[30]! ^= 0x40;
  ma.sendRaw(bad, boxPort(p.answerToCaller));
  await ma.flow(boxPort(p.answerToCaller), mb, 0x77);
  t.equal(counter('media.drop.srtp-replay') - replayBefore, 1, 'the replay was dropped and counted');
  t.equal(counter('media.drop.srtp-auth') - authBefore, 1, 'the tampered packet was dropped and counted');
  await t.rejects(mb.waitFill(0x66, 200), 'the tampered packet never reached the callee');

  // A re-INVITE with a new key (RFC 4568 7.1.4): old-key packets in flight still pass, the new key works at once.
  const fresh = offerCrypto(['AES_CM_128_HMAC_SHA1_80'], cryptoRandom);
  const reinvite = p.a.request('INVITE', { sdp: sdp({ port: ma.port, profile: 'RTP/SAVP', version: 2, extraMedia: cryptoLines(fresh) }) });
  const re = await p.b.waitRequest('INVITE');
  const reOffered = cryptoOf(re.body);
  t.notOk(reOffered.some((c) => c.tag === ours.tag && b64(c) === b64(ours)), 'a new key from the caller gives the callee\'s leg fresh box keys too');
  const calleeNew = { ...offerCrypto(['AES_CM_128_HMAC_SHA1_80'], cryptoRandom)[0]!, tag: reOffered[0]!.tag };
  re.respond(200, 'OK', { body: sdp({ port: mb.port, profile: 'RTP/SAVP', version: 2, extraMedia: cryptoLines([calleeNew]) }), headers: [['Contact', `<${tlsCallee.contactUri}>`]] });
  const reOk = await reinvite;
  p.a.ack(reOk);
  const reAnswer = cryptoOf(reOk.body);
  t.equal(b64(reAnswer[0]!), b64(toCaller), 'the caller\'s leg keeps the box\'s key: only the caller\'s own key changed');
  mb.rx = new SrtpSession(srtpOptionsOf(reOffered[0]!));
  ma.sendRaw(ma.packet(0x78).wire, boxPort(p.answerToCaller));
  await mb.waitFill(0x78);
  t.pass('a packet under the caller\'s old key, sent before it saw the answer, still gets through');
  mb.tx = new SrtpSession(srtpOptionsOf(calleeNew));
  ma.tx = new SrtpSession(srtpOptionsOf(fresh[0]!));
  await ma.flow(boxPort(p.answerToCaller), mb, 0x79);
  await mb.flow(boxPort(p.offerToCallee), ma, 0x7a);
  t.pass('audio flows both ways under the new keys');
  await hangup(t, p);
});

t.test('forced_relay: the caller\'s a=crypto lines reach the callee verbatim (all of them) and the media passes untouched', async (t) => {
  await setPolicy('300', 'private');
  t.teardown(() => setPolicy('300', 'default'));
  const ma = await Media.open();
  const mb = await Media.open();
  const mine = offerCrypto(['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'], cryptoRandom);
  const theirs = offerCrypto(['AES_CM_128_HMAC_SHA1_32'], cryptoRandom).map((c) => ({ ...c, tag: 2 }));
  const p = await place(caller, tlsCallee, '301', sdp({ port: ma.port, profile: 'RTP/SAVP', extraMedia: cryptoLines(mine) }),
    () => sdp({ port: mb.port, profile: 'RTP/SAVP', extraMedia: cryptoLines(theirs) }));
  t.same(rawCryptoOf(p.offerToCallee), mine.map(formatCryptoLine), 'every offered line, byte for byte');
  t.same(rawCryptoOf(p.answerToCaller), theirs.map(formatCryptoLine), 'the callee\'s line back, byte for byte');
  ma.tx = new SrtpSession(srtpOptionsOf(mine[1]!));
  mb.rx = new SrtpSession(srtpOptionsOf(mine[1]!));
  mb.tx = new SrtpSession(srtpOptionsOf(theirs[0]!));
  ma.rx = new SrtpSession(srtpOptionsOf(theirs[0]!));
  const sent = ma.packet(0x12).wire;
  ma.sendRaw(sent, boxPort(p.answerToCaller));
  const got = await ma.flow(boxPort(p.answerToCaller), mb, 0x12);
  t.equal(got.length, 176, 'the end-to-end suite\'s tag');
  t.ok(mb.wire.some((w) => w.equals(sent)), 'byte for byte what the caller sent');
  await mb.flow(boxPort(p.offerToCallee), ma, 0x13);
  t.match(calls()[0], { mode: 'relay', recordingPossible: false, legs: { a: { protection: 'sdes', keys: 'end-to-end', suite: 'AES_CM_128_HMAC_SHA1_32' } } });
  await hangup(t, p);
});

t.test('keys only over TLS: an RTP/SAVP offer over UDP gets 488 with a Warning, and nothing reaches the callee', async (t) => {
  const before = counter('policy.refuse.sdes-needs-tls');
  const out = await udpCaller.call('301', { sdp: sdp({ port: 5004, profile: 'RTP/SAVP', extraMedia: cryptoLines(offerCrypto(['AES_CM_128_HMAC_SHA1_80'], cryptoRandom)) }) });
  const res = await out.final();
  t.equal(res.status, 488);
  t.match(getHeader(res, 'warning'), /^399 \S+ "SDES needs TLS on the caller's leg"$/);
  t.equal(counter('policy.refuse.sdes-needs-tls') - before, 1);
  t.notOk(await tlsCallee.sees('INVITE'), 'the callee never rang');
});

t.test('a policy that requires SDES toward a UDP phone fails the call with 488 and says why', async (t) => {
  await setPolicy('302', 'sdes');
  t.teardown(() => setPolicy('302', 'default'));
  const out = await caller.call('302', { sdp: sdp({ port: 5004, profile: 'RTP/SAVP', extraMedia: cryptoLines(offerCrypto(['AES_CM_128_HMAC_SHA1_80'], cryptoRandom)) }) });
  const res = await out.final();
  t.equal(res.status, 488);
  t.match(getHeader(res, 'warning'), /SDES needs TLS on the callee's leg/);
  t.notOk(await udpCallee.sees('INVITE'), 'no INVITE (and so no a=crypto) went to the UDP phone');
});

t.test('best-effort SRTP (RTP/AVP with a=crypto) over UDP is answered as plain RTP, with no keys either way', async (t) => {
  const ma = await Media.open();
  const mb = await Media.open();
  const p = await place(udpCaller, udpCallee, '302', sdp({ port: ma.port, extraMedia: cryptoLines(offerCrypto(['AES_CM_128_HMAC_SHA1_80'], cryptoRandom)) }),
    () => sdp({ port: mb.port }));
  t.same(rawCryptoOf(p.offerToCallee), []);
  t.same(rawCryptoOf(p.answerToCaller), [], 'the answer has no a=crypto: the phone falls back to RTP');
  t.equal(mediaProfile(audio(p.answerToCaller)), 'RTP/AVP');
  await ma.flow(boxPort(p.answerToCaller), mb, 0x21);
  t.match(calls()[0], { mode: 'relay', legs: { a: { protection: 'rtp' }, b: { protection: 'rtp' } } });
  await hangup(t, p);
});

t.test('best-effort SRTP over TLS toward a plain UDP phone: the box keys the caller\'s leg (RTP/AVP + a=crypto) and bridges', async (t) => {
  const ma = await Media.open();
  const mb = await Media.open();
  const mine = offerCrypto(['AES_CM_128_HMAC_SHA1_80'], cryptoRandom);
  const p = await place(caller, udpCallee, '302', sdp({ port: ma.port, extraMedia: cryptoLines(mine) }), () => sdp({ port: mb.port }));
  t.equal(mediaProfile(audio(p.answerToCaller)), 'RTP/AVP', 'the caller\'s profile kept');
  const answered = cryptoOf(p.answerToCaller);
  t.equal(answered.length, 1);
  ma.tx = new SrtpSession(srtpOptionsOf(mine[0]!));
  ma.rx = new SrtpSession(srtpOptionsOf(answered[0]!));
  await ma.flow(boxPort(p.answerToCaller), mb, 0x31);
  await mb.flow(boxPort(p.offerToCallee), ma, 0x32);
  t.match(calls()[0], { mode: 'bridge', legs: { a: { protection: 'sdes' }, b: { protection: 'rtp' } } });
  await hangup(t, p);
});

t.test('sips: end to end: toward a UDP phone the call gets 480 with a clear reason (RFC 5630)', async (t) => {
  const out = caller.invite('302', { scheme: 'sips', sdp: sdp({ port: 5004, profile: 'RTP/SAVP', extraMedia: cryptoLines(offerCrypto(['AES_CM_128_HMAC_SHA1_80'], cryptoRandom)) }) });
  const first = await out.final();
  out.authenticate(first);
  const res = await out.final();
  t.equal(res.status, 480);
  t.match(getHeader(res, 'warning'), /sips: needs TLS and SRTP on both legs; the callee's leg is not TLS/);
  t.notOk(await udpCallee.sees('INVITE'));
});

t.test('sips: with TLS on both legs but a plain offer: 480, since sips needs SRTP too', async (t) => {
  const out = caller.invite('301', { scheme: 'sips', sdp: sdp({ port: 5004 }) });
  const first = await out.final();
  out.authenticate(first);
  const res = await out.final();
  t.equal(res.status, 480);
  t.match(getHeader(res, 'warning'), /would be plain RTP/);
});

/** Wait, bounded, until `f` holds (datagrams and SIP are real; the box runs on the real clock). */
async function until(what: string, f: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A stranger on the LAN: another loopback host sending plain RTP at the box. */
async function strangerSocket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.bind(0, '127.0.0.2');
  await once(s, 'listening');
  closers.push({ close: () => new Promise<void>((r) => s.close(() => r())) });
  return s;
}

t.test('issue (clear audio before the answer): SDES caller -> plain callee; while it rings, RTP at the callee-side port never reaches the caller, and after the answer only SRTP does', async (t) => {
  await setPolicy('300', 'decrypted');
  await setPolicy('302', 'decrypted');
  t.teardown(async () => { await setPolicy('300', 'default'); await setPolicy('302', 'default'); });
  const ma = await Media.open();
  const mb = await Media.open();
  const stranger = await strangerSocket();
  const mine = offerCrypto(['AES_CM_128_HMAC_SHA1_80'], cryptoRandom);
  const out = await caller.call('302', { sdp: sdp({ port: ma.port, profile: 'RTP/SAVP', extraMedia: cryptoLines(mine) }) });
  const inc = await udpCallee.waitInvite();
  inc.ring();
  await out.waitStatus(180);
  const before = counter('media.drop.no-remote');
  // The callee rings: its phone and a stranger each send five plain 172-byte packets at the box's callee-side port.
  for (let i = 0; i < 5; i++) {
    mb.sendRaw(mb.packet(0x5a).wire, boxPort(inc.sdp));
    stranger.send(mb.packet(0x5b).clear, boxPort(inc.sdp).port, '127.0.0.1');
  }
  await until('the box to refuse all ten', () => counter('media.drop.no-remote') - before >= 10);
  t.equal(counter('media.drop.no-remote') - before, 10, 'all ten refused: the callee-side leg has no remote yet');
  t.equal(ma.wire.length, 0, 'nothing reached the caller while the callee rang');

  const b = inc.answer(sdp({ port: mb.port }));
  const ok = await out.waitStatus(200);
  const a = out.ack(ok);
  await udpCallee.waitRequest('ACK', (r) => r.callId === inc.invite.callId);
  const answered = cryptoOf(ok.body);
  ma.tx = new SrtpSession(srtpOptionsOf(mine[0]!));
  ma.rx = new SrtpSession(srtpOptionsOf(answered[0]!));
  await mb.flow(boxPort(inc.sdp), ma, 0x5c);
  await ma.flow(boxPort(ok.body), mb, 0x5d);
  const check = new SrtpSession(srtpOptionsOf(answered[0]!));
  t.ok(ma.wire.length > 0, `${ma.wire.length} packets reached the caller`);
  t.ok(ma.wire.every((w) => w.length === 182 && typeof check.unprotectRtp(w) !== 'string'),
    'every packet that ever reached the caller is SRTP under the key of the box\'s answer');
  t.equal(b.state.callId, inc.invite.callId);
  await hangup(t, { out, inc, a, b, offerToCallee: inc.sdp, answerToCaller: ok.body });
});

t.test('early media toward an SDES caller is SRTP from its first packet: the 183 keys the caller\'s leg', async (t) => {
  await setPolicy('300', 'decrypted');
  await setPolicy('302', 'decrypted');
  t.teardown(async () => { await setPolicy('300', 'default'); await setPolicy('302', 'default'); });
  const ma = await Media.open();
  const mb = await Media.open();
  const mine = offerCrypto(['AES_CM_128_HMAC_SHA1_80'], cryptoRandom);
  const out = await caller.call('302', { sdp: sdp({ port: ma.port, profile: 'RTP/SAVP', extraMedia: cryptoLines(mine) }) });
  const inc = await udpCallee.waitInvite();
  inc.progress(sdp({ port: mb.port }));
  const p183 = await out.waitStatus(183);
  const early = cryptoOf(p183.body);
  t.equal(early.length, 1, 'the 183 carries the box\'s a=crypto');
  ma.rx = new SrtpSession(srtpOptionsOf(early[0]!));
  await mb.flow(boxPort(inc.sdp), ma, 0x6c);
  const check = new SrtpSession(srtpOptionsOf(early[0]!));
  t.ok(ma.wire.every((w) => w.length === 182 && typeof check.unprotectRtp(w) !== 'string'), 'ringback reaches the caller protected, never in the clear');
  t.equal((await out.cancel()).status, 200, 'the caller gives up: CANCEL');
  t.equal((await out.final()).status, 487);
  await udpCallee.waitRequest('CANCEL', (r) => r.callId === inc.callId);
});

/** The callee's answer to a box offer with SDES lines: the first line, answered with the callee's own fresh key (RFC 4568 7.1.2). */
function sdesAnswer(offer: Buffer, port: number): { sdp: string; ours: CryptoAttribute; theirs: CryptoAttribute } {
  const theirs = cryptoOf(offer)[0]!;
  const ours = offerCrypto([theirs.suite], cryptoRandom)[0]!;
  const mine = { ...ours, tag: theirs.tag };
  return { sdp: sdp({ port, profile: audio(offer).protocol, extraMedia: cryptoLines([mine]) }), ours: mine, theirs };
}

t.test('abilities under the default policy: a plain UDP phone calls a TLS phone that refuses plain RTP (488); the box retries bridged with SDES, both hear each other, and the next call goes straight to SDES', async (t) => {
  const retries = counter('call.retry');
  const ma = await Media.open();
  const mb = await Media.open();
  const out = await udpCaller.call('301', { sdp: sdp({ port: ma.port }) });
  const first = await tlsCallee.waitInvite();
  t.equal(audio(first.sdp).protocol, 'RTP/AVP', 'first the caller\'s plain offer, relayed');
  first.reject(488, 'Not Acceptable Here');
  const second = await tlsCallee.waitInvite();
  t.equal(audio(second.sdp).protocol, 'RTP/SAVP', 'then an SRTP offer from the box, on the same contact');
  t.ok(cryptoOf(second.sdp).length > 0, 'with the box\'s own a=crypto lines (the callee\'s leg is TLS)');
  const ans = sdesAnswer(second.sdp, mb.port);
  const b = second.answer(ans.sdp);
  const ok = await out.waitStatus(200);
  t.same({ profile: audio(ok.body).protocol, crypto: rawCryptoOf(ok.body) }, { profile: 'RTP/AVP', crypto: [] }, 'the plain caller gets a plain answer');
  const a = out.ack(ok);
  await tlsCallee.waitRequest('ACK', (r) => r.callId === second.invite.callId);
  t.equal(counter('call.retry'), retries + 1, 'one retry, counted');
  t.match(calls()[0], { mode: 'bridge', legs: { a: { protection: 'rtp' }, b: { protection: 'sdes', keys: 'box' } } });
  mb.tx = new SrtpSession(srtpOptionsOf(ans.ours));
  mb.rx = new SrtpSession(srtpOptionsOf(ans.theirs));
  await ma.flow(boxPort(ok.body), mb, 0x31);
  await mb.flow(boxPort(second.sdp), ma, 0x32);
  t.pass('media both ways: plain on the caller\'s leg, SRTP on the callee\'s');
  await hangup(t, { out, inc: second, a, b, offerToCallee: second.sdp, answerToCaller: ok.body });

  // The box remembers what this contact took: no refused INVITE this time.
  const out2 = await udpCaller.call('301', { sdp: sdp({ port: ma.port }) });
  const straight = await tlsCallee.waitInvite();
  t.equal(audio(straight.sdp).protocol, 'RTP/SAVP', 'the next call offers SRTP at once');
  const b2 = straight.answer(sdesAnswer(straight.sdp, mb.port).sdp);
  const ok2 = await out2.waitStatus(200);
  const a2 = out2.ack(ok2);
  t.equal(counter('call.retry'), retries + 1, 'no second retry');
  await hangup(t, { out: out2, inc: straight, a: a2, b: b2, offerToCallee: straight.sdp, answerToCaller: ok2.body });
});

t.test('abilities: an RTP/SAVP caller and a phone that takes only RTP/SAVPF (488 to SAVP): the box retries with SAVPF, bridged', async (t) => {
  const ma = await Media.open();
  const mb = await Media.open();
  const mine = offerCrypto(['AES_CM_128_HMAC_SHA1_80'], cryptoRandom);
  const out = await caller.call('301', { sdp: sdp({ port: ma.port, profile: 'RTP/SAVP', extraMedia: cryptoLines(mine) }) });
  const first = await tlsCallee.waitInvite();
  t.equal(audio(first.sdp).protocol, 'RTP/SAVP');
  first.reject(488, 'Not Acceptable Here');
  const second = await tlsCallee.waitInvite();
  t.equal(audio(second.sdp).protocol, 'RTP/SAVPF', 'the retry uses the feedback profile');
  const ans = sdesAnswer(second.sdp, mb.port);
  const b = second.answer(ans.sdp);
  const ok = await out.waitStatus(200);
  t.equal(audio(ok.body).protocol, 'RTP/SAVP', 'the caller hears its own profile back');
  const a = out.ack(ok);
  await tlsCallee.waitRequest('ACK', (r) => r.callId === second.invite.callId);
  t.match(calls()[0], { mode: 'bridge', legs: { a: { protection: 'sdes', keys: 'box' }, b: { protection: 'sdes', keys: 'box' } } });
  ma.tx = new SrtpSession(srtpOptionsOf(mine[0]!));
  ma.rx = new SrtpSession(srtpOptionsOf(cryptoOf(ok.body)[0]!));
  mb.tx = new SrtpSession(srtpOptionsOf(ans.ours));
  mb.rx = new SrtpSession(srtpOptionsOf(ans.theirs));
  await ma.flow(boxPort(ok.body), mb, 0x41);
  await mb.flow(boxPort(second.sdp), ma, 0x42);
  t.pass('SRTP both ways, re-encrypted by the box');
  await hangup(t, { out, inc: second, a, b, offerToCallee: second.sdp, answerToCaller: ok.body });
});

t.test('abilities under forced_relay: the box never bridges; the callee\'s 488 reaches the caller with a Warning saying why', async (t) => {
  await setPolicy('300', 'private');
  t.teardown(() => setPolicy('300', 'default'));
  const ma = await Media.open();
  const mine = offerCrypto(['AES_CM_128_HMAC_SHA1_80'], cryptoRandom);
  const out = await caller.call('301', { sdp: sdp({ port: ma.port, profile: 'RTP/AVPF', extraMedia: cryptoLines(mine) }) });
  const first = await tlsCallee.waitInvite();
  first.reject(488, 'Not Acceptable Here');
  const fin = await out.final();
  t.equal(fin.status, 488);
  t.match(getHeader(fin, 'warning'), /forced_relay/, 'the Warning names the policy that stopped the retry');
  t.notOk(await tlsCallee.sees('INVITE', () => true, 300), 'no second INVITE');
});

t.test('SDES on a late offer: a plain UDP caller sends no SDP, the TLS callee offers SRTP in its 200; the box offers the caller plain RTP, answers the callee with its own key in the ACK, and bridges', async (t) => {
  const ma = await Media.open();
  const mb = await Media.open();
  const out = await udpCaller.call('301');
  const inc = await tlsCallee.waitInvite();
  t.equal(inc.sdp.length, 0, 'the callee is asked for an offer');
  const mine = offerCrypto(['AES_CM_128_HMAC_SHA1_80'], cryptoRandom);
  const b = inc.answer(sdp({ port: mb.port, profile: 'RTP/SAVP', extraMedia: cryptoLines(mine) }));
  const ok = await out.waitStatus(200);
  t.same({ profile: audio(ok.body).protocol, crypto: rawCryptoOf(ok.body) }, { profile: 'RTP/AVP', crypto: [] }, 'the UDP caller is offered plain RTP: no key goes to it');
  const a = out.ack(ok, sdp({ port: ma.port }));
  const ack = await tlsCallee.waitRequest('ACK', (r) => r.callId === inc.invite.callId);
  t.equal(audio(ack.body).protocol, 'RTP/SAVP', 'the callee\'s ACK carries an SRTP answer');
  const answered = cryptoOf(ack.body);
  t.equal(answered.length, 1, 'one a=crypto (RFC 4568 7.1.2)');
  t.not(b64(answered[0]!), b64(mine[0]!), 'with the box\'s own key');
  t.match(calls()[0], { mode: 'bridge', legs: { a: { protection: 'rtp' }, b: { protection: 'sdes', keys: 'box' } } });
  mb.tx = new SrtpSession(srtpOptionsOf(mine[0]!));
  mb.rx = new SrtpSession(srtpOptionsOf(answered[0]!));
  await mb.flow(boxPort(ack.body), ma, 0x51);
  await ma.flow(boxPort(ok.body), mb, 0x52);
  t.pass('SRTP on the callee\'s leg, plain RTP on the caller\'s, both ways');
  // A hold from the plain caller reaches the SDES callee as SRTP with the box's key, the keys' sides kept apart.
  const hold = a.request('INVITE', { sdp: sdp({ port: ma.port, direction: 'sendonly', version: 2 }) });
  const re = await b.waitRequest('INVITE');
  t.same({ profile: audio(re.body).protocol, dir: audio(re.body).attributes.some((x) => x.name === 'sendonly') }, { profile: 'RTP/SAVP', dir: true });
  const reKeys = cryptoOf(re.body);
  t.ok(reKeys.length > 0 && reKeys.every((c) => c.tag > 0), 'the re-offer carries the box\'s a=crypto');
  re.respond(200, 'OK', { body: sdp({ port: mb.port, profile: 'RTP/SAVP', direction: 'recvonly', version: 2, extraMedia: cryptoLines([{ ...mine[0]!, tag: reKeys[0]!.tag }]) }), headers: [['Contact', `<${tlsCallee.contactUri}>`]] });
  const held = await hold;
  t.same({ status: held.status, profile: audio(held.body).protocol, crypto: rawCryptoOf(held.body) }, { status: 200, profile: 'RTP/AVP', crypto: [] }, 'the caller hears a plain answer');
  a.ack(held);
  await b.waitRequest('ACK');
  await hangup(t, { out, inc, a, b, offerToCallee: ack.body, answerToCaller: ok.body });
});

t.test('the box is idle afterwards', async (t) => {
  const end = Date.now() + 2_000;
  let s = await app.media.request({ op: 'stats' });
  while (s.op === 'stats' && (s.sessions.length > 0 || calls().length > 0) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    s = await app.media.request({ op: 'stats' });
  }
  t.ok(s.op === 'stats' && s.sessions.length === 0 && s.portsInUse === 0, 'no media session, no port');
  t.same(calls(), []);
});
