import t from 'tap';
import { isPbxError } from '../../firmware/core/index.js';
import {
  ICE_ATTRIBUTES, codecsOf, nextVersion, parseSdp, remoteMediaOf, rewriteForLeg, serializeSdp, stampVersion,
  type SessionDescription,
} from '../../firmware/sdp/index.js';
import { fixture, rfc4317 } from './fixtures/load.js';

const LINPHONE = parseSdp(fixture('clients/linphone-5.1-offer.sdp'));
const BARESIP = parseSdp(fixture('clients/baresip-1.0-offer.sdp'));
const BOX = '10.0.0.1';
const LEG = { address: BOX, ports: [{ rtp: 30000, rtcp: 30001 }], origin: { sessionId: '42', sessionVersion: '1' } };

function names(sd: SessionDescription): string[] {
  return [...sd.attributes, ...sd.media.flatMap((m) => m.attributes)].map((a) => a.name);
}

function code(f: () => unknown): string {
  try {
    f();
    return 'none';
  } catch (e) {
    return isPbxError(e) ? e.code : 'not a PbxError';
  }
}

t.test('rewriteForLeg: the box becomes the media endpoint toward the other phone', async (t) => {
  const out = rewriteForLeg(LINPHONE, LEG);
  t.same(out.origin, { username: 'securepbx', sessionId: '42', sessionVersion: '1', netType: 'IN', addrType: 'IP4', address: BOX });
  t.same(out.connection, { netType: 'IN', addrType: 'IP4', address: BOX });
  t.equal(out.media[0]?.port, 30000);
  t.equal(out.media[0]?.connection, undefined);
  t.same(out.media[0]?.attributes.filter((a) => a.name === 'rtcp'), [{ name: 'rtcp', value: '30001' }], 'RFC 3605: the box\'s RTCP port only');
  t.notOk(names(out).some((n) => ICE_ATTRIBUTES.has(n)), 'no ICE candidates or credentials pass through');
  t.ok(names(LINPHONE).includes('candidate') && names(LINPHONE).includes('ice-pwd'), 'the input had them');
  t.same(out.media[0]?.formats, LINPHONE.media[0]?.formats, 'codecs untouched');
  const [mo, mi] = [out.media[0], LINPHONE.media[0]];
  if (mo && mi) t.same(codecsOf(mo), codecsOf(mi));
  for (const kept of ['rtcp-mux', 'rtcp-fb', 'rtcp-xr', 'record']) t.ok(names(out).includes(kept), `${kept} kept`);
  t.equal(out.sessionName, 'Talk');
  const text = serializeSdp(out);
  t.notMatch(text, /192\.168\.1\.42|7078|7079|203\.0\.113\.7/, 'nothing of the phone\'s transport leaks');
  t.same(parseSdp(text), out);
});

t.test('rewriteForLeg keeps security attributes as data for the keying layer, and takes its transport', async (t) => {
  const sd = parseSdp(['v=0', 'o=- 5 5 IN IP4 192.0.2.7', 's=-', 't=0 0', 'a=fingerprint:sha-256 AB:CD', 'a=ice-lite',
    'm=audio 5000 RTP/SAVP 0', 'c=IN IP4 192.0.2.7', 'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz',
    'a=zrtp-hash:1.10 fe30efd02423cb054e50efd0248742ac7a52c8f91bc2df881ae642c371ba46df', 'a=setup:actpass',
    'm=video 0 RTP/SAVP 31'].join('\n'));
  const out = rewriteForLeg(sd, { ...LEG, ports: [{ rtp: 30000, rtcp: 30001 }, { rtp: 30002, rtcp: 30003 }], protocols: ['RTP/AVP'] });
  t.same(out.attributes, [{ name: 'fingerprint', value: 'sha-256 AB:CD' }], 'ice-lite dropped, fingerprint kept');
  t.same(out.media[0]?.attributes.map((a) => a.name), ['rtcp', 'crypto', 'zrtp-hash', 'setup']);
  t.equal(out.media[0]?.protocol, 'RTP/AVP', 'the transport is a field the caller sets');
  t.equal(out.media[1]?.port, 0, 'a disabled stream stays disabled');
  t.equal(out.media[1]?.protocol, 'RTP/SAVP');
  const declined = rewriteForLeg(sd, { ...LEG, ports: [null] });
  t.equal(declined.media[0]?.port, 0, 'no ports from the box: stream disabled');
  t.notOk(declined.media[0]?.attributes.some((a) => a.name === 'rtcp'));
});

t.test('RFC 4317 2.8: a media-level c= of the phone is replaced by the box\'s session c=', async (t) => {
  const answer = parseSdp(rfc4317().get('2.8')?.Answer ?? '');
  const out = rewriteForLeg(answer, { ...LEG, ports: [{ rtp: 30000, rtcp: 30001 }, { rtp: 30002, rtcp: 30003 }] });
  t.same(out.media.map((m) => [m.port, m.connection]), [[30000, undefined], [30002, undefined]]);
  t.equal(remoteMediaOf(out, 1).rtp.address, BOX);
  t.equal(code(() => rewriteForLeg(answer, { ...LEG, ports: [{ rtp: 0, rtcp: 1 }] })), 'protocol', 'port 0 is not a port');
  t.equal(code(() => rewriteForLeg(answer, { ...LEG, address: 'a b' })), 'protocol');
});

t.test('RFC 3264 8: the session version moves by one when, and only when, the SDP changes', async (t) => {
  t.equal(nextVersion('1'), '2');
  t.equal(nextVersion('18446744073709551615'), '18446744073709551616', 'beyond 2^64 without loss');
  t.equal(code(() => nextVersion('x')), 'protocol');
  const first = rewriteForLeg(BARESIP, { ...LEG, origin: { sessionId: '7', sessionVersion: '100' } });
  const again = rewriteForLeg(BARESIP, { ...LEG, origin: { sessionId: '999', sessionVersion: '5' }, previous: first });
  t.same(again.origin, first.origin, 'unchanged: same id and version');
  const held = { ...BARESIP, media: BARESIP.media.map((m) => ({ ...m, attributes: [...m.attributes.filter((a) => a.name !== 'sendrecv'), { name: 'sendonly', value: null }] })) };
  const changed = rewriteForLeg(held, { ...LEG, previous: first });
  t.equal(changed.origin.sessionId, '7', 'the session id stays for the dialog');
  t.equal(changed.origin.sessionVersion, '101');
  t.equal(stampVersion(changed, undefined), changed, 'no previous: as given');
});

t.test('remoteMediaOf: the phone\'s RTP and RTCP endpoints, rtcp-mux and direction for the media engine', async (t) => {
  t.same(remoteMediaOf(LINPHONE, 0), {
    rtp: { address: '192.168.1.42', port: 7078 }, rtcp: { address: '192.168.1.42', port: 7079 }, rtcpMux: true, direction: 'sendrecv',
  });
  t.same(remoteMediaOf(BARESIP, 0).rtcp, { address: '192.168.1.23', port: 10571 }, 'RFC 3605: port + 1 without a=rtcp');
  const sd = parseSdp(['v=0', 'o=- 1 1 IN IP4 h', 's=-', 'c=IN IP4 192.0.2.1', 't=0 0',
    'm=audio 4000 RTP/AVP 0', 'a=rtcp:53020 IN IP4 126.16.64.4', 'a=sendonly',
    'm=audio 4002 RTP/AVP 0', 'c=IN IP4 192.0.2.2', 'a=inactive',
    'm=audio 4004 RTP/AVP 0', 'c=IN IP4 0.0.0.0',
    'm=audio 0 RTP/AVP 0', 'a=rtcp-mux'].join('\n'));
  t.same(remoteMediaOf(sd, 0), {
    rtp: { address: '192.0.2.1', port: 4000 }, rtcp: { address: '126.16.64.4', port: 53020 }, rtcpMux: false, direction: 'sendonly',
  }, 'RFC 3605 with an address; a=sendonly (hold)');
  t.same(remoteMediaOf(sd, 1).rtp, { address: '192.0.2.2', port: 4002 }, 'media c= wins');
  t.equal(remoteMediaOf(sd, 1).direction, 'inactive', 'a=inactive');
  t.equal(remoteMediaOf(sd, 2).direction, 'sendonly', 'RFC 3264 8.4: c=0.0.0.0 hold');
  t.same(remoteMediaOf(sd, 3), {
    rtp: { address: '192.0.2.1', port: 0 }, rtcp: { address: '192.0.2.1', port: 0 }, rtcpMux: false, direction: 'inactive',
  }, 'a disabled stream');
  t.equal(code(() => remoteMediaOf(sd, 4)), 'not-found');
  const noAddr = parseSdp(['v=0', 'o=- 1 1 IN IP4 h', 's=-', 't=0 0', 'm=audio 4000 RTP/AVP 0'].join('\n'));
  t.equal(code(() => remoteMediaOf(noAddr, 0)), 'protocol', 'RFC 4566 5.7: an active stream needs a c=');
});
