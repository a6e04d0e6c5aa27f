import { type KeyObject, X509Certificate, createPrivateKey } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { canonicalIp } from './ip.js';
import { MAX_CHAIN_CERTS, type ParsedCert, parseCert, splitPem } from './x509.js';

export type CertProblemCode =
  | 'cert-unreadable'   // no certificate, or not X.509
  | 'key-unreadable'    // no key, an encrypted key, or not a private key
  | 'key-mismatch'      // the key is not the certificate's
  | 'chain-too-long'
  | 'chain-incomplete'  // a certificate's issuer is not the next one, nor a known root
  | 'chain-signature'   // the issuer is named right but its signature does not verify
  | 'not-yet-valid'
  | 'expired'
  | 'name-not-covered'; // a required hostname or address is not in the SANs

export interface CertProblem {
  readonly code: CertProblemCode;
  readonly message: string;
}

export interface CustomCertInput {
  /** The leaf; intermediates may follow it in the same text. */
  readonly certPem: string;
  /** Intermediates (and optionally the root), leaf-most first. */
  readonly chainPem?: string;
  readonly keyPem: string;
  /** Milliseconds since the epoch. */
  readonly now: number;
  /** Hostnames and addresses clients will dial. */
  readonly requiredNames: readonly string[];
  /** Roots to accept a chain ending below; defaults to Node's bundled roots. */
  readonly knownRoots?: readonly string[];
}

function label(c: ParsedCert, i: number): string {
  return `certificate ${i + 1} (CN=${c.subjectCn ?? '?'})`;
}

function signedBy(child: X509Certificate, issuer: X509Certificate): 'ok' | 'name' | 'signature' {
  if (!child.checkIssued(issuer)) return 'name';
  return child.verify(issuer.publicKey) ? 'ok' : 'signature';
}

/**
 * Checks an uploaded certificate before the box would use it. Pure: reads no
 * files and no clock. Returns every problem found; an empty list means usable.
 */
export function validateCustomCert(input: CustomCertInput): CertProblem[] {
  const problems: CertProblem[] = [];
  const add = (code: CertProblemCode, message: string): void => void problems.push({ code, message });

  const own = splitPem(input.certPem);
  if (own.length === 0) {
    add('cert-unreadable', 'no PEM certificate was given');
    return problems;
  }
  const blocks = [...own, ...splitPem(input.chainPem ?? '')];
  if (blocks.length > MAX_CHAIN_CERTS) {
    add('chain-too-long', `the chain has ${blocks.length} certificates; at most ${MAX_CHAIN_CERTS} are accepted`);
    return problems;
  }
  const chain: ParsedCert[] = [];
  for (const [i, b] of blocks.entries()) {
    try {
      chain.push(parseCert(b));
    } catch {
      add('cert-unreadable', `certificate ${i + 1} is not a readable X.509 certificate`);
    }
  }
  if (problems.length > 0) return problems;
  const leaf = chain[0]!;

  let key: KeyObject | null = null;
  try {
    key = createPrivateKey(input.keyPem);
  } catch {
    add('key-unreadable', 'the private key is unreadable (encrypted keys are not supported)');
  }
  if (key && !leaf.x509.checkPrivateKey(key)) add('key-mismatch', 'the private key does not belong to the certificate');

  // RFC 5280 6.1: each certificate is issued by the next; the last is a trust
  // anchor itself (self-signed) or is issued by one.
  for (let i = 0; i + 1 < chain.length; i++) {
    const r = signedBy(chain[i]!.x509, chain[i + 1]!.x509);
    if (r === 'name') add('chain-incomplete', `${label(chain[i]!, i)} was not issued by ${label(chain[i + 1]!, i + 1)}; an intermediate is missing or out of order`);
    if (r === 'signature') add('chain-signature', `the signature on ${label(chain[i]!, i)} does not verify with ${label(chain[i + 1]!, i + 1)}'s key`);
  }
  const last = chain[chain.length - 1]!;
  const self = signedBy(last.x509, last.x509);
  if (self === 'signature') add('chain-signature', `${label(last, chain.length - 1)} names itself as issuer but its signature does not verify`);
  if (self === 'name') {
    const roots = (input.knownRoots ?? rootCertificates).flatMap((pem) => {
      try {
        return [new X509Certificate(pem)];
      } catch {
        return [];
      }
    });
    const results = roots.map((r) => signedBy(last.x509, r));
    if (!results.includes('ok')) {
      if (results.includes('signature')) add('chain-signature', `${label(last, chain.length - 1)} names a known root as issuer but the signature does not verify`);
      else add('chain-incomplete', `${label(last, chain.length - 1)} is issued by "${last.issuerCn ?? '?'}", which is neither in the chain nor a known root`);
    }
  }

  chain.forEach((c, i) => {
    if (input.now < c.notBefore.getTime()) add('not-yet-valid', `${label(c, i)} is not valid before ${c.notBefore.toISOString()}`);
    if (input.now > c.notAfter.getTime()) add('expired', `${label(c, i)} expired on ${c.notAfter.toISOString()}`);
  });

  // RFC 6125 6.4 / 6.2: names match dNSName entries, addresses iPAddress
  // entries; the subject CN is not consulted.
  for (const name of input.requiredNames) {
    const ip = canonicalIp(name);
    const ok = ip ? leaf.x509.checkIP(ip) !== undefined : leaf.x509.checkHost(name, { subject: 'never' }) !== undefined;
    if (!ok) add('name-not-covered', `the certificate does not name ${name} in its subjectAltName`);
  }
  return problems;
}
