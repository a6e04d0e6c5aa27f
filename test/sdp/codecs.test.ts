import t from 'tap';
import { codecsOf, intersectCodecs, parseSdp, type Codec, type CodecFilter } from '../../firmware/sdp/index.js';

const HEAD = ['v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 192.0.2.1', 't=0 0'];

function codecs(...lines: string[]): Codec[] {
  const m = parseSdp([...HEAD, ...lines].join('\n')).media[0];
  return m ? codecsOf(m) : [];
}

const G711: CodecFilter = [{ encoding: 'PCMA', clockRate: 8000 }, { encoding: 'PCMU', clockRate: 8000 },
  { encoding: 'telephone-event', clockRate: 8000 }];

t.test('RFC 3551 6: static payload types need no rtpmap; dynamic ones without rtpmap are unknown', async (t) => {
  t.same(codecs('m=audio 4000 RTP/AVP 0 8 9 18 3 96'), [
    { pt: 0, encoding: 'PCMU', clockRate: 8000, channels: 1 },
    { pt: 8, encoding: 'PCMA', clockRate: 8000, channels: 1 },
    { pt: 9, encoding: 'G722', clockRate: 8000, channels: 1 },
    { pt: 18, encoding: 'G729', clockRate: 8000, channels: 1 },
    { pt: 3, encoding: 'GSM', clockRate: 8000, channels: 1 },
  ]);
  t.same(codecs('m=audio 4000 RTP/AVP 96 0 96', 'a=rtpmap:96 opus/48000/2', 'a=fmtp:96 useinbandfec=1'), [
    { pt: 96, encoding: 'opus', clockRate: 48000, channels: 2, fmtp: 'useinbandfec=1' },
    { pt: 0, encoding: 'PCMU', clockRate: 8000, channels: 1 },
  ], 'a repeated format counts once');
  t.same(codecs('m=application 9 UDP/DTLS/SCTP webrtc-datachannel'), [], 'non-RTP media has no codecs');
});

t.test('RFC 3264 6.1: intersection keeps the offerer\'s order and payload type numbers', async (t) => {
  const offer = codecs('m=audio 4000 RTP/AVP 0 97 8 101', 'a=rtpmap:97 iLBC/8000', 'a=rtpmap:101 telephone-event/8000',
    'a=rtpmap:8 pcma/8000');
  t.same(intersectCodecs(offer, G711).map((c) => c.pt), [0, 8, 101], 'offer order, not ours; encoding without case');
  t.same(intersectCodecs(offer, G711, { preferOurs: true }).map((c) => c.pt), [8, 0, 101], 'our order when asked');
  t.same(intersectCodecs(offer, G711, { maxCodecs: 1 }).map((c) => c.pt), [0, 101], 'one primary codec');
  const odd = codecs('m=audio 4000 RTP/AVP 123 124', 'a=rtpmap:123 PCMU/8000', 'a=rtpmap:124 telephone-event/8000');
  t.same(intersectCodecs(odd, G711).map((c) => c.pt), [123, 124], 'dynamic numbers for static codecs are kept as offered');
});

t.test('matching needs encoding, clock rate and channels', async (t) => {
  const offer = codecs('m=audio 4000 RTP/AVP 96 97 98 99', 'a=rtpmap:96 opus/48000/2', 'a=rtpmap:97 opus/48000',
    'a=rtpmap:98 PCMU/16000', 'a=rtpmap:99 telephone-event/48000');
  t.same(intersectCodecs(offer, [{ encoding: 'OPUS', clockRate: 48000, channels: 2 }]).map((c) => c.pt), [96]);
  t.same(intersectCodecs(offer, [{ encoding: 'opus', clockRate: 48000 }]).map((c) => c.pt), [97]);
  t.same(intersectCodecs(offer, G711), [], 'PCMU/16000 is not PCMU/8000; telephone-event/48000 not 8000');
});

t.test('telephone-event survives only beside a primary codec; no common codec gives empty (caller answers 488)', async (t) => {
  const offer = codecs('m=audio 4000 RTP/AVP 97 101 13', 'a=rtpmap:97 iLBC/8000', 'a=rtpmap:101 telephone-event/8000');
  t.same(intersectCodecs(offer, [...G711, { encoding: 'CN', clockRate: 8000 }]), [], 'DTMF and comfort noise alone are no call');
  t.same(intersectCodecs(offer, [{ encoding: 'iLBC', clockRate: 8000 }]).map((c) => c.pt), [97], 'unsupported DTMF dropped');
  t.same(intersectCodecs(codecs('m=audio 4000 RTP/AVP 98', 'a=rtpmap:98 telephone-event/8000'), G711).map((c) => c.pt), [98],
    'RFC 4317 2.4: a stream offered with only telephone-event is kept');
  t.same(intersectCodecs([], G711), []);
});

t.test('RFC 4588 8.6: rtx follows the codec it repairs', async (t) => {
  const offer = codecs('m=video 4000 RTP/AVPF 96 97 98 99', 'a=rtpmap:96 VP8/90000', 'a=rtpmap:97 rtx/90000',
    'a=fmtp:97 apt=96', 'a=rtpmap:98 H264/90000', 'a=rtpmap:99 rtx/90000', 'a=fmtp:99 apt=98');
  const video: CodecFilter = [{ encoding: 'H264', clockRate: 90000 }, { encoding: 'rtx', clockRate: 90000 }];
  t.same(intersectCodecs(offer, video).map((c) => c.pt), [98, 99]);
});
