import t from 'tap';
import {
  getHeader, getHeaders, parseMessage, parseNameAddr, parseUri, parseVia, topVia, uriEquals,
  type SipRequest,
} from '../../../firmware/sip/message/index.js';
import { rfc5118 } from './fixtures/rfc5118.js';

function request(buf: Buffer): SipRequest {
  const r = parseMessage(buf);
  if (!r.ok) throw new Error(`${r.reason}: ${r.error.message}`);
  if (r.message.kind !== 'request') throw new Error('not a request');
  return r.message;
}

t.test('RFC 5118 4.1: IPv6 references in Request-URI, Via and Contact', async (t) => {
  const m = request(rfc5118.ipv6Good);
  t.same(parseUri(m.uri), { scheme: 'sip', host: '[2001:db8::10]', params: [], headers: [] });
  t.same([topVia(m).host, topVia(m).port], ['[2001:db8::9:1]', undefined]);
  const contact = parseNameAddr(getHeader(m, 'contact') ?? '');
  t.equal(contact.displayName, 'Caller');
  t.equal(parseUri(contact.uri).host, '[2001:db8::1]');
});

t.test('RFC 5118 4.2: IPv6 address without brackets is refused (400)', async (t) => {
  const r = parseMessage(rfc5118.ipv6Bad);
  t.same(r.ok ? undefined : [r.reason, r.error.code], ['uri', 'parse']);
});

t.test('RFC 5118 4.3 and 4.4: the port is outside the brackets', async (t) => {
  const ambiguous = parseUri(request(rfc5118.portAmbiguous).uri);
  t.same([ambiguous.host, ambiguous.port], ['[2001:db8::10:5070]', undefined]);
  const clear = parseUri(request(rfc5118.portUnambiguous).uri);
  t.same([clear.host, clear.port], ['[2001:db8::10]', 5070]);
  t.notOk(uriEquals(ambiguous, clear));
});

t.test('RFC 5118 4.5: Via received with and without brackets', async (t) => {
  t.equal(topVia(request(rfc5118.viaReceivedBrackets)).received, '2001:db8::9:255');
  const bare = topVia(request(rfc5118.viaReceivedBare));
  t.equal(bare.received, '2001:db8::9:255');
  t.equal(bare.branch, 'z9hG4bKas3');
});

t.test('RFC 5118 4.6 and 4.9: IPv6 in SDP bodies and IPv4-mapped addresses', async (t) => {
  const sdp = request(rfc5118.sdpIpv6);
  t.match(sdp.body.toString('utf8'), /^v=0\r\n[\s\S]*c=IN IP6 2001:db8::20\r\n/);
  t.equal(sdp.body.length, Number(getHeader(sdp, 'content-length')));
  const mapped = request(rfc5118.mapped);
  const vias = getHeaders(mapped, 'via').flatMap((v) => parseVia(v));
  t.same(vias.map((v) => [v.host, v.port]), [['[::ffff:192.0.2.10]', 19823], ['[::ffff:192.0.2.2]', undefined]]);
  t.equal(parseUri(parseNameAddr(getHeader(mapped, 'contact') ?? '').uri).host, '[::ffff:192.0.2.2]');
});

t.test('RFC 5118 4.7: mixed IPv4 and IPv6 Vias', async (t) => {
  const vias = getHeaders(request(rfc5118.mixedVias), 'via').flatMap((v) => parseVia(v));
  t.same(vias.map((v) => [v.transport, v.host, v.port, v.received]), [
    ['UDP', '[2001:db8::9:1]', 6050, undefined],
    ['UDP', '192.0.2.1', undefined, undefined],
    ['TCP', '[2001:db8::9:255]', undefined, '192.0.2.200'],
  ]);
});

t.test('RFC 5118 4.10: an extra colon in the IPv6 reference is tolerated', async (t) => {
  t.equal(parseUri(request(rfc5118.extraColon).uri).host, '[2001:db8:::192.0.2.1]');
  t.equal(parseUri(request(rfc5118.noExtraColon).uri).host, '[2001:db8::192.0.2.1]');
});
