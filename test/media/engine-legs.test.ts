/**
 * Sessions of any number of legs, wired by explicit one-way connections,
 * over in-memory sockets with the clock injected: fan-out (each destination
 * protects with its own SRTP keys), re-pairing as a transfer does it,
 * removing a leg, the relay/bridge rule per connection, and the request
 * checks of the N-leg requests, including hostile input.
 */
import t from 'tap';
import fc from 'fast-check';
import { Counters, FakeClock, PbxError } from '../../firmware/core/index.js';
import {
  MediaEngine, parseRtp, type EngineEvent, type EngineRequest, type LegSecurity, type LocalMedia, type RemoteInfo, type RemoteMedia,
  type SessionStats,
} from '../../firmware/media/index.js';
import { SRTP_SUITES, SrtpSession, type SrtpSessionOptions } from '../../firmware/media/srtp/index.js';
import { FakeNet, legOf, ok, rtcpRR, rtp } from './helpers.js';

const PHONE: Record<string, RemoteInfo> = {
  A: { address: '10.0.0.2', port: 4000 },
  B: { address: '10.0.0.3', port: 6000 },
  C: { address: '10.0.0.4', port: 8000 },
  D: { address: '10.0.0.5', port: 9000 },
};

function remote(at: RemoteInfo): RemoteMedia {
  return { rtp: { ...at }, rtcp: { address: at.address, port: at.port + 1 }, rtcpMux: false, direction: 'sendrecv' };
}

let keyByte = 0x10;
function key(): SrtpSessionOptions {
  const s = SRTP_SUITES.AES_CM_128_HMAC_SHA1_80;
  const k = keyByte++;
  return { suite: 'AES_CM_128_HMAC_SHA1_80', masterKey: Buffer.alloc(s.keyLength, k), masterSalt: Buffer.alloc(s.saltLength, k ^ 0x77) };
}

const voice = (seq: number, ssrc: number, pt = 0): Buffer => rtp({ pt, seq, ts: seq * 160, ssrc, payload: Buffer.alloc(160, seq & 0xff) });

/** A phone with SRTP: what it sends (`out`, under the key the box receives) and reads (`in`, under the box's key toward it). */
interface SrtpPhone { security: LegSecurity; out: SrtpSession; in: SrtpSession }
function srtpPhone(): SrtpPhone {
  const rx = key();
  const tx = key();
  return { security: { kind: 'srtp', rx, tx }, out: new SrtpSession(rx), in: new SrtpSession(tx) };
}

async function rig() {
  const net = new FakeNet();
  const clock = new FakeClock();
  const counters = new Counters();
  const engine = new MediaEngine({
    bindAddress: '0.0.0.0', advertiseAddress: '192.0.2.1', portRange: { min: 10000, max: 10099 }, clock, counters, socketFactory: net.factory,
  });
  const events: EngineEvent[] = [];
  engine.onEvent((e) => events.push(e));
  await engine.request({ op: 'create', sessionId: 's' });
  const local: Record<string, LocalMedia> = {};
  const add = async (leg: string, security?: LegSecurity): Promise<LocalMedia> => {
    const r = await engine.request({ op: 'add-leg', sessionId: 's', leg, remote: remote(PHONE[leg]!), ...(security ? { security } : {}) });
    if (r.op !== 'add-leg' || r.leg !== leg) throw new Error('expected the add-leg reply for this leg');
    local[leg] = r.local;
    return r.local;
  };
  const connect = (from: string, to: string, ptMap?: Record<number, number>) =>
    engine.request({ op: 'connect', sessionId: 's', from, to, ...(ptMap ? { ptMap } : {}) });
  const disconnect = (from: string, to: string) => engine.request({ op: 'disconnect', sessionId: 's', from, to });
  /** The phone of `leg` sends a datagram to its leg's RTP (or RTCP) port (a copy: the box decrypts in place, as a socket's buffer is its own). */
  const send = (leg: string, pkt: Buffer, rtcp = false): void => {
    net.at(rtcp ? local[leg]!.rtcpPort : local[leg]!.rtpPort).deliver(Buffer.from(pkt), rtcp ? { ...PHONE[leg]!, port: PHONE[leg]!.port + 1 } : PHONE[leg]!);
  };
  /** What the box sent toward `leg`'s phone so far, from that leg's RTP (or RTCP) socket. */
  const heard = (leg: string, rtcp = false): Buffer[] => net.at(rtcp ? local[leg]!.rtcpPort : local[leg]!.rtpPort).sent.map((p) => p.data);
  const stats = async (): Promise<SessionStats> => {
    const r = await engine.request({ op: 'stats', sessionId: 's' });
    if (r.op !== 'stats') throw new Error('expected stats');
    return r.sessions[0]!;
  };
  const portsInUse = async (): Promise<number> => {
    const r = await engine.request({ op: 'stats' });
    return r.op === 'stats' ? r.portsInUse : -1;
  };
  return { net, clock, counters, engine, events, local, add, connect, disconnect, send, heard, stats, portsInUse };
}

t.test('three legs: A->B only, then A->B and A->C; each destination gets its own SRTP protection, an unconnected leg gets nothing', async (t) => {
  const r = await rig();
  const a = srtpPhone(); const b = srtpPhone(); const c = srtpPhone();
  await r.add('A', a.security);
  await r.add('B', b.security);
  await r.add('C', c.security);
  await r.connect('A', 'B');
  r.send('A', ok(a.out.protectRtp(voice(1, 0xa))));
  t.equal(r.heard('B').length, 1);
  t.same(ok(b.in.unprotectRtp(r.heard('B')[0]!)), voice(1, 0xa), 'B decrypts under the key the box gave B');
  t.same(r.heard('C'), [], 'C is not connected: nothing');
  t.same(r.heard('A'), [], 'and nothing goes back to A: connections are one way');

  await r.connect('A', 'C');
  const wire = ok(a.out.protectRtp(voice(2, 0xa)));
  r.send('A', wire);
  const toB = r.heard('B')[1]!;
  const toC = r.heard('C')[0]!;
  t.same(ok(b.in.unprotectRtp(toB)), voice(2, 0xa), 'B under its key');
  t.same(ok(c.in.unprotectRtp(toC)), voice(2, 0xa), 'C under its own key');
  t.not(toB.toString('hex'), toC.toString('hex'), 'two different ciphertexts');
  t.equal(b.in.unprotectRtp(toC), 'srtp-auth', 'B\'s key does not open C\'s packet');
  t.not(toB.toString('hex'), wire.toString('hex'), 're-encrypted, not forwarded');

  // RTCP takes the same connections (RFC 3550 6): SRTCP under each destination's key.
  const rr = rtcpRR(0xa, [{ ssrc: 0xb, fraction: 0, cumulative: 0, highest: 1, jitter: 0 }]);
  r.send('A', ok(a.out.protectRtcp(rr)), true);
  t.same(ok(b.in.unprotectRtcp(r.heard('B', true)[0]!)), rr);
  t.same(ok(c.in.unprotectRtcp(r.heard('C', true)[0]!)), rr);

  // C's own packets go nowhere: C has no connection out.
  r.send('C', ok(c.out.protectRtp(voice(1, 0xc))));
  t.equal(r.heard('A').length + r.heard('B').length, 2, 'nothing of C reached A or B');
  const st = await r.stats();
  t.same(st.connections, [{ from: 'A', to: 'B' }, { from: 'A', to: 'C' }]);
  t.same(Object.keys(st.legs).sort(), ['A', 'B', 'C']);
  t.equal(legOf(st, 'C').dropped['not-connected'], 1);
  t.equal(legOf(st, 'B').packetsOut, 3);
  t.equal(legOf(st, 'C').packetsOut, 2);
  t.same(r.events, [{ type: 'first-packet', sessionId: 's', leg: 'A' }, { type: 'first-packet', sessionId: 's', leg: 'C' }]);
  t.notMatch(JSON.stringify(st), /masterKey|masterSalt/, 'no key in the stats');
});

t.test('fan-out with a payload type map per connection: each destination gets its own numbering, the others are untouched', async (t) => {
  const r = await rig();
  const d = srtpPhone();
  await r.add('A');
  await r.add('B');
  await r.add('C');
  await r.add('D', d.security);
  // D (rewritten in place around its protect) before C: C must still get the packet as A sent it.
  await r.connect('A', 'B', { 96: 101 });
  await r.connect('A', 'D', { 96: 102 });
  await r.connect('A', 'C');
  r.send('A', voice(1, 0xa, 96));
  r.send('A', rtp({ pt: 96, marker: true, seq: 2, ssrc: 0xa }));
  const pt = (b: Buffer): number => { const p = parseRtp(b); return p.ok ? p.header.payloadType : -1; };
  t.same(r.heard('B').map(pt), [101, 101]);
  t.same(r.heard('C').map(pt), [96, 96], 'C shares the packet B\'s copy was rewritten from: unchanged');
  t.same(r.heard('D').map((w) => pt(ok(d.in.unprotectRtp(w)))), [102, 102], 'D\'s rewrite is inside its authenticated header');
  const marked = parseRtp(r.heard('B')[1]!);
  t.ok(marked.ok && marked.header.marker, 'the marker bit is kept');
  t.same(r.heard('C')[0], voice(1, 0xa, 96), 'byte for byte where no map applies');
  t.same((await r.stats()).connections, [
    { from: 'A', to: 'B', ptMap: { 96: 101 } }, { from: 'A', to: 'D', ptMap: { 96: 102 } }, { from: 'A', to: 'C' },
  ]);
  await r.connect('A', 'B');
  r.send('A', voice(3, 0xa, 96));
  t.equal(pt(r.heard('B')[2]!), 96, 'connecting again without a map removes the rewrite');
});

t.test('re-pairing (a transfer): A<->B becomes A<->C; B gets nothing after, no receive context is reset', async (t) => {
  const r = await rig();
  const a = srtpPhone(); const b = srtpPhone(); const c = srtpPhone();
  await r.add('A', a.security);
  await r.add('B', b.security);
  await r.add('C', c.security);
  await r.connect('A', 'B');
  await r.connect('B', 'A');
  const fromA: Buffer[] = [];
  for (let seq = 1; seq <= 3; seq++) {
    fromA.push(ok(a.out.protectRtp(voice(seq, 0xa))));
    r.send('A', fromA.at(-1)!);
  }
  const fromB = ok(b.out.protectRtp(voice(1, 0xb)));
  r.send('B', fromB);
  t.equal(r.heard('B').length, 3);
  t.same(ok(a.in.unprotectRtp(r.heard('A')[0]!)), voice(1, 0xb));

  await r.disconnect('A', 'B');
  await r.disconnect('B', 'A');
  await r.connect('A', 'C');
  await r.connect('C', 'A');
  r.send('A', ok(a.out.protectRtp(voice(4, 0xa))));
  t.equal(r.heard('B').length, 3, 'B gets nothing after the re-pairing');
  t.same(ok(c.in.unprotectRtp(r.heard('C')[0]!)), voice(4, 0xa), 'C hears A under C\'s key');
  const fromC = ok(c.out.protectRtp(voice(1, 0xc)));
  r.send('C', fromC);
  t.same(ok(a.in.unprotectRtp(r.heard('A')[1]!)), voice(1, 0xc), 'A hears C under the key A has had all call: its send side is unchanged');
  r.send('B', ok(b.out.protectRtp(voice(2, 0xb))));
  t.equal(r.heard('A').length, 2, 'B no longer reaches A');

  // The replay windows survived: an old packet of A is still a replay, and so is one of B.
  r.send('A', fromA[2]!);
  r.send('B', fromB);
  r.send('C', fromC);
  t.equal(r.heard('C').length, 1, 'the replay of A reached nobody');
  t.equal(r.heard('A').length, 2, 'nor the replay of C');
  let st = await r.stats();
  t.equal(legOf(st, 'A').dropped['srtp-replay'], 1);
  t.equal(legOf(st, 'B').dropped['srtp-replay'], 1);
  t.equal(legOf(st, 'C').dropped['srtp-replay'], 1);
  t.equal(legOf(st, 'B').dropped['not-connected'], 1, 'B\'s genuine packet after the re-pairing went nowhere');
  t.same(st.connections, [{ from: 'A', to: 'C' }, { from: 'C', to: 'A' }]);
  r.send('A', ok(a.out.protectRtp(voice(5, 0xa))));
  t.same(ok(c.in.unprotectRtp(r.heard('C')[1]!)), voice(5, 0xa), 'A carries on in sequence');
  st = await r.stats();
  t.ok(legOf(st, 'A').latched && legOf(st, 'C').latched, 'the latches stay where they were');
  await t.resolves(r.disconnect('A', 'B'), 'disconnecting what is not connected is no error');
});

t.test('remove-leg frees its ports, closes its sockets and takes its connections away', async (t) => {
  const r = await rig();
  await r.add('A');
  await r.add('B');
  const cLocal = await r.add('C');
  await r.connect('A', 'B');
  await r.connect('A', 'C');
  await r.connect('C', 'A');
  t.equal(await r.portsInUse(), 6);
  const cSockets = [r.net.at(cLocal.rtpPort), r.net.at(cLocal.rtcpPort)];
  t.same(await r.engine.request({ op: 'remove-leg', sessionId: 's', leg: 'C' }), { op: 'remove-leg' });
  t.equal(await r.portsInUse(), 4);
  t.ok(cSockets.every((s) => s.closed), 'both of C\'s sockets closed');
  t.notOk(r.net.bound.has(cLocal.rtpPort) || r.net.bound.has(cLocal.rtcpPort), 'its ports are free');
  r.send('A', voice(1, 0xa));
  t.equal(r.heard('B').length, 1, 'A still reaches B');
  t.equal(cSockets[0]!.sent.length, 0, 'and nothing goes toward C');
  cSockets[0]!.deliver(voice(1, 0xc), PHONE['C']!);
  t.equal(r.heard('A').length, 0, 'a late datagram on the closed socket goes nowhere');
  const st = await r.stats();
  t.same(Object.keys(st.legs).sort(), ['A', 'B']);
  t.same(st.connections, [{ from: 'A', to: 'B' }]);
  await t.rejects(r.connect('A', 'C'), { code: 'not-found' });
  await t.rejects(r.engine.request({ op: 'remove-leg', sessionId: 's', leg: 'C' }), { code: 'not-found' });
  // The same id may come back (a new transfer target): new ports, no connection until asked.
  const again = await r.add('C');
  r.send('A', voice(2, 0xa));
  t.equal(r.net.at(again.rtpPort).sent.length, 0, 'a new leg hears nothing until connected');
  t.equal(await r.portsInUse(), 6);
  await r.engine.request({ op: 'delete', sessionId: 's' });
  t.equal(await r.portsInUse(), 0);
  t.equal(r.net.bound.size, 0);
});

t.test('the relay/bridge rule per connection: end-to-end SRTP only between srtp-relay legs, counted as no-keys otherwise', async (t) => {
  const r = await rig();
  const a = srtpPhone();
  await r.add('A', a.security);
  await r.add('B', { kind: 'srtp-relay' });
  await r.add('C', { kind: 'srtp-relay' });
  await r.add('D');
  await r.connect('A', 'B');
  await r.connect('B', 'A');
  await r.connect('B', 'D');
  r.send('A', ok(a.out.protectRtp(voice(1, 0xa))));
  const e2e = ok(new SrtpSession(key()).protectRtp(voice(1, 0xb)));
  r.send('B', e2e);
  t.same(r.heard('B'), [], 'the box cannot protect A\'s media for an end-to-end leg');
  t.same(r.heard('A'), [], 'nor wrap end-to-end SRTP in A\'s keys');
  t.same(r.heard('D'), [], 'nor hand ciphertext to a plain phone');
  let st = await r.stats();
  t.equal(legOf(st, 'B').dropped['no-keys'], 1);
  t.equal(legOf(st, 'A').dropped['no-keys'], 1);
  t.equal(legOf(st, 'D').dropped['no-keys'], 1);
  t.equal(r.counters.get('media.drop.no-keys'), 3);
  await r.connect('B', 'C');
  r.send('B', e2e);
  t.same(r.heard('C'), [e2e], 'between two end-to-end legs: byte for byte');
  await t.rejects(r.connect('B', 'C', { 0: 8 }), { code: 'protocol' }, 'no payload type rewrite of an authenticated header');
  await t.resolves(r.connect('A', 'B', { 0: 8 }), 'a map on what A sends is fine: A is bridged');
  await r.connect('D', 'C', { 0: 8 });
  r.send('D', voice(1, 0xd));
  t.equal(r.heard('C').length, 1, 'plain RTP never reaches the end-to-end leg');
  // A leg that becomes end-to-end loses the maps on what it sends.
  await r.connect('D', 'A', { 0: 8 });
  await r.engine.request({ op: 'update-leg', sessionId: 's', leg: 'D', security: { kind: 'srtp-relay' } });
  st = await r.stats();
  t.same(st.connections.filter((c) => c.from === 'D'), [{ from: 'D', to: 'C' }, { from: 'D', to: 'A' }]);
});

t.test('security by update-leg: keys before the address, no downgrade, a pending leg settles as RTP only with the answer', async (t) => {
  const r = await rig();
  await r.add('A', { kind: 'srtp-pending' });
  await r.add('B');
  await r.connect('B', 'A');
  r.send('B', voice(1, 0xb));
  t.same(r.heard('A'), [], 'nothing toward a pending leg');
  await t.rejects(r.engine.request({ op: 'update-leg', sessionId: 's', leg: 'A', security: { kind: 'rtp' } }), { code: 'protocol' });
  t.equal(r.counters.get('media.security.downgrade-refused'), 1);
  await r.engine.request({ op: 'update-leg', sessionId: 's', leg: 'A', security: { kind: 'rtp' }, answer: true });
  r.send('B', voice(2, 0xb));
  t.same(r.heard('A'), [voice(2, 0xb)], 'the answer settled it as plain RTP (best-effort SRTP declined)');
  const a = srtpPhone();
  await r.engine.request({ op: 'update-leg', sessionId: 's', leg: 'A', security: a.security });
  await t.rejects(r.engine.request({ op: 'update-leg', sessionId: 's', leg: 'A', security: { kind: 'rtp' }, answer: true }), { code: 'protocol' },
    'even the answer cannot take a keyed leg back to RTP');
  const badKey: LegSecurity = { kind: 'srtp', rx: { ...key(), masterKey: Buffer.alloc(3) }, tx: key() };
  await t.rejects(r.engine.request({ op: 'update-leg', sessionId: 's', leg: 'A', remote: remote(PHONE['D']!), security: badKey }), { code: 'config' });
  t.equal(legOf(await r.stats(), 'A').remote?.address, PHONE['A']!.address, 'the refused update changed nothing, not even the address');
  r.send('B', voice(3, 0xb));
  t.same(ok(a.in.unprotectRtp(r.heard('A')[1]!)), voice(3, 0xb));
  t.equal(legOf(await r.stats(), 'A').security, 'srtp');
});

t.test('media-timeout over connections: none while nothing is connected, then once the window passes', async (t) => {
  const r = await rig();
  await r.add('A');
  await r.add('B');
  r.clock.advance(600_000);
  t.same(r.events, [], 'two legs with no connection: no media expected');
  await r.connect('A', 'B');
  r.clock.advance(59_999);
  t.same(r.events, []);
  r.clock.advance(1);
  t.same(r.events, [{ type: 'media-timeout', sessionId: 's', idleMs: 60_000 }]);
  r.send('A', voice(1, 0xa));
  await r.disconnect('A', 'B');
  r.clock.advance(300_000);
  t.equal(r.events.filter((e) => e.type === 'media-timeout').length, 1, 'disconnected: nothing can flow, nothing times out');
});

t.test('bad requests give clean PbxError codes and change nothing', async (t) => {
  const r = await rig();
  await r.add('A');
  await r.add('B');
  const req = (q: unknown) => r.engine.request(q as EngineRequest);
  await t.rejects(req({ op: 'create', sessionId: 's' }), { code: 'conflict' });
  await t.rejects(req({ op: 'add-leg', sessionId: 's', leg: 'A' }), { code: 'conflict' }, 'duplicate leg id');
  await t.rejects(req({ op: 'add-leg', sessionId: 'nope', leg: 'A' }), { code: 'not-found' });
  await t.rejects(req({ op: 'add-leg', sessionId: 's', leg: '' }), { code: 'protocol' });
  await t.rejects(req({ op: 'add-leg', sessionId: 's', leg: 'x'.repeat(65) }), { code: 'protocol' });
  await t.rejects(req({ op: 'add-leg', sessionId: 's', leg: 'a b' }), { code: 'protocol' });
  await t.rejects(req({ op: 'add-leg', sessionId: 's', leg: 7 }), { code: 'protocol' });
  await t.rejects(req({ op: 'add-leg', sessionId: 's', leg: 'E', security: { kind: 'srtp', rx: {}, tx: {} } }), { code: 'protocol' });
  await t.rejects(req({ op: 'update-leg', sessionId: 's', leg: 'Z' }), { code: 'not-found' }, 'unknown leg');
  await t.rejects(req({ op: 'remove-leg', sessionId: 's', leg: 'Z' }), { code: 'not-found' });
  await t.rejects(req({ op: 'connect', sessionId: 's', from: 'A', to: 'A' }), { code: 'protocol' }, 'connect to self');
  await t.rejects(req({ op: 'connect', sessionId: 's', from: 'A', to: 'Z' }), { code: 'not-found' }, 'connect to an unknown leg');
  await t.rejects(req({ op: 'connect', sessionId: 's', from: 'Z', to: 'A' }), { code: 'not-found' });
  await t.rejects(req({ op: 'connect', sessionId: 's', from: 'A', to: 'B', ptMap: { 96: 128 } }), { code: 'protocol' });
  await t.rejects(req({ op: 'connect', sessionId: 's', from: 'A', to: 'B', ptMap: [1, 2] }), { code: 'protocol' });
  await t.rejects(req({ op: 'disconnect', sessionId: 's', from: 'A', to: 'Z' }), { code: 'not-found' });
  await t.rejects(req({ op: 'update-leg', sessionId: 's', leg: 'A', answer: 'yes' }), { code: 'protocol' });
  await t.rejects(req(null), { code: 'protocol' });
  await t.rejects(req({ op: 'stats', sessionId: 42 }), { code: 'protocol' });
  const st = await r.stats();
  t.same(Object.keys(st.legs).sort(), ['A', 'B']);
  t.same(st.connections, []);
  t.equal(await r.portsInUse(), 4, 'no refused add-leg took a port');
  // The leg limit.
  for (let i = 0; i < 30; i++) await r.engine.request({ op: 'add-leg', sessionId: 's', leg: `x${i}` });
  await t.rejects(req({ op: 'add-leg', sessionId: 's', leg: 'one-too-many' }), { code: 'limit' });
});

t.test('a leg added while its session is deleted is released, not leaked', async (t) => {
  const r = await rig();
  const pending = r.engine.request({ op: 'add-leg', sessionId: 's', leg: 'A' });
  await r.engine.request({ op: 'delete', sessionId: 's' });
  await t.rejects(pending, { code: 'not-found' });
  t.equal(await r.portsInUse(), 0);
  t.equal(r.net.bound.size, 0);
});

t.test('property: JSON junk sent as N-leg requests is refused with a PbxError or done, never crashes, never leaks', async (t) => {
  const ids = fc.oneof(fc.constantFrom('s', 'A', 'B', 'C', '', '__proto__', 'constructor'), fc.string({ maxLength: 70 }), fc.integer(), fc.constant(null));
  const junk = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant(undefined));
  const good = fc.constantFrom(remote(PHONE['A']!), remote(PHONE['B']!));
  // The retired two-party op names (and their fields a, b, aToB, bToA) stay in the mix: they must be refused like any junk.
  const request = fc.record({
    op: fc.oneof(fc.constantFrom('create', 'add-leg', 'update-leg', 'remove-leg', 'connect', 'disconnect', 'delete', 'stats', 'offer', 'answer', 'update', 'map'), fc.string()),
    sessionId: ids, leg: ids, from: ids, to: ids,
    remote: fc.oneof(good, junk), a: fc.oneof(good, junk), b: fc.oneof(good, junk),
    security: fc.oneof(fc.constantFrom({ kind: 'rtp' }, { kind: 'srtp-relay' }, { kind: 'srtp-pending' }, { kind: 'srtp', rx: 1, tx: [] }), junk),
    ptMap: fc.oneof(fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(fc.integer({ min: -5, max: 200 }), fc.string())), junk),
    answer: junk, rtcpMux: junk, aToB: junk, bToA: junk,
  }, { requiredKeys: ['op'] });
  await fc.assert(fc.asyncProperty(fc.array(fc.oneof(request, junk), { maxLength: 25 }), async (reqs) => {
    const r = await rig();
    for (const q of reqs) {
      // Through JSON, as a request from another thread or process would come.
      const wire = q === undefined ? undefined : JSON.parse(JSON.stringify(q)) as unknown;
      try {
        await r.engine.request(wire as EngineRequest);
      } catch (e) {
        if (!(e instanceof PbxError)) throw e;
      }
    }
    // Whatever happened, the packet path is sound and every port is accounted for.
    for (const sock of [...r.net.bound.values()]) sock.deliver(voice(1, 1), PHONE['A']!);
    const all = await r.engine.request({ op: 'stats' });
    if (all.op !== 'stats') return false;
    const legs = all.sessions.reduce((n, s) => n + Object.keys(s.legs).length, 0);
    const consistent = all.portsInUse === legs * 2 && r.net.bound.size === legs * 2 && r.counters.get('media.packet-error') === 0;
    await r.engine.close();
    return consistent && r.net.bound.size === 0;
  }), { numRuns: 300 });
  t.pass();
});
