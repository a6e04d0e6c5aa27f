import { createPrivateKey } from 'node:crypto';
import { PbxError } from '../core/index.js';
import { canonicalIp } from './ip.js';
import type { HostIdentity } from './names.js';
import type { Pki, RenewalRecord } from './store.js';
import { type CertProblem, validateCustomCert } from './validate.js';
import { splitPem } from './x509.js';

/**
 * Installing a certificate the admin uploads (from the office's own CA)
 * in place of the one the box issues itself. Everything is checked first
 * (validate.ts); only a usable certificate reaches the disk.
 */

export interface CustomCertFiles {
  /** The leaf, optionally followed by intermediates. */
  readonly certPem: string;
  readonly chainPem?: string;
  readonly keyPem: string;
}

/** An upload that failed validation; `problems` lists every reason. */
export class CertRejected extends PbxError {
  constructor(readonly problems: readonly CertProblem[]) {
    super('config', problems.map((p) => p.message).join('; '));
  }
}

/**
 * The names an uploaded certificate must cover: the hostname phones dial and
 * each non-loopback IPv4 address. Loopback names and IPv6 link-local
 * addresses are left out: no outside CA would certify them.
 */
export function requiredNamesFor(id: HostIdentity): string[] {
  const names: string[] = [];
  if (id.hostname && canonicalIp(id.hostname) === null) names.push(id.hostname);
  for (const a of id.addresses) {
    const ip = canonicalIp(a);
    if (ip && !ip.includes(':') && !ip.startsWith('127.') && !names.includes(ip)) names.push(ip);
  }
  return names;
}

export interface InstallOptions {
  /** Milliseconds since the epoch. */
  readonly now: number;
  readonly requiredNames: readonly string[];
  /** Roots a chain may end below; Node's bundled roots by default. */
  readonly knownRoots?: readonly string[];
}

/** Validate and install; throws CertRejected listing every problem. */
export async function installCustomCert(pki: Pki, files: CustomCertFiles, opts: InstallOptions): Promise<RenewalRecord> {
  const problems = validateCustomCert({
    certPem: files.certPem,
    ...(files.chainPem !== undefined ? { chainPem: files.chainPem } : {}),
    keyPem: files.keyPem,
    now: opts.now,
    requiredNames: opts.requiredNames,
    ...(opts.knownRoots ? { knownRoots: opts.knownRoots } : {}),
  });
  if (problems.length > 0) throw new CertRejected(problems);
  const [leaf, ...rest] = [...splitPem(files.certPem), ...splitPem(files.chainPem ?? '')];
  if (!leaf) throw new CertRejected([{ code: 'cert-unreadable', message: 'no PEM certificate was given' }]);
  // Store the key alone in one canonical form, whatever else the upload held.
  const keyPem = createPrivateKey(files.keyPem).export({ type: 'pkcs8', format: 'pem' }).toString();
  return pki.installServer(leaf, rest.join(''), keyPem);
}
