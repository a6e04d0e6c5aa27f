/**
 * The engine over in-memory sockets: request validation, error paths,
 * timers, statistics and a fuzz of the packet path, all deterministic.
 */
import t from 'tap';
import fc from 'fast-check';
import { Counters, FakeClock } from '../../firmware/core/index.js';
import {
  MediaEngine, parseStun, readXorMappedAddress, type EngineEvent, type EngineRequest, type LegStats, type RemoteInfo, type RemoteMedia,
  type SessionStats,
} from '../../firmware/media/index.js';
import { SRTP_SUITES, type SrtpSessionOptions } from '../../firmware/media/srtp/index.js';
import { FakeNet, answerB, legOf, rtcpRR, rtp, twoLegs, type TwoLegSecurity } from './helpers.js';

const ALICE: RemoteInfo = { address: '10.0.0.2', port: 4000 };
const BOB: RemoteInfo = { address: '10.0.0.3', port: 6000 };

function remote(at: RemoteInfo, direction: RemoteMedia['direction'] = 'sendrecv'): RemoteMedia {
  return { rtp: { ...at }, rtcp: { address: at.address, port: at.port + 1 }, rtcpMux: false, direction };
}

function key(byte: number, length?: number): SrtpSessionOptions {
  const s = SRTP_SUITES.AES_CM_128_HMAC_SHA1_80;
  return { suite: 'AES_CM_128_HMAC_SHA1_80', masterKey: Buffer.alloc(length ?? s.keyLength, byte), masterSalt: Buffer.alloc(s.saltLength, byte) };
}

async function setup(opts: { range?: { min: number; max: number }; bind?: string; answer?: boolean; security?: TwoLegSecurity } = {}) {
  const net = new FakeNet();
  const clock = new FakeClock();
  const counters = new Counters();
  const engine = new MediaEngine({
    bindAddress: opts.bind ?? '0.0.0.0', advertiseAddress: '192.0.2.1', portRange: opts.range ?? { min: 10000, max: 10099 },
    clock, counters, socketFactory: net.factory,
  });
  const events: EngineEvent[] = [];
  engine.onEvent((e) => events.push(e));
  const { a, b } = await twoLegs(engine, 's', { a: remote(ALICE), ...(opts.security ? { security: opts.security } : {}) });
  if (opts.answer !== false) await answerB(engine, 's', remote(BOB));
  const stats = async (): Promise<SessionStats> => {
    const r = await engine.request({ op: 'stats', sessionId: 's' });
    if (r.op !== 'stats') throw new Error('expected stats');
    return r.sessions[0]!;
  };
  const legStats = async (leg: 'a' | 'b'): Promise<LegStats> => legOf(await stats(), leg);
  return { net, clock, counters, engine, events, a, b, stats, legStats };
}

t.test('request errors carry stable codes', async (t) => {
  const { engine } = await setup();
  await t.rejects(engine.request({ op: 'create', sessionId: 's' }), { code: 'conflict' });
  await t.rejects(engine.request({ op: 'create', sessionId: '' }), { code: 'protocol' });
  await t.rejects(engine.request({ op: 'update-leg', sessionId: 'nope', leg: 'b', remote: remote(BOB), answer: true }), { code: 'not-found' });
  await t.rejects(engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', remote: { ...remote(ALICE), rtp: { address: '10.0.0.2', port: 70000 } } }), { code: 'protocol' });
  const badDirection = JSON.parse(JSON.stringify({ ...remote(ALICE), direction: 'sideways' })) as RemoteMedia;
  await t.rejects(engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', remote: badDirection }), { code: 'protocol' });
  const noRemote = JSON.parse('{"op":"update-leg","sessionId":"s","leg":"b","remote":null}') as EngineRequest;
  await t.rejects(engine.request(noRemote), { code: 'protocol' }, 'a remote that is present must be one');
  const unknownOp = JSON.parse('{"op":"transcode","sessionId":"s"}') as EngineRequest;
  await t.rejects(engine.request(unknownOp), { code: 'protocol' });
  // The retired two-party requests are unknown requests now, whatever they carry.
  for (const op of ['offer', 'answer', 'update', 'map']) {
    const old = JSON.parse(JSON.stringify({ op, sessionId: 's', leg: 'a', a: remote(ALICE), b: remote(BOB), remote: remote(ALICE), aToB: { 0: 8 } })) as EngineRequest;
    await t.rejects(engine.request(old), { code: 'protocol' }, `${op} is refused`);
  }
  const st = await engine.request({ op: 'stats', sessionId: 's' });
  t.ok(st.op === 'stats' && st.sessions[0]!.connections.every((c) => c.ptMap === undefined), 'no refused request changed a connection');
  t.same(st.op === 'stats' ? legOf(st.sessions[0], 'b').remote : undefined, BOB, 'nor a remote');
  await engine.close();
  await t.rejects(engine.request({ op: 'stats' }), { code: 'invalid-state' });
});

t.test('a leg that cannot get its pair takes nothing; deleting the session releases the first leg (no leak)', async (t) => {
  const net = new FakeNet();
  net.busy.add(10002);
  const engine = new MediaEngine({ bindAddress: '0.0.0.0', advertiseAddress: 'x', portRange: { min: 10000, max: 10003 }, clock: new FakeClock(), socketFactory: net.factory });
  await t.rejects(twoLegs(engine, 's'), { code: 'limit' }, 'the second leg finds no free pair');
  let st = await engine.request({ op: 'stats' });
  t.equal(st.op === 'stats' ? st.portsInUse : -1, 2, 'only leg a holds its two ports');
  t.ok(st.op === 'stats' && Object.keys(st.sessions[0]!.legs).length === 1, 'the refused leg is not in the session');
  t.equal(net.bound.size, 2, 'only leg a\'s two sockets are bound');
  t.ok(net.all.filter((s) => !s.closed).every((s) => s.port === 10000 || s.port === 10001), 'every socket the refused leg opened was closed');
  await engine.request({ op: 'delete', sessionId: 's' });
  st = await engine.request({ op: 'stats' });
  t.ok(st.op === 'stats' && st.portsInUse === 0);
  t.equal(net.bound.size, 0, 'every socket opened was closed');
  t.ok(net.all.every((s) => s.closed));
  // And the pair is usable again once the squatter leaves.
  net.busy.clear();
  const { a, b } = await twoLegs(engine, 's');
  t.same([a.rtpPort, b.rtpPort].sort(), [10000, 10002]);
});

t.test('a refused add-leg (malformed remote, SRTP key that cannot make a session) takes no port and adds no leg', async (t) => {
  const net = new FakeNet();
  const engine = new MediaEngine({ bindAddress: '0.0.0.0', advertiseAddress: 'x', portRange: { min: 10000, max: 10099 }, clock: new FakeClock(), socketFactory: net.factory });
  await engine.request({ op: 'create', sessionId: 's' });
  const badRemote = JSON.parse(JSON.stringify({ ...remote(ALICE), direction: 'up' })) as RemoteMedia;
  await t.rejects(engine.request({ op: 'add-leg', sessionId: 's', leg: 'a', remote: badRemote }), { code: 'protocol' });
  t.equal(net.all.length, 0, 'a bad remote opens no socket');
  await t.rejects(engine.request({ op: 'add-leg', sessionId: 's', leg: 'b', security: { kind: 'srtp', rx: key(1, 3), tx: key(2) } }), { code: 'config' });
  t.equal(net.all.length, 0, 'nor do keys the box cannot use: they are checked before a port is taken');
  const st = await engine.request({ op: 'stats', sessionId: 's' });
  t.ok(st.op === 'stats' && st.portsInUse === 0);
  t.same(st.op === 'stats' ? st.sessions[0]!.legs : undefined, {});
});

t.test('a two-party call as call control builds it, seen in the stats: legs, connections both ways, the answer, a map per direction', async (t) => {
  const { engine, a, b, stats } = await setup({ answer: false, security: { a: { kind: 'srtp-pending' } } });
  let st = await stats();
  t.same(Object.keys(st.legs), ['a', 'b']);
  t.same(legOf(st, 'a').local, a);
  t.same(legOf(st, 'b').local, b);
  t.same(st.connections, [{ from: 'a', to: 'b' }, { from: 'b', to: 'a' }]);
  t.equal(legOf(st, 'a').security, 'srtp-pending');
  t.same(legOf(st, 'a').remote, ALICE);
  t.notOk(legOf(st, 'b').remote, 'the callee is not known yet');

  await answerB(engine, 's', remote(BOB), { a: { kind: 'rtp' }, b: { kind: 'rtp' } });
  st = await stats();
  t.equal(legOf(st, 'a').security, 'rtp', 'the answer settles a pending leg as plain RTP (best-effort SDES declined)');
  t.same(legOf(st, 'b').remote, BOB);

  await engine.request({ op: 'connect', sessionId: 's', from: 'a', to: 'b', ptMap: { 96: 101 } });
  await engine.request({ op: 'connect', sessionId: 's', from: 'b', to: 'a', ptMap: { 101: 96 } });
  st = await stats();
  t.same(st.connections, [{ from: 'a', to: 'b', ptMap: { 96: 101 } }, { from: 'b', to: 'a', ptMap: { 101: 96 } }],
    'connecting again replaces the map of that direction only, in place');
  await t.rejects(engine.request({ op: 'connect', sessionId: 's', from: 'b', to: 'a', ptMap: { 1: 999 } }), { code: 'protocol' });
  t.same((await stats()).connections, st.connections, 'a refused map changes nothing');
});

t.test('socket errors, failed sends and throwing listeners become counters', async (t) => {
  const { net, counters, engine, a, b, legStats } = await setup();
  net.at(a.rtpPort).fail(new Error('ECONNREFUSED'));
  t.equal(counters.get('media.socket-error'), 1);
  let secondListenerCalls = 0;
  engine.onEvent(() => { throw new Error('listener bug'); });
  engine.onEvent(() => { secondListenerCalls++; });
  net.failSends = true;
  net.at(a.rtpPort).deliver(rtp({ seq: 1 }), ALICE);
  t.equal(counters.get('media.listener-error'), 1, 'first-packet listener threw');
  t.equal(secondListenerCalls, 1, 'other listeners still hear the event');
  t.equal(net.at(b.rtpPort).sent.length, 1, 'the packet still went out');
  t.equal((await legStats('b')).dropped['send-error'], 1);
  t.equal(counters.get('media.packet-error'), 0);
});

t.test('no media-timeout while ringing, nor while the call is on hold both ways', async (t) => {
  const ringing = await setup({ answer: false });
  ringing.clock.advance(600_000);
  t.same(ringing.events, [], 'no timer before the answer');
  const { clock, engine, events } = await setup();
  await engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', remote: remote(ALICE, 'inactive') });
  clock.advance(300_000);
  t.same(events, [], 'held: no media expected');
  await engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', remote: remote(ALICE, 'sendrecv') });
  clock.advance(60_000);
  t.same(events, [{ type: 'media-timeout', sessionId: 's', idleMs: 60_000 }], 'resumed, then silent for the full window');
});

t.test('RFC 3550 A.1/A.8 statistics surface in LegStats; loss carried across an SSRC change', async (t) => {
  const { net, clock, a, legStats } = await setup();
  const sock = net.at(a.rtpPort);
  const send = (seq: number, ssrc = 1): void => sock.deliver(rtp({ seq, ssrc, ts: seq * 160 }), ALICE);
  const t0 = clock.now();
  // Arrive exactly on the 20 ms schedule the timestamps describe.
  const at = (seq: number, lateMs = 0): void => clock.advance(t0 + (seq - 100) * 20 + lateMs - clock.now());
  for (const seq of [100, 101, 102, 105, 106]) {
    at(seq);
    send(seq);
  }
  let s = await legStats('a');
  t.equal(s.lost, 2, '103 and 104 missing');
  t.equal(s.jitterMs, 0, 'arrivals matched the timestamps');
  // Packet 107 arrives 10 ms late: D = 80 units, jitter 5 units = 0.625 ms at 8 kHz.
  at(107, 10);
  send(107);
  s = await legStats('a');
  t.equal(s.jitterMs, 0.625);
  send(5000, 2);
  send(5001, 2);
  send(5003, 2);
  s = await legStats('a');
  t.equal(s.lost, 3, 'two from the first SSRC plus one from the second');
});

t.test('RFC 5389: STUN from an IPv6 phone on an IPv6 engine gets an IPv6 XOR-MAPPED-ADDRESS', async (t) => {
  const { net, engine, a, b } = await setup({ bind: '::' });
  t.ok(net.all.every((s) => s.type === 'udp6'));
  const req = Buffer.from('000100002112a442' + '0102030405060708090a0b0c', 'hex');
  const phone = { address: 'fd00::1:2', port: 5004 };
  // The box answers a leg's own phone only: the SDP names these hosts.
  await engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', remote: remote(phone) });
  await engine.request({ op: 'update-leg', sessionId: 's', leg: 'b', remote: remote({ address: '10.1.2.3', port: 7000 }) });
  net.at(a.rtcpPort).deliver(req, phone);
  const sent = net.at(a.rtcpPort).sent;
  t.equal(sent.length, 1);
  t.same({ port: sent[0]!.port, address: sent[0]!.address }, phone);
  const parsed = parseStun(sent[0]!.data);
  t.ok(parsed.ok);
  if (parsed.ok) {
    t.same(readXorMappedAddress(sent[0]!.data, parsed.message), phone);
    t.notOk(parsed.message.hasFingerprint, 'no FINGERPRINT unless the request had one');
  }
  const dual = { address: '::ffff:10.1.2.3', port: 7000 };
  net.at(b.rtpPort).deliver(req, dual);
  const resp = net.at(b.rtpPort).sent[0]!.data;
  const p2 = parseStun(resp);
  t.ok(p2.ok && readXorMappedAddress(resp, p2.message)?.address === '10.1.2.3', 'an IPv4 sender on a dual-stack socket is told its IPv4 address');
});

t.test('RTCP on its own port: latched separately, but only from the host RTP latched to', async (t) => {
  const { net, a, b, legStats } = await setup();
  net.at(a.rtpPort).deliver(rtp({ seq: 1 }), { address: ALICE.address, port: 40000 });
  const rr = rtcpRR(1);
  net.at(a.rtcpPort).deliver(rr, { address: '10.6.6.6', port: 40001 });
  t.equal((await legStats('a')).dropped['unexpected-source'], 1, 'another host cannot take the RTCP latch');
  net.at(a.rtcpPort).deliver(rr, { address: ALICE.address, port: 40001 });
  net.at(a.rtcpPort).deliver(rr, { address: ALICE.address, port: 40009 });
  t.equal((await legStats('a')).dropped['unexpected-source'], 2, 'after RTCP latched, another port is refused too');
  t.same(net.at(b.rtcpPort).sent.map((p) => p.port), [BOB.port + 1], 'one RR relayed to bob\'s SDP RTCP port');
  // Bob's RTCP, relayed to alice's latched RTCP port (not her SDP one).
  net.at(b.rtcpPort).deliver(rr, { address: BOB.address, port: BOB.port + 1 });
  t.same(net.at(a.rtcpPort).sent.map((p) => [p.address, p.port]), [[ALICE.address, 40001]]);
});

t.test('the SDP host check: IPv6 in any spelling, IPv4 senders on a dual-stack socket, and c=0.0.0.0 hold (RFC 2543) that names nobody', async (t) => {
  const { net, engine, a, b, legStats } = await setup({ bind: '::' });
  await engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', remote: remote({ address: 'FD00:0:0::1:2', port: 5004 }) });
  net.at(a.rtpPort).deliver(rtp({ seq: 1, ssrc: 1 }), { address: 'fd00::1:2', port: 5004 });
  t.equal(net.at(b.rtpPort).sent.length, 1, 'an uncompressed, upper-case SDP address still names the phone');
  net.at(b.rtpPort).deliver(rtp({ seq: 1, ssrc: 2 }), { address: '::ffff:10.0.0.3', port: 6000 });
  t.same(net.at(a.rtpPort).sent.map((p) => p.address), ['fd00::1:2'], 'bob, an IPv4 phone on the dual-stack socket, is its SDP host');
  t.ok((await legStats('b')).latched);
  // Old-style hold: c=0.0.0.0 (RFC 2543, RFC 3264 8.4 says to accept it). The box sends nothing to 0.0.0.0,
  // and bob's packets from his real address are still his.
  await engine.request({ op: 'update-leg', sessionId: 's', leg: 'b', remote: remote({ address: '0.0.0.0', port: 6000 }) });
  net.at(a.rtpPort).deliver(rtp({ seq: 2, ssrc: 1 }), { address: 'fd00::1:2', port: 5004 });
  t.equal(net.at(b.rtpPort).sent.length, 1, 'nothing sent toward 0.0.0.0');
  t.equal((await legStats('a')).dropped['no-target'], 1);
  net.at(b.rtpPort).deliver(rtp({ seq: 3, ssrc: 9 }), { address: '10.6.6.6', port: 6000 });
  t.equal((await legStats('b')).dropped['foreign-host'], 1, 'the unlatched leg is no prize for a stranger');
  net.at(b.rtpPort).deliver(rtp({ seq: 2, ssrc: 2 }), { address: '::ffff:10.0.0.3', port: 6000 });
  t.equal(net.at(a.rtpPort).sent.length, 2, 'bob still reaches alice; the stranger did not');
  net.at(a.rtpPort).deliver(rtp({ seq: 3, ssrc: 1 }), { address: 'fd00::1:2', port: 5004 });
  t.same(net.at(b.rtpPort).sent.map((p) => p.address), ['10.0.0.3', '::ffff:10.0.0.3'], 'once bob sends, the latch finds him again');
});

t.test('a STUN indication is absorbed; a STUN response is dropped', async (t) => {
  const { net, counters, a, legStats } = await setup();
  net.at(a.rtpPort).deliver(Buffer.from('001100002112a442' + '0102030405060708090a0b0c', 'hex'), ALICE);
  net.at(a.rtpPort).deliver(Buffer.from('010100002112a442' + '0102030405060708090a0b0c', 'hex'), ALICE);
  t.equal(counters.get('media.stun.indication'), 1);
  t.equal((await legStats('a')).dropped['stun-not-binding-request'], 1);
  t.equal(net.at(a.rtpPort).sent.length, 0);
});

t.test('property: any mix of datagrams, sources and requests leaves the engine consistent', async (t) => {
  const sources = [ALICE, BOB, { address: '10.9.9.9', port: 1234 }];
  const datagram = fc.oneof(
    fc.uint8Array({ maxLength: 1600 }).map((b) => Buffer.from(b)),
    fc.record({ seq: fc.nat(0xffff), ssrc: fc.nat(3), pt: fc.nat(127), marker: fc.boolean() }).map((s) => rtp(s)),
    fc.nat(3).map((n) => rtcpRR(n, [{ ssrc: 1, fraction: n, cumulative: -n, highest: n, jitter: n }])),
  );
  const step = fc.oneof(
    fc.record({ kind: fc.constant('packet' as const), leg: fc.constantFrom('a' as const, 'b' as const), rtcp: fc.boolean(), src: fc.nat(2), data: datagram }),
    fc.record({ kind: fc.constant('update' as const), leg: fc.constantFrom('a' as const, 'b' as const), src: fc.nat(2), dir: fc.constantFrom('sendrecv' as const, 'sendonly' as const, 'recvonly' as const, 'inactive' as const), mux: fc.boolean() }),
    fc.record({ kind: fc.constant('map' as const), from: fc.nat(127), to: fc.nat(127) }),
    fc.record({ kind: fc.constant('time' as const), ms: fc.nat(5000) }),
  );
  await fc.assert(fc.asyncProperty(fc.array(step, { maxLength: 60 }), async (steps) => {
    const { net, clock, counters, engine, a, b } = await setup();
    for (const s of steps) {
      if (s.kind === 'packet') {
        const local = s.leg === 'a' ? a : b;
        net.at(s.rtcp ? local.rtcpPort : local.rtpPort).deliver(s.data, sources[s.src]!);
      } else if (s.kind === 'update') {
        await engine.request({ op: 'update-leg', sessionId: 's', leg: s.leg, remote: { ...remote(sources[s.src]!, s.dir), rtcpMux: s.mux } });
      } else if (s.kind === 'map') {
        await engine.request({ op: 'connect', sessionId: 's', from: 'a', to: 'b', ptMap: { [s.from]: s.to } });
      } else {
        clock.advance(s.ms);
      }
    }
    const st = await engine.request({ op: 'stats', sessionId: 's' });
    if (st.op !== 'stats') return false;
    const sa = legOf(st.sessions[0], 'a');
    const sb = legOf(st.sessions[0], 'b');
    const sentMedia = net.all.flatMap((sock) => sock.sent).filter((p) => p.data[0]! >= 128);
    const ok = counters.get('media.packet-error') === 0 &&
      sentMedia.length === sa.packetsOut + sb.packetsOut &&
      sentMedia.every((p) => p.data.length <= 1500) &&
      sa.lost >= 0 && sb.lost >= 0 && Number.isFinite(sa.jitterMs) && Number.isFinite(sb.jitterMs);
    await engine.request({ op: 'delete', sessionId: 's' });
    return ok && net.bound.size === 0;
  }), { numRuns: 200 });
  t.pass();
});
