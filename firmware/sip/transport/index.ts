export type {
  BoundPorts, Source, StartOptions, Target, TlsMaterial, TransportEvent, TransportName,
} from './types.js';
export {
  SipTransports, type TransportOptions,
  STREAM_BUFFER_LIMIT, WRITE_BACKLOG_LIMIT, UDP_LARGE_THRESHOLD, LISTEN_BACKLOG,
  TLS_SESSION_TIMEOUT_S, TLS_HANDSHAKE_TIMEOUT_MS, CONNECT_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, DEFAULT_MAX_CONNECTIONS,
} from './transports.js';
export { stampVia, normalizeAddress, type StampResult } from './via.js';
export { badRequestFor } from './salvage.js';
export { openFileLimit, parseOpenFileLimit, raiseOpenFileLimit, MIN_OPEN_FILES, type FileLimit } from './fdlimit.js';
export { isSelfHost, isSelfUri, type SelfAddresses } from './self.js';
