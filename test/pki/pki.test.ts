import t from 'tap';
import { X509Certificate, createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { chmodSync, cpSync, readFileSync, readdirSync, statSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import forge from 'node-forge';
import { FakeClock, seededRandom } from '../../firmware/core/index.js';
import {
  CA_VALIDITY_DAYS,
  SERVER_VALIDITY_DAYS,
  caPath,
  certInfo,
  loadOrCreatePki,
  pkiPaths,
  serverAltNames,
  splitPem,
} from '../../firmware/pki/index.js';
import { DAY, ID, T0, capturingLogger, countingKeyGen, ext, pemBody, tempDir } from './fixtures.js';

const HOUR = 60 * 60 * 1000;

// One PKI for the whole file; subtests that damage files work on copies.
const base = tempDir(t);
const kg = countingKeyGen();
const log = capturingLogger();
const opts = { clock: new FakeClock(T0), random: seededRandom(7), keyGen: kg.gen, identity: () => ID, logger: log.logger };
const pki = await loadOrCreatePki(base, opts);
const paths = pkiPaths(base);
const caX = new X509Certificate(pki.caCertPem);
const leafX = new X509Certificate(pki.serverCertPem);

/** A copy of the base data folder for a test that damages it. */
function copyOfBase(tt: Parameters<typeof tempDir>[0]): string {
  const dir = tempDir(tt);
  cpSync(base, dir, { recursive: true });
  return dir;
}

t.test('first boot generates two keys and records "created"', async (t) => {
  t.equal(kg.count(), 2);
  const h = await pki.history();
  t.equal(h.length, 1);
  t.match(h[0], { reason: 'created', oldSerial: null, newSerial: pki.serverInfo.serial });
});

t.test('CA certificate extensions (RFC 5280 4.2.1.9, 4.2.1.3, 4.2.1.2), read with forge', async (t) => {
  const ca = forge.pki.certificateFromPem(pki.caCertPem);
  t.match(ext(ca, 'basicConstraints'), { critical: true, cA: true, pathLenConstraint: 0 });
  t.match(ext(ca, 'keyUsage'), { critical: true, keyCertSign: true, cRLSign: true, digitalSignature: false });
  const ski = ext(ca, 'subjectKeyIdentifier').subjectKeyIdentifier;
  t.equal(typeof ski, 'string');
  t.equal(ski, ca.generateSubjectKeyIdentifier().toHex());
  t.match(ca.subject.getField('CN').value, /^SecurePBX CA pbx [0-9a-f]{6}$/);
  t.equal(ca.subject.getField('O').value, 'SecurePBX');
  t.ok(ca.isIssuer(ca), 'self-issued');
  t.ok(ca.verify(ca), 'self-signed');
  t.equal(ca.validity.notBefore.getTime(), T0 - HOUR);
  t.equal(ca.validity.notAfter.getTime(), T0 + CA_VALIDITY_DAYS * DAY);
  t.equal(forge.pki.publicKeyFromPem(createPublicKey(createPrivateKey(readFileSync(paths.caKey, 'utf8'))).export({ type: 'spki', format: 'pem' }).toString()).n.bitLength(), 2048);
});

t.test('server certificate extensions, read with forge', async (t) => {
  const ca = forge.pki.certificateFromPem(pki.caCertPem);
  const leaf = forge.pki.certificateFromPem(pki.serverCertPem);
  t.equal(leaf.subject.getField('CN').value, 'pbx');
  t.ok(ca.verify(leaf), 'signed by the CA');
  t.match(ext(leaf, 'basicConstraints'), { cA: false });
  t.match(ext(leaf, 'keyUsage'), { critical: true, digitalSignature: true, keyEncipherment: true, keyCertSign: false });
  t.match(ext(leaf, 'extKeyUsage'), { serverAuth: true, clientAuth: true });
  t.equal(forge.util.bytesToHex(String(ext(leaf, 'authorityKeyIdentifier').value)).endsWith(ca.generateSubjectKeyIdentifier().toHex()), true, 'RFC 5280 4.2.1.1: AKI is the CA key identifier');
  t.equal(leaf.validity.notAfter.getTime() - leaf.validity.notBefore.getTime(), SERVER_VALIDITY_DAYS * DAY + HOUR);
  t.equal(leaf.publicKey === undefined, false);
  const alt = ext(leaf, 'subjectAltName').altNames;
  t.ok(Array.isArray(alt));
  const names = (alt as { type: number; value: string; ip?: string }[]).map((a) => (a.type === 7 ? `7:${a.ip ?? ''}` : `${a.type}:${a.value}`));
  for (const ip of ['127.0.0.1', '::1', ...ID.addresses]) {
    t.ok(names.includes(`2:${ip}`), `dNSName ${ip} (for clients matching only DNS names)`);
  }
  for (const ip of ['127.0.0.1', '192.168.1.20']) t.ok(names.includes(`7:${ip}`), `iPAddress ${ip}`);
  for (const dns of ['pbx', 'pbx.local', 'localhost']) t.ok(names.includes(`2:${dns}`), `dNSName ${dns}`);
});

t.test('both certificates as Node/OpenSSL sees them', async (t) => {
  t.equal(caX.ca, true);
  t.equal(leafX.ca, false);
  t.ok(leafX.verify(caX.publicKey), 'leaf verifies with the CA public key');
  t.ok(leafX.checkIssued(caX));
  t.notOk(caX.verify(leafX.publicKey));
  const san = leafX.subjectAltName ?? '';
  t.ok(san.includes('IP Address:127.0.0.1'));
  t.ok(san.includes('DNS:127.0.0.1'));
  t.ok(san.includes('DNS:192.168.1.20') && san.includes('IP Address:192.168.1.20'));
  t.ok(san.includes('DNS:pbx.local'));
  t.equal(leafX.checkIP('::1'), '::1');
  t.equal(leafX.checkIP('2001:db8::20'), '2001:db8::20');
  t.equal(leafX.checkHost('pbx.local'), 'pbx.local');
  t.equal(leafX.checkIP('192.168.1.99'), undefined);
  t.equal(leafX.serialNumber.length, 32, '16-byte serial');
  t.ok(parseInt(leafX.serialNumber.slice(0, 2), 16) < 0x80, 'RFC 5280 4.1.2.2: serial is positive');
  t.not(leafX.serialNumber, caX.serialNumber);
});

t.test('files: keys 0600, certs 0644, server.crt is leaf then CA, ca.crt the CA alone', async (t) => {
  t.equal(statSync(paths.caKey).mode & 0o777, 0o600);
  t.equal(statSync(paths.serverKey).mode & 0o777, 0o600);
  t.equal(statSync(paths.caCert).mode & 0o777, 0o644);
  t.equal(statSync(paths.serverCert).mode & 0o777, 0o644);
  t.equal(caPath(base), join(base, 'pki', 'ca.crt'));
  t.equal(readFileSync(caPath(base), 'utf8'), pki.caCertPem);
  const chain = splitPem(readFileSync(paths.serverCert, 'utf8'));
  t.same(chain, [pki.serverCertPem, pki.caCertPem]);
  t.equal(splitPem(readFileSync(paths.caCert, 'utf8')).length, 1);
  t.same(readdirSync(paths.dir).filter((f) => f.includes('.tmp')), [], 'no temp files left behind');
  t.same(pki.tlsMaterial(), { key: readFileSync(paths.serverKey, 'utf8'), cert: pki.chainPem, ca: pki.caCertPem });
});

t.test('certInfo and caDer', async (t) => {
  t.ok(pki.caDer().equals(caX.raw));
  const info = certInfo(readFileSync(paths.serverCert, 'utf8'));
  t.equal(info.subjectCn, 'pbx');
  t.equal(info.issuerCn, pki.caInfo.subjectCn);
  t.same(info.sans, serverAltNames(ID));
  t.equal(info.notBefore, new Date(T0 - HOUR).toISOString());
  t.equal(info.notAfter, new Date(T0 + SERVER_VALIDITY_DAYS * DAY).toISOString());
  t.equal(info.serial, leafX.serialNumber);
  const hex = (alg: string): string => createHash(alg).update(leafX.raw).digest('hex').toUpperCase().match(/../g)!.join(':');
  t.equal(info.sha256, hex('sha256'));
  t.equal(info.sha1, hex('sha1'));
  t.equal(info.isCa, false);
  t.equal(pki.caInfo.isCa, true);
  t.throws(() => certInfo('not a certificate'), { code: 'parse' });
});

t.test('key material never shows in JSON, inspect or logs', async (t) => {
  const secrets = [pemBody(readFileSync(paths.caKey, 'utf8')), pemBody(readFileSync(paths.serverKey, 'utf8'))];
  const shown = [JSON.stringify(pki), inspect(pki, { depth: 10 }), JSON.stringify({ pki }), log.text()];
  for (const s of shown) {
    t.notOk(s.includes('PRIVATE KEY'));
    for (const k of secrets) t.notOk(s.includes(k.slice(0, 40)));
  }
  t.match(JSON.parse(JSON.stringify(pki)), { ca: { isCa: true }, server: { subjectCn: 'pbx' } });
});

t.test('second boot loads the same certificates without generating keys', async (t) => {
  const before = kg.count();
  const again = await loadOrCreatePki(base, opts);
  t.equal(kg.count(), before);
  t.equal(again.caCertPem, pki.caCertPem);
  t.equal(again.serverCertPem, pki.serverCertPem);
  t.same(again.tlsMaterial(), pki.tlsMaterial());
  t.equal((await again.history()).length, 1, 'nothing new recorded');
});

t.test('a corrupt server.crt is reissued from the existing CA', async (t) => {
  const dir = copyOfBase(t);
  writeFileSync(pkiPaths(dir).serverCert, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  const before = kg.count();
  const p = await loadOrCreatePki(dir, opts);
  t.equal(kg.count(), before + 1, 'one key: the server one');
  t.equal(p.caCertPem, pki.caCertPem, 'CA kept');
  t.not(p.serverInfo.serial, pki.serverInfo.serial);
  t.ok(new X509Certificate(p.serverCertPem).verify(caX.publicKey));
  t.same(splitPem(readFileSync(pkiPaths(dir).serverCert, 'utf8')), [p.serverCertPem, p.caCertPem]);
  const h = await p.history();
  t.match(h[h.length - 1], { reason: 'corrupt', newSerial: p.serverInfo.serial });
});

t.test('a missing server key, or one that does not match, is replaced', async (t) => {
  const dir = copyOfBase(t);
  rmSync(pkiPaths(dir).serverKey);
  const p = await loadOrCreatePki(dir, opts);
  t.not(p.serverInfo.serial, pki.serverInfo.serial);
  t.match((await p.history()).at(-1), { reason: 'missing' });

  const dir2 = copyOfBase(t);
  cpSync(pkiPaths(base).caKey, pkiPaths(dir2).serverKey); // a valid key, but not the leaf's
  const p2 = await loadOrCreatePki(dir2, opts);
  t.not(p2.serverInfo.serial, pki.serverInfo.serial);
  t.match((await p2.history()).at(-1), { reason: 'corrupt' });
  t.ok(new X509Certificate(p2.serverCertPem).checkPrivateKey(createPrivateKey(p2.tlsMaterial().key)));
});

t.test('a corrupt CA key means a new CA and a new server certificate', async (t) => {
  const dir = copyOfBase(t);
  writeFileSync(pkiPaths(dir).caKey, 'garbage', { mode: 0o600 });
  const l = capturingLogger();
  const before = kg.count();
  const p = await loadOrCreatePki(dir, { ...opts, logger: l.logger });
  t.equal(kg.count(), before + 2);
  t.not(p.caInfo.sha256, pki.caInfo.sha256);
  t.ok(new X509Certificate(p.serverCertPem).verify(new X509Certificate(p.caCertPem).publicKey));
  t.notOk(new X509Certificate(p.serverCertPem).verify(caX.publicKey));
  t.match((await p.history()).at(-1), { reason: 'new-ca' });
  t.match(l.text(), /CA unusable/);
  t.notOk(l.text().includes('PRIVATE KEY'));
});

t.test('a server certificate from another CA is replaced', async (t) => {
  const other = tempDir(t);
  const p1 = await loadOrCreatePki(other, opts);
  const dir = copyOfBase(t);
  cpSync(pkiPaths(other).serverCert, pkiPaths(dir).serverCert);
  cpSync(pkiPaths(other).serverKey, pkiPaths(dir).serverKey);
  const p = await loadOrCreatePki(dir, opts);
  t.not(p.serverInfo.serial, p1.serverInfo.serial);
  t.ok(new X509Certificate(p.serverCertPem).verify(caX.publicKey));
});

t.test('a key file left readable by others is set back to 0600', async (t) => {
  const dir = copyOfBase(t);
  chmodSync(pkiPaths(dir).serverKey, 0o644);
  const before = kg.count();
  await loadOrCreatePki(dir, opts);
  t.equal(statSync(pkiPaths(dir).serverKey).mode & 0o777, 0o600);
  t.equal(kg.count(), before, 'the key itself was kept');
});

t.test('an expired CA is replaced at boot; one near its end is only warned about', async (t) => {
  const dir = copyOfBase(t);
  const l = capturingLogger();
  const near = await loadOrCreatePki(dir, { ...opts, clock: new FakeClock(T0 + (CA_VALIDITY_DAYS - 100) * DAY), logger: l.logger });
  t.equal(near.caCertPem, pki.caCertPem);
  t.match(l.text(), /CA certificate expires soon/);
  const later = await loadOrCreatePki(dir, { ...opts, clock: new FakeClock(T0 + (CA_VALIDITY_DAYS + 1) * DAY) });
  t.not(later.caCertPem, pki.caCertPem);
  t.match((await later.history()).at(-1), { reason: 'new-ca' });
});
