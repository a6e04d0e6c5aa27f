import t from 'tap';
import { isPbxError } from '../../firmware/core/index.js';
import {
  answerDirection, buildAnswer, buildOffer, codecsOf, DIRECTIONS, directionOf, findAttribute, hasActiveMedia, parseSdp,
  ptime, remoteMediaOf, serializeSdp, type AnswerOptions, type CodecFilter, type Direction, type SessionDescription,
} from '../../firmware/sdp/index.js';
import { fixture } from './fixtures/load.js';

const LINPHONE = parseSdp(fixture('clients/linphone-5.1-offer.sdp'));
const BARESIP = parseSdp(fixture('clients/baresip-1.0-offer.sdp'));
const G711: CodecFilter = [{ encoding: 'PCMU', clockRate: 8000 }, { encoding: 'PCMA', clockRate: 8000 },
  { encoding: 'telephone-event', clockRate: 8000 }];

function answer(offer: SessionDescription, extra: Partial<AnswerOptions> = {}): SessionDescription {
  return buildAnswer(offer, {
    origin: { sessionId: '9', sessionVersion: '1' }, address: '10.0.0.1',
    ports: offer.media.map((_, i) => ({ rtp: 20000 + 2 * i, rtcp: 20001 + 2 * i })), codecs: { audio: G711 }, ...extra,
  });
}

function attr(sd: SessionDescription, name: string, i = 0): string | null | undefined {
  const m = sd.media[i];
  return m ? findAttribute(m.attributes, name)?.value : undefined;
}

t.test('RFC 3264 6.1: the direction table, for every offered direction and every wish of the box', async (t) => {
  const table: Record<Direction, Record<Direction, Direction>> = {
    sendrecv: { sendrecv: 'sendrecv', sendonly: 'sendonly', recvonly: 'recvonly', inactive: 'inactive' },
    sendonly: { sendrecv: 'recvonly', sendonly: 'inactive', recvonly: 'recvonly', inactive: 'inactive' },
    recvonly: { sendrecv: 'sendonly', sendonly: 'sendonly', recvonly: 'inactive', inactive: 'inactive' },
    inactive: { sendrecv: 'inactive', sendonly: 'inactive', recvonly: 'inactive', inactive: 'inactive' },
  };
  for (const offered of DIRECTIONS) {
    for (const wanted of DIRECTIONS) t.equal(answerDirection(offered, wanted), table[offered][wanted], `${offered} + ${wanted}`);
  }
});

t.test('baresip offer: G.711 and DTMF kept, rtcp-mux accepted, ptime copied', async (t) => {
  const a = answer(BARESIP);
  t.same(a.media[0]?.formats, ['0', '8', '101'], 'offer order and numbers');
  t.equal(attr(a, 'rtcp-mux'), null, 'RFC 5761: mux offered and supported');
  t.equal(attr(a, 'rtcp'), undefined, 'no a=rtcp when muxed');
  t.equal(a.media[0] ? ptime(a.media[0]) : 0, 20);
  t.equal(attr(a, 'fmtp'), '101 0-15', 'the offer\'s fmtp for a kept payload type');
  t.equal(attr(a, 'sendrecv'), null);
  t.equal(a.origin.username, 'securepbx');
  t.same(a.attributes, [], 'no session attributes of the phone (a=tool) in the box\'s answer');
  const noMux = answer(BARESIP, { rtcpMux: false });
  t.equal(attr(noMux, 'rtcp-mux'), undefined);
  t.equal(attr(noMux, 'rtcp'), '20001', 'our RTCP port when not muxed');
});

t.test('linphone offer: codec choice by clock rate, ICE not echoed', async (t) => {
  const a = answer(LINPHONE);
  t.same(a.media[0]?.formats, ['0', '8', '100'], 'only telephone-event/8000 matches G.711\'s DTMF');
  const wide = answer(LINPHONE, {
    codecs: { audio: [{ encoding: 'opus', clockRate: 48000, channels: 2 }, { encoding: 'PCMU', clockRate: 8000 },
      { encoding: 'telephone-event', clockRate: 48000 }, { encoding: 'telephone-event', clockRate: 8000 }] },
  });
  t.same(wide.media[0]?.formats, ['96', '0', '101', '100']);
  t.same(wide.media[0] ? codecsOf(wide.media[0])[0] : undefined,
    { pt: 96, encoding: 'opus', clockRate: 48000, channels: 2, fmtp: 'useinbandfec=1' }, 'opus/48000/2 with its fmtp');
  t.notMatch(serializeSdp(a), /candidate|ice-|rtcp-fb|192\.168/);
  t.same(remoteMediaOf(a, 0), {
    rtp: { address: '10.0.0.1', port: 20000 }, rtcp: { address: '10.0.0.1', port: 20001 }, rtcpMux: true, direction: 'sendrecv',
  }, 'the answer read back as the phone will read it');
});

t.test('no common codec: the stream is declined and the whole answer has no media (caller answers 488)', async (t) => {
  const a = answer(LINPHONE, { codecs: { audio: [{ encoding: 'G722', clockRate: 8000 }] } });
  t.equal(a.media.length, 1);
  t.equal(a.media[0]?.port, 0);
  t.notOk(hasActiveMedia(a));
  t.ok(hasActiveMedia(answer(LINPHONE)));
  t.notOk(hasActiveMedia(answer(LINPHONE, { codecs: { video: G711 } })), 'no filter for audio: declined');
  t.notOk(hasActiveMedia(answer(LINPHONE, { ports: [null] })), 'no ports from the box: declined');
  const proto = answer(LINPHONE, { codecs: { constructor: G711 } });
  t.notOk(hasActiveMedia(proto), 'media types are looked up as own keys only');
});

t.test('transport profiles: SRTP offers are declined until the keying layer opts them in', async (t) => {
  const savp = { ...BARESIP, media: BARESIP.media.map((m) => ({ ...m, protocol: 'RTP/SAVP' })) };
  t.equal(answer(savp).media[0]?.port, 0);
  t.equal(answer(savp).media[0]?.protocol, 'RTP/SAVP', 'declined with the offered transport');
  t.equal(answer(savp, { profiles: ['RTP/SAVP'] }).media[0]?.port, 20000);
  const tcp = { ...BARESIP, media: BARESIP.media.map((m) => ({ ...m, protocol: 'TCP/RTP/AVP' })) };
  t.equal(answer(tcp).media[0]?.port, 0, 'an unknown transport is declined');
});

t.test('hold: offers with a=sendonly, a=inactive or c=0.0.0.0 get the matching answer', async (t) => {
  const withDir = (d: Direction): SessionDescription => ({
    ...BARESIP, media: BARESIP.media.map((m) => ({ ...m, attributes: [...m.attributes.filter((a) => a.name !== 'sendrecv'), { name: d, value: null }] })),
  });
  const dir = (sd: SessionDescription): Direction | undefined => (sd.media[0] ? directionOf(sd, sd.media[0]) : undefined);
  t.equal(dir(answer(withDir('sendonly'))), 'recvonly', 'held by the caller: the box only receives');
  t.equal(dir(answer(withDir('inactive'))), 'inactive');
  t.equal(dir(answer(withDir('recvonly'))), 'sendonly');
  t.equal(dir(answer(BARESIP, { direction: 'sendonly' })), 'sendonly', 'the box holds (music on hold)');
  t.equal(dir(answer(BARESIP, { direction: ['inactive'] })), 'inactive', 'per m-line wish');
  const zero = { ...BARESIP, connection: { netType: 'IN', addrType: 'IP4', address: '0.0.0.0' } };
  t.equal(remoteMediaOf(zero, 0).direction, 'sendonly', 'RFC 3264 8.4');
  t.equal(dir(answer(zero)), 'recvonly');
});

t.test('buildOffer: the box\'s own offer reads back as given, and answers to it follow RFC 3264', async (t) => {
  const codecs = [
    { pt: 0, encoding: 'PCMU', clockRate: 8000, channels: 1 },
    { pt: 96, encoding: 'opus', clockRate: 48000, channels: 2, fmtp: 'useinbandfec=1' },
    { pt: 101, encoding: 'telephone-event', clockRate: 8000, channels: 1, fmtp: '0-16' },
  ];
  const offer = buildOffer({
    origin: { sessionId: '77', sessionVersion: '3' }, address: '2001:db8::1',
    media: [
      { type: 'audio', protocol: 'RTP/AVP', ports: { rtp: 40000, rtcp: 40001 }, codecs, ptime: 20, rtcpMux: true, mid: '0',
        attributes: [{ name: 'crypto', value: '1 AES_CM_128_HMAC_SHA1_80 inline:KEY' }], direction: 'sendonly' },
      { type: 'video', protocol: 'RTP/AVP', ports: null, codecs: [{ pt: 31, encoding: 'H261', clockRate: 90000, channels: 1 }] },
    ],
  });
  const text = serializeSdp(offer);
  t.match(text, /^v=0\r\no=securepbx 77 3 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n/);
  t.match(text, /m=audio 40000 RTP\/AVP 0 96 101\r\n/);
  t.match(text, /a=rtpmap:96 opus\/48000\/2\r\na=fmtp:96 useinbandfec=1\r\n/);
  t.match(text, /a=rtcp:40001\r\na=rtcp-mux\r\na=mid:0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:KEY\r\na=sendonly\r\n/);
  t.match(text, /m=video 0 RTP\/AVP 31\r\n/);
  const back = parseSdp(text);
  t.same(back, offer);
  t.same(back.media[0] ? codecsOf(back.media[0]) : [], codecs);
  const reply = answer(back, { codecs: { audio: G711 }, ports: [{ rtp: 50000, rtcp: 50001 }, { rtp: 50002, rtcp: 50003 }] });
  t.same(reply.media.map((m) => m.port), [50000, 0], 'the disabled video stays disabled (RFC 3264 6)');
  t.equal(attr(reply, 'mid'), '0', 'RFC 5888: mid echoed');
  t.equal(attr(reply, 'recvonly'), null);
  const bad = (f: () => unknown): string => {
    try { f(); return 'none'; } catch (e) { return isPbxError(e) ? e.code : 'other'; }
  };
  t.equal(bad(() => buildOffer({ origin: { sessionId: '1', sessionVersion: '1' }, address: '10.0.0.1',
    media: [{ type: 'audio', protocol: 'RTP/AVP', ports: { rtp: 1, rtcp: 2 }, codecs: [] }] })), 'protocol', 'no codec');
  t.equal(bad(() => buildOffer({ origin: { sessionId: '1', sessionVersion: '1' }, address: '10.0.0.1',
    media: [{ type: 'audio', protocol: 'RTP/AVP', ports: { rtp: 70000, rtcp: 2 }, codecs }] })), 'protocol', 'port');
  t.equal(bad(() => buildOffer({ origin: { sessionId: 'abc', sessionVersion: '1' }, address: '10.0.0.1', media: [] })),
    'protocol', 'session id');
});
