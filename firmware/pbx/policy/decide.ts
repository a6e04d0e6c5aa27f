import type {
  KeyAgreement, LegPlan, MediaPlan, OfferShape, PartyInfo, PhoneCaps, PlanInput, PolicyRefusal, Protection, RefusalCode,
} from './types.js';

/**
 * The media security decision: a pure function from the two policies, the
 * two phones and the caller's offer to a plan or a refusal. It follows the
 * service policy table of the seed (caller_stream_relay_or_decrypt x
 * callee_stream_security_settings x whether the caller's device asks for
 * encryption), plus four rules of our own:
 *
 * 1. SDES keys travel only over TLS. SDES puts the key in the SDP, so a leg
 *    whose SIP is not TLS can never carry a=crypto in either direction. A
 *    caller's RTP/SAVP offer over UDP is refused; its best-effort offer
 *    (RTP/AVP + a=crypto) is answered as plain RTP instead.
 * 2. sips: end to end: both legs TLS (else 480), and both legs SRTP (else 480).
 * 3. The phones' abilities bound every leg: a leg toward a phone uses only a
 *    protection its account supports and allows.
 * 4. DTLS-SRTP and ZRTP are known to the table but refused with 488 until the
 *    box carries them (`available`); relaying them needs the engine to pass
 *    their handshakes and the SDP to keep fingerprints, so relays wait too.
 *
 * Interpretation of the options:
 * - forced_relay: the callee gets exactly what the caller sent. With SDES that
 *   means the caller's own a=crypto reaches the callee (and the callee's comes
 *   back), so the callee's leg must be TLS and its phone must do SDES, else
 *   488: the box never bridges under forced_relay.
 * - relay_or_decrypt: relay when the callee's policy (as_caller) and phone
 *   allow it; otherwise the box decrypts/encrypts, toward the best protection
 *   the callee can take (an encrypted one if the caller encrypted, else RTP).
 * - decrypt: the box always holds the caller's keys; with as_caller or
 *   decrypted the callee gets plain RTP, exactly as the seed table says.
 * - A plain caller under decrypted/as_caller is relayed as plain RTP: nothing
 *   to decrypt, and the box sees the media, so features stay on.
 * calleeStream comes from the callee's policy when the callee is an account
 * (it says what its phone's leg needs), else from the caller's policy.
 */

/** What the box carries today: SDES, DTLS-SRTP and ZRTP (the box terminates them or relays them end to end). */
export const AVAILABLE_KEY_AGREEMENTS: readonly KeyAgreement[] = ['sdes', 'dtls', 'zrtp'];
/** Counter name prefix for refusals: `policy.refuse.<code>`. */
export const POLICY_REFUSAL_COUNTER_PREFIX = 'policy.refuse.';

const LABEL: Readonly<Record<Protection, string>> = { rtp: 'plain RTP', sdes: 'SDES', dtls: 'DTLS-SRTP', zrtp: 'ZRTP' };
/** Preference when the box picks an encrypted protection for a leg. */
const ENCRYPTED_ORDER: readonly KeyAgreement[] = ['sdes', 'dtls', 'zrtp'];

export function isRefusal(r: MediaPlan | PolicyRefusal): r is PolicyRefusal {
  return 'status' in r;
}

/** A phone takes `p` when its account supports it and, if it insists on some protections, `p` is one of them. */
export function accepts(caps: PhoneCaps, p: Protection): boolean {
  return caps.supported.includes(p) && (caps.required.length === 0 || caps.required.includes(p));
}

function refuse(status: 488 | 480, code: RefusalCode, reason: string): PolicyRefusal {
  return { status, code, reason };
}

const PLAIN: LegPlan = { protection: 'rtp', keyAgreement: 'none', keys: 'none' };
const leg = (p: Protection, keys: 'box' | 'end-to-end'): LegPlan => (p === 'rtp' ? PLAIN : { protection: 'srtp', keyAgreement: p, keys });

function plan(mode: 'relay' | 'bridge', legA: LegPlan, legB: LegPlan, note: string): MediaPlan {
  const clear = legA.keys !== 'end-to-end' && legB.keys !== 'end-to-end';
  return { mode, legA, legB, features: { recording: clear, musicOnHold: clear }, note };
}

class Decider {
  private readonly available: readonly KeyAgreement[];

  constructor(private readonly input: PlanInput) {
    this.available = input.available ?? AVAILABLE_KEY_AGREEMENTS;
  }

  /** `offered`: the caller's phone asked for `p`; otherwise the policy wants it on the callee's leg. */
  private notAvailable(p: KeyAgreement, offered: boolean): PolicyRefusal {
    return refuse(488, 'not-available', p === 'zrtp' && offered
      ? 'ZRTP is not available yet: the phone offered ZRTP (a=zrtp-hash) and may insist on it, so the call is refused rather than connected silent; turn ZRTP off on the phone or use SRTP (SDES over TLS)'
      : `${LABEL[p]} is not available yet`);
  }

  /** Whether the callee's leg can carry `p`, or why not. */
  private calleeCan(p: Protection, why: string): PolicyRefusal | undefined {
    const callee: PartyInfo = this.input.callee;
    if (p !== 'rtp' && !this.available.includes(p)) return this.notAvailable(p, false);
    if (!accepts(callee.caps, p)) {
      return refuse(488, 'callee-incapable', p === 'rtp'
        ? `the callee's phone requires encrypted media, and ${why} sends it plain RTP`
        : `the callee's phone cannot do ${LABEL[p]}, which ${why} needs`);
    }
    if (p === 'sdes' && !callee.legTls) return refuse(488, 'sdes-needs-tls', `SDES needs TLS on the callee's leg (${why})`);
    return undefined;
  }

  /** Packets pass untouched; an encrypted offer's key exchange goes end to end. */
  private relay(p: Protection, why: string): MediaPlan | PolicyRefusal {
    const bad = this.calleeCan(p, why);
    if (bad) return bad;
    const l = leg(p, 'end-to-end');
    return plan('relay', l, l, p === 'rtp' ? `${why}: plain RTP relayed` : `${why}: ${LABEL[p]} relayed untouched, the box holds no keys`);
  }

  /** The box terminates the caller's protection `p` and speaks `q` to the callee. */
  private bridge(p: Protection, q: Protection, why: string): MediaPlan | PolicyRefusal {
    if (p === 'rtp' && q === 'rtp') return this.relay('rtp', why);
    if (p === 'sdes' && this.input.offer.suites.length === 0) {
      return refuse(488, 'no-common-suite', 'none of the SDES crypto suites offered by the caller is supported');
    }
    const bad = this.calleeCan(q, why);
    if (bad) return bad;
    return plan('bridge', leg(p, 'box'), leg(q, 'box'), `${why}: ${LABEL[p]} to the box, ${LABEL[q]} to the callee`);
  }

  /** relay_or_decrypt + as_caller: relay if the callee can take the caller's media as it is, else bridge to what it can take. */
  private relayOrBridge(p: Protection, why: string): MediaPlan | PolicyRefusal {
    const relayed = this.relay(p, why);
    if (!('status' in relayed)) return relayed;
    // The caller encrypted: keep the callee's leg encrypted if it can be, else plain. The caller sent RTP: only encryption is left.
    const order: readonly Protection[] = p === 'rtp' ? ENCRYPTED_ORDER : [...ENCRYPTED_ORDER, 'rtp'];
    const q = order.find((x) => this.calleeCan(x, why) === undefined);
    // Nothing else fits either: the relay's own refusal says best what is missing.
    if (q === undefined) return relayed;
    return this.bridge(p, q, `${why}, relay not possible (${relayed.reason})`);
  }

  /** The protections the policy lets the box put on the callee's leg when it cannot relay, best first. */
  private bridgeTargets(p: Protection): readonly Protection[] {
    const calleeStream = (this.input.calleePolicy ?? this.input.callerPolicy).calleeStream;
    if (calleeStream === 'decrypted') return ['rtp'];
    if (calleeStream !== 'as_caller') return [calleeStream];
    // As the caller: an encrypted caller's own protection first (another profile), then another encryption,
    // plain RTP last; a plain caller's phone that refused plain RTP most likely wants encryption, so that first.
    const rest = ENCRYPTED_ORDER.filter((x) => x !== p);
    return p === 'rtp' ? [...rest, 'rtp'] : [p, ...rest, 'rtp'];
  }

  /** A plan whose offer toward the callee has `shape`, if the policy and the callee's leg allow it. */
  private toShape(shape: OfferShape, why: string): MediaPlan | PolicyRefusal {
    const p = this.input.offer.protection;
    const base = shape.protection === 'rtp' && p === 'rtp' ? this.relay('rtp', why) : this.bridge(p, shape.protection, why);
    if (isRefusal(base)) return base;
    return { ...base, legB: { ...base.legB, feedback: shape.feedback } };
  }

  /**
   * The callee's contact refused the offers of `tried` (488, 415, 606): the
   * next offer to try there, bridged (a protection or profile the relay could
   * not give it), within the policy; forced_relay never bridges.
   */
  retry(tried: readonly OfferShape[]): MediaPlan | PolicyRefusal {
    const { callerPolicy, offer } = this.input;
    const triedText = tried.map(shapeLabel).join(', ');
    if (callerPolicy.callerStream === 'forced_relay') {
      return refuse(488, 'callee-refused', `the callee's phone refused the relayed offer (${triedText}); the policy relays only (forced_relay), so the box does not decrypt to offer it anything else`);
    }
    const fb = offer.feedback === true;
    const why = `the callee's phone refused ${triedText}`;
    for (const q of this.bridgeTargets(offer.protection)) {
      for (const feedback of [fb, !fb]) {
        const shape: OfferShape = { protection: q, feedback };
        if (tried.some((x) => x.protection === q && x.feedback === feedback)) continue;
        if (this.calleeCan(q, why) !== undefined) continue;
        const r = this.toShape(shape, why);
        if (!isRefusal(r)) return r;
      }
    }
    return refuse(488, 'callee-refused', `the callee's phone refused every offer the policy allows (${triedText})`);
  }

  /** The plan for a contact known to take `shape`, when the policy allows it; else undefined. */
  remembered(shape: OfferShape): MediaPlan | undefined {
    if (this.input.callerPolicy.callerStream === 'forced_relay') return undefined;
    if (!this.bridgeTargets(this.input.offer.protection).includes(shape.protection)) return undefined;
    if (this.calleeCan(shape.protection, 'remembered') !== undefined) return undefined;
    const r = this.toShape(shape, `what this contact took last time (${shapeLabel(shape)})`);
    return isRefusal(r) ? undefined : r;
  }

  decideFor(p: Protection): MediaPlan | PolicyRefusal {
    const { callerPolicy, calleePolicy, caller } = this.input;
    const callerStream = callerPolicy.callerStream;
    const calleeStream = (calleePolicy ?? callerPolicy).calleeStream;
    if (caller.caps.required.length > 0 && !caller.caps.required.includes(p)) {
      return refuse(488, 'caller-not-allowed', `the caller's account does not allow ${LABEL[p]}`);
    }
    if (p === 'sdes' && !caller.legTls) return refuse(488, 'sdes-needs-tls', "SDES needs TLS on the caller's leg");
    if (p !== 'rtp' && !this.available.includes(p)) return this.notAvailable(p, true);
    const requested = p !== 'rtp';
    const why = `${callerStream}/${calleeStream}`;

    switch (callerStream) {
      case 'forced_relay':
        return this.relay(p, why);
      case 'relay_or_decrypt':
        if (calleeStream === 'as_caller') return this.relayOrBridge(p, why);
        if (calleeStream === 'decrypted') return requested ? this.bridge(p, 'rtp', why) : this.relay('rtp', why);
        return this.bridge(p, calleeStream, why);
      case 'decrypt':
        if (calleeStream === 'as_caller' || calleeStream === 'decrypted') return requested ? this.bridge(p, 'rtp', why) : this.relay('rtp', why);
        return this.bridge(p, calleeStream, why);
    }
  }
}

/**
 * Decides how a call's media is protected. A best-effort offer the policy
 * cannot serve encrypted is retried as plain RTP (the phone falls back when
 * the answer carries no keys); the first refusal is kept if that fails too.
 */
export function decideMediaPlan(input: PlanInput): MediaPlan | PolicyRefusal {
  const { offer, caller, callee } = input;
  if (offer.sips && (!caller.legTls || !callee.legTls)) {
    return refuse(480, 'sips-needs-tls', 'sips: needs TLS and SRTP on both legs; ' + (caller.legTls ? "the callee's" : "the caller's") + ' leg is not TLS');
  }
  const d = new Decider(input);
  let r = d.decideFor(offer.protection);
  if (isRefusal(r) && offer.bestEffort && offer.protection !== 'rtp') {
    const plain = d.decideFor('rtp');
    if (!isRefusal(plain)) r = { ...plain, note: `${plain.note} (best-effort ${LABEL[offer.protection]} offer answered without keys: ${r.reason})` };
  }
  if (!isRefusal(r) && offer.sips && (r.legA.protection !== 'srtp' || r.legB.protection !== 'srtp')) {
    return refuse(480, 'sips-needs-srtp', 'sips: needs TLS and SRTP on both legs; ' + (r.legA.protection !== 'srtp' ? "the caller's" : "the callee's") + ' leg would be plain RTP');
  }
  return r;
}

/** "SDES over RTP/SAVPF" and the like, for notes and Warnings. */
export function shapeLabel(s: OfferShape): string {
  const profile = s.protection === 'rtp' ? (s.feedback ? 'RTP/AVPF' : 'RTP/AVP') : s.feedback ? 'RTP/SAVPF' : 'RTP/SAVP';
  return `${LABEL[s.protection]} over ${profile}`;
}

/** The shape of the box's offer toward the callee under `plan`, for a caller offer with `offer`'s profile. */
export function shapeOf(plan: MediaPlan, offer: Pick<PlanInput['offer'], 'feedback'>): OfferShape {
  const l = plan.legB;
  return { protection: l.keyAgreement === 'none' ? 'rtp' : l.keyAgreement, feedback: l.feedback ?? offer.feedback === true };
}

/**
 * The callee's contact refused the box's offers of the `tried` shapes (488,
 * 415 or 606): the plan to try next on that contact, or the refusal that says
 * why there is none. The box sits in the media path, so under any policy but
 * forced_relay it can bridge: SDES only toward a TLS leg, the feedback
 * profile (SAVPF) or not as the callee needs.
 */
export function retryPlan(input: PlanInput, tried: readonly OfferShape[]): MediaPlan | PolicyRefusal {
  return new Decider(input).retry(tried);
}

/** What the box learned of one contact: offer shapes it refused, and the one it then took. */
export interface LearnedAbilities {
  readonly refused: readonly OfferShape[];
  readonly worked: OfferShape;
}

const sameShape = (x: OfferShape, y: OfferShape): boolean => x.protection === y.protection && x.feedback === y.feedback;

/**
 * The plan for a call to a contact the box learned about: decideMediaPlan
 * first; only if that plan's offer has a shape the contact refused before,
 * the shape it took instead (when the policy allows it), so the call goes
 * straight to what works. A plan the contact never refused stays as it is:
 * a relay that keeps a call private is not traded for a bridge.
 */
export function decideRemembering(input: PlanInput, learned: LearnedAbilities | undefined): MediaPlan | PolicyRefusal {
  const first = decideMediaPlan(input);
  if (!learned || isRefusal(first)) return first;
  const now = shapeOf(first, input.offer);
  if (!learned.refused.some((r) => sameShape(r, now))) return first;
  if (input.offer.sips && learned.worked.protection === 'rtp') return first;
  return new Decider(input).remembered(learned.worked) ?? first;
}
