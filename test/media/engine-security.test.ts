/**
 * The engine's media-path security, over real UDP sockets on loopback (a
 * second loopback address, 127.0.0.2, plays another host on the LAN) with the
 * clock injected:
 *  - SRTP legs fail closed: nothing reaches a leg whose SRTP keys the box
 *    does not hold yet (the issue "clear audio toward an SRTP leg before the
 *    callee answers"), nothing is taken from it either;
 *  - no latch before the leg's remote is known, and then only from the host
 *    its SDP names, on any port (symmetric RTP through NAT, RFC 4961);
 *  - a stranger spraying RTP, RTCP and STUN at the ports ("RTP bleed",
 *    CVE-2017-14099) is refused, counted, and answered nothing;
 *  - a replay from another address after silence can neither move the latch
 *    nor be accepted (the move keeps the receive context, RFC 3711 3.3.2).
 */
import t from 'tap';
import { Counters, FakeClock } from '../../firmware/core/index.js';
import {
  MediaEngine, RELATCH_SILENCE_MS, type LegStats, type RemoteMedia,
} from '../../firmware/media/index.js';
import { SRTP_SUITES, SrtpSession, type SrtpSessionOptions } from '../../firmware/media/srtp/index.js';
import { Phone, answerB, legOf, ok, rtcpRR, rtp, twoLegs, type TwoLegSecurity } from './helpers.js';

const LO = '127.0.0.1';
/** Another host on the "LAN": inside or outside a namespace, lo answers all of 127/8 on Linux. */
const STRANGER = '127.0.0.2';
const RANGE = { min: 44000, max: 44999 };
/** A STUN binding request (RFC 5389 6), no attributes. */
const STUN_REQUEST = Buffer.from('000100002112a442' + '0102030405060708090a0b0c', 'hex');

let keyByte = 0x40;
function key(): SrtpSessionOptions {
  const s = SRTP_SUITES.AES_CM_128_HMAC_SHA1_80;
  const k = keyByte++;
  return { suite: 'AES_CM_128_HMAC_SHA1_80', masterKey: Buffer.alloc(s.keyLength, k), masterSalt: Buffer.alloc(s.saltLength, k ^ 0x33) };
}

function remote(port: number, address = LO): RemoteMedia {
  return { rtp: { address, port }, rtcp: { address, port: port + 1 }, rtcpMux: false, direction: 'sendrecv' };
}



/** A 20 ms PCMU packet: 172 bytes, the size a plain phone sends. */
const voice = (seq: number, ssrc: number, fill: number): Buffer => rtp({ pt: 0, seq, ts: seq * 160, ssrc, payload: Buffer.alloc(160, fill) });

interface HasTeardown { teardown(fn: () => unknown): void }

async function engineRig(t: HasTeardown) {
  const clock = new FakeClock();
  const counters = new Counters();
  const engine = new MediaEngine({ bindAddress: LO, advertiseAddress: LO, portRange: RANGE, clock, counters });
  t.teardown(() => engine.close());
  const stats = async (): Promise<{ a: LegStats; b: LegStats }> => {
    const r = await engine.request({ op: 'stats', sessionId: 's' });
    if (r.op !== 'stats') throw new Error('stats');
    return { a: legOf(r.sessions[0], 'a'), b: legOf(r.sessions[0], 'b') };
  };
  return { clock, counters, engine, stats };
}

async function phone(t: HasTeardown, address = LO): Promise<Phone> {
  const p = await Phone.open(address);
  t.teardown(() => p.close());
  return p;
}

/**
 * Wait for a condition on the engine's own figures: datagrams are real, so
 * the test waits until the engine has seen them all (bounded), then asserts
 * on what it did with them.
 */
async function until<T>(what: string, f: () => Promise<T | undefined | false>, ms = 3_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const drops = (l: LegStats, reason: string): number => l.dropped[reason] ?? 0;

t.test('issue: an SDES caller gets nothing from the callee-side port while the callee rings; after the answer only SRTP', async (t) => {
  const { engine, counters, stats } = await engineRig(t);
  const alice = await phone(t);
  const bob = await phone(t);
  const stranger = await phone(t, STRANGER);
  // The caller offered SRTP: call control says so at offer time, before any key exists.
  const { a, b } = await twoLegs(engine, 's', { a: remote(alice.port), security: { a: { kind: 'srtp-pending' } } });
  // The callee rings. Its phone (or anyone) sends plain RTP at the box's callee-side port.
  for (let i = 0; i < 5; i++) await bob.send(voice(100 + i, 0xb0b, 0x55), b.rtpPort);
  for (let i = 0; i < 5; i++) await stranger.send(voice(200 + i, 0xbad, 0x66), b.rtpPort);
  await bob.send(rtcpRR(0xb0b), b.rtcpPort);
  // The caller's own SRTP, sent before it has the box's answer: the box cannot authenticate it yet.
  const aliceKey = key();
  const aliceOut = new SrtpSession(aliceKey);
  await alice.send(ok(aliceOut.protectRtp(voice(1, 0xa11ce, 0x11))), a.rtpPort);
  await alice.send(ok(aliceOut.protectRtp(voice(2, 0xa11ce, 0x11))), a.rtpPort);
  const st = await until('the engine to see all 13 datagrams', async () => {
    const s = await stats();
    return s.b.packetsIn === 11 && s.a.packetsIn === 2 ? s : undefined;
  });
  t.equal(drops(st.b, 'no-remote'), 11, 'the callee-side port forwards nothing before the callee\'s SDP is known');
  t.equal(drops(st.a, 'no-keys'), 2, 'unauthenticated SRTP from the caller is not relayed either');
  t.notOk(st.b.latched, 'nobody took the callee-side latch by sending first');
  t.notOk(st.a.latched, 'nor the caller\'s, before its packets can be authenticated');
  t.equal(st.a.packetsOut, 0, 'nothing was sent toward the caller');
  t.equal(st.a.security, 'srtp-pending');
  t.equal(counters.get('media.drop.no-remote'), 11);
  t.equal(counters.get('media.drop.no-keys'), 2);

  // The callee answers (or sends 183): both legs keyed at once, with the callee's address.
  const boxKey = key();
  await answerB(engine, 's', remote(bob.port), { a: { kind: 'srtp', rx: aliceKey, tx: boxKey }, b: { kind: 'rtp' } });
  const aliceIn = new SrtpSession(boxKey);
  for (let i = 0; i < 5; i++) {
    const clear = voice(300 + i, 0xb0b, 0x77);
    await bob.send(clear, b.rtpPort);
    const got = (await alice.next()).msg;
    t.equal(got.length, 182, 'SRTP with an 80-bit tag');
    t.same(ok(aliceIn.unprotectRtp(got)), clear, 'protected under the key the box\'s answer gave the caller');
  }
  await stranger.send(voice(205, 0xbad, 0x66), b.rtpPort);
  await alice.send(ok(aliceOut.protectRtp(voice(3, 0xa11ce, 0x11))), a.rtpPort);
  t.same((await bob.next()).msg, voice(3, 0xa11ce, 0x11), 'the caller reaches the callee');
  await until('the stranger\'s packet counted', async () => drops((await stats()).b, 'unexpected-source') === 1);
  t.equal(alice.pendingCount, 0, 'nothing else ever reached the caller: no packet in the clear');
  t.equal(stranger.pendingCount, 0);
});

t.test('a leg whose SRTP keys are pending stays closed when the other leg is answered, until its keys come', async (t) => {
  const { engine, stats } = await engineRig(t);
  const alice = await phone(t);
  const bob = await phone(t);
  const { b } = await twoLegs(engine, 's', { a: remote(alice.port), security: { a: { kind: 'srtp-pending' } } });
  // An answer that keys only leg b: leg a stays pending, so bob's RTP and RTCP are refused toward it.
  await answerB(engine, 's', remote(bob.port), { b: { kind: 'rtp' } });
  for (let i = 0; i < 3; i++) await bob.send(voice(10 + i, 0xb0b, 0x22), b.rtpPort);
  await bob.send(rtcpRR(0xb0b), b.rtcpPort);
  let st = await until('bob\'s packets refused', async () => { const s = await stats(); return drops(s.a, 'no-keys') === 4 ? s : undefined; });
  t.equal(st.a.packetsOut, 0, 'nothing in the clear toward a leg whose plan is SRTP');
  t.ok(st.b.latched, 'the callee\'s own packets did latch its leg');
  await t.rejects(engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', remote: remote(alice.port), security: { kind: 'rtp' } }), { code: 'protocol' },
    'an update cannot turn a pending SRTP leg into plain RTP');
  const boxKey = key();
  await engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', remote: remote(alice.port), security: { kind: 'srtp', rx: key(), tx: boxKey } });
  const clear = voice(20, 0xb0b, 0x23);
  await bob.send(clear, b.rtpPort);
  t.same(ok(new SrtpSession(boxKey).unprotectRtp((await alice.next()).msg)), clear, 'keyed: now it flows, protected');
  st = await stats();
  t.equal(st.a.packetsOut, 1);
  t.equal(alice.pendingCount, 0);
});

t.test('no latch before the remote is known; then only from the host the SDP names, on any port (NAT)', async (t) => {
  const { engine, stats } = await engineRig(t);
  const alice = await phone(t);
  const bobSdp = await phone(t); // where bob's SDP says it receives
  const bobNat = await phone(t); // where its packets really come from: same host, another port
  const stranger = await phone(t, STRANGER);
  const { a, b } = await twoLegs(engine, 's', { a: remote(alice.port) });
  await bobNat.send(voice(1, 0xb0b, 0x31), b.rtpPort);
  await until('the early packet', async () => drops((await stats()).b, 'no-remote') === 1);
  t.notOk((await stats()).b.latched, 'no latch before the callee\'s SDP is known');
  t.equal(alice.pendingCount, 0);

  await answerB(engine, 's', remote(bobSdp.port));
  for (let i = 0; i < 3; i++) await stranger.send(voice(50 + i, 0xbad, 0x66), b.rtpPort);
  await stranger.send(rtcpRR(0xbad), b.rtcpPort);
  let st = await until('the stranger refused', async () => { const s = await stats(); return drops(s.b, 'foreign-host') === 4 ? s : undefined; });
  t.notOk(st.b.latched, 'a packet from another host does not take the latch');
  t.equal(st.a.packetsOut, 0, 'and reaches nobody');

  const fromBob = voice(2, 0xb0b, 0x32);
  await bobNat.send(fromBob, b.rtpPort);
  t.same((await alice.next()).msg, fromBob, 'the SDP\'s host latches, from its NAT port');
  st = await stats();
  t.same(st.b.remote, { address: LO, port: bobNat.port });
  const fromAlice = voice(7, 0xa11ce, 0x41);
  await alice.send(fromAlice, a.rtpPort);
  t.same((await bobNat.next()).msg, fromAlice, 'symmetric RTP: the box answers where the packets came from');
  t.equal(bobSdp.pendingCount, 0);
  t.equal(stranger.pendingCount, 0, 'the stranger received nothing');
});

t.test('RTP bleed: a stranger spraying every port before and during a call is refused and counted, gets nothing back, and the parties hear only each other', async (t) => {
  const { engine, clock, counters, stats } = await engineRig(t);
  const alice = await phone(t);
  const bob = await phone(t);
  const stranger = await phone(t, STRANGER);
  const { a, b } = await twoLegs(engine, 's', { a: remote(alice.port) });
  let sprayed = 0;
  let seq = 1;
  const spray = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++, seq++) {
      // In-sequence RTP from one SSRC per port, as a capture-replaying attacker would send.
      for (const port of [a.rtpPort, b.rtpPort]) await stranger.send(voice(seq, 0xbad0000 + port, 0xee), port);
      for (const port of [a.rtcpPort, b.rtcpPort]) await stranger.send(rtcpRR(0xbad), port);
      await stranger.send(STUN_REQUEST, a.rtpPort);
      sprayed += 5;
    }
  };
  const processed = async (): Promise<boolean> => { const s = await stats(); return s.a.packetsIn + s.b.packetsIn >= sprayed; };
  // Before the answer, the moment CVE-2017-14099 exploits.
  await spray(10);
  await until('the first spray processed', processed);
  await answerB(engine, 's', remote(bob.port));
  await spray(10);
  await until('the second spray processed', processed);
  // Now the phones talk, with the spray going on between their packets.
  for (let i = 0; i < 10; i++) {
    const toBob = voice(1000 + i, 0xa11ce, 0x11);
    await alice.send(toBob, a.rtpPort);
    t.same((await bob.next()).msg, toBob);
    await spray(1);
    const toAlice = voice(2000 + i, 0xb0b, 0x22);
    await bob.send(toAlice, b.rtpPort);
    t.same((await alice.next()).msg, toAlice);
  }
  // Both phones fall silent (hold, a pause): the in-sequence spray must still not move a plain leg's latch.
  clock.advance(RELATCH_SILENCE_MS + 1_000);
  await spray(10);
  const probeA = voice(1010, 0xa11ce, 0x12);
  await alice.send(probeA, a.rtpPort);
  t.same((await bob.next()).msg, probeA, 'alice still reaches bob');
  const probeB = voice(2010, 0xb0b, 0x23);
  await bob.send(probeB, b.rtpPort);
  t.same((await alice.next()).msg, probeB, 'and bob alice');
  const fromPhones = 22;
  const st = await until('every datagram processed', async () => { const s = await stats(); return s.a.packetsIn + s.b.packetsIn >= sprayed + fromPhones ? s : undefined; });
  const refused = (l: LegStats): number => drops(l, 'no-remote') + drops(l, 'foreign-host') + drops(l, 'unexpected-source');
  t.equal(refused(st.a) + refused(st.b), sprayed, `all ${sprayed} sprayed datagrams refused`);
  t.equal(drops(st.b, 'no-remote'), 20, 'before the answer leg b has no remote: its 10 RTP and 10 RTCP refused as such');
  t.equal(st.a.remote?.port, alice.port, 'leg a is latched to alice');
  t.equal(st.b.remote?.port, bob.port, 'leg b is latched to bob');
  t.equal(st.a.packetsOut, 11, 'alice got bob\'s 11 packets and nothing else');
  t.equal(st.b.packetsOut, 11, 'bob got alice\'s 11 packets and nothing else');
  t.equal(alice.pendingCount + bob.pendingCount, 0);
  t.equal(stranger.pendingCount, 0, 'the stranger received nothing: no media, no RTCP, no STUN answer');
  t.equal(counters.get('media.relatch'), 0);
  t.equal(counters.get('media.stun.answered'), 0);
  t.ok(counters.get('media.drop.foreign-host') > 0 && counters.get('media.drop.unexpected-source') > 0, 'both refusals are counted by name');
});

t.test('a replay from another address after silence neither moves the latch nor passes; the context survives a re-offer under the same key', async (t) => {
  const { engine, clock, counters, stats } = await engineRig(t);
  const alice = await phone(t);
  const bob = await phone(t);
  const attacker = await phone(t, STRANGER);
  const aliceKey = key();
  const security: TwoLegSecurity = { a: { kind: 'srtp', rx: aliceKey, tx: key() }, b: { kind: 'rtp' } };
  const { a } = await twoLegs(engine, 's', { a: remote(alice.port), security: { a: { kind: 'srtp-pending' } } });
  await answerB(engine, 's', remote(bob.port), security);
  const stack = new SrtpSession(aliceKey);
  const captured: Buffer[] = [];
  for (let seq = 1; seq <= 5; seq++) {
    const wire = ok(stack.protectRtp(voice(seq, 0xa11ce, 0x10 + seq)));
    captured.push(wire);
    await alice.send(wire, a.rtpPort);
    await bob.next();
  }
  // Two seconds of silence, then two captured genuine packets, in sequence, from another host.
  clock.advance(RELATCH_SILENCE_MS + 500);
  await attacker.send(captured[3]!, a.rtpPort);
  await attacker.send(captured[4]!, a.rtpPort);
  let st = await until('the replays processed', async () => { const s = await stats(); return s.a.packetsIn === 7 ? s : undefined; });
  t.equal(drops(st.a, 'unexpected-source'), 1, 'the first replay is only a candidate');
  t.equal(drops(st.a, 'srtp-replay'), 1, 'the second would move the latch, but the kept replay window refuses it');
  t.same(st.a.remote, { address: LO, port: alice.port }, 'still latched to alice');
  t.equal(st.b.packetsOut, 5, 'no replay reached bob');
  t.equal(counters.get('media.relatch'), 0);

  // A re-INVITE (hold, resume) with the same key: the context is not reset, so a replay from alice's own address fails too.
  await engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', remote: remote(alice.port), security: security.a! });
  await alice.send(captured[4]!, a.rtpPort);
  const next = voice(6, 0xa11ce, 0x16);
  await alice.send(ok(stack.protectRtp(next)), a.rtpPort);
  t.same((await bob.next()).msg, next, 'the phone carries on');
  st = await stats();
  t.equal(drops(st.a, 'srtp-replay'), 2, 'the replay after the re-offer is refused');

  // A phone that really moved to another host and carries on its sequence is followed: its packets authenticate and are new.
  clock.advance(RELATCH_SILENCE_MS + 500);
  const moved = await phone(t, STRANGER);
  await moved.send(ok(stack.protectRtp(voice(7, 0xa11ce, 0x17))), a.rtpPort);
  await moved.send(ok(stack.protectRtp(voice(8, 0xa11ce, 0x18))), a.rtpPort);
  t.same((await bob.next()).msg, voice(8, 0xa11ce, 0x18));
  t.same((await stats()).a.remote, { address: STRANGER, port: moved.port });
  t.equal(counters.get('media.relatch'), 1);
  t.equal(bob.pendingCount, 0);
  t.equal(attacker.pendingCount, 0);
});

t.test('plain RTP: after silence another host cannot relatch even in sequence; the phone on its own host can', async (t) => {
  const { engine, clock, counters, stats } = await engineRig(t);
  const alice = await phone(t);
  const bob = await phone(t);
  const stranger = await phone(t, STRANGER);
  const nat = await phone(t);
  const { a, b } = await twoLegs(engine, 's', { a: remote(alice.port) });
  await answerB(engine, 's', remote(bob.port));
  await alice.send(voice(1, 0xa11ce, 1), a.rtpPort);
  await bob.next();
  clock.advance(RELATCH_SILENCE_MS + 500);
  for (let seq = 1; seq <= 4; seq++) await stranger.send(voice(seq, 0xbad, 0xee), a.rtpPort);
  await until('the stranger refused', async () => drops((await stats()).a, 'unexpected-source') === 4);
  await nat.send(voice(2, 0xa11ce, 2), a.rtpPort);
  await nat.send(voice(3, 0xa11ce, 3), a.rtpPort);
  t.same((await bob.next()).msg, voice(3, 0xa11ce, 3), 'a NAT rebinding on the SDP\'s host is followed');
  await bob.send(voice(9, 0xb0b, 9), b.rtpPort);
  t.same((await nat.next()).msg, voice(9, 0xb0b, 9));
  t.equal(counters.get('media.relatch'), 1);
  t.equal(stranger.pendingCount, 0);
});

t.test('end-to-end SRTP legs get only end-to-end SRTP; a downgrade by update is refused', async (t) => {
  const { engine, counters, stats } = await engineRig(t);
  const alice = await phone(t);
  const bob = await phone(t);
  const { b } = await twoLegs(engine, 's', { a: remote(alice.port) });
  // A mismatched plan (a bug in call control): the engine must still not send plain RTP to the SRTP phone.
  await answerB(engine, 's', remote(bob.port), { a: { kind: 'srtp-relay' }, b: { kind: 'rtp' } });
  await bob.send(voice(1, 0xb0b, 1), b.rtpPort);
  const st = await until('refused', async () => { const s = await stats(); return drops(s.a, 'no-keys') === 1 ? s : undefined; });
  t.equal(st.a.packetsOut, 0);
  await t.rejects(engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', remote: remote(alice.port), security: { kind: 'rtp' } }), { code: 'protocol' });
  t.equal(counters.get('media.security.downgrade-refused'), 1);
  t.equal((await stats()).a.security, 'srtp-relay', 'the refused update changed nothing');
  t.equal(alice.pendingCount, 0);
});
