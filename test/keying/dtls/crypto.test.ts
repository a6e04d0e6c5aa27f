import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import t from 'tap';
import { seededRandom } from '../../../firmware/core/index.js';
import {
  derOid, derTime, derUnsigned, ephemeralKey, fingerprint, fingerprintMatches, formatFingerprint, generateCertificate, peerPublicKey,
  prf, protectFragment, splitSrtpKeys, srtpProfileByName, unprotectFragment, DtlsReplayWindow, REPLAY_WINDOW,
} from '../../../firmware/keying/index.js';
import { cert } from './pair.js';

const OPENSSL = '/usr/bin/openssl';
const haveOpenssl = spawnSync(OPENSSL, ['version'], { timeout: 5000 }).status === 0;

t.test('TLS 1.2 PRF: the published SHA-256 vector, and SHA-256/384 against openssl kdf TLS1-PRF', async (t) => {
  // The widely used P_SHA256 vector (secret 9bbe..., seed a0ba..., label "test label"): its first 16 bytes.
  const out = prf('sha256', Buffer.from('9bbe436ba940f017b17652849a71db35', 'hex'), 'test label', Buffer.from('a0ba9f936cda311827a6f796ffd5198c', 'hex'), 100);
  t.equal(out.subarray(0, 16).toString('hex'), 'e3f229ba727be17b8d122620557cd453');
  if (!haveOpenssl) return;
  const r = seededRandom(5);
  for (const [hash, len] of [['sha256', 100], ['sha384', 48], ['sha256', 12], ['sha384', 137]] as const) {
    const secret = r.bytes(48);
    const seed = r.bytes(64);
    const o = spawnSync(OPENSSL, ['kdf', '-keylen', String(len), '-kdfopt', `digest:${hash.toUpperCase()}`, '-kdfopt', `hexsecret:${secret.toString('hex')}`,
      '-kdfopt', `hexseed:${Buffer.from('key expansion').toString('hex')}${seed.toString('hex')}`, 'TLS1-PRF'], { timeout: 10000 });
    t.equal(prf(hash, secret, 'key expansion', seed, len).toString('hex').toUpperCase(), o.stdout.toString().trim().replace(/:/g, ''), `${hash} ${len}`);
  }
});

t.test('RFC 5764 4.2 key split: client key | server key | client salt | server salt; each side sends with its own', async (t) => {
  const p = srtpProfileByName('SRTP_AES128_CM_SHA1_80');
  const m = Buffer.from(Array.from({ length: 60 }, (_, i) => i));
  const c = splitSrtpKeys(p, m, 'client');
  const s = splitSrtpKeys(p, m, 'server');
  t.same([...c.localTx.masterKey], [...m.subarray(0, 16)]);
  t.same([...c.localRx.masterKey], [...m.subarray(16, 32)]);
  t.same([...c.localTx.masterSalt], [...m.subarray(32, 46)]);
  t.same([...c.localRx.masterSalt], [...m.subarray(46, 60)]);
  t.same(s.localTx, c.localRx);
  t.same(s.localRx, c.localTx);
  t.equal(c.localTx.suite, 'AES_CM_128_HMAC_SHA1_80');
  t.throws(() => splitSrtpKeys(p, m.subarray(1), 'client'));
  const g = splitSrtpKeys(srtpProfileByName('SRTP_AEAD_AES_256_GCM'), Buffer.alloc(88, 1), 'server');
  t.equal(g.localTx.masterKey.length, 32);
  t.equal(g.localTx.masterSalt.length, 12);
});

t.test('AEAD records (RFC 5288): round trip, and any change to header or body fails authentication', async (t) => {
  const keys = { key: Buffer.alloc(16, 3), salt: Buffer.alloc(4, 9) };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 2 ** 48 - 1 }), fc.nat(), (plain, seq, flip) => {
    const frag = protectFragment(keys, 22, 0xfefd, 1, seq, Buffer.from(plain));
    const rec = { type: 22 as const, version: 0xfefd, epoch: 1, seq, fragment: frag };
    const back = unprotectFragment(keys, rec);
    if (!back || !back.equals(Buffer.from(plain))) return false;
    const bad = Buffer.from(frag);
    bad[flip % bad.length]! ^= 1;
    return unprotectFragment(keys, { ...rec, fragment: bad }) === undefined
      && unprotectFragment(keys, { ...rec, seq: (seq + 1) % 2 ** 48 }) === undefined
      && unprotectFragment(keys, { ...rec, type: 23 }) === undefined;
  }), { numRuns: 300 });
  t.equal(unprotectFragment(keys, { type: 22, version: 0xfefd, epoch: 1, seq: 0, fragment: Buffer.alloc(10) }), undefined, 'short');
});

t.test('replay window per epoch (RFC 6347 4.1.2.6): new, duplicate, behind the window', async (t) => {
  const w = new DtlsReplayWindow();
  t.equal(w.check(5), 'ok');
  w.mark(5);
  t.equal(w.check(5), 'replay');
  t.equal(w.check(4), 'ok');
  w.mark(4);
  w.mark(5 + REPLAY_WINDOW + 10);
  t.equal(w.check(5 + REPLAY_WINDOW + 10), 'replay');
  t.equal(w.check(5), 'old');
  t.equal(w.check(5 + REPLAY_WINDOW + 9), 'ok');
  // A model check: a set of everything seen, and the window's span.
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 200 }), (seqs) => {
    const win = new DtlsReplayWindow();
    const seen = new Set<number>();
    let top = -1;
    for (const s of seqs) {
      const v = win.check(s);
      const want = s > top ? 'ok' : top - s >= REPLAY_WINDOW ? 'old' : seen.has(s) ? 'replay' : 'ok';
      if (v !== want) return false;
      if (v === 'ok') { win.mark(s); seen.add(s); top = Math.max(top, s); }
    }
    return true;
  }), { numRuns: 300 });
});

t.test('ECDHE: both groups agree; invalid points are refused, not thrown', async (t) => {
  for (const g of ['x25519', 'secp256r1'] as const) {
    const a = ephemeralKey(g, seededRandom(1));
    const b = ephemeralKey(g, seededRandom(2));
    t.same(a.agree(b.publicKey), b.agree(a.publicKey), g);
    t.equal(a.agree(Buffer.alloc(b.publicKey.length)), undefined, `${g}: zero point`);
    t.equal(a.agree(Buffer.alloc(3)), undefined);
  }
  const p = ephemeralKey('secp256r1', seededRandom(3));
  const off = Buffer.from(p.publicKey);
  off[64]! ^= 1;
  t.equal(p.agree(off), undefined, 'a point off the curve');
});

t.test('our DER writer: known encodings (X.690)', async (t) => {
  t.equal(derOid('1.2.840.10045.4.3.2').toString('hex'), '06082a8648ce3d040302');
  t.equal(derOid('2.5.4.3').toString('hex'), '0603550403');
  t.equal(derUnsigned(Buffer.from([0x80])).toString('hex'), '02020080');
  t.equal(derUnsigned(Buffer.from([0, 0, 5])).toString('hex'), '020105');
  t.equal(derTime(Date.UTC(2026, 0, 2, 3, 4, 5)).toString('ascii', 2), '260102030405Z');
  t.equal(derTime(Date.UTC(2051, 0, 2, 3, 4, 5))[0], 0x18, 'GeneralizedTime from 2050');
});

t.test('the box certificate: ECDSA P-256, self-signed v3, a year, SDP fingerprint', async (t) => {
  const now = Date.UTC(2026, 5, 1);
  const c = generateCertificate({ random: seededRandom(4), now });
  const x = new X509Certificate(c.der);
  t.ok(x.verify(x.publicKey), 'self-signature verifies');
  t.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  t.equal(Date.parse(x.validTo) - now, 365 * 86400_000);
  t.ok(Date.parse(x.validFrom) < now, 'valid from before now (clock skew)');
  t.equal(x.subject, 'CN=securepbx');
  t.equal(x.fingerprint256, c.fingerprint.value);
  t.match(formatFingerprint(c.fingerprint), /^sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  t.ok(fingerprintMatches(c.der, c.fingerprint));
  t.notOk(fingerprintMatches(c.der, cert('other').fingerprint));
  t.ok(fingerprintMatches(c.der, fingerprint(c.der, 'sha-512')));
  t.equal(peerPublicKey(c.der)?.asymmetricKeyType, 'ec');
  t.equal(peerPublicKey(cert('server', 'rsa').der)?.asymmetricKeyType, 'rsa');
  t.equal(peerPublicKey(Buffer.from('not a certificate')), undefined);
  const r = new X509Certificate(cert('server', 'rsa').der);
  t.ok(r.verify(r.publicKey), 'the RSA variant is self-signed too');
});
