/**
 * The SIP listening sockets (RFC 3261 section 18): UDP, TCP and TLS on one
 * object. Bytes in are framed and parsed into plain messages; messages out are
 * serialised and written to a datagram or to a connection ("flow", RFC 5626),
 * reusing the connection a phone opened whenever we can, because phones behind
 * NAT or firewalls cannot accept connections from us.
 *
 * Counters (per reason, prefixed by transport where it matters):
 *   <t>-msg-<reason>      a message the parser rejected (its RejectReason)
 *   <t>-frame-<reason>    a stream that could not be framed (connection dropped)
 *   <t>-buffer-limit      unframed bytes over the per-connection cap (dropped)
 *   <t>-no-via / bad-via  a request without a usable top Via (dropped)
 *   <t>-bad-request-sent  a 400 answered to a malformed request
 *   udp-large             a datagram over the RFC 3261 18.1.1 size we still sent
 *   conn-limit-address / conn-limit-total   connections refused at accept
 *       (a TLS connection counts from its TCP accept, before its handshake)
 *   first-message-timeout  an accepted connection that completed no SIP message in time
 *   idle-timeout           no message or keep-alive for long, and no registration on it
 *   partial-timeout        a partial message held longer than partialMessageTimeoutMs
 *   buffer-total-limit     partial messages of all connections over their total cap
 *   msg-rate-limit         more messages (or keep-alives) a second than a connection may send
 *   tls-handshake-timeout  a TLS handshake not done in time (closed)
 *   tls-renegotiation-refused  a client renegotiation attempt (closed at the first)
 *   write-backlog, tls-handshake, <t>-socket-error, listener-error, ...
 * Connections closed for a limit are also logged (warn, at most one line per
 * reason every LIMIT_LOG_EVERY_MS, with the count of those not logged).
 *
 * Partial messages hold at most streamBufferTotalLimit bytes over all
 * connections (and streamBufferLimit each), so a flood of half-sent messages
 * is bounded whatever maxConnections is. All timers run on the injected clock.
 * For UDP, Source.local is the bound address (the wildcard when bound to one).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import {
  Counters, PbxError, cryptoRandom, silentLogger, systemClock,
  type Clock, type Logger, type Random, type TimerHandle,
} from '../../core/index.js';
import { frameStream, parseMessage, serialize, type SipMessage } from '../message/index.js';
import { registrationLifetimeMs } from './flowlife.js';
import { SourceRate, UDP_SOURCE_BURST, UDP_SOURCE_RATE } from './sourcerate.js';
import { badRequestFor } from './salvage.js';
import { DEFAULT_TLS_PROFILE, isRenegotiationError, refuseRenegotiation, tlsServerPolicy, TLS_MIN_VERSION, type TlsProfile } from './tlspolicy.js';
import type {
  BoundPorts, SipWebSocket, Source, StartOptions, Target, TlsMaterial, TransportEvent, TransportName,
} from './types.js';
import { normalizeAddress, stampVia } from './via.js';
import { TICKET_KEY_BYTES, type TicketKeySource } from './tickets.js';

/** Unframed bytes one connection may hold; more and it is dropped. */
export const STREAM_BUFFER_LIMIT = 128 * 1024;
/** Bytes queued toward a peer that does not read; more and it is dropped. */
export const WRITE_BACKLOG_LIMIT = 1024 * 1024;
/** RFC 3261 18.1.1: a request within 200 bytes of a 1500-byte MTU should go over TCP. */
export const UDP_LARGE_THRESHOLD = 1300;
export const LISTEN_BACKLOG = 4096;
export const TLS_SESSION_TIMEOUT_S = 3600;
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
export const CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 256;
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/** An accepted connection must complete a SIP message within this (slowloris); TLS counts its handshake. */
export const FIRST_MESSAGE_TIMEOUT_MS = 30_000;
/**
 * A connection with no message and no keep-alive for this long is closed,
 * unless a live registration is bound to it (RFC 5626 keep-alives come every
 * 2 minutes or so, so a phone using them never gets near this).
 */
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000;
/** How long the bytes of one partial message may sit in a connection's buffer. */
export const PARTIAL_MESSAGE_TIMEOUT_MS = 10_000;
/** Partial-message bytes over all connections. */
export const STREAM_BUFFER_TOTAL_LIMIT = 32 * 1024 * 1024;
/** Messages (keep-alives included) one connection may send per second; more closes it. */
export const MAX_MESSAGES_PER_SECOND = 200;
const RATE_WINDOW_MS = 1000;
/** One warn line per limit reason at most this often. */
export const LIMIT_LOG_EVERY_MS = 10_000;
/** Counters of connections closed or refused for a limit: logged, and not prefixed by transport. */
const LIMIT_REASONS = new Set([
  'conn-limit-address', 'conn-limit-total', 'idle-timeout', 'first-message-timeout', 'partial-timeout',
  'buffer-total-limit', 'msg-rate-limit', 'write-backlog',
]);
const LOGGED_REASONS = new Set([...LIMIT_REASONS, 'tls-handshake-timeout', 'tls-renegotiation-refused']);
/** Tries at finding a port free for both TCP and UDP. */
export const SHARED_PORT_ATTEMPTS = 8;
export const UDP_RECV_BUFFER = 1024 * 1024;
/** RFC 5626 4.4.1: a double CRLF is a ping, a single CRLF the pong. */
const PONG = Buffer.from('\r\n');
const DOUBLE_CRLF_LENGTH = 4;

export interface TransportOptions {
  readonly clock?: Clock;
  readonly random?: Random;
  readonly log?: Logger;
  readonly counters?: Counters;
  /** Close a connection after this long without a message or keep-alive, unless kept for a registration. 0 = never. */
  readonly idleTimeoutMs?: number;
  readonly maxConnectionsPerAddress?: number;
  readonly maxConnections?: number;
  readonly streamBufferLimit?: number;
  readonly streamBufferTotalLimit?: number;
  /** 0 = never. */
  readonly firstMessageTimeoutMs?: number;
  /** 0 = never. */
  readonly partialMessageTimeoutMs?: number;
  readonly maxMessagesPerSecond?: number;
  readonly tlsHandshakeTimeoutMs?: number;
  /** Which TLS suites the listener offers (tlspolicy.ts). */
  readonly tlsProfile?: TlsProfile;
  /** Datagrams a second per source address, and the burst (sourcerate.ts); 0 = no limit. */
  readonly udpSourceRate?: number;
  readonly udpSourceBurst?: number;
  /** Session ticket keys that outlive the process (tickets.ts); without it each start makes its own and no session resumes across a restart. */
  readonly ticketKeys?: TicketKeySource;
}

type StreamName = 'tcp' | 'tls';
/** The connection transports: TCP and TLS streams, and SIP over secure WebSocket (RFC 7118). */
type FlowName = StreamName | 'wss';

/** What a flow needs of its connection: a net.Socket, or the WebSocket adapter (wsFlowSocket). */
interface FlowSocket {
  readonly destroyed: boolean;
  readonly writable: boolean;
  readonly writableLength: number;
  write(bytes: Buffer): unknown;
  destroy(): unknown;
  once(event: 'close', fn: () => void): unknown;
}

interface Flow {
  readonly id: string;
  readonly transport: FlowName;
  readonly socket: FlowSocket;
  readonly address: string;
  readonly port: number;
  readonly peerKey: string;
  readonly outbound: boolean;
  local: { address: string; port: number };
  tlsInfo?: Source['tls'];
  buffer: Buffer;
  /** When the connection was accepted (for TLS: its TCP accept). */
  readonly acceptedAt: number;
  /** Complete SIP messages received. */
  messages: number;
  /** Last complete message or keep-alive in. */
  lastActivity: number;
  /** Since when the bytes now in the buffer have waited for the rest of their message. */
  partialSince?: number;
  /** Clock time until which a registration carried by this flow keeps it (from the 2xx we sent). */
  registeredUntil: number;
  rateWindowStart: number;
  rateCount: number;
  pinned: boolean;
  timer?: TimerHandle;
  timerDue: number;
  connectTimer?: TimerHandle;
  closed: boolean;
}

/** A TLS connection accepted and counted, its handshake not yet done. */
interface PendingTls {
  readonly raw: net.Socket;
  readonly address: string;
  readonly acceptedAt: number;
  timer?: TimerHandle;
  /** Gives the connection's count back; idempotent (the raw or the TLS socket may close first). */
  readonly release: () => void;
}

type State = 'new' | 'starting' | 'running' | 'stopped';

const peerKeyOf = (t: FlowName, address: string, port: number): string => `${t}|${address}|${port}`;

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** What every new flow starts with, whatever carries it (TCP, TLS, WebSocket). */
function freshFlowState(now: number): Pick<Flow, 'buffer' | 'acceptedAt' | 'messages' | 'lastActivity' | 'registeredUntil' | 'rateWindowStart' | 'rateCount' | 'pinned' | 'timerDue' | 'closed'> {
  return { buffer: Buffer.alloc(0), acceptedAt: now, messages: 0, lastActivity: now, registeredUntil: 0, rateWindowStart: now, rateCount: 0, pinned: false, timerDue: Infinity, closed: false };
}

export class SipTransports {
  /** Every message that parsed and passed the transport's checks. */
  onMessage: (msg: SipMessage, source: Source) => void = () => {};
  /** A connection ended; bindings bound to it (RFC 5626) should go. */
  onFlowClosed: (flowId: string) => void = () => {};
  /** Rejections, errors and flow changes, each already counted. */
  onEvent: (event: TransportEvent) => void = () => {};
  /**
   * Asked when a flow has been idle for idleTimeoutMs: true keeps it (e.g.
   * the location service knows a live binding on it). The transport already
   * keeps flows it sent a REGISTER 2xx on, until the bindings expire.
   */
  isFlowInUse: (flowId: string) => boolean = () => false;

  readonly counters: Counters;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly log: Logger;
  private readonly idleTimeoutMs: number;
  private readonly maxPerAddress: number;
  private readonly maxConnections: number;
  private readonly streamBufferLimit: number;
  private readonly streamBufferTotalLimit: number;
  private readonly firstMessageMs: number;
  private readonly partialMs: number;
  private readonly maxPerSecond: number;
  private readonly handshakeMs: number;
  private readonly tlsProfile: TlsProfile;
  /** Per-source datagram bucket (undefined: no limit). */
  private readonly udpRate: SourceRate | undefined;
  /** Partial-message bytes held over all flows. */
  private bufferedTotal = 0;
  /** Accepted connections (TLS ones from their TCP accept) per address, and in all. */
  private connectionTotal = 0;
  private readonly limitLog = new Map<string, { at: number; suppressed: number }>();

  private state: State = 'new';
  private stopping?: Promise<void>;
  private udp?: dgram.Socket;
  private udpLocal = { address: '', port: 0 };
  private tcpServer?: net.Server;
  private tlsServer?: tls.Server;
  private tlsOptions?: { requestCert: boolean };
  private ticketKeys?: Buffer;
  private readonly ticketSource: TicketKeySource | undefined;
  private readonly flows = new Map<string, Flow>();
  private readonly byPeer = new Map<string, string>();
  private readonly perAddress = new Map<string, number>();
  /** Accepted TLS sockets, including those still in their handshake, so stop() can end them. */
  private readonly rawTlsSockets = new Set<net.Socket>();
  /** TLS connections in their handshake, by peer "address|port" (what both the raw and the TLS socket know). */
  private readonly pendingTls = new Map<string, PendingTls>();
  private flowSeq = 0;
  private boundPorts: BoundPorts = {};

  constructor(opts: TransportOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? cryptoRandom;
    this.log = opts.log ?? silentLogger;
    this.counters = opts.counters ?? new Counters();
    this.idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.maxPerAddress = opts.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS;
    this.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.streamBufferLimit = opts.streamBufferLimit ?? STREAM_BUFFER_LIMIT;
    this.streamBufferTotalLimit = opts.streamBufferTotalLimit ?? STREAM_BUFFER_TOTAL_LIMIT;
    this.firstMessageMs = opts.firstMessageTimeoutMs ?? FIRST_MESSAGE_TIMEOUT_MS;
    this.partialMs = opts.partialMessageTimeoutMs ?? PARTIAL_MESSAGE_TIMEOUT_MS;
    this.maxPerSecond = opts.maxMessagesPerSecond ?? MAX_MESSAGES_PER_SECOND;
    this.handshakeMs = opts.tlsHandshakeTimeoutMs ?? TLS_HANDSHAKE_TIMEOUT_MS;
    this.tlsProfile = opts.tlsProfile ?? DEFAULT_TLS_PROFILE;
    this.ticketSource = opts.ticketKeys;
    const udpRate = opts.udpSourceRate ?? UDP_SOURCE_RATE;
    if (!Number.isFinite(udpRate) || udpRate < 0) throw new PbxError('config', 'udpSourceRate must be 0 or more');
    this.udpRate = udpRate === 0 ? undefined : new SourceRate(udpRate, Math.max(1, opts.udpSourceBurst ?? Math.max(UDP_SOURCE_BURST, udpRate)));
    for (const [name, v] of Object.entries({
      idleTimeoutMs: this.idleTimeoutMs, firstMessageTimeoutMs: this.firstMessageMs, partialMessageTimeoutMs: this.partialMs,
    })) {
      if (!Number.isFinite(v) || v < 0) throw new PbxError('config', `${name} must be 0 or more`);
    }
    for (const [name, v] of Object.entries({
      maxConnectionsPerAddress: this.maxPerAddress, maxConnections: this.maxConnections, streamBufferLimit: this.streamBufferLimit,
      streamBufferTotalLimit: this.streamBufferTotalLimit, maxMessagesPerSecond: this.maxPerSecond, tlsHandshakeTimeoutMs: this.handshakeMs,
    })) {
      if (!Number.isFinite(v) || v < 1) throw new PbxError('config', `${name} must be positive`);
    }
  }

  get ports(): BoundPorts {
    return this.boundPorts;
  }

  get flowCount(): number {
    return this.flows.size;
  }

  /** Accepted connections, including TLS ones still in their handshake. */
  get connectionCount(): number {
    return this.connectionTotal;
  }

  /** Partial-message bytes held over all connections. */
  get bufferedBytes(): number {
    return this.bufferedTotal;
  }

  hasFlow(flowId: string): boolean {
    const f = this.flows.get(flowId);
    return f !== undefined && !f.closed && !f.socket.destroyed;
  }

  /** A pinned flow (one a registration is bound to) is exempt from the idle timeout. */
  setFlowPinned(flowId: string, pinned: boolean): void {
    const f = this.flows.get(flowId);
    if (f !== undefined) f.pinned = pinned;
  }

  /** The TLS profile in force. */
  get tlsPolicy(): TlsProfile {
    return this.tlsProfile;
  }

  /**
   * Receive datagrams sent to a multicast group on the UDP socket (RFC 6080
   * plug-and-play SUBSCRIBEs to 224.0.1.75:5060); false when there is no UDP
   * socket or the system refuses (counted).
   */
  joinMulticast(group: string): boolean {
    if (this.udp === undefined) return false;
    try {
      this.udp.addMembership(group);
      return true;
    } catch (e) {
      this.reject('multicast-join', 'udp', { detail: errorText(e) });
      return false;
    }
  }

  /** What the TLS peer of an accepted connection presented (Source.tls), if it is one. */
  flowTls(flowId: string): Source['tls'] | undefined {
    return this.flows.get(flowId)?.tlsInfo;
  }

  /**
   * Closes every accepted TLS connection whose client certificate has this
   * SHA-256 fingerprint (a revoked device certificate); returns their flow ids.
   */
  closeFlowsWithPeer(fingerprint256: string): string[] {
    const want = fingerprint256.toUpperCase();
    const ids: string[] = [];
    for (const f of this.flows.values()) {
      if (f.tlsInfo?.peerFingerprint256?.toUpperCase() === want && !f.closed) {
        f.socket.destroy();
        ids.push(f.id);
      }
    }
    if (ids.length > 0) this.counters.inc('tls-closed-revoked', ids.length);
    return ids;
  }

  /** Closes one connection, e.g. when its registration is removed. */
  closeFlow(flowId: string): void {
    this.flows.get(flowId)?.socket.destroy();
  }

  /**
   * Takes a SIP WebSocket (RFC 7118) the admin HTTPS server accepted and
   * upgraded: it becomes a flow like a TLS connection, under the same
   * connection limits, first-message and idle timeouts, message rate and size
   * limits, and a registration over it binds to it. Each WebSocket message is
   * one whole SIP message (RFC 7118 5.2), so no stream framing is needed; a
   * message of CRLFs alone is a keep-alive. Returns the flow id, or undefined
   * when refused (the socket is closed and the reason counted).
   */
  acceptWebSocket(conn: SipWebSocket): string | undefined {
    const address = normalizeAddress(conn.remoteAddress);
    const port = conn.remotePort;
    if (this.state !== 'running') {
      conn.terminate();
      this.reject('not-running', 'wss', { address, port });
      return undefined;
    }
    const socket = wsFlowSocket(conn);
    if (!this.takeSlot('wss', socket, address, port)) return undefined;
    const now = this.clock.now();
    const flow: Flow = {
      id: `wss:${++this.flowSeq}`,
      transport: 'wss',
      socket,
      address,
      port,
      peerKey: peerKeyOf('wss', address, port),
      outbound: false,
      local: { address: normalizeAddress(conn.localAddress), port: conn.localPort },
      ...freshFlowState(now),
    };
    this.flows.set(flow.id, flow);
    this.byPeer.set(flow.peerKey, flow.id);
    conn.onMessage((data) => this.onWebSocketMessage(flow, data));
    socket.once('close', () => this.dropFlow(flow, true));
    this.scheduleCheck(flow);
    this.emit({ kind: 'flow-opened', reason: 'flow-opened', transport: 'wss', address, port, flowId: flow.id });
    return flow.id;
  }

  async start(opts: StartOptions): Promise<BoundPorts> {
    if (this.state !== 'new') throw new PbxError('invalid-state', `transports are ${this.state}`);
    this.state = 'starting';
    try {
      const ports: { udp?: number; tcp?: number; tls?: number } = {};
      const { udpPort, tcpPort, tlsPort } = opts;
      if (udpPort === 0 && tcpPort === 0) {
        Object.assign(ports, await this.bindShared(opts.bind));
      } else {
        if (tcpPort !== undefined) ports.tcp = await this.bindTcp(opts.bind, tcpPort);
        if (udpPort !== undefined) ports.udp = await this.bindUdp(opts.bind, udpPort);
      }
      if (tlsPort !== undefined) {
        if (opts.tls === undefined) throw new PbxError('config', 'a TLS port needs TLS material');
        ports.tls = await this.bindTls(opts.bind, tlsPort, opts.tls, opts.requestClientCert ?? false);
      }
      this.boundPorts = ports;
      if (this.state !== 'starting') throw new PbxError('invalid-state', 'stopped while starting');
      this.state = 'running';
      return ports;
    } catch (e) {
      await this.closeAll();
      this.state = 'stopped';
      if (e instanceof PbxError) throw e;
      throw new PbxError('transport', `cannot listen: ${errorText(e)}`);
    }
  }

  /**
   * Whether new TLS connections are asked for a client certificate (never
   * required: the PBX decides what one is good for). Node's TLS server reads
   * its requestCert field for each connection it accepts, so a change reaches
   * the next handshake and leaves open connections as they are. Asking costs
   * phones that have no certificate nothing in principle, but some clients
   * stop to ask their user for one (linphonec waits on its console), so the
   * box asks only while an account needs it.
   */
  setRequestClientCert(on: boolean): void {
    const server = this.tlsServer;
    if (server === undefined || this.tlsOptions === undefined) throw new PbxError('invalid-state', 'no TLS listener');
    if (this.tlsOptions.requestCert === on) return;
    this.tlsOptions = { requestCert: on };
    (server as tls.Server & { requestCert: boolean }).requestCert = on;
    this.log.info({ requestClientCert: on }, on ? 'SIP TLS now asks phones for a client certificate' : 'SIP TLS no longer asks phones for a client certificate');
  }

  /** Swaps the TLS certificate; open connections keep theirs, new ones get this. */
  setTlsMaterial(material: TlsMaterial): void {
    const server = this.tlsServer;
    if (server === undefined || this.tlsOptions === undefined) {
      throw new PbxError('invalid-state', 'no TLS listener');
    }
    const ctx = this.contextOptions(material);
    try {
      tls.createSecureContext(ctx); // validate before touching the live server
    } catch (e) {
      throw new PbxError('config', `bad TLS material: ${errorText(e)}`);
    }
    // setSecureContext rebuilds the whole context from these options; passing
    // the same ticket keys keeps sessions issued before the swap resumable.
    server.setSecureContext(ctx);
  }

  /**
   * Certificate checks for connections the box opens itself to a peer it
   * chose (a trunk): undefined leaves a target to the unchecked path phones use.
   */
  outboundTls?: (target: Target) => OutboundTls | undefined;

  /** Sends one message; false when it could not even be queued (the reason is counted). */
  send(msg: SipMessage, target: Target): boolean {
    if (this.state !== 'running') return this.reject('send-not-running', target.transport);
    let bytes: Buffer;
    try {
      bytes = serialize(msg);
    } catch (e) {
      return this.reject('send-serialize', target.transport, { detail: errorText(e) });
    }
    if (target.transport === 'udp') return this.sendUdp(bytes, target);
    if (target.transport === 'tcp' || target.transport === 'tls') return this.sendStream(bytes, target.transport, target, registrationLifetimeMs(msg));
    if (target.transport === 'wss' || target.transport === 'ws') return this.sendWebSocket(bytes, target, registrationLifetimeMs(msg));
    return this.reject('send-unsupported', target.transport);
  }

  /** Sends bytes serialize() made earlier (an answer resent for a retransmission). */
  sendSerialized(bytes: Buffer, target: Target): boolean {
    if (this.state !== 'running') return this.reject('send-not-running', target.transport);
    if (target.transport === 'udp') return this.sendUdp(bytes, target);
    if (target.transport === 'tcp' || target.transport === 'tls') return this.sendStream(bytes, target.transport, target);
    return this.reject('send-unsupported', target.transport);
  }

  stop(): Promise<void> {
    if (this.stopping === undefined) {
      this.state = 'stopped';
      this.stopping = this.closeAll();
    }
    return this.stopping;
  }

  // ---- binding ------------------------------------------------------------

  private async bindShared(bind: string): Promise<{ udp: number; tcp: number }> {
    let lastError: unknown;
    for (let i = 0; i < SHARED_PORT_ATTEMPTS; i++) {
      const tcp = await this.bindTcp(bind, 0);
      try {
        const udp = await this.bindUdp(bind, tcp);
        return { udp, tcp };
      } catch (e) {
        lastError = e;
        await closeServer(this.tcpServer);
        this.tcpServer = undefined;
      }
    }
    throw new PbxError('transport', `no port free for both UDP and TCP: ${errorText(lastError)}`);
  }

  private async bindTcp(bind: string, port: number): Promise<number> {
    const server = net.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 });
    server.maxConnections = this.maxConnections;
    this.tcpServer = server;
    server.on('connection', (socket) => this.adoptSocket('tcp', socket, false));
    const bound = await listen(server, bind, port);
    this.watchServer(server, 'tcp');
    return bound;
  }

  private async bindTls(bind: string, port: number, material: TlsMaterial, requestCert: boolean): Promise<number> {
    this.ticketKeys = this.ticketSource?.current() ?? this.random.bytes(TICKET_KEY_BYTES);
    this.tlsOptions = { requestCert };
    const server = tls.createServer({
      ...this.contextOptions(material),
      requestCert,
      // A client certificate is asked for, never demanded: the result goes up
      // in Source.tls and the PBX decides what a device may do.
      rejectUnauthorized: false,
      // The clock timer in acceptTls closes a slow handshake; Node's is a backstop.
      handshakeTimeout: Math.max(TLS_HANDSHAKE_TIMEOUT_MS, this.handshakeMs) * 2,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: 60_000,
    });
    server.maxConnections = this.maxConnections;
    this.tlsServer = server;
    server.on('connection', (raw: net.Socket) => this.acceptTls(raw));
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      const key = `${normalizeAddress(socket.remoteAddress ?? '')}|${socket.remotePort ?? 0}`;
      const pending = this.pendingTls.get(key);
      if (pending === undefined) {
        // Refused at accept, or its handshake timed out: its count is gone.
        socket.destroy();
        return;
      }
      this.pendingTls.delete(key);
      pending.timer?.cancel();
      const flow = this.adoptSocket('tls', socket, false, undefined, pending);
      if (flow === undefined) return;
      refuseRenegotiation(socket, () => {
        this.reject('renegotiation-refused', 'tls', { address: flow.address, port: flow.port, flowId: flow.id });
      });
    });
    server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
      // Node leaves the socket open when someone listens for this event.
      socket.destroy();
      if ((err as { code?: unknown }).code === 'ERR_TLS_HANDSHAKE_TIMEOUT') {
        this.reject('handshake-timeout', 'tls', { address: socket.remoteAddress, port: socket.remotePort });
        return;
      }
      this.reject('handshake', 'tls', { address: socket.remoteAddress, port: socket.remotePort, detail: err.message });
    });
    const bound = await listen(server, bind, port);
    this.watchServer(server, 'tls');
    return bound;
  }

  private bindUdp(bind: string, port: number): Promise<number> {
    const socket = dgram.createSocket({ type: net.isIPv6(bind) ? 'udp6' : 'udp4' });
    return new Promise<number>((resolve, reject) => {
      const fail = (err: Error): void => {
        socket.close();
        reject(err);
      };
      socket.once('error', fail);
      socket.bind({ address: bind, port, exclusive: true }, () => {
        socket.off('error', fail);
        socket.on('error', (err) => this.reject('socket-error', 'udp', { detail: err.message }));
        socket.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo));
        try {
          socket.setRecvBufferSize(UDP_RECV_BUFFER);
        } catch {
          this.counters.inc('udp-rcvbuf-unchanged');
        }
        const a = socket.address();
        this.udp = socket;
        this.udpLocal = { address: normalizeAddress(a.address), port: a.port };
        resolve(a.port);
      });
    });
  }

  private watchServer(server: net.Server, t: StreamName): void {
    server.on('error', (err) => this.reject('server-error', t, { detail: err.message }));
    server.on('drop', () => this.reject('conn-limit-total', t));
  }

  /** Install the ticket source's keys when they changed (a day's rotation), before the handshake that would use them. */
  private followTicketKeys(): void {
    const keys = this.ticketSource?.current();
    if (keys === undefined || keys === this.ticketKeys || this.tlsServer === undefined) return;
    this.ticketKeys = keys;
    this.tlsServer.setTicketKeys(keys);
  }

  private contextOptions(material: TlsMaterial): tls.SecureContextOptions {
    return {
      key: material.key,
      cert: material.cert,
      ...(material.ca === undefined ? {} : { ca: caOption(material.ca) }),
      ...tlsServerPolicy(this.tlsProfile),
      sessionTimeout: TLS_SESSION_TIMEOUT_S,
      ...(this.ticketKeys === undefined ? {} : { ticketKeys: this.ticketKeys }),
    };
  }

  // ---- receiving ----------------------------------------------------------

  private onDatagram(buf: Buffer, rinfo: dgram.RemoteInfo): void {
    // A flooding source loses its excess before any parsing (one map lookup each).
    if (this.udpRate !== undefined && !this.udpRate.take(rinfo.address, this.clock.now())) {
      this.counters.inc('udp-source-rate');
      this.logLimit('udp-source-rate', 'udp', { address: rinfo.address, port: rinfo.port });
      return;
    }
    const source: Source = {
      transport: 'udp',
      address: normalizeAddress(rinfo.address),
      port: rinfo.port,
      local: this.udpLocal,
    };
    // Phones also send CRLF keep-alives over UDP; they need no answer.
    if (buf.every((b) => b === 0x0d || b === 0x0a)) {
      this.counters.inc('udp-keepalive');
      return;
    }
    this.handleMessageBytes(buf, source);
  }

  /** A TLS connection's TCP accept: counted now, closed if its handshake does not finish in time. */
  private acceptTls(raw: net.Socket): void {
    raw.on('error', () => raw.destroy());
    const address = normalizeAddress(raw.remoteAddress ?? '');
    const port = raw.remotePort ?? 0;
    if (!this.takeSlot('tls', raw, address, port)) return;
    this.followTicketKeys();
    this.rawTlsSockets.add(raw);
    const key = `${address}|${port}`;
    let released = false;
    const pending: PendingTls = {
      raw, address, acceptedAt: this.clock.now(),
      release: () => {
        if (released) return;
        released = true;
        this.rawTlsSockets.delete(raw);
        pending.timer?.cancel();
        if (this.pendingTls.get(key) === pending) this.pendingTls.delete(key);
        this.releaseSlot(address);
      },
    };
    this.pendingTls.set(key, pending);
    raw.once('close', pending.release);
    pending.timer = this.clock.setTimer(this.handshakeMs, () => {
      if (this.pendingTls.get(key) !== pending) return;
      this.pendingTls.delete(key);
      this.reject('handshake-timeout', 'tls', { address, port });
      raw.destroy();
    });
  }

  /**
   * Counts an accepted (or opened) connection against the per-address and
   * total limits; false (socket destroyed, rejection counted) beyond them.
   */
  private takeSlot(t: FlowName, socket: { destroy(): unknown }, address: string, port: number): boolean {
    if (address === '' || port === 0) {
      socket.destroy();
      this.reject('no-peer-address', t);
      return false;
    }
    if (this.state !== 'running' && this.state !== 'starting') {
      socket.destroy();
      return false;
    }
    if (this.connectionTotal >= this.maxConnections) {
      socket.destroy();
      this.reject('conn-limit-total', t, { address, port });
      return false;
    }
    const count = this.perAddress.get(address) ?? 0;
    if (count >= this.maxPerAddress) {
      socket.destroy();
      this.reject('conn-limit-address', t, { address, port });
      return false;
    }
    this.perAddress.set(address, count + 1);
    this.connectionTotal++;
    return true;
  }

  private releaseSlot(address: string): void {
    this.connectionTotal = Math.max(0, this.connectionTotal - 1);
    const n = (this.perAddress.get(address) ?? 1) - 1;
    if (n <= 0) this.perAddress.delete(address);
    else this.perAddress.set(address, n);
  }

  private adoptSocket(t: StreamName, socket: net.Socket, outbound: boolean, target?: Target, pending?: PendingTls): Flow | undefined {
    const address = normalizeAddress(target?.address ?? socket.remoteAddress ?? '');
    const port = target?.port ?? socket.remotePort ?? 0;
    socket.on('error', (err) => {
      // An error leaves a stream in no state worth keeping (a TLS error after
      // the handshake is only emitted, not acted on, by Node).
      // A renegotiation attempt is counted by refuseRenegotiation's own listener.
      if (!isRenegotiationError(err)) this.reject('socket-error', t, { address, port, detail: err.message });
      socket.destroy();
    });
    // A TLS connection was counted at its TCP accept (acceptTls), and is released when that socket closes.
    if (pending === undefined && !this.takeSlot(t, socket, address, port)) return undefined;
    if (pending !== undefined && (this.state !== 'running' && this.state !== 'starting')) {
      socket.destroy();
      return undefined;
    }
    const now = this.clock.now();
    const flow: Flow = {
      id: `${t}:${++this.flowSeq}`,
      transport: t,
      socket,
      address,
      port,
      peerKey: peerKeyOf(t, address, port),
      outbound,
      local: { address: normalizeAddress(socket.localAddress ?? ''), port: socket.localPort ?? 0 },
      ...freshFlowState(now),
      acceptedAt: pending?.acceptedAt ?? now,
    };
    if (socket instanceof tls.TLSSocket && !outbound) flow.tlsInfo = tlsInfoOf(socket);
    this.flows.set(flow.id, flow);
    this.byPeer.set(flow.peerKey, flow.id);
    socket.on('data', (chunk: Buffer) => this.onStreamData(flow, chunk));
    socket.on('close', () => {
      this.dropFlow(flow, pending === undefined);
      pending?.release();
    });
    this.scheduleCheck(flow);
    this.emit({ kind: 'flow-opened', reason: 'flow-opened', transport: t, address, port, flowId: flow.id });
    return flow;
  }

  private onWebSocketMessage(flow: Flow, data: Buffer): void {
    if (flow.closed) return;
    const now = this.clock.now();
    if (!this.withinRate(flow, now)) return;
    if (data.length > this.streamBufferLimit) {
      this.reject('buffer-limit', 'wss', { address: flow.address, port: flow.port, flowId: flow.id });
      flow.socket.destroy();
      return;
    }
    flow.lastActivity = now;
    if (data.length > 0 && data.every((b) => b === 0x0d || b === 0x0a)) {
      // A CRLF keep-alive as in RFC 5626 4.4.1, which some SIP WebSocket clients send as a message.
      this.counters.inc('wss-keepalive');
      if (data.length >= DOUBLE_CRLF_LENGTH) this.writeFlow(flow, PONG);
      return;
    }
    flow.messages++;
    this.handleMessageBytes(data, this.sourceOf(flow));
  }

  private onStreamData(flow: Flow, chunk: Buffer): void {
    if (flow.closed) return;
    const now = this.clock.now();
    // The buffer is replaced (and bufferedTotal updated) once framing is done.
    const joined = flow.buffer.length === 0 ? chunk : Buffer.concat([flow.buffer, chunk]);
    let offset = 0;
    let framed = 0;
    while (offset < joined.length && !flow.closed) {
      const view = joined.subarray(offset);
      const r = frameStream(view);
      if (r.kind === 'more') break;
      if (r.kind === 'error') {
        this.reject(`frame-${r.reason}`, flow.transport, { address: flow.address, port: flow.port, flowId: flow.id, detail: r.error.message });
        flow.socket.destroy();
        return;
      }
      if (r.length <= 0 || r.length > view.length) {
        this.reject('frame-internal', flow.transport, { flowId: flow.id });
        flow.socket.destroy();
        return;
      }
      offset += r.length;
      framed++;
      if (!this.withinRate(flow, now)) return;
      // RFC 5626 4.4.1: a keep-alive is activity, but not a message (it does not end the first-message wait).
      flow.lastActivity = now;
      if (r.kind === 'keepalive') {
        if (r.length >= DOUBLE_CRLF_LENGTH) this.writeFlow(flow, PONG);
        continue;
      }
      flow.messages++;
      this.handleMessageBytes(view.subarray(0, r.length), this.sourceOf(flow));
    }
    if (flow.closed) return;
    // Copy the tail so a small partial message does not pin the whole chunk it came in.
    const rest = offset === 0 ? joined : Buffer.from(joined.subarray(offset));
    this.setBuffer(flow, rest);
    if (rest.length > this.streamBufferLimit) {
      this.reject('buffer-limit', flow.transport, { address: flow.address, port: flow.port, flowId: flow.id });
      flow.socket.destroy();
      return;
    }
    if (this.bufferedTotal > this.streamBufferTotalLimit) {
      // This connection's partial message takes all of them over their total: it goes.
      this.reject('buffer-total-limit', flow.transport, { address: flow.address, port: flow.port, flowId: flow.id });
      flow.socket.destroy();
      return;
    }
    if (rest.length === 0) {
      flow.partialSince = undefined;
    } else if (framed > 0 || flow.partialSince === undefined) {
      // A new partial message starts its own wait.
      flow.partialSince = now;
      if (this.partialMs > 0 && now + this.partialMs < flow.timerDue) this.scheduleCheck(flow);
    }
  }

  /** Keeps bufferedTotal equal to the sum of the flows' buffers. */
  private setBuffer(flow: Flow, buffer: Buffer): void {
    this.bufferedTotal += buffer.length - flow.buffer.length;
    flow.buffer = buffer;
  }

  /** Fixed one-second windows: enough to stop a flood over one connection, cheap per message. */
  private withinRate(flow: Flow, now: number): boolean {
    if (now - flow.rateWindowStart >= RATE_WINDOW_MS || now < flow.rateWindowStart) {
      flow.rateWindowStart = now;
      flow.rateCount = 0;
    }
    if (++flow.rateCount <= this.maxPerSecond) return true;
    this.reject('msg-rate-limit', flow.transport, { address: flow.address, port: flow.port, flowId: flow.id });
    flow.socket.destroy();
    return false;
  }

  private sourceOf(flow: Flow): Source {
    return {
      transport: flow.transport,
      address: flow.address,
      port: flow.port,
      flowId: flow.id,
      local: flow.local,
      ...(flow.tlsInfo === undefined ? {} : { tls: flow.tlsInfo }),
    };
  }

  private handleMessageBytes(bytes: Buffer, source: Source): void {
    const t = source.transport;
    const parsed = parseMessage(bytes);
    if (!parsed.ok) {
      this.reject(`msg-${parsed.reason}`, t, { address: source.address, port: source.port, detail: parsed.error.message });
      // RFC 3261 8.2.2.1: another SIP version is answered 505, anything else 400.
      this.answerMalformed(bytes, source, parsed.reason === 'version' ? 505 : 400);
      return;
    }
    let msg = parsed.message;
    if (msg.kind === 'request') {
      const stamped = stampVia(msg, source.address, source.port);
      if (!stamped.ok) {
        this.reject(stamped.reason, t, { address: source.address, port: source.port });
        return;
      }
      msg = stamped.request;
    }
    try {
      this.onMessage(msg, source);
    } catch (e) {
      // A throwing listener is a bug above us; it must not unwind the socket.
      this.reject('listener-error', t, { detail: errorText(e) });
    }
  }

  /** Best effort (RFC 4475): answer 400 on the way the request came. */
  private answerMalformed(bytes: Buffer, source: Source, status: 400 | 505): void {
    const response = badRequestFor(bytes, this.random, status);
    if (response === undefined) return;
    let out: Buffer;
    try {
      out = serialize(response);
    } catch {
      return;
    }
    const sent = source.transport === 'udp'
      ? this.sendUdp(out, { transport: 'udp', address: source.address, port: source.port })
      : this.writeToFlowId(source.flowId, out);
    if (sent) this.counters.inc(`${source.transport}-bad-request-sent`);
  }

  // ---- sending ------------------------------------------------------------

  private sendUdp(bytes: Buffer, target: Target): boolean {
    const udp = this.udp;
    if (udp === undefined) return this.reject('send-no-listener', 'udp');
    if (bytes.length > UDP_LARGE_THRESHOLD) this.counters.inc('udp-large');
    const address = normalizeAddress(target.address);
    try {
      udp.send(bytes, target.port, address, (err) => {
        if (err) this.reject('send-error', 'udp', { address, port: target.port, detail: err.message });
      });
      return true;
    } catch (e) {
      return this.reject('send-error', 'udp', { address, port: target.port, detail: errorText(e) });
    }
  }

  private sendStream(bytes: Buffer, t: StreamName, target: Target, registrationMs?: number): boolean {
    // 1. The named flow: the connection the request came on (RFC 3261 18.2.2)
    //    or the one a registration is bound to (RFC 5626 5.3).
    let flow = target.flowId === undefined ? undefined : this.flows.get(target.flowId);
    if (flow !== undefined && (flow.closed || flow.transport !== t)) flow = undefined;
    // 2. Any live connection with that peer.
    if (flow === undefined) {
      const address = normalizeAddress(target.address);
      const id = this.byPeer.get(peerKeyOf(t, address, target.port));
      flow = id === undefined ? undefined : this.flows.get(id);
    }
    // 3. A new connection.
    flow ??= this.connect(t, target);
    if (flow === undefined) return false;
    if (registrationMs !== undefined) flow.registeredUntil = this.clock.now() + registrationMs;
    return this.writeFlow(flow, bytes);
  }

  /**
   * RFC 7118 5: the box cannot open a WebSocket toward a browser, so a
   * message for one goes over the connection it came on or registered over
   * (or any live one from that peer), or nowhere.
   */
  private sendWebSocket(bytes: Buffer, target: Target, registrationMs?: number): boolean {
    let flow = target.flowId === undefined ? undefined : this.flows.get(target.flowId);
    if (flow !== undefined && (flow.closed || flow.transport !== 'wss')) flow = undefined;
    if (flow === undefined) {
      const id = this.byPeer.get(peerKeyOf('wss', normalizeAddress(target.address), target.port));
      flow = id === undefined ? undefined : this.flows.get(id);
    }
    if (flow === undefined) return this.reject('send-no-flow', 'wss', { address: target.address, port: target.port });
    if (registrationMs !== undefined) flow.registeredUntil = this.clock.now() + registrationMs;
    return this.writeFlow(flow, bytes);
  }

  private writeToFlowId(flowId: string | undefined, bytes: Buffer): boolean {
    const flow = flowId === undefined ? undefined : this.flows.get(flowId);
    return flow !== undefined && this.writeFlow(flow, bytes);
  }

  private writeFlow(flow: Flow, bytes: Buffer): boolean {
    if (flow.closed || flow.socket.destroyed || !flow.socket.writable) return false;
    if (flow.socket.writableLength > WRITE_BACKLOG_LIMIT) {
      this.reject('write-backlog', flow.transport, { address: flow.address, port: flow.port, flowId: flow.id });
      flow.socket.destroy();
      return false;
    }
    flow.socket.write(bytes);
    return true;
  }

  private connect(t: StreamName, target: Target): Flow | undefined {
    const host = normalizeAddress(target.address);
    if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
      this.reject('send-bad-target', t, { address: host, port: target.port });
      return undefined;
    }
    let socket: net.Socket;
    // A peer the box chose to call (a trunk) proves its certificate: the name it was asked by, against its CA or the system store.
    const verify = t === 'tls' ? this.outboundTls?.(target) : undefined;
    try {
      socket = t === 'tls' && verify
        ? tls.connect({
          host,
          port: target.port,
          // SNI carries names only (RFC 6066 3); an IP is still checked against the certificate's IP SANs.
          ...(net.isIP(verify.servername) === 0 ? { servername: verify.servername } : {}),
          rejectUnauthorized: true,
          ...(verify.ca !== undefined ? { ca: verify.ca } : {}),
          ...(verify.client ? { key: verify.client.key, cert: verify.client.cert } : {}),
          minVersion: TLS_MIN_VERSION,
          ciphers: tlsServerPolicy(this.tlsProfile).ciphers,
        })
        : t === 'tls'
        ? tls.connect({
          host,
          port: target.port,
          ...(net.isIP(host) === 0 ? { servername: host } : {}),
          // The box connects to a phone only when the phone's own connection
          // is gone; phones present self-signed or no server certificates and
          // their identity was already proven by digest over the registration,
          // so the certificate is not checked on this rare path.
          rejectUnauthorized: false,
          minVersion: TLS_MIN_VERSION,
          ciphers: tlsServerPolicy(this.tlsProfile).ciphers,
        })
        : net.connect({ host, port: target.port, noDelay: true });
    } catch (e) {
      this.reject('connect-error', t, { address: host, port: target.port, detail: errorText(e) });
      return undefined;
    }
    const flow = this.adoptSocket(t, socket, true, { ...target, address: host });
    if (flow === undefined) return undefined;
    flow.connectTimer = this.clock.setTimer(CONNECT_TIMEOUT_MS, () => {
      this.reject('connect-timeout', t, { address: host, port: target.port, flowId: flow.id });
      socket.destroy();
    });
    socket.once(t === 'tls' ? 'secureConnect' : 'connect', () => {
      flow.connectTimer?.cancel();
      flow.local = { address: normalizeAddress(socket.localAddress ?? ''), port: socket.localPort ?? 0 };
    });
    return flow;
  }

  // ---- lifecycle ----------------------------------------------------------

  /** Whether the idle timeout must spare this flow now. */
  private kept(flow: Flow, now: number): boolean {
    if (flow.pinned || flow.registeredUntil > now) return true;
    try {
      return this.isFlowInUse(flow.id);
    } catch (e) {
      this.reject('listener-error', flow.transport, { flowId: flow.id, detail: errorText(e) });
      return false;
    }
  }

  /**
   * One timer per flow, set for the earliest deadline that applies: the first
   * message (inbound only: a peer we called may just answer), the partial
   * message, the idle time. It is not reset on every read: when it fires it
   * closes the flow for an overdue deadline or sets itself for the next one.
   */
  private checkFlow(flow: Flow): void {
    flow.timer = undefined;
    flow.timerDue = Infinity;
    if (flow.closed) return;
    const now = this.clock.now();
    const where = { address: flow.address, port: flow.port, flowId: flow.id };
    if (!flow.outbound && flow.messages === 0 && this.firstMessageMs > 0 && now >= flow.acceptedAt + this.firstMessageMs) {
      this.reject('first-message-timeout', flow.transport, where);
      flow.socket.destroy();
      return;
    }
    if (flow.partialSince !== undefined && this.partialMs > 0 && now >= flow.partialSince + this.partialMs) {
      this.reject('partial-timeout', flow.transport, where);
      flow.socket.destroy();
      return;
    }
    if (this.idleTimeoutMs > 0 && now - flow.lastActivity >= this.idleTimeoutMs && !this.kept(flow, now)) {
      this.reject('idle-timeout', flow.transport, where);
      flow.socket.destroy();
      return;
    }
    this.scheduleCheck(flow);
  }

  private scheduleCheck(flow: Flow): void {
    if (flow.closed) return;
    const now = this.clock.now();
    let due = Infinity;
    if (!flow.outbound && flow.messages === 0 && this.firstMessageMs > 0) due = Math.min(due, flow.acceptedAt + this.firstMessageMs);
    if (flow.partialSince !== undefined && this.partialMs > 0) due = Math.min(due, flow.partialSince + this.partialMs);
    if (this.idleTimeoutMs > 0) {
      const idleDue = flow.lastActivity + this.idleTimeoutMs;
      // A kept flow is looked at again one idle period from now.
      due = Math.min(due, idleDue > now ? idleDue : now + this.idleTimeoutMs);
    }
    flow.timer?.cancel();
    flow.timer = undefined;
    flow.timerDue = due;
    if (due === Infinity) return;
    flow.timer = this.clock.setTimer(Math.max(0, due - now), () => this.checkFlow(flow));
  }

  private dropFlow(flow: Flow, ownSlot: boolean): void {
    if (flow.closed) return;
    flow.closed = true;
    flow.timer?.cancel();
    flow.connectTimer?.cancel();
    this.setBuffer(flow, Buffer.alloc(0));
    this.flows.delete(flow.id);
    if (this.byPeer.get(flow.peerKey) === flow.id) this.byPeer.delete(flow.peerKey);
    if (ownSlot) this.releaseSlot(flow.address);
    this.emit({ kind: 'flow-closed', reason: 'flow-closed', transport: flow.transport, address: flow.address, port: flow.port, flowId: flow.id });
    try {
      this.onFlowClosed(flow.id);
    } catch (e) {
      this.reject('listener-error', flow.transport, { flowId: flow.id, detail: errorText(e) });
    }
  }

  private async closeAll(): Promise<void> {
    const flows = [...this.flows.values()];
    for (const f of flows) f.socket.destroy();
    for (const raw of this.rawTlsSockets) raw.destroy();
    for (const p of this.pendingTls.values()) p.timer?.cancel();
    const udp = this.udp;
    this.udp = undefined;
    await Promise.all([
      closeServer(this.tcpServer),
      closeServer(this.tlsServer),
      udp === undefined ? Promise.resolve() : new Promise<void>((resolve) => {
        try {
          udp.close(() => resolve());
        } catch {
          resolve();
        }
      }),
      ...flows.map((f) => (f.closed ? Promise.resolve() : new Promise<void>((resolve) => f.socket.once('close', () => resolve())))),
    ]);
  }

  // ---- counting -----------------------------------------------------------

  /** Counts `<transport>-<reason>` (or a bare global reason), tells onEvent, returns false. */
  private reject(
    reason: string,
    t: TransportName,
    extra: { address?: string | undefined; port?: number | undefined; flowId?: string; detail?: string } = {},
  ): false {
    const global = LIMIT_REASONS.has(reason) || reason === 'listener-error';
    const name = global ? reason : `${t}-${reason}`;
    this.counters.inc(name);
    if (LOGGED_REASONS.has(name)) this.logLimit(name, t, extra);
    else this.log.debug({ reason: name, ...extra }, 'sip transport rejection');
    const event: TransportEvent = {
      kind: reason.endsWith('error') ? 'error' : 'rejected',
      reason: name,
      transport: t,
      ...(extra.address === undefined ? {} : { address: extra.address }),
      ...(extra.port === undefined ? {} : { port: extra.port }),
      ...(extra.flowId === undefined ? {} : { flowId: extra.flowId }),
      ...(extra.detail === undefined ? {} : { detail: extra.detail }),
    };
    this.emit(event);
    return false;
  }

  /** A warn line per limit reason, at most one every LIMIT_LOG_EVERY_MS, saying how many were not logged. */
  private logLimit(name: string, t: TransportName, extra: { address?: string | undefined; port?: number | undefined; flowId?: string }): void {
    const now = this.clock.now();
    const last = this.limitLog.get(name);
    if (last !== undefined && now - last.at < LIMIT_LOG_EVERY_MS && now >= last.at) {
      last.suppressed++;
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.limitLog.set(name, { at: now, suppressed: 0 });
    this.log.warn({
      reason: name, transport: t, address: extra.address, port: extra.port, flowId: extra.flowId,
      ...(suppressed > 0 ? { notLoggedSinceLast: suppressed } : {}),
    }, `sip ${t} connection closed or refused: ${name}`);
  }

  private emit(event: TransportEvent): void {
    try {
      this.onEvent(event);
    } catch {
      this.counters.inc('listener-error');
    }
  }
}

/** How an outbound TLS connection to a trunk is checked (SipTransports.outboundTls). */
export interface OutboundTls {
  /** The name the certificate must carry (SNI too): the trunk's domain (RFC 5922 4). */
  readonly servername: string;
  /** PEM CA(s) the certificate must chain to; absent: Node's system store. */
  readonly ca?: string;
  /** The box's own certificate, for peers that ask for one (mutual TLS between boxes). */
  readonly client?: { readonly key: string | Buffer; readonly cert: string | Buffer };
}

/**
 * A SIP WebSocket seen as a flow's socket. A SIP message goes out as a text
 * message when its bytes are UTF-8 (RFC 7118 5.1 allows either; browser SIP
 * libraries read text), as a binary one otherwise. destroy() closes with 1008
 * (policy), since the transport closes only for a limit or an error.
 */
function wsFlowSocket(conn: SipWebSocket): FlowSocket & { once(event: 'close', fn: () => void): unknown } {
  let destroyed = false;
  const closers: (() => void)[] = [];
  conn.onClose(() => {
    destroyed = true;
    for (const fn of closers.splice(0)) fn();
  });
  return {
    get destroyed() { return destroyed || !conn.open; },
    get writable() { return !destroyed && conn.open; },
    get writableLength() { return conn.bufferedAmount; },
    write(bytes: Buffer) {
      const text = bytes.toString('utf8');
      if (Buffer.byteLength(text, 'utf8') === bytes.length && Buffer.from(text, 'utf8').equals(bytes)) conn.send(text);
      else conn.send(bytes);
      return true;
    },
    destroy() {
      if (destroyed) return;
      conn.terminate();
    },
    once(_event: 'close', fn: () => void) {
      if (destroyed) queueMicrotask(fn);
      else closers.push(fn);
    },
  };
}

function tlsInfoOf(socket: tls.TLSSocket): Source['tls'] {
  // A connection accepted while no certificate was asked for has none: {}.
  const cert = socket.getPeerCertificate();
  const fp = cert !== null && typeof cert.fingerprint256 === 'string' ? cert.fingerprint256 : undefined;
  return { authorized: socket.authorized, ...(fp === undefined ? {} : { peerFingerprint256: fp }) };
}

function caOption(ca: NonNullable<TlsMaterial['ca']>): string | Buffer | (string | Buffer)[] {
  return typeof ca === 'string' || Buffer.isBuffer(ca) ? ca : [...ca];
}

function listen(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const fail = (err: Error): void => reject(err);
    server.once('error', fail);
    server.listen({ host, port, backlog: LISTEN_BACKLOG, exclusive: true }, () => {
      server.off('error', fail);
      const a = server.address();
      resolve(typeof a === 'object' && a !== null ? a.port : port);
    });
  });
}

function closeServer(server: net.Server | undefined): Promise<void> {
  if (server === undefined || !server.listening) return Promise.resolve();
  return new Promise<void>((resolve) => server.close(() => resolve()));
}
