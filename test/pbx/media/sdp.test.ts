/**
 * pbx/media's SDP face: the writer call control uses, with the o= version
 * rule (RFC 3264 8) on sessions from sdpSession(), today's behaviour on plain
 * session objects, and the same numbers when call control still bumps the
 * version itself before each re-offer.
 */
import t from 'tap';
import { isPbxError } from '../../../firmware/core/index.js';
import {
  answerFromAnswer, audioOf, offerFromOffer, offerSecurity, parseBody, payloadMap, relayCheck, remoteOf, sdpSession,
  type SdpSession,
} from '../../../firmware/pbx/media/index.js';
import { parseSdp, type SessionDescription } from '../../../firmware/sdp/index.js';

const LOCAL = { address: '198.51.100.9', rtpPort: 40000, rtcpPort: 40001 };
function phone(dir = 'sendrecv', codecs = '0 8 101'): SessionDescription {
  return parseSdp(['v=0', 'o=- 1 1 IN IP4 192.0.2.5', 's=-', 'c=IN IP4 192.0.2.5', 't=0 0', `m=audio 5004 RTP/AVP ${codecs}`,
    'a=rtpmap:101 telephone-event/8000', `a=${dir}`, ''].join('\r\n'));
}
const versionOf = (b: Buffer): string => parseSdp(b).origin.sessionVersion;
function code(f: () => unknown): string {
  try { f(); return 'none'; } catch (e) { return isPbxError(e) ? e.code : 'not a PbxError'; }
}

t.test('sdpSession: the version moves only when the SDP does', async (t) => {
  const s = sdpSession('4242');
  const v = (offer: SessionDescription): string => versionOf(offerFromOffer(offer, s, LOCAL).body);
  t.equal(v(phone()), '1', 'the first SDP on the leg');
  t.equal(v(phone()), '1', 'the same offer again (a session refresh): same version');
  t.equal(v(phone('sendonly')), '2', 'hold: one more');
  t.equal(v(phone('sendonly')), '2');
  t.equal(v(phone()), '3', 'resume');
  t.equal(s.version, 3, 'the session shows the version last written');
  t.equal(versionOf(answerFromAnswer(phone(), phone(), s, LOCAL)), '3', 'an answer on the leg that reads exactly like the last SDP there: same version');
  const answer = answerFromAnswer(phone(), phone('sendrecv', '0'), s, LOCAL);
  t.equal(versionOf(answer), '4', 'the callee took PCMU only: the SDP changed');
  t.equal(versionOf(answerFromAnswer(phone(), phone('sendrecv', '0'), s, LOCAL)), '4');
  t.equal(parseSdp(answer).origin.sessionId, '4242');
});

t.test('call control that still bumps the version before each re-offer gets exactly the numbers it got before', async (t) => {
  const legacy: SdpSession = { id: '9', version: 1 };
  const auto = sdpSession('9');
  const rounds = [phone(), phone('sendonly'), phone('sendonly'), phone(), phone()];
  rounds.forEach((offer, i) => {
    if (i > 0) { legacy.version++; auto.version++; }
    const a = offerFromOffer(offer, legacy, LOCAL).body.toString();
    const b = offerFromOffer(offer, auto, LOCAL).body.toString();
    t.equal(b, a, `round ${i}: same bytes`);
  });
  t.equal(versionOf(offerFromOffer(phone(), legacy, LOCAL).body), '5', 'a plain session object is written as it stands');
});

t.test('relayCheck, remoteOf, audioOf, payloadMap, offerSecurity, parseBody', async (t) => {
  t.same(relayCheck(phone()).map((c) => c.pt), [0, 8, 101]);
  t.equal(code(() => relayCheck(phone('sendrecv', '18'))), 'protocol', 'G.729 only: nothing to relay');
  t.same(remoteOf(phone()).rtp, { address: '192.0.2.5', port: 5004 });
  t.equal(code(() => remoteOf(parseSdp('v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=video 5 RTP/AVP 31\r\n'))), 'protocol');
  t.equal(audioOf(undefined), undefined);
  const renumbered = parseSdp('v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 h\r\nt=0 0\r\nm=audio 5 RTP/AVP 0 96\r\na=rtpmap:96 telephone-event/8000\r\n');
  t.same(payloadMap(phone(), renumbered), { 96: 101 }, 'the callee\'s 96 is the caller\'s 101');
  t.same(offerSecurity(audioOf(phone())), undefined);
  t.same(offerSecurity({ ...audioOf(phone())!, protocol: 'RTP/SAVP' }), { a: { kind: 'srtp-pending' } });
  t.equal(parseBody(Buffer.alloc(0)), undefined);
  const keyed = offerFromOffer(phone(), sdpSession('1'), LOCAL, { profile: 'RTP/SAVP', attributes: [{ name: 'crypto', value: '1 AES_CM_128_HMAC_SHA1_80 inline:x' }] });
  t.match(keyed.body.toString(), /m=audio 40000 RTP\/SAVP 0 8 101\r\n[\s\S]*a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:x\r\na=sendrecv\r\n$/);
});
