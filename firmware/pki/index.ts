export { type SanEntry, type HostIdentity, type InterfaceTable, hostIdentityFrom, systemIdentity, serverAltNames, missingNames } from './names.js';
export { ipToBytes, ipFromBytes, canonicalIp } from './ip.js';
export { type CertInfo, certInfo, splitPem, pemToDer, MAX_CHAIN_CERTS } from './x509.js';
export {
  type RsaKeyPair,
  type KeyGenerator,
  nativeRsaKeyGen,
  RSA_BITS,
  CA_VALIDITY_DAYS,
  SERVER_VALIDITY_DAYS,
  DAY_MS,
} from './issue.js';
export {
  type PkiOptions,
  type RenewReason,
  type RenewalRecord,
  type TlsMaterial,
  Pki,
  loadOrCreatePki,
  caPath,
  pkiPaths,
  KEY_MODE,
  CERT_MODE,
  MAX_HISTORY,
} from './store.js';
export {
  type CertRenewerOptions,
  type RenewOutcome,
  type RenewListener,
  CertRenewer,
  DEFAULT_RENEW_BEFORE_DAYS,
  CHECK_INTERVAL_MS,
} from './renew.js';
export { type CertProblem, type CertProblemCode, type CustomCertInput, validateCustomCert } from './validate.js';
export { type CustomCertFiles, type InstallOptions, CertRejected, installCustomCert, requiredNamesFor } from './custom.js';
export {
  type IssuedDevice, type DeviceCertsOptions, type RevokeListener,
  DeviceCerts, vendorCas, makePassphrase, DEVICES_FILE, VENDOR_CA_DIR, MAX_DEVICE_CERTS, PASSPHRASE_LENGTH,
} from './device.js';
export { DEVICE_VALIDITY_DAYS } from './issue.js';
