import { CommandError, type CertSource, type CustomCertUpload } from '../control/index.js';
import type { Clock } from '../core/index.js';
import {
  CertRejected, installCustomCert, requiredNamesFor, type CertInfo, type CertProblemCode, type CertRenewer, type Pki, type TlsMaterial,
} from '../pki/index.js';

/**
 * The running appliance's certificates as the `cert.*` commands see them:
 * renewal goes through the renewer (whose listeners swap the new certificate
 * into every TLS server); an uploaded certificate is validated, installed and
 * swapped in the same way.
 */

/** Which upload field a certificate problem belongs to, so the page can show it there. */
const FIELD_OF: Record<CertProblemCode, keyof CustomCertUpload> = {
  'cert-unreadable': 'certPem',
  'key-unreadable': 'keyPem',
  'key-mismatch': 'keyPem',
  'chain-too-long': 'chainPem',
  'chain-incomplete': 'chainPem',
  'chain-signature': 'chainPem',
  'not-yet-valid': 'certPem',
  expired: 'certPem',
  'name-not-covered': 'certPem',
};

export interface CertSourceDeps {
  readonly pki: Pki;
  readonly renewer: CertRenewer;
  readonly clock: Clock;
  /** Put new material into every TLS server (the renewer's listeners do this on renewal). */
  readonly swap: (material: TlsMaterial) => void;
  readonly knownRoots?: readonly string[];
}

export function certSource(deps: CertSourceDeps): CertSource {
  const { pki, renewer } = deps;
  return {
    get caInfo(): CertInfo { return pki.caInfo; },
    get serverInfo(): CertInfo { return pki.serverInfo; },
    history: () => pki.history(),
    async renew() {
      const outcome = await renewer.renewNow('manual');
      if (!outcome.renewed) throw new CommandError('invalid-state', 'the certificate was not renewed');
      return outcome.record;
    },
    async install(upload) {
      try {
        await installCustomCert(pki, upload, {
          now: deps.clock.now(),
          requiredNames: requiredNamesFor(pki.currentIdentity()),
          ...(deps.knownRoots ? { knownRoots: deps.knownRoots } : {}),
        });
      } catch (e) {
        if (e instanceof CertRejected) {
          const first = e.problems[0];
          throw new CommandError('config', e.message, first ? FIELD_OF[first.code] : undefined, e.problems);
        }
        throw e;
      }
      deps.swap(pki.tlsMaterial());
      return pki.serverInfo;
    },
  };
}
