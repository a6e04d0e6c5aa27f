/**
 * A socket leg: one phone's side of a session, an RTP and an RTCP socket on
 * the box. It keeps what the phone's SDP said, where the box sends (latching,
 * see receive.ts), how the leg is protected, and its statistics. As a
 * MediaDestination it sends what connections deliver toward its phone: the
 * last steps of the packet path (direction, keys, payload-type map, protect,
 * send).
 */
import { SocketAddress, isIPv6 } from 'node:net';
import type { Endpoint, LegId, LegSecurity, LegStats, LocalMedia, ReceptionReport, RemoteMedia } from './api.js';
import { PT_NONE, type Connection, type MediaDestination, type MediaSource } from './destination.js';
import { DEFAULT_CLOCK_RATE, newRtpView, SourceStats, type RtpView } from './rtp.js';
import { SrtpLeg, type LegTransform } from './transform.js';
import type { UdpSocketLike } from './udp.js';
import type { Membership } from './conference.js';
import type { Player } from './player.js';
import type { Session } from './session.js';
import type { Tap } from './tap.js';
import type { LegZrtp } from './zrtp-leg.js';
import type { LegDtls } from './dtls-leg.js';

/** Larger datagrams are not media on an Ethernet LAN; dropped as 'too-long'. */
export const MAX_MEDIA_PACKET = 1500;
/** Copies for payload-type rewriting of a fan-out (sends are asynchronous; see SRTP_OUT_RING). */
const PT_COPY_RING = 16;

/** An IPv4 sender on a dual-stack socket shows as ::ffff:a.b.c.d where SDP names a.b.c.d. */
export function hostKey(address: string): string {
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

export function sends(d: RemoteMedia['direction']): boolean {
  return d === 'sendrecv' || d === 'sendonly';
}
export function receives(d: RemoteMedia['direction']): boolean {
  return d === 'sendrecv' || d === 'recvonly';
}

/** Counts a drop by reason, on the leg and in the engine's counters. */
export type DropCounter = (dropped: Record<string, number>, reason: string) => void;

export class SocketLeg implements MediaSource, MediaDestination {
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
  /** Where this leg's packets go; a fan-out when more than one. */
  outs: Connection[] = [];
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
  closed = false;
  /**
   * A source that has the leg to itself (a player, a mixer's mix): while set,
   * every other source's RTP toward this leg is dropped as 'muted'. Nothing
   * else changes, so clearing it lets the connections through again at once.
   */
  exclusive: MediaSource | undefined;
  player: Player | undefined;
  member: Membership | undefined;
  /** The box's ZRTP exchange with this leg's phone (LegSecurity 'zrtp', zrtp-leg.ts). */
  zrtp: LegZrtp | undefined;
  /** The box's DTLS-SRTP handshake (and ICE-lite) with this leg's phone (LegSecurity 'dtls', dtls-leg.ts). */
  dtls: LegDtls | undefined;
  /** The recorder taps on this leg (a fresh array on every change, like outs). */
  taps: readonly Tap[] = [];
  readonly dropped: Record<string, number> = Object.create(null) as Record<string, number>;
  /** One callback for every send of this leg, so sending allocates no closure. */
  readonly onSent: (err: Error | null) => void;
  private copies: Buffer[] | undefined;
  private copySlot = 0;

  /**
   * `id` and `session` change only when the leg moves to another session
   * (move-leg); the sockets' handlers read them on each datagram.
   */
  constructor(public id: LegId, private readonly count: DropCounter, public session: Session) {
    this.onSent = (err) => {
      if (err) this.drop('send-error');
    };
  }

  drop(reason: string): void {
    this.count(this.dropped, reason);
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
   * end-to-end SRTP only what comes end to end from another such leg, and
   * nothing while the keys are pending (or for a kind this code does not know).
   * End-to-end SRTP goes only to an end-to-end leg: anywhere else it is
   * ciphertext nobody there can read (a plain phone, or the box's own SRTP
   * wrapped around it).
   */
  keyedFor(from: MediaSource): boolean {
    if (from.opaque) return this.security === 'srtp-relay';
    switch (this.security) {
      case 'rtp': return true;
      case 'srtp': return this.transform !== undefined;
      default: return false; // 'srtp-relay' from a source the box can read, 'srtp-pending'
    }
  }

  /** Its phone sends, as far as its SDP says (unknown yet: no). */
  sendsMedia(): boolean {
    return this.remote !== undefined && sends(this.remote.direction);
  }

  receivesMedia(): boolean {
    return this.remote !== undefined && receives(this.remote.direction);
  }

  deliverRtp(pkt: Buffer, payloadType: number, from: MediaSource, ptOut: Int16Array | undefined): void {
    if (this.exclusive !== undefined && from !== this.exclusive) return from.drop('muted');
    const remote = this.remote;
    if (!remote || this.rtpPortOut === 0 || !this.rtpSock) return from.drop('no-target');
    if (!this.keyedFor(from)) return this.drop('no-keys');
    if (!receives(remote.direction)) return from.drop('direction');
    let out = pkt;
    const to = ptOut && !from.opaque ? ptOut[payloadType]! : PT_NONE;
    const b1 = pkt[1]!;
    const rewrite = to !== PT_NONE && (b1 & 0x7f) !== to;
    if (this.transform) {
      // protect reads its input and writes its own buffer: rewrite in place for the call only.
      if (rewrite) pkt[1] = (b1 & 0x80) | to;
      const r = this.transform.protect('rtp', pkt);
      if (rewrite) pkt[1] = b1;
      if (typeof r === 'string') return this.drop(r);
      out = r;
    } else if (rewrite) {
      // The send may complete later, and other destinations share pkt: send a copy.
      out = this.copyOf(pkt);
      out[1] = (b1 & 0x80) | to;
    }
    this.packetsOut++;
    this.bytesOut += out.length;
    this.rtpSock.send(out, this.rtpPortOut, this.rtpAddr, this.onSent);
  }

  /** RFC 3264 5.1: RTCP keeps flowing whatever the direction attribute says. */
  deliverRtcp(pkt: Buffer, from: MediaSource): void {
    const remote = this.remote;
    if (!remote) return from.drop('no-target');
    const mux = remote.rtcpMux;
    const sock = mux ? this.rtpSock : this.rtcpSock;
    const toPort = mux ? this.rtpPortOut : this.rtcpPortOut;
    const toAddr = mux ? this.rtpAddr : this.rtcpAddr;
    if (!sock || toPort === 0) return from.drop('no-target');
    if (!this.keyedFor(from)) return this.drop('no-keys');
    let out = pkt;
    if (this.transform) {
      const r = this.transform.protect('rtcp', pkt);
      if (typeof r === 'string') return this.drop(r);
      out = r;
    }
    this.packetsOut++;
    this.bytesOut += out.length;
    sock.send(out, toPort, toAddr, this.onSent);
  }

  private copyOf(pkt: Buffer): Buffer {
    if (!this.copies) this.copies = Array.from({ length: PT_COPY_RING }, () => Buffer.alloc(MAX_MEDIA_PACKET));
    const buf = this.copies[this.copySlot]!;
    this.copySlot = (this.copySlot + 1) % PT_COPY_RING;
    pkt.copy(buf);
    return buf.subarray(0, pkt.length);
  }

  lost(): number {
    return Math.max(0, this.lostBefore + this.source.lost);
  }

  local(address: string): LocalMedia {
    return { address, rtpPort: this.rtpPort, rtcpPort: this.rtcpPort };
  }

  stats(address: string): LegStats {
    const remote: Endpoint | undefined = this.rtpPortOut ? { address: this.rtpAddr, port: this.rtpPortOut } : undefined;
    return {
      local: this.local(address),
      security: this.security,
      ...(this.transform instanceof SrtpLeg ? { suite: this.transform.suite } : {}),
      ...(remote ? { remote } : {}),
      latched: this.latched,
      packetsIn: this.packetsIn,
      bytesIn: this.bytesIn,
      packetsOut: this.packetsOut,
      bytesOut: this.bytesOut,
      lost: this.lost(),
      jitterMs: this.source.jitterMs,
      dropped: { ...this.dropped },
      ...(this.lastPacketAt !== undefined ? { lastPacketAt: this.lastPacketAt } : {}),
      ...(this.remoteReport ? { remoteReport: this.remoteReport } : {}),
      ...(this.player ? { playing: true } : {}),
      ...(this.member ? { mixer: this.member.mixer.name } : {}),
      ...(this.zrtp ? { zrtp: this.zrtp.state } : {}),
      ...(this.dtls ? { dtls: this.dtls.state, ...(this.dtls.hasIce ? { ice: this.dtls.iceSelected ? 'selected' as const : 'waiting' as const } : {}) } : {}),
    };
  }
}
