/**
 * The box's relayed offers and answers (sdp/relay.ts): what the B2BUA writes
 * toward each leg. RFC 3264 6/6.1/8 and the RFC 4317 examples, read as "one
 * phone offers, the box relays it, the other phone answers".
 */
import t from 'tap';
import { isPbxError } from '../../firmware/core/index.js';
import {
  DIRECTIONS, answerDirection, codecsOf, directionOf, findAttribute, parseSdp, relayAnswer, relayIndex, relayOffer, relayPayloadMap,
  relayedCodecs, remoteDirection, serializeSdp, stampLeg,
  type Direction, type RelayLeg, type SessionDescription,
} from '../../firmware/sdp/index.js';
import { fixture, rfc4317 } from './fixtures/load.js';

const LEG: RelayLeg = { origin: { sessionId: '7', sessionVersion: '1' }, address: '198.51.100.9', ports: { rtp: 40000, rtcp: 40001 }, profile: 'RTP/AVP' };
const BARESIP = parseSdp(fixture('clients/baresip-1.0-offer.sdp'));
const RELAYABLE = new Set(['pcmu/8000', 'pcma/8000', 'g722/8000', 'telephone-event/8000']);

function code(f: () => unknown): string {
  try { f(); return 'none'; } catch (e) { return isPbxError(e) ? e.code : 'not a PbxError'; }
}

/** A one-stream SDP with the given codecs and direction, as a phone would send it. */
function phone(lines: string[], dir: Direction = 'sendrecv', extra: string[] = []): SessionDescription {
  return parseSdp(['v=0', 'o=- 1 1 IN IP4 192.0.2.5', 's=-', 'c=IN IP4 192.0.2.5', 't=0 0', ...lines, `a=${dir}`, ...extra, ''].join('\r\n'));
}
const G711 = ['m=audio 5004 RTP/AVP 0 8 101', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', 'a=ptime:20'];

t.test('relayOffer: the offerer\'s numbers, only relayed codecs, the box\'s c=/o=/ports and a=rtcp, keying lines before the direction', async (t) => {
  const offer = phone(['m=audio 5004 RTP/AVP 96 0 18 9 101', 'a=rtpmap:96 opus/48000/2', 'a=rtpmap:9 G722/8000',
    'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16', 'a=ptime:30'], 'sendonly');
  const crypto = { name: 'crypto', value: '1 AES_CM_128_HMAC_SHA1_80 inline:x' };
  const { sdp, codecs } = relayOffer(offer, { ...LEG, profile: 'RTP/SAVP', attributes: [crypto] });
  t.same(codecs.map((c) => c.pt), [0, 9, 101], 'opus and G.729 dropped, order and numbers kept');
  const text = serializeSdp(sdp);
  t.match(text, /^v=0\r\no=securepbx 7 1 IN IP4 198\.51\.100\.9\r\ns=securepbx call\r\nc=IN IP4 198\.51\.100\.9\r\nt=0 0\r\n/);
  t.match(text, /m=audio 40000 RTP\/SAVP 0 9 101\r\n/);
  t.match(text, /a=ptime:30\r\na=rtcp:40001\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\na=sendonly\r\n$/);
  t.notMatch(text, /192\.0\.2\.5|5004/, 'nothing of the phone\'s transport');
  t.equal(findAttribute(sdp.media[0]!.attributes, 'fmtp')?.value, '101 0-16', 'the offerer\'s fmtp');
  t.same(parseSdp(text), sdp, 'round-trips');
  const held = phone(G711, 'sendrecv');
  const zero = { ...held, connection: { netType: 'IN', addrType: 'IP4', address: '0.0.0.0' } };
  t.equal(directionOf(relayOffer(zero, LEG).sdp, relayOffer(zero, LEG).sdp.media[0]!), 'sendonly', 'RFC 3264 8.4: c=0.0.0.0 hold relayed as sendonly');
  t.equal(code(() => relayOffer(phone(['m=audio 5004 RTP/AVP 18 97', 'a=rtpmap:97 iLBC/8000']), LEG)), 'protocol', 'no relayed codec');
  t.equal(code(() => relayOffer(phone(['m=audio 5004 RTP/AVP 101', 'a=rtpmap:101 telephone-event/8000']), LEG)), 'protocol', 'DTMF alone is no voice');
  t.equal(code(() => relayOffer(phone(['m=video 5004 RTP/AVP 31']), LEG)), 'protocol', 'no audio stream');
  t.equal(code(() => relayedCodecs(phone(['m=audio 5004 RTP/AVP 3']).media[0]!)), 'protocol');
});

t.test('other m-lines keep their place with port 0, in offers and in answers', async (t) => {
  const offer = parseSdp(['v=0', 'o=- 1 1 IN IP4 192.0.2.5', 's=-', 'c=IN IP4 192.0.2.5', 't=0 0',
    'm=video 5000 RTP/AVP 31', 'm=audio 0 RTP/AVP 0', 'm=audio 5004 RTP/AVP 8 0', 'm=application 5006 UDP/BFCP *', 'm=audio 5008 RTP/AVP 0', ''].join('\r\n'));
  t.equal(relayIndex(offer), 2, 'the first audio stream that is not disabled');
  const out = relayOffer(offer, LEG).sdp;
  t.same(out.media.map((m) => [m.type, m.port]), [['video', 0], ['audio', 0], ['audio', 40000], ['application', 0], ['audio', 0]]);
  t.same(out.media.map((m) => m.protocol), ['RTP/AVP', 'RTP/AVP', 'RTP/AVP', 'UDP/BFCP', 'RTP/AVP']);
  t.same(out.media[3]?.formats, ['*'], 'a non-RTP stream keeps a format of its own');
  t.ok(out.media.filter((m) => m.port === 0).every((m) => m.attributes.length === 0), 'disabled streams carry no attributes');
  const calleeAnswer = parseSdp(serializeSdp({ ...out, media: out.media.map((m) => (m.port === 0 ? m : { ...m, port: 6000 })) }));
  const back = relayAnswer(offer, calleeAnswer, LEG);
  t.same(back.media.map((m) => [m.type, m.port]), [['video', 0], ['audio', 0], ['audio', 40000], ['application', 0], ['audio', 0]],
    'RFC 3264 6: one m-line per offered one, in order');
  t.same(parseSdp(serializeSdp(back)), back);
});

t.test('relayAnswer: the codecs both phones took, in the offerer\'s numbers; ptime from the answerer; a=rtcp, no rtcp-mux', async (t) => {
  const offer = BARESIP;
  // The callee renumbered telephone-event to 96 and dropped PCMU.
  const answer = phone(['m=audio 7000 RTP/AVP 8 96', 'a=rtpmap:96 telephone-event/8000', 'a=ptime:40']);
  const sd = relayAnswer(offer, answer, LEG);
  const m = sd.media[0]!;
  t.same(m.formats, ['8', '101'], 'the caller\'s numbers');
  t.equal(findAttribute(m.attributes, 'ptime')?.value, '40', 'the packetisation the callee asked for');
  t.equal(findAttribute(m.attributes, 'rtcp')?.value, '40001');
  t.notOk(findAttribute(m.attributes, 'rtcp-mux'), 'the box does not mux RTCP on a relayed leg, though baresip offered it');
  t.same(relayPayloadMap(offer, answer), { 96: 101 }, 'what the engine rewrites toward the caller');
  t.same(relayPayloadMap(offer, phone(G711)), {}, 'same numbers: nothing to rewrite');
  t.equal(code(() => relayAnswer(offer, phone(['m=audio 7000 RTP/AVP 9']), LEG)), 'protocol', 'a codec the caller never offered');
  t.equal(code(() => relayAnswer(offer, phone(['m=audio 7000 RTP/AVP 101', 'a=rtpmap:101 telephone-event/8000']), LEG)), 'protocol', 'DTMF only');
  t.equal(code(() => relayAnswer(offer, phone(['m=audio 0 RTP/AVP 0']), LEG)), 'protocol', 'the callee rejected the audio');
  const savp = relayAnswer({ ...offer, media: offer.media.map((x) => ({ ...x, protocol: 'RTP/SAVP' })) }, answer,
    { ...LEG, profile: 'RTP/SAVP', attributes: [{ name: 'crypto', value: '1 AES_CM_128_HMAC_SHA1_80 inline:y' }] });
  t.equal(savp.media[0]?.protocol, 'RTP/SAVP', 'an SRTP offer is answered with the keying layer\'s transport');
  t.same(savp.media[0]?.attributes.slice(-2), [{ name: 'crypto', value: '1 AES_CM_128_HMAC_SHA1_80 inline:y' }, { name: 'sendrecv', value: null }]);
});

t.test('RFC 3264 6.1: the direction of the relayed answer, for every offered and every answered direction', async (t) => {
  for (const offered of DIRECTIONS) {
    for (const answered of DIRECTIONS) {
      const sd = relayAnswer(phone(G711, offered), phone(['m=audio 7000 RTP/AVP 0'], answered), LEG);
      const got = directionOf(sd, sd.media[0]!);
      // The box may send only what the offerer receives and what the answerer sends, and receive the converse.
      const sends = (d: Direction): boolean => d === 'sendrecv' || d === 'sendonly';
      const recvs = (d: Direction): boolean => d === 'sendrecv' || d === 'recvonly';
      t.equal(sends(got), recvs(offered) && sends(answered), `${offered}/${answered}: box sends`);
      t.equal(recvs(got), sends(offered) && recvs(answered), `${offered}/${answered}: box receives`);
      t.equal(got, answerDirection(offered, answered));
    }
  }
  const holdByAddress = { ...phone(G711), connection: { netType: 'IN', addrType: 'IP4', address: '0.0.0.0' } };
  const sd = relayAnswer(holdByAddress, phone(['m=audio 7000 RTP/AVP 0'], 'recvonly'), LEG);
  t.equal(directionOf(sd, sd.media[0]!), 'recvonly', 'c=0.0.0.0 offer: the box only receives');
});

const EXAMPLES = rfc4317();
const encodingOf = (sd: SessionDescription, i: number): string[] => codecsOf(sd.media[i]!).map((c) => `${c.encoding}/${c.clockRate}`.toLowerCase());

for (const [sec, ex] of EXAMPLES) {
  for (const [o, a] of [['Offer', 'Answer'], ['Second-Offer', 'Second-Answer']] as const) {
    const offerText = ex[o];
    const answerText = ex[a];
    if (offerText === undefined || answerText === undefined) continue;
    t.test(`RFC 4317 ${sec} ${o}: relayed through the box`, async (t) => {
      const offer = parseSdp(offerText);
      const rfcAnswer = parseSdp(answerText);
      const oi = relayIndex(offer);
      const relayable = oi >= 0 && encodingOf(offer, oi).some((e) => RELAYABLE.has(e) && !e.startsWith('telephone-event'));
      if (!relayable) {
        t.equal(code(() => relayOffer(offer, LEG)), 'protocol', 'nothing the box relays (iLBC, or no audio): refused, the call gets 488');
        return;
      }
      const out = relayOffer(offer, LEG).sdp;
      t.equal(out.media.length, offer.media.length, 'as many m-lines as the offer');
      t.same(out.media.map((m) => m.type), offer.media.map((m) => m.type), 'same order');
      t.same(out.media.map((m, i) => (i === oi ? 40000 : m.port)), out.media.map((_, i) => (i === oi ? 40000 : 0)), 'only the relayed stream has a port');
      t.same(encodingOf(out, oi), encodingOf(offer, oi).filter((e) => RELAYABLE.has(e)), 'the relayed codecs, in the offer\'s order');
      t.ok(out.media[oi]!.formats.every((f) => offer.media[oi]!.formats.includes(f)), 'the offer\'s numbers');
      // Bob's answer, as if he had answered the box: the box answers Alice from its audio.
      const ai = relayIndex(rfcAnswer);
      const common = ai < 0 ? [] : encodingOf(offer, oi).filter((e) => RELAYABLE.has(e) && encodingOf(rfcAnswer, ai).includes(e));
      if (!common.some((e) => !e.startsWith('telephone-event'))) {
        t.equal(code(() => relayAnswer(offer, rfcAnswer, LEG)), 'protocol', 'the answerer took nothing the box relays');
        return;
      }
      const back = relayAnswer(offer, rfcAnswer, LEG);
      t.same(back.media.map((m) => m.type), offer.media.map((m) => m.type), 'RFC 3264 6: same m-lines as the offer');
      t.same(back.media.map((m) => m.port !== 0), offer.media.map((_, i) => i === oi), 'all but the relayed stream declined');
      t.same(encodingOf(back, oi), common, 'the codecs Bob took, in Alice\'s order');
      t.equal(directionOf(back, back.media[oi]!), answerDirection(remoteDirection(offer, offer.media[oi]!), remoteDirection(rfcAnswer, rfcAnswer.media[ai]!)));
      t.same(back.timings, offer.timings, 't= as offered');
    });
  }
}

t.test('RFC 4317 2.1 through the box: golden answer toward Alice', async (t) => {
  const ex = EXAMPLES.get('2.1')!;
  const back = relayAnswer(parseSdp(ex.Offer!), parseSdp(ex.Answer!), LEG);
  t.equal(serializeSdp(back), ['v=0', 'o=securepbx 7 1 IN IP4 198.51.100.9', 's=securepbx call', 'c=IN IP4 198.51.100.9', 't=0 0',
    'm=audio 40000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', 'a=rtcp:40001', 'a=sendrecv',
    'm=video 0 RTP/AVP 31', 'a=rtpmap:31 H261/90000', ''].join('\r\n'));
});

t.test('RFC 3264 8: stampLeg bumps the o= version only when the description changes, never below the floor', async (t) => {
  const first = relayOffer(BARESIP, LEG).sdp;
  const s1 = stampLeg(first, undefined, 1n);
  t.equal(s1.sdp.origin.sessionVersion, '1', 'the first SDP on a leg takes the floor');
  const same = stampLeg(relayOffer(BARESIP, LEG).sdp, s1.sent, 1n);
  t.equal(same.sdp.origin.sessionVersion, '1', 'nothing changed: same version');
  const held = stampLeg(relayOffer(phone(G711, 'sendonly'), LEG).sdp, same.sent, 1n);
  t.equal(held.sdp.origin.sessionVersion, '2', 'a change: one more');
  const bumped = stampLeg(relayOffer(phone(G711, 'sendonly'), LEG).sdp, held.sent, 3n);
  t.equal(bumped.sdp.origin.sessionVersion, '3', 'a caller that bumped itself keeps its number');
  const later = stampLeg(relayOffer(phone(G711, 'sendonly'), LEG).sdp, bumped.sent, 1n);
  t.equal(later.sdp.origin.sessionVersion, '3', 'a lower floor never takes the version back');
  const big = stampLeg(first, { text: 'other', version: 18446744073709551615n }, 1n);
  t.equal(big.sdp.origin.sessionVersion, '18446744073709551616', 'decimal of any size');
});
