/**
 * The box's DTLS certificate (ECDSA P-256, RFC 5763 5: self-signed, known
 * to the phones only by the fingerprint in our SDP): made once and kept in
 * the data folder, so its fingerprint stays the same across restarts.
 * The key file is 0600 and never logged. One that no longer loads, or has
 * expired, is replaced by a fresh one.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync, type Clock, type Logger, type Random } from './core/index.js';
import { certificateFrom, generateCertificate, type DtlsCertificate } from './keying/index.js';

export function loadOrCreateDtlsCertificate(dataDir: string, o: { readonly clock: Clock; readonly random: Random; readonly log: Logger }): DtlsCertificate {
  const dir = join(dataDir, 'dtls');
  const certPath = join(dir, 'cert.der');
  const keyPath = join(dir, 'key.pem');
  if (existsSync(certPath) && existsSync(keyPath)) {
    try {
      const der = readFileSync(certPath);
      const until = Date.parse(new X509Certificate(der).validTo);
      if (until > o.clock.now()) return certificateFrom(der, createPrivateKey(readFileSync(keyPath)));
      o.log.info({}, 'DTLS certificate expired: making a new one');
    } catch (e) {
      o.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'DTLS certificate unreadable: making a new one');
    }
  }
  const c = generateCertificate({ random: o.random, now: o.clock.now(), commonName: 'securepbx' });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileAtomicSync(keyPath, c.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600);
  writeFileAtomicSync(certPath, c.der, 0o644);
  return c;
}
