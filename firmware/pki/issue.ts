import { generateKeyPair } from 'node:crypto';
import forge from 'node-forge';
import type { Random } from '../core/index.js';
import { ipToBytes } from './ip.js';
import type { SanEntry } from './names.js';

export const RSA_BITS = 2048;
export const CA_VALIDITY_DAYS = 3650;
/** Under the 397-day ceiling that browsers and many phones enforce on leaves. */
export const SERVER_VALIDITY_DAYS = 365;
/** Start validity a little in the past so a phone whose clock lags still accepts it. */
export const BACKDATE_MS = 60 * 60 * 1000;
/** RFC 5280 4.1.2.2: positive, at most 20 octets; 16 random octets is ample. */
export const SERIAL_BYTES = 16;
/** X.520 upper bound on a common name. */
export const MAX_CN_LENGTH = 64;
export const ORGANIZATION = 'SecurePBX';
export const DAY_MS = 24 * 60 * 60 * 1000;

/** forge writes CRLF; files and comparisons use LF. */
function toUnixPem(pem: string): string {
  return pem.replace(/\r\n/g, '\n');
}

export interface RsaKeyPair {
  readonly publicKeyPem: string;
  readonly privateKeyPem: string;
}

/** Makes a fresh RSA key pair. Injected so a test can count or reuse keys. */
export type KeyGenerator = () => Promise<RsaKeyPair>;

/**
 * RSA key generation through OpenSSL: native, off the event loop (node-forge's
 * JavaScript generator takes seconds on an ARM board and blocks calls), and
 * seeded from OpenSSL's own CSPRNG.
 */
export const nativeRsaKeyGen: KeyGenerator = () =>
  new Promise((resolve, reject) => {
    generateKeyPair(
      'rsa',
      {
        modulusLength: RSA_BITS,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      },
      (err, publicKeyPem, privateKeyPem) => (err ? reject(err) : resolve({ publicKeyPem, privateKeyPem })),
    );
  });

/** A positive serial with no superfluous leading zero octet, as hex. */
export function randomSerial(random: Random): string {
  const b = random.bytes(SERIAL_BYTES);
  b[0] = b[0]! & 0x7f || 0x01;
  return b.toString('hex');
}

/** A CN that fits PrintableString (the type node-forge writes) and the length bound. */
export function safeCommonName(text: string): string {
  return text.replace(/[^A-Za-z0-9 '()+,\-./:=?]/g, '-').slice(0, MAX_CN_LENGTH) || 'unnamed';
}

function subjectAttrs(cn: string): forge.pki.CertificateField[] {
  return [
    { shortName: 'CN', value: safeCommonName(cn) },
    { shortName: 'O', value: ORGANIZATION },
  ];
}

export interface CaRequest {
  readonly keys: RsaKeyPair;
  readonly commonName: string;
  readonly serial: string;
  /** Milliseconds since the epoch: the issuing time (the clock's now). */
  readonly now: number;
}

/** A self-signed CA certificate (RFC 5280 4.2.1.9 basicConstraints, 4.2.1.3 keyUsage), PEM. */
export function buildCaCert(req: CaRequest): string {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(req.keys.publicKeyPem);
  cert.serialNumber = req.serial;
  cert.validity.notBefore = new Date(req.now - BACKDATE_MS);
  cert.validity.notAfter = new Date(req.now + CA_VALIDITY_DAYS * DAY_MS);
  const name = subjectAttrs(req.commonName);
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    // pathLen 0: this CA signs the box's own leaves, never another CA.
    { name: 'basicConstraints', critical: true, cA: true, pathLenConstraint: 0 },
    { name: 'keyUsage', critical: true, keyCertSign: true, cRLSign: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(req.keys.privateKeyPem), forge.md.sha256.create());
  return toUnixPem(forge.pki.certificateToPem(cert));
}

export interface ServerRequest {
  readonly publicKeyPem: string;
  readonly caCertPem: string;
  readonly caKeyPem: string;
  readonly commonName: string;
  readonly sans: readonly SanEntry[];
  readonly serial: string;
  readonly now: number;
}

function altName(s: SanEntry): { type: number; value: string } {
  switch (s.type) {
    case 'dns': return { type: 2, value: s.value };
    case 'email': return { type: 1, value: s.value };
    case 'uri': return { type: 6, value: s.value };
    case 'ip': {
      const b = ipToBytes(s.value);
      if (b) return { type: 7, value: b.toString('binary') };
      break;
    }
    case 'other': break;
  }
  throw new Error(`cannot encode subjectAltName ${s.type}:${s.value}`);
}

/** A TLS server leaf signed by the CA, PEM. Validity never outlasts the CA's. */
export function buildServerCert(req: ServerRequest): string {
  const ca = forge.pki.certificateFromPem(req.caCertPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(req.publicKeyPem);
  cert.serialNumber = req.serial;
  cert.validity.notBefore = new Date(req.now - BACKDATE_MS);
  cert.validity.notAfter = new Date(Math.min(req.now + SERVER_VALIDITY_DAYS * DAY_MS, ca.validity.notAfter.getTime()));
  cert.setSubject(subjectAttrs(req.commonName));
  cert.setIssuer(ca.subject.attributes);
  const caSki = ca.generateSubjectKeyIdentifier().getBytes();
  cert.setExtensions([
    { name: 'basicConstraints', critical: true, cA: false },
    { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caSki },
    // RFC 5280 4.2.1.6: critical only when the subject is empty; ours is not.
    { name: 'subjectAltName', altNames: req.sans.map(altName) },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(req.caKeyPem), forge.md.sha256.create());
  return toUnixPem(forge.pki.certificateToPem(cert));
}

/** Device certificates live two years: long for a desk phone, and renewed by issuing again. */
export const DEVICE_VALIDITY_DAYS = 730;

/** A TLS client leaf (extKeyUsage clientAuth only) signed by the CA, PEM. */
export function buildDeviceCert(req: ServerRequest): string {
  const ca = forge.pki.certificateFromPem(req.caCertPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(req.publicKeyPem);
  cert.serialNumber = req.serial;
  cert.validity.notBefore = new Date(req.now - BACKDATE_MS);
  cert.validity.notAfter = new Date(Math.min(req.now + DEVICE_VALIDITY_DAYS * DAY_MS, ca.validity.notAfter.getTime()));
  cert.setSubject(subjectAttrs(req.commonName));
  cert.setIssuer(ca.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', critical: true, cA: false },
    { name: 'keyUsage', critical: true, digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', clientAuth: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
    { name: 'subjectAltName', altNames: req.sans.map(altName) },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(req.caKeyPem), forge.md.sha256.create());
  return toUnixPem(forge.pki.certificateToPem(cert));
}
