/**
 * The engine with SRTP legs, over real UDP sockets on 127.0.0.1, with real
 * SrtpSession objects on the phones' side: bridging SRTP to RTP and SRTP to
 * SRTP under different keys, relaying end-to-end SRTP untouched, replayed and
 * tampered packets dropped and counted on the real receive path (RFC 3711
 * 3.3, 3.3.2), rekeying (RFC 4568 7.1.4) and new SSRCs (RFC 3711 3.3.1).
 */
import t from 'tap';
import { Counters, FakeClock } from '../../firmware/core/index.js';
import {
  MediaEngine, REKEY_OVERLAP_PACKETS, parseRtp, type LegSecurity, type LegStats, type RemoteMedia,
} from '../../firmware/media/index.js';
import { SRTP_SUITES, SrtpSession, type SrtpSessionOptions, type SrtpSuiteName } from '../../firmware/media/srtp/index.js';
import { Phone, answerB, legOf, ok, rtcpRR, rtp, twoLegs } from './helpers.js';

const LO = '127.0.0.1';
const RANGE = { min: 43000, max: 43999 };

let keyByte = 1;
/** Distinct keys for each call: every byte of key and salt is one counter value. */
function key(suite: SrtpSuiteName = 'AES_CM_128_HMAC_SHA1_80'): SrtpSessionOptions {
  const s = SRTP_SUITES[suite];
  const k = keyByte++;
  return { suite, masterKey: Buffer.alloc(s.keyLength, k), masterSalt: Buffer.alloc(s.saltLength, k ^ 0x5a) };
}

function remote(port: number): RemoteMedia {
  // rtcp-mux (RFC 5761): each test phone has one socket for both.
  return { rtp: { address: LO, port }, rtcp: { address: LO, port }, rtcpMux: true, direction: 'sendrecv' };
}



interface HasTeardown { teardown(fn: () => unknown): void }

async function rig(t: HasTeardown, a: LegSecurity, b: LegSecurity) {
  const clock = new FakeClock();
  const counters = new Counters();
  const engine = new MediaEngine({ bindAddress: LO, advertiseAddress: LO, portRange: RANGE, clock, counters });
  const alice = await Phone.open();
  const bob = await Phone.open();
  const local = await twoLegs(engine, 's', { a: remote(alice.port) });
  await answerB(engine, 's', remote(bob.port), { a, b });
  t.teardown(async () => { alice.close(); bob.close(); await engine.close(); });
  const legStats = async (leg: 'a' | 'b'): Promise<LegStats> => {
    const r = await engine.request({ op: 'stats', sessionId: 's' });
    if (r.op !== 'stats') throw new Error('stats');
    return legOf(r.sessions[0], leg);
  };
  return { engine, clock, counters, alice, bob, a: local.a, b: local.b, legStats };
}

const voice = (seq: number, ssrc = 0xa11ce, fill = 0xd5): Buffer => rtp({ pt: 0, seq, ts: seq * 160, ssrc, payload: Buffer.alloc(160, fill) });

t.test('bridge SRTP <-> RTP: the box decrypts what alice sends and encrypts what bob sends her (RFC 3711 3.3)', async (t) => {
  const aliceTx = key(); // alice's a=crypto: keys what she sends
  const boxTx = key('AES_CM_128_HMAC_SHA1_32'); // the box's answer toward alice
  const r = await rig(t, { kind: 'srtp', rx: aliceTx, tx: boxTx }, { kind: 'rtp' });
  const aliceOut = new SrtpSession(aliceTx);
  const aliceIn = new SrtpSession(boxTx);
  const clear = voice(1);
  const prot = ok(aliceOut.protectRtp(clear));
  t.equal(prot.length, clear.length + 10, 'HMAC-SHA1-80: a 10-byte tag');
  await r.alice.send(prot, r.a.rtpPort);
  t.same((await r.bob.next()).msg, clear, 'bob gets plain RTP, byte for byte what alice encrypted');

  const back = voice(7, 0xb0b, 0x55);
  await r.bob.send(back, r.b.rtpPort);
  const got = (await r.alice.next()).msg;
  t.equal(got.length, back.length + 4, 'HMAC-SHA1-32 toward alice: a 4-byte tag');
  t.not(got.subarray(12, 172).toString('hex'), back.subarray(12).toString('hex'), 'the payload on the wire is not the clear one');
  t.same(ok(aliceIn.unprotectRtp(got)), back, 'alice decrypts it with the box\'s key');

  // SRTCP both ways (RFC 3711 3.4): decrypted for bob, encrypted for alice.
  const rr = rtcpRR(0xa11ce, [{ ssrc: 0xb0b, fraction: 0, cumulative: 0, highest: 7, jitter: 1 }]);
  await r.alice.send(ok(aliceOut.protectRtcp(rr)), r.a.rtcpPort);
  t.same((await r.bob.next()).msg, rr, 'SRTCP from alice reaches bob as RTCP');
  t.ok((await r.legStats('a')).remoteReport, 'the decrypted report is read');
  const bobRr = rtcpRR(0xb0b);
  await r.bob.send(bobRr, r.b.rtcpPort);
  t.same(ok(aliceIn.unprotectRtcp((await r.alice.next()).msg)), bobRr, 'RTCP from bob reaches alice as SRTCP');

  const a = await r.legStats('a');
  t.equal(a.security, 'srtp');
  t.equal(a.suite, 'AES_CM_128_HMAC_SHA1_80', 'stats name the suite, never the key');
  t.notMatch(JSON.stringify(a), Buffer.from(aliceTx.masterKey).toString('base64'), 'no key in the stats');
  t.equal((await r.legStats('b')).security, 'rtp');
});

t.test('bridge SRTP <-> SRTP with different keys on each leg (AES-CM to AES-GCM, RFC 7714)', async (t) => {
  const aRx = key(); const aTx = key();
  const bRx = key('AEAD_AES_128_GCM'); const bTx = key('AEAD_AES_128_GCM');
  const r = await rig(t, { kind: 'srtp', rx: aRx, tx: aTx }, { kind: 'srtp', rx: bRx, tx: bTx });
  const aliceOut = new SrtpSession(aRx); const aliceIn = new SrtpSession(aTx);
  const bobOut = new SrtpSession(bRx); const bobIn = new SrtpSession(bTx);
  for (let seq = 100; seq < 105; seq++) {
    const clear = voice(seq);
    const sent = ok(aliceOut.protectRtp(clear));
    await r.alice.send(sent, r.a.rtpPort);
    const wire = (await r.bob.next()).msg;
    t.equal(wire.length, clear.length + 16, 'GCM toward bob: a 16-byte tag');
    t.not(wire.subarray(12).toString('hex'), sent.subarray(12).toString('hex'), 're-encrypted, not forwarded');
    t.same(ok(bobIn.unprotectRtp(wire)), clear);
  }
  const fromBob = voice(1, 0xb0b, 0x11);
  await r.bob.send(ok(bobOut.protectRtp(fromBob)), r.b.rtpPort);
  t.same(ok(aliceIn.unprotectRtp((await r.alice.next()).msg)), fromBob, 'and back under alice\'s keys');
  t.equal((await r.legStats('b')).suite, 'AEAD_AES_128_GCM');
});

t.test('relay of end-to-end SRTP: packets pass byte for byte, SRTCP is not parsed, payload types are never rewritten', async (t) => {
  const r = await rig(t, { kind: 'srtp-relay' }, { kind: 'srtp-relay' });
  const k = key();
  const aliceOut = new SrtpSession(k);
  const bobIn = new SrtpSession(k);
  // Padding inside an encrypted payload cannot be checked; the box must not try.
  const sent = ok(aliceOut.protectRtp(rtp({ pt: 0, seq: 5, ssrc: 0xa, payload: Buffer.alloc(40, 1), pad: 4 })));
  await r.alice.send(sent, r.a.rtpPort);
  const wire = (await r.bob.next()).msg;
  t.same(wire, sent, 'untouched');
  t.ok(typeof bobIn.unprotectRtp(wire) !== 'string', 'and bob can still authenticate it');
  const srtcp = ok(aliceOut.protectRtcp(rtcpRR(0xa)));
  await r.alice.send(srtcp, r.a.rtcpPort);
  t.same((await r.bob.next()).msg, srtcp, 'SRTCP passes too (its compound check would fail on ciphertext)');
  await t.rejects(r.engine.request({ op: 'connect', sessionId: 's', from: 'b', to: 'a', ptMap: { 96: 97 } }), { code: 'protocol' },
    'a payload type map on an end-to-end SRTP call is refused: it would break the tag');
  await t.rejects(r.engine.request({ op: 'connect', sessionId: 's', from: 'a', to: 'b', ptMap: { 0: 8 } }), { code: 'protocol' }, 'either way');
  t.same((await r.legStats('a')).dropped, {});
  t.equal((await r.legStats('a')).security, 'srtp-relay');
});

t.test('replayed and tampered SRTP sent at the box\'s port are dropped and counted; audio continues (RFC 3711 3.3.2)', async (t) => {
  const k = key();
  const r = await rig(t, { kind: 'srtp', rx: k, tx: key() }, { kind: 'rtp' });
  const alice = new SrtpSession(k);
  const first = ok(alice.protectRtp(voice(1)));
  await r.alice.send(first, r.a.rtpPort);
  t.same((await r.bob.next()).msg, voice(1));
  await r.alice.send(first, r.a.rtpPort);
  const second = ok(alice.protectRtp(voice(2)));
  const tampered = Buffer.from(second);
  tampered[20]! ^= 0x01;
  await r.alice.send(tampered, r.a.rtpPort);
  const forged = Buffer.from(second);
  forged[forged.length - 1]! ^= 0x80; // the tag itself
  await r.alice.send(forged, r.a.rtpPort);
  await r.alice.send(second, r.a.rtpPort);
  t.same((await r.bob.next()).msg, voice(2), 'the genuine packet after them still passes');
  t.equal(r.bob.pendingCount, 0, 'nothing else reached bob');
  const a = await r.legStats('a');
  t.equal(a.dropped['srtp-replay'], 1, 'the replay is counted');
  t.equal(a.dropped['srtp-auth'], 2, 'both tampered packets are counted');
  t.equal(r.counters.get('media.drop.srtp-replay'), 1);
  t.equal(r.counters.get('media.drop.srtp-auth'), 2);
  t.equal(a.packetsIn, 5);
});

t.test('a forged packet from another source cannot move the latch, even after silence', async (t) => {
  const k = key();
  const intruder = await Phone.open();
  t.teardown(() => intruder.close());
  const r = await rig(t, { kind: 'srtp', rx: k, tx: key() }, { kind: 'rtp' });
  const alice = new SrtpSession(k);
  await r.alice.send(ok(alice.protectRtp(voice(1))), r.a.rtpPort);
  await r.bob.next();
  r.clock.advance(5_000);
  const wrongKey = new SrtpSession(key());
  await intruder.send(ok(wrongKey.protectRtp(voice(2))), r.a.rtpPort);
  await intruder.send(ok(wrongKey.protectRtp(voice(3))), r.a.rtpPort);
  await r.alice.send(ok(alice.protectRtp(voice(2))), r.a.rtpPort);
  t.same((await r.bob.next()).msg, voice(2));
  const a = await r.legStats('a');
  t.same(a.remote, { address: LO, port: r.alice.port }, 'still latched to alice');
  t.equal(a.dropped['srtp-auth'], 1, 'the second candidate packet failed authentication');
});

t.test('a moved phone is followed with packets its receive context has not seen; a restart under the same key is a replay (RFC 3711 3.3.2)', async (t) => {
  const k = key();
  const moved = await Phone.open();
  t.teardown(() => moved.close());
  const r = await rig(t, { kind: 'srtp', rx: k, tx: key() }, { kind: 'rtp' });
  const phone = new SrtpSession(k);
  for (let seq = 30000; seq < 30003; seq++) {
    await r.alice.send(ok(phone.protectRtp(voice(seq))), r.a.rtpPort);
    await r.bob.next();
  }
  r.clock.advance(2_500);
  // A stack restarted under the same key and SSRC counts from 10 again: the
  // same keystream indices as packets already seen, so the box must refuse them
  // (the latch move keeps the context); the phone has to rekey through SDP.
  const restarted = new SrtpSession(k);
  await moved.send(ok(restarted.protectRtp(voice(10))), r.a.rtpPort);
  await moved.send(ok(restarted.protectRtp(voice(11))), r.a.rtpPort);
  // The same phone behind a new NAT mapping, carrying on its own sequence.
  await moved.send(ok(phone.protectRtp(voice(30003))), r.a.rtpPort);
  await moved.send(ok(phone.protectRtp(voice(30004))), r.a.rtpPort);
  t.same((await r.bob.next()).msg, voice(30004), 'the second in-sequence genuine packet relatches and is accepted');
  await moved.send(ok(phone.protectRtp(voice(30005))), r.a.rtpPort);
  t.same((await r.bob.next()).msg, voice(30005));
  const a = await r.legStats('a');
  t.same(a.remote, { address: LO, port: moved.port });
  t.equal(a.dropped['srtp-old'], 1, 'the restarted stream\'s take-over packet is older than the window: refused');
  t.equal(a.dropped['unexpected-source'], 2, 'the first candidate packet of each attempt');
  t.equal(r.counters.get('media.relatch'), 1);
});

t.test('rekey by update: no gap (old-key packets in flight still pass), send key kept unless it changed (RFC 4568 7.1.4)', async (t) => {
  const aRx1 = key(); const aTx = key();
  const r = await rig(t, { kind: 'srtp', rx: aRx1, tx: aTx }, { kind: 'rtp' });
  const alice1 = new SrtpSession(aRx1);
  const aliceIn = new SrtpSession(aTx);
  await r.alice.send(ok(alice1.protectRtp(voice(1))), r.a.rtpPort);
  await r.bob.next();
  await r.bob.send(voice(1, 0xb0b), r.b.rtpPort);
  t.same(ok(aliceIn.unprotectRtp((await r.alice.next()).msg)), voice(1, 0xb0b));

  const aRx2 = key();
  await r.engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', remote: remote(r.alice.port), security: { kind: 'srtp', rx: aRx2, tx: aTx } });
  await r.alice.send(ok(alice1.protectRtp(voice(2))), r.a.rtpPort);
  t.same((await r.bob.next()).msg, voice(2), 'a packet under the old key, sent before alice saw the answer, still passes');
  const alice2 = new SrtpSession(aRx2);
  await r.alice.send(ok(alice2.protectRtp(voice(3))), r.a.rtpPort);
  t.same((await r.bob.next()).msg, voice(3), 'the new key works at once');
  await r.bob.send(voice(2, 0xb0b), r.b.rtpPort);
  t.same(ok(aliceIn.unprotectRtp((await r.alice.next()).msg)), voice(2, 0xb0b), 'the box kept its send key and context: alice needs nothing new');

  for (let i = 0; i < REKEY_OVERLAP_PACKETS; i++) {
    await r.alice.send(ok(alice2.protectRtp(voice(4 + i))), r.a.rtpPort);
    await r.bob.next();
  }
  await r.alice.send(ok(alice1.protectRtp(voice(4 + REKEY_OVERLAP_PACKETS))), r.a.rtpPort);
  await r.alice.send(ok(alice2.protectRtp(voice(5 + REKEY_OVERLAP_PACKETS))), r.a.rtpPort);
  t.same((await r.bob.next()).msg, voice(5 + REKEY_OVERLAP_PACKETS));
  t.equal((await r.legStats('a')).dropped['srtp-auth'], 1, 'once the new key is established, the old one is gone');

  const aTx2 = key();
  await r.engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', remote: remote(r.alice.port), security: { kind: 'srtp', rx: aRx2, tx: aTx2 } });
  await r.bob.send(voice(3, 0xb0b), r.b.rtpPort);
  const wire = (await r.alice.next()).msg;
  t.equal(aliceIn.unprotectRtp(wire), 'srtp-auth', 'a new send key replaces the old one');
  t.same(ok(new SrtpSession(aTx2).unprotectRtp(wire)), voice(3, 0xb0b));
  await t.rejects(r.engine.request({
    op: 'update-leg', sessionId: 's', leg: 'a', remote: remote(r.alice.port),
    security: { kind: 'srtp', rx: { ...aRx2, masterKey: Buffer.alloc(3) }, tx: aTx2 },
  }), { code: 'config' }, 'a bad key is refused and changes nothing');
  await r.bob.send(voice(4, 0xb0b), r.b.rtpPort);
  t.equal((await r.alice.next()).msg.length, voice(4, 0xb0b).length + 10, 'the call carries on under the keys it had');
});

t.test('an SSRC change starts that stream\'s rollover counter afresh (RFC 3711 3.3.1)', async (t) => {
  const k = key();
  const r = await rig(t, { kind: 'srtp', rx: k, tx: key() }, { kind: 'rtp' });
  const alice = new SrtpSession(k);
  // The first stream wraps its sequence numbers: its ROC becomes 1.
  for (const seq of [65534, 65535, 0, 1]) {
    await r.alice.send(ok(alice.protectRtp(voice(seq, 0x1))), r.a.rtpPort);
    t.same(parseRtp((await r.bob.next()).msg).ok, true);
  }
  // A new SSRC (hold/resume on many phones) starts at ROC 0 with a low sequence number.
  await r.alice.send(ok(alice.protectRtp(voice(3, 0x2))), r.a.rtpPort);
  t.same((await r.bob.next()).msg, voice(3, 0x2));
  t.same((await r.legStats('a')).dropped, {});
});
