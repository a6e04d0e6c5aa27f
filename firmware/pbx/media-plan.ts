import { PbxError, type Counters, type Random } from '../core/index.js';
import type { LegSecurity, LocalMedia, RemoteMedia, SessionSecurity } from '../media/index.js';
import {
  DEFAULT_OFFER_SUITES, acceptAnswer, answerCrypto, chooseCrypto, offerCrypto, parseCryptoLine, sdesAttributes, sdesOfMedia,
  srtpOptionsOf, type CryptoAttribute,
} from '../keying/index.js';
import {
  BOX_SDP_USERNAME, attributeValues, codecAttributes, codecMatches, codecsOf, isAuxiliary, mediaProfile, parseSdp, remoteMediaOf, serializeSdp, remoteDirection,
  type Attribute, type Codec, type CodecFilter, type Direction, type MediaDescription, type SessionDescription,
} from '../sdp/index.js';
import type { LegPlan, MediaPlan } from './policy/index.js';
import type { LegView } from './views.js';

/**
 * How the box rewrites SDP between the two legs of a call. The box is the
 * media endpoint for each phone: toward each leg it writes its own address
 * and ports, and it offers and answers only codecs it relays (RFC 3264 offer/
 * answer, with the offerer's payload type numbers kept on both legs so RTP
 * passes through unchanged).
 */

/** Codecs the relay passes (by encoding name, clock rate and channels). */
const RELAYED: CodecFilter = [
  { encoding: 'PCMU', clockRate: 8000 },
  { encoding: 'PCMA', clockRate: 8000 },
  { encoding: 'G722', clockRate: 8000 },
  { encoding: 'telephone-event', clockRate: 8000 },
];

const isRelayed = (c: Codec): boolean => RELAYED.some((r) => codecMatches(c, r));
/** A codec that carries the voice itself, not an auxiliary format such as telephone-event. */
const isVoice = (c: Codec): boolean => !isAuxiliary(c);

export interface SdpSession {
  /** o= session id of the box toward this leg, and its version (RFC 3264 8: +1 on each change). */
  readonly id: string;
  version: number;
}

export function parseBody(body: Buffer): SessionDescription | undefined {
  if (body.length === 0) return undefined;
  return parseSdp(body);
}

/** The first audio m-line: the one stream the box relays. */
export function audioIndex(sd: SessionDescription): number {
  return sd.media.findIndex((m) => m.type === 'audio' && m.port !== 0);
}

export function remoteOf(sd: SessionDescription): RemoteMedia {
  const i = audioIndex(sd);
  if (i < 0) throw new PbxError('protocol', 'no audio stream');
  return remoteMediaOf(sd, i);
}

function attr(m: MediaDescription, name: string): string | undefined {
  const a = m.attributes.find((x) => x.name === name);
  return a?.value ?? undefined;
}

/** How the box writes one leg's audio m-line: its transport profile and the key lines (a=crypto) it carries. */
export interface LegSdp {
  readonly profile: string;
  readonly attributes: readonly Attribute[];
}

/** Plain RTP: RTP/AVP and no key line at all. */
export const PLAIN_SDP: LegSdp = { profile: 'RTP/AVP', attributes: [] };

/** Build the box's SDP toward one leg: one audio stream at `local`, with `codecs`, plus rejected copies of other streams. */
function boxSdp(session: SdpSession, local: LocalMedia, shape: SessionDescription | undefined, codecs: readonly Codec[], direction: Direction,
  ptime: string | undefined, leg: LegSdp): Buffer {
  const ip = local.address.includes(':') ? 'IP6' : 'IP4';
  const audioMedia: MediaDescription = {
    type: 'audio', port: local.rtpPort, protocol: leg.profile, formats: codecs.map((c) => String(c.pt)), bandwidths: [],
    attributes: [...codecAttributes(codecs), ...(ptime ? [{ name: 'ptime', value: ptime }] : []), ...leg.attributes, { name: 'rtcp', value: String(local.rtcpPort) }, { name: direction, value: null }],
  };
  // The answer keeps every m-line of the offer, in order (RFC 3264 6); the box rejects all but the audio it relays.
  const ai = shape ? audioIndex(shape) : -1;
  const media: MediaDescription[] = shape && ai >= 0
    ? shape.media.map((m, i) => (i === ai ? audioMedia : { type: m.type, port: 0, protocol: m.protocol, formats: m.formats.slice(0, 1), bandwidths: [], attributes: [] }))
    : [audioMedia];
  const sd: SessionDescription = {
    version: 0,
    origin: { username: BOX_SDP_USERNAME, sessionId: session.id, sessionVersion: String(session.version), netType: 'IN', addrType: ip, address: local.address },
    sessionName: 'securepbx call',
    emails: [], phones: [], bandwidths: [],
    connection: { netType: 'IN', addrType: ip, address: local.address },
    timings: [{ start: 0, stop: 0, repeats: [] }],
    attributes: [],
    media,
  };
  return Buffer.from(serializeSdp(sd), 'utf8');
}

/** The box's offer toward the callee, made from the caller's offer: same codecs (those we relay), same numbers. */
export function offerFromOffer(offer: SessionDescription, session: SdpSession, local: LocalMedia, leg: LegSdp = PLAIN_SDP): { body: Buffer; codecs: Codec[] } {
  const i = audioIndex(offer);
  if (i < 0) throw new PbxError('protocol', 'the offer has no audio stream');
  const m = offer.media[i]!;
  const codecs = codecsOf(m).filter(isRelayed);
  if (!codecs.some(isVoice)) throw new PbxError('protocol', 'no codec in common');
  return { body: boxSdp(session, local, undefined, codecs, remoteDirection(offer, m), attr(m, 'ptime'), leg), codecs };
}

/**
 * The box's answer toward the caller, from the caller's offer and the callee's
 * answer: the codecs the callee accepted, in the caller's payload numbers.
 */
export function answerFromAnswer(offer: SessionDescription, answer: SessionDescription, session: SdpSession, local: LocalMedia, leg: LegSdp = PLAIN_SDP): Buffer {
  const oi = audioIndex(offer);
  const ai = audioIndex(answer);
  if (oi < 0 || ai < 0) throw new PbxError('protocol', 'no audio stream was accepted');
  const offered = codecsOf(offer.media[oi]!).filter(isRelayed);
  const accepted = codecsOf(answer.media[ai]!);
  const codecs = offered.filter((o) => accepted.some((a) => codecMatches(a, o)));
  if (!codecs.some(isVoice)) throw new PbxError('protocol', 'no codec in common');
  return boxSdp(session, local, offer, codecs, remoteDirection(answer, answer.media[ai]!), attr(answer.media[ai]!, 'ptime'), leg);
}

/** Payload type rewriting needed when the answerer numbered a codec differently from the offer. */
export function payloadMap(offer: SessionDescription, answer: SessionDescription): Record<number, number> {
  const oi = audioIndex(offer);
  const ai = audioIndex(answer);
  const map: Record<number, number> = {};
  if (oi < 0 || ai < 0) return map;
  const offered = codecsOf(offer.media[oi]!);
  for (const a of codecsOf(answer.media[ai]!)) {
    const o = offered.find((x) => codecMatches(x, a));
    if (o && o.pt !== a.pt) map[a.pt] = o.pt;
  }
  return map;
}

export const SDP_TYPE = 'application/sdp';

/**
 * The engine security of the caller's leg at 'offer', before any branch has
 * answered: a caller that offered SRTP (a=crypto, an SAVP profile, a ZRTP
 * hash) is 'srtp-pending', so the engine sends it nothing in the clear while
 * the call rings (early media, or whoever sends at the callee-side port). The
 * answer that brings the keys settles the leg (CallKeys.calleeAnswered),
 * plain RTP included when a best-effort offer ends up plain.
 */
export function offerSecurity(callerOffer: MediaDescription | undefined): SessionSecurity | undefined {
  if (!callerOffer) return undefined;
  const srtp = /SAVP/i.test(callerOffer.protocol) || callerOffer.attributes.some((a) => a.name === 'crypto' || a.name === 'zrtp-hash');
  return srtp ? { a: { kind: 'srtp-pending' } } : undefined;
}

/** The first audio m-line of an SDP, if any. */
export function audioOf(sd: SessionDescription | undefined): MediaDescription | undefined {
  if (!sd) return undefined;
  const i = audioIndex(sd);
  return i < 0 ? undefined : sd.media[i];
}

type Side = 'a' | 'b';

export interface CallKeysOptions {
  readonly random: Random;
  readonly counters?: Counters;
  /** Whether each leg's SIP runs inside TLS: SDES keys go only there. */
  readonly tls: { readonly a: boolean; readonly b: boolean };
}

/** The box's keys on a leg it keys itself: the phone's line (what it sends) and ours (what we send it). */
interface BoxKeys {
  theirs: CryptoAttribute;
  ours: CryptoAttribute;
}

const plainProfile = (m: MediaDescription | undefined): string => {
  const p = m ? mediaProfile(m) : undefined;
  return p === 'RTP/AVP' || p === 'RTP/AVPF' ? p : 'RTP/AVP';
};
const savpFor = (m: MediaDescription | undefined): string => (m && /F$/i.test(m.protocol) ? 'RTP/SAVPF' : 'RTP/SAVP');
const rawCrypto = (m: MediaDescription): Attribute[] => attributeValues(m.attributes, 'crypto').map((value) => ({ name: 'crypto', value }));
const sameLine = (x: CryptoAttribute, y: CryptoAttribute): boolean =>
  x.tag === y.tag && x.suite === y.suite && x.key.equals(y.key) && x.salt.equals(y.salt);

/**
 * One call's media keys under a MediaPlan (pbx/policy): what goes into the
 * SDP toward each leg and what the media engine gets. Built per branch (each
 * contact may differ in TLS), kept for the branch that answered.
 *
 * - Relay, plain: RTP/AVP and no a=crypto either way.
 * - Relay, end to end (SDES): the caller's profile and every one of its
 *   a=crypto lines go to the callee verbatim, the callee's lines come back
 *   verbatim; the box holds no key and the engine passes SRTP untouched. A
 *   best-effort offer the callee answers without keys becomes a plain relay.
 * - Bridge: on an SDES leg the box runs RFC 4568 itself: it answers the
 *   caller's first supported line with a fresh key, and offers the callee
 *   its own lines (DEFAULT_OFFER_SUITES), each with a fresh key. Plain legs
 *   carry no a=crypto, so a best-effort caller hears no keys back.
 *
 * Keys never leave this object except as SDP toward a TLS leg
 * (sdesAttributes refuses anything else) and as engine options.
 */
export class CallKeys {
  private readonly legs: { a?: BoxKeys; b?: BoxKeys } = {};
  /** Our offered lines toward the callee, until its answer picks one. */
  private offered: CryptoAttribute[] | undefined;
  /** End-to-end relay: the suite the callee answered, for the views; undefined while not known or plain. */
  private e2eSuite: string | undefined;
  private e2eActive: boolean;
  /** Keys of an in-progress re-offer: per side, what the answer must settle. */
  private pending: { side: Side; here?: BoxKeys; thereOffered?: CryptoAttribute[] } | undefined;

  constructor(readonly plan: MediaPlan, private readonly callerOffer: MediaDescription | undefined, private readonly o: CallKeysOptions) {
    this.e2eActive = plan.mode === 'relay' && plan.legA.keys === 'end-to-end';
    if (plan.mode === 'bridge' && plan.legA.keyAgreement === 'sdes') {
      const chosen = callerOffer ? chooseCrypto(sdesOfMedia(callerOffer, o.counters).lines) : undefined;
      if (!chosen) throw new PbxError('protocol', 'none of the SDES crypto suites offered by the caller is supported');
      this.legs.a = { theirs: chosen, ours: answerCrypto(chosen, o.random) };
    }
    if (plan.mode === 'bridge' && plan.legB.keyAgreement === 'sdes') this.offered = offerCrypto(DEFAULT_OFFER_SUITES, o.random);
  }

  private legPlan(side: Side): LegPlan {
    return side === 'a' ? this.plan.legA : this.plan.legB;
  }

  /** The box's m-line toward the callee in its first INVITE. */
  calleeOffer(): LegSdp {
    if (this.e2eActive && this.callerOffer) return this.relayed(this.callerOffer, 'b');
    if (this.offered) return { profile: savpFor(this.callerOffer), attributes: sdesAttributes(this.offered, this.o.tls.b) };
    return PLAIN_SDP;
  }

  /** Crypto lines passed through verbatim, still only toward a TLS leg. */
  private relayed(m: MediaDescription, to: Side): LegSdp {
    const lines = rawCrypto(m);
    if (lines.length > 0 && !this.o.tls[to]) throw new PbxError('protocol', 'SDES keys are only sent over TLS signalling');
    return { profile: mediaProfile(m) ?? m.protocol, attributes: lines };
  }

  /**
   * The callee answered (183 or 2xx): the m-line for the caller's answer and
   * each leg's engine security. Throws PbxError 'protocol' when the answer's
   * keys are unusable (RFC 4568 7.1.3): that branch has failed.
   */
  calleeAnswered(answer: MediaDescription): { callerAnswer: LegSdp; engine: SessionSecurity } {
    if (this.plan.mode === 'relay') {
      if (!this.e2eActive) return { callerAnswer: { profile: plainProfile(this.callerOffer), attributes: [] }, engine: { a: { kind: 'rtp' }, b: { kind: 'rtp' } } };
      const lines = rawCrypto(answer);
      const bestEffort = this.callerOffer !== undefined && sdesOfMedia(this.callerOffer).mode === 'best-effort';
      if (lines.length === 0) {
        if (!bestEffort) throw new PbxError('protocol', 'the answer to an SRTP offer has no a=crypto line');
        // The callee took the best-effort offer as plain RTP: so does the caller (RFC 4568 5 fallback).
        this.e2eActive = false;
        return { callerAnswer: { profile: plainProfile(this.callerOffer), attributes: [] }, engine: { a: { kind: 'rtp' }, b: { kind: 'rtp' } } };
      }
      const parsed = parseCryptoLine(lines[0]!.value ?? '');
      this.e2eSuite = parsed.ok ? parsed.crypto.suite : undefined;
      const relay: LegSecurity = { kind: 'srtp-relay' };
      return { callerAnswer: this.relayed({ ...answer, protocol: this.callerOffer?.protocol ?? answer.protocol }, 'a'), engine: { a: relay, b: relay } };
    }
    let b: LegSecurity = { kind: 'rtp' };
    if (this.offered) {
      const { ours, theirs } = acceptAnswer(this.offered, sdesOfMedia(answer, this.o.counters));
      this.legs.b = { ours, theirs };
      b = { kind: 'srtp', rx: srtpOptionsOf(theirs), tx: srtpOptionsOf(ours) };
    }
    return { callerAnswer: this.toCaller(), engine: { a: this.engineLeg('a'), b } };
  }

  private toCaller(): LegSdp {
    const a = this.legs.a;
    if (!a) return { profile: plainProfile(this.callerOffer), attributes: [] };
    return { profile: this.keyedProfile('a'), attributes: sdesAttributes([a.ours], this.o.tls.a) };
  }

  /**
   * The profile of a leg the box keys: toward the caller its own (RTP/SAVP(F),
   * or RTP/AVP(F) with a=crypto for a best-effort offer); toward the callee
   * the one the box offered.
   */
  private keyedProfile(side: Side): string {
    if (side === 'a') return this.callerOffer ? (mediaProfile(this.callerOffer) ?? 'RTP/SAVP') : 'RTP/SAVP';
    return savpFor(this.callerOffer);
  }

  private engineLeg(side: Side): LegSecurity {
    const k = this.legs[side];
    return k ? { kind: 'srtp', rx: srtpOptionsOf(k.theirs), tx: srtpOptionsOf(k.ours) } : { kind: 'rtp' };
  }

  /**
   * A re-INVITE or UPDATE from `side` brings a new offer. Returns the m-line
   * toward the other side and, for a leg the box keys, the engine security
   * for `side` at once (the old key stays as a fallback in the engine).
   * The keys stay unless the offer brings new crypto lines (RFC 4568 7.1.4);
   * then the other leg, when the box keys it, gets fresh keys too, so no send
   * context ever restarts under a used key.
   */
  reoffer(side: Side, offer: MediaDescription): { there: LegSdp; here?: LegSecurity } {
    const there: Side = side === 'a' ? 'b' : 'a';
    this.pending = { side };
    if (this.plan.mode === 'relay') return { there: this.e2eActive ? this.relayed(offer, there) : PLAIN_SDP };
    let changed = false;
    let here: LegSecurity | undefined;
    const cur = this.legs[side];
    if (cur) {
      const lines = sdesOfMedia(offer, this.o.counters).lines;
      const kept = lines.find((l) => sameLine(l, cur.theirs));
      const chosen = kept ?? chooseCrypto(lines);
      if (!chosen) throw new PbxError('protocol', 'the new offer has no usable a=crypto line');
      changed = kept === undefined;
      const ours = chosen.suite === cur.ours.suite ? { ...cur.ours, tag: chosen.tag } : answerCrypto(chosen, this.o.random);
      this.pending.here = { theirs: chosen, ours };
      here = { kind: 'srtp', rx: srtpOptionsOf(chosen), tx: srtpOptionsOf(ours) };
    }
    const other = this.legs[there];
    if (!other) return { there: PLAIN_SDP, ...(here ? { here } : {}) };
    const lines = changed ? offerCrypto(DEFAULT_OFFER_SUITES, this.o.random) : [other.ours];
    this.pending.thereOffered = lines;
    return { there: { profile: this.keyedProfile(there), attributes: sdesAttributes(lines, this.o.tls[there]) }, ...(here ? { here } : {}) };
  }

  /** The other side answered the re-offer: the m-line back toward `side` and the engine security for the other leg. */
  reanswered(side: Side, answer: MediaDescription): { here: LegSdp; there?: LegSecurity } {
    const there: Side = side === 'a' ? 'b' : 'a';
    const p = this.pending?.side === side ? this.pending : undefined;
    this.pending = undefined;
    if (this.plan.mode === 'relay') {
      return { here: this.e2eActive ? this.relayed(answer, side) : { profile: plainProfile(answer), attributes: [] } };
    }
    let thereSec: LegSecurity | undefined;
    if (p?.thereOffered) {
      const { ours, theirs } = acceptAnswer(p.thereOffered, sdesOfMedia(answer, this.o.counters));
      this.legs[there] = { ours, theirs };
      thereSec = { kind: 'srtp', rx: srtpOptionsOf(theirs), tx: srtpOptionsOf(ours) };
    }
    if (p?.here) this.legs[side] = p.here;
    const k = this.legs[side];
    const here: LegSdp = k
      ? { profile: this.keyedProfile(side), attributes: sdesAttributes([k.ours], this.o.tls[side]) }
      : { profile: plainProfile(side === 'a' ? this.callerOffer : undefined), attributes: [] };
    return { here, ...(thereSec ? { there: thereSec } : {}) };
  }

  /** What the views show of a leg: protection and suite, never a key. */
  view(side: Side): Pick<LegView, 'protection' | 'suite' | 'keys'> {
    const lp = this.legPlan(side);
    if (this.plan.mode === 'relay') {
      if (!this.e2eActive || lp.keyAgreement === 'none') return { protection: 'rtp' };
      return { protection: lp.keyAgreement, keys: 'end-to-end', ...(this.e2eSuite ? { suite: this.e2eSuite } : {}) };
    }
    if (lp.keyAgreement === 'none') return { protection: 'rtp' };
    const k = this.legs[side];
    return { protection: lp.keyAgreement, keys: 'box', ...(k ? { suite: k.theirs.suite } : {}) };
  }

  /** Whether media passes end to end encrypted (no recording, no music on hold). */
  get endToEnd(): boolean { return this.e2eActive; }
}
