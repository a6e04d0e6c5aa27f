import { PbxError, type Counters, type Random } from '../../core/index.js';
import { DtlsLeg, DtlsRelayLeg, PlainKeying, SdesLeg, SdesRelayLeg, ZrtpLeg, ZrtpRelayLeg, type Fingerprint, type KeyingView, type LegKeying, type ZrtpHelloSource } from '../../keying/index.js';
import type { LegSecurity } from '../../media/index.js';
import type { LegsSecurity } from './session.js';
import type { MediaDescription } from '../../sdp/index.js';
import type { LegPlan, MediaPlan } from '../policy/index.js';
import type { LegSdp } from './sdp.js';

export type Side = 'a' | 'b';

export interface CallKeysOptions {
  readonly random: Random;
  readonly counters?: Counters;
  /** Whether each leg's SIP runs inside TLS: SDES keys go only there. */
  readonly tls: { readonly a: boolean; readonly b: boolean };
  /** The box's ZRTP identity: without it a ZRTP leg the box would terminate cannot be made. */
  readonly zrtp?: ZrtpHelloSource;
  /** The box's DTLS certificate fingerprint: without it a leg the box keys cannot speak DTLS-SRTP. */
  readonly dtlsFingerprint?: Fingerprint;
}

/** The keying a leg's plan asks for. */
export function legKeying(plan: MediaPlan, lp: LegPlan, tls: boolean, o: CallKeysOptions): LegKeying {
  if (lp.keyAgreement === 'none') return new PlainKeying();
  if (lp.keyAgreement === 'zrtp') {
    if (plan.mode === 'relay' || lp.keys === 'end-to-end') return new ZrtpRelayLeg();
    if (!o.zrtp) throw new PbxError('protocol', 'zrtp keying is not available (the box has no ZRTP identity)');
    // The box is a trusted PBX toward its phones (RFC 6189 7.3): the M flag in its Hello.
    return new ZrtpLeg({ hello: o.zrtp, random: o.random, mitm: true });
  }
  if (lp.keyAgreement === 'dtls') {
    const counters = o.counters ? { counters: o.counters } : {};
    if (plan.mode === 'relay' || lp.keys === 'end-to-end') return new DtlsRelayLeg(counters);
    if (!o.dtlsFingerprint) throw new PbxError('protocol', 'DTLS-SRTP keying is not available (the box has no DTLS certificate)');
    return new DtlsLeg({ fingerprint: o.dtlsFingerprint, random: o.random, ...counters });
  }
  if (lp.keyAgreement !== 'sdes') throw new PbxError('protocol', `${lp.keyAgreement} keying is not available`);
  if (plan.mode === 'relay' || lp.keys === 'end-to-end') return new SdesRelayLeg({ tls });
  return new SdesLeg({ random: o.random, ...(o.counters ? { counters: o.counters } : {}), tls });
}

/**
 * One call's media keys under a MediaPlan (pbx/policy): two LegKeyings, one
 * per leg, chosen from the plan, and the order in which the offer/answer
 * rounds drive them. Built per branch (each contact may differ in TLS), kept
 * for the branch that answered.
 *
 * - Relay, plain: PlainKeying on both legs.
 * - Relay, end to end (SDES): SdesRelayLeg on both; the caller's lines reach
 *   the callee verbatim and the callee's come back, the box holds no key; a
 *   best-effort offer the callee answers without keys becomes a plain relay.
 * - Bridge: SdesLeg on an SDES leg (the box runs RFC 4568 itself), PlainKeying
 *   on a plain one, in any combination.
 *
 * Keys never leave this object except as SDP toward a TLS leg (sdesAttributes
 * refuses anything else) and as engine security.
 */
export class CallKeys {
  private readonly legs: Record<Side, LegKeying>;
  /** The side whose offer opened the round in progress (reoffer), until it is answered or rolled back. */
  private round: Side | undefined;

  constructor(readonly plan: MediaPlan, private readonly callerOffer: MediaDescription | undefined, o: CallKeysOptions) {
    const a = legKeying(plan, plan.legA, o.tls.a, o);
    const b = legKeying(plan, plan.legB, o.tls.b, o);
    this.legs = { a, b };
    if (callerOffer) a.takeOffer(callerOffer);
    else if (a.holder === 'box') throw new PbxError('protocol', 'none of the SDES crypto suites offered by the caller is supported');
  }

  /** The keying of one leg, for call control to pass engine events to (see LegKeying.events). */
  leg(side: Side): LegKeying {
    return this.legs[side];
  }

  /** The box's m-line toward the callee in its first INVITE. */
  calleeOffer(): LegSdp {
    return this.towardCallee(this.legs.b.offer(this.callerOffer, false));
  }

  /**
   * The profile toward the callee as the plan says: with or without feedback
   * (RTP/SAVPF or RTP/SAVP, RTP/AVPF or RTP/AVP) when a retry chose it for a
   * phone that refused the other; as the caller offered otherwise.
   */
  private towardCallee(sdp: LegSdp): LegSdp {
    const fb = this.plan.legB.feedback;
    return fb === undefined ? sdp : { ...sdp, profile: withFeedback(sdp.profile, fb) };
  }

  /**
   * The callee answered (183 or 2xx): the m-line for the caller's answer and
   * each leg's engine security. Throws PbxError 'protocol' when the answer's
   * keys are unusable (RFC 4568 7.1.3): that branch has failed.
   */
  calleeAnswered(answer: MediaDescription): { callerAnswer: LegSdp; engine: LegsSecurity } {
    const { a, b } = this.legs;
    b.takeAnswer(answer);
    const callerAnswer = a.answer(answer);
    return { callerAnswer, engine: { a: a.security(), b: b.security() } };
  }

  /**
   * A re-INVITE or UPDATE from `side` brings a new offer. Returns the m-line
   * toward the other side and, when the offer changes what the engine must
   * do on `side` (a leg the box keys), that leg's security at once; the
   * engine keeps the old receive key as a fallback. The keys stay unless the
   * offer brings new crypto lines (RFC 4568 7.1.4); then the other leg, when
   * the box keys it, is offered fresh keys too, so no send context ever
   * restarts under a used key.
   */
  reoffer(side: Side, offer: MediaDescription): { there: LegSdp; here?: LegSecurity } {
    const here = this.legs[side];
    const there = this.legs[other(side)];
    this.round = side;
    const taken = here.takeOffer(offer);
    const made = there.offer(offer, taken.rekey);
    const sdp = side === 'a' ? this.towardCallee(made) : made;
    return { there: sdp, ...(taken.security ? { here: taken.security } : {}) };
  }

  /**
   * A re-offer from `side` that the box answers itself, without asking the
   * other phone (hold and resume when the box holds the keys: it plays music
   * instead of passing the hold on). `peer` is the other phone's last m-line,
   * for the codecs; the other leg's keys do not change, since nothing
   * crosses to it. Returns the answer's m-line and the leg's engine security.
   */
  answerHere(side: Side, offer: MediaDescription, peer: MediaDescription | undefined): { here: LegSdp; security: LegSecurity } {
    const leg = this.legs[side];
    leg.takeOffer(offer);
    const here = leg.answer(peer);
    return { here, security: leg.security() };
  }

  /** The other side answered the re-offer: the m-line back toward `side`, the engine security for the other leg, and for `side`'s own when the answer changed it. */
  reanswered(side: Side, answer: MediaDescription): { here: LegSdp; there?: LegSecurity; hereSecurity?: LegSecurity } {
    const open = this.round === side;
    this.round = undefined;
    const thereSec = open ? this.legs[other(side)].takeAnswer(answer) : undefined;
    const here = this.legs[side].answer(answer);
    // A round whose answer changed what the engine runs on the asking leg (a DTLS or ICE restart).
    return { here, ...(thereSec ? { there: thereSec } : {}), ...(here.security ? { hereSecurity: here.security } : {}) };
  }

  /**
   * The round `side` opened was refused (488, 491, a timeout): both legs
   * drop what it would have changed, the keys in force before it stay.
   * Returns the engine security to put back per leg where reoffer had
   * already changed it (`here` is `side`'s leg).
   */
  rollback(side: Side): { here?: LegSecurity; there?: LegSecurity } {
    if (this.round === side) this.round = undefined;
    const here = this.legs[side].rollback();
    const there = this.legs[other(side)].rollback();
    return { ...(here ? { here } : {}), ...(there ? { there } : {}) };
  }

  /**
   * A new leg takes the place of `side`'s (a transfer): its keying replaces
   * the old one; the other side's keys stay as they are. Only where the box
   * keys the other side: end-to-end keys cannot be handed to a new phone.
   */
  replace(side: Side, keying: LegKeying): void {
    if (this.legs[other(side)].holder === 'end-to-end') throw new PbxError('invalid-state', 'end-to-end keys cannot be joined to another phone');
    this.round = undefined;
    this.legs[side] = keying;
  }

  /** What the views show of a leg: protection and suite, never a key. */
  view(side: Side): KeyingView {
    return this.legs[side].view();
  }

  /** Whether media passes end to end encrypted (no recording, no music on hold). */
  get endToEnd(): boolean {
    return this.legs.a.view().keys === 'end-to-end' && this.legs.b.view().keys === 'end-to-end';
  }
}

/** An RTP profile with or without the feedback extension (RFC 4585, RFC 5124). */
export function withFeedback(profile: string, feedback: boolean): string {
  const bare = profile.replace(/F$/i, '');
  return feedback ? `${bare}F` : bare;
}

function other(side: Side): Side {
  return side === 'a' ? 'b' : 'a';
}
