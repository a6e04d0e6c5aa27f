/** Desk phone provisioning (issue 12): per-vendor files, who gets a password, the fetch log, plug-and-play. */
export {
  type VendorName, type FileKind, type UserAgentFacts, VENDORS, CA_FILE, MAX_FILE_NAME,
  normalizeMac, parseFileName, parseUserAgent, vendorOfKind, mainFileName,
} from './files.js';
export {
  type PhoneProfile, type GeneratedFile, type SrtpMode, type TlsModeName, GRANDSTREAM_P, GENERIC_CA_FILE,
  yealinkCfg, polycomMaster, polycomPhone, snomXml, grandstreamXml, baresipAccounts, linphoneRc, bootstrapFile, xmlEscape,
} from './vendors.js';
export {
  type ClientCertFacts, type ProvisionRequest, type ProvisionResponse, type BoxAddress, type ProvisioningDeps,
  ProvisioningService, PROVISION_REALM, PROVISION_DIR, FETCH_LOG_FILE, SEEN_FILE, FETCH_LOG_MAX_BYTES, RECENT_FETCHES, MAX_SEEN,
} from './service.js';
export { type PnpAnswer, type PnpResponderDeps, PnpResponder, pnpAnswer, isUaProfileSubscribe, PNP_GROUP, PNP_PORT, UA_PROFILE } from './pnp.js';
