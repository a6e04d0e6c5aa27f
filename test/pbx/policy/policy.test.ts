import fc from 'fast-check';
import t from 'tap';
import type { CalleeStream, CallerStream } from '../../../firmware/config/index.js';
import {
  AVAILABLE_KEY_AGREEMENTS, DEFAULT_PHONE_CAPS, DEFAULT_POLICY_SETTINGS, accepts, decideMediaPlan, isRefusal, policySettings,
  summarizeOffer, type KeyAgreement, type LegPlan, type MediaPlan, type OfferSummary, type PhoneCaps, type PlanInput,
  type PolicyRefusal, type Protection,
} from '../../../firmware/pbx/policy/index.js';
import type { MediaDescription } from '../../../firmware/sdp/index.js';

const ALL: PhoneCaps = { supported: ['rtp', 'sdes', 'dtls', 'zrtp'], required: [] };
const EVERYTHING: readonly KeyAgreement[] = ['sdes', 'dtls', 'zrtp'];
const SDES_OFFER: OfferSummary = { protection: 'sdes', bestEffort: false, suites: ['AES_CM_128_HMAC_SHA1_80'], sips: false };
const RTP_OFFER: OfferSummary = { protection: 'rtp', bestEffort: false, suites: [], sips: false };

function input(callerStream: CallerStream, calleeStream: CalleeStream, offer: OfferSummary, more: Partial<PlanInput> = {}): PlanInput {
  return {
    callerPolicy: { callerStream, calleeStream },
    caller: { caps: ALL, legTls: true },
    callee: { caps: ALL, legTls: true },
    offer,
    ...more,
  };
}
function planOf(r: MediaPlan | PolicyRefusal): MediaPlan {
  if (isRefusal(r)) throw new Error(`expected a plan, got ${r.status} ${r.code}: ${r.reason}`);
  return r;
}
function refusalOf(r: MediaPlan | PolicyRefusal): PolicyRefusal {
  if (!isRefusal(r)) throw new Error(`expected a refusal, got ${r.mode}: ${r.note}`);
  return r;
}
/** A leg in short: 'rtp', or '<agreement>/<who holds keys>'. */
const short = (l: LegPlan): string => (l.protection === 'rtp' ? 'rtp' : `${l.keyAgreement}/${l.keys}`);

/*
 * The seed's table (shared/seeds/000_daa3e52a797ffdcb.txt, "Service policy
 * configuration for media encryption"), one entry per printed row, with the
 * grouped callee options expanded. "requested" rows use an SDES offer on a
 * TLS leg; callee phones can do everything and sit on TLS, so only the
 * policy decides. RELAY_* are "Caller <-> Relayed via PortaSwitch or sent
 * directly <-> Callee"; the others name the box in the middle.
 */
type Expect = { mode: 'relay' | 'bridge'; a: string; b: string; features: boolean };
const RELAY_ENCRYPTED: Expect = { mode: 'relay', a: 'sdes/end-to-end', b: 'sdes/end-to-end', features: false };
const RELAY_PLAIN: Expect = { mode: 'relay', a: 'rtp', b: 'rtp', features: true };
const DECRYPT_TO_PLAIN: Expect = { mode: 'bridge', a: 'sdes/box', b: 'rtp', features: true };
const reencrypt = (q: KeyAgreement): Expect => ({ mode: 'bridge', a: 'sdes/box', b: `${q}/box`, features: true });
const encryptToCallee = (q: KeyAgreement): Expect => ({ mode: 'bridge', a: 'rtp', b: `${q}/box`, features: true });

const SEED_TABLE: Array<{ caller: CallerStream; callee: readonly CalleeStream[]; requested: Expect | ((q: KeyAgreement) => Expect); no: Expect | ((q: KeyAgreement) => Expect) }> = [
  { caller: 'forced_relay', callee: ['decrypted', 'as_caller', 'sdes', 'dtls', 'zrtp'], requested: RELAY_ENCRYPTED, no: RELAY_PLAIN },
  { caller: 'relay_or_decrypt', callee: ['as_caller'], requested: RELAY_ENCRYPTED, no: RELAY_PLAIN },
  { caller: 'relay_or_decrypt', callee: ['decrypted'], requested: DECRYPT_TO_PLAIN, no: RELAY_PLAIN },
  { caller: 'relay_or_decrypt', callee: ['sdes', 'dtls', 'zrtp'], requested: reencrypt, no: encryptToCallee },
  { caller: 'decrypt', callee: ['as_caller', 'decrypted'], requested: DECRYPT_TO_PLAIN, no: RELAY_PLAIN },
  { caller: 'decrypt', callee: ['sdes', 'dtls', 'zrtp'], requested: reencrypt, no: encryptToCallee },
];

t.test('seed table, row by row (every key agreement available)', async (t) => {
  let rows = 0;
  for (const row of SEED_TABLE) {
    for (const callee of row.callee) {
      for (const [requested, offer, expect] of [['requested', SDES_OFFER, row.requested], ['no', RTP_OFFER, row.no]] as const) {
        const e = typeof expect === 'function' ? expect(callee as KeyAgreement) : expect;
        const p = planOf(decideMediaPlan(input(row.caller, callee, offer, { available: EVERYTHING })));
        const name = `${row.caller} x ${callee} x ${requested}`;
        t.same({ mode: p.mode, a: short(p.legA), b: short(p.legB), features: p.features.recording }, e, name);
        t.equal(p.features.musicOnHold, e.features, `${name}: music on hold`);
        rows++;
      }
    }
  }
  t.equal(rows, 30, 'every printed row, callee groups expanded');
});

t.test('seed table with today\'s key agreements: dtls and zrtp rows bridge to the box\'s DTLS-SRTP or ZRTP', async (t) => {
  t.same(AVAILABLE_KEY_AGREEMENTS, ['sdes', 'dtls', 'zrtp']);
  for (const caller of ['relay_or_decrypt', 'decrypt'] as const) {
    for (const offer of [SDES_OFFER, RTP_OFFER]) {
      const z = planOf(decideMediaPlan(input(caller, 'zrtp', offer)));
      t.same([z.mode, short(z.legB)], ['bridge', 'zrtp/box'], `${caller} x zrtp x ${offer.protection}: the box runs ZRTP toward the callee`);
      const p = planOf(decideMediaPlan(input(caller, 'dtls', offer)));
      t.same([p.mode, short(p.legA), short(p.legB)], ['bridge', offer.protection === 'sdes' ? 'sdes/box' : 'rtp', 'dtls/box'], `${caller} x dtls x ${offer.protection}`);
    }
  }
  // forced_relay ignores the callee setting, so those rows still relay.
  t.equal(planOf(decideMediaPlan(input('forced_relay', 'dtls', SDES_OFFER))).mode, 'relay');
  t.equal(short(planOf(decideMediaPlan(input('relay_or_decrypt', 'sdes', SDES_OFFER))).legB), 'sdes/box');
});

t.test('a caller offering DTLS-SRTP or ZRTP is served: relayed or bridged per the policy', async (t) => {
  {
  }
  const relayed = planOf(decideMediaPlan(input('forced_relay', 'as_caller', { ...RTP_OFFER, protection: 'dtls' })));
  t.same([relayed.mode, short(relayed.legA), short(relayed.legB)], ['relay', 'dtls/end-to-end', 'dtls/end-to-end'], 'forced_relay: DTLS end to end');
  const toSdes = planOf(decideMediaPlan(input('relay_or_decrypt', 'sdes', { ...RTP_OFFER, protection: 'dtls' })));
  t.same([toSdes.mode, short(toSdes.legA), short(toSdes.legB)], ['bridge', 'dtls/box', 'sdes/box'], 'a browser to an SDES desk phone: bridged');
  const decrypted = planOf(decideMediaPlan(input('decrypt', 'decrypted', { ...RTP_OFFER, protection: 'dtls' })));
  t.same([decrypted.mode, short(decrypted.legA), short(decrypted.legB)], ['bridge', 'dtls/box', 'rtp'], 'decrypted: DTLS to plain RTP');
  // A ZRTP offer (RTP/AVP + a=zrtp-hash) is never answered plain: the phone may insist on ZRTP
  // (linphonec with ZRTP mandatory connected and heard nothing for 30 s). Where ZRTP is not
  // available it is refused with a reason; now the box terminates it.
  const zOffer = summarizeOffer(audio('RTP/AVP', [['zrtp-hash', '1.10 00']]), false);
  const z = refusalOf(decideMediaPlan(input('relay_or_decrypt', 'as_caller', zOffer, { available: ['sdes'] })));
  t.same([z.status, z.code], [488, 'not-available']);
  t.match(z.reason, /ZRTP is not available.*turn ZRTP off on the phone/);
  const deskPhone = { caps: { supported: ['rtp', 'sdes'] as Protection[], required: [] }, legTls: true };
  const served = planOf(decideMediaPlan(input('relay_or_decrypt', 'as_caller', zOffer, { callee: deskPhone })));
  t.same([served.mode, short(served.legA), short(served.legB)], ['bridge', 'zrtp/box', 'sdes/box'], 'ZRTP to the box, SDES to a desk phone (the seed\'s John and Jane)');
  const zRelayed = planOf(decideMediaPlan(input('relay_or_decrypt', 'as_caller', zOffer)));
  t.same([zRelayed.mode, short(zRelayed.legA), short(zRelayed.legB), zRelayed.features.recording], ['relay', 'zrtp/end-to-end', 'zrtp/end-to-end', false],
    'ZRTP to a ZRTP phone: relayed end to end, the box cannot listen');
  // When DTLS lands the same call relays end to end.
  const later = planOf(decideMediaPlan(input('forced_relay', 'as_caller', { ...RTP_OFFER, protection: 'dtls' }, { available: EVERYTHING })));
  t.same([later.mode, short(later.legB), later.features.recording], ['relay', 'dtls/end-to-end', false]);
});

t.test('SDES keys travel only over TLS (RFC 4568 8, security considerations)', async (t) => {
  const udpCaller = { caller: { caps: ALL, legTls: false } };
  const udpCallee = { callee: { caps: ALL, legTls: false } };

  const r1 = refusalOf(decideMediaPlan(input('relay_or_decrypt', 'as_caller', SDES_OFFER, udpCaller)));
  t.same([r1.status, r1.code], [488, 'sdes-needs-tls'], "RTP/SAVP with SDES on the caller's UDP leg");
  t.match(r1.reason, /caller's leg/);

  const be = planOf(decideMediaPlan(input('relay_or_decrypt', 'as_caller', { ...SDES_OFFER, bestEffort: true }, udpCaller)));
  t.same([short(be.legA), short(be.legB)], ['rtp', 'rtp'], 'a best-effort offer over UDP is answered without keys');

  const r2 = refusalOf(decideMediaPlan(input('forced_relay', 'as_caller', SDES_OFFER, udpCallee)));
  t.same([r2.status, r2.code], [488, 'sdes-needs-tls'], "forced_relay would hand the caller's keys to a UDP leg");
  t.match(r2.reason, /SDES needs TLS on the callee's leg/);

  const r3 = refusalOf(decideMediaPlan(input('relay_or_decrypt', 'sdes', RTP_OFFER, udpCallee)));
  t.same([r3.status, r3.code], [488, 'sdes-needs-tls'], 'a policy that requires SDES toward a UDP callee');
  t.same(refusalOf(decideMediaPlan(input('decrypt', 'sdes', SDES_OFFER, udpCallee))).code, 'sdes-needs-tls');

  // relay_or_decrypt falls back to decrypting when relaying would leak the keys.
  const fb = planOf(decideMediaPlan(input('relay_or_decrypt', 'as_caller', SDES_OFFER, udpCallee)));
  // A callee phone that does DTLS-SRTP or ZRTP keeps its UDP leg encrypted that way (no key in its SDP); one that does neither gets RTP.
  t.same([fb.mode, short(fb.legA), fb.features.recording], ['bridge', 'sdes/box', true]);
  t.match(short(fb.legB), /^(dtls|zrtp)\/box$/, `toward a UDP phone that can: ${short(fb.legB)}`);
  const sdesOnly = { callee: { caps: { supported: ['rtp', 'sdes'], required: [] } as PhoneCaps, legTls: false } };
  const fb2 = planOf(decideMediaPlan(input('relay_or_decrypt', 'as_caller', SDES_OFFER, sdesOnly)));
  t.same([fb2.mode, short(fb2.legA), short(fb2.legB)], ['bridge', 'sdes/box', 'rtp'], 'plain RTP toward a UDP phone that does neither');
  // ...unless the callee's phone insists on SRTP: nothing safe is left.
  const strict = { callee: { caps: { supported: ['rtp', 'sdes'], required: ['sdes'] } as PhoneCaps, legTls: false } };
  t.same(refusalOf(decideMediaPlan(input('relay_or_decrypt', 'as_caller', SDES_OFFER, strict))).code, 'sdes-needs-tls');
});

t.test('the callee\'s phone bounds what its leg gets', async (t) => {
  const plainOnly = { callee: { caps: { supported: ['rtp'], required: [] } as PhoneCaps, legTls: true } };
  const srtpOnly = { callee: { caps: { supported: ['rtp', 'sdes'], required: ['sdes'] } as PhoneCaps, legTls: true } };

  const r1 = refusalOf(decideMediaPlan(input('forced_relay', 'as_caller', SDES_OFFER, plainOnly)));
  t.same([r1.status, r1.code], [488, 'callee-incapable'], 'forced_relay never bridges');
  t.same(refusalOf(decideMediaPlan(input('forced_relay', 'as_caller', RTP_OFFER, srtpOnly))).code, 'callee-incapable');
  t.same(refusalOf(decideMediaPlan(input('relay_or_decrypt', 'sdes', RTP_OFFER, plainOnly))).code, 'callee-incapable');
  t.same(refusalOf(decideMediaPlan(input('decrypt', 'decrypted', SDES_OFFER, srtpOnly))).code, 'callee-incapable');

  const down = planOf(decideMediaPlan(input('relay_or_decrypt', 'as_caller', SDES_OFFER, plainOnly)));
  t.same([down.mode, short(down.legA), short(down.legB)], ['bridge', 'sdes/box', 'rtp'], 'relay_or_decrypt decrypts for a plain phone');
  const up = planOf(decideMediaPlan(input('relay_or_decrypt', 'as_caller', RTP_OFFER, srtpOnly)));
  t.same([up.mode, short(up.legA), short(up.legB)], ['bridge', 'rtp', 'sdes/box'], 'relay_or_decrypt encrypts for an SRTP-only phone');

  t.equal(accepts({ supported: ['rtp', 'sdes'], required: ['sdes'] }, 'rtp'), false);
  t.equal(accepts({ supported: ['rtp'], required: ['sdes'] }, 'sdes'), false);
  t.equal(accepts(DEFAULT_PHONE_CAPS, 'sdes'), true);
});

t.test('the caller\'s account and offer', async (t) => {
  const mustEncrypt = { caller: { caps: { supported: ['sdes'], required: ['sdes'] } as PhoneCaps, legTls: true } };
  t.same(refusalOf(decideMediaPlan(input('relay_or_decrypt', 'as_caller', RTP_OFFER, mustEncrypt))).code, 'caller-not-allowed');
  // The box must decrypt but shares no suite with the caller: 488; a relay does not need to understand the suite.
  const noSuite: OfferSummary = { ...SDES_OFFER, suites: [] };
  t.same(refusalOf(decideMediaPlan(input('decrypt', 'decrypted', noSuite))).code, 'no-common-suite');
  t.equal(planOf(decideMediaPlan(input('forced_relay', 'as_caller', noSuite))).mode, 'relay');
  const be = planOf(decideMediaPlan(input('decrypt', 'decrypted', { ...noSuite, bestEffort: true })));
  t.same([short(be.legA), short(be.legB)], ['rtp', 'rtp'], 'best effort without a common suite falls back to RTP');
});

t.test('callerStream comes from the caller\'s policy, calleeStream from the callee\'s when it has one', async (t) => {
  const base = input('relay_or_decrypt', 'as_caller', SDES_OFFER);
  t.equal(planOf(decideMediaPlan(base)).mode, 'relay');
  const p = planOf(decideMediaPlan({ ...base, calleePolicy: { callerStream: 'forced_relay', calleeStream: 'decrypted' } }));
  t.same([p.mode, short(p.legB)], ['bridge', 'rtp'], "the callee's calleeStream (decrypted) applies, its callerStream does not");
});

t.test('sips: end to end needs TLS and SRTP on both legs (RFC 5630), else 480', async (t) => {
  const sips: OfferSummary = { ...SDES_OFFER, sips: true };
  const r1 = refusalOf(decideMediaPlan(input('relay_or_decrypt', 'as_caller', sips, { callee: { caps: ALL, legTls: false } })));
  t.same([r1.status, r1.code], [480, 'sips-needs-tls']);
  t.match(r1.reason, /sips: needs TLS and SRTP on both legs/);
  t.same(refusalOf(decideMediaPlan(input('relay_or_decrypt', 'as_caller', sips, { caller: { caps: ALL, legTls: false } }))).code, 'sips-needs-tls');
  const r2 = refusalOf(decideMediaPlan(input('relay_or_decrypt', 'as_caller', { ...RTP_OFFER, sips: true })));
  t.same([r2.status, r2.code], [480, 'sips-needs-srtp'], 'a plain offer');
  t.same(refusalOf(decideMediaPlan(input('relay_or_decrypt', 'decrypted', sips))).code, 'sips-needs-srtp', "the policy would make the callee's leg plain");
  t.equal(planOf(decideMediaPlan(input('relay_or_decrypt', 'as_caller', sips))).mode, 'relay');
  t.equal(planOf(decideMediaPlan(input('decrypt', 'sdes', sips))).mode, 'bridge');
  t.same(refusalOf(decideMediaPlan(input('relay_or_decrypt', 'as_caller', { ...sips, bestEffort: true }, { callee: { caps: { supported: ['rtp'], required: [] }, legTls: true } }))).code, 'sips-needs-srtp');
});

const audio = (protocol: string, attrs: Array<[string, string | null]>): MediaDescription => ({
  type: 'audio', port: 4000, protocol, formats: ['0'], bandwidths: [], attributes: attrs.map(([name, value]) => ({ name, value })),
});
const KEY30 = Buffer.alloc(30, 1).toString('base64');
const KEY46 = Buffer.alloc(46, 1).toString('base64');

t.test('summarizeOffer reads the caller\'s audio m-line', async (t) => {
  const savp = summarizeOffer(audio('RTP/SAVP', [
    ['crypto', `1 F8_128_HMAC_SHA1_80 inline:${KEY30}`],
    ['crypto', `2 AES_256_CM_HMAC_SHA1_80 inline:${KEY46}`],
    ['crypto', `3 AES_CM_128_HMAC_SHA1_80 inline:${KEY30}`],
    ['crypto', `4 AES_CM_128_HMAC_SHA1_80 inline:${KEY30}|2^20`],
  ]), false);
  t.same(savp, { protection: 'sdes', bestEffort: false, suites: ['AES_256_CM_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_80'], sips: false });
  t.same(summarizeOffer(audio('RTP/AVP', [['crypto', `1 AES_CM_128_HMAC_SHA1_80 inline:${KEY30}`]]), true),
    { protection: 'sdes', bestEffort: true, suites: ['AES_CM_128_HMAC_SHA1_80'], sips: true });
  t.same(summarizeOffer(audio('RTP/SAVPF', [['crypto', `1 AES_CM_128_HMAC_SHA1_80 inline:${KEY46}`]]), false).suites, [], 'no usable line');
  t.equal(summarizeOffer(audio('UDP/TLS/RTP/SAVPF', [['fingerprint', 'sha-256 00']]), false).protection, 'dtls');
  t.same(summarizeOffer(audio('RTP/AVP', [['zrtp-hash', '1.10 00']]), false), { protection: 'zrtp', bestEffort: false, suites: [], sips: false }, 'ZRTP: the SDP cannot say whether the phone insists');
  t.equal(summarizeOffer(audio('RTP/AVP', []), false).protection, 'rtp');
  t.equal(summarizeOffer(undefined, false).protection, 'rtp');
});

t.test('named policies resolve to their settings', async (t) => {
  const policies = [
    { name: 'default', callerStream: 'decrypt' as const, calleeStream: 'sdes' as const },
    { name: 'private', callerStream: 'forced_relay' as const, calleeStream: 'as_caller' as const },
  ];
  t.same(policySettings(policies, 'private'), { callerStream: 'forced_relay', calleeStream: 'as_caller' });
  t.same(policySettings(policies, 'missing'), { callerStream: 'decrypt', calleeStream: 'sdes' }, 'falls back to "default"');
  t.same(policySettings([], 'x'), DEFAULT_POLICY_SETTINGS);
});

t.test('property: the decision is total and keeps its invariants', async (t) => {
  const protection = fc.constantFrom<Protection>('rtp', 'sdes', 'dtls', 'zrtp');
  const caps = fc.record({
    supported: fc.subarray<Protection>(['rtp', 'sdes', 'dtls', 'zrtp']),
    required: fc.subarray<Protection>(['rtp', 'sdes', 'dtls', 'zrtp'], { maxLength: 2 }),
  });
  const policy = fc.record({
    callerStream: fc.constantFrom<CallerStream>('forced_relay', 'relay_or_decrypt', 'decrypt'),
    calleeStream: fc.constantFrom<CalleeStream>('as_caller', 'decrypted', 'sdes', 'dtls', 'zrtp'),
  });
  const arb = fc.record({
    callerPolicy: policy,
    calleePolicy: fc.option(policy, { nil: undefined }),
    caller: fc.record({ caps, legTls: fc.boolean() }),
    callee: fc.record({ caps, legTls: fc.boolean() }),
    offer: fc.record({
      protection, bestEffort: fc.boolean(), sips: fc.boolean(),
      suites: fc.subarray(['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_256_GCM'] as const),
    }),
    available: fc.option(fc.subarray<KeyAgreement>(['sdes', 'dtls', 'zrtp']), { nil: undefined }),
  });
  fc.assert(fc.property(arb, (i) => {
    const r = decideMediaPlan(i);
    const avail = i.available ?? AVAILABLE_KEY_AGREEMENTS;
    if (isRefusal(r)) {
      if (r.status === 480 && !i.offer.sips) throw new Error('480 without sips');
      if (r.reason.length === 0) throw new Error('a refusal without a reason');
      return;
    }
    const legs: Array<[LegPlan, boolean, PhoneCaps]> = [[r.legA, i.caller.legTls, i.caller.caps], [r.legB, i.callee.legTls, i.callee.caps]];
    for (const [l, tls, c] of legs) {
      if (l.keyAgreement === 'sdes' && !tls) throw new Error('SDES on a leg without TLS');
      if (l.keyAgreement !== 'none' && !avail.includes(l.keyAgreement)) throw new Error('an unavailable key agreement');
      if (c === i.callee.caps && !accepts(c, l.keyAgreement === 'none' ? 'rtp' : l.keyAgreement)) throw new Error("a leg the callee's phone cannot take");
    }
    const e2e = r.legA.keys === 'end-to-end' || r.legB.keys === 'end-to-end';
    if (r.features.recording === e2e || r.features.musicOnHold === e2e) throw new Error('features must be off exactly when the box holds no keys');
    if (r.mode === 'relay' && short(r.legA) !== short(r.legB)) throw new Error('a relay changes nothing between legs');
    if (r.mode === 'bridge' && r.legA.protection === 'rtp' && r.legB.protection === 'rtp') throw new Error('a bridge between two plain legs');
    if (i.offer.sips && (r.legA.protection !== 'srtp' || r.legB.protection !== 'srtp' || !i.caller.legTls || !i.callee.legTls)) throw new Error('sips without TLS and SRTP');
    if (i.callerPolicy.callerStream === 'forced_relay' && r.mode !== 'relay') throw new Error('forced_relay bridged');
  }), { numRuns: 5000 });
});
