/**
 * Plain data shared by the transports and the layers above. `Target` has the
 * same shape as the transaction layer's, so either can be passed to the other
 * without importing upward.
 */
export type TransportName = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

/** Where to send a message. `flowId` names a live connection to reuse. */
export interface Target {
  readonly transport: TransportName;
  readonly address: string;
  readonly port: number;
  readonly flowId?: string;
}

/** Where a received message came from, and on which of our sockets. */
export interface Source {
  readonly transport: TransportName;
  readonly address: string;
  readonly port: number;
  /** Set for connection transports: the connection the bytes arrived on. */
  readonly flowId?: string;
  readonly local: { readonly address: string; readonly port: number };
  /** For TLS: whether the peer presented a certificate that chained to our CA. */
  readonly tls?: { readonly authorized: boolean; readonly peerFingerprint256?: string };
}

export interface TlsMaterial {
  /** PEM private key. */
  readonly key: string | Buffer;
  /** PEM certificate chain, leaf first. */
  readonly cert: string | Buffer;
  /** PEM CA certificates used to check client certificates. */
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
}

export interface StartOptions {
  /** Address to listen on: "0.0.0.0", "::", "127.0.0.1". */
  readonly bind: string;
  /** Leave a port undefined to not run that transport; 0 picks a free port.
   * When udpPort and tcpPort are both 0 they end up on the same number. */
  readonly udpPort?: number;
  readonly tcpPort?: number;
  readonly tlsPort?: number;
  readonly tls?: TlsMaterial;
  /** Ask phones for a client certificate (never required: the result is in Source.tls). */
  readonly requestClientCert?: boolean;
}

export interface BoundPorts {
  readonly udp?: number;
  readonly tcp?: number;
  readonly tls?: number;
}

/** Something worth telling the operator about; each one also bumps a counter. */
export interface TransportEvent {
  readonly kind: 'error' | 'rejected' | 'flow-opened' | 'flow-closed';
  /** The counter name that was bumped, e.g. "tcp-frame-limit". */
  readonly reason: string;
  readonly transport: TransportName;
  readonly address?: string;
  readonly port?: number;
  readonly flowId?: string;
  readonly detail?: string;
}

/**
 * One WebSocket carrying SIP (RFC 7118), as the transports see it: the admin
 * HTTPS server upgrades the connection (subprotocol "sip") and hands it over
 * behind this interface, so the SIP layer knows no HTTP or WebSocket library.
 */
export interface SipWebSocket {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** Bytes queued toward the peer and not yet written. */
  readonly bufferedAmount: number;
  readonly open: boolean;
  /** One SIP message: a string as a text message, bytes as a binary one. */
  send(data: string | Buffer): void;
  /** Drops the connection at once. */
  terminate(): void;
  /** Each whole WebSocket message, text or binary, as bytes. */
  onMessage(fn: (data: Buffer) => void): void;
  onClose(fn: () => void): void;
}
