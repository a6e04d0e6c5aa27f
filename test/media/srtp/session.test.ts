/**
 * SrtpSession behaviour: key and suite validation, the receive order
 * (authenticate before any state changes), rollover counter estimation, the
 * replay window, SSRC changes, SRTCP index and E flag, MKI, key lifetime, key
 * derivation rate, buffer ownership, and hostile input (fast-check).
 */
import t from 'tap';
import fc from 'fast-check';
import { isPbxError } from '../../../firmware/core/index.js';
import {
  decodeKeySalt, deriveSessionKey, estimateIndex, MAX_STREAMS_PER_SESSION, ReplayWindow, SRTP_SUITE_NAMES, SRTP_SUITES,
  SrtpSession, srtpTransform, type SrtpSessionOptions, type SrtpSuiteName,
} from '../../../firmware/media/srtp/index.js';
import { rtp } from '../helpers.js';

const opts = (suite: SrtpSuiteName = 'AES_CM_128_HMAC_SHA1_80', extra: Partial<SrtpSessionOptions> = {}): SrtpSessionOptions => {
  const s = SRTP_SUITES[suite];
  return { suite, masterKey: Buffer.alloc(s.keyLength, 0x11), masterSalt: Buffer.alloc(s.saltLength, 0x22), ...extra };
};
const pair = (o: SrtpSessionOptions = opts()): [SrtpSession, SrtpSession] => [new SrtpSession(o), new SrtpSession(o)];
const pkt = (seq: number, ssrc = 0xcafe0001, n = 160): Buffer => rtp({ seq, ssrc, payload: Buffer.alloc(n, seq & 0xff) });
const sr = (ssrc = 0xcafe0001): Buffer => {
  const b = Buffer.alloc(28, 0x5a);
  b[0] = 0x80; b[1] = 200; b.writeUInt16BE(6, 2); b.writeUInt32BE(ssrc, 4);
  return b;
};
const errorCode = (fn: () => unknown): string => {
  try {
    fn();
    return 'no error';
  } catch (e) {
    return isPbxError(e) ? e.code : 'not a PbxError';
  }
};
function ok(r: Buffer | string): Buffer {
  if (typeof r === 'string') throw new Error(`unexpected ${r}`);
  return Buffer.from(r);
}

t.test('RFC 4568 6.2 / RFC 6188 / RFC 7714 14: key and salt lengths are checked per suite', async (t) => {
  for (const suite of SRTP_SUITE_NAMES) {
    const s = SRTP_SUITES[suite];
    t.equal(errorCode(() => new SrtpSession(opts(suite))), 'no error', suite);
    for (const [k, salt] of [[s.keyLength - 1, s.saltLength], [s.keyLength + 16, s.saltLength], [s.keyLength, s.saltLength + 2], [s.keyLength, s.saltLength - 2]]) {
      t.equal(errorCode(() => new SrtpSession({ suite, masterKey: Buffer.alloc(k!), masterSalt: Buffer.alloc(salt!) })), 'config',
        `${suite} refuses a ${k}-byte key with a ${salt}-byte salt`);
    }
  }
  t.equal(errorCode(() => new SrtpSession(opts('AES_CM_128_HMAC_SHA1_80', { kdr: 3 }))), 'config', 'kdr must be a power of two');
  t.equal(errorCode(() => new SrtpSession(opts('AES_CM_128_HMAC_SHA1_80', { kdr: 2 ** 25 }))), 'config', 'kdr at most 2^24');
  t.equal(errorCode(() => new SrtpSession(opts('AES_CM_128_HMAC_SHA1_80', { mki: Buffer.alloc(0) }))), 'config', 'empty MKI');
  t.equal(errorCode(() => new SrtpSession(opts('AES_CM_128_HMAC_SHA1_80', { lifetime: 0 }))), 'config', 'zero lifetime');
});

t.test('RFC 4568 6.1: SDES key-salt base64 decoded and its length checked per suite', async (t) => {
  const b64 = (n: number): string => Buffer.alloc(n, 7).toString('base64');
  const good = decodeKeySalt('AES_256_CM_HMAC_SHA1_80', b64(46));
  t.ok(good.ok);
  if (good.ok) t.same([good.masterKey.length, good.masterSalt.length], [32, 14]);
  t.same(decodeKeySalt('AES_256_CM_HMAC_SHA1_80', b64(30)), { ok: false, reason: 'wrong-length', expected: 46, got: 30 },
    'an AES-128 key-salt under the AES-256 name');
  t.same(decodeKeySalt('AEAD_AES_128_GCM', b64(30)), { ok: false, reason: 'wrong-length', expected: 28, got: 30 },
    'a 14-byte salt with GCM');
  t.same(decodeKeySalt('AEAD_AES_256_GCM', b64(46)), { ok: false, reason: 'wrong-length', expected: 44, got: 46 });
  t.ok(decodeKeySalt('AES_256_CM_HMAC_SHA1_32', b64(46).replace(/=+$/, '')).ok, 'missing padding is tolerated');
  t.match(decodeKeySalt('AES_CM_128_HMAC_SHA1_80', `${b64(30).slice(0, -2)}!!`), { ok: false, reason: 'bad-base64' });
  t.match(decodeKeySalt('AES_CM_128_HMAC_SHA1_80', `${b64(30)} `), { ok: false, reason: 'bad-base64' });
  fc.assert(fc.property(fc.string(), (s) => typeof decodeKeySalt('AEAD_AES_128_GCM', s).ok === 'boolean'));
});

t.test('RFC 4568 6.2.1: tag lengths per suite, 80-bit SRTCP tag for the _32 suites', async (t) => {
  const want: Record<SrtpSuiteName, [number, number]> = {
    AES_CM_128_HMAC_SHA1_80: [10, 10], AES_CM_128_HMAC_SHA1_32: [4, 10], AES_256_CM_HMAC_SHA1_80: [10, 10],
    AES_256_CM_HMAC_SHA1_32: [4, 10], AEAD_AES_128_GCM: [16, 16], AEAD_AES_256_GCM: [16, 16],
  };
  for (const suite of SRTP_SUITE_NAMES) {
    const tx = new SrtpSession(opts(suite));
    t.equal(ok(tx.protectRtp(pkt(1))).length - pkt(1).length, want[suite][0], `${suite} SRTP`);
    t.equal(ok(tx.protectRtcp(sr())).length - sr().length, 4 + want[suite][1], `${suite} SRTCP (E+index and tag)`);
  }
});

t.test('RFC 3711 appendix A: index estimation around the wrap', async (t) => {
  t.equal(estimateIndex(-1, 65535), 65535, 'first packet: ROC 0');
  t.equal(estimateIndex(65535, 0), 65536, 'wrap forward');
  t.equal(estimateIndex(65536 + 2, 65534), 65534, 'late packet from before the wrap');
  t.equal(estimateIndex(3 * 65536 + 100, 100 + 32768), 3 * 65536 + 100 + 32768, 'half way ahead stays in this ROC');
  t.equal(estimateIndex(3 * 65536 + 100, 100 + 32769), 2 * 65536 + 100 + 32769, 'beyond half way is taken as the previous ROC');
  t.equal(estimateIndex(5, 65000), -1, 'nothing before index 0');
  fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: -32767, max: 32767 }), (h, d) => {
    const want = h + d;
    return want < 0 || estimateIndex(h, want % 65536) === want;
  }), { numRuns: 500 });
});

t.test('RFC 3711 3.3.2: replay window (64 and 128)', async (t) => {
  for (const size of [64, 128] as const) {
    const w = new ReplayWindow(size);
    w.commit(1000);
    t.equal(w.check(1000), 'replay');
    t.equal(w.check(1001), 'new');
    t.equal(w.check(1000 - size + 1), 'new', 'oldest index inside the window');
    t.equal(w.check(1000 - size), 'old');
    w.commit(1000 - size + 1);
    t.equal(w.check(1000 - size + 1), 'replay');
    w.commit(1037);
    t.equal(w.check(1000), 'replay', 'shifted bit still remembered');
    t.equal(w.check(1000 - size + 1), 'old', 'slid out');
    w.commit(1037 + 5 * size);
    t.equal(w.check(1037), 'old');
    t.equal(w.check(1037 + 5 * size - 1), 'new');
  }
});

t.test('SRTP through the wrap: the sender and receiver rollover counters agree (RFC 3711 3.3.1)', async (t) => {
  const [tx, rx] = pair();
  const seqs = [65533, 65534, 65535, 0, 1, 2];
  for (const seq of seqs) t.same(ok(rx.unprotectRtp(ok(tx.protectRtp(pkt(seq))))), pkt(seq), `seq ${seq}`);
  // Relayed out of order around the wrap: the sender estimates like a receiver.
  const [tx2, rx2] = pair();
  const prot = [65534, 65535, 0, 1].map((s) => ok(tx2.protectRtp(pkt(s))));
  for (const i of [0, 2, 1, 3]) t.same(ok(rx2.unprotectRtp(prot[i]!)), pkt([65534, 65535, 0, 1][i]!));
});

t.test('STYLE 9: a forged packet changes no state (ROC, window, streams)', async (t) => {
  const [tx, rx] = pair();
  ok(rx.unprotectRtp(ok(tx.protectRtp(pkt(65530)))));
  // A forgery with a sequence number that would move the ROC to 1.
  const forged = ok(tx.protectRtp(pkt(5)));
  forged[forged.length - 1]! ^= 0x80;
  const before = Buffer.from(forged);
  t.equal(rx.unprotectRtp(forged), 'srtp-auth');
  t.same(forged, before, 'a rejected packet is left as it was');
  // Had the forgery committed ROC 1, seq 65531 would now be two rollovers away.
  t.same(ok(rx.unprotectRtp(ok(tx.protectRtp(pkt(65531))))), pkt(65531), 'ROC still 0');
  // A forged packet from a new SSRC creates no stream: a genuine one still starts at ROC 0.
  const forgedNew = ok(tx.protectRtp(pkt(7, 0xbad)));
  forgedNew[13]! ^= 1;
  t.equal(rx.unprotectRtp(forgedNew), 'srtp-auth');
  t.same(ok(rx.unprotectRtp(ok(tx.protectRtp(pkt(8, 0xbad))))), pkt(8, 0xbad));
  t.equal(rx.stats().rejected['srtp-auth'], 2);
  t.equal(rx.stats().rtpUnprotected, 3);
});

t.test('replayed and tampered packets are dropped and counted, never thrown', async (t) => {
  for (const suite of SRTP_SUITE_NAMES) {
    const [tx, rx] = pair(opts(suite));
    const p = ok(tx.protectRtp(pkt(10)));
    ok(rx.unprotectRtp(Buffer.from(p)));
    t.equal(rx.unprotectRtp(Buffer.from(p)), 'srtp-replay', `${suite}: replay`);
    for (const at of [1, 5, 12, 50, p.length - 1]) {
      const q = ok(tx.protectRtp(pkt(11 + at)));
      q[at]! ^= 0x01;
      t.equal(rx.unprotectRtp(q), 'srtp-auth', `${suite}: bit flipped at ${at}`);
    }
    const rc = ok(tx.protectRtcp(sr()));
    ok(rx.unprotectRtcp(Buffer.from(rc)));
    t.equal(rx.unprotectRtcp(Buffer.from(rc)), 'srtp-replay', `${suite}: SRTCP replay`);
    t.same(rx.stats().rejected, { ...rx.stats().rejected, 'srtp-replay': 2, 'srtp-auth': 5 });
  }
});

t.test('RFC 3711 3.3.2: a packet behind the window is dropped as old', async (t) => {
  const [tx, rx] = pair(opts('AES_CM_128_HMAC_SHA1_80', { replayWindow: 64 }));
  const early = ok(tx.protectRtp(pkt(100)));
  ok(rx.unprotectRtp(ok(tx.protectRtp(pkt(164)))));
  t.equal(rx.unprotectRtp(early), 'srtp-old');
  const inWindow = ok(tx.protectRtp(pkt(101)));
  t.same(ok(rx.unprotectRtp(inWindow)), pkt(101), 'late but inside the window');
});

t.test('an SSRC change restarts the rollover counter for that stream', async (t) => {
  const [tx, rx] = pair();
  for (const seq of [65535, 0, 1]) ok(rx.unprotectRtp(ok(tx.protectRtp(pkt(seq, 1)))));
  // SSRC 2 starts at seq 5 with ROC 0 while SSRC 1 is at ROC 1: RFC 3711 3.3.1 per-stream state.
  const a = ok(tx.protectRtp(pkt(5, 2)));
  const ref = new SrtpSession(opts());
  t.same(a, ok(ref.protectRtp(pkt(5, 2))), 'same bytes as the first packet of a fresh context');
  t.same(ok(rx.unprotectRtp(a)), pkt(5, 2));
  t.same(ok(rx.unprotectRtp(ok(tx.protectRtp(pkt(2, 1))))), pkt(2, 1), 'the first stream carries on');
});

t.test('RFC 3711 3.1: header, CSRCs and extension authenticated but clear; payload and padding encrypted', async (t) => {
  const [tx, rx] = pair();
  const plain = rtp({ seq: 9, csrcs: [0x01020304, 0x05060708], ext: { profile: 0xbede, words: 2 }, payload: Buffer.alloc(20, 0x33), pad: 4 });
  const hl = 12 + 8 + 12;
  const p = ok(tx.protectRtp(plain));
  t.same(p.subarray(0, hl), plain.subarray(0, hl), 'header bytes unchanged');
  t.not(p.subarray(hl, plain.length).toString('hex'), plain.subarray(hl).toString('hex'), 'payload changed');
  t.not(p[plain.length - 1], plain[plain.length - 1], 'padding count byte encrypted');
  const q = Buffer.from(p);
  q[15]! ^= 1;
  t.equal(rx.unprotectRtp(q), 'srtp-auth', 'a CSRC is authenticated');
  const e = Buffer.from(p);
  e[24]! ^= 1;
  t.equal(rx.unprotectRtp(e), 'srtp-auth', 'the extension is authenticated');
  t.same(ok(rx.unprotectRtp(p)), plain);
});

t.test('RFC 3711 3.4: SRTCP index increments per sender; E flag; unencrypted SRTCP', async (t) => {
  for (const suite of ['AES_CM_128_HMAC_SHA1_32', 'AEAD_AES_128_GCM'] as const) {
    const s = SRTP_SUITES[suite];
    const [tx, rx] = pair(opts(suite));
    const a = ok(tx.protectRtcp(sr()));
    const b = ok(tx.protectRtcp(sr()));
    const word = (p: Buffer): number => p.readUInt32BE(suite === 'AEAD_AES_128_GCM' ? p.length - 4 : p.length - s.srtcpTagLength - 4);
    t.equal(word(a), 0x80000000, `${suite}: E=1, index 0`);
    t.equal(word(b), 0x80000001, `${suite}: index 1`);
    t.equal(word(ok(tx.protectRtcp(sr(7)))), 0x80000000, `${suite}: each SSRC has its own index`);
    t.same(ok(rx.unprotectRtcp(b)), sr());
    t.same(ok(rx.unprotectRtcp(a)), sr(), 'reordered SRTCP inside the window');
    const [ptx, prx] = pair(opts(suite, { encryptRtcp: false }));
    const clear = ok(ptx.protectRtcp(sr()));
    t.equal(word(clear), 0, `${suite}: E=0`);
    t.same(clear.subarray(0, 28), sr(), 'body sent in clear');
    const flipped = Buffer.from(clear);
    flipped[suite === 'AEAD_AES_128_GCM' ? flipped.length - 4 : flipped.length - s.srtcpTagLength - 4]! ^= 0x80;
    t.equal(prx.unprotectRtcp(flipped), 'srtp-auth', 'the E flag is authenticated');
    t.same(ok(prx.unprotectRtcp(clear)), sr());
  }
});

t.test('RFC 3711 3.1: MKI carried and checked', async (t) => {
  for (const suite of ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_256_GCM'] as const) {
    const mki = Buffer.from('00000001', 'hex');
    const [tx, rx] = pair(opts(suite, { mki }));
    const p = ok(tx.protectRtp(pkt(1)));
    const at = suite === 'AEAD_AES_256_GCM' ? p.length - 4 : p.length - 10 - 4;
    t.same(p.subarray(at, at + 4), mki, `${suite}: MKI placed`);
    const other = new SrtpSession(opts(suite, { mki: Buffer.from('00000002', 'hex') }));
    t.equal(other.unprotectRtp(Buffer.from(p)), 'srtp-mki');
    t.same(ok(rx.unprotectRtp(p)), pkt(1));
    const c = ok(tx.protectRtcp(sr()));
    t.equal(other.unprotectRtcp(Buffer.from(c)), 'srtp-mki');
    t.same(ok(rx.unprotectRtcp(c)), sr());
  }
});

t.test('RFC 3711 9.2 / RFC 4568 6.1: the packet-count key lifetime is enforced', async (t) => {
  const [tx, rx] = pair(opts('AES_CM_128_HMAC_SHA1_80', { lifetime: 3 }));
  // Copies: the session reuses its output buffer on the next protect call.
  const ps = [1, 2, 3, 4].map((s) => { const r = tx.protectRtp(pkt(s)); return typeof r === 'string' ? r : Buffer.from(r); });
  t.same(ps.map((p) => typeof p === 'string' ? p : 'ok'), ['ok', 'ok', 'ok', 'srtp-key-expired']);
  t.equal(tx.protectRtcp(sr()), 'srtp-key-expired', 'SRTCP counts against the same key');
  t.equal(tx.remainingPackets, 0);
  for (const p of ps.slice(0, 3)) ok(rx.unprotectRtp(ok(p)));
  t.equal(rx.unprotectRtp(ok(ps[0]!)), 'srtp-key-expired');
});

t.test('RFC 3711 4.3.1: key derivation rate re-keys every kdr packets', async (t) => {
  const kdr = 16;
  const [tx, rx] = pair(opts('AES_CM_128_HMAC_SHA1_80', { kdr }));
  const plainTx = new SrtpSession(opts());
  const mk = Buffer.alloc(16, 0x11), ms = Buffer.alloc(14, 0x22);
  // Session keys for r = 1, derived independently, must protect index 16..31 identically.
  const k = (label: number, n: number): Buffer => deriveSessionKey(mk, ms, label, 1, n);
  const epoch1 = SrtpSession.fromSessionKeys('AES_CM_128_HMAC_SHA1_80',
    { key: k(0, 16), salt: k(2, 14), authKey: k(1, 20) }, { key: k(3, 16), salt: k(5, 14), authKey: k(4, 20) });
  for (let seq = 10; seq < 40; seq++) {
    const p = ok(tx.protectRtp(pkt(seq)));
    const base = ok(plainTx.protectRtp(pkt(seq)));
    if (seq < kdr) t.same(p, base, `index ${seq}: r = 0 equals kdr 0`);
    else if (seq < 2 * kdr) t.same(p, ok(epoch1.protectRtp(pkt(seq))), `index ${seq}: r = 1 keys`);
    else t.not(p.toString('hex'), base.toString('hex'));
    t.same(ok(rx.unprotectRtp(p)), pkt(seq));
  }
});

t.test('buffer ownership: protect never changes its input, writes to out or its own buffer', async (t) => {
  const [tx, rx] = pair();
  const plain = pkt(1);
  const copy = Buffer.from(plain);
  const a = ok(tx.protectRtp(plain));
  t.same(plain, copy, 'input untouched');
  const out = Buffer.alloc(400);
  const b = tx.protectRtp(pkt(2), out);
  t.ok(typeof b !== 'string' && b.buffer === out.buffer && b.byteOffset === out.byteOffset, 'written into out');
  t.equal(tx.protectRtp(pkt(3), Buffer.alloc(100)), 'srtp-no-room');
  // In place: the packet sits at the front of a buffer with room for the trailer.
  const room = Buffer.alloc(plain.length + 10);
  pkt(4).copy(room);
  const c = ok(tx.protectRtp(room.subarray(0, plain.length), room));
  t.same(ok(rx.unprotectRtp(Buffer.from(a))), pkt(1));
  t.same(ok(rx.unprotectRtp(Buffer.from(typeof b === 'string' ? '' : b))), pkt(2));
  const inPlace = Buffer.from(c);
  const u = ok(rx.unprotectRtp(inPlace));
  t.same(u, pkt(4), 'protected in place');
  const recv = Buffer.from(ok(tx.protectRtp(pkt(5))));
  const v = rx.unprotectRtp(recv);
  t.ok(typeof v !== 'string' && v.buffer === recv.buffer, 'unprotect decrypts in place and returns a view');
});

t.test('stream limit: SSRCs beyond MAX_STREAMS_PER_SESSION are refused, known ones carry on', async (t) => {
  const [tx, rx] = pair();
  for (let i = 0; i < MAX_STREAMS_PER_SESSION; i++) ok(rx.unprotectRtp(ok(tx.protectRtp(pkt(1, 1000 + i)))));
  t.equal(tx.protectRtp(pkt(1, 5000)), 'srtp-stream-limit');
  t.equal(rx.stats().rtpUnprotected, MAX_STREAMS_PER_SESSION);
  t.same(ok(rx.unprotectRtp(ok(tx.protectRtp(pkt(2, 1000))))), pkt(2, 1000));
});

t.test('srtpTransform drops into the engine\'s LegTransform slot', async (t) => {
  const o = opts();
  const phone = new SrtpSession(o);
  const leg = srtpTransform(new SrtpSession(o), new SrtpSession(opts('AES_CM_128_HMAC_SHA1_80', { masterKey: Buffer.alloc(16, 9) })));
  t.same(leg.unprotect('rtp', ok(phone.protectRtp(pkt(1)))), pkt(1));
  t.same(leg.unprotect('rtcp', ok(phone.protectRtcp(sr()))), sr());
  t.equal(typeof leg.protect('rtp', pkt(1)), 'object');
  t.equal(leg.unprotect('rtp', Buffer.alloc(3)), 'srtp-short');
});

t.test('hostile input: any bytes give a packet or a typed reason, never a throw (fast-check)', async (t) => {
  const reasons = new Set(['srtp-short', 'srtp-header', 'srtp-too-big', 'srtp-mki', 'srtp-auth', 'srtp-replay', 'srtp-old',
    'srtp-key-expired', 'srtp-stream-limit']);
  for (const suite of SRTP_SUITE_NAMES) {
    const rx = new SrtpSession(opts(suite, { mki: Buffer.from([1, 2]) }));
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 2300 }), fc.boolean(), (bytes, rtcp) => {
      const b = Buffer.from(bytes);
      if (rtcp === false && b.length > 0) b[0] = 0x80 | (b[0]! & 0x3f);
      const r = rtcp ? rx.unprotectRtcp(b) : rx.unprotectRtp(b);
      return typeof r === 'string' && reasons.has(r);
    }), { numRuns: 150 });
    // Mutations of genuine packets: any change to the authenticated bytes or tag is refused.
    const tx = new SrtpSession(opts(suite, { mki: Buffer.from([1, 2]) }));
    let seq = 2000;
    fc.assert(fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), (where, mask) => {
      const p = ok(tx.protectRtp(pkt(seq++, 77)));
      const i = where % p.length;
      p[i]! ^= mask;
      const r = rx.unprotectRtp(p);
      return typeof r === 'string';
    }), { numRuns: 150 });
    // Hostile input on the protect side (a plain RTP leg feeding us) is also typed.
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 2100 }), (bytes) => {
      const r = tx.protectRtp(Buffer.from(bytes));
      return Buffer.isBuffer(r) || reasons.has(r) || r === 'srtp-replay';
    }), { numRuns: 100 });
  }
  t.pass('no throw, typed reasons');
});

t.test('protectRtp gives the same packet into the session buffer, a separate buffer, the packet itself and an overlapping view', async (t) => {
  for (const suite of ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM'] as const) {
    const s = SRTP_SUITES[suite];
    const mk = (): SrtpSession => new SrtpSession({ suite, masterKey: Buffer.alloc(s.keyLength, 7), masterSalt: Buffer.alloc(s.saltLength, 9) });
    const clear = Buffer.alloc(172);
    clear[0] = 0x80; clear.writeUInt16BE(5, 2); clear.writeUInt32BE(0xabcdef01, 8);
    for (let i = 12; i < 172; i++) clear[i] = i;
    const want = Buffer.from(mk().protectRtp(clear) as Buffer);
    const sep = Buffer.alloc(256);
    t.same(mk().protectRtp(clear, sep), want, `${suite}: separate buffer`);
    const mem = Buffer.alloc(256); clear.copy(mem);
    const inPlace = mem.subarray(0, 172);
    t.same(mk().protectRtp(inPlace, mem), want, `${suite}: in place`);
    const big = Buffer.alloc(512); clear.copy(big, 8);
    t.same(Buffer.from(mk().protectRtp(big.subarray(8, 180), big.subarray(0, 300)) as Buffer), want, `${suite}: overlapping, shifted`);
  }
});
