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
 *   conn-limit-address / conn-limit-total   connections refused
 *   idle-timeout, write-backlog, tls-handshake, <t>-socket-error, listener-error, ...
 *
 * Worst-case memory is about maxConnections * STREAM_BUFFER_LIMIT, reached only
 * when every connection holds a partial message; lower maxConnections on small boards.
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
import { badRequestFor } from './salvage.js';
import type {
  BoundPorts, Source, StartOptions, Target, TlsMaterial, TransportEvent, TransportName,
} from './types.js';
import { normalizeAddress, stampVia } from './via.js';

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
  /** Close a connection after this long without bytes in, unless pinned. 0 = never. */
  readonly idleTimeoutMs?: number;
  readonly maxConnectionsPerAddress?: number;
  readonly maxConnections?: number;
  readonly streamBufferLimit?: number;
}

type StreamName = 'tcp' | 'tls';

interface Flow {
  readonly id: string;
  readonly transport: StreamName;
  readonly socket: net.Socket;
  readonly address: string;
  readonly port: number;
  readonly peerKey: string;
  readonly outbound: boolean;
  local: { address: string; port: number };
  tlsInfo?: Source['tls'];
  buffer: Buffer;
  lastActivity: number;
  pinned: boolean;
  idleTimer?: TimerHandle;
  connectTimer?: TimerHandle;
  closed: boolean;
}

type State = 'new' | 'starting' | 'running' | 'stopped';

const peerKeyOf = (t: StreamName, address: string, port: number): string => `${t}|${address}|${port}`;

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class SipTransports {
  /** Every message that parsed and passed the transport's checks. */
  onMessage: (msg: SipMessage, source: Source) => void = () => {};
  /** A connection ended; bindings bound to it (RFC 5626) should go. */
  onFlowClosed: (flowId: string) => void = () => {};
  /** Rejections, errors and flow changes, each already counted. */
  onEvent: (event: TransportEvent) => void = () => {};

  readonly counters: Counters;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly log: Logger;
  private readonly idleTimeoutMs: number;
  private readonly maxPerAddress: number;
  private readonly maxConnections: number;
  private readonly streamBufferLimit: number;

  private state: State = 'new';
  private stopping?: Promise<void>;
  private udp?: dgram.Socket;
  private udpLocal = { address: '', port: 0 };
  private tcpServer?: net.Server;
  private tlsServer?: tls.Server;
  private tlsOptions?: { requestCert: boolean };
  private ticketKeys?: Buffer;
  private readonly flows = new Map<string, Flow>();
  private readonly byPeer = new Map<string, string>();
  private readonly perAddress = new Map<string, number>();
  /** Accepted TLS sockets, including those still in their handshake, so stop() can end them. */
  private readonly rawTlsSockets = new Set<net.Socket>();
  private flowSeq = 0;
  private boundPorts: BoundPorts = {};

  constructor(opts: TransportOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? cryptoRandom;
    this.log = opts.log ?? silentLogger;
    this.counters = opts.counters ?? new Counters();
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 0;
    this.maxPerAddress = opts.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS;
    this.maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.streamBufferLimit = opts.streamBufferLimit ?? STREAM_BUFFER_LIMIT;
  }

  get ports(): BoundPorts {
    return this.boundPorts;
  }

  get flowCount(): number {
    return this.flows.size;
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

  /** Closes one connection, e.g. when its registration is removed. */
  closeFlow(flowId: string): void {
    this.flows.get(flowId)?.socket.destroy();
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
    this.ticketKeys = this.random.bytes(48);
    this.tlsOptions = { requestCert };
    const server = tls.createServer({
      ...this.contextOptions(material),
      requestCert,
      // A client certificate is asked for, never demanded: the result goes up
      // in Source.tls and the PBX decides what a device may do.
      rejectUnauthorized: false,
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: 60_000,
    });
    server.maxConnections = this.maxConnections;
    this.tlsServer = server;
    server.on('connection', (raw: net.Socket) => {
      this.rawTlsSockets.add(raw);
      raw.once('close', () => this.rawTlsSockets.delete(raw));
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => this.adoptSocket('tls', socket, false));
    server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
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

  private contextOptions(material: TlsMaterial): tls.SecureContextOptions {
    return {
      key: material.key,
      cert: material.cert,
      ...(material.ca === undefined ? {} : { ca: caOption(material.ca) }),
      minVersion: 'TLSv1.2',
      sessionTimeout: TLS_SESSION_TIMEOUT_S,
      ...(this.ticketKeys === undefined ? {} : { ticketKeys: this.ticketKeys }),
    };
  }

  // ---- receiving ----------------------------------------------------------

  private onDatagram(buf: Buffer, rinfo: dgram.RemoteInfo): void {
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

  private adoptSocket(t: StreamName, socket: net.Socket, outbound: boolean, target?: Target): Flow | undefined {
    const address = normalizeAddress(target?.address ?? socket.remoteAddress ?? '');
    const port = target?.port ?? socket.remotePort ?? 0;
    socket.on('error', (err) => this.reject('socket-error', t, { address, port, detail: err.message }));
    if (address === '' || port === 0) {
      socket.destroy();
      this.reject('no-peer-address', t);
      return undefined;
    }
    const count = this.perAddress.get(address) ?? 0;
    if (this.state !== 'running' && this.state !== 'starting') {
      socket.destroy();
      return undefined;
    }
    if (this.flows.size >= this.maxConnections) {
      socket.destroy();
      this.reject('conn-limit-total', t, { address, port });
      return undefined;
    }
    if (count >= this.maxPerAddress) {
      socket.destroy();
      this.reject('conn-limit-address', t, { address, port });
      return undefined;
    }
    this.perAddress.set(address, count + 1);
    const flow: Flow = {
      id: `${t}:${++this.flowSeq}`,
      transport: t,
      socket,
      address,
      port,
      peerKey: peerKeyOf(t, address, port),
      outbound,
      local: { address: normalizeAddress(socket.localAddress ?? ''), port: socket.localPort ?? 0 },
      buffer: Buffer.alloc(0),
      lastActivity: this.clock.now(),
      pinned: false,
      closed: false,
    };
    if (socket instanceof tls.TLSSocket && !outbound) flow.tlsInfo = tlsInfoOf(socket, this.tlsOptions?.requestCert ?? false);
    this.flows.set(flow.id, flow);
    this.byPeer.set(flow.peerKey, flow.id);
    socket.on('data', (chunk: Buffer) => this.onStreamData(flow, chunk));
    socket.on('close', () => this.dropFlow(flow));
    this.armIdle(flow);
    this.emit({ kind: 'flow-opened', reason: 'flow-opened', transport: t, address, port, flowId: flow.id });
    return flow;
  }

  private onStreamData(flow: Flow, chunk: Buffer): void {
    if (flow.closed) return;
    flow.lastActivity = this.clock.now();
    flow.buffer = flow.buffer.length === 0 ? chunk : Buffer.concat([flow.buffer, chunk]);
    let offset = 0;
    while (offset < flow.buffer.length && !flow.closed) {
      const view = flow.buffer.subarray(offset);
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
      if (r.kind === 'keepalive') {
        if (r.length >= DOUBLE_CRLF_LENGTH) this.writeFlow(flow, PONG);
        continue;
      }
      this.handleMessageBytes(view.subarray(0, r.length), this.sourceOf(flow));
    }
    if (flow.closed) return;
    flow.buffer = offset === 0 ? flow.buffer : flow.buffer.subarray(offset);
    if (flow.buffer.length > this.streamBufferLimit) {
      this.reject('buffer-limit', flow.transport, { address: flow.address, port: flow.port, flowId: flow.id });
      flow.socket.destroy();
    }
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

  private sendStream(bytes: Buffer, t: StreamName, target: Target): boolean {
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
    try {
      socket = t === 'tls'
        ? tls.connect({
          host,
          port: target.port,
          ...(net.isIP(host) === 0 ? { servername: host } : {}),
          // The box connects to a phone only when the phone's own connection
          // is gone; phones present self-signed or no server certificates and
          // their identity was already proven by digest over the registration,
          // so the certificate is not checked on this rare path.
          rejectUnauthorized: false,
          minVersion: 'TLSv1.2',
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

  private armIdle(flow: Flow): void {
    if (this.idleTimeoutMs > 0) flow.idleTimer = this.clock.setTimer(this.idleTimeoutMs, () => this.checkIdle(flow));
  }

  /** Re-arms rather than resetting a timer on every read: one timer per idle period. */
  private checkIdle(flow: Flow): void {
    flow.idleTimer = undefined;
    if (flow.closed) return;
    const quiet = this.clock.now() - flow.lastActivity;
    if (!flow.pinned && quiet >= this.idleTimeoutMs) {
      this.reject('idle-timeout', flow.transport, { address: flow.address, port: flow.port, flowId: flow.id });
      flow.socket.destroy();
      return;
    }
    const wait = flow.pinned ? this.idleTimeoutMs : this.idleTimeoutMs - quiet;
    flow.idleTimer = this.clock.setTimer(wait, () => this.checkIdle(flow));
  }

  private dropFlow(flow: Flow): void {
    if (flow.closed) return;
    flow.closed = true;
    flow.idleTimer?.cancel();
    flow.connectTimer?.cancel();
    flow.buffer = Buffer.alloc(0);
    this.flows.delete(flow.id);
    if (this.byPeer.get(flow.peerKey) === flow.id) this.byPeer.delete(flow.peerKey);
    const n = (this.perAddress.get(flow.address) ?? 1) - 1;
    if (n <= 0) this.perAddress.delete(flow.address);
    else this.perAddress.set(flow.address, n);
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
    const global = reason.startsWith('conn-limit') || reason === 'listener-error' || reason === 'idle-timeout' || reason === 'write-backlog';
    const name = global ? reason : `${t}-${reason}`;
    this.counters.inc(name);
    this.log.debug({ reason: name, ...extra }, 'sip transport rejection');
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

  private emit(event: TransportEvent): void {
    try {
      this.onEvent(event);
    } catch {
      this.counters.inc('listener-error');
    }
  }
}

function tlsInfoOf(socket: tls.TLSSocket, requested: boolean): Source['tls'] {
  if (!requested) return { authorized: false };
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
