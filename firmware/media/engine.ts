/**
 * The media engine: sessions of any number of legs, each leg an RTP and an
 * RTCP socket on the box (leg.ts), joined by one-way connections
 * (session.ts, destination.ts). A packet that arrives on a leg (receive.ts)
 * goes out of every leg it is connected to, toward its phone.
 *
 * This file is the request handler: it checks each request (checks.ts),
 * applies it, and runs the media timer.
 *
 * Both sockets of a leg are always bound, even when rtcp-mux is offered: an
 * answer may refuse mux (RFC 5761 5.1.1), and then the RTCP port must exist.
 * RTCP arriving on the RTP port is accepted either way.
 *
 * Security per leg (api.ts LegSecurity): an 'srtp' leg decrypts on receive
 * and encrypts on send (SrtpLeg in transform.ts), so a connection can bridge
 * SRTP to RTP or two SRTP legs with different keys; a replayed or forged
 * packet is dropped there as 'srtp-replay' / 'srtp-auth' before it can move
 * the latch. An 'srtp-relay' leg carries end-to-end SRTP the box cannot
 * read: its packets pass byte for byte (no payload type rewriting, no RTCP
 * parsing). SRTP legs fail closed: a leg that is not 'rtp' gets only what the
 * box can protect for it (its own keys, or end-to-end SRTP from an
 * 'srtp-relay' leg); everything else, including all of it while the leg is
 * 'srtp-pending', is dropped as 'no-keys'. So no moment of a call (ringing,
 * early media, a re-INVITE, a rekey, a transfer) sends clear media toward a
 * leg negotiated as SRTP.
 */
import { isIPv6 } from 'node:net';
import { Counters, PbxError, cryptoRandom, isPbxError, silentLogger, type Clock, type Logger, type Random } from '../core/index.js';
import type { EngineEvent, EngineReply, EngineRequest, LegSecurity, SessionStats } from './api.js';
import {
  checkCodec, checkLegId, checkLegList, checkName, checkOptionalBoolean, checkPayloadType, checkPcm, checkRemote, checkSecurity,
  checkSessionId, checkSinkSpec, ptTable, MAX_LEGS_PER_SESSION,
} from './checks.js';
import { MAX_MIXERS_PER_SESSION, SessionMixer } from './conference.js';
import { SocketLeg, type DropCounter } from './leg.js';
import { MAX_MIXER_MEMBERS } from './mixer.js';
import { Player } from './player.js';
import { PortPairAllocator, type PortRange } from './ports.js';
import { onDatagram, type PathContext } from './receive.js';
import { Session } from './session.js';
import { MAX_TAPS_PER_SESSION, Tap, type TapSink, type TapSinkFactory } from './tap.js';
import { SrtpLeg } from './transform.js';
import type { SrtpSessionOptions } from './srtp/index.js';
import { dgramSocketFactory, type UdpSocketFactory } from './udp.js';
import { LegZrtp, type ZrtpAgentFactory, type ZrtpContext } from './zrtp-leg.js';
import { LegDtls, type DtlsAgentFactory, type DtlsContext } from './dtls-leg.js';

export { MAX_MEDIA_PACKET } from './leg.js';
export { RELATCH_SILENCE_MS } from './receive.js';
export { MAX_SESSION_ID, MAX_LEG_ID, MAX_LEGS_PER_SESSION } from './checks.js';
export const DEFAULT_MEDIA_TIMEOUT_MS = 60_000;

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
  /** SSRCs, sequence numbers and timestamps of the box's own streams (players, mixers). */
  readonly random?: Random;
  /** Makes recorder tap sinks from a 'tap' request's spec; without it 'tap' is refused ('config'). */
  readonly tapSinks?: TapSinkFactory;
  /** Makes the ZRTP agent of a leg whose security is 'zrtp' (keying/zrtp, from the composition root); without it such a leg is refused ('config'). */
  readonly zrtp?: ZrtpAgentFactory;
  /** Makes the DTLS agent of a leg whose security is 'dtls' (keying/dtls, from the composition root); without it such a leg is refused ('config'). */
  readonly dtls?: DtlsAgentFactory;
}

export type EngineListener = (event: EngineEvent) => void;

/** Whether the box can protect its own stream toward the leg (plain RTP, or SRTP under its keys). */
function boxKeyed(leg: SocketLeg): boolean {
  return leg.security === 'rtp' || (leg.security === 'srtp' && leg.transform !== undefined);
}

type Req<K extends EngineRequest['op']> = Extract<EngineRequest, { op: K }>;

export class MediaEngine {
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly counters: Counters;
  private readonly log: Logger;
  private readonly ports: PortPairAllocator;
  private readonly factory: UdpSocketFactory;
  private readonly socketType: 'udp4' | 'udp6';
  private readonly timeoutMs: number;
  private readonly sessions = new Map<string, Session>();
  private readonly listeners = new Set<EngineListener>();
  private readonly dropNames = new Map<string, string>();
  private readonly path: PathContext;
  private readonly countDrop: DropCounter;
  private readonly zrtpCtx: ZrtpContext;
  private readonly dtlsCtx: DtlsContext;
  private closed = false;

  constructor(private readonly opts: MediaEngineOptions) {
    this.clock = opts.clock;
    this.random = opts.random ?? cryptoRandom;
    this.counters = opts.counters ?? new Counters();
    this.log = opts.log ?? silentLogger;
    this.ports = new PortPairAllocator(opts.portRange);
    this.factory = opts.socketFactory ?? dgramSocketFactory;
    this.socketType = isIPv6(opts.bindAddress) ? 'udp6' : 'udp4';
    this.timeoutMs = opts.mediaTimeoutMs ?? DEFAULT_MEDIA_TIMEOUT_MS;
    if (!(this.timeoutMs > 0)) throw new PbxError('config', 'mediaTimeoutMs must be positive');
    this.countDrop = (dropped, reason) => {
      dropped[reason] = (dropped[reason] ?? 0) + 1;
      let name = this.dropNames.get(reason);
      if (!name) {
        name = `media.drop.${reason}`;
        this.dropNames.set(reason, name);
      }
      this.counters.inc(name);
    };
    this.path = {
      clock: this.clock, counters: this.counters, log: this.log,
      emit: (ev) => this.emit(ev),
      activity: (s, now) => this.activity(s, now),
      tapFailed: (s, tap, err) => this.tapFailed(s, tap, err),
    };
    this.zrtpCtx = {
      counters: this.counters,
      emit: (ev) => this.emit(ev),
      install: (leg, rx, tx) => this.applySecurity(leg, { kind: 'srtp', rx, tx }, new SrtpLeg({ rx, tx }), true),
    };
    this.dtlsCtx = {
      counters: this.counters,
      emit: (ev) => this.emit(ev),
      install: (leg, rx, tx) => this.installDtlsKeys(leg, rx, tx),
    };
  }

  /** Subscribe to events; returns the unsubscribe function. */
  onEvent(listener: EngineListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async request(req: EngineRequest): Promise<EngineReply> {
    if (this.closed) throw new PbxError('invalid-state', 'media engine closed');
    if (!req || typeof req !== 'object') throw new PbxError('protocol', 'bad media request');
    switch (req.op) {
      case 'create': return this.create(req);
      case 'add-leg': return this.addLeg(req);
      case 'update-leg': return this.updateLeg(req);
      case 'remove-leg': return this.removeLeg(req);
      case 'connect': return this.connect(req);
      case 'disconnect': {
        const s = this.session(req.sessionId);
        const [from, to] = this.pair(s, req.from, req.to);
        s.disconnect(from, to);
        return { op: 'disconnect' };
      }
      case 'delete': {
        const s = typeof req.sessionId === 'string' ? this.sessions.get(req.sessionId) : undefined;
        if (s) this.closeSession(s);
        return { op: 'delete' };
      }
      case 'stats': {
        const list = req.sessionId !== undefined ? [this.session(req.sessionId)] : [...this.sessions.values()];
        return {
          op: 'stats',
          sessions: list.map((s): SessionStats => s.stats(this.opts.advertiseAddress)),
          portsInUse: this.ports.inUse,
          counters: this.mediaCounters(),
        };
      }
      case 'play': return this.play(req);
      case 'stop-play': {
        const leg = this.session(req.sessionId).leg(checkLegId(req.leg));
        this.stopPlayer(leg);
        return { op: 'stop-play' };
      }
      case 'move-leg': return this.moveLeg(req);
      case 'tap': return this.tap(req);
      case 'untap': {
        const s = this.session(req.sessionId);
        const t = s.taps.get(checkName(req.tapId, 'tap id'));
        if (t) this.removeTap(s, t);
        return { op: 'untap' };
      }
      case 'mix': return this.mix(req);
      case 'zrtp-verified': {
        const leg = this.session(req.sessionId).leg(checkLegId(req.leg));
        const verified = checkOptionalBoolean(req.verified, 'verified');
        if (leg.zrtp?.state !== 'secure') throw new PbxError('invalid-state', `leg ${leg.id} has no secure ZRTP exchange`);
        leg.zrtp.agent.setSasVerified(verified);
        return { op: 'zrtp-verified' };
      }
      case 'unmix': {
        const s = this.session(req.sessionId);
        const m = s.mixers.get(checkName(req.mixer, 'mixer name'));
        const leg = s.legs.get(checkLegId(req.leg));
        if (m && leg) this.leaveMixer(s, m, leg);
        return { op: 'unmix' };
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

  private create(req: Req<'create'>): EngineReply {
    const id = checkSessionId(req.sessionId);
    if (this.sessions.has(id)) throw new PbxError('conflict', `media session ${id} exists`);
    const s = new Session(id, this.clock.now());
    this.sessions.set(id, s);
    // The timer sleeps while no connection can carry media (a ringing callee has no SDP yet).
    this.armTimer(s, this.timeoutMs);
    this.counters.inc('media.sessions.created');
    return { op: 'create' };
  }

  private async addLeg(req: Req<'add-leg'>): Promise<EngineReply> {
    const s = this.session(req.sessionId);
    const id = checkLegId(req.leg);
    const remote = req.remote !== undefined ? checkRemote(req.remote) : undefined;
    const security = req.security !== undefined ? checkSecurity(req.security) : undefined;
    checkOptionalBoolean(req.rtcpMux, 'rtcpMux');
    if (s.hasLeg(id)) throw new PbxError('conflict', `leg ${id} exists in media session ${s.id}`);
    if (s.legs.size + s.opening.size >= MAX_LEGS_PER_SESSION) throw new PbxError('limit', 'too many legs in one media session');
    // Keys first (PbxError 'config' on a bad one), before a port is taken.
    const srtp = security?.kind === 'srtp' ? new SrtpLeg({ rx: security.rx, tx: security.tx }) : undefined;
    if (security?.kind === 'zrtp') this.needZrtp();
    if (security?.kind === 'dtls') this.needDtls();
    const leg = new SocketLeg(id, this.countDrop, s);
    s.opening.add(id);
    try {
      await this.openLeg(s, leg);
    } finally {
      s.opening.delete(id);
    }
    if (s.closed || this.closed) {
      // Deleted while its ports were being opened: nothing may stay bound.
      this.releaseLeg(leg);
      throw this.closed ? new PbxError('invalid-state', 'media engine closed') : new PbxError('not-found', `media session ${s.id} was deleted`);
    }
    if (remote) leg.setRemote(remote);
    if (security) {
      try {
        this.applySecurity(leg, security, srtp);
      } catch (e) {
        // A DTLS spec the agent factory refuses: nothing may stay bound.
        this.releaseLeg(leg);
        throw e;
      }
    }
    leg.zrtp?.maybeStart();
    leg.dtls?.maybeStart();
    s.legs.set(id, leg);
    return { op: 'add-leg', leg: id, local: leg.local(this.opts.advertiseAddress) };
  }

  private updateLeg(req: Req<'update-leg'>): EngineReply {
    const s = this.session(req.sessionId);
    const leg = s.leg(checkLegId(req.leg));
    const remote = req.remote !== undefined ? checkRemote(req.remote) : undefined;
    const security = req.security !== undefined ? checkSecurity(req.security) : undefined;
    const answer = checkOptionalBoolean(req.answer, 'answer');
    // Keys before the address: the first packet sent to a new address is already protected.
    if (security) this.secure(leg, security, answer);
    // The box lost the keys it would protect its own streams with.
    if (security && !boxKeyed(leg)) this.dropOwnStreams(s, leg);
    if (remote) leg.setRemote(remote);
    leg.zrtp?.maybeStart();
    leg.dtls?.maybeStart();
    // A re-INVITE gives the media a fresh window (hold, resume, move).
    this.freshWindow(s);
    return { op: 'update-leg' };
  }

  private removeLeg(req: Req<'remove-leg'>): EngineReply {
    const s = this.session(req.sessionId);
    const id = checkLegId(req.leg);
    if (s.opening.has(id)) throw new PbxError('invalid-state', `leg ${id} is still being opened`);
    const leg = s.leg(id);
    this.dropFeatures(s, leg);
    s.detach(leg);
    this.releaseLeg(leg);
    return { op: 'remove-leg' };
  }

  private connect(req: Req<'connect'>): EngineReply {
    const s = this.session(req.sessionId);
    const [from, to] = this.pair(s, req.from, req.to);
    const pt = req.ptMap !== undefined ? ptTable(req.ptMap) : undefined;
    if (pt && from.opaque && Object.keys(pt.map).length > 0) {
      throw new PbxError('protocol', 'payload types cannot be rewritten on end-to-end SRTP (the header is authenticated)');
    }
    s.connect(from, to, pt?.map, pt?.table);
    // Whoever was joined gets a full window before the timer may call the media dead.
    this.freshWindow(s);
    return { op: 'connect' };
  }

  /** The two ends of a connection: well-formed, distinct, and both in the session. */
  private pair(s: Session, fromId: unknown, toId: unknown): [SocketLeg, SocketLeg] {
    const f = checkLegId(fromId, 'from leg');
    const t = checkLegId(toId, 'to leg');
    if (f === t) throw new PbxError('protocol', 'a leg cannot be connected to itself');
    return [s.leg(f), s.leg(t)];
  }

  /**
   * Security on an existing leg. An update may not take a leg negotiated as
   * SRTP back to plain RTP (call control refuses such a re-offer too,
   * CallKeys.reoffer): that would send the rest of the call in the clear to a
   * phone that asked for SRTP. Only the answer may settle a pending leg as
   * plain RTP (a best-effort SRTP offer answered without keys). New keys are
   * checked before anything changes (SrtpSession throws PbxError 'config').
   */
  private secure(leg: SocketLeg, l: LegSecurity, answer: boolean): void {
    if (l.kind === 'rtp' && leg.security !== 'rtp' && !(answer && leg.security === 'srtp-pending')) {
      this.counters.inc('media.security.downgrade-refused');
      throw new PbxError('protocol', `leg ${leg.id} is ${leg.security}: an update cannot make it plain RTP`);
    }
    let srtp: SrtpLeg | undefined;
    if (l.kind === 'srtp') {
      const keys = { rx: l.rx, tx: l.tx };
      if (leg.transform instanceof SrtpLeg) {
        // rekey builds both new sessions before it changes anything.
        leg.transform.rekey(keys);
        srtp = leg.transform;
      } else {
        srtp = new SrtpLeg(keys);
      }
    }
    this.applySecurity(leg, l, srtp);
  }

  /** `fromZrtp`: the keys the leg's own ZRTP exchange derived; any other security ends that exchange. */
  private applySecurity(leg: SocketLeg, l: LegSecurity, srtp: SrtpLeg | undefined, fromZrtp = false): void {
    if (l.kind === 'zrtp') return this.zrtpSecurity(leg, l);
    if (l.kind === 'dtls') return this.dtlsSecurity(leg, l);
    if (leg.zrtp && !fromZrtp) {
      leg.zrtp.close();
      leg.zrtp = undefined;
    }
    // Any other security ends the leg's DTLS association (installDtlsKeys keeps it aside).
    leg.dtls?.close();
    leg.dtls = undefined;
    leg.transform = l.kind === 'srtp' ? srtp : undefined;
    leg.opaque = l.kind === 'srtp-relay';
    if (leg.security !== l.kind) this.counters.inc(`media.security.${l.kind}`);
    leg.security = l.kind;
    // Rewriting the payload type of a packet that passes through encrypted would break its tag.
    if (leg.opaque) for (const c of leg.outs) c.setMap(undefined, undefined);
  }

  /**
   * A leg the box runs ZRTP on: the same Hello keeps the exchange (and, once
   * secure, its keys); a new one replaces it and the leg waits for its keys
   * again ('srtp-pending': nothing passes in the clear meanwhile).
   */
  private zrtpSecurity(leg: SocketLeg, l: Extract<LegSecurity, { kind: 'zrtp' }>): void {
    if (leg.zrtp?.sameHello(l.zrtp)) {
      leg.zrtp.peerHash(l.zrtp.peerHelloHash);
      return;
    }
    const factory = this.needZrtp();
    leg.zrtp?.close();
    leg.zrtp = undefined;
    this.applySecurity(leg, { kind: 'srtp-pending' }, undefined);
    leg.zrtp = new LegZrtp(leg, l.zrtp, factory, this.zrtpCtx);
    this.counters.inc('media.security.zrtp');
  }

  private needZrtp(): ZrtpAgentFactory {
    if (!this.opts.zrtp) throw new PbxError('config', 'the media engine has no ZRTP (no agent factory)');
    return this.opts.zrtp;
  }

  /**
   * A leg the box runs DTLS-SRTP on (dtls-leg.ts): the same association
   * keeps the handshake (and, once done, its keys), taking new ICE
   * credentials (an ICE restart); a new one starts a new handshake. Before
   * any handshake completed the leg is 'srtp-pending'; a restart keeps the
   * keys of the association before until the new one completes.
   */
  private dtlsSecurity(leg: SocketLeg, l: Extract<LegSecurity, { kind: 'dtls' }>): void {
    const old = leg.dtls;
    if (old?.sameAssociation(l.dtls)) {
      old.updateIce(l.dtls.ice);
      return;
    }
    const factory = this.needDtls();
    const keyedBefore = old?.state === 'connected' && leg.security === 'srtp';
    const next = new LegDtls(leg, l.dtls, factory, this.dtlsCtx);
    old?.close();
    leg.dtls = undefined;
    if (!keyedBefore) this.applySecurity(leg, { kind: 'srtp-pending' }, undefined);
    leg.dtls = next;
    // The address ICE chose stays chosen across a DTLS restart on the same leg.
    if (old?.iceSelected) next.iceSelected = true;
    this.counters.inc(keyedBefore ? 'media.dtls.restart' : 'media.security.dtls');
  }

  /** The handshake of the leg's association in force completed: its keys become the leg's SRTP keys. */
  private installDtlsKeys(leg: SocketLeg, rx: SrtpSessionOptions, tx: SrtpSessionOptions): void {
    const d = leg.dtls;
    const keys = { rx, tx };
    const srtp = leg.transform instanceof SrtpLeg ? (leg.transform.rekey(keys), leg.transform) : new SrtpLeg(keys);
    leg.dtls = undefined;
    this.applySecurity(leg, { kind: 'srtp', rx, tx }, srtp);
    leg.dtls = d;
  }

  private needDtls(): DtlsAgentFactory {
    if (!this.opts.dtls) throw new PbxError('config', 'the media engine has no DTLS-SRTP (no agent factory)');
    return this.opts.dtls;
  }

  private async openLeg(s: Session, leg: SocketLeg): Promise<void> {
    const pair = await this.ports.allocate(async (rtpPort, rtcpPort) => {
      const rtp = this.factory(this.socketType);
      const rtcp = this.factory(this.socketType);
      // The leg's session is read per datagram: move-leg changes it.
      rtp.setHandlers((m, f) => onDatagram(this.path, leg.session, leg, 'rtp', m, f), (e) => this.onSocketError(e));
      rtcp.setHandlers((m, f) => onDatagram(this.path, leg.session, leg, 'rtcp', m, f), (e) => this.onSocketError(e));
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

  private releaseLeg(leg: SocketLeg): void {
    leg.closed = true;
    leg.dtls?.close();
    leg.dtls = undefined;
    this.stopPlayer(leg);
    leg.zrtp?.close();
    leg.zrtp = undefined;
    leg.outs = [];
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
    for (const m of s.mixers.values()) m.close();
    s.mixers.clear();
    for (const t of [...s.taps.values()]) this.removeTap(s, t);
    for (const leg of s.legs.values()) this.releaseLeg(leg);
    s.legs.clear();
    this.sessions.delete(s.id);
    this.counters.inc('media.sessions.deleted');
  }

  // ------------------------------------------------------------ the box's own streams, taps

  private play(req: Req<'play'>): EngineReply {
    const s = this.session(req.sessionId);
    const leg = s.leg(checkLegId(req.leg));
    const pcm = checkPcm(req.pcm);
    const codec = checkCodec(req.codec);
    const payloadType = checkPayloadType(req.payloadType);
    const loop = req.loop === undefined ? true : checkOptionalBoolean(req.loop, 'loop');
    this.needBoxKeys(leg, 'play music or a prompt on it');
    if (leg.member) throw new PbxError('invalid-state', `leg ${leg.id} is in mixer ${leg.member.mixer.name}: unmix it first`);
    this.stopPlayer(leg);
    const player: Player = new Player({
      into: leg, pcm, codec, payloadType, loop, clock: this.clock, random: this.random,
      onEnd: () => this.playEnded(leg, player),
      onError: (e) => this.frameError('play', e),
    });
    leg.player = player;
    leg.exclusive = player;
    this.counters.inc('media.play.started');
    player.start();
    return { op: 'play' };
  }

  private playEnded(leg: SocketLeg, player: Player): void {
    if (leg.player !== player) return;
    this.stopPlayer(leg);
    this.emit({ type: 'play-ended', sessionId: leg.session.id, leg: leg.id });
  }

  private stopPlayer(leg: SocketLeg): void {
    const p = leg.player;
    if (!p) return;
    p.stop();
    leg.player = undefined;
    if (leg.exclusive === p) leg.exclusive = undefined;
    this.counters.inc('media.play.stopped');
  }

  /**
   * The box's own streams need the leg's keys: it can protect what it sends
   * on an 'rtp' leg (nothing to do) or an 'srtp' leg it keys, never on
   * end-to-end SRTP or before the keys came.
   */
  private needBoxKeys(leg: SocketLeg, what: string): void {
    if (boxKeyed(leg)) return;
    const why = leg.security === 'srtp-relay'
      ? 'it carries end-to-end SRTP and the box has no keys to decrypt or protect an end-to-end encrypted leg'
      : leg.security === 'srtp-pending' ? 'its SRTP keys are not known yet, so the box cannot protect anything toward it'
        : 'the box holds no keys for it';
    throw new PbxError('invalid-state', `leg ${leg.id} is ${leg.security}: ${why}; cannot ${what}`);
  }

  /** Players and mixer membership end when the box can no longer protect them. */
  private dropOwnStreams(s: Session, leg: SocketLeg): void {
    this.stopPlayer(leg);
    if (leg.member) this.leaveMixer(s, leg.member.mixer, leg);
  }

  /** Everything of the leg's in its session besides its connections: player, mixer, taps. */
  private dropFeatures(s: Session, leg: SocketLeg): void {
    this.dropOwnStreams(s, leg);
    for (const t of leg.taps) t.legs = t.legs.filter((l) => l !== leg);
    leg.taps = [];
  }

  private moveLeg(req: Req<'move-leg'>): EngineReply {
    const from = this.session(req.sessionId);
    const id = checkLegId(req.leg);
    const to = this.session(req.toSessionId);
    const as = req.as === undefined ? id : checkLegId(req.as, 'as leg');
    if (from.opening.has(id)) throw new PbxError('invalid-state', `leg ${id} is still being opened`);
    const leg = from.leg(id);
    if (from === to && as === id) throw new PbxError('protocol', `leg ${id} is already in media session ${to.id}`);
    if (to.hasLeg(as)) throw new PbxError('conflict', `leg ${as} exists in media session ${to.id}`);
    if (to !== from && to.legs.size + to.opening.size >= MAX_LEGS_PER_SESSION) throw new PbxError('limit', 'too many legs in one media session');
    this.dropFeatures(from, leg);
    from.detach(leg);
    leg.id = as;
    leg.session = to;
    to.legs.set(as, leg);
    // Neither session may call its media dead because a leg changed hands.
    this.freshWindow(from);
    this.freshWindow(to);
    this.counters.inc('media.leg.moved');
    return { op: 'move-leg' };
  }

  private tap(req: Req<'tap'>): EngineReply {
    const s = this.session(req.sessionId);
    const id = checkName(req.tapId, 'tap id');
    const legs = checkLegList(req.legs).map((l) => s.leg(l));
    const { spec, json } = checkSinkSpec(req.sink);
    const factory = this.opts.tapSinks;
    if (!factory) throw new PbxError('config', 'the media engine has no recorder (no tap sink factory)');
    let tap = s.taps.get(id);
    if (tap) {
      if (tap.specJson !== json) throw new PbxError('conflict', `tap ${id} exists with another sink`);
    } else {
      if (s.taps.size >= MAX_TAPS_PER_SESSION) throw new PbxError('limit', 'too many taps in one media session');
      tap = new Tap(id, this.makeSink(factory, spec), json);
      s.taps.set(id, tap);
      this.counters.inc('media.tap.opened');
    }
    const t = tap;
    for (const l of t.legs) if (!legs.includes(l)) l.taps = l.taps.filter((x) => x !== t);
    for (const l of legs) if (!l.taps.includes(t)) l.taps = [...l.taps, t];
    t.legs = legs;
    return { op: 'tap' };
  }

  private makeSink(factory: TapSinkFactory, spec: Readonly<Record<string, unknown>>): TapSink {
    let sink: TapSink;
    try {
      sink = factory(spec);
    } catch (e) {
      this.counters.inc('media.tap.factory-error');
      if (isPbxError(e)) throw e;
      this.log.warn({ err: e }, 'tap sink factory failed');
      throw new PbxError('config', 'the recorder could not open a sink for this tap');
    }
    if (!sink || typeof sink.packet !== 'function' || typeof sink.close !== 'function') {
      this.counters.inc('media.tap.factory-error');
      throw new PbxError('config', 'the tap sink factory returned no sink');
    }
    return sink;
  }

  private removeTap(s: Session, tap: Tap): void {
    if (s.taps.get(tap.id) === tap) s.taps.delete(tap.id);
    for (const l of tap.legs) l.taps = l.taps.filter((x) => x !== tap);
    tap.legs = [];
    try {
      tap.close();
    } catch (e) {
      this.counters.inc('media.tap.close-error');
      this.log.warn({ err: e }, 'tap sink close failed');
    }
  }

  private tapFailed(s: Session, tap: Tap, err: unknown): void {
    if (tap.closed) return;
    this.counters.inc('media.tap.sink-error');
    this.log.warn({ err }, 'tap sink threw: tap removed');
    this.removeTap(s, tap);
    this.emit({ type: 'tap-closed', sessionId: s.id, tapId: tap.id, reason: 'sink-error' });
  }

  private mix(req: Req<'mix'>): EngineReply {
    const s = this.session(req.sessionId);
    const name = checkName(req.mixer, 'mixer name');
    const leg = s.leg(checkLegId(req.leg));
    const codec = checkCodec(req.codec);
    const payloadType = checkPayloadType(req.payloadType);
    this.needBoxKeys(leg, 'mix it into a conference');
    if (leg.player) throw new PbxError('invalid-state', `a player plays into leg ${leg.id}: stop-play first`);
    if (leg.member && leg.member.mixer.name !== name) throw new PbxError('conflict', `leg ${leg.id} is in mixer ${leg.member.mixer.name}`);
    let m = s.mixers.get(name);
    if (!m) {
      if (s.mixers.size >= MAX_MIXERS_PER_SESSION) throw new PbxError('limit', 'too many mixers in one media session');
      m = new SessionMixer(name, this.clock, this.random, (e) => this.frameError('mix', e));
      s.mixers.set(name, m);
      this.counters.inc('media.mix.created');
    } else if (!m.members.has(leg) && m.members.size >= MAX_MIXER_MEMBERS) {
      throw new PbxError('limit', 'too many members in one mixer');
    }
    m.add(leg, codec, payloadType);
    this.freshWindow(s);
    return { op: 'mix' };
  }

  private leaveMixer(s: Session, m: SessionMixer, leg: SocketLeg): void {
    if (m.remove(leg) && s.mixers.get(m.name) === m) s.mixers.delete(m.name);
  }

  private frameError(what: string, e: unknown): void {
    this.counters.inc(`media.${what}.error`);
    this.log.warn({ err: e }, `media ${what} frame failed`);
  }

  private session(id: unknown): Session {
    const s = typeof id === 'string' ? this.sessions.get(id) : undefined;
    if (!s) throw new PbxError(typeof id === 'string' ? 'not-found' : 'protocol', `no media session ${String(id)}`);
    return s;
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
   * media can flow (no connection from a sending phone to a receiving one:
   * ringing, held both ways, parked), the session never times out.
   */
  private onTimer(s: Session): void {
    s.timer = undefined;
    if (s.closed) return;
    const now = this.clock.now();
    const idle = now - s.lastActivity;
    if (!s.mediaExpected()) {
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
    if (!s.timer && !s.closed) this.armTimer(s, this.timeoutMs);
  }

  private freshWindow(s: Session): void {
    this.activity(s, this.clock.now());
  }

  // ------------------------------------------------------------ misc

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

  private mediaCounters(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.counters.snapshot())) if (k.startsWith('media.')) out[k] = v;
    return out;
  }
}
