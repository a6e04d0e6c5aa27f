import t from 'tap';
import {
  attributeValues, directionOf, fmtps, hasRtcpMux, isHoldConnection, isSecureProfile, maxptime, mediaProfile, midOf,
  parseSdp, ptime, remoteDirection, rtcpOf, rtpMaps,
} from '../../firmware/sdp/index.js';

const HEAD = ['v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 192.0.2.1', 't=0 0'];

function sdp(...lines: string[]): ReturnType<typeof parseSdp> {
  return parseSdp([...HEAD, ...lines].join('\r\n'));
}

t.test('RFC 4566 6: rtpmap and fmtp views; malformed ones are skipped, not thrown', async (t) => {
  const sd = sdp('m=audio 4000 RTP/AVP 96 97 0', 'a=rtpmap:96 opus/48000/2', 'a=fmtp:96 useinbandfec=1; stereo=0',
    'a=rtpmap:97 telephone-event/8000', 'a=fmtp:97 0-16', 'a=rtpmap:98', 'a=rtpmap:200 x/8000', 'a=rtpmap:99 x/0',
    'a=fmtp:abc x');
  const m = sd.media[0];
  if (!m) return t.fail('no media');
  t.same(rtpMaps(m), [
    { pt: 96, encoding: 'opus', clockRate: 48000, channels: 2 },
    { pt: 97, encoding: 'telephone-event', clockRate: 8000 },
  ]);
  t.same(fmtps(m), [{ pt: 96, params: 'useinbandfec=1; stereo=0' }, { pt: 97, params: '0-16' }]);
});

t.test('ptime, maxptime, mid, rtcp-mux, RFC 3605 a=rtcp', async (t) => {
  const m = sdp('m=audio 4000 RTP/AVP 0', 'a=ptime:20', 'a=maxptime:40', 'a=mid:audio', 'a=rtcp-mux',
    'a=rtcp:53020 IN IP4 126.16.64.4').media[0];
  const bare = sdp('m=audio 4000 RTP/AVP 0', 'a=ptime:zero', 'a=rtcp:5001').media[0];
  if (!m || !bare) return t.fail('no media');
  t.equal(ptime(m), 20);
  t.equal(maxptime(m), 40);
  t.equal(midOf(m), 'audio');
  t.ok(hasRtcpMux(m));
  t.same(rtcpOf(m), { port: 53020, netType: 'IN', addrType: 'IP4', address: '126.16.64.4' });
  t.equal(ptime(bare), undefined, 'a bad ptime is no ptime');
  t.notOk(hasRtcpMux(bare));
  t.same(rtcpOf(bare), { port: 5001 });
  t.same(attributeValues(m.attributes, 'PTIME'), ['20'], 'attribute names compare without case');
});

t.test('RFC 3264 5.1 / RFC 4566 6: direction per stream, inherited from the session, default sendrecv', async (t) => {
  const sd = parseSdp([...HEAD, 'a=recvonly', 'm=audio 4000 RTP/AVP 0', 'm=audio 4002 RTP/AVP 0', 'a=inactive'].join('\n'));
  const [a, b] = sd.media;
  if (!a || !b) return t.fail('no media');
  t.equal(directionOf(sd, a), 'recvonly', 'session-level default');
  t.equal(directionOf(sd, b), 'inactive', 'media level wins');
  const plain = sdp('m=audio 4000 RTP/AVP 0');
  t.equal(directionOf(plain, plain.media[0] ?? a), 'sendrecv');
});

t.test('RFC 3264 8.4: c=0.0.0.0 means the sender will not receive', async (t) => {
  const held = parseSdp(['v=0', 'o=- 1 1 IN IP4 h', 's=-', 'c=IN IP4 0.0.0.0', 't=0 0', 'm=audio 4000 RTP/AVP 0',
    'm=audio 4002 RTP/AVP 0', 'a=recvonly', 'm=audio 4004 RTP/AVP 0', 'c=IN IP4 192.0.2.5'].join('\n'));
  const [a, b, c] = held.media;
  if (!a || !b || !c) return t.fail('no media');
  t.ok(isHoldConnection(held.connection));
  t.equal(remoteDirection(held, a), 'sendonly', 'sendrecv at 0.0.0.0 is sendonly');
  t.equal(remoteDirection(held, b), 'inactive', 'recvonly at 0.0.0.0 is inactive');
  t.equal(remoteDirection(held, c), 'sendrecv', 'a media c= with a real address overrides');
  t.notOk(isHoldConnection({ netType: 'IN', addrType: 'IP4', address: '192.0.2.1' }));
  t.ok(isHoldConnection({ netType: 'IN', addrType: 'IP6', address: '::' }));
  const off = sdp('m=audio 0 RTP/AVP 0');
  t.equal(remoteDirection(off, off.media[0] ?? a), 'inactive', 'port 0 is no media at all');
});

t.test('the media profile is a field: known RTP profiles recognised, others kept raw', async (t) => {
  const sd = sdp('m=audio 1 RTP/AVP 0', 'm=audio 1 rtp/savpf 0', 'm=audio 1 UDP/TLS/RTP/SAVPF 0',
    'm=application 1 UDP/DTLS/SCTP webrtc-datachannel');
  t.same(sd.media.map(mediaProfile), ['RTP/AVP', 'RTP/SAVPF', 'UDP/TLS/RTP/SAVPF', undefined]);
  t.equal(sd.media[1]?.protocol, 'rtp/savpf', 'the data keeps what the phone wrote');
  t.notOk(isSecureProfile('RTP/AVPF'));
  t.ok(isSecureProfile('UDP/TLS/RTP/SAVP'));
});
