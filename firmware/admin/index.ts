export { AdminServer, DEFAULT_STATIC_DIR, MAX_BODY_BYTES, type AdminServerOptions, type TlsMaterial } from './server.js';
export {
  SESSION_COOKIE, CSRF_HEADER, LOGIN_FAIL_LIMIT, LOGIN_FAIL_WINDOW_MS, LOGIN_BLOCK_MS, LIVE_COALESCE_MS, LIVE_HEARTBEAT_MS,
  MAX_EVENT_STREAMS, type LiveSource, type RouteInfo,
} from './api.js';
export { SessionStore, tokensEqual, SESSION_IDLE_MS, SESSION_MAX_MS, MAX_SESSIONS, type Session } from './sessions.js';
export {
  CALLER_CHOICES, CALLEE_CHOICES, explainPolicy, describeLeg, describeCall, describeMode, describeHold,
  type CallerStreamOption, type CalleeStreamOption, type Choice, type PolicyExplanation, type PolicyOutcome, type LegLike, type CallLike, type HoldLike,
} from './explain.js';
export { certSource, type CertSourceDeps } from './certs.js';
export { AuditLog, AUDIT_FILE, auditRoutes, describeCommand, describeRequest, isChangeCommand, type AuditEntry } from './audit.js';
export { OUTCOMES, outcomeOf, parseHistoryFilter, filterHistory, historyCsv, CSV_HEADER, type Outcome, type HistoryFilter } from './history.js';
export { logRoutes, qualityRoutes, recordingRoutes, type QualitySource } from './views-routes.js';
export { SIP_WS_PATH, PHONE_PATH, PHONE_API, PHONE_COOKIE, SIP_WS_MAX_MESSAGE, sameOrigin, type PhoneDeps, type PhoneLogin } from './phone.js';
export { FIRMWARE_RECORD_FILE, firmwareRoutes, updatePhase, type FirmwareDeps, type UpdateRecord } from './firmware-routes.js';
