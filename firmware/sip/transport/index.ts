export type {
  BoundPorts, SipWebSocket, Source, StartOptions, Target, TlsMaterial, TransportEvent, TransportName,
} from './types.js';
export {
  SipTransports, type TransportOptions, type OutboundTls,
  STREAM_BUFFER_LIMIT, WRITE_BACKLOG_LIMIT, UDP_LARGE_THRESHOLD, LISTEN_BACKLOG,
  TLS_SESSION_TIMEOUT_S, TLS_HANDSHAKE_TIMEOUT_MS, CONNECT_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, DEFAULT_MAX_CONNECTIONS,
  FIRST_MESSAGE_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS, PARTIAL_MESSAGE_TIMEOUT_MS, STREAM_BUFFER_TOTAL_LIMIT,
  MAX_MESSAGES_PER_SECOND, LIMIT_LOG_EVERY_MS,
} from './transports.js';
export { SourceRate, UDP_SOURCE_RATE, UDP_SOURCE_BURST, MAX_RATE_SOURCES } from './sourcerate.js';
export { stampVia, normalizeAddress, type StampResult } from './via.js';
export { badRequestFor } from './salvage.js';
export { openFileLimit, parseOpenFileLimit, raiseOpenFileLimit, MIN_OPEN_FILES, type FileLimit } from './fdlimit.js';
export { isSelfHost, isSelfUri, type SelfAddresses } from './self.js';
export {
  tlsServerPolicy, tlsCipherList, tlsPolicyView, refuseRenegotiation, isRenegotiationError,
  DEFAULT_TLS_PROFILE, TLS_MIN_VERSION, TLS_MAX_VERSION, TLS13_SUITES, TLS12_AEAD_SUITES, TLS12_LEGACY_CBC_SUITES, TLS_GROUPS,
  type TlsProfile, type TlsPolicyView,
} from './tlspolicy.js';
export { registrationLifetimeMs, DEFAULT_REGISTRATION_S, MAX_KEPT_REGISTRATION_S } from './flowlife.js';
export { FileTicketKeys, TICKET_KEYS_FILE, TICKET_KEY_LIFETIME_MS, TICKET_KEY_BYTES, type TicketKeySource } from './tickets.js';
