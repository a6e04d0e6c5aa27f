import type { Clock, Counters, Logger, Random } from '../../core/index.js';
import { isSecureSignalling } from '../../keying/index.js';
import { createResponse } from '../../sip/message/index.js';
import { dialogAsUas } from '../../sip/dialog/index.js';
import type { SessionDescription } from '../../sdp/index.js';
import type { Call, CalleeAccount, SetupDeps, CallFailure, Destination, EndReason, IncomingCall } from '../call/index.js';
import { guard, keysOptions } from '../call/index.js';
import { CallKeys, SDP_TYPE, answerFromAnswer, audioOf, parseBody, payloadMap } from '../media/index.js';
import { isRefusal, type MediaPlan, type PolicyRefusal } from '../policy/index.js';
import type { RouteTarget } from '../routing/index.js';

/**
 * Call pickup: a phone answers another extension's ringing call by dialling
 * the directed pickup code and that extension (`**1001`) or, for a ringing
 * call to anyone in its own pickup group, the group pickup code (`*8`).
 *
 * Both phones have offered to the box (the caller in its INVITE, the picker
 * in its own), so the box answers each itself: the caller's offer with the
 * codecs the two have in common, the picker's the same way, each leg keyed
 * as the policy between caller and picker says (SDES by the box, plain RTP).
 * The ringing phones are cancelled and their ports go to the picker. A call
 * whose media would pass end to end (a fully private call: the box has no
 * keys) cannot be picked up: its keys belong to the phones that negotiated
 * them, and the picker hears 603 with the reason.
 */

export const PRIVATE_PICKUP_REASON = 'a fully private call cannot be picked up: the box holds no keys to give the picking phone';

export interface PickupCodes {
  readonly directedPickup: string;
  readonly groupPickup: string;
}

export interface PickupHost {
  active(): Iterable<Call>;
  planFor(call: Call, callee: CalleeAccount, target: RouteTarget): MediaPlan | PolicyRefusal;
  tell(incoming: IncomingCall, status: number, reason: string): void;
  refuse(incoming: IncomingCall, answer: CallFailure, why: EndReason): void;
  hangup(call: Call, reason: EndReason, byeTo: string): Promise<void>;
  changed(): void;
}

export interface PickupDeps extends Pick<SetupDeps, 'dtlsFingerprint' | 'zrtp'> {
  readonly codes: () => PickupCodes;
  readonly callee: (extension: string) => CalleeAccount | undefined;
  readonly random: Random;
  readonly clock: Clock;
  readonly counters: Counters;
  readonly log: Logger;
}

export class Pickup implements Destination {
  readonly name = 'pickup';

  constructor(private readonly deps: PickupDeps, private readonly host: PickupHost) {}

  take(incoming: IncomingCall): boolean {
    const codes = this.deps.codes();
    const n = incoming.dialled;
    let target: ((c: Call) => boolean) | undefined;
    if (n === codes.groupPickup) {
      const group = this.deps.callee(incoming.caller)?.pickupGroup;
      if (!group) {
        this.host.tell(incoming, 404, 'No Pickup Group');
        return true;
      }
      target = (c) => this.deps.callee(c.callee)?.pickupGroup === group || this.ringsMember(c, (ext) => this.deps.callee(ext)?.pickupGroup === group);
    } else if (n.startsWith(codes.directedPickup) && n.length > codes.directedPickup.length) {
      const ext = n.slice(codes.directedPickup.length);
      target = (c) => c.callee === ext || this.ringsMember(c, (m) => m === ext);
    } else {
      return false;
    }
    const call = [...this.host.active()].find((c) => c.state === 'ringing' && !c.pickedUp && c.caller !== incoming.caller && target!(c));
    if (!call) {
      this.deps.counters.inc('pickup.nothing');
      this.deps.log.info({ picker: incoming.caller, dialled: n }, 'pickup: no ringing call to pick up');
      this.host.tell(incoming, 480, 'No Call To Pick Up');
      return true;
    }
    guard(this.deps, this.pickUp(call, incoming), 'pickup');
    return true;
  }

  /** Does the call ring an account (a ring group's member) that `is` accepts. */
  private ringsMember(c: Call, is: (ext: string) => boolean): boolean {
    return c.ringing.some(is);
  }

  /** Answer the ringing call with the picking phone's INVITE (a pickup code, or an INVITE with Replaces naming a ringing branch). */
  async pickUp(call: Call, incoming: IncomingCall): Promise<void> {
    const d = this.deps;
    const picker = d.callee(incoming.caller);
    let offer: SessionDescription | undefined;
    try { offer = parseBody(incoming.req.body); } catch { offer = undefined; }
    const callerOffer = call.callerOffer;
    if (!picker || !offer || !audioOf(offer) || !callerOffer) {
      // A late-offer INVITE on either side: the box would have to offer to both, which it does not do here.
      this.host.refuse(incoming, 'not-acceptable', 'codec-mismatch');
      return;
    }
    const plan = this.host.planFor(call, picker, { target: incoming.source, contact: `sip:${picker.extension}@${incoming.source.address}`, kind: 'registered' });
    if (isRefusal(plan)) {
      this.host.refuse(incoming, plan.status === 480 ? 'unavailable' : 'not-acceptable', 'media-policy');
      return;
    }
    if (plan.mode === 'relay' && (plan.legA.keys === 'end-to-end' || plan.legB.keys === 'end-to-end')) {
      d.counters.inc('pickup.private-refused');
      d.log.info({ call: call.id, picker: picker.extension }, PRIVATE_PICKUP_REASON);
      this.host.tell(incoming, 603, 'Private Call Cannot Be Picked Up');
      return;
    }
    const a = call.callerLeg;
    const b = call.calleeLeg;
    let keys: CallKeys;
    let toPicker: Buffer;
    let toCaller: Buffer;
    try {
      keys = new CallKeys(plan, audioOf(callerOffer), keysOptions(d, {
        a: isSecureSignalling(a.target!.transport), b: isSecureSignalling(incoming.source.transport),
      }));
      const kb = keys.leg('b');
      kb.takeOffer(audioOf(offer)!);
      const sdpB = kb.answer(audioOf(callerOffer));
      const sdpA = keys.leg('a').answer(audioOf(offer));
      // Each side gets the codecs both offered, in its own payload numbers.
      toPicker = answerFromAnswer(offer, callerOffer, b.sdp, b.local!, sdpB);
      toCaller = answerFromAnswer(callerOffer, offer, a.sdp, a.local!, sdpA);
      if (call.ended || call.state !== 'ringing' || call.pickedUp) throw new Error('the call stopped ringing');
      call.pickedUp = picker.extension;
      call.noAnswerTimer?.cancel();
      call.fork.cancelAll();
      const engine = { a: keys.leg('a').security(), b: kb.security() };
      b.target = incoming.source;
      await call.media.answer('b', b.took(offer), engine);
      const map = payloadMap(offer, callerOffer);
      if (Object.keys(map).length) await call.media.renumber('b', 'a', map);
      const back = payloadMap(callerOffer, offer);
      if (Object.keys(back).length) await call.media.renumber('a', 'b', back);
    } catch (e) {
      d.log.info({ call: call.id, picker: incoming.caller, err: e instanceof Error ? e.message : String(e) }, 'pickup failed');
      this.host.refuse(incoming, 'not-acceptable', 'codec-mismatch');
      return;
    }
    if (call.ended) { this.host.refuse(incoming, 'no-dialog', 'cancelled'); return; }
    // The picker's dialog: the box answers its INVITE (2xx resent until the ACK, like any leg's).
    const tag = d.random.token(64);
    const res = createResponse(incoming.req, 200, 'OK', { toTag: tag, headers: [b.contact()], body: toPicker, contentType: SDP_TYPE });
    incoming.tx.respond(res);
    b.dialog = dialogAsUas(incoming.req, tag);
    b.offerAnswer.apply('receive-offer');
    b.offerAnswer.apply('send-answer');
    b.answered(incoming.tx, res, call.life, () => guard(d, this.host.hangup(call, 'timeout', 'both'), 'pickup no ACK'));
    call.keys = keys;
    call.answeredBy(picker.extension, picker.name);
    call.life.move('answered');
    call.settleInitialOffer();
    call.answeredAt = d.clock.now();
    call.respond(200, 'OK', { body: toCaller });
    call.notes.push(`picked up by ${picker.extension}`);
    d.counters.inc('pickup.done');
    d.log.info({ call: call.id, caller: call.caller, picker: picker.extension }, 'call picked up');
    this.host.changed();
  }
}
