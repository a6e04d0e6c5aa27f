import { createHash } from 'node:crypto';

export type DigestAlgorithm = 'MD5' | 'SHA-256';

/**
 * HA1 for HTTP digest as SIP uses it: H(username ":" realm ":" password),
 * hex-encoded in lower case (RFC 7616 section 3.4.2; RFC 2617 section
 * 3.2.2.2 for MD5). The "-sess" variants derive from this same value.
 */
export function digestHa1(algorithm: DigestAlgorithm, user: string, realm: string, password: string): string {
  const h = createHash(algorithm === 'MD5' ? 'md5' : 'sha256');
  h.update(`${user}:${realm}:${password}`, 'utf8');
  return h.digest('hex');
}
