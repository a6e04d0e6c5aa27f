/**
 * DTLS-SRTP (RFC 5764) on a leg's media port, the engine's side of it, and
 * ICE-lite (ice-lite.ts) for the legs that carry ICE credentials (WebRTC).
 *
 * DTLS shares the leg's RTP port with STUN and SRTP (RFC 7983: first byte
 * 20..63, demux.ts); with rtcp-mux one association keys RTP and RTCP.
 * Two cases:
 *
 * - The box terminates DTLS on the leg (LegSecurity 'dtls'): an agent made
 *   by the injected DtlsAgentFactory (the protocol is keying/dtls, which
 *   sits above media and cannot be imported here) gets the phone's records
 *   and sends its flights through the leg's RTP socket; its timers run on
 *   the engine's clock. Until the handshake completes the leg is
 *   'srtp-pending' (nothing passes either way, 'no-keys'); then the engine
 *   installs the exporter's SRTP keys (RFC 5764 4.2) as the leg's 'srtp'
 *   keys and raises a 'keying' event with the profile, never a key. A
 *   handshake that fails (a certificate that does not match the SDP's
 *   fingerprint, a timeout) raises 'keying' 'failed' and the leg stays
 *   closed: never media in the clear.
 *   A new association (a DTLS restart: a new offer with a new fingerprint
 *   or role) starts a new handshake; the keys of the one before stay in
 *   force until it completes, so the audio goes on meanwhile.
 * - The leg relays end-to-end SRTP ('srtp-relay'): the phones run DTLS with
 *   each other through the box; DTLS records from such a leg go byte for
 *   byte to every connected 'srtp-relay' leg, nowhere else.
 *
 * Either way a DTLS record is taken only from the leg's own phone: with
 * ICE, from the address an authenticated check chose; without, from the
 * latched host once RTP latched, before that from the host its SDP names
 * ('foreign-host' otherwise).
 */
import type { Counters } from '../core/index.js';
import type { DtlsKeyingInfo, DtlsLegSpec, EngineEvent, IceLiteSpec } from './api.js';
import { buildCheckSuccess, verifyCheck } from './ice-lite.js';
import { hostKey, SocketLeg } from './leg.js';
import type { SrtpSessionOptions } from './srtp/index.js';
import type { StunMessage } from './stun.js';
import type { MediaKind } from './transform.js';
import type { RemoteInfo } from './udp.js';

/** What the agent reports once the handshake completed: the SRTP keys (for the engine only) and what may be shown. */
export interface DtlsAgentConnected {
  readonly rx: SrtpSessionOptions;
  readonly tx: SrtpSessionOptions;
  readonly info: DtlsKeyingInfo;
}

/** How an agent speaks through its leg. */
export interface DtlsAgentHooks {
  /** `to`: where to answer (the handshake's latched peer, a ClientHello's source); undefined: the leg's phone. */
  send(datagram: Buffer, to: RemoteInfo | undefined): void;
  connected(result: DtlsAgentConnected): void;
  failed(reason: string): void;
}

/** One DTLS endpoint on one leg, as the engine drives it. `receive` never throws. */
export interface DtlsAgent {
  /** A client sends its ClientHello; a server starts waiting for one. */
  start(): void;
  receive(datagram: Buffer, from: RemoteInfo): void;
  close(): void;
}

/** Built at the composition root from keying/dtls: the box's certificate, clock and randomness live behind it. May throw PbxError for a spec it cannot serve. */
export type DtlsAgentFactory = (spec: DtlsLegSpec, hooks: DtlsAgentHooks) => DtlsAgent;

/** What the DTLS glue needs of the engine. */
export interface DtlsContext {
  readonly counters: Counters;
  emit(ev: EngineEvent): void;
  /** Give the leg its DTLS-derived SRTP keys (its security becomes 'srtp'). */
  install(leg: SocketLeg, rx: SrtpSessionOptions, tx: SrtpSessionOptions): void;
}

export type DtlsLegState = 'handshaking' | 'connected' | 'failed';

const sameIce = (a: IceLiteSpec | undefined, b: IceLiteSpec | undefined): boolean =>
  a?.localUfrag === b?.localUfrag && a?.localPwd === b?.localPwd && a?.remoteUfrag === b?.remoteUfrag;

/** A leg's DTLS agent, its ICE-lite state, and what the engine keeps about them. */
export class LegDtls {
  readonly agent: DtlsAgent;
  state: DtlsLegState = 'handshaking';
  /** An authenticated connectivity check chose where the phone is (ICE legs only). */
  iceSelected = false;
  private ice: IceLiteSpec | undefined;
  private started = false;

  constructor(readonly leg: SocketLeg, readonly spec: DtlsLegSpec, factory: DtlsAgentFactory, private readonly ctx: DtlsContext) {
    this.ice = spec.ice;
    this.agent = factory(spec, {
      send: (d, to) => this.send(d, to),
      connected: (r) => this.onConnected(r),
      failed: (reason) => this.onFailed(reason),
    });
  }

  get hasIce(): boolean {
    return this.ice !== undefined;
  }

  /** The same association as the agent in place: a re-offer that keeps the handshake and its keys. */
  sameAssociation(spec: DtlsLegSpec): boolean {
    const a = this.spec;
    return spec.association === a.association && spec.role === a.role
      && spec.fingerprint.algorithm.toLowerCase() === a.fingerprint.algorithm.toLowerCase()
      && spec.fingerprint.value.toUpperCase() === a.fingerprint.value.toUpperCase();
  }

  /**
   * A later SDP on the same association: an ICE restart (RFC 8445 9) brings
   * new credentials; the address the old ones chose stays the target until
   * a check under the new ones chooses again.
   */
  updateIce(ice: IceLiteSpec | undefined): void {
    if (sameIce(ice, this.ice)) return;
    this.ice = ice;
    this.ctx.counters.inc('media.ice.restart');
  }

  /** Start once the agent can: a server at once (it waits), a client once the leg knows where its phone is. */
  maybeStart(): void {
    const leg = this.leg;
    if (this.started || leg.closed || !leg.rtpSock) return;
    // RFC 8842 / 5763: with ICE the handshake waits for a connectivity check to prove the address.
    if (this.spec.role === 'client' && (leg.rtpPortOut === 0 || (this.hasIce && !this.iceSelected))) return;
    this.started = true;
    this.agent.start();
  }

  receive(datagram: Buffer, from: RemoteInfo): void {
    this.maybeStart();
    this.agent.receive(datagram, from);
  }

  close(): void {
    this.agent.close();
  }

  /**
   * A STUN Binding request on this leg, parsed. Returns the answer to send,
   * or the drop reason. An authenticated check from a new address moves the
   * target there only when it nominates (USE-CANDIDATE) or nothing was
   * chosen yet.
   */
  check(buf: Buffer, msg: StunMessage, from: RemoteInfo): Buffer | string {
    const ice = this.ice;
    if (!ice) return 'stun-no-ice';
    const v = verifyCheck(buf, msg, ice);
    if (typeof v === 'string') return v;
    const leg = this.leg;
    const here = leg.rtpAddr === from.address && leg.rtpPortOut === from.port;
    if (here && !this.iceSelected) {
      // The first authenticated check came from where the SDP already pointed
      // (a browser's host candidate is its m-line address): that address is
      // now proven, and the leg's DTLS is accepted from it. Without this, a
      // phone checking from its SDP address was never selected and every
      // record it sent was dropped as foreign (seen with chromium).
      leg.latched = true;
      this.iceSelected = true;
      this.ctx.counters.inc('media.ice.selected');
      this.maybeStart();
    } else if (!here && (v.useCandidate || !this.iceSelected)) {
      leg.rtpAddr = from.address;
      leg.rtpPortOut = from.port;
      leg.latched = true;
      leg.sdpHost = hostKey(from.address);
      leg.candSeq = -1;
      if (this.iceSelected) this.ctx.counters.inc('media.ice.reselected');
      this.iceSelected = true;
      this.ctx.counters.inc('media.ice.selected');
      this.maybeStart();
    }
    const reply = buildCheckSuccess(msg.transactionId, from, ice.localPwd);
    return reply ?? 'stun-unanswerable';
  }

  private send(datagram: Buffer, to: RemoteInfo | undefined): void {
    const leg = this.leg;
    const sock = leg.rtpSock;
    const port = to ? to.port : leg.rtpPortOut;
    const addr = to ? to.address : leg.rtpAddr;
    if (leg.closed || !sock || port === 0) return leg.drop('dtls-no-target');
    leg.packetsOut++;
    leg.bytesOut += datagram.length;
    this.ctx.counters.inc('media.dtls.sent');
    sock.send(datagram, port, addr, leg.onSent);
  }

  private onConnected(r: DtlsAgentConnected): void {
    if (this.leg.closed || this.leg.dtls !== this) return;
    this.state = 'connected';
    this.ctx.install(this.leg, r.rx, r.tx);
    this.ctx.counters.inc('media.dtls.connected');
    this.ctx.emit({ type: 'keying', sessionId: this.leg.session.id, leg: this.leg.id, state: 'done', dtls: r.info });
  }

  private onFailed(reason: string): void {
    if (this.leg.closed || this.leg.dtls !== this) return;
    this.state = 'failed';
    this.ctx.counters.inc('media.dtls.failed');
    this.ctx.emit({ type: 'keying', sessionId: this.leg.session.id, leg: this.leg.id, state: 'failed', reason: `dtls: ${reason}` });
  }
}

/** The leg's own phone: the address ICE chose, else the latched host once RTP latched, else the host its SDP names. */
function fromOwnPhone(leg: SocketLeg, from: RemoteInfo): boolean {
  if (leg.dtls?.hasIce) return leg.dtls.iceSelected && from.address === leg.rtpAddr && from.port === leg.rtpPortOut;
  return leg.latched ? from.address === leg.rtpAddr : leg.fromSdpHost(from.address);
}

/** A datagram classified as DTLS arrived on one of the leg's ports (receive.ts). */
export function receiveDtls(leg: SocketLeg, port: MediaKind, datagram: Buffer, from: RemoteInfo): void {
  // One association per leg, on the RTP port (rtcp-mux); nothing keys a separate RTCP port.
  if (port === 'rtcp') return leg.drop('dtls-on-rtcp-port');
  if (!leg.remote) return leg.drop('no-remote');
  if (!fromOwnPhone(leg, from)) return leg.drop('foreign-host');
  const d = leg.dtls;
  if (d) return d.receive(datagram, from);
  if (leg.opaque) return relayDtls(leg, datagram);
  // Nobody runs DTLS here: plain RTP, SDES or ZRTP on this leg.
  return leg.drop('unhandled-dtls');
}

/** A STUN Binding request on a leg that runs ICE-lite: answered only when authenticated. */
export function answerIceCheck(leg: SocketLeg, port: MediaKind, buf: Buffer, msg: StunMessage, from: RemoteInfo, counters: Counters): void {
  const d = leg.dtls;
  if (!d) return leg.drop('stun-no-ice');
  if (port === 'rtcp') return leg.drop('stun-on-rtcp-port');
  const r = d.check(buf, msg, from);
  if (typeof r === 'string') return leg.drop(r);
  if (!leg.rtpSock) return leg.drop('stun-unanswerable');
  counters.inc('media.ice.answered');
  leg.rtpSock.send(r, from.port, from.address, leg.onSent);
}

/** End-to-end DTLS: the record goes untouched to every connected leg that relays end-to-end SRTP. */
function relayDtls(leg: SocketLeg, datagram: Buffer): void {
  let sent = 0;
  for (const c of leg.outs) {
    const to = c.to;
    if (!(to instanceof SocketLeg) || !to.opaque) continue;
    if (!to.rtpSock || to.rtpPortOut === 0) { leg.drop('no-target'); continue; }
    to.packetsOut++;
    to.bytesOut += datagram.length;
    to.rtpSock.send(datagram, to.rtpPortOut, to.rtpAddr, to.onSent);
    sent++;
  }
  if (sent === 0) leg.drop('dtls-not-relayed');
}
