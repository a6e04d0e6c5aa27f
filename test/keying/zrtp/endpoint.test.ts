import t, { type Test } from 'tap';
import { SrtpSession } from '../../../firmware/media/srtp/index.js';
import {
  writeCrc32c, MemoryZrtpCache, parsePacket, renderSas, serializeMessage, serializePacket, T1_MAX_TRIES, zrtpHashOfHello,
  type AuthTagType, type CipherType, type KeyAgreementType, type SasType, type ZrtpMessageType, type ZrtpSecure,
} from '../../../firmware/keying/zrtp/index.js';
import { world, type NetFilter, type Party } from './world.js';

function secureBoth(t: Test, a: Party, b: Party): [ZrtpSecure, ZrtpSecure] {
  t.equal(a.failed, undefined, 'a did not fail');
  t.equal(b.failed, undefined, 'b did not fail');
  if (!a.secure || !b.secure) throw new Error(`not secure: a=${a.ep.currentState} b=${b.ep.currentState}`);
  return [a.secure, b.secure];
}

function rtp(seq: number): Buffer {
  const b = Buffer.alloc(12 + 160, 0x55);
  b[0] = 0x80; b[1] = 0; b.writeUInt16BE(seq, 2); b.writeUInt32BE(seq * 160, 4); b.writeUInt32BE(0x1234, 8);
  return b;
}

/** One side's SRTP tx keys must decrypt on the other's rx, both ways (RFC 6189 4.5.3). */
function mediaFlows(t: Test, x: ZrtpSecure, y: ZrtpSecure): void {
  t.same(x.srtp.tx, y.srtp.rx, 'a tx = b rx');
  t.same(y.srtp.tx, x.srtp.rx, 'b tx = a rx');
  t.notSame(x.srtp.tx.masterKey, x.srtp.rx.masterKey, 'the two directions have their own keys');
  for (const [tx, rx] of [[x, y], [y, x]] as const) {
    const wire = new SrtpSession(tx.srtp.tx).protectRtp(rtp(7));
    if (typeof wire === 'string') throw new Error(wire);
    t.same(new SrtpSession(rx.srtp.rx).unprotectRtp(Buffer.from(wire)), rtp(7), 'SRTP packet decrypts on the other side');
  }
}

t.test('every key agreement, cipher and auth tag: both sides agree on SAS and SRTP keys (RFC 6189 4)', async (t) => {
  const kas: KeyAgreementType[] = ['DH3k', 'EC25', 'X255'];
  const ciphers: CipherType[] = ['AES1', 'AES3'];
  const tags: AuthTagType[] = ['HS32', 'HS80'];
  let i = 0;
  for (const ka of kas) for (const cipher of ciphers) for (const tag of tags) {
    const sasType: SasType = i++ % 2 === 0 ? 'B32' : 'B256';
    const supported = { keyAgreements: [ka], ciphers: [cipher], authTags: [tag], sasTypes: [sasType] };
    const w = world({ supported }, { supported, commit: false }, undefined, i);
    w.run();
    const [x, y] = secureBoth(t, w.a, w.b);
    t.equal(x.keyAgreement, ka); t.equal(x.cipher, cipher); t.equal(x.authTag, tag); t.equal(x.sasType, sasType);
    t.equal(x.sas, y.sas, `${ka}/${cipher}/${tag}: same SAS ${x.sas}`);
    t.match(x.sas, sasType === 'B32' ? /^[ybndrfg8ejkmcpqxot1uwisza345h769]{4}$/ : /^[A-Za-z]+ [A-Za-z]+$/);
    t.equal(x.role, 'initiator'); t.equal(y.role, 'responder');
    t.equal(x.srtp.tx.suite, `AES_${cipher === 'AES1' ? 'CM_128' : '256_CM'}_HMAC_SHA1_${tag === 'HS80' ? 80 : 32}`);
    t.equal(x.srtp.tx.masterKey.length, cipher === 'AES1' ? 16 : 32);
    t.equal(x.srtp.tx.masterSalt.length, 14);
    mediaFlows(t, x, y);
    t.equal(x.cacheMatch, 'none'); t.equal(y.cacheMatch, 'none');
    t.same(x.peerZid, Buffer.alloc(12, 0xb2));
  }
});

t.test('the message flow is the RFC 6189 4 exchange, no timer needed on a clean path', async (t) => {
  const w = world({}, { commit: false });
  w.run();
  secureBoth(t, w.a, w.b);
  const seq = w.log.map((l) => `${l.from}:${l.type}`);
  t.same(seq, [
    'a:Hello', 'b:Hello', 'b:HelloACK', 'a:HelloACK', 'a:Commit', 'b:DHPart1', 'a:DHPart2', 'b:Confirm1', 'a:Confirm2', 'b:Conf2ACK',
  ]);
  t.equal(w.a.counters.get('zrtp.retransmit') + w.b.counters.get('zrtp.retransmit'), 0);
  t.equal(w.clock.timerCount, 0, 'no timer left running once secure');
});

const TYPES: ZrtpMessageType[] = ['Hello', 'HelloACK', 'Commit', 'DHPart1', 'DHPart2', 'Confirm1', 'Confirm2', 'Conf2ACK'];

t.test('loss, duplication and reordering of any message are recovered by T1/T2 (RFC 6189 6)', async (t) => {
  for (const type of TYPES) {
    for (const what of ['drop', 'dup', 'hold'] as const) {
      for (const times of [1, 3]) {
        const filter: NetFilter = (_p, _from, ty, nth) => (ty === type && nth < times ? what : 'pass');
        const w = world({}, { commit: false }, filter, 3);
        w.run();
        const [x, y] = secureBoth(t, w.a, w.b);
        t.equal(x.sas, y.sas, `${what} ${type} x${times}: same SAS`);
        mediaFlows(t, x, y);
      }
    }
  }
});

t.test('a Hello that never gets an answer gives up after T1 tries', async (t) => {
  const w = world({}, {}, (_p, from) => (from === 'a' ? 'drop' : 'pass'));
  w.b.ep.close();
  w.run(60_000);
  t.equal(w.a.failed, 'timeout');
  t.equal(w.log.filter((l) => l.from === 'a' && l.type === 'Hello').length, T1_MAX_TRIES);
  t.equal(w.clock.timerCount, 0);
});

t.test('T2 schedule: Commit resent at 150, 300, 600, 1200, 1200 ms ... 10 tries, then Error timeout', async (t) => {
  const sent: number[] = [];
  let w: ReturnType<typeof world> | undefined;
  const filter: NetFilter = (_p, from, ty) => {
    if (from === 'a' && ty === 'Commit') { sent.push((w as ReturnType<typeof world>).clock.now()); return 'drop'; }
    return 'pass';
  };
  w = world({}, { commit: false }, filter);
  w.run(30_000);
  t.equal(sent.length, 10);
  const gaps = sent.slice(1).map((s, i) => s - (sent[i] as number));
  t.same(gaps, [150, 300, 600, 1200, 1200, 1200, 1200, 1200, 1200]);
  t.equal(w.a.failed, 'timeout');
});

t.test('commit contention: both commit, the larger hvi initiates (RFC 6189 4.2)', async (t) => {
  for (let seed = 1; seed <= 6; seed++) {
    const w = world({}, {}, undefined, seed);
    w.run();
    const [x, y] = secureBoth(t, w.a, w.b);
    t.equal(w.log.filter((l) => l.type === 'Commit').length >= 2, true, 'both sent a Commit');
    t.not(x.role, y.role, 'one initiator, one responder');
    const lost = w.a.counters.get('zrtp.drop.contention-lost') + w.b.counters.get('zrtp.drop.contention-lost');
    const won = w.a.counters.get('zrtp.drop.contention-won') + w.b.counters.get('zrtp.drop.contention-won');
    t.equal(lost, 1); t.equal(won, 1);
    const loser = w.a.counters.get('zrtp.drop.contention-lost') === 1 ? x : y;
    t.equal(loser.role, 'responder', 'the side that saw the larger hvi became the responder');
    t.equal(x.sas, y.sas);
    mediaFlows(t, x, y);
  }
});

t.test('second call with the cache: match, and the verified flag carried (RFC 6189 4.6.1, 7.1)', async (t) => {
  const ca = new MemoryZrtpCache();
  const cb = new MemoryZrtpCache();
  const w1 = world({ cache: ca }, { cache: cb, commit: false }, undefined, 1);
  w1.run();
  const [x1, y1] = secureBoth(t, w1.a, w1.b);
  t.equal(x1.cacheMatch, 'none');
  t.equal(x1.sasVerified, false);
  w1.a.ep.setSasVerified(true);
  w1.b.ep.setSasVerified(true);
  const rs1 = ca.get(Buffer.alloc(12, 0xb2))?.rs1;
  t.ok(rs1, 'rs1 stored');
  t.same(rs1, cb.get(Buffer.alloc(12, 0xa1))?.rs1, 'both sides stored the same rs1');

  const w2 = world({ cache: ca, commit: false }, { cache: cb }, undefined, 2);
  w2.run();
  const [x2, y2] = secureBoth(t, w2.a, w2.b);
  t.equal(x2.cacheMatch, 'match'); t.equal(y2.cacheMatch, 'match');
  t.equal(x2.sasVerified, true); t.equal(x2.peerSasVerified, true); t.equal(y2.peerSasVerified, true);
  t.equal(x2.sas, y2.sas);
  t.notSame(x2.srtp.tx.masterKey, x1.srtp.tx.masterKey, 'fresh keys on the second call');
  mediaFlows(t, x2, y2);
  t.same(ca.get(Buffer.alloc(12, 0xb2))?.rs2, rs1, 'rs1 moved to rs2');
  t.notSame(ca.get(Buffer.alloc(12, 0xb2))?.rs1, rs1, 'a new rs1');
  t.same(ca.get(Buffer.alloc(12, 0xb2))?.rs1, cb.get(Buffer.alloc(12, 0xa1))?.rs1);
  void y1;

  // A third call where only rs2 of one side still matches (the other lost its last update) still matches.
  const old = cb.get(Buffer.alloc(12, 0xa1));
  cb.put(Buffer.alloc(12, 0xa1), { verified: true, ...(old?.rs2 ? { rs1: old.rs2 } : {}) });
  const w3 = world({ cache: ca }, { cache: cb, commit: false }, undefined, 3);
  w3.run();
  const [x3, y3] = secureBoth(t, w3.a, w3.b);
  t.equal(x3.cacheMatch, 'match', 'our rs2 matched their rs1'); t.equal(y3.cacheMatch, 'match');
  t.equal(x3.sas, y3.sas);
});

t.test('one side lost its cache entry: the other reports a mismatch, clears V, waits for a new verification (RFC 6189 4.6.1.1)', async (t) => {
  const ca = new MemoryZrtpCache();
  const cb = new MemoryZrtpCache();
  const w1 = world({ cache: ca }, { cache: cb, commit: false });
  w1.run();
  secureBoth(t, w1.a, w1.b);
  w1.a.ep.setSasVerified(true); w1.b.ep.setSasVerified(true);
  const zidA = Buffer.alloc(12, 0xa1); const zidB = Buffer.alloc(12, 0xb2);
  const oldRs1 = ca.get(zidB)?.rs1;
  cb.delete(zidA);

  const w2 = world({ cache: ca }, { cache: cb, commit: false }, undefined, 5);
  w2.run();
  const [x, y] = secureBoth(t, w2.a, w2.b);
  t.equal(x.cacheMatch, 'mismatch', 'a still had rs1 for b: a possible attack');
  t.equal(y.cacheMatch, 'none', 'b had nothing');
  t.equal(x.sasVerified, false, 'V cleared on mismatch');
  t.equal(y.peerSasVerified, false, 'and a sent V=0');
  t.equal(x.sas, y.sas, 'the keys still agree (DH alone)');
  mediaFlows(t, x, y);
  t.equal(w2.a.counters.get('zrtp.drop.cache-mismatch'), 1);
  t.same(ca.get(zidB)?.rs1, oldRs1, 'a did not replace rs1 before the SAS is verified again');
  t.equal(ca.get(zidB)?.verified, false, 'the stored V flag is cleared');
  w2.a.ep.setSasVerified(true);
  t.same(ca.get(zidB)?.rs1, cb.get(zidA)?.rs1, 'after verification a keeps the new rs1, which b has');
  t.equal(ca.get(zidB)?.verified, true);
});

/** Rewrite one message of a packet and give it a good CRC, as an active attacker would. */
function rewrite(p: Buffer, at: number, xor: number): Buffer {
  const out = Buffer.from(p);
  out[12 + at] = (out[12 + at] as number) ^ xor;
  writeCrc32c(out);
  return out;
}

t.test('tampered messages are refused through the hash chain MACs (RFC 6189 9)', async (t) => {
  // The Hello's client id changed in flight: the MAC keyed by H2 fails once the Commit reveals H2.
  {
    const w = world({ commit: false }, {}, (p, from, ty) => (from === 'a' && ty === 'Hello' ? rewrite(p, 20, 1) : 'pass'));
    w.run();
    t.equal(w.a.secure, undefined); t.equal(w.b.secure, undefined);
    t.equal(w.b.counters.get('zrtp.drop.bad-mac'), 1, 'the Hello MAC check failed at b');
    t.equal(w.b.failed, 'hello-mac');
  }
  // The responder's DHPart1 pv replaced: Confirm1 cannot authenticate; no keys are ever used.
  {
    let swapped = false;
    const w = world({}, { commit: false }, (p, from, ty) => {
      if (from === 'b' && ty === 'DHPart1' && !swapped) { swapped = true; return rewrite(p, 80, 0x40); }
      return 'pass';
    }, 2);
    w.run();
    t.equal(w.a.secure, undefined, 'the initiator never went secure');
    t.ok(w.a.failed !== undefined || w.b.failed !== undefined, 'the exchange failed');
    t.ok(w.a.counters.get('zrtp.drop.bad-confirm-mac') + w.a.counters.get('zrtp.drop.bad-pv') >= 1, 'counted');
  }
  // The Commit's hvi changed: the DHPart2 no longer hashes to it.
  {
    const w = world({}, { commit: false }, (p, from, ty) => (from === 'a' && ty === 'Commit' ? rewrite(p, 80, 1) : 'pass'));
    w.run();
    t.equal(w.b.failed, 'commit-mac', 'the Commit MAC (keyed by H1) failed');
    t.equal(w.a.secure, undefined);
  }
  // The DHPart2 changed: its MAC keyed by H0 fails when Confirm2 reveals H0 — or the hvi check catches it first.
  {
    const w = world({}, { commit: false }, (p, from, ty) => (from === 'a' && ty === 'DHPart2' ? rewrite(p, 80, 1) : 'pass'));
    w.run();
    t.equal(w.b.failed, 'bad-hvi');
    t.equal(w.b.secure, undefined);
  }
});

t.test('a=zrtp-hash: a Hello that does not match the SDP is refused (RFC 6189 8.1)', async (t) => {
  const probe = world();
  const helloA = probe.a.ep.helloMessage;
  t.equal(probe.a.ep.zrtpHash, `1.10 ${zrtpHashOfHello(helloA)}`);
  // Good hash: fine.
  {
    const w = world({}, { commit: false }, undefined, 1);
    w.b.ep.setPeerHelloHash(w.a.ep.zrtpHash);
    w.run();
    secureBoth(t, w.a, w.b);
  }
  // Wrong hash: b never takes a's Hello.
  {
    const w = world({}, { commit: false });
    w.b.ep.setPeerHelloHash(`1.10 ${'00'.repeat(32)}`);
    w.run(5_000);
    t.equal(w.b.secure, undefined);
    t.ok(w.b.counters.get('zrtp.drop.bad-zrtp-hash') >= 1);
  }
});

t.test('a=zrtp-hash that arrives after the Hello is checked then; a mismatch ends the exchange', async (t) => {
  const w = world({}, { commit: false }, (_p, from, ty) => (from === 'a' && ty === 'Commit' ? 'drop' : 'pass'));
  w.run(20);
  t.equal(w.b.ep.currentState, 'discovery', 'b has a\'s Hello');
  w.b.ep.setPeerHelloHash(w.a.ep.zrtpHash);
  t.equal(w.b.failed, undefined, 'the right hash is fine');
  w.b.ep.setPeerHelloHash(`1.10 ${'ab'.repeat(32)}`);
  t.equal(w.b.failed, 'bad-zrtp-hash');
  t.equal(w.b.counters.get('zrtp.drop.bad-zrtp-hash'), 1);
});

t.test('GoClear is refused: no ClearACK, the session stays secure', async (t) => {
  const w = world({}, { commit: false });
  w.run();
  secureBoth(t, w.a, w.b);
  const goClear = serializePacket(1, 1, serializeMessage({ type: 'GoClear', clearMac: Buffer.alloc(8, 1) }));
  w.b.ep.receive(goClear);
  t.equal(w.b.counters.get('zrtp.drop.goclear-refused'), 1);
  t.equal(w.b.ep.currentState, 'secure');
  t.notOk(w.log.some((l) => l.type === 'ClearACK'));
});

t.test('Ping is answered with PingACK; Error ends the exchange with ErrorACK', async (t) => {
  const w = world({}, { commit: false });
  w.a.ep.start();
  const ping = serializePacket(9, 0xabcd, serializeMessage({ type: 'Ping', version: '1.10', endpointHash: Buffer.alloc(8, 7) }));
  w.a.ep.receive(ping);
  const last = w.log[w.log.length - 1];
  t.equal(last?.type, 'PingACK');
  const err = serializePacket(10, 1, serializeMessage({ type: 'Error', code: 0x52 }));
  w.a.ep.receive(err);
  t.equal(w.a.failed, 'peer-error-0x52');
  t.equal(w.log[w.log.length - 1]?.type, 'ErrorACK');
});

t.test('replayed and out-of-order packets are counted drops', async (t) => {
  const caught: Buffer[] = [];
  const w = world({}, { commit: false }, (p, from) => { if (from === 'a') caught.push(p); return 'pass'; });
  w.run();
  secureBoth(t, w.a, w.b);
  const before = w.b.counters.snapshot();
  for (const p of caught) w.b.ep.receive(p);
  const after = w.b.counters.snapshot();
  const drops = Object.keys(after).filter((k) => k.startsWith('zrtp.drop.')).reduce((s, k) => s + (after[k] ?? 0) - (before[k] ?? 0), 0);
  t.equal(drops, caught.length, 'every replayed packet counted as a drop');
  t.equal(w.b.ep.currentState, 'secure');
  // An out-of-order Confirm2 before anything else:
  const fresh = world({}, { commit: false });
  const confirm2 = caught.find((p) => { const r = parsePacket(p); return r.ok && r.message.type === 'Confirm2'; }) as Buffer;
  fresh.b.ep.start();
  fresh.b.ep.receive(confirm2);
  t.equal(fresh.b.counters.get('zrtp.drop.out-of-order'), 1);
});

t.test('trusted MiTM: enrollment, then SASrelay to the enrolled peer (RFC 6189 7.3)', async (t) => {
  const pbxCache = new MemoryZrtpCache();
  const phoneCache = new MemoryZrtpCache();
  const pbx = { cache: pbxCache, mitm: true, enroll: true } as const;
  const phone = { cache: phoneCache, acceptEnrollment: true, commit: false } as const;
  const w1 = world(pbx, phone);
  w1.run();
  const [p1, f1] = secureBoth(t, w1.a, w1.b);
  t.equal(f1.peerIsPbx, true); t.equal(p1.pbxEnrolled, false, 'not yet enrolled on the first call');
  t.equal(w1.a.ep.sendSasRelay({ sasHash: Buffer.alloc(32, 9), sasType: 'B32', sasVerified: false }), false, 'no relay before enrollment');
  t.ok(pbxCache.get(Buffer.alloc(12, 0xb2))?.pbxSecret);
  t.same(pbxCache.get(Buffer.alloc(12, 0xb2))?.pbxSecret, phoneCache.get(Buffer.alloc(12, 0xa1))?.pbxSecret, 'same pbxsecret both sides');

  const w2 = world(pbx, phone, undefined, 2);
  w2.run();
  const [p2, f2] = secureBoth(t, w2.a, w2.b);
  t.equal(p2.pbxEnrolled, true); t.equal(f2.pbxEnrolled, true);
  const otherLeg = Buffer.from('c0ffee00'.repeat(8), 'hex');
  t.equal(w2.a.ep.sendSasRelay({ sasHash: otherLeg, sasType: 'B32', sasVerified: false }), true);
  w2.run(1000);
  t.equal(w2.b.relayed.length, 1, 'the phone took the relayed SAS');
  t.equal(w2.b.relayed[0], renderSas('B32', otherLeg), 'rendered from the relayed sashash');
  t.equal(w2.log.filter((l) => l.type === 'RelayACK').length, 1);
  w2.clock.advance(20_000);
  t.equal(w2.log.filter((l) => l.type === 'SASrelay').length, 1, 'RelayACK stopped the resends');

  // A non-PBX peer's SASrelay is ignored.
  const w3 = world({ mitm: false }, { commit: false }, undefined, 3);
  w3.run();
  t.equal(w3.a.ep.sendSasRelay({ sasHash: otherLeg, sasType: 'B32', sasVerified: false }), false, 'only a MiTM relays');
});

t.test('close() stops every timer and later packets are counted', async (t) => {
  const w = world({}, { commit: false }, (_p, from) => (from === 'b' ? 'drop' : 'pass'));
  w.a.ep.start();
  t.ok(w.clock.timerCount > 0);
  w.a.ep.close();
  w.a.ep.close();
  t.equal(w.clock.timerCount, 0);
  w.a.ep.receive(Buffer.alloc(20));
  t.equal(w.a.counters.get('zrtp.drop.closed'), 1);
});
