import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import forge from 'node-forge';
import { createLogger, type Logger } from '../../firmware/core/index.js';
import { type HostIdentity, type KeyGenerator, type RsaKeyPair, nativeRsaKeyGen } from '../../firmware/pki/index.js';

export const T0 = Date.UTC(2026, 0, 1);
export const DAY = 24 * 60 * 60 * 1000;

export const ID: HostIdentity = { hostname: 'pbx', addresses: ['192.168.1.20', 'fe80::1c2:3ff:fe04:506', '2001:db8::20'] };

/** A folder removed when the test ends. */
export function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'pki-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The native generator, counting how often it runs. */
export function countingKeyGen(): { gen: KeyGenerator; count: () => number } {
  let n = 0;
  return {
    gen: () => {
      n++;
      return nativeRsaKeyGen();
    },
    count: () => n,
  };
}

/** A logger whose output the test can search (for leaked keys). */
export function capturingLogger(): { logger: Logger; text: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), text: () => chunks.join('') };
}

/** The base64 body of a PEM, for "does this text contain the key" checks. */
export function pemBody(pem: string): string {
  return pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
}

/** An extension of a forge certificate as plain fields. */
export function ext(cert: forge.pki.Certificate, name: string): Record<string, unknown> {
  const found: Record<string, unknown> | undefined = cert.extensions.find((e: { name?: string }) => e.name === name);
  if (!found) throw new Error(`no ${name} extension`);
  return found;
}

export interface TestCertSpec {
  readonly cn: string;
  readonly keys: RsaKeyPair;
  /** Signer; omitted for self-signed. */
  readonly issuer?: { readonly certPem: string; readonly keyPem: string };
  readonly ca: boolean;
  readonly dns?: readonly string[];
  readonly ips?: readonly string[];
  readonly notBefore: number;
  readonly notAfter: number;
}

/** A certificate built independently of the code under test (for validateCustomCert). */
export function makeCert(s: TestCertSpec): string {
  const c = forge.pki.createCertificate();
  c.publicKey = forge.pki.publicKeyFromPem(s.keys.publicKeyPem);
  c.serialNumber = Buffer.from(s.cn).toString('hex').slice(0, 30).replace(/^[89a-f]/, '1');
  c.validity.notBefore = new Date(s.notBefore);
  c.validity.notAfter = new Date(s.notAfter);
  c.setSubject([{ shortName: 'CN', value: s.cn }]);
  c.setIssuer(s.issuer ? forge.pki.certificateFromPem(s.issuer.certPem).subject.attributes : [{ shortName: 'CN', value: s.cn }]);
  const alt = [...(s.dns ?? []).map((value) => ({ type: 2, value })), ...(s.ips ?? []).map((ip) => ({ type: 7, ip }))];
  c.setExtensions([
    { name: 'basicConstraints', critical: true, cA: s.ca },
    ...(alt.length ? [{ name: 'subjectAltName', altNames: alt }] : []),
  ]);
  c.sign(forge.pki.privateKeyFromPem(s.issuer ? s.issuer.keyPem : s.keys.privateKeyPem), forge.md.sha256.create());
  return forge.pki.certificateToPem(c);
}

/** A self-signed P-256 certificate made with the openssl CLI (test material only). */
export const EC_CERT = `-----BEGIN CERTIFICATE-----
MIIBnjCCAUSgAwIBAgIUNM36MuWlJafDf2KQ2q1c91t94fswCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKZWMuZXhhbXBsZTAgFw0yNjExMjIwODExMjZaGA8yMTI2MTAy
OTA4MTEyNlowFTETMBEGA1UEAwwKZWMuZXhhbXBsZTBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABMnGC+9+tPwtO/a4FuTvW8IxYyg6c1b2EyJ/Og62U0WVC60MZOGE
Fm/M6i/UYHTzgOu4MS8oIpOLWBygsQ+kG0ujcDBuMB0GA1UdDgQWBBT6yFprZUvq
hI5XsUNfv5xegFYx1jAfBgNVHSMEGDAWgBT6yFprZUvqhI5XsUNfv5xegFYx1jAP
BgNVHRMBAf8EBTADAQH/MBsGA1UdEQQUMBKCCmVjLmV4YW1wbGWHBMAAAgEwCgYI
KoZIzj0EAwIDSAAwRQIgQEFAom/KlWc99PS/Tr+JHN+M/w7+aKiAdTj3+eodeF0C
IQC++JjwdGDktAoJ7NkHN0gvVYJwAPs2KgxPsJ9NobUqaQ==
-----END CERTIFICATE-----
`;
export const EC_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgtJeLqUeL2B+g1I4l
GKDTAlHu8BhyoEZCn1x+hmLwLrqhRANCAATJxgvvfrT8LTv2uBbk71vCMWMoOnNW
9hMifzoOtlNFlQutDGThhBZvzOov1GB084DruDEvKCKTi1gcoLEPpBtL
-----END PRIVATE KEY-----
`;
/** EC_CERT's validity, as openssl printed it. */
export const EC_NOT_BEFORE = '2026-11-22T08:11:26.000Z';
export const EC_NOT_AFTER = '2126-10-29T08:11:26.000Z';
