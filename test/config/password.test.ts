import { createHash } from 'node:crypto';
import t from 'tap';
import { digestHa1, hashPassword, verifyPassword } from '../../firmware/config/index.js';

const FAST = { N: 1024, r: 8, p: 1 };

t.test('RFC 2617 section 3.5: HA1 for Mufasa', async (t) => {
  t.equal(digestHa1('MD5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life'), '939e7578ed9e3c518a452acee763bce9');
});

t.test('RFC 7616 section 3.9.1: SHA-256 and MD5 responses computed from our HA1s', async (t) => {
  const h = (alg: string, s: string) => createHash(alg).update(s).digest('hex');
  const nonce = '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v';
  const cnonce = 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ';
  const tail = (alg: string) => `${nonce}:00000001:${cnonce}:auth:${h(alg, 'GET:/dir/index.html')}`;
  const sha = digestHa1('SHA-256', 'Mufasa', 'http-auth@example.org', 'Circle of Life');
  const md5 = digestHa1('MD5', 'Mufasa', 'http-auth@example.org', 'Circle of Life');
  t.equal(h('sha256', `${sha}:${tail('sha256')}`), '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  t.equal(h('md5', `${md5}:${tail('md5')}`), '8ca523f5e9506fed4657c9700eebdbec');
});

t.test('scrypt admin hash: format, verify, wrong password, salt is random', async (t) => {
  const a = await hashPassword('correct horse battery', FAST);
  t.match(a, /^scrypt\$1024\$8\$1\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/);
  t.ok(await verifyPassword('correct horse battery', a));
  t.notOk(await verifyPassword('correct horse batterY', a));
  t.not(await hashPassword('correct horse battery', FAST), a, 'fresh salt each time');
});

t.test('default parameters round trip', async (t) => {
  const a = await hashPassword('s3cret-admin');
  t.match(a, /^scrypt\$32768\$8\$1\$/);
  t.ok(await verifyPassword('s3cret-admin', a));
});

t.test('malformed or hostile hashes verify false without throwing', async (t) => {
  const good = await hashPassword('password1', FAST);
  const [, , , , salt, key] = good.split('$');
  for (const bad of [
    '', 'scrypt$1024$8$1$' + salt, `bcrypt$1024$8$1$${salt}$${key}`, `scrypt$1000$8$1$${salt}$${key}`,
    `scrypt$${2 ** 24}$8$1$${salt}$${key}`, `scrypt$1024$999$1$${salt}$${key}`, `scrypt$1024$8$1$$${key}`, `scrypt$1024$8$1$${salt}$AAAA`,
  ]) {
    t.equal(await verifyPassword('password1', bad), false, bad);
  }
});

t.test('weak or huge admin passwords are refused', async (t) => {
  await t.rejects(hashPassword('short', FAST), { code: 'config' });
  await t.rejects(hashPassword('x'.repeat(2000), FAST), { code: 'limit' });
});
