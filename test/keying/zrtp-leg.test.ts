/**
 * ZRTP as a per-leg keying (keying/leg/zrtp.ts): ZrtpLeg (the box
 * terminates ZRTP, RFC 6189) and ZrtpRelayLeg (the phones' exchange passes
 * end to end), and how call control turns the engine's 'keying' event into
 * the keying's events (pbx/call keyingEvents). The box's identity is a real
 * ZrtpBox, so the a=zrtp-hash written is checked against the Hello the
 * engine's agent sends for the same H0.
 */
import t from 'tap';
import { Counters, FakeClock, isPbxError, seededRandom } from '../../firmware/core/index.js';
import { MemoryZrtpCache, ZrtpBox, ZrtpLeg, ZrtpRelayLeg, checkZrtpHash, parseZrtpPacket } from '../../firmware/keying/index.js';
import type { LegSecurity } from '../../firmware/media/index.js';
import { keyingEvents } from '../../firmware/pbx/call/index.js';
import type { MediaDescription } from '../../firmware/sdp/index.js';

function audio(protocol: string, hash?: string, extra: { name: string; value: string }[] = []): MediaDescription {
  return {
    type: 'audio', port: 49170, protocol, formats: ['0'], bandwidths: [],
    attributes: [{ name: 'rtpmap', value: '0 PCMU/8000' }, ...(hash !== undefined ? [{ name: 'zrtp-hash', value: hash }] : []), ...extra],
  };
}
const PHONE_HASH = `1.10 ${'ab'.repeat(32)}`;

function code(f: () => unknown): string {
  try { f(); return 'none'; } catch (e) { return isPbxError(e) ? e.code : 'not a PbxError'; }
}

function box(): ZrtpBox {
  return new ZrtpBox({ zid: Buffer.alloc(12, 0xb1), cache: new MemoryZrtpCache(), clock: new FakeClock(), random: seededRandom(3), counters: new Counters() });
}

function zrtpSpec(s: LegSecurity | undefined): Extract<LegSecurity, { kind: 'zrtp' }>['zrtp'] {
  if (!s || s.kind !== 'zrtp') throw new Error(`not zrtp: ${s?.kind}`);
  return s.zrtp;
}

t.test('ZrtpLeg: our a=zrtp-hash is the hash of the Hello the engine sends for the same H0 (RFC 6189 8.1)', async (t) => {
  const b = box();
  const leg = new ZrtpLeg({ hello: b, random: seededRandom(9) });
  t.same(leg.takeOffer(audio('RTP/AVP', PHONE_HASH)), { rekey: false });
  const ans = leg.answer(undefined);
  t.equal(ans.profile, 'RTP/AVP');
  t.equal(ans.attributes.length, 1);
  t.equal(ans.attributes[0]!.name, 'zrtp-hash');
  const spec = zrtpSpec(leg.security());
  t.equal(spec.peerHelloHash, PHONE_HASH, 'the phone\'s hash goes to the engine');
  t.equal(spec.mitm, true, 'the box is a trusted PBX toward its phones');
  // The agent made from the same spec sends exactly the Hello announced.
  const sent: Buffer[] = [];
  const agent = b.agents(spec, { send: (p) => sent.push(p), secure: () => undefined, failed: () => undefined });
  agent.start();
  const hello = parseZrtpPacket(sent[0]!);
  t.ok(hello.ok && checkZrtpHash(ans.attributes[0]!.value!, hello.messageBytes), 'the Hello on the wire matches the SDP');
  agent.close();
  // Every SDP of the leg announces the same Hello; the same spec keeps the engine's exchange.
  t.same(leg.offer(audio('RTP/AVP'), true).attributes, ans.attributes, 'a re-offer (even a rekey) keeps the Hello');
  t.same(Buffer.from(zrtpSpec(leg.security()).h0), Buffer.from(spec.h0));
  const other = new ZrtpLeg({ hello: b, random: seededRandom(10) });
  t.not(other.answer(undefined).attributes[0]!.value, ans.attributes[0]!.value, 'another leg has another Hello');
});

t.test('ZrtpLeg: profiles and hashes it refuses; a new phone hash after keying-done is given to the engine at once', async (t) => {
  const leg = new ZrtpLeg({ hello: box(), random: seededRandom(9) });
  t.equal(code(() => leg.takeOffer(audio('RTP/SAVP', PHONE_HASH))), 'protocol', 'ZRTP runs over RTP/AVP');
  t.equal(code(() => leg.takeOffer(audio('RTP/AVP', 'x'.repeat(200)))), 'protocol', 'an absurd a=zrtp-hash');
  t.equal(leg.takeOffer(audio('RTP/AVPF')).rekey, false, 'no a=zrtp-hash is allowed (RFC 6189 8.1 SHOULD)');
  t.equal(leg.answer(undefined).profile, 'RTP/AVPF');
  t.equal(zrtpSpec(leg.security()).peerHelloHash, undefined);
  t.same(leg.takeAnswer(audio('RTP/AVP', PHONE_HASH))?.kind, 'zrtp', 'a hash in the answer: security again, with it');
  t.equal(leg.takeAnswer(audio('RTP/AVP', PHONE_HASH)), undefined, 'the same again: nothing to change');
  leg.handle({ type: 'keying-done', suite: 'AES_CM_128_HMAC_SHA1_80' });
  const re = leg.takeOffer(audio('RTP/AVP', `1.10 ${'cd'.repeat(32)}`));
  t.equal(re.security?.kind, 'zrtp', 'a re-INVITE with a new Hello hash reaches the engine');
  t.equal(leg.rollback(), undefined);
});

t.test('ZrtpLeg: the engine event becomes keying-done and sas; the view shows the SAS, never a key; failure ends the leg', async (t) => {
  const leg = new ZrtpLeg({ hello: box(), random: seededRandom(9) });
  t.same(leg.view(), { protection: 'zrtp', keys: 'box' });
  const evs = keyingEvents({
    type: 'keying', sessionId: 's', leg: 'a', state: 'done',
    zrtp: {
      sas: 'k4fm', sasType: 'B32', sasVerified: false, peerSasVerified: true, cacheMatch: 'match', cipher: 'AES1', authTag: 'HS80',
      keyAgreement: 'X255', suite: 'AES_CM_128_HMAC_SHA1_80', peerZid: '00'.repeat(12), peerIsPbx: false, pbxEnrolled: false, role: 'responder',
    },
  });
  t.same(evs.map((e) => e.type), ['keying-done', 'sas']);
  for (const e of evs) {
    t.ok((leg.events as readonly string[]).includes(e.type));
    t.same(leg.handle(e), {}, 'the engine installed the keys itself: nothing to apply');
  }
  t.same(leg.view(), {
    protection: 'zrtp', keys: 'box', suite: 'AES_CM_128_HMAC_SHA1_80',
    zrtp: { sas: 'k4fm', sasVerified: false, cache: 'match', algorithms: 'X255 AES1 HS80 B32', peerVerified: true, enrolled: false },
  });
  const failed = keyingEvents({ type: 'keying', sessionId: 's', leg: 'a', state: 'failed', reason: 'zrtp: timeout' });
  t.same(failed, [{ type: 'keying-failed', reason: 'zrtp: timeout' }]);
  t.same(leg.handle(failed[0]!), { failed: 'zrtp: timeout' });
});

t.test('ZrtpRelayLeg: each phone\'s a=zrtp-hash reaches the other verbatim; srtp-relay once answered; no SAS at the box', async (t) => {
  const a = new ZrtpRelayLeg();
  const b = new ZrtpRelayLeg();
  const callerOffer = audio('RTP/AVP', PHONE_HASH);
  a.takeOffer(callerOffer);
  const toCallee = b.offer(callerOffer, false);
  t.same(toCallee, { profile: 'RTP/AVP', attributes: [{ name: 'zrtp-hash', value: PHONE_HASH }] });
  t.equal(a.security().kind, 'srtp-pending', 'nothing passes before the answer');
  const calleeAnswer = audio('RTP/AVP', `1.10 ${'ef'.repeat(32)}`);
  b.takeAnswer(calleeAnswer);
  t.same(a.answer(calleeAnswer).attributes, [{ name: 'zrtp-hash', value: `1.10 ${'ef'.repeat(32)}` }]);
  t.same([a.security().kind, b.security().kind], ['srtp-relay', 'srtp-relay']);
  t.same(a.view(), { protection: 'zrtp', keys: 'end-to-end' });
  t.same(a.events, [], 'the box has no exchange of its own to hear about');
  t.equal(code(() => new ZrtpRelayLeg().takeAnswer(audio('RTP/AVP'))), 'protocol', 'an answer without ZRTP cannot be relayed as ZRTP');
  t.equal(code(() => new ZrtpRelayLeg().offer(audio('RTP/AVP'), false)), 'protocol');
});
