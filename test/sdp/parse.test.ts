import t from 'tap';
import { Counters, isPbxError } from '../../firmware/core/index.js';
import {
  MAX_MEDIA_SECTIONS, MAX_SDP_BYTES, MAX_SDP_LINES, parseSdp, SdpParseError, type SdpRejectReason,
} from '../../firmware/sdp/index.js';
import { crlf } from './fixtures/load.js';

/** RFC 4566 section 5's example description. */
const RFC4566 = crlf(`v=0
o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5
s=SDP Seminar
i=A Seminar on the session description protocol
u=http://www.example.com/seminars/sdp.pdf
e=j.doe@example.com (Jane Doe)
c=IN IP4 224.2.17.12/127
t=2873397496 2873404696
a=recvonly
m=audio 49170 RTP/AVP 0
m=video 51372 RTP/AVP 99
a=rtpmap:99 h263-1998/90000
`);

const MINIMAL = ['v=0', 'o=- 1 1 IN IP4 192.0.2.1', 's=-', 'c=IN IP4 192.0.2.1', 't=0 0'];

/** What parseSdp refuses `sdp` with, or 'accepted'. */
function refusal(sdp: string | Buffer): { code: string; reason: SdpRejectReason; line: number } | 'accepted' | 'other error' {
  try {
    parseSdp(sdp);
    return 'accepted';
  } catch (e) {
    return e instanceof SdpParseError ? { code: e.code, reason: e.reason, line: e.line } : 'other error';
  }
}

function expect(reason: SdpRejectReason, line: number): { code: string; reason: SdpRejectReason; line: number } {
  return { code: reason === 'too-large' ? 'limit' : 'parse', reason, line };
}

t.test('RFC 4566 5: the example session parses into its fields', async (t) => {
  const sd = parseSdp(RFC4566);
  t.same(sd.origin, {
    username: 'jdoe', sessionId: '2890844526', sessionVersion: '2890842807', netType: 'IN', addrType: 'IP4', address: '10.47.16.5',
  });
  t.equal(sd.sessionName, 'SDP Seminar');
  t.equal(sd.information, 'A Seminar on the session description protocol');
  t.equal(sd.uri, 'http://www.example.com/seminars/sdp.pdf');
  t.same(sd.emails, ['j.doe@example.com (Jane Doe)']);
  t.same(sd.connection, { netType: 'IN', addrType: 'IP4', address: '224.2.17.12', ttl: 127 }, 'RFC 4566 5.7 multicast ttl');
  t.same(sd.timings, [{ start: 2873397496, stop: 2873404696, repeats: [] }]);
  t.same(sd.attributes, [{ name: 'recvonly', value: null }]);
  t.equal(sd.media.length, 2);
  t.same(sd.media[0], { type: 'audio', port: 49170, protocol: 'RTP/AVP', formats: ['0'], bandwidths: [], attributes: [] });
  t.same(sd.media[1]?.attributes, [{ name: 'rtpmap', value: '99 h263-1998/90000' }]);
});

t.test('lenient where phones deviate: LF line ends, trailing blanks, blank lines, empty s=, Buffer input', async (t) => {
  const lf = parseSdp(RFC4566.replace(/\r\n/g, '\n'));
  t.same(lf, parseSdp(RFC4566), 'LF-only is the same description');
  const messy = ['v=0  ', 'o=-  1 1 IN IP4 192.0.2.1', 's=', 'c=IN IP4 192.0.2.1\t', '', 't=0 0',
    'm=audio 4000  RTP/AVP 0 ', 'a=sendrecv ', '', ''].join('\r\n');
  const sd = parseSdp(Buffer.from(messy));
  t.equal(sd.sessionName, ' ', 'RFC 4566 5.3: an empty name becomes a single space');
  t.same(sd.media[0]?.formats, ['0']);
  t.same(sd.media[0]?.attributes, [{ name: 'sendrecv', value: null }]);
  t.equal(sd.origin.sessionId, '1');
  // Session-level lines out of RFC order (c= and a= after t=, b= last) are accepted.
  const shuffled = parseSdp(['v=0', 'o=- 1 1 IN IP4 h', 's=-', 't=0 0', 'a=x', 'c=IN IP4 192.0.2.9', 'b=AS:64'].join('\n'));
  t.equal(shuffled.connection?.address, '192.0.2.9');
  t.same(shuffled.bandwidths, [{ type: 'AS', value: 64 }]);
});

t.test('RFC 4566 5.13: property and value attributes, an empty value, colons inside values', async (t) => {
  const sd = parseSdp([...MINIMAL, 'a=rtcp-mux', 'a=foo:', 'a=fingerprint:sha-256 AB:CD', 'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:X|2^20'].join('\n'));
  t.same(sd.attributes, [
    { name: 'rtcp-mux', value: null },
    { name: 'foo', value: '' },
    { name: 'fingerprint', value: 'sha-256 AB:CD' },
    { name: 'crypto', value: '1 AES_CM_128_HMAC_SHA1_80 inline:X|2^20' },
  ]);
});

t.test('RFC 4566 5.14 and 5.7: m= port counts, media c=, IPv6 and multicast counts, non-RTP formats', async (t) => {
  const sd = parseSdp([...MINIMAL, 'm=video 49170/2 RTP/AVP 31', 'c=IN IP6 FF15::101/3', 'b=AS:512',
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'i=data'].join('\n'));
  t.equal(sd.media[0]?.port, 49170);
  t.equal(sd.media[0]?.portCount, 2);
  t.same(sd.media[0]?.connection, { netType: 'IN', addrType: 'IP6', address: 'FF15::101', count: 3 });
  t.same(sd.media[0]?.bandwidths, [{ type: 'AS', value: 512 }]);
  t.same(sd.media[1]?.formats, ['webrtc-datachannel']);
  t.equal(sd.media[1]?.title, 'data');
  t.same(parseSdp([...MINIMAL.slice(0, 3), 'c=IN IP4 224.2.1.1/127/3', 't=0 0'].join('\n')).connection,
    { netType: 'IN', addrType: 'IP4', address: '224.2.1.1', ttl: 127, count: 3 });
});

t.test('RFC 4566 5: required lines and their order', async (t) => {
  t.same(refusal(''), expect('missing-line', 0), 'empty');
  t.same(refusal(MINIMAL.slice(1).join('\n')), expect('missing-line', 1), 'no v=');
  t.same(refusal(['v=1', ...MINIMAL.slice(1)].join('\n')), expect('value', 1), 'v=1');
  t.same(refusal(MINIMAL.filter((l) => !l.startsWith('o=')).join('\n')), expect('missing-line', 0), 'no o=');
  t.same(refusal(MINIMAL.filter((l) => !l.startsWith('s=')).join('\n')), expect('missing-line', 0), 'no s=');
  t.same(refusal(MINIMAL.filter((l) => !l.startsWith('t=')).join('\n')), expect('missing-line', 0), 'no t=');
  t.same(refusal([...MINIMAL, 'v=0'].join('\n')), expect('order', 6), 'v= twice');
  t.same(refusal([...MINIMAL, 'o=- 2 2 IN IP4 h'].join('\n')), expect('order', 6), 'o= twice');
  t.same(refusal([...MINIMAL, 'c=IN IP4 192.0.2.2'].join('\n')), expect('order', 6), 'session c= twice');
  t.same(refusal(['v=0', 'o=- 1 1 IN IP4 h', 's=-', 'r=7d 1h 0 25h', 't=0 0'].join('\n')), expect('order', 4), 'r= before t=');
  t.same(refusal([...MINIMAL, 'm=audio 1 RTP/AVP 0', 't=0 0'].join('\n')), expect('order', 7), 't= inside a media section');
  t.same(refusal([...MINIMAL, 'm=audio 1 RTP/AVP 0', 'c=IN IP4 h', 'c=IN IP4 h'].join('\n')), expect('order', 8), 'media c= twice');
});

t.test('garbage lines are refused with their line number', async (t) => {
  t.same(refusal([...MINIMAL, 'hello'].join('\n')), expect('syntax', 6), 'not type=value');
  t.same(refusal([...MINIMAL, ' a=x'].join('\n')), expect('syntax', 6), 'leading blank');
  t.same(refusal([...MINIMAL, 'A=x'].join('\n')), expect('syntax', 6), 'upper-case type');
  t.same(refusal([...MINIMAL, 'x=unknown'].join('\n')), expect('syntax', 6), 'RFC 4566 5: unknown type letter');
  t.same(refusal([...MINIMAL, 'a=x\x00y'].join('\n')), expect('syntax', 6), 'NUL');
  t.same(refusal([...MINIMAL, 'a=x\ry'].join('\r\n')), expect('syntax', 6), 'bare CR');
  t.same(refusal([...MINIMAL, 'a=:v'].join('\n')), expect('value', 6), 'attribute without a name');
  t.same(refusal([...MINIMAL, 'b=AS'].join('\n')), expect('value', 6), 'b= without value');
  t.same(refusal(['v=0', 'o=- x 1 IN IP4 h', 's=-', 't=0 0'].join('\n')), expect('origin', 2), 'non-numeric session id');
  t.same(refusal(['v=0', 'o=- 1 1 IN IP4', 's=-', 't=0 0'].join('\n')), expect('origin', 2), 'o= with 5 fields');
  t.same(refusal(['v=0', 'o=- 1 1 IN IP4 h', 's=-', 'c=IN IP4', 't=0 0'].join('\n')), expect('connection', 4), 'c= with 2 fields');
  t.same(refusal(['v=0', 'o=- 1 1 IN IP4 h', 's=-', 'c=IN IP4 1.2.3.4/x', 't=0 0'].join('\n')), expect('connection', 4), 'c= bad ttl');
  t.same(refusal(['v=0', 'o=- 1 1 IN IP4 h', 's=-', 't=now 0'].join('\n')), expect('value', 4), 't= not numbers');
  t.same(refusal(Buffer.concat([Buffer.from([...MINIMAL, 's='].join('\n')), Buffer.from([0xff, 0xfe])])), expect('encoding', 0), 'not UTF-8');
});

t.test('RFC 4566 5.14: malformed m= lines', async (t) => {
  const m = (line: string): string => [...MINIMAL, line].join('\n');
  t.same(refusal(m('m=audio 4000 RTP/AVP')), expect('media-line', 6), 'no format');
  t.same(refusal(m('m=audio RTP/AVP 0')), expect('media-line', 6), 'no port');
  t.same(refusal(m('m=audio 65536 RTP/AVP 0')), expect('media-line', 6), 'port above 65535');
  t.same(refusal(m('m=audio -1 RTP/AVP 0')), expect('media-line', 6), 'negative port');
  t.same(refusal(m('m=audio 4000/0 RTP/AVP 0')), expect('media-line', 6), 'port count 0');
  t.same(refusal(m('m=audio 4000 RTP/AVP 128')), expect('media-line', 6), 'RFC 3550: payload type above 127');
  t.same(refusal(m('m=audio 4000 RTP/AVP PCMU')), expect('media-line', 6), 'RTP format not a number');
  t.same(refusal(m('m=audio 4000 RTP/AVP 0 8 x')), expect('media-line', 6), 'one bad RTP format among good ones');
  t.same(refusal(m('m=au:dio 4000 RTP/AVP 0')), expect('media-line', 6), 'media type not a token');
});

t.test('hard limits are named constants and refused with code limit', async (t) => {
  const big = [...MINIMAL, `a=x:${'y'.repeat(MAX_SDP_BYTES)}`].join('\n');
  t.same(refusal(big), expect('too-large', 0), 'bytes');
  t.same(refusal(Buffer.from(big)), expect('too-large', 0), 'bytes as Buffer');
  const many = [...MINIMAL, ...Array.from({ length: MAX_SDP_LINES }, () => 'a=x')].join('\n');
  t.same(refusal(many), expect('too-large', 0), 'lines');
  const media = [...MINIMAL, ...Array.from({ length: MAX_MEDIA_SECTIONS + 1 }, () => 'm=audio 0 RTP/AVP 0')].join('\n');
  t.same(refusal(media), expect('too-large', 6 + MAX_MEDIA_SECTIONS), 'media sections');
  const atLimit = [...MINIMAL, ...Array.from({ length: MAX_MEDIA_SECTIONS }, () => 'm=audio 0 RTP/AVP 0')].join('\n');
  t.equal(parseSdp(atLimit).media.length, MAX_MEDIA_SECTIONS, 'exactly the limit is fine');
});

t.test('each refusal bumps sdp.parse.<reason>; the error is a PbxError', async (t) => {
  const counters = new Counters();
  t.throws(() => parseSdp('s=-', counters));
  t.throws(() => parseSdp('v=0\nx', counters));
  t.throws(() => parseSdp([...MINIMAL, 'm=audio 1 RTP/AVP'].join('\n'), counters));
  t.same(counters.snapshot(), { 'sdp.parse.media-line': 1, 'sdp.parse.missing-line': 1, 'sdp.parse.syntax': 1 });
  try {
    parseSdp('v=0\r\no=bad\r\n');
  } catch (e) {
    t.ok(isPbxError(e, 'parse'));
    t.equal(e instanceof SdpParseError ? e.offset : -1, 5, 'byte offset of the line');
    t.match(e instanceof Error ? e.message : '', /line 2/);
  }
});
