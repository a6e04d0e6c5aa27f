/** SIP trunks: to a provider and between boxes (registration, keep-alive, RFC 3263 resolution, the dial plan's two doors). */
export { Trunks, trunkView, RESOLVE_EVERY_MS, TRUNK_CALLER_SEPARATOR, type TrunksDeps, type TrunkDialer, type TrunkIncoming } from './trunks.js';
export {
  RegistrationClient, backoffDelay, refreshDelay, BACKOFF_BASE_MS, BACKOFF_MAX_MS, CONFIG_ERROR_RETRY_MS, REFRESH_MARGIN_S, DEFAULT_REGISTER_EXPIRES_S,
  type RegistrationConfig, type RegistrationDeps, type RegistrationState, type RegistrationStatus,
} from './register.js';
export { KeepAlive, KEEPALIVE_INTERVAL_MS, FAILURES_TO_DOWN, type KeepAliveDeps, type Liveness } from './keepalive.js';
export {
  resolveTrunk, orderSrv, systemResolver, DEFAULT_PORT, MAX_TARGETS,
  type DnsResolver, type NaptrRecord, type SrvRecord, type TrunkAddress, type TrunkTransport, type ResolvedTarget,
} from './resolve.js';
export { OutboundWatch, MAX_WATCHED, type SurgeLimit, type TollAlarm } from './surge.js';
