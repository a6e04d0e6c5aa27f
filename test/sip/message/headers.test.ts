import t from 'tap';
import {
  formatAuthParams, formatNameAddr, isWildcardContact, parseAuthParams, parseContact, parseCSeq, parseNameAddr,
  parseNameAddrList, parseVia, quote, splitHeaderValues, unquote,
} from '../../../firmware/sip/message/index.js';

t.test('RFC 3261 7.3.1: list values split at top-level commas only', async (t) => {
  t.same(splitHeaderValues('a, "b,\\"c" <sip:x,y@h>;p=1 ,d'), ['a', '"b,\\"c" <sip:x,y@h>;p=1', 'd']);
  t.same(splitHeaderValues('x,,y,'), ['x', '', 'y', ''], 'empty items kept for validators');
  t.same(splitHeaderValues('  '), []);
});

t.test('RFC 3261 20.42 and RFC 3581: Via', async (t) => {
  const [v] = parseVia('SIP/2.0/udp PC33.Atlanta.com:5066;branch=z9hG4bK776asdhds;rport;received=192.0.2.1;ttl=16');
  t.same(v, {
    transport: 'UDP', host: 'pc33.atlanta.com', port: 5066, branch: 'z9hG4bK776asdhds', rport: null, received: '192.0.2.1',
    params: [
      { name: 'branch', value: 'z9hG4bK776asdhds' }, { name: 'rport', value: null },
      { name: 'received', value: '192.0.2.1' }, { name: 'ttl', value: '16' },
    ],
  });
  t.equal(parseVia('SIP/2.0/TCP h;rport=5070')[0]?.rport, 5070);
  t.equal(parseVia('SIP/2.0/TLS h')[0]?.rport, undefined);
  const list = parseVia('SIP/2.0/WSS [2001:db8::1]:443;branch=z9hG4bKa , SIP / 2.0 / UDP 10.0.0.1 ; branch = z9hG4bKb');
  t.same(list.map((x) => [x.transport, x.host, x.port, x.branch]), [
    ['WSS', '[2001:db8::1]', 443, 'z9hG4bKa'], ['UDP', '10.0.0.1', undefined, 'z9hG4bKb'],
  ]);
  for (const bad of [
    'SIP/2.0/UDP', 'SIP/2.0/UDP host;branch', 'SIP/2.0/UDP host;rport=abc', 'SIP/3.0/UDP host', 'SIP/2.0/UDP host;;',
    ', SIP/2.0/UDP h', 'SIP/2.0/UDP h:99999', 'SIP/2.0 UDP h', 'SIP/2.0/UDPh', 'SIP/2.0/UDP h;received=x y',
    'SIP/2.0/UDP [::1;branch=z', 'SIP/2.0/UDP h junk', '',
  ]) {
    t.throws(() => parseVia(bad), { code: 'parse' }, JSON.stringify(bad));
  }
});

t.test('RFC 3261 20.10 and 25.1: name-addr and addr-spec', async (t) => {
  t.same(parseNameAddr('"A \\"B\\" \\\\ C" <sip:a@b;lr>;tag=1'), {
    displayName: 'A "B" \\ C', uri: 'sip:a@b;lr', params: [{ name: 'tag', value: '1' }],
  });
  t.same(parseNameAddr('Bob  Smith <sips:bob@b>'), { displayName: 'Bob  Smith', uri: 'sips:bob@b', params: [] });
  t.same(parseNameAddr('sip:a@b;tag=x;lr'), { uri: 'sip:a@b', params: [{ name: 'tag', value: 'x' }, { name: 'lr', value: null }] },
    'addr-spec: parameters belong to the header');
  t.same(parseNameAddr('<sip:a@b>;+sip.instance="<urn:uuid:1>";expires=3600').params, [
    { name: '+sip.instance', value: '"<urn:uuid:1>"' }, { name: 'expires', value: '3600' },
  ], 'quoted parameter values keep their quotes');
  t.same(parseNameAddr('"" <tel:+123>'), { displayName: '', uri: 'tel:+123', params: [] });
  t.same(parseNameAddr('<sip:a@b>;received=[2001:db8::1]').params, [{ name: 'received', value: '[2001:db8::1]' }]);
  for (const bad of [
    '"unterminated <sip:a@b>', '< sip:a@b >', 'sip:a@b?x=y', 'Bell, Alexander <sip:a@b>', '<sip:a@b', '<sip:a@b> x',
    '<sip:a@b>;=x', '<sip:a@b>;tag=', 'just words', '<>', '<sip:a b@c>', '"a\u0001" <sip:a@b>', '<sip:a@b>,<sip:c@d>',
  ]) {
    t.throws(() => parseNameAddr(bad), { code: 'parse' }, JSON.stringify(bad));
  }
});

t.test('name-addr lists and the Contact wildcard (RFC 3261 10.2.2)', async (t) => {
  const list = parseNameAddrList('"Doe, John" <sip:j@d>, <sip:x@y>;q=0.5 , sip:z@w;expires=60');
  t.same(list.map((n) => [n.displayName, n.uri, n.params.length]), [
    ['Doe, John', 'sip:j@d', 0], [undefined, 'sip:x@y', 1], [undefined, 'sip:z@w', 1],
  ]);
  t.ok(isWildcardContact(' * '));
  t.notOk(isWildcardContact('<sip:*@b>'));
  t.same(parseContact('*'), { wildcard: true });
  t.same(parseContact('<sip:a@b>'), { wildcard: false, contacts: [{ uri: 'sip:a@b', params: [] }] });
  t.throws(() => parseNameAddrList('*'), { code: 'parse' });
  t.throws(() => parseNameAddrList('<sip:a@b>,'), { code: 'parse' });
});

t.test('formatNameAddr writes what parseNameAddr reads', async (t) => {
  const n = { displayName: 'A "q" \\ b', uri: 'sip:a@b;lr', params: [{ name: 'tag', value: 'x' }, { name: 'ob', value: null }] };
  const s = formatNameAddr(n);
  t.equal(s, '"A \\"q\\" \\\\ b" <sip:a@b;lr>;tag=x;ob');
  t.same(parseNameAddr(s), n);
  t.equal(formatNameAddr({ uri: 'sip:a@b', params: [] }), '<sip:a@b>');
  t.throws(() => formatNameAddr({ displayName: 'a\r\nVia: x', uri: 'sip:a@b', params: [] }), { code: 'protocol' });
  t.throws(() => formatNameAddr({ uri: 'sip:a@b', params: [{ name: 'tag', value: 'x\r\nVia: y' }] }), { code: 'protocol' });
  t.throws(() => formatNameAddr({ uri: 'sip:a@b>', params: [] }), { code: 'protocol' });
});

t.test('RFC 3261 20.16: CSeq', async (t) => {
  t.same(parseCSeq('  0009   INVITE '), { seq: 9, method: 'INVITE' });
  t.same(parseCSeq('4294967295 ACK'), { seq: 4294967295, method: 'ACK' });
  for (const bad of ['4294967296 ACK', '36893488147419103232 REGISTER', 'INVITE', '1INVITE', '1 INVITE x', '-1 BYE', '1 ']) {
    t.throws(() => parseCSeq(bad), { code: 'parse' }, bad);
  }
});

t.test('RFC 3261 25.1 / RFC 7616: credentials and challenges', async (t) => {
  const a = parseAuthParams('Digest username="bob", realm="biloxi.com",nonce="dcd98b", uri="sip:bob@biloxi.com", '
    + 'response="245f23", algorithm=MD5, qop=auth, nc=00000001, cnonce="0a4f113b", opaque=""');
  t.equal(a.scheme, 'Digest');
  t.same(a.params, {
    username: 'bob', realm: 'biloxi.com', nonce: 'dcd98b', uri: 'sip:bob@biloxi.com', response: '245f23', algorithm: 'MD5',
    qop: 'auth', nc: '00000001', cnonce: '0a4f113b', opaque: '',
  });
  t.same(parseAuthParams('Digest REALM="a\\"b"').params, { realm: 'a"b' }, 'names lower-cased, escapes removed');
  t.same(parseAuthParams('Digest'), { scheme: 'Digest', params: {} });
  for (const bad of ['', 'Digest realm', 'Digest realm="a", realm="b"', 'Digest realm="a" nonce="b"', 'Digest realm="a', 'Digest a=']) {
    t.throws(() => parseAuthParams(bad), { code: 'parse' }, JSON.stringify(bad));
  }
  const params = { realm: 'pbx "local"', nonce: 'abc', algorithm: 'SHA-256', qop: 'auth', stale: 'FALSE' };
  const s = formatAuthParams('Digest', params, ['realm', 'nonce', 'qop']);
  t.equal(s, 'Digest realm="pbx \\"local\\"", nonce="abc", algorithm=SHA-256, qop="auth", stale=FALSE');
  t.same(parseAuthParams(s), { scheme: 'Digest', params });
  t.throws(() => formatAuthParams('Digest', { realm: 'a b' }, []), { code: 'protocol' });
  t.throws(() => formatAuthParams('Digest', { realm: 'a\r\nb' }, ['realm']), { code: 'protocol' });
});

t.test('quote and unquote', async (t) => {
  t.equal(quote('a"b\\c'), '"a\\"b\\\\c"');
  t.equal(unquote(quote('a"b\\c')), 'a"b\\c');
  t.equal(unquote('token'), 'token');
  t.equal(unquote('"open'), '"open');
});
