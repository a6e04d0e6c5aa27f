/**
 * The relay over real UDP sockets on 127.0.0.1: in-test "phones" send RTP
 * through the engine. Time (latching silence, media timeout) comes from a
 * FakeClock; datagrams are real.
 */
import dgram from 'node:dgram';
import t from 'tap';
import fc from 'fast-check';
import { Counters, FakeClock } from '../../firmware/core/index.js';
import {
  MediaEngine, parseRtp, parseStun, readXorMappedAddress, type EngineEvent, type LegStats, type LocalMedia, type RemoteMedia,
} from '../../firmware/media/index.js';
import { Phone, answerB, legOf, rtcpRR, rtp, twoLegs } from './helpers.js';

const LO = '127.0.0.1';
const RANGE = { min: 42000, max: 42999 };

function remote(port: number, direction: RemoteMedia['direction'] = 'sendrecv', rtcpMux = false, rtcpPort = port + 1): RemoteMedia {
  return { rtp: { address: LO, port }, rtcp: { address: LO, port: rtcpPort }, rtcpMux, direction };
}


interface Rig {
  engine: MediaEngine;
  clock: FakeClock;
  counters: Counters;
  events: EngineEvent[];
  alice: Phone;
  bob: Phone;
  a: LocalMedia;
  b: LocalMedia;
  legStats(leg: 'a' | 'b'): Promise<LegStats>;
  portsInUse(): Promise<number>;
}

interface HasTeardown { teardown(fn: () => unknown): void }

async function rig(t: HasTeardown, opts: { aliceRemote?: (p: Phone) => RemoteMedia; bobRemote?: (p: Phone) => RemoteMedia; sessionId?: string } = {}): Promise<Rig> {
  const clock = new FakeClock();
  const counters = new Counters();
  const engine = new MediaEngine({ bindAddress: LO, advertiseAddress: '192.0.2.10', portRange: RANGE, clock, counters, mediaTimeoutMs: 60_000 });
  const events: EngineEvent[] = [];
  engine.onEvent((e) => events.push(e));
  const alice = await Phone.open();
  const bob = await Phone.open();
  const sessionId = opts.sessionId ?? 'call-1';
  const { a, b } = await twoLegs(engine, sessionId, { a: (opts.aliceRemote ?? ((p) => remote(p.port)))(alice) });
  await answerB(engine, sessionId, (opts.bobRemote ?? ((p) => remote(p.port)))(bob));
  t.teardown(async () => {
    alice.close();
    bob.close();
    await engine.close();
  });
  const stats = async () => {
    const r = await engine.request({ op: 'stats', sessionId });
    if (r.op !== 'stats') throw new Error('expected stats');
    return r;
  };
  return {
    engine, clock, counters, events, alice, bob, a, b,
    legStats: async (leg) => legOf((await stats()).sessions[0], leg),
    portsInUse: async () => (await stats()).portsInUse,
  };
}

t.test('two legs allocate two even/odd pairs and advertises the configured address', async (t) => {
  const r = await rig(t);
  t.equal(r.a.address, '192.0.2.10');
  t.equal(r.a.rtpPort % 2, 0);
  t.equal(r.a.rtcpPort, r.a.rtpPort + 1);
  t.not(r.a.rtpPort, r.b.rtpPort);
  t.equal(await r.portsInUse(), 4);
});

t.test('RTP relays both ways byte for byte; telephone-event (RFC 4733) untouched; first-packet events', async (t) => {
  const r = await rig(t);
  const voice = rtp({ pt: 0, seq: 1000, ts: 160, ssrc: 0xa11ce, payload: Buffer.alloc(160, 0xd5) });
  await r.alice.send(voice, r.a.rtpPort);
  const got = await r.bob.next();
  t.same(got.msg, voice, 'unchanged');
  t.same(got.from, { address: LO, port: r.b.rtpPort }, 'sent from leg b\'s own RTP port');
  const dtmf = rtp({ pt: 101, marker: true, seq: 1001, ts: 320, ssrc: 0xa11ce, payload: Buffer.from([5, 0x0a, 0x00, 0xa0]) });
  await r.alice.send(dtmf, r.a.rtpPort);
  t.same((await r.bob.next()).msg, dtmf);
  const back = rtp({ pt: 8, seq: 7, ssrc: 0xb0b });
  await r.bob.send(back, r.b.rtpPort);
  t.same((await r.alice.next()).msg, back);
  t.same(r.events, [
    { type: 'first-packet', sessionId: 'call-1', leg: 'a' },
    { type: 'first-packet', sessionId: 'call-1', leg: 'b' },
  ]);
  const a = await r.legStats('a');
  const b = await r.legStats('b');
  t.equal(a.packetsIn, 2);
  t.equal(a.bytesIn, voice.length + dtmf.length);
  t.equal(b.packetsOut, 2);
  t.equal(b.bytesOut, voice.length + dtmf.length);
  t.equal(a.packetsOut, 1);
  t.equal(a.lastPacketAt, r.clock.now());
  t.same(a.dropped, {});
});

t.test('payload type map rewrites PT per direction and keeps the marker bit', async (t) => {
  const r = await rig(t);
  await r.engine.request({ op: 'connect', sessionId: 'call-1', from: 'a', to: 'b', ptMap: { 96: 101 } });
  await r.engine.request({ op: 'connect', sessionId: 'call-1', from: 'b', to: 'a', ptMap: { 101: 96 } });
  await r.alice.send(rtp({ pt: 96, marker: true, seq: 1 }), r.a.rtpPort);
  const toBob = parseRtp((await r.bob.next()).msg);
  t.ok(toBob.ok && toBob.header.payloadType === 101 && toBob.header.marker);
  await r.alice.send(rtp({ pt: 0, seq: 2 }), r.a.rtpPort);
  const unmapped = parseRtp((await r.bob.next()).msg);
  t.ok(unmapped.ok && unmapped.header.payloadType === 0, 'unmapped PT passes as is');
  await r.bob.send(rtp({ pt: 101, seq: 9, ssrc: 2 }), r.b.rtpPort);
  const toAlice = parseRtp((await r.alice.next()).msg);
  t.ok(toAlice.ok && toAlice.header.payloadType === 96 && !toAlice.header.marker);
  await t.rejects(r.engine.request({ op: 'connect', sessionId: 'call-1', from: 'a', to: 'b', ptMap: { 96: 300 } }), { code: 'protocol' });
});

t.test('RTCP: relayed to the separate RTCP port, or to the RTP port under rtcp-mux; reports kept', async (t) => {
  const bobRtcp = await Phone.open();
  t.teardown(() => bobRtcp.close());
  const r = await rig(t, { bobRemote: (p) => remote(p.port, 'sendrecv', false, bobRtcp.port) });
  const rr = rtcpRR(0xa11ce, [{ ssrc: 0xb0b, fraction: 128, cumulative: 7, highest: 100, jitter: 160 }]);
  await r.alice.send(rr, r.a.rtcpPort);
  const got = await bobRtcp.next();
  t.same(got.msg, rr);
  t.equal(got.from.port, r.b.rtcpPort);
  const a = await r.legStats('a');
  t.same(a.remoteReport, { fractionLost: 0.5, cumulativeLost: 7, jitterMs: 20, at: r.clock.now() }, 'jitter 160 units at 8 kHz = 20 ms');
  // Now bob moves to rtcp-mux: RTCP for him goes to his RTP port, from leg b's RTP port.
  await r.engine.request({ op: 'update-leg', sessionId: 'call-1', leg: 'b', remote: remote(r.bob.port, 'sendrecv', true) });
  await r.alice.send(rr, r.a.rtpPort);
  const muxed = await r.bob.next();
  t.same(muxed.msg, rr, 'RTCP on alice\'s RTP port is accepted too');
  t.equal(muxed.from.port, r.b.rtpPort);
  const bad = Buffer.from(rr);
  bad[1] = 202; // SDES first: fails RFC 3550 A.2
  await r.alice.send(bad, r.a.rtcpPort);
  await r.alice.send(rr, r.a.rtcpPort);
  t.same((await r.bob.next()).msg, rr);
  t.equal((await r.legStats('a')).dropped['rtcp-bad-first-type'], 1);
});

t.test('symmetric RTP: send to the SDP address until the phone\'s packets show where it really is (NAT)', async (t) => {
  const behindNat = await Phone.open();
  t.teardown(() => behindNat.close());
  // Alice's SDP names the "alice" socket, but her packets come from behindNat (a NAT mapping).
  const r = await rig(t);
  await r.bob.send(rtp({ seq: 1, ssrc: 2 }), r.b.rtpPort);
  await r.alice.next();
  t.notOk((await r.legStats('a')).latched, 'before any packet: the SDP address');
  await behindNat.send(rtp({ seq: 50, ssrc: 1 }), r.a.rtpPort);
  await r.bob.next();
  const a = await r.legStats('a');
  t.ok(a.latched);
  t.same(a.remote, { address: LO, port: behindNat.port });
  await r.bob.send(rtp({ seq: 2, ssrc: 2 }), r.b.rtpPort);
  const got = await behindNat.next();
  t.equal(parseRtp(got.msg).ok, true);
  t.equal(r.alice.pendingCount, 0, 'nothing more to the SDP address');
});

t.test('after latching, another source is dropped as unexpected-source', async (t) => {
  const intruder = await Phone.open();
  t.teardown(() => intruder.close());
  const r = await rig(t);
  await r.alice.send(rtp({ seq: 1, ssrc: 1 }), r.a.rtpPort);
  await r.bob.next();
  await intruder.send(rtp({ seq: 2, ssrc: 1, payload: Buffer.from('evil') }), r.a.rtpPort);
  await intruder.send(rtp({ seq: 3, ssrc: 1, payload: Buffer.from('evil') }), r.a.rtpPort);
  const good = rtp({ seq: 2, ssrc: 1, payload: Buffer.from('good') });
  await r.alice.send(good, r.a.rtpPort);
  t.same((await r.bob.next()).msg, good, 'the next thing bob hears is alice');
  t.equal((await r.legStats('a')).dropped['unexpected-source'], 2);
  t.equal(r.counters.get('media.drop.unexpected-source'), 2);
  t.same((await r.legStats('a')).remote, { address: LO, port: r.alice.port });
});

t.test('re-latching: after 2 s of silence, two in-sequence packets from a new source take over', async (t) => {
  const moved = await Phone.open();
  t.teardown(() => moved.close());
  const r = await rig(t);
  await r.alice.send(rtp({ seq: 1, ssrc: 1 }), r.a.rtpPort);
  await r.bob.next();
  // Not silent long enough: even a proper sequence is refused.
  r.clock.advance(1999);
  await moved.send(rtp({ seq: 10, ssrc: 9 }), r.a.rtpPort);
  await moved.send(rtp({ seq: 11, ssrc: 9 }), r.a.rtpPort);
  await r.alice.send(rtp({ seq: 2, ssrc: 1 }), r.a.rtpPort);
  await r.bob.next();
  t.equal((await r.legStats('a')).dropped['unexpected-source'], 2);
  // Alice goes silent 2 s; the phone reappears behind a new NAT port.
  r.clock.advance(2000);
  await moved.send(rtp({ seq: 20, ssrc: 9 }), r.a.rtpPort);
  const second = rtp({ seq: 21, ssrc: 9, payload: Buffer.from('second') });
  await moved.send(second, r.a.rtpPort);
  t.same((await r.bob.next()).msg, second, 'the first candidate packet is dropped, the second relatches and passes');
  const a = await r.legStats('a');
  t.equal(a.dropped['unexpected-source'], 3);
  t.same(a.remote, { address: LO, port: moved.port });
  await r.bob.send(rtp({ seq: 5, ssrc: 2 }), r.b.rtpPort);
  t.ok((await moved.next()).msg.length > 0, 'bob now reaches the new source');
  t.equal(r.counters.get('media.relatch'), 1);
});

t.test('update with a new address resets the latch', async (t) => {
  const other = await Phone.open();
  t.teardown(() => other.close());
  const r = await rig(t);
  await r.alice.send(rtp({ seq: 1 }), r.a.rtpPort);
  await r.bob.next();
  await r.engine.request({ op: 'update-leg', sessionId: 'call-1', leg: 'a', remote: remote(other.port) });
  const a = await r.legStats('a');
  t.notOk(a.latched);
  t.same(a.remote, { address: LO, port: other.port });
  await other.send(rtp({ seq: 2 }), r.a.rtpPort);
  await r.bob.next();
  t.ok((await r.legStats('a')).latched);
});

t.test('RFC 3264 6.1 directions: nothing toward a sendonly/inactive leg, nothing from a recvonly one', async (t) => {
  const r = await rig(t, { bobRemote: (p) => remote(p.port, 'sendonly') });
  await r.alice.send(rtp({ seq: 1, ssrc: 1, payload: Buffer.from('held') }), r.a.rtpPort);
  const fromBob = rtp({ seq: 1, ssrc: 2, payload: Buffer.from('music') });
  await r.bob.send(fromBob, r.b.rtpPort);
  t.same((await r.alice.next()).msg, fromBob, 'the sendonly side is heard');
  t.equal((await r.legStats('a')).dropped['direction'], 1, 'alice is not relayed to a sendonly bob');
  t.equal(r.bob.pendingCount, 0);
  await r.engine.request({ op: 'update-leg', sessionId: 'call-1', leg: 'a', remote: remote(r.alice.port, 'recvonly') });
  await r.engine.request({ op: 'update-leg', sessionId: 'call-1', leg: 'b', remote: remote(r.bob.port, 'sendrecv') });
  await r.alice.send(rtp({ seq: 2, ssrc: 1 }), r.a.rtpPort);
  await r.bob.send(fromBob, r.b.rtpPort);
  await r.alice.next();
  t.equal((await r.legStats('a')).dropped['direction'], 2, 'a recvonly phone\'s packets are dropped');
  await r.engine.request({ op: 'update-leg', sessionId: 'call-1', leg: 'a', remote: remote(r.alice.port, 'sendrecv') });
  const resumed = rtp({ seq: 3, ssrc: 1, payload: Buffer.from('resumed') });
  await r.alice.send(resumed, r.a.rtpPort);
  t.same((await r.bob.next()).msg, resumed);
});

t.test('STUN binding requests answered on RTP and RTCP ports with the sender\'s address (RFC 5389 / RFC 5769 request)', async (t) => {
  const r = await rig(t);
  const request = Buffer.from(
    '000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74' +
    '002400046e0001ff80290008932ff9b151263b3600060009657674' + '6a3a683676592020200008001' +
    '49aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf', 'hex');
  for (const port of [r.a.rtpPort, r.a.rtcpPort, r.b.rtpPort]) {
    await r.alice.send(request, port);
    const resp = await r.alice.next();
    t.equal(resp.from.port, port, 'answered from the port asked');
    const parsed = parseStun(resp.msg);
    t.ok(parsed.ok);
    if (!parsed.ok) continue;
    t.equal(parsed.message.type, 0x0101);
    t.same(Buffer.from(parsed.message.transactionId).toString('hex'), 'b7e7a701bc34d686fa87dfae');
    t.same(readXorMappedAddress(resp.msg, parsed.message), { address: LO, port: r.alice.port });
    t.ok(parsed.message.hasFingerprint, 'FINGERPRINT mirrored');
    t.notOk(parsed.message.hasIntegrity, 'no MESSAGE-INTEGRITY: we hold no ICE password');
  }
  t.equal(r.counters.get('media.stun.answered'), 3);
  t.equal(r.counters.get('media.stun.integrity-unverified'), 3);
  t.equal(r.bob.pendingCount, 0, 'STUN is never relayed');
  t.notOk((await r.legStats('a')).latched, 'STUN does not latch');
});

t.test('garbage is dropped and counted by reason, never relayed', async (t) => {
  const r = await rig(t);
  const junk: [Buffer, string][] = [
    [Buffer.from([0x80, 0, 0, 1, 0, 0]), 'short'],
    // Version 1 "RTP" starts with 0x40, which RFC 7983 assigns to TURN channels: it never reaches the RTP parser.
    [Buffer.from('40000001000000a0deadbeef00', 'hex'), 'turn-channel'],
    [Buffer.from('5a000001000000a0deadbeef00', 'hex'), 'unknown-protocol'],
    [Buffer.from('a0000001000000a0deadbeef010200', 'hex'), 'bad-padding'],
    [Buffer.from('16fefd0000000000000000', 'hex'), 'unhandled-dtls'],
    [Buffer.from('105a525450', 'hex'), 'unhandled-zrtp'],
    [Buffer.from('40000004deadbeef', 'hex'), 'turn-channel'],
    [Buffer.concat([rtp({ seq: 1 }), Buffer.alloc(1500)]), 'too-long'],
    [Buffer.from('0001000c2112a442', 'hex'), 'stun-short'],
    [Buffer.from('ff'), 'unknown-protocol'],
  ];
  for (const [pkt] of junk) await r.alice.send(pkt, r.a.rtpPort);
  await r.alice.send(rtp({ seq: 5 }), r.a.rtcpPort);
  const ok = rtp({ seq: 9, payload: Buffer.from('fine') });
  await r.alice.send(ok, r.a.rtpPort);
  t.same((await r.bob.next()).msg, ok, 'the first thing through is the valid packet');
  const dropped = (await r.legStats('a')).dropped;
  const want: Record<string, number> = { 'rtp-on-rtcp-port': 1 };
  for (const [, reason] of junk) want[reason] = (want[reason] ?? 0) + 1;
  t.same(dropped, want);
  t.equal(r.counters.get('media.drop.unhandled-dtls'), 1);
  t.equal(r.events.length, 1, 'only the valid packet raised first-packet');
});

t.test('media-timeout: fired by the injected clock, deferred by packets, once per idle spell', async (t) => {
  const r = await rig(t);
  r.clock.advance(30_000);
  await r.alice.send(rtp({ seq: 1 }), r.a.rtpPort);
  await r.bob.next();
  r.clock.advance(30_000);
  t.same(r.events.filter((e) => e.type === 'media-timeout'), [], 'the packet at 30 s restarted the wait');
  r.clock.advance(29_999);
  t.equal(r.events.filter((e) => e.type === 'media-timeout').length, 0);
  r.clock.advance(1);
  t.same(r.events.filter((e) => e.type === 'media-timeout'), [{ type: 'media-timeout', sessionId: 'call-1', idleMs: 60_000 }]);
  r.clock.advance(300_000);
  t.equal(r.events.filter((e) => e.type === 'media-timeout').length, 1, 'not repeated while still idle');
  await r.bob.send(rtp({ seq: 1, ssrc: 2 }), r.b.rtpPort);
  await r.alice.next();
  r.clock.advance(60_000);
  t.equal(r.events.filter((e) => e.type === 'media-timeout').length, 2, 'media came back, then stopped again');
});

t.test('delete closes sockets and frees ports; idempotent', async (t) => {
  const r = await rig(t);
  t.equal(await r.portsInUse(), 4);
  t.same(await r.engine.request({ op: 'delete', sessionId: 'call-1' }), { op: 'delete' });
  t.same(await r.engine.request({ op: 'delete', sessionId: 'call-1' }), { op: 'delete' }, 'twice is fine');
  const all = await r.engine.request({ op: 'stats' });
  t.ok(all.op === 'stats' && all.portsInUse === 0 && all.sessions.length === 0);
  await t.rejects(r.engine.request({ op: 'stats', sessionId: 'call-1' }), { code: 'not-found' });
  // The ports really are released: we can bind them ourselves.
  for (const port of [r.a.rtpPort, r.a.rtcpPort, r.b.rtpPort, r.b.rtcpPort]) {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind({ port, address: LO, exclusive: true }, () => resolve()); });
    s.close();
  }
  r.clock.advance(120_000);
  t.equal(r.events.filter((e) => e.type === 'media-timeout').length, 0, 'no timer survives delete');
});

t.test('a busy port in the range is skipped (EADDRINUSE)', async (t) => {
  // A range no other media test file uses: tap runs two files at once (43000 belonged to engine-srtp's range, and this test hung when both ran together).
  const squatter = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => { squatter.once('error', reject); squatter.bind({ port: 45990, address: LO, exclusive: true }, () => resolve()); });
  t.teardown(() => squatter.close());
  const engine = new MediaEngine({ bindAddress: LO, advertiseAddress: LO, portRange: { min: 45990, max: 45995 }, clock: new FakeClock() });
  t.teardown(() => engine.close());
  const { a, b } = await twoLegs(engine, 'x');
  t.same([a.rtpPort, b.rtpPort], [45992, 45994]);
  await engine.request({ op: 'create', sessionId: 'y' });
  await t.rejects(engine.request({ op: 'add-leg', sessionId: 'y', leg: 'a' }), { code: 'limit' });
  const st = await engine.request({ op: 'stats' });
  t.ok(st.op === 'stats' && st.portsInUse === 4, 'the failed add-leg leaked nothing');
  t.ok(st.op === 'stats' && st.sessions.find((s) => s.sessionId === 'y')?.legs['a'] === undefined, 'and added no leg');
});

t.test('property: random datagrams at every engine port never crash it', async (t) => {
  const r = await rig(t);
  const fuzzer = await Phone.open();
  t.teardown(() => fuzzer.close());
  // Both legs latch to their phones first, so the fuzzer cannot take them over.
  await r.alice.send(rtp({ seq: 1, ssrc: 1 }), r.a.rtpPort);
  await r.bob.next();
  await r.bob.send(rtp({ seq: 1, ssrc: 2 }), r.b.rtpPort);
  await r.alice.next();
  const ports = [r.a.rtpPort, r.a.rtcpPort, r.b.rtpPort, r.b.rtcpPort];
  const samples = fc.sample(fc.tuple(fc.nat(3), fc.oneof(
    fc.uint8Array({ minLength: 0, maxLength: 1600 }),
    fc.uint8Array({ minLength: 12, maxLength: 200 }).map((b) => { b[0] = 0x80 | (b[0]! & 0x3f); return b; }),
    fc.uint8Array({ minLength: 20, maxLength: 100 }).map((b) => { b[0] = 0; b[1] = 1; b.set([0x21, 0x12, 0xa4, 0x42], 4); return b; }),
  )), 300);
  for (const [i, bytes] of samples) await fuzzer.send(bytes, ports[i]!);
  const probe = rtp({ seq: 2, ssrc: 1, payload: Buffer.from('still alive') });
  await r.alice.send(probe, r.a.rtpPort);
  t.same((await r.bob.next()).msg, probe, 'nothing from the fuzzer reached bob; the relay still works');
  t.equal(r.alice.pendingCount, 0, 'nothing from the fuzzer reached alice');
  t.equal(r.counters.get('media.packet-error'), 0, 'no exception on the packet path');
  const st = await r.engine.request({ op: 'stats', sessionId: 'call-1' });
  const legs = st.op === 'stats' ? st.sessions[0]! : undefined;
  const drops = (l: LegStats | undefined): number => Object.values(l?.dropped ?? {}).reduce((x, y) => x + y, 0);
  t.ok(drops(legs?.legs['a']) + drops(legs?.legs['b']) > 0, 'fuzz was counted as drops');
});
