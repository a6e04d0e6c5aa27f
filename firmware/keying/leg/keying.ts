/**
 * One leg's key agreement, as call control sees it. The box speaks
 * offer/answer with each phone on its own leg; a LegKeying owns what that
 * leg's SDP says about keys and what the media engine needs for it. SDES
 * (the box keys the leg), plain RTP, and the end-to-end relay of SDES lines
 * implement it today; DTLS-SRTP and ZRTP implement the same interface, with
 * the engine events they consume, so call control does not change for them.
 *
 * The calls follow the offer/answer rounds on the leg (RFC 3264):
 *
 *   phone offers:  takeOffer(its m-line)  ...  answer(peer)     -> box's answer
 *   box offers:    offer(peer, rekey)     ...  takeAnswer(its m-line)
 *   round refused (488, 491, timeout):    rollback()
 *
 * `peer` is the other phone's m-line the box's SDP is made from (its offer
 * for offer(), its answer for answer()); a relay copies its key lines, a leg
 * the box keys reads only its transport. Every method that reads a phone's
 * SDP throws PbxError 'protocol' when the keys are unusable; call control
 * answers 488 (or fails the branch) and calls rollback() if a round was open.
 * Nothing here ever yields key material except as SDP attributes toward a
 * TLS leg and as LegSecurity for the engine.
 */
import type { LegSecurity } from '../../media/index.js';
import type { Attribute, MediaDescription } from '../../sdp/index.js';

/** What a leg's keying puts on the box's audio m-line toward its phone: the transport and the key attributes. */
export interface KeyingSdp {
  readonly profile: string;
  readonly attributes: readonly Attribute[];
  /** The leg multiplexes RTCP on the RTP port when the phone offers it (DTLS-SRTP: one association keys both). */
  readonly rtcpMux?: boolean;
  /**
   * From answer(): the engine security to apply once this answer settles the
   * round, when the round changed it (DTLS-SRTP: a new association or new ICE
   * credentials are known only when the roles are); undefined otherwise.
   */
  readonly security?: LegSecurity;
}

/** The key agreement a LegKeying runs: none (plain RTP), SDES (RFC 4568), DTLS-SRTP (RFC 5764), ZRTP (RFC 6189). */
export type KeyingMethod = 'none' | 'sdes' | 'dtls' | 'zrtp';

/** Who holds the leg's keys: nobody (plain), the box (it decrypts), or the phones alone (relayed end to end). */
export type KeyHolder = 'none' | 'box' | 'end-to-end';

/**
 * What the engine reports about a key agreement that runs in the media path
 * (a DTLS handshake, ZRTP). SDES consumes none of them: its keys are all in
 * the SDP.
 */
export type KeyingEvent =
  | { readonly type: 'keying-done'; readonly suite?: string }
  | { readonly type: 'keying-failed'; readonly reason: string }
  /**
   * ZRTP's short authentication string, for the phones' users to compare
   * (RFC 6189 7), with the verified flag the box holds for the phone, and
   * what the views show beside it: the cache state (RFC 6189 4.6.1), the
   * algorithms, the phone's own V flag, whether it is enrolled with the box.
   */
  | {
    readonly type: 'sas'; readonly sas: string; readonly verified: boolean;
    readonly cache?: 'match' | 'mismatch' | 'none'; readonly algorithms?: string; readonly peerVerified?: boolean; readonly enrolled?: boolean;
  };

export type KeyingEventType = KeyingEvent['type'];

/** What the engine must change after an event: new leg security, or the leg failed (call control ends the call). */
export interface KeyingEventOutcome {
  readonly security?: LegSecurity;
  readonly failed?: string;
}

/** What the views show of a ZRTP leg the box terminates (to the admin only): the SAS and how it was reached. */
export interface ZrtpView {
  readonly sas: string;
  /** The box's verified flag for this phone. */
  readonly sasVerified: boolean;
  /** The phone says its user verified the SAS (its V flag). */
  readonly peerVerified?: boolean;
  readonly cache?: 'match' | 'mismatch' | 'none';
  /** e.g. "EC25 AES1 HS80 B32". */
  readonly algorithms?: string;
  readonly enrolled?: boolean;
}

/** What the views show of a leg's keys: protection and suite, never a key. */
export interface KeyingView {
  readonly protection: 'rtp' | 'sdes' | 'dtls' | 'zrtp';
  readonly suite?: string;
  readonly keys?: 'box' | 'end-to-end';
  readonly zrtp?: ZrtpView;
}

/** Result of taking a phone's offer. */
export interface TakenOffer {
  /**
   * The offer brings new key material (RFC 4568 7.1.4: new a=crypto lines),
   * so the other leg, when the box keys it, gets fresh keys too.
   */
  readonly rekey: boolean;
  /** Engine security to apply at once (before the round ends); undefined when the engine keeps what it has. */
  readonly security?: LegSecurity;
}

export interface LegKeying {
  readonly method: KeyingMethod;
  readonly holder: KeyHolder;
  /** Engine events this keying consumes; the others are not passed to it. */
  readonly events: readonly KeyingEventType[];

  /** The phone on this leg offered: its first INVITE, a re-INVITE or an UPDATE. */
  takeOffer(media: MediaDescription): TakenOffer;
  /** The box's answer toward this leg to the offer taken last; this settles the round's keys. */
  answer(peer: MediaDescription | undefined): KeyingSdp;
  /** The box's offer toward this leg; `rekey` asks for fresh keys (the other leg rekeyed). */
  offer(peer: MediaDescription | undefined, rekey: boolean): KeyingSdp;
  /**
   * The phone answered the box's offer (a 183 and then the 200 may both
   * carry it). Returns engine security to apply when the keys changed.
   */
  takeAnswer(media: MediaDescription): LegSecurity | undefined;
  /** Engine security of the keys in force ('srtp-pending' while a leg that will be SRTP has none yet). */
  security(): LegSecurity;
  /**
   * The open round was refused: whatever it would have changed is dropped
   * and the keys in force before it stay. Returns the engine security to put
   * back when takeOffer had already changed it, else undefined.
   */
  rollback(): LegSecurity | undefined;
  /** An engine event of one of `events`. */
  handle(event: KeyingEvent): KeyingEventOutcome;
  view(): KeyingView;
}

/** Plain RTP on the wire: RTP/AVP and no key line. */
export const PLAIN_SDP: KeyingSdp = { profile: 'RTP/AVP', attributes: [] };
