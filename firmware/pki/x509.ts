import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { PbxError } from '../core/index.js';
import { ipFromBytes } from './ip.js';
import type { CertInfo, SanEntry } from '../api/index.js';

/** What the admin page and `pbx cert` show about a certificate: the API's shape, built here. */
export type { CertInfo } from '../api/index.js';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;
/** A chain longer than this is not one we built or would accept. */
export const MAX_CHAIN_CERTS = 8;

const OID_CN = '2.5.4.3';
const OID_SAN = '2.5.29.17';

/** Every certificate block in a PEM text, in order, with LF line ends and a final newline. */
export function splitPem(pem: string): string[] {
  return (pem.match(PEM_CERT) ?? []).map((b) => `${b.replace(/\r\n/g, '\n')}\n`);
}

/** The DER bytes of the first certificate in `pem`. */
export function pemToDer(pem: string): Buffer {
  const first = splitPem(pem)[0];
  if (!first) throw new PbxError('parse', 'no PEM certificate found');
  const body = first.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  return Buffer.from(body, 'base64');
}

/** Fields node:crypto does not hand over in a usable form, read from the DER. */
interface RawFields {
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly subjectCn: string | null;
  readonly issuerCn: string | null;
  readonly sans: readonly SanEntry[];
}

type Asn1 = forge.asn1.Asn1;

function children(node: Asn1 | undefined, what: string): Asn1[] {
  if (!node || !Array.isArray(node.value)) throw new PbxError('parse', `certificate: ${what} is not a structure`);
  return node.value;
}

function bytesOf(node: Asn1 | undefined, what: string): string {
  if (!node || typeof node.value !== 'string') throw new PbxError('parse', `certificate: ${what} is not a primitive`);
  return node.value;
}

function timeOf(node: Asn1 | undefined): Date {
  // RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime after.
  if (node?.type === forge.asn1.Type.UTCTIME) return forge.asn1.utcTimeToDate(bytesOf(node, 'time'));
  if (node?.type === forge.asn1.Type.GENERALIZEDTIME) return forge.asn1.generalizedTimeToDate(bytesOf(node, 'time'));
  throw new PbxError('parse', 'certificate: validity time has an unknown type');
}

function stringOf(node: Asn1): string {
  const raw = bytesOf(node, 'name value');
  if (node.type === forge.asn1.Type.UTF8) return forge.util.decodeUtf8(raw);
  if (node.type === forge.asn1.Type.BMPSTRING) return Buffer.from(raw, 'binary').swap16().toString('utf16le');
  return raw;
}

/** The most specific (last) CN of a Name (RFC 6125 6.4.4 takes that one). */
function commonName(name: Asn1 | undefined): string | null {
  let cn: string | null = null;
  for (const rdn of children(name, 'name')) {
    for (const atv of children(rdn, 'RDN')) {
      const [oid, value] = children(atv, 'attribute');
      if (oid && value && forge.asn1.derToOid(bytesOf(oid, 'OID')) === OID_CN) cn = stringOf(value);
    }
  }
  return cn;
}

function generalNames(der: string): SanEntry[] {
  const out: SanEntry[] = [];
  for (const gn of children(forge.asn1.fromDer(der), 'GeneralNames')) {
    const raw = typeof gn.value === 'string' ? gn.value : '';
    switch (gn.type) {
      case 1: out.push({ type: 'email', value: raw }); break;
      case 2: out.push({ type: 'dns', value: raw }); break;
      case 6: out.push({ type: 'uri', value: raw }); break;
      case 7: {
        const ip = ipFromBytes(Buffer.from(raw, 'binary'));
        out.push(ip ? { type: 'ip', value: ip } : { type: 'other', value: Buffer.from(raw, 'binary').toString('hex') });
        break;
      }
      default: out.push({ type: 'other', value: `[${gn.type}]` });
    }
  }
  return out;
}

/**
 * RFC 5280 4.1: Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm,
 * signatureValue }; TBSCertificate ::= SEQUENCE { [0] version OPTIONAL,
 * serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo,
 * [1] issuerUID, [2] subjectUID, [3] extensions }. Read by hand so that EC
 * certificates (which node-forge's X.509 reader refuses) work too.
 */
function rawFields(der: Buffer): RawFields {
  let root: Asn1;
  try {
    root = forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary')));
  } catch {
    throw new PbxError('parse', 'certificate: not DER');
  }
  const tbs = children(children(root, 'certificate')[0], 'tbsCertificate');
  let i = tbs[0]?.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && tbs[0].type === 0 ? 1 : 0;
  // A leading zero octet only keeps a positive INTEGER positive; OpenSSL omits it.
  const serialBytes = Buffer.from(bytesOf(tbs[i++], 'serial'), 'binary');
  const serial = (serialBytes.length > 1 && serialBytes[0] === 0 ? serialBytes.subarray(1) : serialBytes).toString('hex').toUpperCase();
  i++; // signature algorithm
  const issuer = tbs[i++];
  const [nb, na] = children(tbs[i++], 'validity');
  const subject = tbs[i++];
  let sans: SanEntry[] = [];
  for (const el of tbs.slice(i + 1)) {
    if (el.tagClass !== forge.asn1.Class.CONTEXT_SPECIFIC || el.type !== 3) continue;
    for (const ext of children(children(el, 'extensions')[0], 'extensions')) {
      const parts = children(ext, 'extension');
      const oid = forge.asn1.derToOid(bytesOf(parts[0], 'extension OID'));
      if (oid === OID_SAN) sans = generalNames(bytesOf(parts[parts.length - 1], 'SAN value'));
    }
  }
  return { serial, notBefore: timeOf(nb), notAfter: timeOf(na), subjectCn: commonName(subject), issuerCn: commonName(issuer), sans };
}

/** A parsed certificate: Node's view plus the fields read from the DER. */
export interface ParsedCert extends RawFields {
  readonly x509: X509Certificate;
  readonly der: Buffer;
}

export function parseCert(pem: string): ParsedCert {
  const der = pemToDer(pem);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch {
    throw new PbxError('parse', 'certificate: not a valid X.509 certificate');
  }
  return { ...rawFields(der), x509, der };
}

export function infoOf(c: ParsedCert): CertInfo {
  return {
    subjectCn: c.subjectCn,
    issuerCn: c.issuerCn,
    sans: c.sans,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    serial: c.serial,
    sha256: c.x509.fingerprint256,
    sha1: c.x509.fingerprint,
    isCa: c.x509.ca,
  };
}

/** Facts about the first certificate in `pem`; throws PbxError('parse'). */
export function certInfo(pem: string): CertInfo {
  return infoOf(parseCert(pem));
}
