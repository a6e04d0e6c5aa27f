/**
 * The per-leg keying interface (keying/leg.ts) and its three implementations:
 * SdesLeg (the box keys the leg, RFC 4568), PlainKeying, SdesRelayLeg (a=crypto
 * passed end to end). Phones are played by hand-written a=crypto lines.
 */
import t from 'tap';
import { Counters, isPbxError, seededRandom } from '../../firmware/core/index.js';
import {
  DEFAULT_OFFER_SUITES, PlainKeying, SDES_SUITES, SdesLeg, SdesRelayLeg, formatCryptoLine, parseCryptoLine,
  type CryptoAttribute, type KeyingSdp, type LegKeying, type SdesSuiteName,
} from '../../firmware/keying/index.js';
import type { LegSecurity } from '../../firmware/media/index.js';
import type { MediaDescription } from '../../firmware/sdp/index.js';

function crypto(tag: number, suite: SdesSuiteName, fill: number, extra: Partial<CryptoAttribute> = {}): CryptoAttribute {
  const s = SDES_SUITES[suite];
  return { tag, suite, key: Buffer.alloc(s.keyLen, fill), salt: Buffer.alloc(s.saltLen, fill + 1), ...extra };
}
const line = (c: CryptoAttribute): string => formatCryptoLine(c);

function audio(protocol: string, lines: readonly string[]): MediaDescription {
  return {
    type: 'audio', port: 49170, protocol, formats: ['0'], bandwidths: [],
    attributes: [{ name: 'rtpmap', value: '0 PCMU/8000' }, ...lines.map((value) => ({ name: 'crypto', value }))],
  };
}

function code(f: () => unknown): string {
  try { f(); return 'none'; } catch (e) { return isPbxError(e) ? e.code : 'not a PbxError'; }
}

/** rx and tx master keys of an engine security, as hex, for comparisons. */
function keys(s: LegSecurity | undefined): { kind: string; rx?: string; tx?: string; rxSuite?: string; txSuite?: string } {
  if (!s || s.kind !== 'srtp') return { kind: s?.kind ?? 'none' };
  return {
    kind: s.kind, rx: Buffer.from(s.rx.masterKey).toString('hex'), tx: Buffer.from(s.tx.masterKey).toString('hex'),
    rxSuite: s.rx.suite, txSuite: s.tx.suite,
  };
}
const hex = (c: CryptoAttribute): string => c.key.toString('hex');

/** The lines of a KeyingSdp, parsed back as the phone would. */
function parsed(sdp: KeyingSdp): CryptoAttribute[] {
  return sdp.attributes.filter((a) => a.name === 'crypto').map((a) => {
    const r = parseCryptoLine(a.value ?? '');
    if (!r.ok) throw new Error(`box wrote an unusable line: ${r.detail}`);
    return r.crypto;
  });
}

const sdes = (tls = true): SdesLeg => new SdesLeg({ random: seededRandom(7), tls });

t.test('every implementation has the one interface; SDES and plain consume no engine event', async (t) => {
  const all: LegKeying[] = [sdes(), new PlainKeying(), new SdesRelayLeg({ tls: true })];
  t.same(all.map((k) => [k.method, k.holder]), [['sdes', 'box'], ['none', 'none'], ['sdes', 'end-to-end']]);
  for (const k of all) {
    t.same(k.events, [], `${k.constructor.name}: no events declared`);
    t.same(k.handle({ type: 'keying-failed', reason: 'x' }), {}, `${k.constructor.name}: events ignored`);
  }
});

t.test('SdesLeg answering: the first offered line whose suite is supported, same tag, a fresh key (RFC 4568 7.1.1/7.1.2)', async (t) => {
  const k = sdes();
  const aes256 = crypto(2, 'AES_256_CM_HMAC_SHA1_80', 3);
  const offer = audio('RTP/SAVP', ['1 F8_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm', line(aes256), line(crypto(3, 'AES_CM_128_HMAC_SHA1_80', 5))]);
  const taken = k.takeOffer(offer);
  t.equal(taken.rekey, true, 'the first offer brings keys');
  const ans = k.answer(undefined);
  t.equal(ans.profile, 'RTP/SAVP');
  const [ours, ...more] = parsed(ans);
  t.same(more, [], 'exactly one line answered');
  t.same([ours?.tag, ours?.suite], [2, 'AES_256_CM_HMAC_SHA1_80'], 'the unknown F8 line is skipped, the next one is taken');
  t.not(ours?.key.toString('hex'), hex(aes256), 'our key is our own');
  t.same(keys(k.security()), { kind: 'srtp', rx: hex(aes256), tx: ours?.key.toString('hex'), rxSuite: 'AES_256_CM_HMAC_SHA1_80', txSuite: 'AES_256_CM_HMAC_SHA1_80' },
    'the engine decrypts with the phone\'s key and encrypts with ours');
  t.same(k.view(), { protection: 'sdes', keys: 'box', suite: 'AES_256_CM_HMAC_SHA1_80' });
  t.notMatch(JSON.stringify(k.view()), new RegExp(aes256.key.toString('base64').slice(0, 12)), 'no key in the view');
  const other = sdes();
  other.takeOffer(audio('RTP/SAVP', [line(aes256)]));
  t.same(parsed(other.answer(undefined)).map((c) => c.key.toString('hex')), [ours?.key.toString('hex')], 'keys come from the injected random source');
});

t.test('SdesLeg refuses offers it cannot key: unsupported suites only, no line, unknown parameters (counted)', async (t) => {
  const counters = new Counters();
  const k = new SdesLeg({ random: seededRandom(1), tls: true, counters });
  t.equal(code(() => k.takeOffer(audio('RTP/SAVP', ['1 F8_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm']))), 'protocol');
  t.equal(code(() => k.takeOffer(audio('RTP/SAVP', []))), 'protocol');
  t.equal(code(() => k.takeOffer(audio('RTP/SAVP', [`${line(crypto(1, 'AES_CM_128_HMAC_SHA1_80', 1))} UNENCRYPTED_SRTP`]))), 'protocol',
    'a line that would let clear media through is no line');
  t.equal(code(() => k.answer(undefined)), 'invalid-state', 'nothing to answer');
  t.equal(counters.get('sdes.skip.unknown-suite'), 1, 'skipped lines are counted');
  t.equal(counters.get('sdes.skip.unsupported-session-param'), 1);
});

t.test('SdesLeg: lifetime, MKI and KDR of the phone\'s line key what it sends; our answer carries none of them', async (t) => {
  const k = sdes();
  const theirs = crypto(1, 'AES_CM_128_HMAC_SHA1_80', 9, { lifetime: 2 ** 20, mki: { value: 1n, length: 4 }, kdr: 10 });
  k.takeOffer(audio('RTP/SAVP', [line(theirs)]));
  const [ours] = parsed(k.answer(undefined));
  t.same([ours?.lifetime, ours?.mki, ours?.kdr], [undefined, undefined, undefined]);
  const s = k.security();
  if (s.kind !== 'srtp') return t.fail('not srtp');
  t.same([s.rx.lifetime, Buffer.from(s.rx.mki ?? []).toString('hex'), s.rx.kdr], [2 ** 20, '00000001', 2 ** 10]);
  t.same([s.tx.lifetime, s.tx.mki, s.tx.kdr], [undefined, undefined, undefined]);
});

t.test('SdesLeg re-offers: the keys stay unless the offer brings a new line (RFC 4568 7.1.4)', async (t) => {
  const k = sdes();
  const first = crypto(1, 'AES_CM_128_HMAC_SHA1_80', 1);
  k.takeOffer(audio('RTP/SAVP', [line(first)]));
  const [ours] = parsed(k.answer(undefined));
  const same = k.takeOffer(audio('RTP/SAVP', [line(first)]));
  t.equal(same.rekey, false, 'the same line again: no rekey');
  t.same(keys(same.security), keys(k.security()), 'the engine keeps its keys');
  t.same(parsed(k.answer(undefined)).map(hex), [ours ? hex(ours) : ''], 'our answer repeats our key');
  const fresh = crypto(1, 'AES_CM_128_HMAC_SHA1_80', 40);
  const re = k.takeOffer(audio('RTP/SAVP', [line(fresh)]));
  t.equal(re.rekey, true, 'a new key is a rekey');
  t.same(keys(re.security), { ...keys(k.security()), rx: hex(fresh) }, 'new receive key at once; our send key stays (same suite): no keystream reuse');
  k.answer(undefined);
  const suiteChange = crypto(4, 'AEAD_AES_128_GCM', 50);
  const gcm = k.takeOffer(audio('RTP/SAVP', [line(suiteChange)]));
  const after = keys(gcm.security);
  t.same([after.rxSuite, after.txSuite, after.rx], ['AEAD_AES_128_GCM', 'AEAD_AES_128_GCM', hex(suiteChange)]);
  t.not(after.tx, ours ? hex(ours) : '', 'another suite: a fresh send key');
  t.same(parsed(k.answer(undefined)).map((c) => [c.tag, c.suite]), [[4, 'AEAD_AES_128_GCM']]);
  t.equal(code(() => k.takeOffer(audio('RTP/SAVP', []))), 'protocol', 'a re-offer without keys is refused');
});

t.test('SdesLeg rollback: a refused rekey leaves the old keys in force, in the engine and in later rounds', async (t) => {
  const k = sdes();
  const first = crypto(1, 'AES_CM_128_HMAC_SHA1_80', 1);
  k.takeOffer(audio('RTP/SAVP', [line(first)]));
  k.answer(undefined);
  const before = keys(k.security());
  const re = k.takeOffer(audio('RTP/SAVP', [line(crypto(2, 'AES_256_CM_HMAC_SHA1_80', 60))]));
  t.not(keys(re.security).rx, before.rx, 'the rekey reached the engine at once');
  t.same(keys(k.rollback()), before, 'rollback gives the engine back the old keys');
  t.same(keys(k.security()), before);
  t.same(k.view().suite, 'AES_CM_128_HMAC_SHA1_80', 'the view still shows the suite in force');
  t.equal(k.rollback(), undefined, 'nothing pending: nothing to put back');
  t.equal(k.takeOffer(audio('RTP/SAVP', [line(first)])).rekey, false, 'the next offer with the old line is no rekey: the old keys are in force');
});

t.test('SdesLeg offering: one line per suite, each with its own key; the answer must pick one of them (RFC 4568 7.1.3)', async (t) => {
  const k = sdes();
  const off = k.offer(audio('RTP/AVPF', []), false);
  t.equal(off.profile, 'RTP/SAVPF', 'the feedback profile of the relayed offer is kept');
  const lines = parsed(off);
  t.same(lines.map((c) => [c.tag, c.suite]), DEFAULT_OFFER_SUITES.map((s, i) => [i + 1, s]));
  t.equal(new Set(lines.map(hex)).size, lines.length, 'a key per line');
  t.same(k.security(), { kind: 'srtp-pending' }, 'no keys before the answer');
  t.same(parsed(k.offer(undefined, false)).map(hex), lines.map(hex), 'the same offer again (forked or repeated), same keys');
  const theirs = crypto(2, 'AES_256_CM_HMAC_SHA1_80', 70);
  t.equal(code(() => k.takeAnswer(audio('RTP/SAVP', [line({ ...theirs, tag: 9 })]))), 'protocol', 'a tag we never offered');
  t.equal(code(() => k.takeAnswer(audio('RTP/SAVP', [line({ ...theirs, suite: 'AES_CM_128_HMAC_SHA1_80', key: Buffer.alloc(16, 1), salt: Buffer.alloc(14, 2) })]))), 'protocol', 'suite changed');
  t.equal(code(() => k.takeAnswer(audio('RTP/SAVP', [line(theirs), line({ ...theirs, tag: 1, suite: 'AES_CM_128_HMAC_SHA1_80', key: Buffer.alloc(16), salt: Buffer.alloc(14) })]))), 'protocol', 'two lines');
  t.equal(code(() => k.takeAnswer(audio('RTP/SAVP', []))), 'protocol', 'no line');
  const sec = keys(k.takeAnswer(audio('RTP/SAVP', [line(theirs)])));
  t.same(sec, { kind: 'srtp', rx: hex(theirs), tx: hex(lines[1]!), rxSuite: 'AES_256_CM_HMAC_SHA1_80', txSuite: 'AES_256_CM_HMAC_SHA1_80' });
  t.same(keys(k.takeAnswer(audio('RTP/SAVP', [line(theirs)]))), sec, 'the 200 after a 183 repeats the answer: same keys');
  // A later box offer: same key unless asked to rekey.
  t.same(parsed(k.offer(undefined, false)).map((c) => [c.tag, hex(c)]), [[2, hex(lines[1]!)]]);
  const rekeyed = parsed(k.offer(undefined, true));
  t.equal(rekeyed.length, DEFAULT_OFFER_SUITES.length);
  t.notOk(rekeyed.some((c) => hex(c) === hex(lines[1]!)), 'fresh keys when the other leg rekeyed');
  k.rollback();
  t.same(parsed(k.offer(undefined, false)).map(hex), [hex(lines[1]!)], 'after a refused rekey offer the old key is offered again');
  t.same(keys(k.security()), sec);
});

t.test('SdesLeg never writes a key toward a leg without TLS', async (t) => {
  const k = sdes(false);
  t.equal(code(() => k.offer(undefined, false)), 'protocol');
  const a = sdes(false);
  a.takeOffer(audio('RTP/SAVP', [line(crypto(1, 'AES_CM_128_HMAC_SHA1_80', 1))]));
  t.equal(code(() => a.answer(undefined)), 'protocol');
});

t.test('PlainKeying: no key either way; a best-effort offer is answered plain, an SRTP one refused', async (t) => {
  const k = new PlainKeying();
  t.same(k.takeOffer(audio('RTP/AVP', [line(crypto(1, 'AES_CM_128_HMAC_SHA1_80', 1))])), { rekey: false }, 'best effort: crypto ignored (RFC 4568 5)');
  t.same(k.answer(), { profile: 'RTP/AVP', attributes: [] });
  k.takeOffer(audio('RTP/AVPF', []));
  t.same(k.answer(), { profile: 'RTP/AVPF', attributes: [] }, 'the offer\'s transport echoed');
  t.equal(code(() => k.takeOffer(audio('RTP/SAVP', [line(crypto(1, 'AES_CM_128_HMAC_SHA1_80', 1))]))), 'protocol');
  t.equal(code(() => k.takeOffer(audio('UDP/TLS/RTP/SAVP', []))), 'protocol');
  t.same(k.offer(), { profile: 'RTP/AVP', attributes: [] });
  t.same([k.security(), k.rollback(), k.view()], [{ kind: 'rtp' }, undefined, { protection: 'rtp' }]);
});

t.test('SdesRelayLeg: lines pass verbatim, the box holds no key; only toward TLS', async (t) => {
  const callerLines = [line(crypto(1, 'AES_CM_128_HMAC_SHA1_80', 1)), '2 F8_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm'];
  const b = new SdesRelayLeg({ tls: true });
  const off = b.offer(audio('RTP/SAVP', callerLines), false);
  t.same(off, { profile: 'RTP/SAVP', attributes: callerLines.map((value) => ({ name: 'crypto', value })) }, 'every line, even one the box cannot read');
  t.same(b.security(), { kind: 'srtp-pending' });
  const calleeLine = line(crypto(1, 'AES_CM_128_HMAC_SHA1_80', 30));
  t.equal(b.takeAnswer(audio('RTP/SAVP', [calleeLine])), undefined);
  t.same([b.security(), b.view()], [{ kind: 'srtp-relay' }, { protection: 'sdes', keys: 'end-to-end', suite: 'AES_CM_128_HMAC_SHA1_80' }]);
  const a = new SdesRelayLeg({ tls: true });
  a.takeOffer(audio('RTP/SAVP', callerLines));
  t.same(a.answer(audio('RTP/SAVP', [calleeLine])), { profile: 'RTP/SAVP', attributes: [{ name: 'crypto', value: calleeLine }] });
  t.equal(a.rollback(), undefined, 'no keys, nothing to roll back');
  t.equal(code(() => a.takeOffer(audio('RTP/AVP', []))), 'protocol', 'a re-offer cannot drop the keys of an SRTP leg');
  t.equal(code(() => new SdesRelayLeg({ tls: false }).offer(audio('RTP/SAVP', callerLines), false)), 'protocol', 'no TLS, no lines');
  t.same(new SdesRelayLeg({ tls: false }).offer(audio('RTP/AVP', []), false), { profile: 'RTP/AVP', attributes: [] }, 'nothing to carry: fine without TLS');
});

t.test('SdesRelayLeg: a best-effort offer answered without keys becomes plain RTP; an SRTP offer so answered fails', async (t) => {
  const bestEffort = audio('RTP/AVP', [line(crypto(1, 'AES_CM_128_HMAC_SHA1_80', 1))]);
  const b = new SdesRelayLeg({ tls: true });
  b.offer(bestEffort, false);
  b.takeAnswer(audio('RTP/AVP', []));
  t.same([b.security(), b.view()], [{ kind: 'rtp' }, { protection: 'rtp' }], 'callee side: plain');
  t.same(b.offer(bestEffort, false), { profile: 'RTP/AVP', attributes: [] }, 'and plain for the rest of the call');
  const a = new SdesRelayLeg({ tls: true });
  a.takeOffer(bestEffort);
  t.same(a.answer(audio('RTP/AVP', [])), { profile: 'RTP/AVP', attributes: [] }, 'caller side: answered without keys, it falls back');
  t.same(a.security(), { kind: 'rtp' });
  const mandatory = new SdesRelayLeg({ tls: true });
  mandatory.offer(audio('RTP/SAVP', [line(crypto(1, 'AES_CM_128_HMAC_SHA1_80', 1))]), false);
  t.equal(code(() => mandatory.takeAnswer(audio('RTP/SAVP', []))), 'protocol');
  const later = new SdesRelayLeg({ tls: true });
  later.offer(bestEffort, false);
  later.takeAnswer(audio('RTP/AVP', [line(crypto(1, 'AES_CM_128_HMAC_SHA1_80', 2))]));
  later.offer(bestEffort, false);
  t.equal(code(() => later.takeAnswer(audio('RTP/AVP', []))), 'protocol', 'once keyed, no later answer may drop the keys');
});
