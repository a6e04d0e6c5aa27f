/**
 * ZRTP (RFC 6189) on a leg's media port, the engine's side of it.
 *
 * ZRTP runs in the media path: its packets share the leg's RTP port (first
 * byte 0x10 and the 'ZRTP' cookie, demux.ts) and its keys become the leg's
 * SRTP keys. Two cases:
 *
 * - The box terminates ZRTP on the leg (LegSecurity 'zrtp'): an agent made
 *   by the injected ZrtpAgentFactory (the protocol lives in keying/zrtp,
 *   which sits above media and so cannot be imported here) gets the phone's
 *   ZRTP packets and sends its own through the leg's RTP socket; its timers
 *   run on the engine's clock. Until the exchange is secure the leg is
 *   'srtp-pending' (nothing passes either way, 'no-keys'); then the engine
 *   installs the SRTP keys ZRTP derived (RFC 6189 4.5.3) as the leg's
 *   'srtp' keys and raises a 'keying' event with the SAS and the cache
 *   state, never a key.
 * - The leg relays end-to-end SRTP ('srtp-relay'): the phones run ZRTP with
 *   each other through the box. ZRTP packets from such a leg go byte for
 *   byte to every connected 'srtp-relay' leg, nowhere else.
 *
 * Either way a ZRTP packet is taken only from the leg's own phone: before
 * RTP latched, from the host its SDP names; after, from the latched host
 * ('foreign-host' otherwise), so a stranger cannot talk ZRTP on a call's port.
 */
import type { Counters } from '../core/index.js';
import type { EngineEvent, ZrtpKeyingInfo, ZrtpLegSpec } from './api.js';
import { SocketLeg } from './leg.js';
import type { Session } from './session.js';
import type { SrtpSessionOptions } from './srtp/index.js';
import type { RemoteInfo } from './udp.js';

/** What the agent reports once ZRTP is secure: the SRTP keys (for the engine only) and what may be shown. */
export interface ZrtpAgentSecure {
  readonly rx: SrtpSessionOptions;
  readonly tx: SrtpSessionOptions;
  readonly info: ZrtpKeyingInfo;
}

/** How an agent speaks through its leg. */
export interface ZrtpAgentHooks {
  send(packet: Buffer): void;
  secure(result: ZrtpAgentSecure): void;
  failed(reason: string): void;
}

/** One ZRTP endpoint on one leg, as the engine drives it. `receive` never throws. */
export interface ZrtpAgent {
  start(): void;
  receive(packet: Buffer): void;
  /** The phone's a=zrtp-hash came (or changed) after the agent was made. */
  setPeerHelloHash(value: string): void;
  /** The admin or the phone's user confirmed (or revoked) the SAS (RFC 6189 7.1). */
  setSasVerified(verified: boolean): void;
  close(): void;
}

/** Built at the composition root from keying/zrtp: the box's ZID, its cache, clock and randomness live behind it. */
export type ZrtpAgentFactory = (spec: ZrtpLegSpec, hooks: ZrtpAgentHooks) => ZrtpAgent;

/** What the ZRTP glue needs of the engine. */
export interface ZrtpContext {
  readonly counters: Counters;
  emit(ev: EngineEvent): void;
  /** Give the leg its ZRTP-derived SRTP keys (its security becomes 'srtp'). */
  install(leg: SocketLeg, rx: SrtpSessionOptions, tx: SrtpSessionOptions): void;
}

export type ZrtpLegState = 'negotiating' | 'secure' | 'failed';

/** A leg's ZRTP agent and what the engine keeps about it. */
export class LegZrtp {
  readonly agent: ZrtpAgent;
  state: ZrtpLegState = 'negotiating';
  private started = false;
  /** Where the phone's last accepted ZRTP packet came from: replies go there until RTP latches. */
  private peerAddr = '';
  private peerPort = 0;
  private peerHelloHash: string | undefined;

  constructor(readonly leg: SocketLeg, readonly spec: ZrtpLegSpec, factory: ZrtpAgentFactory, private readonly ctx: ZrtpContext) {
    this.peerHelloHash = spec.peerHelloHash;
    this.agent = factory(spec, {
      send: (p) => this.send(p),
      secure: (r) => this.onSecure(r),
      failed: (reason) => this.onFailed(reason),
    });
  }

  /** The same Hello (same H0) as the agent in place: a re-offer that keeps the leg's ZRTP. */
  sameHello(spec: ZrtpLegSpec): boolean {
    return Buffer.from(spec.h0).equals(Buffer.from(this.spec.h0)) && (spec.mitm === true) === (this.spec.mitm === true);
  }

  /** A later SDP brought the phone's a=zrtp-hash (or the same again). */
  peerHash(value: string | undefined): void {
    if (value === undefined || value === this.peerHelloHash) return;
    this.peerHelloHash = value;
    this.agent.setPeerHelloHash(value);
  }

  /** Start sending Hello once the leg knows where its phone is. */
  maybeStart(): void {
    if (this.started || this.leg.closed || this.leg.rtpPortOut === 0 || !this.leg.rtpSock) return;
    this.started = true;
    this.agent.start();
  }

  receive(packet: Buffer, from: RemoteInfo): void {
    this.peerAddr = from.address;
    this.peerPort = from.port;
    this.maybeStart();
    this.agent.receive(packet);
  }

  close(): void {
    this.agent.close();
  }

  private send(packet: Buffer): void {
    const leg = this.leg;
    const sock = leg.rtpSock;
    // RTP latched: the phone's media source is where it listens. Before that, answer where its ZRTP came from.
    const useLatch = leg.latched || this.peerPort === 0;
    const port = useLatch ? leg.rtpPortOut : this.peerPort;
    const addr = useLatch ? leg.rtpAddr : this.peerAddr;
    if (leg.closed || !sock || port === 0) return leg.drop('zrtp-no-target');
    leg.packetsOut++;
    leg.bytesOut += packet.length;
    this.ctx.counters.inc('media.zrtp.sent');
    sock.send(packet, port, addr, leg.onSent);
  }

  private onSecure(r: ZrtpAgentSecure): void {
    if (this.leg.closed || this.leg.zrtp !== this) return;
    this.state = 'secure';
    this.ctx.install(this.leg, r.rx, r.tx);
    this.ctx.counters.inc('media.zrtp.secure');
    this.ctx.emit({ type: 'keying', sessionId: this.leg.session.id, leg: this.leg.id, state: 'done', zrtp: r.info });
  }

  private onFailed(reason: string): void {
    if (this.leg.closed || this.leg.zrtp !== this) return;
    this.state = 'failed';
    this.ctx.counters.inc('media.zrtp.failed');
    this.ctx.emit({ type: 'keying', sessionId: this.leg.session.id, leg: this.leg.id, state: 'failed', reason: `zrtp: ${reason}` });
  }
}

/** The leg's own phone: the latched host once RTP latched, else the host its SDP names. */
function fromOwnPhone(leg: SocketLeg, from: RemoteInfo): boolean {
  return leg.latched ? from.address === leg.rtpAddr : leg.fromSdpHost(from.address);
}

/** A datagram classified as ZRTP arrived on the leg's RTP port (receive.ts). */
export function receiveZrtp(_s: Session, leg: SocketLeg, packet: Buffer, from: RemoteInfo): void {
  if (!leg.remote) return leg.drop('no-remote');
  if (!fromOwnPhone(leg, from)) return leg.drop('foreign-host');
  const z = leg.zrtp;
  if (z) return z.receive(packet, from);
  if (leg.opaque) return relayZrtp(leg, packet);
  // Nobody runs ZRTP here: plain RTP, SDES or DTLS on this leg.
  return leg.drop('unhandled-zrtp');
}

/** End-to-end ZRTP: the packet goes untouched to every connected leg that relays end-to-end SRTP. */
function relayZrtp(leg: SocketLeg, packet: Buffer): void {
  let sent = 0;
  for (const c of leg.outs) {
    const to = c.to;
    if (!(to instanceof SocketLeg) || !to.opaque) continue;
    if (!to.rtpSock || to.rtpPortOut === 0) { leg.drop('no-target'); continue; }
    to.packetsOut++;
    to.bytesOut += packet.length;
    to.rtpSock.send(packet, to.rtpPortOut, to.rtpAddr, to.onSent);
    sent++;
  }
  if (sent === 0) leg.drop('zrtp-not-relayed');
}
