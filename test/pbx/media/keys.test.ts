/**
 * CallKeys (pbx/media) as a composition of two per-leg keyings, for every
 * plan the media policy makes: relay plain, relay end to end (with the
 * best-effort fallback), bridge SDES<->plain both ways, bridge SDES<->SDES;
 * then re-offers from either side, and a refused round rolled back.
 */
import t from 'tap';
import type { CalleeStream, CallerStream } from '../../../firmware/config/index.js';
import { isPbxError, seededRandom } from '../../../firmware/core/index.js';
import {
  DEFAULT_OFFER_SUITES, SDES_SUITES, formatCryptoLine, parseCryptoLine, type CryptoAttribute, type KeyingSdp, type SdesSuiteName,
} from '../../../firmware/keying/index.js';
import type { LegSecurity } from '../../../firmware/media/index.js';
import { CallKeys } from '../../../firmware/pbx/media/index.js';
import { DEFAULT_PHONE_CAPS, decideMediaPlan, isRefusal, summarizeOffer, type MediaPlan } from '../../../firmware/pbx/policy/index.js';
import type { MediaDescription } from '../../../firmware/sdp/index.js';

function crypto(tag: number, suite: SdesSuiteName, fill: number): CryptoAttribute {
  const s = SDES_SUITES[suite];
  return { tag, suite, key: Buffer.alloc(s.keyLen, fill), salt: Buffer.alloc(s.saltLen, fill + 1) };
}
const AES = 'AES_CM_128_HMAC_SHA1_80';
function audio(protocol: string, lines: readonly CryptoAttribute[] | readonly string[]): MediaDescription {
  return {
    type: 'audio', port: 49170, protocol, formats: ['0'], bandwidths: [],
    attributes: [{ name: 'rtpmap', value: '0 PCMU/8000' },
      ...lines.map((l) => ({ name: 'crypto', value: typeof l === 'string' ? l : formatCryptoLine(l) }))],
  };
}
function parsed(sdp: KeyingSdp): CryptoAttribute[] {
  return sdp.attributes.map((a) => {
    const r = parseCryptoLine(a.value ?? '');
    if (!r.ok) throw new Error(r.detail);
    return r.crypto;
  });
}
const hex = (c: CryptoAttribute | undefined): string => c?.key.toString('hex') ?? '';
function keys(s: LegSecurity | undefined): { kind: string; rx?: string; tx?: string } {
  if (!s || s.kind !== 'srtp') return { kind: s?.kind ?? 'none' };
  return { kind: s.kind, rx: Buffer.from(s.rx.masterKey).toString('hex'), tx: Buffer.from(s.tx.masterKey).toString('hex') };
}
function code(f: () => unknown): string {
  try { f(); return 'none'; } catch (e) { return isPbxError(e) ? e.code : 'not a PbxError'; }
}

/** The plan the real policy makes for this offer; both legs TLS unless told. */
function planFor(callerStream: CallerStream, calleeStream: CalleeStream, offer: MediaDescription, tls = { a: true, b: true }): MediaPlan {
  const caps = DEFAULT_PHONE_CAPS;
  const r = decideMediaPlan({
    callerPolicy: { callerStream, calleeStream }, caller: { caps, legTls: tls.a }, callee: { caps, legTls: tls.b },
    offer: summarizeOffer(offer, false),
  });
  if (isRefusal(r)) throw new Error(`policy refused: ${r.reason}`);
  return r;
}
function callKeys(plan: MediaPlan, offer: MediaDescription, tls = { a: true, b: true }): CallKeys {
  return new CallKeys(plan, offer, { random: seededRandom(11), tls });
}

const CALLER = crypto(1, AES, 1);
const SDES_OFFER = audio('RTP/SAVP', [CALLER]);
const PLAIN_OFFER = audio('RTP/AVP', []);

t.test('relay, plain: no key line either way, plain RTP in the engine, features on', async (t) => {
  const plan = planFor('relay_or_decrypt', 'as_caller', PLAIN_OFFER);
  t.same([plan.mode, plan.legA.keys, plan.legB.keys], ['relay', 'none', 'none']);
  const k = callKeys(plan, PLAIN_OFFER, { a: false, b: false });
  t.same(k.calleeOffer(), { profile: 'RTP/AVP', attributes: [] });
  const r = k.calleeAnswered(audio('RTP/AVP', []));
  t.same(r, { callerAnswer: { profile: 'RTP/AVP', attributes: [] }, engine: { a: { kind: 'rtp' }, b: { kind: 'rtp' } } });
  t.same([k.view('a'), k.view('b'), k.endToEnd], [{ protection: 'rtp' }, { protection: 'rtp' }, false]);
  const re = k.reoffer('b', audio('RTP/AVP', []));
  t.same(re, { there: { profile: 'RTP/AVP', attributes: [] } }, 'a re-offer: plain toward the other side, nothing for the engine');
  t.same(k.reanswered('b', audio('RTP/AVP', [])), { here: { profile: 'RTP/AVP', attributes: [] } });
});

t.test('relay, end to end: the phones\' lines pass verbatim, the box holds no key, the engine passes SRTP', async (t) => {
  const offer = audio('RTP/SAVP', [CALLER, crypto(2, 'AES_256_CM_HMAC_SHA1_80', 2)]);
  const plan = planFor('forced_relay', 'as_caller', offer);
  t.same([plan.mode, plan.legA.keys, plan.legB.keys], ['relay', 'end-to-end', 'end-to-end']);
  const k = callKeys(plan, offer);
  t.same(k.calleeOffer(), { profile: 'RTP/SAVP', attributes: offer.attributes.slice(1) }, 'both caller lines, as written');
  const callee = crypto(2, 'AES_256_CM_HMAC_SHA1_80', 9);
  const r = k.calleeAnswered(audio('RTP/SAVP', [callee]));
  t.same(r.callerAnswer, { profile: 'RTP/SAVP', attributes: [{ name: 'crypto', value: formatCryptoLine(callee) }] });
  t.same(r.engine, { a: { kind: 'srtp-relay' }, b: { kind: 'srtp-relay' } });
  t.same(k.view('a'), { protection: 'sdes', keys: 'end-to-end', suite: 'AES_256_CM_HMAC_SHA1_80' });
  t.equal(k.endToEnd, true, 'no recording, no music on hold');
  const fresh = crypto(1, AES, 40);
  const re = k.reoffer('a', audio('RTP/SAVP', [fresh]));
  t.same(re, { there: { profile: 'RTP/SAVP', attributes: [{ name: 'crypto', value: formatCryptoLine(fresh) }] } }, 'a rekey passes through too');
  const back = crypto(1, AES, 41);
  t.same(k.reanswered('a', audio('RTP/SAVP', [back])), { here: { profile: 'RTP/SAVP', attributes: [{ name: 'crypto', value: formatCryptoLine(back) }] } });
  t.same(k.rollback('a'), {}, 'nothing of the box\'s to roll back');
  t.equal(code(() => callKeys(plan, offer, { a: true, b: false }).calleeOffer()), 'protocol', 'keys only toward TLS');
  t.equal(code(() => callKeys(plan, offer).calleeAnswered(audio('RTP/SAVP', []))), 'protocol', 'an SRTP offer answered without keys fails the branch');
});

t.test('relay, end to end, best effort: answered without keys, both legs become plain RTP (RFC 4568 5)', async (t) => {
  const offer = audio('RTP/AVP', [CALLER]);
  const plan = planFor('forced_relay', 'as_caller', offer);
  const k = callKeys(plan, offer);
  t.equal(k.endToEnd, true, 'end to end while it rings');
  t.same(k.calleeOffer().attributes.length, 1);
  const r = k.calleeAnswered(audio('RTP/AVP', []));
  t.same(r, { callerAnswer: { profile: 'RTP/AVP', attributes: [] }, engine: { a: { kind: 'rtp' }, b: { kind: 'rtp' } } });
  t.same([k.view('a'), k.view('b'), k.endToEnd], [{ protection: 'rtp' }, { protection: 'rtp' }, false]);
  t.same(k.reoffer('a', offer).there, { profile: 'RTP/AVP', attributes: [] }, 'plain for the rest of the call');
});

t.test('bridge, SDES caller -> plain callee: the box answers the caller\'s line, the callee hears plain RTP', async (t) => {
  const plan = planFor('decrypt', 'decrypted', SDES_OFFER, { a: true, b: false });
  t.same([plan.mode, plan.legA.keys, plan.legB.keys], ['bridge', 'box', 'none']);
  const k = callKeys(plan, SDES_OFFER, { a: true, b: false });
  t.same(k.calleeOffer(), { profile: 'RTP/AVP', attributes: [] }, 'no key toward the UDP leg');
  t.same(k.view('a'), { protection: 'sdes', keys: 'box', suite: AES }, 'the caller\'s suite shows while it rings');
  const r = k.calleeAnswered(audio('RTP/AVP', []));
  t.equal(r.callerAnswer.profile, 'RTP/SAVP');
  const [ours] = parsed(r.callerAnswer);
  t.same([ours?.tag, ours?.suite], [1, AES]);
  t.same(keys(r.engine.a), { kind: 'srtp', rx: hex(CALLER), tx: hex(ours) });
  t.same(r.engine.b, { kind: 'rtp' });
  t.equal(k.endToEnd, false);
  // The callee (plain) re-offers: the caller is offered the box's key in force, the same one.
  const re = k.reoffer('b', audio('RTP/AVP', []));
  t.same(parsed(re.there).map((c) => [c.tag, hex(c)]), [[1, hex(ours)]]);
  t.equal(re.here, undefined, 'the plain leg\'s engine state is untouched');
  const back = k.reanswered('b', audio('RTP/SAVP', [CALLER]));
  t.same(keys(back.there), { kind: 'srtp', rx: hex(CALLER), tx: hex(ours) }, 'the caller answered with its old key: same keys');
  t.same(back.here, { profile: 'RTP/AVP', attributes: [] });
});

t.test('bridge, plain caller -> SDES callee: the box offers its own lines and keys the callee\'s leg', async (t) => {
  const plan = planFor('relay_or_decrypt', 'sdes', PLAIN_OFFER);
  t.same([plan.mode, plan.legA.keys, plan.legB.keys], ['bridge', 'none', 'box']);
  const k = callKeys(plan, PLAIN_OFFER);
  const off = k.calleeOffer();
  t.equal(off.profile, 'RTP/SAVP');
  const lines = parsed(off);
  t.same(lines.map((c) => c.suite), DEFAULT_OFFER_SUITES);
  const callee = crypto(1, AES, 20);
  const r = k.calleeAnswered(audio('RTP/SAVP', [callee]));
  t.same(r.callerAnswer, { profile: 'RTP/AVP', attributes: [] });
  t.same(r.engine.a, { kind: 'rtp' });
  t.same(keys(r.engine.b), { kind: 'srtp', rx: hex(callee), tx: hex(lines[0]) });
  t.same(k.view('b'), { protection: 'sdes', keys: 'box', suite: AES });
  const other = callKeys(plan, PLAIN_OFFER);
  other.calleeOffer();
  t.equal(code(() => other.calleeAnswered(audio('RTP/SAVP', [crypto(7, AES, 3)]))), 'protocol', 'an answer to a tag never offered');
  t.equal(code(() => callKeys(plan, PLAIN_OFFER).calleeAnswered(audio('RTP/SAVP', [callee]))), 'invalid-state', 'an answer before any offer');
  t.equal(code(() => callKeys(plan, PLAIN_OFFER, { a: true, b: false }).calleeOffer()), 'protocol', 'keys only toward TLS');
});

/** An answered SDES<->SDES bridge, with every key known to the test. */
function sdesBridge(): { k: CallKeys; toCaller: CryptoAttribute; toCallee: CryptoAttribute; callee: CryptoAttribute } {
  const plan = planFor('decrypt', 'sdes', SDES_OFFER);
  const k = callKeys(plan, SDES_OFFER);
  const toCallee = parsed(k.calleeOffer())[0]!;
  const callee = crypto(1, AES, 30);
  const r = k.calleeAnswered(audio('RTP/SAVP', [callee]));
  return { k, toCaller: parsed(r.callerAnswer)[0]!, toCallee, callee };
}

t.test('bridge, SDES <-> SDES: a re-offer keeps both legs\' keys unless it brings new lines; a rekey reaches the other leg', async (t) => {
  const { k, toCaller, toCallee, callee } = sdesBridge();
  t.same([k.plan.mode, k.view('a').keys, k.view('b').keys], ['bridge', 'box', 'box']);
  const same = k.reoffer('a', SDES_OFFER);
  t.same(keys(same.here), { kind: 'srtp', rx: hex(CALLER), tx: hex(toCaller) });
  t.same(parsed(same.there).map(hex), [hex(toCallee)], 'no rekey: the callee is offered the key in force');
  const sameBack = k.reanswered('a', audio('RTP/SAVP', [callee]));
  t.same(keys(sameBack.there), { kind: 'srtp', rx: hex(callee), tx: hex(toCallee) });
  t.same(parsed(sameBack.here).map(hex), [hex(toCaller)]);

  const fresh = crypto(1, AES, 50);
  const re = k.reoffer('a', audio('RTP/SAVP', [fresh]));
  t.same(keys(re.here), { kind: 'srtp', rx: hex(fresh), tx: hex(toCaller) }, 'the caller\'s new key at once, our send key kept');
  const offered = parsed(re.there);
  t.equal(offered.length, DEFAULT_OFFER_SUITES.length, 'a rekey: the callee gets fresh lines');
  t.notOk(offered.some((c) => hex(c) === hex(toCallee)));
  const calleeNew = crypto(2, 'AES_256_CM_HMAC_SHA1_80', 60);
  const back = k.reanswered('a', audio('RTP/SAVP', [calleeNew]));
  t.same(keys(back.there), { kind: 'srtp', rx: hex(calleeNew), tx: hex(offered[1]) });
  t.same(k.view('b').suite, 'AES_256_CM_HMAC_SHA1_80');
  t.same(parsed(back.here).map(hex), [hex(toCaller)]);
});

t.test('rollback: a refused rekey round leaves the old keys in force on both legs', async (t) => {
  const { k, toCaller, toCallee } = sdesBridge();
  const re = k.reoffer('a', audio('RTP/SAVP', [crypto(1, AES, 70)]));
  t.not(keys(re.here).rx, hex(CALLER), 'the engine got the new key at once');
  const rb = k.rollback('a');
  t.same(keys(rb.here), { kind: 'srtp', rx: hex(CALLER), tx: hex(toCaller) }, 'the engine gets the caller\'s old keys back');
  t.equal(rb.there, undefined, 'the callee\'s leg never changed in the engine');
  // The next round proves what is in force: the old caller line is no rekey, and the callee is offered its old key.
  const next = k.reoffer('a', SDES_OFFER);
  t.same(keys(next.here), { kind: 'srtp', rx: hex(CALLER), tx: hex(toCaller) });
  t.same(parsed(next.there).map(hex), [hex(toCallee)]);
  // Refused from the callee's side too.
  const { k: k2, toCallee: b2 } = sdesBridge();
  k2.reoffer('b', audio('RTP/SAVP', [crypto(1, AES, 80)]));
  const rb2 = k2.rollback('b');
  t.same(keys(rb2.here).tx, hex(b2), 'the callee\'s leg goes back to the box\'s old send key');
  t.equal(k2.reanswered('b', audio('RTP/SAVP', [])).there, undefined, 'an answer after the rollback settles nothing');
});

t.test('CallKeys refuses what the caller\'s leg cannot key', async (t) => {
  const plan = planFor('decrypt', 'sdes', SDES_OFFER);
  t.equal(code(() => callKeys(plan, audio('RTP/SAVP', ['1 F8_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm']))), 'protocol',
    'no supported suite');
  t.equal(code(() => new CallKeys(plan, undefined, { random: seededRandom(1), tls: { a: true, b: true } })), 'protocol', 'no offer at all');
  t.equal(code(() => new CallKeys({ ...plan, legA: { protection: 'srtp', keyAgreement: 'dtls', keys: 'box' } }, SDES_OFFER,
    { random: seededRandom(1), tls: { a: true, b: true } })), 'protocol', 'a key agreement the box does not carry yet');
  const { k } = sdesBridge();
  t.equal(code(() => k.reoffer('a', audio('RTP/AVP', []))), 'protocol', 'a re-offer that drops the keys');
});
