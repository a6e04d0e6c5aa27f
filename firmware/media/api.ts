/**
 * The seam between call control (pbx/) and the media engine, as plain,
 * serialisable messages (in the spirit of rtpengine's control protocol). Nothing here
 * holds a socket or a function, so the engine can move into a worker thread
 * without a change on the pbx side.
 *
 * A session is one call: any number of legs, each named by a string that call
 * control chooses (the caller's side, the callee's, a transfer target, a
 * conference member). Each leg has a local RTP/RTCP port pair on the box that
 * its phone sends to, and a remote address the box sends to (from the phone's
 * SDP, then latched to where its packets really come from: symmetric RTP).
 *
 * Legs hear each other only through connections, one direction each:
 * `connect {from: A, to: B}` sends what A's phone sends to B's phone. A plain
 * two-party call is A->B and B->A; a transfer disconnects and reconnects; a
 * leg connected to several legs fans out (each destination protects with its
 * own keys). Whether a connection relays end-to-end SRTP untouched or bridges
 * (decrypts on one leg, re-encrypts on the other) follows from the two legs'
 * security, never from the connection.
 */

import type { SrtpSessionOptions } from './srtp/index.js';

/** Chosen by call control: 1..MAX_LEG_ID characters of [A-Za-z0-9._:-]. */
export type LegId = string;

/**
 * How a leg's media is protected, as the engine needs it:
 * - 'rtp': plain RTP (the default);
 * - 'srtp': the box holds the keys: `rx` decrypts what the phone sends, `tx`
 *   encrypts what the box sends it (SrtpSession options; keys cross this API
 *   in-process only and never appear in stats or events);
 * - 'srtp-relay': SRTP whose keys the phones agreed end to end passes
 *   untouched. The RTP header is authenticated, so the engine neither rewrites
 *   payload types nor reads RTCP payloads (they are SRTCP) of packets from
 *   such a leg. Only packets from another 'srtp-relay' leg are sent to it
 *   (the box has no keys to protect anything else), and its packets go only
 *   to 'srtp-relay' legs (anywhere else nobody could read them).
 * - 'srtp-pending': the leg's protection will be SRTP but its keys are not
 *   known yet (the caller offered SRTP and the answer that brings the keys is
 *   still to come). The engine fails closed: it sends nothing to the leg and
 *   forwards nothing from it (counted as 'no-keys') until an 'update-leg'
 *   gives the leg its real security.
 *
 * The engine never sends a packet without protection to a leg that is not
 * 'rtp': whatever it has no keys for is dropped as 'no-keys'. An 'update-leg'
 * cannot turn such a leg back into 'rtp' (PbxError 'protocol'); only the one
 * that carries the leg's answer (`answer: true`), where the protection is
 * negotiated, may settle a pending leg as plain RTP (a best-effort SRTP offer
 * answered without keys, RFC 4568 5).
 */
export type LegSecurity =
  | { readonly kind: 'rtp' }
  | { readonly kind: 'srtp'; readonly rx: SrtpSessionOptions; readonly tx: SrtpSessionOptions }
  | { readonly kind: 'srtp-relay' }
  | { readonly kind: 'srtp-pending' }
  /**
   * The box runs ZRTP (RFC 6189) with the leg's phone on its media port
   * (zrtp-leg.ts): 'srtp-pending' until the exchange is secure, then 'srtp'
   * under the keys ZRTP derived, with a 'keying' event. Needs the engine's
   * ZrtpAgentFactory ('config' without one). An update with the same `h0`
   * keeps the exchange and its keys; another `h0` starts a new one.
   */
  | { readonly kind: 'zrtp'; readonly zrtp: ZrtpLegSpec }
  /**
   * The box runs DTLS-SRTP (RFC 5764) with the leg's phone on its media
   * port (dtls-leg.ts): 'srtp-pending' until the handshake completes, then
   * 'srtp' under the keys the exporter yields (RFC 5764 4.2), with a
   * 'keying' event. Needs the engine's DtlsAgentFactory ('config' without
   * one). An update with the same `association` keeps the handshake and its
   * keys; another one (a DTLS restart: new fingerprint or role) starts anew.
   */
  | { readonly kind: 'dtls'; readonly dtls: DtlsLegSpec };

/** What the engine needs to run ZRTP on a leg (plain data; `h0` crosses in-process only, like SRTP keys). */
export interface ZrtpLegSpec {
  /** Seed of the box's hash chain on this leg (32 bytes): call control wrote our a=zrtp-hash from the Hello it makes. */
  readonly h0: Uint8Array;
  /** The phone's a=zrtp-hash: its Hello must match it (RFC 6189 8.1). */
  readonly peerHelloHash?: string;
  /** The box is a trusted MiTM toward this phone: the M flag in our Hello (RFC 6189 7.3). */
  readonly mitm?: boolean;
  /** Ask the phone to enroll with the box as its trusted PBX (RFC 6189 7.3.1). */
  readonly enroll?: boolean;
}

/** What a finished ZRTP exchange may show (to the admin): the SAS and how it was reached, never a key. */
export interface ZrtpKeyingInfo {
  readonly sas: string;
  readonly sasType: string;
  /** The V flag as the box holds it for this phone (cleared on a cache mismatch). */
  readonly sasVerified: boolean;
  /** The phone's V flag in its Confirm: its user verified the SAS before. */
  readonly peerSasVerified: boolean;
  /** Retained secrets (RFC 6189 4.6.1): 'mismatch' is a possible attack, or a lost cache. */
  readonly cacheMatch: 'match' | 'mismatch' | 'none';
  readonly cipher: string;
  readonly authTag: string;
  readonly keyAgreement: string;
  readonly suite: string;
  /** The phone's ZID, hex. */
  readonly peerZid: string;
  readonly peerIsPbx: boolean;
  /** The phone is enrolled with the box (they share a pbxsecret, RFC 6189 7.3.1). */
  readonly pbxEnrolled: boolean;
  readonly role: 'initiator' | 'responder';
}

/** The peer's certificate fingerprint from its SDP (RFC 8122): hash name and colon-separated hex. */
export interface DtlsFingerprintSpec {
  readonly algorithm: string;
  readonly value: string;
}

/** ICE-lite credentials of a leg (RFC 8445 2.5, RFC 5389 10.1): what the box answers connectivity checks with. */
export interface IceLiteSpec {
  /** Our a=ice-ufrag and a=ice-pwd: a check must name our ufrag first and carry MESSAGE-INTEGRITY under our pwd. */
  readonly localUfrag: string;
  readonly localPwd: string;
  /** The phone's a=ice-ufrag, when its SDP gave one: the second half of USERNAME. */
  readonly remoteUfrag?: string;
}

/** What the engine needs to run DTLS-SRTP on a leg (plain data, no key). */
export interface DtlsLegSpec {
  readonly role: 'client' | 'server';
  /** The only check made on the phone's certificate. */
  readonly fingerprint: DtlsFingerprintSpec;
  /** SRTP protection profiles (RFC 5764 4.1.2 names) the box accepts, most preferred first; default all it supports. */
  readonly profiles?: readonly string[];
  /** Names the association: call control changes it for a new one (RFC 8842 5.5), the engine then restarts the handshake. */
  readonly association: number;
  /** Connectivity checks are answered only with these credentials (WebRTC). */
  readonly ice?: IceLiteSpec;
}

/** What a finished DTLS handshake may show: algorithms and role, never a key. */
export interface DtlsKeyingInfo {
  readonly role: 'client' | 'server';
  /** The SRTP protection profile agreed in use_srtp, e.g. SRTP_AES128_CM_SHA1_80. */
  readonly profile: string;
  /** The SRTP suite the leg runs, e.g. AES_CM_128_HMAC_SHA1_80. */
  readonly suite: string;
  readonly cipherSuite: string;
  readonly group: string;
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

/** Payload type numbers rewritten when a packet crosses a connection (the two phones numbered a codec differently). */
export type PayloadTypeMap = Readonly<Record<number, number>>;

export interface LocalMedia {
  readonly address: string;
  readonly rtpPort: number;
  readonly rtcpPort: number;
}

/**
 * The requests. Errors are PbxError codes: 'protocol' for a malformed
 * request, 'not-found' for an unknown session or leg, 'conflict' for a
 * session or leg id in use, 'limit' when no port pair is free, 'config' for
 * an SRTP key that cannot make a session, 'invalid-state' once the engine is
 * closed. A refused request changes nothing.
 */
export type EngineRequest =
  /** An empty session: no legs, no connections, no ports yet. */
  | { readonly op: 'create'; readonly sessionId: string }
  /**
   * Open a leg's port pair. The leg's remote may be known already (the
   * caller's offer). Its security should be 'srtp-pending' when its phone
   * offered SRTP, so nothing reaches it in the clear before its keys come.
   * rtcpMux: the box offers rtcp-mux on this leg; both sockets stay bound
   * either way, because the answer may refuse mux (RFC 5761 5.1.1).
   */
  | {
    readonly op: 'add-leg'; readonly sessionId: string; readonly leg: LegId;
    readonly remote?: RemoteMedia; readonly rtcpMux?: boolean; readonly security?: LegSecurity;
  }
  /**
   * The leg's SDP changed (the answer, a re-INVITE or UPDATE: hold, resume, a
   * new address) or it is keyed or rekeyed (see SrtpLeg.rekey). Keys are set
   * before the address, so the first packet toward a new address is already
   * protected. `answer: true` says this update carries the leg's answer, the
   * one step that may settle an 'srtp-pending' leg as 'rtp'.
   */
  | {
    readonly op: 'update-leg'; readonly sessionId: string; readonly leg: LegId;
    readonly remote?: RemoteMedia; readonly security?: LegSecurity; readonly answer?: boolean;
  }
  /** Close the leg's sockets, free its ports, drop every connection from or to it. */
  | { readonly op: 'remove-leg'; readonly sessionId: string; readonly leg: LegId }
  /**
   * Packets received on `from` are sent to `to` (one direction). Connecting
   * again replaces the payload type map; without ptMap, no rewriting. A
   * non-empty ptMap is refused while `from` is 'srtp-relay' (it would break
   * the authentication tag), and dropped if `from` becomes 'srtp-relay' later.
   */
  | { readonly op: 'connect'; readonly sessionId: string; readonly from: LegId; readonly to: LegId; readonly ptMap?: PayloadTypeMap }
  /** Stop sending `from`'s packets to `to`; no error if they were not connected. */
  | { readonly op: 'disconnect'; readonly sessionId: string; readonly from: LegId; readonly to: LegId }
  /** Close the session and all its legs. Idempotent. */
  | { readonly op: 'delete'; readonly sessionId: string }
  | { readonly op: 'stats'; readonly sessionId?: string }
  /**
   * Music on hold or a prompt into `leg`: `pcm` (8 kHz mono linear, at most
   * MAX_PLAY_SAMPLES) goes out as one 20 ms G.711 packet per 20 ms of the
   * engine's clock, a stream of its own (random SSRC, sequence number and
   * timestamp, marker on the first packet), protected with the leg's own keys.
   * `loop` defaults to true; a prompt that does not loop ends with a
   * 'play-ended' event. While it plays, every connection into the leg is muted
   * (dropped as 'muted' on the source leg); connections from the leg are
   * not. A second 'play' replaces the first. 'invalid-state' on an
   * 'srtp-relay' or 'srtp-pending' leg (the box has no keys to protect it) and
   * on a mixer member. The player stops when the leg is removed or moved, or
   * its security becomes 'srtp-relay' or 'srtp-pending'. It sends no RTCP.
   */
  | {
    readonly op: 'play'; readonly sessionId: string; readonly leg: LegId;
    readonly pcm: Int16Array; readonly codec: 'PCMU' | 'PCMA'; readonly payloadType: number; readonly loop?: boolean;
  }
  /** Stop the leg's player and unmute its connections at once; no error if nothing plays. */
  | { readonly op: 'stop-play'; readonly sessionId: string; readonly leg: LegId }
  /**
   * Move a leg into another session (transfer, pickup, park) as `as`
   * (default: the same id): its sockets, ports, latch, remote, security and
   * SRTP contexts (rollover counters, replay windows) go with it. Its
   * connections, its player, its mixer membership and its taps in the old
   * session are dropped. 'conflict' if `as` is taken there, 'not-found' if
   * either session or the leg is missing. Both sessions get a fresh media
   * timer window.
   */
  | { readonly op: 'move-leg'; readonly sessionId: string; readonly leg: LegId; readonly toSessionId: string; readonly as?: LegId }
  /**
   * A recorder tap: every RTP packet received on each of `legs` (after
   * authentication and decryption; opaque SRTP on 'srtp-relay' legs) is
   * handed to a TapSink the engine's TapSinkFactory makes from `sink` (a
   * serialisable spec). A 'tap' with an existing tapId replaces its legs
   * (the same sink; a different `sink` spec is a 'conflict'). 'config' when
   * the engine has no factory. A sink that throws is closed and its tap
   * removed ('tap-closed' event). Taps are closed with their session.
   */
  | { readonly op: 'tap'; readonly sessionId: string; readonly tapId: string; readonly legs: readonly LegId[]; readonly sink: Readonly<Record<string, unknown>> }
  /** Close the tap's sink and remove it; no error if there is none. */
  | { readonly op: 'untap'; readonly sessionId: string; readonly tapId: string }
  /**
   * Add `leg` to the conference mixer `mixer` (created by its first
   * member), or change its codec: every 20 ms it gets the sum of the other
   * members' audio (not its own), encoded in `codec` under `payloadType`, a
   * stream of its own protected with its own keys. Only 'rtp' legs and
   * 'srtp' legs the box keys can be members ('invalid-state' otherwise: the
   * box cannot decrypt an end-to-end encrypted leg, nor one whose keys are
   * pending), nor a leg with a player ('invalid-state'), nor a member of
   * another mixer ('conflict'). Connections into a member are muted.
   * The packets a member sends are mixed only when their payload type is
   * `payloadType` (DTMF events and comfort noise are not mixed).
   */
  | { readonly op: 'mix'; readonly sessionId: string; readonly mixer: string; readonly leg: LegId; readonly codec: 'PCMU' | 'PCMA'; readonly payloadType: number }
  /** Take `leg` out of the mixer (the last member leaving removes it); no error if it is not a member. */
  | { readonly op: 'unmix'; readonly sessionId: string; readonly mixer: string; readonly leg: LegId }
  /**
   * The SAS of the leg's ZRTP exchange was compared (or the comparison is
   * withdrawn): the box keeps the verified flag for that phone in its cache
   * (RFC 6189 7.1). 'invalid-state' when the leg runs no ZRTP or is not secure yet.
   */
  | { readonly op: 'zrtp-verified'; readonly sessionId: string; readonly leg: LegId; readonly verified: boolean };

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
   * 'not-connected': a valid packet from the leg's phone that no connection
   * takes anywhere (counted once per packet).
   */
  readonly dropped: Readonly<Record<string, number>>;
  readonly lastPacketAt?: number;
  /** The last RTCP reception report this leg's phone sent about what it receives from the box. */
  readonly remoteReport?: ReceptionReport;
  /** A player plays into the leg (absent when none). Its packets count in packetsOut. */
  readonly playing?: boolean;
  /** The conference mixer the leg is a member of. */
  readonly mixer?: string;
  /** The box runs ZRTP on this leg: where the exchange stands. */
  readonly zrtp?: 'negotiating' | 'secure' | 'failed';
  /** The box runs DTLS-SRTP on this leg: where the handshake stands. */
  readonly dtls?: 'handshaking' | 'connected' | 'failed';
  /** ICE-lite on this leg: whether an authenticated connectivity check chose the phone's address. */
  readonly ice?: 'waiting' | 'selected';
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

export interface ConnectionStats {
  readonly from: LegId;
  readonly to: LegId;
  readonly ptMap?: PayloadTypeMap;
}

export interface SessionStats {
  readonly sessionId: string;
  readonly createdAt: number;
  /** By leg id. */
  readonly legs: Readonly<Record<LegId, LegStats>>;
  readonly connections: readonly ConnectionStats[];
  /** Recorder taps and the legs each listens to (absent when none). */
  readonly taps?: readonly { readonly tapId: string; readonly legs: readonly LegId[] }[];
  /** Conference mixers and their members (absent when none). */
  readonly mixers?: readonly { readonly mixer: string; readonly members: readonly LegId[] }[];
}

export type EngineReply =
  | {
    readonly op: 'create' | 'update-leg' | 'remove-leg' | 'connect' | 'disconnect' | 'delete'
      | 'play' | 'stop-play' | 'move-leg' | 'tap' | 'untap' | 'mix' | 'unmix' | 'zrtp-verified';
  }
  | { readonly op: 'add-leg'; readonly leg: LegId; readonly local: LocalMedia }
  | { readonly op: 'stats'; readonly sessions: readonly SessionStats[]; readonly portsInUse: number; readonly counters: Readonly<Record<string, number>> };

export type EngineEvent =
  | { readonly type: 'first-packet'; readonly sessionId: string; readonly leg: LegId }
  /** No media over any connection for the configured time: call control ends the call. */
  | { readonly type: 'media-timeout'; readonly sessionId: string; readonly idleMs: number }
  /**
   * A leg's key agreement finished or failed. Raised by legs that negotiate
   * keys on the media path (DTLS-SRTP, ZRTP). With SDES the keys come in
   * 'add-leg' or 'update-leg' and need no event. `reason` never carries key
   * material; `zrtp` (a ZRTP leg that went secure) carries its SAS for the admin.
   */
  | {
    readonly type: 'keying'; readonly sessionId: string; readonly leg: LegId; readonly state: 'done' | 'failed'; readonly reason?: string;
    readonly zrtp?: ZrtpKeyingInfo;
    /** A DTLS-SRTP leg that completed its handshake. */
    readonly dtls?: DtlsKeyingInfo;
  }
  /** A prompt played with `loop: false` reached its end (its leg's connections are heard again). */
  | { readonly type: 'play-ended'; readonly sessionId: string; readonly leg: LegId }
  /** A tap ended without an 'untap': its sink threw ('sink-error'); the sink was closed. */
  | { readonly type: 'tap-closed'; readonly sessionId: string; readonly tapId: string; readonly reason: 'sink-error' };
