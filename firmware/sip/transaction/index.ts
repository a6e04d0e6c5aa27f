export {
  T1, T2, T4, TIMER_C, TIMER_D_UNRELIABLE, TRYING_DELAY, DEFAULT_BASE_TIMERS, timerValues,
  type BaseTimers, type TimerValues,
} from './timers.js';
export {
  type TransportKind, type Target, type TransportSink, type TransactionUser, type ClientTransactionUser, type ServerTransactionUser,
  type ClientTransactionKind, type ServerTransactionKind, isReliable, viaTransport,
} from './types.js';
export { type TimerName, type TransactionOptions, Transaction } from './base.js';
export { MAGIC_COOKIE } from './msg.js';
export { DEFAULT_MAX_FORWARDS, buildAckForNon2xx, buildCancel } from './ack.js';
export { type InviteClientState, type ClientTransactionOptions, InviteClientTransaction } from './invite-client.js';
export { type NonInviteClientState, NonInviteClientTransaction } from './non-invite-client.js';
export { type InviteServerState, type ServerTransactionOptions, InviteServerTransaction } from './invite-server.js';
export { type NonInviteServerState, NonInviteServerTransaction } from './non-invite-server.js';
export {
  type ClientTransaction, type ServerTransaction, type TransactionLayerUser, type TransactionLayerOptions,
  MAX_CLIENT_TRANSACTIONS, MAX_SERVER_TRANSACTIONS, MAX_ANSWERED, answerStatelessly, OVERLOAD_RETRY_AFTER_S, BRANCH_RANDOM_BITS, TransactionLayer,
} from './layer.js';
