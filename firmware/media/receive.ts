/**
 * The receive half of the packet path, on the leg X a datagram arrived on
 * (nothing allocated on the RTP path):
 *   size limit -> demux by first byte (RFC 7983) -> STUN answered here (to the
 *   leg's own phone only), DTLS/ZRTP counted -> RTP header check (RFC 3550
 *   5.1) -> X's remote known and X keyed -> source check (latch) ->
 *   X.transform.unprotect -> commit latch, sequence/jitter stats -> recorder
 *   taps (tap.ts) -> direction -> X's mixer, if a member (conference.ts) ->
 *   each of X's connections: destination.deliverRtp (leg.ts: mute, keys,
 *   payload-type map, protect, send). RTCP takes the same way (RFC 3550 6:
 *   reports go where the media goes), read on the way unless it is SRTCP
 *   passing end to end.
 *
 * Latching (symmetric RTP, RFC 4961; "comedia"): a leg first sends to the
 * address its SDP gave; the first valid RTP packet from the host that SDP
 * names becomes the send target (its port may differ: a phone behind NAT is
 * reachable only where its packets come from). Nothing latches before the
 * leg's SDP is known ('no-remote'), and a packet from any other host never
 * takes a fresh latch ('foreign-host'): a stranger spraying RTP at the media
 * ports (the "RTP bleed", CVE-2017-14099) cannot capture a new call's media
 * by sending first. After that, packets from any other source are dropped as
 * 'unexpected-source', with two ways to move the latch: an update that
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
 */
import type { Clock, Counters, Logger } from '../core/index.js';
import type { EngineEvent } from './api.js';
import { classifyPacket } from './demux.js';
import { MAX_MEDIA_PACKET, type SocketLeg } from './leg.js';
import { checkRtcpCompound, inspectRtp, parseRtcpCompound, DEFAULT_CLOCK_RATE, type RtpView } from './rtp.js';
import type { Session } from './session.js';
import { buildBindingSuccess, parseStun, STUN_BINDING_INDICATION, STUN_BINDING_REQUEST } from './stun.js';
import type { MediaKind } from './transform.js';
import type { RemoteInfo } from './udp.js';
import { mixInput } from './conference.js';
import type { Tap } from './tap.js';
import { receiveZrtp } from './zrtp-leg.js';
import { answerIceCheck, receiveDtls } from './dtls-leg.js';

/** How long the latched source must be silent before another may take over. */
export const RELATCH_SILENCE_MS = 2_000;

/** What the packet path needs of the engine. */
export interface PathContext {
  readonly clock: Clock;
  readonly counters: Counters;
  readonly log: Logger;
  emit(ev: EngineEvent): void;
  /** Media moved on the session: the media timer starts its window again. */
  activity(s: Session, now: number): void;
  /** A tap's sink threw: the engine removes the tap (never unwinding the socket path). */
  tapFailed(s: Session, tap: Tap, err: unknown): void;
}

export function onDatagram(ctx: PathContext, s: Session, leg: SocketLeg, port: MediaKind, msg: Buffer, from: RemoteInfo): void {
  if (s.closed || leg.closed) return;
  try {
    leg.packetsIn++;
    leg.bytesIn += msg.length;
    if (msg.length > MAX_MEDIA_PACKET) return leg.drop('too-long');
    switch (classifyPacket(msg)) {
      case 'rtp':
        if (port === 'rtcp') return leg.drop('rtp-on-rtcp-port');
        return receiveRtp(ctx, s, leg, msg, from);
      case 'rtcp': return receiveRtcp(ctx, s, leg, port, msg, from);
      case 'stun': return answerStun(ctx, leg, port, msg, from);
      case 'dtls': return receiveDtls(leg, port, msg, from);
      case 'zrtp':
        // RFC 6189 5: ZRTP shares the RTP port only.
        if (port === 'rtcp') return leg.drop('zrtp-on-rtcp-port');
        return receiveZrtp(s, leg, msg, from);
      case 'turn-channel': return leg.drop('turn-channel');
      default: return leg.drop('unknown-protocol');
    }
  } catch (e) {
    // A bug on the packet path must cost a packet, not the process.
    ctx.counters.inc('media.packet-error');
    ctx.log.warn({ err: e }, 'media packet handling failed');
  }
}

function receiveRtp(ctx: PathContext, s: Session, x: SocketLeg, msg: Buffer, from: RemoteInfo): void {
  const v = x.view;
  // Padding sits inside the encrypted payload of SRTP: it can only be checked on plain RTP.
  const bad = inspectRtp(msg, v, x.transform === undefined && !x.opaque);
  if (bad) return x.drop(bad);
  // Until the leg's SDP says who its phone is, whoever sends is a stranger:
  // no latch, nothing forwarded (a ringing callee's port, a late offer).
  if (!x.remote) return x.drop('no-remote');
  // SRTP the box cannot authenticate yet may neither latch nor pass.
  if (x.security === 'srtp-pending') return x.drop('no-keys');
  const now = ctx.clock.now();
  let takeOver = false;
  if (!x.latched) {
    // The RTP bleed: only the host the SDP names may take the first latch.
    if (!x.fromSdpHost(from.address)) return x.drop('foreign-host');
  } else if (from.port !== x.rtpPortOut || from.address !== x.rtpAddr) {
    if (!mayRelatch(x, from, v, now)) return x.drop('unexpected-source');
    takeOver = true;
  }
  let pkt = msg;
  if (x.transform) {
    // The same receive context whether or not the latch moves: a replay stays a replay.
    const r = x.transform.unprotect('rtp', pkt);
    if (typeof r === 'string') return x.drop(r);
    pkt = r;
  }
  // Committed from here on: the packet is genuine.
  if (!x.latched || takeOver) {
    if (takeOver) ctx.counters.inc('media.relatch');
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
  ctx.activity(s, now);
  if (!x.firstPacket) {
    x.firstPacket = true;
    ctx.emit({ type: 'first-packet', sessionId: s.id, leg: x.id });
  }
  // Recorder taps hear every genuine packet, whatever the direction and the connections.
  const taps = x.taps;
  if (taps.length > 0) feedTaps(ctx, s, x, taps, pkt, now);
  if (!x.sendsMedia()) return x.drop('direction');
  const member = x.member;
  if (member) mixInput(x, member.member, pkt, v);
  const outs = x.outs;
  if (outs.length === 0) {
    if (!member) x.drop('not-connected');
    return;
  }
  // Each destination protects with its own keys; the clear packet is shared.
  for (let i = 0; i < outs.length; i++) outs[i]!.to.deliverRtp(pkt, v.payloadType, x, outs[i]!.ptOut);
}

/** The sink gets the shared receive buffer (tap.ts: it copies what it keeps). */
function feedTaps(ctx: PathContext, s: Session, x: SocketLeg, taps: readonly Tap[], pkt: Buffer, now: number): void {
  for (let i = 0; i < taps.length; i++) {
    const tap = taps[i]!;
    try {
      tap.sink.packet(x.id, pkt, now, x.opaque);
    } catch (e) {
      ctx.tapFailed(s, tap, e);
    }
  }
}

/** The RELATCH rule (see the file comment). */
function mayRelatch(x: SocketLeg, from: RemoteInfo, v: RtpView, now: number): boolean {
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

function receiveRtcp(ctx: PathContext, s: Session, x: SocketLeg, port: MediaKind, msg: Buffer, from: RemoteInfo): void {
  let pkt = msg;
  const onRtpPort = port === 'rtp';
  if (!x.remote) return x.drop('no-remote');
  if (x.security === 'srtp-pending') return x.drop('no-keys');
  // Source check first: muxed RTCP must come from the latched RTP source,
  // RTCP on its own port from its own latched source.
  // Before RTCP latches on its own port, it must at least come from the
  // host RTP latched to (a NAT may give it a different port, not a different host),
  // and before RTP latched, from the host the SDP names.
  if (onRtpPort ? x.latched && (from.port !== x.rtpPortOut || from.address !== x.rtpAddr)
                : x.rtcpLatched ? from.port !== x.rtcpPortOut || from.address !== x.rtcpAddr
                                : x.latched && from.address !== x.rtpAddr) {
    return x.drop('unexpected-source');
  }
  if (!x.latched && !(onRtpPort ? x.fromSdpHost(from.address) : x.fromSdpRtcpHost(from.address))) {
    return x.drop('foreign-host');
  }
  if (x.transform) {
    const r = x.transform.unprotect('rtcp', pkt);
    if (typeof r === 'string') return x.drop(r);
    pkt = r;
  }
  // SRTCP relayed end to end is encrypted after its first 8 bytes: nothing to parse.
  const bad = x.opaque ? null : checkRtcpCompound(pkt);
  if (bad) return x.drop(`rtcp-${bad}`);
  const now = ctx.clock.now();
  if (!onRtpPort && !x.rtcpLatched) {
    x.rtcpLatched = true;
    x.rtcpAddr = from.address;
    x.rtcpPortOut = from.port;
  }
  x.lastPacketAt = now;
  if (!x.opaque) noteReport(x, pkt, now);
  ctx.activity(s, now);
  const outs = x.outs;
  if (outs.length === 0) return x.drop('not-connected');
  for (let i = 0; i < outs.length; i++) outs[i]!.to.deliverRtcp(pkt, x);
}

/** Keep the first report block of the phone's SR/RR: how it receives what we send. */
function noteReport(x: SocketLeg, pkt: Uint8Array, now: number): void {
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

function answerStun(ctx: PathContext, leg: SocketLeg, port: MediaKind, msg: Buffer, from: RemoteInfo): void {
  const parsed = parseStun(msg);
  if (!parsed.ok) return leg.drop(`stun-${parsed.reason}`);
  const m = parsed.message;
  if (m.type === STUN_BINDING_INDICATION) {
    ctx.counters.inc('media.stun.indication');
    return;
  }
  if (m.type !== STUN_BINDING_REQUEST) return leg.drop('stun-not-binding-request');
  // A leg with ICE credentials (WebRTC) answers authenticated checks only (dtls-leg.ts, ice-lite.ts).
  if (leg.dtls?.hasIce) return answerIceCheck(leg, port, msg, m, from, ctx.counters);
  // Answer the leg's own phone only: a stranger gets nothing back from the box.
  if (!leg.remote) return leg.drop('no-remote');
  if (!leg.fromSdpRtcpHost(from.address) && !(leg.latched && from.address === leg.rtpAddr)) return leg.drop('foreign-host');
  if (m.hasIntegrity) ctx.counters.inc('media.stun.integrity-unverified');
  const reply = buildBindingSuccess(m.transactionId, from, { fingerprint: m.hasFingerprint });
  const sock = port === 'rtp' ? leg.rtpSock : leg.rtcpSock;
  if (!reply || !sock) return leg.drop('stun-unanswerable');
  ctx.counters.inc('media.stun.answered');
  sock.send(reply, from.port, from.address, leg.onSent);
}
