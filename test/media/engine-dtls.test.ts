/**
 * DTLS-SRTP (RFC 5764) and ICE-lite (RFC 8445 2.5) wired into the media
 * engine, over in-memory sockets and a fake clock. The "phone" is our own
 * keying/dtls DtlsEndpoint (cross-checked against OpenSSL in
 * test/keying/dtls/openssl.test.ts) with its own certificate, talking to a
 * leg whose security is 'dtls'; the other leg is plain RTP, so every test
 * shows the bridge DTLS-SRTP <-> RTP both ways with the exporter's keys.
 */
import t, { type Test } from 'tap';
import { Counters, FakeClock, seededRandom } from '../../firmware/core/index.js';
import {
  DtlsBox, DtlsEndpoint, generateCertificate, mutateDtlsDatagram,
  type DtlsCertificate, type DtlsConnected, type DtlsFailure, type DtlsRole,
} from '../../firmware/keying/index.js';
import {
  MediaEngine, buildIceCheck, parseStun, readXorMappedAddress, verifyIceCheck,
  type EngineEvent, type LegSecurity, type LegStats, type RemoteInfo, type RemoteMedia,
} from '../../firmware/media/index.js';
import { SrtpSession } from '../../firmware/media/srtp/index.js';
import { FakeNet, legOf, ok, rtp, type FakeSocket } from './helpers.js';

const PHONE: RemoteInfo = { address: '10.0.0.2', port: 4000 };
const BOB: RemoteInfo = { address: '10.0.0.3', port: 6000 };
const STRANGER: RemoteInfo = { address: '10.0.0.66', port: 4000 };

const certs = new Map<string, DtlsCertificate>();
function cert(name: string): DtlsCertificate {
  let c = certs.get(name);
  if (!c) {
    c = generateCertificate({ random: seededRandom(certs.size + 11), now: Date.UTC(2026, 0, 1), commonName: name });
    certs.set(name, c);
  }
  return c;
}

function remote(at: RemoteInfo, mux = true): RemoteMedia {
  return { rtp: { ...at }, rtcp: { address: at.address, port: mux ? at.port : at.port + 1 }, rtcpMux: mux, direction: 'sendrecv' };
}

/** SRTP authentication tag per suite (RFC 3711, RFC 7714). */
const TAG_BYTES: Readonly<Record<string, number>> = {
  AES_CM_128_HMAC_SHA1_80: 10, AES_CM_128_HMAC_SHA1_32: 4, AEAD_AES_128_GCM: 16, AEAD_AES_256_GCM: 16,
};

const voice = (seq: number, fill: number, ssrc = 0xd7150001): Buffer => rtp({ pt: 0, seq, ts: seq * 160, ssrc, payload: Buffer.alloc(160, fill) });

interface RigOptions {
  /** The box's role on the leg. */
  readonly boxRole: DtlsRole;
  /** What the box expects of the phone's certificate (default: the phone's real one). */
  readonly expects?: DtlsCertificate['fingerprint'];
  readonly ice?: { readonly localUfrag: string; readonly localPwd: string; readonly remoteUfrag?: string };
  /** The phone's SDP address (an ICE phone gives 0.0.0.0:9). */
  readonly sdp?: RemoteInfo;
}

async function rig(o: RigOptions) {
  const net = new FakeNet();
  const clock = new FakeClock();
  const counters = new Counters();
  const boxCert = cert('box');
  const box = new DtlsBox({ certificate: boxCert, clock, random: seededRandom(5), counters });
  const engine = new MediaEngine({
    bindAddress: '0.0.0.0', advertiseAddress: '192.0.2.1', portRange: { min: 20000, max: 20099 }, clock, counters,
    socketFactory: net.factory, dtls: box.factory,
  });
  const events: EngineEvent[] = [];
  engine.onEvent((e) => events.push(e));
  const phoneCert = cert('phone');
  const security = (association: number, expects = o.expects ?? phoneCert.fingerprint): LegSecurity => ({
    kind: 'dtls', dtls: { role: o.boxRole, fingerprint: expects, association, ...(o.ice ? { ice: o.ice } : {}) },
  });
  await engine.request({ op: 'create', sessionId: 's' });
  const la = await engine.request({ op: 'add-leg', sessionId: 's', leg: 'a', remote: remote(o.sdp ?? PHONE), rtcpMux: true, security: security(1) });
  const lb = await engine.request({ op: 'add-leg', sessionId: 's', leg: 'b', remote: remote(BOB, false) });
  if (la.op !== 'add-leg' || lb.op !== 'add-leg') throw new Error('add-leg');
  await engine.request({ op: 'connect', sessionId: 's', from: 'a', to: 'b' });
  await engine.request({ op: 'connect', sessionId: 's', from: 'b', to: 'a' });
  const aSock: FakeSocket = net.at(la.local.rtpPort);
  const bSock: FakeSocket = net.at(lb.local.rtpPort);

  // The phone: our own DTLS endpoint in the other role, over the fake net.
  const phone = {
    connected: undefined as DtlsConnected | undefined,
    failed: undefined as DtlsFailure | undefined,
    ep: undefined as DtlsEndpoint | undefined,
    certificate: phoneCert,
  };
  const makePhone = (certificate: DtlsCertificate): DtlsEndpoint => {
    phone.connected = undefined;
    phone.failed = undefined;
    phone.certificate = certificate;
    return new DtlsEndpoint({
      role: o.boxRole === 'client' ? 'server' : 'client', certificate, expectedFingerprint: boxCert.fingerprint,
      clock, random: seededRandom(9), counters: new Counters(),
      send: (d) => aSock.deliver(d, PHONE),
      onConnected: (c) => { phone.connected = c; },
      onFailed: (f) => { phone.failed = f; },
    });
  };
  phone.ep = makePhone(phoneCert);
  let seen = 0;
  /** Hand the phone every DTLS datagram the box sent it, until nothing moves. */
  const pump = (): void => {
    for (let round = 0; round < 50 && seen < aSock.sent.length; round++) {
      while (seen < aSock.sent.length) {
        const s = aSock.sent[seen++]!;
        const b0 = s.data[0]!;
        if (b0 >= 20 && b0 <= 63 && s.port === PHONE.port && s.address === PHONE.address) phone.ep!.receive(s.data, { address: '192.0.2.1', port: la.local.rtpPort });
      }
    }
  };
  /** What the box sent toward the phone from index `from` on, that is not DTLS or STUN. */
  const mediaToPhone = (from: number) => aSock.sent.slice(from).filter((s) => s.data[0]! >= 128);
  const stats = async (leg: 'a' | 'b'): Promise<LegStats> => {
    const r = await engine.request({ op: 'stats', sessionId: 's' });
    if (r.op !== 'stats') throw new Error('stats');
    return legOf(r.sessions[0], leg);
  };
  return { net, clock, counters, engine, events, aSock, bSock, phone, makePhone, pump, mediaToPhone, stats, security, boxCert };
}

type Rig = Awaited<ReturnType<typeof rig>>;

/** Both ways through the bridge: the phone's SRTP reaches Bob as plain RTP, Bob's RTP reaches the phone as SRTP under the exporter's keys. */
async function audioBothWays(t: Test, r: Rig, seq0: number, what: string): Promise<void> {
  const c = r.phone.connected;
  if (!c) throw new Error('phone not connected');
  const out = new SrtpSession(c.srtp.localTx);
  const inn = new SrtpSession(c.srtp.localRx);
  const before = r.bSock.sent.length;
  for (let i = 0; i < 3; i++) r.aSock.deliver(ok(out.protectRtp(voice(seq0 + i, 0x21))), PHONE);
  const toBob = r.bSock.sent.slice(before);
  t.equal(toBob.length, 3, `${what}: the phone's three SRTP packets reach Bob`);
  t.same(toBob[0]?.data, voice(seq0, 0x21), `${what}: as the plain RTP the phone protected`);
  t.same(toBob[0] && { port: toBob[0].port, address: toBob[0].address }, BOB, `${what}: sent to Bob`);
  const mark = r.aSock.sent.length;
  r.bSock.deliver(voice(seq0, 0x42, 0xb0b), BOB);
  const toPhone = r.mediaToPhone(mark);
  t.equal(toPhone.length, 1, `${what}: Bob's packet goes to the phone`);
  const tag = TAG_BYTES[c.srtp.localRx.suite];
  t.equal(toPhone[0]?.data.length, voice(seq0, 0x42, 0xb0b).length + tag, `${what}: as SRTP (${tag}-byte tag of ${c.srtp.localRx.suite})`);
  t.same(ok(inn.unprotectRtp(toPhone[0]!.data)), voice(seq0, 0x42, 0xb0b), `${what}: which the phone decrypts with its exporter rx key`);
}

for (const boxRole of ['server', 'client'] as const) {
  t.test(`box as DTLS ${boxRole}: handshake on the leg's port, keys from the exporter, bridged to plain RTP both ways`, async (t) => {
    const r = await rig({ boxRole });
    t.equal((await r.stats('a')).security, 'srtp-pending', 'before the handshake the leg is pending');
    // Nothing passes toward the phone before the keys: not in the clear, not at all.
    r.bSock.deliver(voice(1, 0x42, 0xb0b), BOB);
    t.equal(r.mediaToPhone(0).length, 0, 'no media to the phone before the handshake');
    r.phone.ep!.start();
    r.pump();
    t.equal(r.phone.connected?.role, boxRole === 'server' ? 'client' : 'server', 'the phone completed its handshake');
    const done = r.events.find((e) => e.type === 'keying');
    t.match(done, { type: 'keying', sessionId: 's', leg: 'a', state: 'done', dtls: { role: boxRole, profile: r.phone.connected!.profile } }, 'keying done, with the profile');
    t.notOk(JSON.stringify(r.events).includes(Buffer.from(r.phone.connected!.srtp.localTx.masterKey).toString('hex')), 'no key in any event');
    const a = await r.stats('a');
    t.equal(a.security, 'srtp', 'the leg runs SRTP');
    t.equal(a.dtls, 'connected');
    t.equal(a.suite, r.phone.connected!.srtp.localRx.suite, 'the suite the profile names');
    await audioBothWays(t, r, 10, boxRole);
    await r.engine.close();
  });
}

t.test('a certificate that does not match the SDP fingerprint fails the leg: keying failed, never media in the clear', async (t) => {
  const r = await rig({ boxRole: 'server', expects: cert('someone-else').fingerprint });
  r.phone.ep!.start();
  r.pump();
  const failed = r.events.find((e) => e.type === 'keying');
  t.match(failed, { type: 'keying', leg: 'a', state: 'failed', reason: /^dtls: bad-certificate/ }, 'failed with the reason');
  t.notOk(r.phone.connected, 'the phone is not connected either');
  const a = await r.stats('a');
  t.equal(a.security, 'srtp-pending');
  t.equal(a.dtls, 'failed');
  r.bSock.deliver(voice(2, 0x42, 0xb0b), BOB);
  t.equal(r.mediaToPhone(0).length, 0, 'nothing to the phone');
  t.equal((await r.stats('a')).dropped['no-keys'], 1, 'dropped as no-keys');
  await r.engine.close();
});

t.test('a box client whose phone never answers gives up on the engine clock (RFC 6347 4.2.4.1 backoff) and reports it', async (t) => {
  const r = await rig({ boxRole: 'client' });
  const hellos = (): number => r.aSock.sent.filter((s) => s.data[0] === 22).length;
  t.equal(hellos(), 1, 'the ClientHello went out as soon as the phone\'s address was known');
  r.clock.advance(1000);
  t.equal(hellos(), 2, 'sent again after 1 s');
  r.clock.advance(2000);
  t.equal(hellos(), 3, 'then after 2 s more');
  r.clock.advance(200_000);
  t.match(r.events.find((e) => e.type === 'keying'), { state: 'failed', reason: /^dtls: timeout/ }, 'a timeout, reported once');
  t.equal(r.events.filter((e) => e.type === 'keying').length, 1);
  await r.engine.close();
  t.equal(r.clock.timerCount, 0, 'no timer left behind once the engine closed');
});

t.test('DTLS only from the leg\'s own phone; a stranger\'s ClientHello is dropped and answered nothing', async (t) => {
  const r = await rig({ boxRole: 'server' });
  const stranger = new DtlsEndpoint({
    role: 'client', certificate: cert('phone'), expectedFingerprint: r.boxCert.fingerprint, clock: r.clock, random: seededRandom(3), counters: new Counters(),
    send: (d) => r.aSock.deliver(d, STRANGER),
  });
  stranger.start();
  t.equal((await r.stats('a')).dropped['foreign-host'], 1, 'counted as foreign-host');
  t.equal(r.aSock.sent.length, 0, 'nothing sent back');
  // The genuine phone still gets through afterwards.
  r.phone.ep!.start();
  r.pump();
  t.ok(r.phone.connected, 'the phone connects');
  await r.engine.close();
});

t.test('DTLS restart (a new offer, a new fingerprint): the old keys carry the audio until the new handshake completes', async (t) => {
  const r = await rig({ boxRole: 'server' });
  r.phone.ep!.start();
  r.pump();
  await audioBothWays(t, r, 100, 'first association');
  const oldKeys = r.phone.connected!;
  // The same association again (a re-INVITE for hold/resume): nothing restarts.
  await r.engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', security: r.security(1) });
  t.equal(r.counters.get('media.dtls.restart'), 0, 'a re-offer of the same association keeps it');
  const newCert = cert('phone-2');
  await r.engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', security: r.security(2, newCert.fingerprint) });
  t.equal(r.counters.get('media.dtls.restart'), 1, 'a new association restarts');
  t.equal((await r.stats('a')).security, 'srtp', 'the leg stays keyed meanwhile');
  // Media under the old keys still flows while the new handshake runs.
  const out = new SrtpSession(oldKeys.srtp.localTx);
  const mark = r.bSock.sent.length;
  r.aSock.deliver(ok(out.protectRtp(voice(200, 0x21))), PHONE);
  t.equal(r.bSock.sent.length, mark + 1, 'old keys still accepted during the restart');
  // The phone restarts with its new certificate.
  r.phone.ep = r.makePhone(newCert);
  r.phone.ep.start();
  r.pump();
  t.ok(r.phone.connected, 'the new handshake completes');
  t.not(Buffer.from(r.phone.connected!.srtp.localTx.masterKey).toString('hex'), Buffer.from(oldKeys.srtp.localTx.masterKey).toString('hex'), 'with new keys');
  t.equal(r.events.filter((e) => e.type === 'keying' && e.state === 'done').length, 2, 'a second keying done');
  await audioBothWays(t, r, 300, 'after the restart');
  await r.engine.close();
});

t.test('ICE-lite: only authenticated checks are answered, and they choose where the box sends (SDP 0.0.0.0:9)', async (t) => {
  const ice = { localUfrag: 'boxU', localPwd: 'box-password-0123456789', remoteUfrag: 'webU' };
  const r = await rig({ boxRole: 'server', ice, sdp: { address: '0.0.0.0', port: 9 } });
  const tid = (n: number): Buffer => Buffer.alloc(12, n);
  const send = (m: Buffer, from = PHONE): void => r.aSock.deliver(m, from);
  send(Buffer.from('000100002112a442' + '0102030405060708090a0b0c', 'hex'));
  send(buildIceCheck(tid(1), 'boxU:webU', 'wrong-password-000000000'));
  send(buildIceCheck(tid(2), 'other:webU', ice.localPwd));
  send(buildIceCheck(tid(3), 'boxU:someoneElse', ice.localPwd));
  let a = await r.stats('a');
  t.same(
    { u: a.dropped['ice-no-username'], i: a.dropped['ice-bad-integrity'], n: a.dropped['ice-bad-username'] },
    { u: 1, i: 1, n: 2 }, 'no username, a wrong password, wrong ufrags: dropped and counted',
  );
  t.equal(r.aSock.sent.length, 0, 'and answered nothing');
  t.equal(a.ice, 'waiting');
  // DTLS before any check chose the phone: nobody's.
  r.phone.ep!.start();
  t.equal((await r.stats('a')).dropped['foreign-host'], 1, 'DTLS before ICE chose the address is dropped');
  send(buildIceCheck(tid(4), 'boxU:webU', ice.localPwd, { useCandidate: true }));
  t.equal(r.aSock.sent.length, 1, 'the genuine check is answered');
  const reply = r.aSock.sent[0]!;
  t.same({ address: reply.address, port: reply.port }, PHONE, 'to where it came from');
  const parsed = parseStun(reply.data);
  t.ok(parsed.ok && parsed.message.type === 0x0101 && parsed.message.hasFingerprint, 'a Binding success with FINGERPRINT');
  if (parsed.ok) {
    t.same(Buffer.from(parsed.message.transactionId), tid(4), 'for that transaction');
    t.same(readXorMappedAddress(reply.data, parsed.message), PHONE, 'mapping the phone\'s address');
    // The response is keyed with our password too (RFC 8445 7.2.5.2.1 lets the controlling side check it).
    t.match(verifyIceCheck(reply.data, { ...parsed.message }, { localUfrag: 'x', localPwd: ice.localPwd }), 'ice-no-username', 'carries no USERNAME');
  }
  a = await r.stats('a');
  t.equal(a.ice, 'selected');
  t.same(a.remote, PHONE, 'the box now sends to the checked address');
  // The browser retransmits its ClientHello (1 s) and the handshake completes on the chosen pair.
  r.clock.advance(1000);
  r.pump();
  t.ok(r.phone.connected, 'handshake completes after ICE');
  await audioBothWays(t, r, 500, 'ICE + DTLS');
  // An ICE restart (new credentials on the same association): the old pair keeps the audio.
  const ice2 = { localUfrag: 'boxV', localPwd: 'box-password-abcdefghij', remoteUfrag: 'webV' };
  await r.engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', security: { kind: 'dtls', dtls: { role: 'server', fingerprint: r.phone.certificate.fingerprint, association: 1, ice: ice2 } } });
  t.equal(r.counters.get('media.ice.restart'), 1, 'an ICE restart');
  t.equal(r.counters.get('media.dtls.restart'), 0, 'not a DTLS restart');
  const m = r.aSock.sent.length;
  send(buildIceCheck(tid(5), 'boxU:webU', ice.localPwd));
  t.equal(r.aSock.sent.length, m, 'the old credentials no longer work');
  send(buildIceCheck(tid(6), 'boxV:webV', ice2.localPwd, { useCandidate: true }));
  t.equal(r.aSock.sent.length, m + 1, 'the new ones do');
  await audioBothWays(t, r, 600, 'after the ICE restart');
  await r.engine.close();
});

t.test('ICE-lite, box as DTLS client, the SDP naming the very address the checks come from (chromium): the first check selects it, then the handshake starts', async (t) => {
  const ice = { localUfrag: 'boxU', localPwd: 'box-password-0123456789', remoteUfrag: 'webU' };
  const r = await rig({ boxRole: 'client', ice, sdp: PHONE });
  t.equal(r.aSock.sent.length, 0, 'no ClientHello before a connectivity check proved the address');
  r.aSock.deliver(buildIceCheck(Buffer.alloc(12, 7), 'boxU:webU', ice.localPwd), PHONE);
  const a = await r.stats('a');
  t.equal(a.ice, 'selected', 'a check from the SDP address selects it');
  t.equal(r.counters.get('media.ice.selected'), 1, 'counted');
  t.ok(r.aSock.sent.some((s) => s.data[0] === 22), 'and the ClientHello goes out');
  r.phone.ep!.start();
  r.pump();
  t.ok(r.phone.connected, 'the handshake completes: the phone\'s flights from that address are not foreign');
  t.equal((await r.stats('a')).dropped['foreign-host'] ?? 0, 0, 'nothing dropped as foreign');
  await audioBothWays(t, r, 700, 'ICE from the SDP address + DTLS client');
  await r.engine.close();
});

t.test('10^5 mutated DTLS records from the phone into an established leg: no crash, each counted, the keys survive', async (t) => {
  const r = await rig({ boxRole: 'server' });
  const captured: Buffer[] = [];
  // Capture the phone's own flights, to mutate.
  const phoneSent = r.aSock.deliver.bind(r.aSock);
  r.aSock.deliver = (m, from) => { captured.push(Buffer.from(m)); phoneSent(m, from); };
  r.phone.ep!.start();
  r.pump();
  t.ok(r.phone.connected, 'established');
  r.aSock.deliver = phoneSent;
  const dtlsCounted = (): number => Object.entries(r.counters.snapshot())
    .filter(([k]) => k.startsWith('dtls-drop-') || k === 'dtls-record-ok' || k.startsWith('media.drop.'))
    .reduce((n, [, v]) => n + v, 0);
  const rnd = seededRandom(77);
  const N = 100_000;
  let uncounted = 0;
  for (let i = 0; i < N; i++) {
    const d = mutateDtlsDatagram(captured[rnd.int(captured.length)]!, rnd);
    const before = dtlsCounted();
    r.aSock.deliver(d, PHONE);
    if (dtlsCounted() === before) uncounted++;
  }
  t.equal(uncounted, 0, 'every mutated datagram moved a counter');
  t.equal(r.counters.get('media.packet-error'), 0, 'no exception on the packet path');
  t.equal((await r.stats('a')).dtls, 'connected', 'the association stands');
  await audioBothWays(t, r, 900, 'after the mutations');
  await r.engine.close();
});

t.test('end-to-end DTLS between two srtp-relay legs passes byte for byte; never to a leg the box keys', async (t) => {
  const net = new FakeNet();
  const engine = new MediaEngine({ bindAddress: '0.0.0.0', advertiseAddress: 'x', portRange: { min: 20000, max: 20099 }, clock: new FakeClock(), socketFactory: net.factory });
  await engine.request({ op: 'create', sessionId: 's' });
  const la = await engine.request({ op: 'add-leg', sessionId: 's', leg: 'a', remote: remote(PHONE), security: { kind: 'srtp-relay' } });
  const lb = await engine.request({ op: 'add-leg', sessionId: 's', leg: 'b', remote: remote(BOB), security: { kind: 'srtp-relay' } });
  const lc = await engine.request({ op: 'add-leg', sessionId: 's', leg: 'c', remote: remote({ address: '10.0.0.4', port: 7000 }) });
  if (la.op !== 'add-leg' || lb.op !== 'add-leg' || lc.op !== 'add-leg') throw new Error('add-leg');
  await engine.request({ op: 'connect', sessionId: 's', from: 'a', to: 'b' });
  await engine.request({ op: 'connect', sessionId: 's', from: 'a', to: 'c' });
  const record = Buffer.from('16fefd0000000000000000000c010000000000000000000000', 'hex');
  net.at(la.local.rtpPort).deliver(record, PHONE);
  t.same(net.at(lb.local.rtpPort).sent.map((s) => s.data), [record], 'the record reaches the other relay leg untouched');
  t.equal(net.at(lc.local.rtpPort).sent.length, 0, 'and not the plain leg');
  net.at(la.local.rtpPort).deliver(record, STRANGER);
  t.equal(net.at(lb.local.rtpPort).sent.length, 1, 'a stranger\'s record goes nowhere');
  await engine.close();
});

t.test('requests: a dtls leg needs the factory; hostile specs are refused and change nothing', async (t) => {
  const net = new FakeNet();
  const plain = new MediaEngine({ bindAddress: '0.0.0.0', advertiseAddress: 'x', portRange: { min: 20000, max: 20099 }, clock: new FakeClock(), socketFactory: net.factory });
  await plain.request({ op: 'create', sessionId: 's' });
  const spec: LegSecurity = { kind: 'dtls', dtls: { role: 'server', fingerprint: cert('phone').fingerprint, association: 1 } };
  await t.rejects(plain.request({ op: 'add-leg', sessionId: 's', leg: 'a', security: spec }), { code: 'config' }, 'no factory: config');
  t.equal(net.bound.size, 0, 'no port taken');
  const r = await rig({ boxRole: 'server' });
  const bad = [
    { kind: 'dtls' },
    { kind: 'dtls', dtls: { role: 'both', fingerprint: cert('phone').fingerprint, association: 1 } },
    { kind: 'dtls', dtls: { role: 'server', fingerprint: { algorithm: 'sha-256', value: 'x'.repeat(500) }, association: 1 } },
    { kind: 'dtls', dtls: { role: 'server', fingerprint: cert('phone').fingerprint, association: 'one' } },
    { kind: 'dtls', dtls: { role: 'server', fingerprint: cert('phone').fingerprint, association: 1, ice: { localUfrag: '', localPwd: 'p' } } },
  ];
  for (const b of bad) {
    await t.rejects(r.engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', security: b as unknown as LegSecurity }), { code: 'protocol' }, JSON.stringify(b).slice(0, 80));
  }
  // Shape right, content wrong: the factory refuses (an md5 fingerprint, an unknown profile).
  await t.rejects(r.engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', security: { kind: 'dtls', dtls: { role: 'server', fingerprint: { algorithm: 'md5', value: 'AA:BB' }, association: 7 } } }), { code: 'protocol' });
  await t.rejects(r.engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', security: { kind: 'dtls', dtls: { role: 'server', fingerprint: cert('phone').fingerprint, association: 8, profiles: ['SRTP_NULL'] } } }), { code: 'protocol' });
  r.phone.ep!.start();
  r.pump();
  t.ok(r.phone.connected, 'the leg still runs its first association');
  await r.engine.close();
  await plain.close();
});
