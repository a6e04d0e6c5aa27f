/**
 * The seam between call control (pbx/) and the media engine, as plain,
 * serialisable messages (like rtpengine's offer/answer/delete). Nothing here
 * holds a socket or a function, so the engine can move into a worker thread
 * without a change on the pbx side.
 *
 * A session is one call: two legs, "a" (the caller's side) and "b" (the
 * callee's side). Each leg has a local RTP/RTCP port pair on the box that its
 * phone sends to, and a remote address the box sends to (from the phone's SDP,
 * then latched to where its packets really come from: symmetric RTP).
 */

import type { SrtpSessionOptions } from './srtp/index.js';

export type LegId = 'a' | 'b';

/**
 * How a leg's media is protected, as the engine needs it:
 * - 'rtp': plain RTP (the default);
 * - 'srtp': the box holds the keys: `rx` decrypts what the phone sends, `tx`
 *   encrypts what the box sends it (SrtpSession options; keys cross this API
 *   in-process only and never appear in stats or events);
 * - 'srtp-relay': SRTP whose keys the phones agreed end to end passes
 *   untouched. The RTP header is authenticated, so the engine neither rewrites
 *   payload types nor reads RTCP payloads (they are SRTCP) on such a leg. Only
 *   packets from the other leg when it is 'srtp-relay' too are sent to it: the
 *   box has no keys to protect anything else.
 * - 'srtp-pending': the leg's protection will be SRTP but its keys are not
 *   known yet (call control says so at 'offer', when the caller offered SRTP
 *   and the answer that brings the keys is still to come). The engine fails
 *   closed: it sends nothing to the leg and forwards nothing from it (counted
 *   as 'no-keys') until an 'answer' or 'update' gives the leg its real security.
 *
 * The engine never sends a packet without protection to a leg that is not
 * 'rtp': whatever it has no keys for is dropped as 'no-keys'. An 'update'
 * cannot turn such a leg back into 'rtp' (PbxError 'protocol'); only the
 * 'answer', where the protection is negotiated, may settle a pending leg as
 * plain RTP (a best-effort SRTP offer answered without keys, RFC 4568 5).
 */
export type LegSecurity =
  | { readonly kind: 'rtp' }
  | { readonly kind: 'srtp'; readonly rx: SrtpSessionOptions; readonly tx: SrtpSessionOptions }
  | { readonly kind: 'srtp-relay' }
  | { readonly kind: 'srtp-pending' };

/** Security per leg; a leg left out keeps what it has. */
export interface SessionSecurity {
  readonly a?: LegSecurity;
  readonly b?: LegSecurity;
}

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** What the phone's SDP says about where it wants media. */
export interface RemoteMedia {
  /** From c= and m= lines; port 0 means the stream is rejected or held without address. */
  readonly rtp: Endpoint;
  /** a=rtcp, or rtp.port + 1 when absent (RFC 3605). */
  readonly rtcp: Endpoint;
  /** a=rtcp-mux agreed: RTCP shares the RTP port (RFC 5761). */
  readonly rtcpMux: boolean;
  /** The phone only receives (recvonly/inactive) or only sends: the engine never forwards what it must not. */
  readonly direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
}

/** Payload type numbers rewritten when a packet crosses from one leg to the other. */
export type PayloadTypeMap = Readonly<Record<number, number>>;

export interface LocalMedia {
  readonly address: string;
  readonly rtpPort: number;
  readonly rtcpPort: number;
}

export type EngineRequest =
  /**
   * Allocate both legs' local ports; leg a's remote (the caller's offer) may be
   * known already. security.a should be 'srtp-pending' when the caller offered
   * SRTP, so nothing reaches it in the clear before the answer keys it.
   */
  | { readonly op: 'offer'; readonly sessionId: string; readonly a?: RemoteMedia; readonly rtcpMux?: boolean; readonly security?: SessionSecurity }
  /** The callee answered: leg b's remote, and each leg's keys once both sides are known. */
  | { readonly op: 'answer'; readonly sessionId: string; readonly b: RemoteMedia; readonly security?: SessionSecurity }
  /**
   * A re-INVITE or UPDATE changed one leg's remote (hold, resume, new address).
   * ptMap, when given, rewrites payload types of packets sent toward `leg`
   * (the numbering that leg's phone uses): for leg 'b' it replaces aToB.
   * security, when given, rekeys the leg (see SrtpLeg.rekey).
   */
  | {
    readonly op: 'update'; readonly sessionId: string; readonly leg: LegId; readonly remote: RemoteMedia;
    readonly ptMap?: PayloadTypeMap; readonly security?: LegSecurity;
  }
  /** Payload type rewriting per direction, when the two phones numbered a codec differently. */
  | { readonly op: 'map'; readonly sessionId: string; readonly aToB?: PayloadTypeMap; readonly bToA?: PayloadTypeMap }
  | { readonly op: 'delete'; readonly sessionId: string }
  | { readonly op: 'stats'; readonly sessionId?: string };

export interface LegStats {
  readonly local: LocalMedia;
  /** How the leg is protected; with 'srtp', the suite the box receives. Never keys. */
  readonly security: LegSecurity['kind'];
  readonly suite?: string;
  /** Where the box sends to now (after latching), if known. */
  readonly remote?: Endpoint;
  readonly latched: boolean;
  readonly packetsIn: number;
  readonly bytesIn: number;
  readonly packetsOut: number;
  readonly bytesOut: number;
  /** Estimated from RTP sequence numbers of packets received on this leg. */
  readonly lost: number;
  /** RFC 3550 interarrival jitter of packets received on this leg, in ms. */
  readonly jitterMs: number;
  /**
   * Packets dropped on this leg, by reason (bad-version, short, unexpected-source, ...).
   * The refusals that keep strangers and clear audio out: 'no-remote' (the leg's
   * SDP is not known yet), 'foreign-host' (before latching, from a host other
   * than the one the SDP names), 'unexpected-source' (after latching, from
   * another source), 'no-keys' (to or from a leg whose SRTP keys the box lacks).
   */
  readonly dropped: Readonly<Record<string, number>>;
  readonly lastPacketAt?: number;
  /** The last RTCP reception report this leg's phone sent about what it receives from the box. */
  readonly remoteReport?: ReceptionReport;
}

/** One RTCP SR/RR report block (RFC 3550 6.4.1), as the phone saw the stream the box sends it. */
export interface ReceptionReport {
  /** 0..1, since the phone's previous report. */
  readonly fractionLost: number;
  /** Signed: duplicates can make it negative. */
  readonly cumulativeLost: number;
  readonly jitterMs: number;
  readonly at: number;
}

export interface SessionStats {
  readonly sessionId: string;
  readonly createdAt: number;
  readonly a: LegStats;
  readonly b: LegStats;
}

export type EngineReply =
  | { readonly op: 'offer'; readonly a: LocalMedia; readonly b: LocalMedia }
  | { readonly op: 'answer' | 'update' | 'map' | 'delete' }
  | { readonly op: 'stats'; readonly sessions: readonly SessionStats[]; readonly portsInUse: number; readonly counters: Readonly<Record<string, number>> };

export type EngineEvent =
  | { readonly type: 'first-packet'; readonly sessionId: string; readonly leg: LegId }
  /** No media in either direction for the configured time: call control ends the call. */
  | { readonly type: 'media-timeout'; readonly sessionId: string; readonly idleMs: number };
