import t from 'tap';
import { certInfo, nativeRsaKeyGen, validateCustomCert, type CertProblemCode } from '../../firmware/pki/index.js';
import { DAY, EC_CERT, EC_KEY, EC_NOT_AFTER, EC_NOT_BEFORE, T0, makeCert } from './fixtures.js';

// root -> intermediate -> leaf, each with its own key, plus a stranger key.
const [rootKeys, interKeys, leafKeys, otherKeys] = await Promise.all([nativeRsaKeyGen(), nativeRsaKeyGen(), nativeRsaKeyGen(), nativeRsaKeyGen()]);
const root = makeCert({ cn: 'Test Root', keys: rootKeys, ca: true, notBefore: T0 - 400 * DAY, notAfter: T0 + 3000 * DAY });
const inter = makeCert({ cn: 'Test Intermediate', keys: interKeys, issuer: { certPem: root, keyPem: rootKeys.privateKeyPem }, ca: true, notBefore: T0 - 300 * DAY, notAfter: T0 + 2000 * DAY });
const leafValidity = { notBefore: T0 - 10 * DAY, notAfter: T0 + 80 * DAY };
const leaf = makeCert({
  cn: 'cn-only.example.org',
  keys: leafKeys,
  issuer: { certPem: inter, keyPem: interKeys.privateKeyPem },
  ca: false,
  dns: ['pbx.example.org', '*.pbx.example.org'],
  ips: ['192.0.2.10', '2001:db8::10'],
  ...leafValidity,
});
const good = { certPem: leaf, chainPem: inter + root, keyPem: leafKeys.privateKeyPem, now: T0, requiredNames: ['pbx.example.org', 'sip.pbx.example.org', '192.0.2.10', '2001:DB8::10'] };
const codes = (input: Parameters<typeof validateCustomCert>[0]): CertProblemCode[] => validateCustomCert(input).map((p) => p.code);

t.test('a complete chain with the right key and names has no problems', async (t) => {
  t.same(validateCustomCert(good), []);
  t.same(codes({ ...good, chainPem: inter, knownRoots: [root] }), [], 'RFC 5280 6.1: chain may end below a known root');
  t.same(codes({ ...good, certPem: leaf + inter, chainPem: root }), [], 'intermediates may follow the leaf in certPem');
});

t.test('a key that is not the certificate\'s', async (t) => {
  const problems = validateCustomCert({ ...good, keyPem: otherKeys.privateKeyPem });
  t.same(problems.map((p) => p.code), ['key-mismatch']);
  t.match(problems[0]!.message, /does not belong/);
  t.same(codes({ ...good, keyPem: 'nonsense' }), ['key-unreadable']);
});

t.test('validity (RFC 5280 4.1.2.5): expired and not yet valid', async (t) => {
  t.same(codes({ ...good, now: leafValidity.notAfter + 1000 }), ['expired']);
  t.same(codes({ ...good, now: leafValidity.notBefore - 1000 }), ['not-yet-valid']);
  const problems = validateCustomCert({ ...good, now: T0 + 2500 * DAY });
  t.equal(problems.filter((p) => p.code === 'expired').length, 2, 'the intermediate counts too');
});

t.test('a missing intermediate (RFC 5280 6.1: each certificate issued by the next)', async (t) => {
  const problems = validateCustomCert({ ...good, chainPem: root });
  t.same(problems.map((p) => p.code), ['chain-incomplete']);
  t.match(problems[0]!.message, /intermediate is missing/);
  t.same(codes({ ...good, chainPem: '' }), ['chain-incomplete'], 'leaf alone, issuer unknown');
  t.same(codes({ ...good, chainPem: inter }), ['chain-incomplete'], 'root neither given nor known');
  t.same(codes({ ...good, chainPem: root + inter }), ['chain-incomplete', 'chain-incomplete', 'chain-incomplete'], 'out of order: no link holds');
});

t.test('an issuer with the right name but the wrong key', async (t) => {
  const impostor = makeCert({ cn: 'Test Intermediate', keys: otherKeys, issuer: { certPem: root, keyPem: rootKeys.privateKeyPem }, ca: true, notBefore: T0 - DAY, notAfter: T0 + DAY });
  t.same(codes({ ...good, chainPem: impostor + root }), ['chain-signature']);
});

t.test('names not covered by the SANs (RFC 6125 6.4: the CN is not consulted)', async (t) => {
  const problems = validateCustomCert({ ...good, requiredNames: ['other.example.org', '192.0.2.99', 'cn-only.example.org', 'a.b.pbx.example.org'] });
  t.same(problems.map((p) => p.code), ['name-not-covered', 'name-not-covered', 'name-not-covered', 'name-not-covered']);
  t.match(problems[1]!.message, /192\.0\.2\.99/);
});

t.test('unreadable input', async (t) => {
  t.same(codes({ ...good, certPem: 'hello' }), ['cert-unreadable']);
  t.same(codes({ ...good, certPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }), ['cert-unreadable']);
  t.same(codes({ ...good, chainPem: (inter + root).repeat(5) }), ['chain-too-long']);
});

t.test('EC certificates work too (self-signed, GeneralizedTime notAfter)', async (t) => {
  const now = Date.parse(EC_NOT_BEFORE) + DAY;
  t.same(codes({ certPem: EC_CERT, keyPem: EC_KEY, now, requiredNames: ['ec.example', '192.0.2.1'] }), []);
  t.same(codes({ certPem: EC_CERT, keyPem: leafKeys.privateKeyPem, now, requiredNames: [] }), ['key-mismatch']);
  const info = certInfo(EC_CERT);
  t.match(info, { subjectCn: 'ec.example', issuerCn: 'ec.example', notBefore: EC_NOT_BEFORE, notAfter: EC_NOT_AFTER, serial: '34CDFA32E5A525A7C37F6290DAAD5CF75B7DE1FB', isCa: true });
  t.same(info.sans, [{ type: 'dns', value: 'ec.example' }, { type: 'ip', value: '192.0.2.1' }]);
});
