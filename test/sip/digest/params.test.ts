import t from 'tap';
import fc from 'fast-check';
// The parser is private to the digest folder (params.ts says why the message
// module's parseAuthParams does not replace it); values are written with the
// message module's quote().
import { quote } from '../../../firmware/sip/message/index.js';
import { parseAuthParams, MAX_AUTH_HEADER_LENGTH } from '../../../firmware/sip/digest/params.js';

function params(value: string): Record<string, string> {
  const r = parseAuthParams(value);
  if (!r.ok) throw new Error(`parse failed at ${r.offset}: ${r.reason}`);
  return Object.fromEntries(r.params);
}

t.test('RFC 3261 section 25.1: tokens, quoted strings, escapes, case-insensitive names', async (t) => {
  t.same(params('Digest username="Mufasa",Realm="a b" ,  NONCE="x\\"y\\\\z", algorithm=MD5, qop=auth, nc=00000001'), {
    username: 'Mufasa', realm: 'a b', nonce: 'x"y\\z', algorithm: 'MD5', qop: 'auth', nc: '00000001',
  });
  const r = parseAuthParams('digest\ta=b');
  t.ok(r.ok && r.scheme === 'digest');
  t.same(params('Digest a = "v" , b=w'), { a: 'v', b: 'w' }, 'LWS around "=" and commas');
  t.same(params('Digest a="x\r\n y", b=z'), { a: 'x y', b: 'z' }, 'folded line inside a quoted string');
  t.same(params('Digest a="caf\u00e9"'), { a: 'caf\u00e9' }, 'UTF-8 in qdtext');
  t.same(params('Digest a=1,,b=2'), { a: '1', b: '2' }, 'empty list element tolerated');
});

t.test('malformed header values give an offset, not an exception', async (t) => {
  for (const bad of [
    '', 'Digest', 'Digest ', 'Digest a', 'Digest a=', 'Digest a="x', 'Digest a="x\\', 'Digest a=b c=d',
    'Digest a=1, a=2', 'Digest a="x\ny"', 'Digest a="\u0001"', 'Digest a=b\r\nc=d', 'Digest =b', 'Digest a=b"',
    'Digest a="x\\\r"', 'x'.repeat(MAX_AUTH_HEADER_LENGTH + 1),
  ]) {
    const r = parseAuthParams(bad);
    t.notOk(r.ok, JSON.stringify(bad.slice(0, 40)));
  }
  const many = 'Digest ' + Array.from({ length: 40 }, (_, i) => `p${i}=1`).join(',');
  t.notOk(parseAuthParams(many).ok, 'parameter count is bounded');
});

t.test('quote() round-trips through the parser (property)', async (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary-ascii' }).filter((s) => !/[\x00-\x08\x0a-\x1f\x7f]/.test(s)), (s) => {
      const r = parseAuthParams(`Digest v=${quote(s)}`);
      return r.ok && r.params.get('v') === s;
    }),
  );
  t.pass('round trip holds');
});

t.test('random input never throws (property)', async (t) => {
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
    parseAuthParams(s);
  }));
  t.pass('no exception');
});
