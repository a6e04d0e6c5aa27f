import t from 'tap';
import { checkUri, formatUri, MAX_URI_LENGTH, parseUri, uriEquals } from '../../../firmware/sip/message/index.js';

t.test('RFC 3261 19.1.1: all components of a SIP URI', async (t) => {
  const u = parseUri('sip:alice:secret@Atlanta.EXAMPLE.com:5061;transport=TCP;lr?subject=project%20x&priority=urgent');
  t.same(u, {
    scheme: 'sip', user: 'alice', password: 'secret', host: 'atlanta.example.com', port: 5061,
    params: [{ name: 'transport', value: 'TCP' }, { name: 'lr', value: null }],
    headers: [{ name: 'subject', value: 'project x' }, { name: 'priority', value: 'urgent' }],
  });
  t.same(parseUri('sips:[2001:DB8::1]'), { scheme: 'sips', host: '[2001:db8::1]', params: [], headers: [] });
  t.same(parseUri('SIP:bob@192.0.2.4;maddr=[2001:db8::2]').params, [{ name: 'maddr', value: '[2001:db8::2]' }]);
});

t.test('RFC 3261 19.1.2: escapes in user, password and parameters are decoded', async (t) => {
  const u = parseUri('sip:I%20have%20%22quotes%22:p%40ss@example.net;n%61me=v%61lue%25%34%31');
  t.equal(u.user, 'I have "quotes"');
  t.equal(u.password, 'p@ss');
  t.same(u.params, [{ name: 'name', value: 'value%41' }]);
  t.equal(parseUri('sip:%E4%BD%A0%E5%A5%BD@example.com').user, '你好', 'escaped UTF-8');
});

t.test('formatUri escapes what each component cannot hold and round-trips', async (t) => {
  t.equal(formatUri({ scheme: 'sip', user: 'user;par=u@example.net', host: 'example.com', params: [], headers: [] }),
    'sip:user;par=u%40example.net@example.com');
  t.equal(formatUri({ scheme: 'sip', user: 'a b', host: 'h', port: 5080, params: [{ name: 'x', value: 'a;b' }], headers: [] }),
    'sip:a%20b@h:5080;x=a%3Bb');
  for (const s of [
    'sip:alice@atlanta.example.com;transport=tcp', 'sips:bob:pw@[2001:db8::1]:5061;lr',
    'sip:sips%3Auser%40example.com@example.net', 'sip:biloxi.com;method=REGISTER?to=sip:bob%40biloxi.com',
    'tel:+1-201-555-0123;ext=12', 'sip:%00@host5.example.com', 'sip:%E4%BD%A0@example.com',
  ]) {
    const u = parseUri(s);
    t.same(parseUri(formatUri(u)), u, `round trip of ${s}`);
  }
});

t.test('RFC 3966 tel URIs', async (t) => {
  t.same(parseUri('tel:+1-201-555-0123'), { scheme: 'tel', user: '+1-201-555-0123', host: '', params: [], headers: [] });
  t.same(parseUri('tel:7042;phone-context=example.com').params, [{ name: 'phone-context', value: 'example.com' }]);
  t.throws(() => parseUri('tel:7042'), { code: 'parse' }, 'local number needs phone-context');
  t.throws(() => parseUri('tel:+'), { code: 'parse' });
  t.throws(() => parseUri('tel:+1-800-FLOWERS'), { code: 'parse' });
});

t.test('malformed URIs are refused with code parse', async (t) => {
  for (const bad of [
    'sip:', 'sip:user@', 'sip:@host', 'sip:a@b@c', 'sip:a@b:99999', 'sip:a@b:x', 'sip:a@b:', 'sip:a b@c', 'sip:%4@host',
    'sip:%zz@host', 'sip:a@[::1', 'sip:a@[zz]', 'sip:a@b;=x', 'sip:a@b;x=', 'sip:a@b;;', 'sip:a@b;', 'tel:+1;', 'sip:a@b?x', 'sip:a@-bad-.com',
    'sip:a@b..c', 'sip:a@999.1.1.1', 'nocolon', 'http://example.com/', 'sip:a@b\u00e9', 'sip:a@b>',
  ]) {
    t.throws(() => parseUri(bad), { code: 'parse' }, JSON.stringify(bad));
  }
  t.throws(() => parseUri(`sip:${'a'.repeat(MAX_URI_LENGTH)}@b`), { code: 'limit' });
});

t.test('checkUri accepts other schemes as absolute URIs', async (t) => {
  t.doesNotThrow(() => checkUri('soap.beep://192.0.2.103:3002'));
  t.doesNotThrow(() => checkUri('urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6'));
  t.throws(() => checkUri('<sip:a@b>'), { code: 'parse' });
  t.throws(() => checkUri('http://a b'), { code: 'parse' });
  t.throws(() => checkUri('x:%g1'), { code: 'parse' });
});

t.test('RFC 3261 19.1.4: equivalent URIs', async (t) => {
  const same: [string, string][] = [
    ['sip:%61lice@atlanta.com;transport=TCP', 'sip:alice@AtLanTa.CoM;Transport=tcp'],
    ['sip:carol@chicago.com', 'sip:carol@chicago.com;newparam=5'],
    ['sip:carol@chicago.com', 'sip:carol@chicago.com;security=on'],
    ['sip:carol@chicago.com;newparam=5', 'sip:carol@chicago.com;security=on'],
    ['sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com', 'sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com'],
    ['sip:alice@atlanta.com?subject=project%20x&priority=urgent', 'sip:alice@atlanta.com?priority=urgent&subject=project%20x'],
    ['tel:+1-201-555-0123', 'tel:+1.201.555.0123'],
  ];
  for (const [a, b] of same) {
    t.ok(uriEquals(a, b), `${a} == ${b}`);
    t.ok(uriEquals(b, a), `${b} == ${a}`);
  }
});

t.test('RFC 3261 19.1.4: URIs that are not equivalent', async (t) => {
  const differ: [string, string][] = [
    ['SIP:ALICE@AtLanTa.CoM;Transport=udp', 'sip:alice@AtLanTa.CoM;Transport=UDP'],
    ['sip:bob@biloxi.com', 'sip:bob@biloxi.com:5060'],
    ['sip:bob@biloxi.com', 'sip:bob@biloxi.com;transport=udp'],
    ['sip:bob@biloxi.com', 'sip:bob@biloxi.com:6000;transport=tcp'],
    ['sip:carol@chicago.com', 'sip:carol@chicago.com?Subject=next%20meeting'],
    ['sip:bob@phone21.boxesbybob.com', 'sip:bob@192.0.2.4'],
    ['sip:carol@chicago.com;security=on', 'sip:carol@chicago.com;security=off'],
    ['sip:alice@atlanta.com', 'sips:alice@atlanta.com'],
    ['sip:alice:a@atlanta.com', 'sip:alice:b@atlanta.com'],
    ['sip:alice@atlanta.com', 'not a uri'],
  ];
  for (const [a, b] of differ) {
    t.notOk(uriEquals(a, b), `${a} != ${b}`);
    t.notOk(uriEquals(b, a), `${b} != ${a}`);
  }
});
