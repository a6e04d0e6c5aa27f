import type { SipMessage, SipRequest, SipResponse } from '../message/index.js';
import type { PbxError } from '../../core/index.js';

export type TransportKind = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

/** Where a message goes, or came from, as plain data. A flowId means "use this
 * existing connection" (responses go back over the flow a request came on). */
export interface Target {
  readonly transport: TransportKind;
  readonly address: string;
  readonly port: number;
  readonly flowId?: string;
}

/** All the transaction layer needs of the transports. `send` may throw (a
 * PbxError 'transport' for instance); the transaction treats that as a fatal
 * transport error (17.1.1.2, 17.2.1) and tells its user. Incoming messages
 * must reach TransactionLayer.receive later, never from inside `send`. */
export interface TransportSink {
  send(msg: SipMessage, target: Target): void;
  /** Optional: send bytes serialize() made earlier (answers resent on a retransmission). */
  sendSerialized?(bytes: Buffer, target: Target): void;
}

/** Only UDP may lose or duplicate messages; stream and WebSocket flows are reliable. */
export function isReliable(transport: TransportKind): boolean {
  return transport !== 'udp';
}

/** The Via transport token for a transport (RFC 3261 20.42; WS/WSS from RFC 7118). */
export function viaTransport(transport: TransportKind): string {
  return transport.toUpperCase();
}

export type ClientTransactionKind = 'invite-client' | 'non-invite-client';
export type ServerTransactionKind = 'invite-server' | 'non-invite-server';

/** What every transaction may tell its TU. */
export interface TransactionUser {
  /** Client: Timer B or F fired without a final response. Server: Timer H
   * fired, the non-2xx final response was never acknowledged. */
  onTimeout?(): void;
  /** The transport failed to send the request, the ACK or a response. */
  onTransportError?(err: PbxError): void;
}

/** What a client transaction tells the TU that started it. */
export interface ClientTransactionUser extends TransactionUser {
  /** Responses the TU must see: provisionals, the final, and (INVITE, RFC 6026)
   * every 2xx retransmission while Accepted. Retransmitted non-2xx finals are
   * absorbed. */
  onResponse(res: SipResponse): void;
}

/** What a server transaction tells its TU. */
export interface ServerTransactionUser extends TransactionUser {
  /** An ACK matched an INVITE server transaction in the Accepted state (RFC 6026). */
  onAck?(ack: SipRequest): void;
}
