import t from 'tap';
import { ha1, digestResponse, digestAuthorization } from '../../../firmware/sip/digest/index.js';

// RFC 2617 section 3.5: the Mufasa example, MD5 with qop=auth.
const RFC2617 = {
  challenge:
    'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
  realm: 'testrealm@host.com',
  nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
  cnonce: '0a4f113b',
  password: 'Circle Of Life',
  response: '6629fae49393a05397450978507c4ef1',
};

// RFC 7616 section 3.9.1: the same user under SHA-256 (and MD5 beside it).
const RFC7616 = {
  challengeSha256:
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
  realm: 'http-auth@example.org',
  nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
  cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
  password: 'Circle of Life',
  sha256: '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
  md5: '8ca523f5e9506fed4657c9700eebdbec',
};

t.test('RFC 2617 section 3.5: MD5 qop=auth response', async (t) => {
  const key = ha1('MD5', 'Mufasa', RFC2617.realm, RFC2617.password);
  t.equal(key, '939e7578ed9e3c518a452acee763bce9', 'HA1');
  t.equal(
    digestResponse({ algorithm: 'MD5', ha1: key, nonce: RFC2617.nonce, method: 'GET', uri: '/dir/index.html', qop: 'auth', nc: '00000001', cnonce: RFC2617.cnonce }),
    RFC2617.response,
  );
  t.equal(
    digestResponse({ algorithm: 'MD5', ha1: key.toUpperCase(), nonce: RFC2617.nonce, method: 'GET', uri: '/dir/index.html', qop: 'auth', nc: '00000001', cnonce: RFC2617.cnonce }),
    RFC2617.response,
    'HA1 case does not matter',
  );
  t.not(
    digestResponse({ algorithm: 'MD5', ha1: key, nonce: RFC2617.nonce, method: 'POST', uri: '/dir/index.html', qop: 'auth', nc: '00000001', cnonce: RFC2617.cnonce }),
    RFC2617.response,
    'method is covered by HA2',
  );
});

t.test('RFC 7616 section 3.9.1: SHA-256 and MD5 responses', async (t) => {
  const common = { nonce: RFC7616.nonce, method: 'GET', uri: '/dir/index.html', qop: 'auth' as const, nc: '00000001', cnonce: RFC7616.cnonce };
  t.equal(digestResponse({ algorithm: 'SHA-256', ha1: ha1('SHA-256', 'Mufasa', RFC7616.realm, RFC7616.password), ...common }), RFC7616.sha256);
  t.equal(digestResponse({ algorithm: 'MD5', ha1: ha1('MD5', 'Mufasa', RFC7616.realm, RFC7616.password), ...common }), RFC7616.md5);
});

t.test('client helper reproduces the RFC examples', async (t) => {
  const md5 = digestAuthorization({
    challenge: RFC2617.challenge, method: 'GET', uri: '/dir/index.html', username: 'Mufasa', password: RFC2617.password, nc: 1, cnonce: RFC2617.cnonce,
  });
  t.match(md5, /^Digest /);
  t.match(md5, `response="${RFC2617.response}"`);
  t.match(md5, 'qop=auth, nc=00000001, cnonce="0a4f113b"');
  t.match(md5, 'opaque="5ccc069c403ebaf9f0171e9517f40e41"', 'opaque echoed (RFC 3261 section 22.4)');
  t.match(md5, 'algorithm=MD5', 'absent algorithm means MD5');

  const sha = digestAuthorization({
    challenge: RFC7616.challengeSha256, method: 'GET', uri: '/dir/index.html', username: 'Mufasa', password: RFC7616.password, cnonce: RFC7616.cnonce,
  });
  t.match(sha, `response="${RFC7616.sha256}"`);
  t.match(sha, 'algorithm=SHA-256');
});

t.test('client helper: nc is formatted as 8 hex digits and other challenges are refused', async (t) => {
  const a = digestAuthorization({ challenge: RFC2617.challenge, method: 'GET', uri: '/', username: 'u', password: 'p', nc: 26, cnonce: 'c' });
  t.match(a, 'nc=0000001a');
  const base = { method: 'GET', uri: '/', username: 'u', password: 'p' };
  t.throws(() => digestAuthorization({ ...base, challenge: 'Basic realm="x"' }), { code: 'auth' });
  t.throws(() => digestAuthorization({ ...base, challenge: 'Digest realm="x", nonce="n", algorithm=SHA-512-256' }), { code: 'auth' });
  t.throws(() => digestAuthorization({ ...base, challenge: 'Digest realm="x", nonce="n", qop="auth-int"' }), { code: 'auth' });
  t.throws(() => digestAuthorization({ ...base, challenge: 'Digest realm="x' }), { code: 'parse' });
  t.throws(() => digestAuthorization({ ...base, challenge: 'Digest realm="x"' }), { code: 'parse' });
  t.throws(() => digestAuthorization({ ...base, challenge: RFC2617.challenge, nc: 0 }), { code: 'protocol' });
});
