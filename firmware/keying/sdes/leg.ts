import { PbxError, type Counters, type Random } from '../../core/index.js';
import type { LegSecurity } from '../../media/index.js';
import { mediaProfile, type MediaDescription } from '../../sdp/index.js';
import type { KeyingEvent, KeyingEventOutcome, KeyingSdp, KeyingView, LegKeying, TakenOffer } from '../leg/index.js';
import type { CryptoAttribute } from './crypto.js';
import { acceptAnswer, answerCrypto, chooseCrypto, offerCrypto, sdesAttributes, sdesOfMedia, srtpOptionsOf } from './negotiate.js';
import { DEFAULT_OFFER_SUITES, type SdesSuiteName } from './suites.js';

export interface SdesLegOptions {
  readonly random: Random;
  readonly counters?: Counters;
  /** The leg's SIP runs inside TLS: without it no key ever goes into its SDP (sdesAttributes refuses). */
  readonly tls: boolean;
  /** Suites the box offers when it offers toward this leg, most preferred first. */
  readonly offerSuites?: readonly SdesSuiteName[];
}

/** The keys of a leg the box keys: the phone's line (what it sends) and ours (what the box sends it). */
export interface SdesKeys {
  readonly theirs: CryptoAttribute;
  readonly ours: CryptoAttribute;
}

const sameLine = (x: CryptoAttribute, y: CryptoAttribute): boolean =>
  x.tag === y.tag && x.suite === y.suite && x.key.equals(y.key) && x.salt.equals(y.salt);
const srtpOf = (k: SdesKeys): LegSecurity => ({ kind: 'srtp', rx: srtpOptionsOf(k.theirs), tx: srtpOptionsOf(k.ours) });
/** The SRTP transport toward a leg the box offers to, following the feedback profile (AVPF) of the offer it relays. */
const savpFor = (m: MediaDescription | undefined): string => (m && /F$/i.test(m.protocol) ? 'RTP/SAVPF' : 'RTP/SAVP');

/**
 * SDES (RFC 4568) on a leg the box keys itself. Answering the phone's offer,
 * it takes the first offered line whose suite it supports and answers it
 * with the same tag and a fresh key (7.1.1, 7.1.2); offering, it lists its
 * own lines, each with a fresh key, and the phone's answer must pick one
 * (7.1.3). A re-offer rekeys only when it brings a line other than the one
 * in force (7.1.4); the box's own send key then stays unless the suite
 * changed, so no send context restarts under a used key.
 *
 * Keys of an open round are pending: the phone's new key is given to the
 * engine at once (the engine keeps the old one as a fallback for packets in
 * flight), and the round's end either settles them (answer, takeAnswer) or
 * drops them (rollback), which leaves the old keys in force.
 */
export class SdesLeg implements LegKeying {
  readonly method = 'sdes' as const;
  readonly holder = 'box' as const;
  readonly events = [] as const;
  private keys: SdesKeys | undefined;
  /** Keys from the phone's offer of the open round, until the box answers it. */
  private pending: SdesKeys | undefined;
  /** The lines of the box's last offer toward this leg: the phone's answer must pick one. */
  private offered: readonly CryptoAttribute[] | undefined;
  /** `offered` before the open round, restored when it is refused. */
  private offeredBefore: readonly CryptoAttribute[] | undefined;
  private roundOffered = false;
  /** The transport this leg settled on: the phone's when it offered first, the box's when the box did. */
  private profile: string | undefined;
  private lastOfferProfile: string | undefined;

  constructor(private readonly o: SdesLegOptions) {}

  takeOffer(media: MediaDescription): TakenOffer {
    const lines = sdesOfMedia(media, this.o.counters).lines;
    const cur = this.keys;
    if (!cur) {
      const chosen = chooseCrypto(lines);
      if (!chosen) throw new PbxError('protocol', 'none of the SDES crypto suites offered by the caller is supported');
      this.pending = { theirs: chosen, ours: answerCrypto(chosen, this.o.random) };
    } else {
      const kept = lines.find((l) => sameLine(l, cur.theirs));
      const chosen = kept ?? chooseCrypto(lines);
      if (!chosen) throw new PbxError('protocol', 'the new offer has no usable a=crypto line');
      const ours = chosen.suite === cur.ours.suite ? { ...cur.ours, tag: chosen.tag } : answerCrypto(chosen, this.o.random);
      this.pending = { theirs: chosen, ours };
    }
    const p = mediaProfile(media) ?? 'RTP/SAVP';
    this.profile ??= p;
    this.lastOfferProfile = p;
    return { rekey: !cur || !sameLine(this.pending.theirs, cur.theirs), security: srtpOf(this.pending) };
  }

  answer(_peer?: MediaDescription): KeyingSdp {
    if (this.pending) this.keys = this.pending;
    this.pending = undefined;
    const k = this.keys;
    if (!k) throw new PbxError('invalid-state', 'SDES: an answer without an offer');
    return { profile: this.lastOfferProfile ?? this.profile ?? 'RTP/SAVP', attributes: sdesAttributes([k.ours], this.o.tls) };
  }

  offer(peer: MediaDescription | undefined, rekey: boolean): KeyingSdp {
    // A new round on this leg: a phone offer left unanswered (a refused round nobody rolled back) is dead.
    this.pending = undefined;
    this.offeredBefore = this.offered;
    this.roundOffered = true;
    const lines = !this.keys
      ? this.offered ?? offerCrypto(this.o.offerSuites ?? DEFAULT_OFFER_SUITES, this.o.random)
      : rekey ? offerCrypto(this.o.offerSuites ?? DEFAULT_OFFER_SUITES, this.o.random) : [this.keys.ours];
    this.profile ??= savpFor(peer);
    const attributes = sdesAttributes(lines, this.o.tls);
    this.offered = lines;
    return { profile: this.profile, attributes };
  }

  takeAnswer(media: MediaDescription): LegSecurity {
    if (!this.offered) throw new PbxError('invalid-state', 'SDES: an answer to no offer');
    this.keys = acceptAnswer(this.offered, sdesOfMedia(media, this.o.counters));
    this.roundOffered = false;
    return srtpOf(this.keys);
  }

  security(): LegSecurity {
    return this.keys ? srtpOf(this.keys) : { kind: 'srtp-pending' };
  }

  rollback(): LegSecurity | undefined {
    if (this.roundOffered) this.offered = this.offeredBefore;
    this.roundOffered = false;
    if (!this.pending) return undefined;
    this.pending = undefined;
    return this.security();
  }

  handle(_event?: KeyingEvent): KeyingEventOutcome {
    return {};
  }

  view(): KeyingView {
    const suite = (this.keys ?? this.pending)?.theirs.suite;
    return { protection: 'sdes', keys: 'box', ...(suite ? { suite } : {}) };
  }
}
