import t from 'tap';
import { isPbxError } from '../../firmware/core/index.js';
import { parseSdp, serializeSdp, type SessionDescription } from '../../firmware/sdp/index.js';
import { crlf, fixture, rfc4317 } from './fixtures/load.js';

const ALL: [string, string][] = [
  ...[...rfc4317()].flatMap(([sec, roles]) => Object.entries(roles).map(([role, sdp]): [string, string] => [`RFC 4317 ${sec} ${role}`, sdp])),
  ['baresip', fixture('clients/baresip-1.0-offer.sdp')],
  ['linphone', fixture('clients/linphone-5.1-offer.sdp')],
];

t.test('every fixture: parse -> serialize -> parse is stable, and serialize is a fixed point', async (t) => {
  t.ok(ALL.length >= 50, 'all RFC 4317 descriptions and the client offers');
  for (const [name, text] of ALL) {
    const sd = parseSdp(text);
    const out = serializeSdp(sd);
    t.same(parseSdp(out), sd, `${name}: round trip`);
    t.equal(serializeSdp(parseSdp(out)), out, `${name}: fixed point`);
    // The RFC's LF text and our CRLF output differ only in line ends (every line kept, in order).
    t.equal(out, crlf(text), `${name}: same lines as the fixture`);
  }
});

t.test('RFC 4566 5: CRLF line ends and the fixed order, whatever order the input had', async (t) => {
  const text = ['v=0', 'o=- 7 8 IN IP4 192.0.2.1', 's=x', 't=0 0', 'r=7d 1h 0 25h', 'a=tool:x', 'c=IN IP4 192.0.2.1',
    'b=CT:128', 'u=http://example.com', 'i=info', 'e=a@example.com', 'p=+1 555', 'z=2882844526 -1h', 'k=prompt',
    'm=audio 4000 RTP/AVP 0', 'a=sendrecv', 'b=AS:64', 'c=IN IP4 192.0.2.2', 'i=voice'].join('\n');
  t.equal(serializeSdp(parseSdp(text)), [
    'v=0', 'o=- 7 8 IN IP4 192.0.2.1', 's=x', 'i=info', 'u=http://example.com', 'e=a@example.com', 'p=+1 555',
    'c=IN IP4 192.0.2.1', 'b=CT:128', 't=0 0', 'r=7d 1h 0 25h', 'z=2882844526 -1h', 'k=prompt', 'a=tool:x',
    'm=audio 4000 RTP/AVP 0', 'i=voice', 'c=IN IP4 192.0.2.2', 'b=AS:64', 'a=sendrecv', '',
  ].join('\r\n'));
});

t.test('serialize refuses data that would break or inject lines', async (t) => {
  const base = parseSdp(fixture('clients/baresip-1.0-offer.sdp'));
  const bad: [string, SessionDescription][] = [
    ['CRLF in an attribute value', { ...base, attributes: [{ name: 'tool', value: 'x\r\na=evil' }] }],
    ['LF in the session name', { ...base, sessionName: 'x\nm=audio 1 RTP/AVP 0' }],
    ['space in the origin username', { ...base, origin: { ...base.origin, username: 'a b' } }],
    ['space in an attribute name', { ...base, attributes: [{ name: 'a b', value: null }] }],
    ['colon in an attribute name', { ...base, attributes: [{ name: 'a:b', value: null }] }],
    ['port above 65535', { ...base, media: base.media.map((m) => ({ ...m, port: 70000 })) }],
    ['m= without formats', { ...base, media: base.media.map((m) => ({ ...m, formats: [] })) }],
    ['no t=', { ...base, timings: [] }],
  ];
  for (const [what, sd] of bad) t.ok(throwsProtocol(() => serializeSdp(sd)), what);
});

function throwsProtocol(f: () => unknown): boolean {
  try {
    f();
    return false;
  } catch (e) {
    return isPbxError(e, 'protocol');
  }
}
