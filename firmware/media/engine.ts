/**
 * The media engine: one session per call, two legs per session, each leg an
 * RTP and an RTCP socket on the box. Packets that arrive on one leg go out of
 * the other leg toward its phone.
 *
 * Per packet, on the receiving leg X (nothing allocated on the RTP path):
 *   size limit -> demux by first byte (RFC 7983) -> STUN answered here (to the
 *   leg's own phone only), DTLS/ZRTP counted -> RTP header check (RFC 3550
 *   5.1) -> X's remote known and X keyed -> source check (latch) ->
 *   X.transform.unprotect -> commit latch, sequence/jitter stats -> direction
 *   -> Y keyed -> payload-type map -> Y.transform.protect -> send out of leg Y.
 *
 * Latching (symmetric RTP, RFC 4961; "comedia"): a leg first sends to the
 * address its SDP gave; the first valid RTP packet from the host that SDP
 * names becomes the send target (its port may differ: a phone behind NAT is
 * reachable only where its packets come from). Nothing latches before the
 * leg's SDP is known ('no-remote'), and a packet from any other host never
 * takes a fresh latch ('foreign-host'): a stranger spraying RTP at the media
 * ports (the "RTP bleed", CVE-2017-14099) cannot capture a new call's media
 * by sending first. After that, packets from any other source are dropped as
 * 'unexpected-source', with two ways to move the latch: an 'update' that
 * changes the leg's SDP address resets it, and a new source may take over once
 * the latched one has been silent for RELATCH_SILENCE_MS, if it sends two
 * packets in sequence (same SSRC, consecutive numbers) — a NAT rebinding does
 * that, a single spoofed packet does not. On a leg whose packets the box
 * cannot authenticate (plain RTP, end-to-end SRTP) the new source must still
 * be on the SDP's host: silence (a held phone, a pause) must not hand the
 * call to whoever sprays in sequence. On an SRTP leg the box keys, the
 * packet that moves the latch must authenticate and pass the replay window
 * of the receive context, which the move keeps: a replayed genuine packet
 * cannot move it. RTCP latches separately on its own port, from the host RTP
 * latched to once RTP has latched, before that from the SDP's host (RTCP
 * never moves the RTP latch).
 *
 * Both sockets of a leg are always bound, even when rtcp-mux is offered: an
 * answer may refuse mux (RFC 5761 5.1.1), and then the RTCP port must exist.
 * RTCP arriving on the RTP port is accepted either way.
 *
 * Security per leg (api.ts LegSecurity): an 'srtp' leg decrypts on receive
 * and encrypts on send (SrtpLeg in transform.ts), so a bridge can join SRTP
 * to RTP or two SRTP legs with different keys; a replayed or forged packet is
 * dropped there as 'srtp-replay' / 'srtp-auth' before it can move the latch.
 * An 'srtp-relay' leg carries end-to-end SRTP the box cannot read: its
 * packets pass byte for byte (no payload type rewriting, no RTCP parsing).
 * SRTP legs fail closed: a leg that is not 'rtp' gets only what the box can
 * protect for it (its own keys, or end-to-end SRTP from an 'srtp-relay' peer);
 * everything else, including all of it while the leg is 'srtp-pending', is
 * dropped as 'no-keys'. So no moment of a call (ringing, early media, a
 * re-INVITE, a rekey) sends clear media toward a leg negotiated as SRTP.
 */
import { SocketAddress, isIPv6 } from 'node:net';
import { Counters, PbxError, silentLogger, type Clock, type Logger, type TimerHandle } from '../core/index.js';
import type {
  EngineEvent, EngineReply, EngineRequest, Endpoint, LegId, LegSecurity, LegStats, LocalMedia, PayloadTypeMap,
  ReceptionReport, RemoteMedia, SessionSecurity, SessionStats,
} from './api.js';
import { classifyPacket } from './demux.js';
import { PortPairAllocator, type PortRange } from './ports.js';
import { checkRtcpCompound, inspectRtp, newRtpView, parseRtcpCompound, SourceStats, DEFAULT_CLOCK_RATE, type RtpView } from './rtp.js';
import { buildBindingSuccess, parseStun, STUN_BINDING_INDICATION, STUN_BINDING_REQUEST } from './stun.js';
import { SrtpLeg, type LegTransform, type MediaKind } from './transform.js';
import { dgramSocketFactory, type RemoteInfo, type UdpSocketFactory, type UdpSocketLike } from './udp.js';

/** Larger datagrams are not media on an Ethernet LAN; dropped as 'too-long'. */
export const MAX_MEDIA_PACKET = 1500;
export const DEFAULT_MEDIA_TIMEOUT_MS = 60_000;
/** How long the latched source must be silent before another may take over. */
export const RELATCH_SILENCE_MS = 2_000;
export const MAX_SESSION_ID = 256;

export interface MediaEngineOptions {
  /** Local address the media sockets bind to. */
  readonly bindAddress: string;
  /** Address written into SDP (LocalMedia.address): the box's LAN address. */
  readonly advertiseAddress: string;
  readonly portRange: PortRange;
  readonly clock: Clock;
  readonly socketFactory?: UdpSocketFactory;
  readonly mediaTimeoutMs?: number;
  readonly counters?: Counters;
  readonly log?: Logger;
}

export type EngineListener = (event: EngineEvent) => void;

const PT_NONE = -1;

/** An IPv4 sender on a dual-stack socket shows as ::ffff:a.b.c.d where SDP names a.b.c.d. */
function hostKey(address: string): string {
  const a = address.toLowerCase();
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/**
 * An SDP address in the form a packet's source shows: SDP may write an IPv6
 * address uncompressed or in capitals where the socket reports the canonical
 * form. Done once per SDP, not per packet.
 */
function sdpHostKey(address: string): string {
  if (!isIPv6(address)) return hostKey(address);
  try {
    return hostKey(new SocketAddress({ address, family: 'ipv6' }).address);
  } catch {
    return hostKey(address);
  }
}

/** c=0.0.0.0 (RFC 2543 hold) or :: names no host: nobody to latch from, nowhere to send. */
function unspecified(address: string): boolean {
  const k = hostKey(address);
  return k === '0.0.0.0' || k === '::' || k === '';
}

function sends(d: RemoteMedia['direction']): boolean {
  return d === 'sendrecv' || d === 'sendonly';
}
function receives(d: RemoteMedia['direction']): boolean {
  return d === 'sendrecv' || d === 'recvonly';
}

class Leg {
  rtpPort = 0;
  rtcpPort = 0;
  rtpSock: UdpSocketLike | undefined;
  rtcpSock: UdpSocketLike | undefined;
  /** What this leg's phone said in SDP. */
  remote: RemoteMedia | undefined;
  /** The hosts (hostKey form) the leg's SDP names for RTP and RTCP: the only ones that may take a fresh latch. '' = none yet. */
  sdpHost = '';
  sdpRtcpHost = '';
  /** Where RTP (and muxed RTCP) goes: the SDP address, then the latched source. Port 0 = nowhere. */
  rtpAddr = '';
  rtpPortOut = 0;
  rtcpAddr = '';
  rtcpPortOut = 0;
  latched = false;
  rtcpLatched = false;
  /** When the latched source last sent a valid RTP packet. */
  lastFromSource = 0;
  /** A new source asking to take over the latch (RELATCH rule). */
  candAddr = '';
  candPort = 0;
  candSsrc = 0;
  candSeq = -1;
  transform: LegTransform | undefined;
  /** End-to-end SRTP passes through: the header is authenticated, the payload opaque. */
  opaque = false;
  security: LegSecurity['kind'] = 'rtp';
  /** Payload type rewrite for packets sent out of this leg; PT_NONE = unchanged. */
  ptOut: Int16Array | undefined;
  readonly view: RtpView = newRtpView();
  readonly source = new SourceStats(DEFAULT_CLOCK_RATE);
  haveSsrc = false;
  ssrc = 0;
  /** Loss carried over from earlier SSRCs on this leg. */
  lostBefore = 0;
  packetsIn = 0;
  bytesIn = 0;
  packetsOut = 0;
  bytesOut = 0;
  lastPacketAt: number | undefined;
  firstPacket = false;
  remoteReport: ReceptionReport | undefined;
  readonly dropped: Record<string, number> = Object.create(null) as Record<string, number>;
  /** One callback for every send of this leg, so sending allocates no closure. */
  readonly onSent: (err: Error | null) => void;

  constructor(readonly id: LegId, onSendError: (leg: Leg) => void) {
    this.onSent = (err) => {
      if (err) onSendError(this);
    };
  }

  setRemote(remote: RemoteMedia): void {
    const prev = this.remote;
    this.remote = remote;
    const moved = !prev || prev.rtp.address !== remote.rtp.address || prev.rtp.port !== remote.rtp.port;
    const rtcpMoved = !prev || prev.rtcp.address !== remote.rtcp.address || prev.rtcp.port !== remote.rtcp.port;
    // An unspecified address (old-style hold) names nobody new: the phone is
    // still on the host it was, and the box sends nothing to 0.0.0.0 (port 0 = nowhere).
    const noRtpHost = unspecified(remote.rtp.address);
    if (!noRtpHost) this.sdpHost = sdpHostKey(remote.rtp.address);
    if (!unspecified(remote.rtcp.address)) this.sdpRtcpHost = sdpHostKey(remote.rtcp.address);
    // A changed SDP address resets the latch; a direction-only change (hold) keeps it.
    if (moved) {
      this.latched = false;
      this.rtpAddr = remote.rtp.address;
      this.rtpPortOut = noRtpHost ? 0 : remote.rtp.port;
      this.candSeq = -1;
    }
    if (moved || rtcpMoved) {
      this.rtcpLatched = false;
      this.rtcpAddr = remote.rtcp.address;
      this.rtcpPortOut = unspecified(remote.rtcp.address) ? 0 : remote.rtcp.port;
    }
  }

  /** Whether `address` is the host this leg's SDP names for RTP (any port: NAT). */
  fromSdpHost(address: string): boolean {
    return this.sdpHost !== '' && (address === this.sdpHost || hostKey(address) === this.sdpHost);
  }

  /** The same for RTCP on its own port: the a=rtcp host, or the RTP one. */
  fromSdpRtcpHost(address: string): boolean {
    return this.fromSdpHost(address) || (this.sdpRtcpHost !== '' && (address === this.sdpRtcpHost || hostKey(address) === this.sdpRtcpHost));
  }

  /**
   * Whether the box may send `from`'s media to this leg. Never in the clear to
   * a leg negotiated as SRTP: with box-held keys only once they exist, on
   * end-to-end SRTP only what comes end to end from the other phone, and
   * nothing while the keys are pending (or for a kind this code does not know).
   */
  keyedFor(from: Leg): boolean {
    switch (this.security) {
      case 'rtp': return true;
      case 'srtp': return this.transform !== undefined;
      case 'srtp-relay': return from.opaque;
      default: return false;
    }
  }

  lost(): number {
    return Math.max(0, this.lostBefore + this.source.lost);
  }
}

interface Session {
  readonly id: string;
  readonly createdAt: number;
  readonly a: Leg;
  readonly b: Leg;
  closed: boolean;
  /** The media timer runs once the callee answered. */
  answered: boolean;
  lastActivity: number;
  timer: TimerHandle | undefined;
}

export class MediaEngine {
  private readonly clock: Clock;
  private readonly counters: Counters;
  private readonly log: Logger;
  private readonly ports: PortPairAllocator;
  private readonly factory: UdpSocketFactory;
  private readonly socketType: 'udp4' | 'udp6';
  private readonly timeoutMs: number;
  private readonly sessions = new Map<string, Session>();
  private readonly pending = new Set<string>();
  private readonly listeners = new Set<EngineListener>();
  private readonly dropNames = new Map<string, string>();
  private closed = false;

  constructor(private readonly opts: MediaEngineOptions) {
    this.clock = opts.clock;
    this.counters = opts.counters ?? new Counters();
    this.log = opts.log ?? silentLogger;
    this.ports = new PortPairAllocator(opts.portRange);
    this.factory = opts.socketFactory ?? dgramSocketFactory;
    this.socketType = isIPv6(opts.bindAddress) ? 'udp6' : 'udp4';
    this.timeoutMs = opts.mediaTimeoutMs ?? DEFAULT_MEDIA_TIMEOUT_MS;
    if (!(this.timeoutMs > 0)) throw new PbxError('config', 'mediaTimeoutMs must be positive');
  }

  /** Subscribe to events; returns the unsubscribe function. */
  onEvent(listener: EngineListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async request(req: EngineRequest): Promise<EngineReply> {
    if (this.closed) throw new PbxError('invalid-state', 'media engine closed');
    switch (req.op) {
      case 'offer': return this.offer(req);
      case 'answer': {
        const s = this.session(req.sessionId);
        const remote = checkRemote(req.b);
        // Keys before the address: the first packet sent to b is already protected.
        if (req.security) this.secure(s, req.security, 'answer');
        s.b.setRemote(remote);
        s.answered = true;
        s.lastActivity = this.clock.now();
        this.armTimer(s, this.timeoutMs);
        return { op: 'answer' };
      }
      case 'update': {
        const s = this.session(req.sessionId);
        const leg = legOf(s, req.leg);
        const remote = checkRemote(req.remote);
        if (req.security) this.secure(s, req.leg === 'a' ? { a: req.security } : { b: req.security }, 'update');
        if (req.ptMap) leg.ptOut = this.checkedPtTable(s, leg, req.ptMap);
        leg.setRemote(remote);
        // A re-INVITE gives the media a fresh window (hold, resume, move).
        s.lastActivity = this.clock.now();
        if (s.answered && !s.timer) this.armTimer(s, this.timeoutMs);
        return { op: 'update' };
      }
      case 'map': {
        const s = this.session(req.sessionId);
        const aToB = req.aToB ? this.checkedPtTable(s, s.b, req.aToB) : undefined;
        const bToA = req.bToA ? this.checkedPtTable(s, s.a, req.bToA) : undefined;
        if (aToB) s.b.ptOut = aToB;
        if (bToA) s.a.ptOut = bToA;
        return { op: 'map' };
      }
      case 'delete': {
        const s = this.sessions.get(req.sessionId);
        if (s) this.closeSession(s);
        return { op: 'delete' };
      }
      case 'stats': {
        let list: Session[];
        if (req.sessionId !== undefined) list = [this.session(req.sessionId)];
        else list = [...this.sessions.values()];
        return {
          op: 'stats',
          sessions: list.map((s) => this.sessionStats(s)),
          portsInUse: this.ports.inUse,
          counters: this.mediaCounters(),
        };
      }
      default:
        throw new PbxError('protocol', `unknown media request ${String((req as { op?: unknown }).op)}`);
    }
  }

  /** Close every session and refuse further requests. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const s of [...this.sessions.values()]) this.closeSession(s);
  }

  // ------------------------------------------------------------ requests

  private async offer(req: Extract<EngineRequest, { op: 'offer' }>): Promise<EngineReply> {
    const id = req.sessionId;
    if (typeof id !== 'string' || id.length === 0 || id.length > MAX_SESSION_ID) {
      throw new PbxError('protocol', 'bad media session id');
    }
    if (this.sessions.has(id) || this.pending.has(id)) throw new PbxError('conflict', `media session ${id} exists`);
    const remoteA = req.a ? checkRemote(req.a) : undefined;
    this.pending.add(id);
    const s: Session = {
      id, createdAt: this.clock.now(), a: this.newLeg('a'), b: this.newLeg('b'),
      closed: false, answered: false, lastActivity: this.clock.now(), timer: undefined,
    };
    try {
      await this.openLeg(s, s.a);
      await this.openLeg(s, s.b);
    } catch (e) {
      this.pending.delete(id);
      this.releaseLeg(s.a);
      this.releaseLeg(s.b);
      throw e;
    }
    this.pending.delete(id);
    if (this.closed) {
      this.releaseLeg(s.a);
      this.releaseLeg(s.b);
      throw new PbxError('invalid-state', 'media engine closed');
    }
    if (remoteA) s.a.setRemote(remoteA);
    if (req.security) {
      try {
        this.secure(s, req.security, 'offer');
      } catch (e) {
        this.releaseLeg(s.a);
        this.releaseLeg(s.b);
        throw e;
      }
    }
    this.sessions.set(id, s);
    this.counters.inc('media.sessions.created');
    return { op: 'offer', a: this.localOf(s.a), b: this.localOf(s.b) };
  }

  /**
   * Apply per-leg security. Every leg's keys are checked (SrtpSession throws
   * PbxError 'config' on a bad key) before any leg changes. An 'update' may
   * not take a leg negotiated as SRTP back to plain RTP (call control refuses
   * such a re-offer too, CallKeys.reoffer): that would send the rest of the
   * call in the clear to a phone that asked for SRTP.
   */
  private secure(s: Session, sec: SessionSecurity, step: EngineRequest['op']): void {
    const plans: Array<[Leg, LegSecurity]> = [];
    if (sec.a) plans.push([s.a, checkSecurity(sec.a)]);
    if (sec.b) plans.push([s.b, checkSecurity(sec.b)]);
    for (const [leg, l] of plans) {
      if (step === 'update' && l.kind === 'rtp' && leg.security !== 'rtp') {
        this.counters.inc('media.security.downgrade-refused');
        throw new PbxError('protocol', `leg ${leg.id} is ${leg.security}: an update cannot make it plain RTP`);
      }
    }
    const built = plans.map(([leg, l]): [Leg, LegSecurity, SrtpLeg | undefined] => {
      if (l.kind !== 'srtp') return [leg, l, undefined];
      const keys = { rx: l.rx, tx: l.tx };
      if (leg.transform instanceof SrtpLeg) {
        // Check the new keys first, so a bad one leaves every leg as it was.
        SrtpLeg.check(keys);
        return [leg, l, leg.transform];
      }
      return [leg, l, new SrtpLeg(keys)];
    });
    for (const [leg, l, srtp] of built) {
      if (l.kind === 'srtp' && srtp) {
        if (srtp === leg.transform) srtp.rekey({ rx: l.rx, tx: l.tx });
        leg.transform = srtp;
      } else {
        leg.transform = undefined;
      }
      leg.opaque = l.kind === 'srtp-relay';
      if (leg.security !== l.kind) this.counters.inc(`media.security.${l.kind}`);
      leg.security = l.kind;
    }
    // Rewriting the payload type of a packet that passes through encrypted would break its tag.
    if (s.a.opaque) s.b.ptOut = undefined;
    if (s.b.opaque) s.a.ptOut = undefined;
  }

  /** A payload type map for packets sent out of `to`, refused when they come from an end-to-end SRTP leg. */
  private checkedPtTable(s: Session, to: Leg, map: PayloadTypeMap): Int16Array {
    const from = to === s.a ? s.b : s.a;
    if (from.opaque && Object.keys(map).length > 0) {
      throw new PbxError('protocol', 'payload types cannot be rewritten on end-to-end SRTP (the header is authenticated)');
    }
    return ptTable(map);
  }

  private newLeg(id: LegId): Leg {
    return new Leg(id, (leg) => this.drop(leg, 'send-error'));
  }

  private async openLeg(s: Session, leg: Leg): Promise<void> {
    const pair = await this.ports.allocate(async (rtpPort, rtcpPort) => {
      const rtp = this.factory(this.socketType);
      const rtcp = this.factory(this.socketType);
      rtp.setHandlers((m, f) => this.onDatagram(s, leg, 'rtp', m, f), (e) => this.onSocketError(e));
      rtcp.setHandlers((m, f) => this.onDatagram(s, leg, 'rtcp', m, f), (e) => this.onSocketError(e));
      try {
        await rtp.bind(rtpPort, this.opts.bindAddress);
        await rtcp.bind(rtcpPort, this.opts.bindAddress);
      } catch (e) {
        rtp.close();
        rtcp.close();
        throw e;
      }
      return { rtp, rtcp };
    });
    leg.rtpPort = pair.rtpPort;
    leg.rtcpPort = pair.rtcpPort;
    leg.rtpSock = pair.value.rtp;
    leg.rtcpSock = pair.value.rtcp;
  }

  private releaseLeg(leg: Leg): void {
    leg.rtpSock?.close();
    leg.rtcpSock?.close();
    leg.rtpSock = undefined;
    leg.rtcpSock = undefined;
    if (leg.rtpPort) this.ports.free(leg.rtpPort);
    leg.rtpPort = 0;
  }

  private closeSession(s: Session): void {
    if (s.closed) return;
    s.closed = true;
    s.timer?.cancel();
    s.timer = undefined;
    this.releaseLeg(s.a);
    this.releaseLeg(s.b);
    this.sessions.delete(s.id);
    this.counters.inc('media.sessions.deleted');
  }

  private session(id: string): Session {
    const s = this.sessions.get(id);
    if (!s) throw new PbxError('not-found', `no media session ${id}`);
    return s;
  }

  private localOf(leg: Leg): LocalMedia {
    return { address: this.opts.advertiseAddress, rtpPort: leg.rtpPort, rtcpPort: leg.rtcpPort };
  }

  // ------------------------------------------------------------ timer

  private armTimer(s: Session, ms: number): void {
    s.timer?.cancel();
    s.timer = this.clock.setTimer(ms, () => this.onTimer(s));
  }

  /**
   * The timer is not reset per packet (that would cost a timer per packet):
   * packets only stamp lastActivity, and the timer, when it fires, either
   * reports the idle session or sleeps for the rest of the window. While no
   * media can flow (both directions held or inactive), the session never times out.
   */
  private onTimer(s: Session): void {
    s.timer = undefined;
    if (s.closed) return;
    const now = this.clock.now();
    const idle = now - s.lastActivity;
    if (!mediaExpected(s)) {
      this.armTimer(s, this.timeoutMs);
      return;
    }
    if (idle >= this.timeoutMs) {
      // Fire once per idle spell; the next packet re-arms the timer.
      this.counters.inc('media.timeout');
      this.emit({ type: 'media-timeout', sessionId: s.id, idleMs: idle });
      return;
    }
    this.armTimer(s, this.timeoutMs - idle);
  }

  private activity(s: Session, now: number): void {
    s.lastActivity = now;
    if (s.answered && !s.timer && !s.closed) this.armTimer(s, this.timeoutMs);
  }

  // ------------------------------------------------------------ packet path

  private onDatagram(s: Session, leg: Leg, port: MediaKind, msg: Buffer, from: RemoteInfo): void {
    if (s.closed) return;
    try {
      leg.packetsIn++;
      leg.bytesIn += msg.length;
      if (msg.length > MAX_MEDIA_PACKET) return this.drop(leg, 'too-long');
      switch (classifyPacket(msg)) {
        case 'rtp':
          if (port === 'rtcp') return this.drop(leg, 'rtp-on-rtcp-port');
          return this.relayRtp(s, leg, msg, from);
        case 'rtcp': return this.relayRtcp(s, leg, port, msg, from);
        case 'stun': return this.answerStun(leg, port, msg, from);
        case 'dtls': return this.drop(leg, 'unhandled-dtls');
        case 'zrtp': return this.drop(leg, 'unhandled-zrtp');
        case 'turn-channel': return this.drop(leg, 'turn-channel');
        default: return this.drop(leg, 'unknown-protocol');
      }
    } catch (e) {
      // A bug on the packet path must cost a packet, not the process.
      this.counters.inc('media.packet-error');
      this.log.warn({ err: e }, 'media packet handling failed');
    }
  }

  private relayRtp(s: Session, x: Leg, msg: Buffer, from: RemoteInfo): void {
    const v = x.view;
    // Padding sits inside the encrypted payload of SRTP: it can only be checked on plain RTP.
    const bad = inspectRtp(msg, v, x.transform === undefined && !x.opaque);
    if (bad) return this.drop(x, bad);
    // Until the leg's SDP says who its phone is, whoever sends is a stranger:
    // no latch, nothing forwarded (a ringing callee's port, a late offer).
    if (!x.remote) return this.drop(x, 'no-remote');
    // SRTP the box cannot authenticate yet may neither latch nor pass.
    if (x.security === 'srtp-pending') return this.drop(x, 'no-keys');
    const now = this.clock.now();
    let takeOver = false;
    if (!x.latched) {
      // The RTP bleed: only the host the SDP names may take the first latch.
      if (!x.fromSdpHost(from.address)) return this.drop(x, 'foreign-host');
    } else if (from.port !== x.rtpPortOut || from.address !== x.rtpAddr) {
      if (!this.mayRelatch(x, from, v, now)) return this.drop(x, 'unexpected-source');
      takeOver = true;
    }
    let pkt = msg;
    if (x.transform) {
      // The same receive context whether or not the latch moves: a replay stays a replay.
      const r = x.transform.unprotect('rtp', pkt);
      if (typeof r === 'string') return this.drop(x, r);
      pkt = r;
    }
    // Committed from here on: the packet is genuine.
    if (!x.latched || takeOver) {
      if (takeOver) this.counters.inc('media.relatch');
      x.latched = true;
      x.rtpAddr = from.address;
      x.rtpPortOut = from.port;
      x.candSeq = -1;
      // The phone moved: its separate RTCP port may have moved too, so let RTCP latch afresh.
      if (takeOver) x.rtcpLatched = false;
    }
    x.lastFromSource = now;
    x.lastPacketAt = now;
    if (!x.haveSsrc || x.ssrc !== v.ssrc) {
      if (x.haveSsrc) x.lostBefore += Math.max(0, x.source.lost);
      x.source.reset();
      x.haveSsrc = true;
      x.ssrc = v.ssrc;
    }
    if (x.source.updateSeq(v.sequenceNumber)) x.source.updateJitter(now, v.timestamp);
    this.activity(s, now);
    if (!x.firstPacket) {
      x.firstPacket = true;
      this.emit({ type: 'first-packet', sessionId: s.id, leg: x.id });
    }
    if (x.remote && !sends(x.remote.direction)) return this.drop(x, 'direction');
    const y = x.id === 'a' ? s.b : s.a;
    if (!y.remote || y.rtpPortOut === 0 || !y.rtpSock) return this.drop(x, 'no-target');
    if (!y.keyedFor(x)) return this.drop(y, 'no-keys');
    if (!receives(y.remote.direction)) return this.drop(x, 'direction');
    const map = y.ptOut;
    if (map && !x.opaque) {
      const to = map[v.payloadType]!;
      if (to !== PT_NONE) pkt[1] = (pkt[1]! & 0x80) | to;
    }
    if (y.transform) {
      const r = y.transform.protect('rtp', pkt);
      if (typeof r === 'string') return this.drop(y, r);
      pkt = r;
    }
    y.packetsOut++;
    y.bytesOut += pkt.length;
    y.rtpSock.send(pkt, y.rtpPortOut, y.rtpAddr, y.onSent);
  }

  /** The RELATCH rule (see the file comment). */
  private mayRelatch(x: Leg, from: RemoteInfo, v: RtpView, now: number): boolean {
    if (now - x.lastFromSource < RELATCH_SILENCE_MS) return false;
    // Without the box's keys nothing proves who sent a packet: only the SDP's host may move.
    if (!x.transform && !x.fromSdpHost(from.address)) return false;
    if (x.candSeq >= 0 && x.candPort === from.port && x.candAddr === from.address &&
        x.candSsrc === v.ssrc && v.sequenceNumber === ((x.candSeq + 1) & 0xffff)) {
      return true;
    }
    x.candAddr = from.address;
    x.candPort = from.port;
    x.candSsrc = v.ssrc;
    x.candSeq = v.sequenceNumber;
    return false;
  }

  private relayRtcp(s: Session, x: Leg, port: MediaKind, msg: Buffer, from: RemoteInfo): void {
    let pkt = msg;
    const onRtpPort = port === 'rtp';
    if (!x.remote) return this.drop(x, 'no-remote');
    if (x.security === 'srtp-pending') return this.drop(x, 'no-keys');
    // Source check first: muxed RTCP must come from the latched RTP source,
    // RTCP on its own port from its own latched source.
    // Before RTCP latches on its own port, it must at least come from the
    // host RTP latched to (a NAT may give it a different port, not a different host),
    // and before RTP latched, from the host the SDP names.
    if (onRtpPort ? x.latched && (from.port !== x.rtpPortOut || from.address !== x.rtpAddr)
                  : x.rtcpLatched ? from.port !== x.rtcpPortOut || from.address !== x.rtcpAddr
                                  : x.latched && from.address !== x.rtpAddr) {
      return this.drop(x, 'unexpected-source');
    }
    if (!x.latched && !(onRtpPort ? x.fromSdpHost(from.address) : x.fromSdpRtcpHost(from.address))) {
      return this.drop(x, 'foreign-host');
    }
    if (x.transform) {
      const r = x.transform.unprotect('rtcp', pkt);
      if (typeof r === 'string') return this.drop(x, r);
      pkt = r;
    }
    // SRTCP relayed end to end is encrypted after its first 8 bytes: nothing to parse.
    const bad = x.opaque ? null : checkRtcpCompound(pkt);
    if (bad) return this.drop(x, `rtcp-${bad}`);
    const now = this.clock.now();
    if (!onRtpPort && !x.rtcpLatched) {
      x.rtcpLatched = true;
      x.rtcpAddr = from.address;
      x.rtcpPortOut = from.port;
    }
    x.lastPacketAt = now;
    if (!x.opaque) this.noteReport(x, pkt, now);
    this.activity(s, now);
    // RFC 3264 5.1: RTCP keeps flowing whatever the direction attribute says.
    const y = x.id === 'a' ? s.b : s.a;
    if (!y.remote) return this.drop(x, 'no-target');
    const mux = y.remote.rtcpMux;
    const sock = mux ? y.rtpSock : y.rtcpSock;
    const toPort = mux ? y.rtpPortOut : y.rtcpPortOut;
    const toAddr = mux ? y.rtpAddr : y.rtcpAddr;
    if (!sock || toPort === 0) return this.drop(x, 'no-target');
    if (!y.keyedFor(x)) return this.drop(y, 'no-keys');
    if (y.transform) {
      const r = y.transform.protect('rtcp', pkt);
      if (typeof r === 'string') return this.drop(y, r);
      pkt = r;
    }
    y.packetsOut++;
    y.bytesOut += pkt.length;
    sock.send(pkt, toPort, toAddr, y.onSent);
  }

  /** Keep the first report block of the phone's SR/RR: how it receives what we send. */
  private noteReport(x: Leg, pkt: Uint8Array, now: number): void {
    const parsed = parseRtcpCompound(pkt);
    if (!parsed.ok) return;
    for (const p of parsed.packets) {
      const block = p.reports?.[0];
      if (block) {
        x.remoteReport = {
          fractionLost: block.fractionLost,
          cumulativeLost: block.cumulativeLost,
          jitterMs: (block.jitter * 1000) / DEFAULT_CLOCK_RATE,
          at: now,
        };
        return;
      }
    }
  }

  private answerStun(leg: Leg, port: MediaKind, msg: Buffer, from: RemoteInfo): void {
    const parsed = parseStun(msg);
    if (!parsed.ok) return this.drop(leg, `stun-${parsed.reason}`);
    const m = parsed.message;
    if (m.type === STUN_BINDING_INDICATION) {
      this.counters.inc('media.stun.indication');
      return;
    }
    if (m.type !== STUN_BINDING_REQUEST) return this.drop(leg, 'stun-not-binding-request');
    // Answer the leg's own phone only: a stranger gets nothing back from the box.
    if (!leg.remote) return this.drop(leg, 'no-remote');
    if (!leg.fromSdpRtcpHost(from.address) && !(leg.latched && from.address === leg.rtpAddr)) return this.drop(leg, 'foreign-host');
    if (m.hasIntegrity) this.counters.inc('media.stun.integrity-unverified');
    const reply = buildBindingSuccess(m.transactionId, from, { fingerprint: m.hasFingerprint });
    const sock = port === 'rtp' ? leg.rtpSock : leg.rtcpSock;
    if (!reply || !sock) return this.drop(leg, 'stun-unanswerable');
    this.counters.inc('media.stun.answered');
    sock.send(reply, from.port, from.address, leg.onSent);
  }

  private drop(leg: Leg, reason: string): void {
    leg.dropped[reason] = (leg.dropped[reason] ?? 0) + 1;
    let name = this.dropNames.get(reason);
    if (!name) {
      name = `media.drop.${reason}`;
      this.dropNames.set(reason, name);
    }
    this.counters.inc(name);
  }

  private onSocketError(e: Error): void {
    this.counters.inc('media.socket-error');
    this.log.debug({ err: e }, 'media socket error');
  }

  private emit(ev: EngineEvent): void {
    for (const l of this.listeners) {
      try {
        l(ev);
      } catch (e) {
        this.counters.inc('media.listener-error');
        this.log.warn({ err: e }, 'media event listener threw');
      }
    }
  }

  // ------------------------------------------------------------ stats

  private sessionStats(s: Session): SessionStats {
    return { sessionId: s.id, createdAt: s.createdAt, a: this.legStats(s.a), b: this.legStats(s.b) };
  }

  private legStats(leg: Leg): LegStats {
    const remote: Endpoint | undefined = leg.rtpPortOut ? { address: leg.rtpAddr, port: leg.rtpPortOut } : undefined;
    return {
      local: this.localOf(leg),
      security: leg.security,
      ...(leg.transform instanceof SrtpLeg ? { suite: leg.transform.suite } : {}),
      ...(remote ? { remote } : {}),
      latched: leg.latched,
      packetsIn: leg.packetsIn,
      bytesIn: leg.bytesIn,
      packetsOut: leg.packetsOut,
      bytesOut: leg.bytesOut,
      lost: leg.lost(),
      jitterMs: leg.source.jitterMs,
      dropped: { ...leg.dropped },
      ...(leg.lastPacketAt !== undefined ? { lastPacketAt: leg.lastPacketAt } : {}),
      ...(leg.remoteReport ? { remoteReport: leg.remoteReport } : {}),
    };
  }

  private mediaCounters(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.counters.snapshot())) if (k.startsWith('media.')) out[k] = v;
    return out;
  }
}

function legOf(s: Session, id: LegId): Leg {
  if (id === 'a') return s.a;
  if (id === 'b') return s.b;
  throw new PbxError('protocol', `bad leg ${String(id)}`);
}

function mediaExpected(s: Session): boolean {
  const a = s.a.remote?.direction ?? 'sendrecv';
  const b = s.b.remote?.direction ?? 'sendrecv';
  return (sends(a) && receives(b)) || (sends(b) && receives(a));
}

const DIRECTIONS: ReadonlySet<string> = new Set(['sendrecv', 'sendonly', 'recvonly', 'inactive']);

function checkEndpoint(e: Endpoint | undefined, what: string): void {
  if (!e || typeof e.address !== 'string' || !Number.isInteger(e.port) || e.port < 0 || e.port > 65535) {
    throw new PbxError('protocol', `bad ${what} endpoint`);
  }
}

/** Requests may cross a thread boundary: check the shape rather than trust the type. */
function checkRemote(r: RemoteMedia): RemoteMedia {
  if (!r || typeof r !== 'object') throw new PbxError('protocol', 'missing remote media');
  checkEndpoint(r.rtp, 'rtp');
  checkEndpoint(r.rtcp, 'rtcp');
  if (!DIRECTIONS.has(r.direction)) throw new PbxError('protocol', `bad direction ${String(r.direction)}`);
  return { rtp: { ...r.rtp }, rtcp: { ...r.rtcp }, rtcpMux: r.rtcpMux === true, direction: r.direction };
}

const SECURITY_KINDS: ReadonlySet<string> = new Set(['rtp', 'srtp', 'srtp-relay', 'srtp-pending']);

function checkSecurity(l: LegSecurity): LegSecurity {
  if (!l || typeof l !== 'object' || !SECURITY_KINDS.has(l.kind)) throw new PbxError('protocol', 'bad leg security');
  if (l.kind === 'srtp' && (!l.rx || !l.tx || typeof l.rx !== 'object' || typeof l.tx !== 'object')) {
    throw new PbxError('protocol', 'SRTP leg security needs rx and tx keys');
  }
  return l;
}

function ptTable(map: PayloadTypeMap): Int16Array {
  const t = new Int16Array(128).fill(PT_NONE);
  for (const [k, v] of Object.entries(map)) {
    const from = Number(k);
    if (!Number.isInteger(from) || from < 0 || from > 127 || !Number.isInteger(v) || v < 0 || v > 127) {
      throw new PbxError('protocol', `bad payload type mapping ${k} -> ${String(v)}`);
    }
    t[from] = v;
  }
  return t;
}
