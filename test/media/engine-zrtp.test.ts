/**
 * ZRTP (RFC 6189) in the media engine, over in-memory sockets on a fake
 * clock: the box terminates ZRTP on a leg (the agent from keying/zrtp's
 * ZrtpBox, as main.ts wires it) against a phone played by a ZrtpEndpoint,
 * then the leg carries SRTP under the ZRTP-derived keys, bridged to a plain
 * leg; Hello retransmission on the engine's clock; a Hello that does not
 * match the SDP's a=zrtp-hash; strangers; end-to-end ZRTP between two phones
 * relayed untouched; 10^5 mutated ZRTP packets into the engine.
 */
import { createHash } from 'node:crypto';
import t from 'tap';
import { Counters, FakeClock, seededRandom, type Random } from '../../firmware/core/index.js';
import {
  MemoryZrtpCache, ZrtpBox, ZrtpEndpoint, isZrtpPacket, parseZrtpPacket, type ZrtpSecure,
} from '../../firmware/keying/index.js';
import { writeCrc32c } from '../../firmware/keying/zrtp/index.js';
import { MediaEngine, type EngineEvent, type LegSecurity, type LegStats, type RemoteMedia } from '../../firmware/media/index.js';
import { SrtpSession } from '../../firmware/media/srtp/index.js';
import { FakeNet, legOf, rtp, type FakeSocket } from './helpers.js';

const PHONE = { address: '10.0.0.5', port: 4000 };
const PHONE2 = { address: '10.0.0.6', port: 4100 };
const PLAIN = { address: '10.0.0.9', port: 5000 };
const STRANGER = { address: '10.6.6.6', port: 4000 };

function remote(e: { address: string; port: number }): RemoteMedia {
  return { rtp: { ...e }, rtcp: { address: e.address, port: e.port + 1 }, rtcpMux: false, direction: 'sendrecv' };
}

/** A phone on the fake network: a ZrtpEndpoint whose packets go to the box's port from PHONE. */
interface FakePhone {
  readonly ep: ZrtpEndpoint;
  readonly counters: Counters;
  readonly cache: MemoryZrtpCache;
  secure: ZrtpSecure | undefined;
  failed: string | undefined;
  /** Packets the phone sent, in order. */
  readonly out: Buffer[];
}

function fakePhone(clock: FakeClock, zidByte: number, random: Random, o: { commit?: boolean; cache?: MemoryZrtpCache } = {}): FakePhone {
  const counters = new Counters();
  const cache = o.cache ?? new MemoryZrtpCache();
  const me: FakePhone = {
    counters, cache, secure: undefined, failed: undefined, out: [],
    ep: new ZrtpEndpoint({
      zid: Buffer.alloc(12, zidByte), clock, random, cache, counters, clientId: 'test phone', ...(o.commit === false ? { commit: false } : {}),
      send: (p) => { me.out.push(p); },
      onSecure: (s) => { me.secure = s; },
      onFailed: (r) => { me.failed = r; },
    }),
  };
  return me;
}

interface Rig {
  readonly clock: FakeClock;
  readonly counters: Counters;
  readonly net: FakeNet;
  readonly engine: MediaEngine;
  readonly box: ZrtpBox;
  readonly boxCache: MemoryZrtpCache;
  readonly events: EngineEvent[];
  stats(): Promise<{ a: LegStats; b: LegStats }>;
  port(leg: 'a' | 'b'): Promise<number>;
}

interface HasTeardown { teardown(fn: () => unknown): void }

async function rig(t: HasTeardown): Promise<Rig> {
  const clock = new FakeClock();
  const counters = new Counters();
  const net = new FakeNet();
  const boxCache = new MemoryZrtpCache();
  const box = new ZrtpBox({ zid: Buffer.alloc(12, 0xb0), cache: boxCache, clock, random: seededRandom(77), counters });
  const engine = new MediaEngine({
    bindAddress: '10.0.0.1', advertiseAddress: '10.0.0.1', portRange: { min: 30000, max: 30099 }, clock, counters,
    socketFactory: net.factory, zrtp: box.agents,
  });
  t.teardown(() => engine.close());
  const events: EngineEvent[] = [];
  engine.onEvent((e) => events.push(e));
  const stats = async (): Promise<{ a: LegStats; b: LegStats }> => {
    const r = await engine.request({ op: 'stats', sessionId: 's' });
    if (r.op !== 'stats') throw new Error('stats');
    return { a: legOf(r.sessions[0], 'a'), b: legOf(r.sessions[0], 'b') };
  };
  const port = async (leg: 'a' | 'b'): Promise<number> => (await stats())[leg].local.rtpPort;
  return { clock, counters, net, engine, box, boxCache, events, stats, port };
}

/** The box's a=zrtp-hash for a leg, as call control writes it (ZrtpLeg does the same). */
function zrtpSecurity(_r: Rig, h0: Buffer, peerHelloHash?: string): LegSecurity {
  return { kind: 'zrtp', zrtp: { h0, mitm: true, ...(peerHelloHash ? { peerHelloHash } : {}) } };
}

/** Open session s: leg a (ZRTP or as given) toward PHONE, leg b plain toward PLAIN, connected both ways. */
async function open(r: Rig, a: LegSecurity, b: LegSecurity = { kind: 'rtp' }, bRemote = PLAIN): Promise<{ sockA: FakeSocket; sockB: FakeSocket }> {
  await r.engine.request({ op: 'create', sessionId: 's' });
  await r.engine.request({ op: 'add-leg', sessionId: 's', leg: 'a', remote: remote(PHONE), security: a });
  await r.engine.request({ op: 'add-leg', sessionId: 's', leg: 'b', remote: remote(bRemote), security: b });
  await r.engine.request({ op: 'connect', sessionId: 's', from: 'a', to: 'b' });
  await r.engine.request({ op: 'connect', sessionId: 's', from: 'b', to: 'a' });
  return { sockA: r.net.at(await r.port('a')), sockB: r.net.at(await r.port('b')) };
}

/**
 * Move packets both ways until `done` or `ms` of fake time: what the engine
 * sent on `sock` to `to` goes to the phone's endpoint (`filter` may drop it),
 * what the phone sent arrives on `sock` from `from`.
 */
function pump(r: Rig, sock: FakeSocket, phone: FakePhone, o: {
  to?: { address: string; port: number }; from?: { address: string; port: number }; done?: () => boolean; ms?: number;
  filter?: (p: Buffer, nth: number) => boolean;
} = {}): { boxSent: Buffer[] } {
  const to = o.to ?? PHONE;
  const from = o.from ?? PHONE;
  let seenSent = 0;
  let seenOut = 0;
  let nth = 0;
  const boxSent: Buffer[] = [];
  const end = r.clock.now() + (o.ms ?? 30_000);
  for (;;) {
    for (let moved = true; moved;) {
      moved = false;
      while (seenSent < sock.sent.length) {
        const s = sock.sent[seenSent++]!;
        if (s.address !== to.address || s.port !== to.port || !isZrtpPacket(s.data)) continue;
        boxSent.push(s.data);
        if (o.filter && !o.filter(s.data, nth++)) continue;
        phone.ep.receive(s.data);
        moved = true;
      }
      while (seenOut < phone.out.length) {
        sock.deliver(phone.out[seenOut++]!, from);
        moved = true;
      }
    }
    if ((o.done ?? (() => false))() || r.clock.now() >= end) break;
    r.clock.advance(10);
  }
  return { boxSent };
}

const keyingEvents = (r: Rig): Extract<EngineEvent, { type: 'keying' }>[] =>
  r.events.filter((e): e is Extract<EngineEvent, { type: 'keying' }> => e.type === 'keying');

t.test('the box terminates ZRTP on a leg: secure with the same SAS, the ZRTP keys carry SRTP bridged to a plain leg (RFC 6189 4)', async (t) => {
  const r = await rig(t);
  const phone = fakePhone(r.clock, 0x51, seededRandom(5));
  const h0 = Buffer.alloc(32, 0x33);
  const { sockA, sockB } = await open(r, zrtpSecurity(r, h0, phone.ep.zrtpHash));
  t.equal((await r.stats()).a.security, 'srtp-pending', 'pending until ZRTP is secure');
  t.equal((await r.stats()).a.zrtp, 'negotiating');

  // Before the exchange nothing passes either way.
  sockA.deliver(rtp({ pt: 0, seq: 1, ssrc: 9 }), PHONE);
  sockB.deliver(rtp({ pt: 0, seq: 1, ssrc: 7 }), PLAIN);
  t.equal(sockB.sent.length, 0, 'nothing from the ZRTP phone reaches the plain leg before the keys');
  t.notOk(sockA.sent.some((s) => !isZrtpPacket(s.data)), 'nothing but ZRTP goes to the ZRTP phone before the keys');
  t.equal((await r.stats()).a.dropped['no-keys'], 2, 'both counted as no-keys on the ZRTP leg');

  phone.ep.start();
  const { boxSent } = pump(r, sockA, phone, { done: () => phone.secure !== undefined && keyingEvents(r).length > 0 });
  t.ok(phone.secure, 'the phone is secure');
  const ev = keyingEvents(r);
  t.equal(ev.length, 1);
  t.equal(ev[0]!.state, 'done');
  t.equal(ev[0]!.zrtp?.sas, phone.secure!.sas, 'the box and the phone show the same SAS');
  t.equal(ev[0]!.zrtp?.cacheMatch, 'none');
  t.equal(ev[0]!.zrtp?.peerZid, Buffer.alloc(12, 0x51).toString('hex'));
  t.notOk(JSON.stringify(ev[0]).match(/masterKey|masterSalt/), 'the event carries no key');
  // Our Hello is the one the SDP announced.
  const hello = boxSent.map((p) => parseZrtpPacket(p)).find((p) => p.ok && p.message.type === 'Hello');
  t.ok(hello && hello.ok && `1.10 ${hashHex(hello.messageBytes)}` === r.box.helloHash(h0, true), 'the Hello on the wire matches our a=zrtp-hash');
  t.ok(hello && hello.ok && hello.message.type === 'Hello' && hello.message.mitm, 'our Hello has the M flag (trusted PBX)');
  const st = await r.stats();
  t.equal(st.a.security, 'srtp');
  t.equal(st.a.zrtp, 'secure');
  t.equal(st.a.suite, phone.secure!.srtp.tx.suite);

  // The phone sends SRTP under its ZRTP keys: the plain leg gets the clear packet.
  const phoneTx = new SrtpSession(phone.secure!.srtp.tx);
  const phoneRx = new SrtpSession(phone.secure!.srtp.rx);
  const voice = rtp({ pt: 0, seq: 100, ts: 16000, ssrc: 0x1234, payload: Buffer.alloc(160, 0x5a) });
  const enc = phoneTx.protectRtp(voice);
  if (typeof enc === 'string') throw new Error(enc);
  sockA.deliver(Buffer.from(enc), PHONE);
  const toPlain = sockB.sent.filter((s) => s.port === PLAIN.port);
  t.equal(toPlain.length, 1, 'decrypted and forwarded');
  t.same(toPlain[0]!.data, voice, 'the plain leg gets the clear packet');
  // The plain phone's packet reaches the ZRTP phone as SRTP it can decrypt.
  const back = rtp({ pt: 0, seq: 7, ts: 1120, ssrc: 0x77, payload: Buffer.alloc(160, 0x11) });
  const before = sockA.sent.length;
  sockB.deliver(back, PLAIN);
  const sent = sockA.sent.slice(before);
  t.equal(sent.length, 1);
  t.equal(sent[0]!.data.length, back.length + (phone.secure!.authTag === 'HS80' ? 10 : 4), 'SRTP on the wire');
  const dec = phoneRx.unprotectRtp(Buffer.from(sent[0]!.data));
  t.same(typeof dec === 'string' ? dec : Buffer.from(dec), back, 'the ZRTP phone decrypts the box\'s SRTP');
  // A replay of the phone's packet is refused by the ZRTP-keyed context.
  sockA.deliver(Buffer.from(enc), PHONE);
  t.equal((await r.stats()).a.dropped['srtp-replay'], 1);
  t.ok(r.boxCache.get(Buffer.alloc(12, 0x51))?.rs1, 'the box keeps a retained secret for the phone');
});

function hashHex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

t.test('the box commits as initiator when the phone waits; Hello is resent on the engine clock until answered (RFC 6189 6)', async (t) => {
  const r = await rig(t);
  const phone = fakePhone(r.clock, 0x52, seededRandom(6), { commit: false });
  await open(r, zrtpSecurity(r, Buffer.alloc(32, 0x34)));
  const sockA = r.net.at(await r.port('a'));
  // The box's first three Hellos are lost on the way.
  phone.ep.start();
  let hellos = 0;
  const { boxSent } = pump(r, sockA, phone, {
    filter: (p) => { const m = parseZrtpPacket(p); if (m.ok && m.message.type === 'Hello') hellos++; return hellos > 3; },
    done: () => phone.secure !== undefined && keyingEvents(r).length > 0,
  });
  t.ok(phone.secure, 'secure after the lost Hellos');
  t.ok(r.counters.get('zrtp.retransmit') >= 3, 'Hello retransmitted by the T1 timer');
  t.equal(phone.secure!.role, 'responder', 'the phone waited: the box is the initiator');
  t.equal(keyingEvents(r)[0]!.zrtp?.role, 'initiator');
  t.equal(keyingEvents(r)[0]!.zrtp?.sas, phone.secure!.sas);
  t.ok(boxSent.some((p) => { const m = parseZrtpPacket(p); return m.ok && m.message.type === 'Commit'; }), 'the box sent the Commit');
});

t.test('a Hello that does not match the a=zrtp-hash of the SDP is refused: no keys (RFC 6189 8.1)', async (t) => {
  const r = await rig(t);
  const phone = fakePhone(r.clock, 0x53, seededRandom(7));
  const other = fakePhone(r.clock, 0x54, seededRandom(8));
  const { sockA } = await open(r, zrtpSecurity(r, Buffer.alloc(32, 0x35), other.ep.zrtpHash));
  phone.ep.start();
  pump(r, sockA, phone, { ms: 3_000 });
  t.equal(phone.secure, undefined);
  t.equal(keyingEvents(r).filter((e) => e.state === 'done').length, 0, 'no keying done');
  t.ok(r.counters.get('zrtp.drop.bad-zrtp-hash') > 0, 'counted');
  t.equal((await r.stats()).a.security, 'srtp-pending');
});

t.test('the Hello is given up after T1: keying failed, the leg stays closed', async (t) => {
  const r = await rig(t);
  await open(r, zrtpSecurity(r, Buffer.alloc(32, 0x36)));
  r.clock.advance(60_000);
  const ev = keyingEvents(r);
  t.equal(ev.length, 1);
  t.equal(ev[0]!.state, 'failed');
  t.match(ev[0]!.reason, /^zrtp: timeout/);
  t.equal((await r.stats()).a.zrtp, 'failed');
  t.equal((await r.stats()).a.security, 'srtp-pending');
});

t.test('ZRTP from a stranger or on the RTCP port never reaches the agent; without a remote nothing is taken', async (t) => {
  const r = await rig(t);
  const phone = fakePhone(r.clock, 0x55, seededRandom(9));
  await r.engine.request({ op: 'create', sessionId: 's' });
  await r.engine.request({ op: 'add-leg', sessionId: 's', leg: 'a', security: zrtpSecurity(r, Buffer.alloc(32, 0x37)) });
  await r.engine.request({ op: 'add-leg', sessionId: 's', leg: 'b', remote: remote(PLAIN) });
  const sockA = r.net.at(await r.port('a'));
  phone.ep.start();
  sockA.deliver(phone.out[0]!, PHONE);
  t.equal((await r.stats()).a.dropped['no-remote'], 1, 'no remote yet: dropped');
  t.equal(sockA.sent.length, 0, 'and the box sends no Hello before it knows where');
  await r.engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', remote: remote(PHONE) });
  t.ok(sockA.sent.some((s) => isZrtpPacket(s.data)), 'the Hello goes once the remote is known');
  sockA.deliver(phone.out[0]!, STRANGER);
  t.equal((await r.stats()).a.dropped['foreign-host'], 1, 'a stranger\'s ZRTP is refused');
  const rtcpSock = r.net.at((await r.stats()).a.local.rtcpPort);
  rtcpSock.deliver(phone.out[0]!, { address: PHONE.address, port: PHONE.port + 1 });
  t.equal((await r.stats()).a.dropped['zrtp-on-rtcp-port'], 1);
  t.equal(r.counters.get('zrtp.rx.Hello'), 0, 'the agent saw none of them');
  // The plain leg runs no ZRTP.
  const sockB = r.net.at(await r.port('b'));
  sockB.deliver(phone.out[0]!, PLAIN);
  t.equal((await r.stats()).b.dropped['unhandled-zrtp'], 1);
});

t.test('requests: a ZRTP leg needs the factory (config), a 32-byte h0 (protocol); zrtp-verified needs a secure leg', async (t) => {
  const r = await rig(t);
  const bare = new MediaEngine({
    bindAddress: '10.0.0.1', advertiseAddress: '10.0.0.1', portRange: { min: 31000, max: 31009 }, clock: r.clock, socketFactory: r.net.factory,
  });
  t.teardown(() => bare.close());
  await bare.request({ op: 'create', sessionId: 'x' });
  await t.rejects(bare.request({ op: 'add-leg', sessionId: 'x', leg: 'a', security: { kind: 'zrtp', zrtp: { h0: Buffer.alloc(32) } } }), { code: 'config' });
  t.equal(r.net.bound.size, 0, 'no port taken by the refused leg');
  await r.engine.request({ op: 'create', sessionId: 's' });
  await t.rejects(r.engine.request({ op: 'add-leg', sessionId: 's', leg: 'a', security: { kind: 'zrtp', zrtp: { h0: Buffer.alloc(31) } } }), { code: 'protocol' });
  await r.engine.request({ op: 'add-leg', sessionId: 's', leg: 'a', remote: remote(PHONE), security: zrtpSecurity(r, Buffer.alloc(32, 1)) });
  await t.rejects(r.engine.request({ op: 'zrtp-verified', sessionId: 's', leg: 'a', verified: true }), { code: 'invalid-state' });
  await t.rejects(r.engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', security: { kind: 'rtp' } }), { code: 'protocol' }, 'no downgrade to RTP');
});

t.test('an update with the same h0 keeps the exchange and its keys; the verified flag goes to the cache (RFC 6189 7.1)', async (t) => {
  const r = await rig(t);
  const phone = fakePhone(r.clock, 0x56, seededRandom(10));
  const sec = zrtpSecurity(r, Buffer.alloc(32, 0x38), phone.ep.zrtpHash);
  const { sockA, sockB } = await open(r, sec);
  phone.ep.start();
  pump(r, sockA, phone, { done: () => phone.secure !== undefined && keyingEvents(r).length > 0 });
  await r.engine.request({ op: 'update-leg', sessionId: 's', leg: 'a', remote: remote(PHONE), security: sec });
  t.equal((await r.stats()).a.security, 'srtp', 'still keyed after a re-offer with the same Hello');
  const enc = new SrtpSession(phone.secure!.srtp.tx).protectRtp(rtp({ pt: 0, seq: 5, ssrc: 3, payload: Buffer.alloc(160, 1) }));
  if (typeof enc === 'string') throw new Error(enc);
  sockA.deliver(Buffer.from(enc), PHONE);
  t.equal(sockB.sent.length, 1, 'the ZRTP keys still decrypt');
  await r.engine.request({ op: 'zrtp-verified', sessionId: 's', leg: 'a', verified: true });
  t.equal(r.boxCache.get(Buffer.alloc(12, 0x56))?.verified, true);
});

t.test('a second call with the same phone matches the cache; after the box loses its entry the phone reports a mismatch (RFC 6189 4.6.1)', async (t) => {
  const r = await rig(t);
  const phoneCache = new MemoryZrtpCache();
  const call = async (n: number): Promise<{ box: string | undefined; phone: ZrtpSecure | undefined }> => {
    const phone = fakePhone(r.clock, 0x57, seededRandom(20 + n), { cache: phoneCache });
    const before = keyingEvents(r).length;
    await r.engine.request({ op: 'create', sessionId: 's' });
    await r.engine.request({ op: 'add-leg', sessionId: 's', leg: 'a', remote: remote(PHONE), security: zrtpSecurity(r, Buffer.alloc(32, 0x40 + n), phone.ep.zrtpHash) });
    await r.engine.request({ op: 'add-leg', sessionId: 's', leg: 'b', remote: remote(PLAIN) });
    const sockA = r.net.at(await r.port('a'));
    phone.ep.start();
    pump(r, sockA, phone, { done: () => phone.secure !== undefined && keyingEvents(r).length > before });
    const ev = keyingEvents(r)[before];
    await r.engine.request({ op: 'delete', sessionId: 's' });
    return { box: ev?.zrtp?.cacheMatch, phone: phone.secure };
  };
  const first = await call(1);
  t.equal(first.box, 'none');
  const second = await call(2);
  t.equal(second.box, 'match', 'the second call uses the retained secret');
  t.equal(second.phone?.cacheMatch, 'match');
  r.boxCache.delete(Buffer.alloc(12, 0x57));
  const third = await call(3);
  t.equal(third.box, 'none', 'the box has no entry now');
  t.equal(third.phone?.cacheMatch, 'mismatch', 'the phone reports the mismatch');
});

t.test('end-to-end ZRTP relayed untouched: the two phones agree on one SAS, SRTP passes, the box holds no key (RFC 6189 7)', async (t) => {
  const r = await rig(t);
  const p1 = fakePhone(r.clock, 0x61, seededRandom(11));
  const p2 = fakePhone(r.clock, 0x62, seededRandom(12));
  const { sockA, sockB } = await open(r, { kind: 'srtp-relay' }, { kind: 'srtp-relay' }, PHONE2);
  p1.ep.start();
  p2.ep.start();
  let a = 0; let b = 0; let o1 = 0; let o2 = 0;
  const end = r.clock.now() + 30_000;
  while (!(p1.secure && p2.secure) && r.clock.now() < end) {
    for (let moved = true; moved;) {
      moved = false;
      while (o1 < p1.out.length) { sockA.deliver(p1.out[o1++]!, PHONE); moved = true; }
      while (o2 < p2.out.length) { sockB.deliver(p2.out[o2++]!, PHONE2); moved = true; }
      while (a < sockA.sent.length) { const s = sockA.sent[a++]!; if (s.port === PHONE.port) p1.ep.receive(s.data); moved = true; }
      while (b < sockB.sent.length) { const s = sockB.sent[b++]!; if (s.port === PHONE2.port) p2.ep.receive(s.data); moved = true; }
    }
    r.clock.advance(10);
  }
  t.ok(p1.secure && p2.secure, 'both phones secure through the box');
  t.equal(p1.secure!.sas, p2.secure!.sas, 'the phones see the same SAS: nobody in between');
  t.same(sockA.sent.filter((s) => isZrtpPacket(s.data)).map((s) => s.data), p2.out, 'every ZRTP packet passed byte for byte');
  t.equal(keyingEvents(r).length, 0, 'the box raised no keying event: it has no keys');
  t.equal(r.counters.get('zrtp.rx.Hello'), 0, 'no agent of the box read a packet');
  const enc = new SrtpSession(p1.secure!.srtp.tx).protectRtp(rtp({ pt: 0, seq: 9, ssrc: 0x99, payload: Buffer.alloc(160, 2) }));
  if (typeof enc === 'string') throw new Error(enc);
  const before = sockB.sent.length;
  sockA.deliver(Buffer.from(enc), PHONE);
  const got = sockB.sent.slice(before);
  t.equal(got.length, 1);
  t.same(got[0]!.data, Buffer.from(enc), 'SRTP passes untouched');
  const dec = new SrtpSession(p2.secure!.srtp.rx).unprotectRtp(Buffer.from(got[0]!.data));
  t.type(dec, Buffer, 'the other phone decrypts it');
});

t.test('10^5 mutated ZRTP packets into the engine, at a secure leg and a negotiating one: no throw, each counted, calls work after', async (t) => {
  const r = await rig(t);
  const phone = fakePhone(r.clock, 0x58, seededRandom(13));
  const { sockA } = await open(r, zrtpSecurity(r, Buffer.alloc(32, 0x39), phone.ep.zrtpHash));
  phone.ep.start();
  const { boxSent } = pump(r, sockA, phone, { done: () => phone.secure !== undefined && keyingEvents(r).length > 0 });
  t.ok(phone.secure);
  // A second session whose leg is still negotiating (its phone never answers).
  await r.engine.request({ op: 'create', sessionId: 's2' });
  const add = await r.engine.request({ op: 'add-leg', sessionId: 's2', leg: 'a', remote: remote(PHONE), security: zrtpSecurity(r, Buffer.alloc(32, 0x3b)) });
  if (add.op !== 'add-leg') throw new Error('add-leg');
  const sock2 = r.net.at(add.local.rtpPort);
  // Real packets of both directions to mutate.
  const originals = [...phone.out, ...boxSent];
  const rnd = seededRandom(99);
  const N = 100_000;
  const total = (): number => Object.values(r.counters.snapshot()).reduce((x, y) => x + y, 0);
  let uncounted = 0;
  for (let i = 0; i < N; i++) {
    const p = Buffer.from(originals[rnd.int(originals.length)]!);
    const k = rnd.int(4);
    let m: Buffer = p;
    if (k === 0) p[rnd.int(p.length)] = rnd.int(256);
    else if (k === 1) p.writeUInt32BE(rnd.int(0x100000000), 4 * rnd.int(p.length / 4));
    else if (k === 2) m = p.subarray(0, 12 + rnd.int(p.length - 12));
    else m = Buffer.concat([p, rnd.bytes(4 * (1 + rnd.int(8)))]);
    m[0] = 0x10; // still classified as ZRTP
    if (m.length >= 16 && m.length % 4 === 0 && rnd.int(2) === 0) writeCrc32c(m);
    const before = total();
    (i % 2 === 0 ? sockA : sock2).deliver(Buffer.from(m), rnd.int(5) === 0 ? STRANGER : PHONE);
    if (total() === before) uncounted++;
    if (i % 100 === 0) r.clock.advance(rnd.int(50));
  }
  t.equal(uncounted, 0, 'every packet moved a counter');
  t.equal(r.counters.get('media.packet-error'), 0, 'no fault on the packet path');
  t.equal(r.counters.get('zrtp.drop.internal'), 0, 'no fault inside an agent');
  t.ok(r.counters.get('zrtp.drop.bad-crc') > 0 && r.counters.get('media.drop.foreign-host') > 0, 'bad CRCs and strangers among them');
  t.equal((await r.stats()).a.security, 'srtp', 'the secure leg kept its keys');
  // A fresh call still works afterwards.
  await r.engine.request({ op: 'delete', sessionId: 's' });
  await r.engine.request({ op: 'delete', sessionId: 's2' });
  const again = fakePhone(r.clock, 0x5a, seededRandom(15));
  const rr = await open(r, zrtpSecurity(r, Buffer.alloc(32, 0x3a), again.ep.zrtpHash));
  again.ep.start();
  pump(r, rr.sockA, again, { done: () => again.secure !== undefined });
  t.ok(again.secure, 'a new call goes secure after the campaign');
});
