import t, { type Test } from 'tap';
import { SrtpSession } from '../../../firmware/media/srtp/index.js';
import {
  CIPHER_SUITE_NAMES, INITIAL_RETRANSMIT_MS, MAX_RETRANSMIT_MS, SRTP_PROFILE_NAMES, parseHandshakeFragments, parseRecords,
  type DtlsConnected, type GroupName,
} from '../../../firmware/keying/index.js';
import { CLIENT_ADDR, Pair, cert, type Wire } from './pair.js';

const rtp = (seq: number): Buffer => {
  const b = Buffer.alloc(12 + 160, 0x55);
  b[0] = 0x80; b[1] = 0; b.writeUInt16BE(seq, 2); b.writeUInt32BE(seq * 160, 4); b.writeUInt32BE(0x1234abcd, 8);
  return b;
};

/** The keys of both ends fit: what one sends with, the other receives with, through the engine's SrtpSession. */
function srtpWorks(t: Test, a: DtlsConnected, b: DtlsConnected): void {
  for (const [x, y] of [[a, b], [b, a]] as const) {
    const tx = new SrtpSession(x.srtp.localTx);
    const rx = new SrtpSession(y.srtp.localRx);
    const p = tx.protectRtp(rtp(7));
    t.ok(Buffer.isBuffer(p), 'protected');
    const back = rx.unprotectRtp(p as Buffer);
    t.ok(Buffer.isBuffer(back) && back.equals(rtp(7)), `${x.role} -> ${y.role} SRTP round trip`);
  }
  t.notOk(Buffer.from(a.srtp.localTx.masterKey).equals(Buffer.from(a.srtp.localRx.masterKey)), 'the two directions have different keys');
}

/** Handshake message types in one datagram (epoch-0 records only; epoch 1 is opaque). */
function types(d: Buffer): number[] {
  const r = parseRecords(d);
  if (!r.ok) return [];
  const out: number[] = [];
  for (const rec of r.value) {
    if (rec.type === 20) out.push(-20);
    else if (rec.type === 22 && rec.epoch === 0) {
      const f = parseHandshakeFragments(rec.fragment);
      if (f.ok) out.push(...f.value.map((x) => x.msgType));
    } else if (rec.epoch === 1) out.push(-1);
  }
  return out;
}

t.test('all four suites (both families) with both groups: both ends established with the same keys', async (t) => {
  for (const suite of CIPHER_SUITE_NAMES) {
    for (const group of ['x25519', 'secp256r1'] as GroupName[]) {
      const kind = suite.includes('RSA') ? 'rsa' : 'ecdsa';
      const p = new Pair({ serverCert: cert('server', kind), clientCert: cert('client', kind === 'rsa' ? 'ecdsa' : 'rsa'), clientSuites: [suite], clientGroups: [group] });
      p.handshake();
      t.same(p.failed, {}, `${suite} ${group}`);
      t.equal(p.connected.client?.suite, suite);
      t.equal(p.connected.server?.suite, suite);
      t.equal(p.connected.client?.group, group);
      srtpWorks(t, p.connected.client!, p.connected.server!);
    }
  }
});

t.test('all four SRTP profiles (RFC 5764 4.1.2, RFC 7714 14.2) with their key and salt lengths', async (t) => {
  const lengths = { SRTP_AES128_CM_SHA1_80: [16, 14], SRTP_AES128_CM_SHA1_32: [16, 14], SRTP_AEAD_AES_128_GCM: [16, 12], SRTP_AEAD_AES_256_GCM: [32, 12] };
  for (const profile of SRTP_PROFILE_NAMES) {
    const p = new Pair({ clientProfiles: [profile] });
    p.handshake();
    t.equal(p.connected.server?.profile, profile);
    t.equal(p.connected.client?.srtp.localTx.masterKey.length, lengths[profile][0]);
    t.equal(p.connected.client?.srtp.localTx.masterSalt.length, lengths[profile][1]);
    srtpWorks(t, p.connected.client!, p.connected.server!);
  }
  // The server's preference wins among what the client offers.
  const p = new Pair({ clientProfiles: ['SRTP_AES128_CM_SHA1_32', 'SRTP_AES128_CM_SHA1_80'], serverProfiles: ['SRTP_AES128_CM_SHA1_80', 'SRTP_AES128_CM_SHA1_32'] });
  p.handshake();
  t.equal(p.connected.client?.profile, 'SRTP_AES128_CM_SHA1_80');
});

t.test('the flights of a handshake: six of them, the cookie exchange first (RFC 6347 4.2.1, 4.2.4)', async (t) => {
  const p = new Pair();
  p.handshake();
  t.same(p.log.map((w) => [w.from, types(w.datagram)]), [
    ['client', [1]], ['server', [3]], ['client', [1]], ['server', [2, 11, 12, 13, 14]], ['client', [11, 16, 15, -20, -1]], ['server', [-20, -1]],
  ]);
  t.equal(p.clock.now(), Date.UTC(2026, 0, 1), 'no timer was needed');
  t.equal(p.clock.timerCount, 0, 'no timer left running');
  t.equal(p.server.remote?.port, CLIENT_ADDR.port, 'the server latched the client');
});

t.test('loss of any single flight is recovered by retransmission', async (t) => {
  for (let lost = 0; lost < 6; lost++) {
    const p = new Pair({ filter: (w) => (w.index === lost ? [] : [w.datagram]) });
    p.handshake();
    t.same(p.failed, {}, `flight ${lost + 1} lost`);
    t.ok(p.connected.client && p.connected.server, `flight ${lost + 1} lost: both connected`);
    t.same(p.connected.client?.srtp.localTx, p.connected.server?.srtp.localRx);
    t.ok(p.counters.client.get('dtls-retransmit') + p.counters.server.get('dtls-retransmit') >= 1, 'something was sent again');
    t.ok(p.clock.now() - Date.UTC(2026, 0, 1) >= INITIAL_RETRANSMIT_MS, 'after the 1 s timer');
  }
});

t.test('the last flight lost: the server sends it again when the client repeats its flight (RFC 6347 4.2.4)', async (t) => {
  let dropped = 0;
  const p = new Pair({ filter: (w) => (w.from === 'server' && w.index === 5 ? (dropped++, []) : [w.datagram]) });
  p.handshake();
  t.equal(dropped, 1);
  t.equal(p.server.state, 'established');
  t.equal(p.client.state, 'established');
  t.equal(p.counters.server.get('dtls-retransmit'), 1, 'server resent flight 6 once, on the repeated Finished');
});

t.test('timer backs off 1, 2, 4 ... 60 s and gives up with a timeout after a bounded total', async (t) => {
  const sentAt: number[] = [];
  const p = new Pair({ filter: (w) => { if (w.from === 'client') sentAt.push(p.clock.now()); return []; } });
  p.client.start();
  for (let i = 0; i < 200 && !p.failed.client; i++) p.clock.advance(1000);
  const gaps = sentAt.slice(1).map((x, i) => x - sentAt[i]!);
  t.same(gaps, [1000, 2000, 4000, 8000, 16000, 32000]);
  t.equal(p.failed.client?.code, 'timeout');
  t.equal(p.clock.now() - Date.UTC(2026, 0, 1) <= 63000 + MAX_RETRANSMIT_MS + 1000, true);
  t.equal(p.client.state, 'failed');
  t.equal(p.clock.timerCount, 0);
});

t.test('reordering and duplication: every datagram twice, and each flight delivered backwards', async (t) => {
  const dup = new Pair({ filter: (w) => [w.datagram, w.datagram] });
  dup.handshake();
  t.same(dup.failed, {});
  t.ok(dup.connected.client && dup.connected.server);
  t.ok(dup.counters.server.get('dtls-drop-replay') > 0, 'the duplicates are counted replays');
  // Small MTU so flights span many datagrams, then each burst reversed before delivery.
  const rev = new Pair({ mtu: 200, filter: (w) => [w.datagram] });
  rev.server.start();
  rev.client.start();
  for (let i = 0; i < 50 && !(rev.connected.client && rev.connected.server); i++) {
    rev.queue.reverse();
    const batch = rev.queue;
    rev.queue = [];
    for (const { to, d } of batch) (to === 'server' ? rev.server : rev.client).receive(d, to === 'server' ? CLIENT_ADDR : { address: '192.0.2.20', port: 50000 });
    if (rev.queue.length === 0) rev.clock.advance(1000);
  }
  t.same(rev.failed, {});
  t.ok(rev.connected.client && rev.connected.server, 'connected despite reversed flights');
  t.same(rev.connected.client?.srtp.localTx, rev.connected.server?.srtp.localRx);
});

t.test('fragmentation: a 200-byte MTU fragments certificates and flights, reassembled on the other side', async (t) => {
  const p = new Pair({ mtu: 200, serverCert: cert('server', 'rsa'), clientCert: cert('client', 'rsa') });
  p.handshake();
  t.same(p.failed, {});
  t.ok(p.log.every((w: Wire) => w.datagram.length <= 200), 'no datagram above the MTU');
  t.ok(p.log.length > 12, `${p.log.length} datagrams`);
  let fragmented = 0;
  for (const w of p.log) {
    const r = parseRecords(w.datagram);
    if (!r.ok) continue;
    for (const rec of r.value) {
      if (rec.type !== 22 || rec.epoch !== 0) continue;
      const f = parseHandshakeFragments(rec.fragment);
      if (f.ok) fragmented += f.value.filter((x) => x.body.length < x.length).length;
    }
  }
  t.ok(fragmented > 4, `${fragmented} partial fragments`);
  srtpWorks(t, p.connected.client!, p.connected.server!);
});

t.test('random loss (30%) with a fixed seed still completes within the retransmission budget', async (t) => {
  for (let seed = 1; seed <= 5; seed++) {
    let x = seed * 2654435761 >>> 0;
    const p = new Pair({ seed, filter: (w) => { x = (x * 1103515245 + 12345) >>> 0; return (x >>> 16) % 10 < 3 ? [] : [w.datagram]; } });
    p.handshake();
    t.ok(p.connected.client && p.connected.server, `seed ${seed}`);
  }
});

t.test('close() sends close_notify and the peer closes; restart() runs a new handshake with a new fingerprint', async (t) => {
  const p = new Pair();
  p.handshake();
  const first = p.connected.client!;
  // restart on both ends (a new offer/answer): fresh keys.
  delete p.connected.client;
  delete p.connected.server;
  p.server.restart(cert('client').fingerprint);
  p.client.restart(cert('server').fingerprint);
  p.run();
  t.equal(p.client.state, 'established');
  const again = ((): DtlsConnected | undefined => p.connected.client)();
  t.ok(again && !Buffer.from(again.srtp.localTx.masterKey).equals(Buffer.from(first.srtp.localTx.masterKey)), 'new keys');
  p.client.close();
  p.run();
  t.equal(p.server.state, 'closed');
  t.equal(p.client.state, 'closed');
  p.client.close();
  t.equal(p.client.state, 'closed', 'idempotent');
});

t.test('a throwing onConnected listener is counted and changes nothing; an unprotected alert after establishment is dropped', async (t) => {
  const { Counters, FakeClock, seededRandom } = await import('../../../firmware/core/index.js');
  const { DtlsEndpoint, serializeRecord, serializeAlert } = await import('../../../firmware/keying/index.js');
  const clock = new FakeClock();
  const counters = new Counters();
  const q: { to: 'c' | 's'; d: Buffer }[] = [];
  const mk = (role: 'client' | 'server'): InstanceType<typeof DtlsEndpoint> => new DtlsEndpoint({
    role, certificate: cert(role), expectedFingerprint: cert(role === 'client' ? 'server' : 'client').fingerprint,
    clock, random: seededRandom(role === 'client' ? 3 : 4), counters,
    send: (d) => q.push({ to: role === 'client' ? 's' : 'c', d }),
    onConnected: () => { throw new Error('listener bug'); },
  });
  const c = mk('client');
  const s = mk('server');
  s.start();
  c.start();
  for (let i = 0; q.length > 0 && i < 100; i++) {
    const { to, d } = q.shift()!;
    if (to === 's') s.receive(d, CLIENT_ADDR);
    else c.receive(d, { address: '192.0.2.20', port: 50000 });
  }
  t.equal(c.state, 'established');
  t.equal(s.state, 'established');
  t.equal(counters.get('dtls-listener-error'), 2);
  s.receive(serializeRecord({ type: 21, version: 0xfefd, epoch: 0, seq: 99, fragment: serializeAlert({ level: 2, description: 40 }) }), CLIENT_ADDR);
  t.equal(s.state, 'established', 'an alert in the clear cannot end a keyed association');
  t.equal(counters.get('dtls-drop-alert'), 1);
});
