import { PbxError, isPbxError } from '../../core/index.js';
import { isSecureSignalling } from '../../keying/index.js';
import { getCSeq, getHeader, parseNameAddr, parseUri, toTag, uriScheme, withBody, type Header, type SipRequest, type SipResponse } from '../../sip/message/index.js';
import { dialogAsUac, dialogRequest, type Dialog } from '../../sip/dialog/index.js';
import type { Target } from '../../sip/transaction/index.js';
import type { SessionDescription } from '../../sdp/index.js';
import { DEFAULT_POLICY } from '../../config/index.js';
import { routeCallee, type RouteTarget } from '../routing/index.js';
import {
  CallKeys, SDP_TYPE, sdpSession, type SdpSession, answerFromAnswer, audioOf, offerFromOffer, offerSecurity, parseBody, payloadMap, relayCheck,
} from '../media/index.js';
import {
  DEFAULT_PHONE_CAPS, POLICY_REFUSAL_COUNTER_PREFIX, decideRemembering, isRefusal, policySettings, retryPlan, shapeLabel, shapeOf, summarizeOffer,
  type MediaPlan, type PlanInput, type PolicyRefusal,
} from '../policy/index.js';
import { AbilityMemory, MAX_ATTEMPTS, REFUSES_MEDIA, type Attempt } from './abilities.js';
import type { Call } from './call.js';
import { prackFor, reliableSeq } from './reliable.js';
import { lateOffer } from './late-offer.js';
import { guard, keysOptions, type CalleeAccount, type EndReason, type LegId, type SetupDeps, type TrunkLeg } from './deps.js';
import type { CallFailure } from './failures.js';
import type { Branch } from './fork.js';

/** One branch's offer, made ready before it rings. */
interface PreparedOffer {
  readonly keys: CallKeys;
  readonly sdp: SdpSession;
  readonly body: Buffer | undefined;
}

/** What the setup needs back from the entry point: how a call ends. */
export interface CallEnding {
  fail(call: Call, answer: CallFailure | { readonly status: number }, why: EndReason, headers?: Header[]): Promise<void>;
  hangup(call: Call, reason: EndReason, byeTo: LegId | 'both'): Promise<void>;
  changed(): void;
}

/** Answers from a contact rung in order that move the call to the next one: overloaded, timed out, not answering. */
const FAILOVER_STATUSES = new Set([503, 408, 480]);
/** The call's note when a sips: call leaves on a trunk exempt from end-to-end enforcement. */
export const SIPS_EXEMPT_NOTE = 'sips: not enforced on the trunk leg';

function failNoAudio(): never {
  throw new PbxError('protocol', 'no audio stream');
}

/** A contact to ring, with the account it belongs to. */
type Contact = RouteTarget & { readonly callee: CalleeAccount };

/**
 * Setting a call up: route the callee to its contacts, decide the media plan
 * per contact, open the media session, ring every contact (pbx/call fork),
 * relay ringing and early media, and take the first answer.
 */
export class CallSetup {
  /** What each contact refused and then took (offer shapes), for the next call to it. */
  readonly abilities = new AbilityMemory();
  private readonly attempts = new WeakMap<Branch<CallKeys>, Attempt>();
  /** The account each branch rings (several for a ring group). */
  private readonly members = new WeakMap<Branch<CallKeys>, CalleeAccount>();
  /** Contacts rung in order: those not tried yet (route with inOrder). */
  private readonly queued = new WeakMap<Call, Array<{ target: Contact; offer: PreparedOffer; attempt: Attempt }>>();
  /** Why the box stopped offering other shapes, per call: the Warning of its final answer. */
  private readonly refusals = new WeakMap<Call, PolicyRefusal>();

  constructor(private readonly deps: SetupDeps, private readonly ending: CallEnding) {}

  /**
   * Ring the callees' contacts, all at once (one account, or the members of
   * a ring group); the first contact to answer takes the call.
   */
  async route(call: Call, callees: CalleeAccount | readonly CalleeAccount[], opts: { readonly inOrder?: boolean } = {}): Promise<void> {
    const d = this.deps;
    const targets: Contact[] = [];
    const list: readonly CalleeAccount[] = Array.isArray(callees) ? callees : [callees as CalleeAccount];
    call.ringing = list.map((c) => c.extension);
    for (const callee of list) {
      // A trunk is not an account: its servers, never a phone registered under the same digits.
      if (callee.trunk) {
        for (const target of callee.trunk.targets) targets.push({ target, contact: callee.staticContact ?? '', kind: 'static', callee });
        continue;
      }
      const route = routeCallee(callee, d.location.lookup(callee.extension));
      for (const problem of route.problems) d.log.warn({ extension: callee.extension }, problem);
      for (const t of route.targets) targets.push({ ...t, callee });
    }
    if (targets.length === 0) {
      d.counters.inc('call.unavailable');
      await this.ending.fail(call, 'unavailable', 'unavailable');
      return;
    }

    // Media: both legs' ports on the box, leg a's remote from the caller's offer (if any).
    let offer: SessionDescription | undefined;
    try { offer = parseBody(call.invite.body); } catch {
      await this.ending.fail(call, 'bad-sdp', 'failed');
      return;
    }
    if (offer) call.callerOffer = offer;
    // The media policy, per contact: the callee's leg may be TLS on one and not on another.
    const decided = targets.map((t) => this.decide(call, t.callee, offer, t));
    const plans = decided.map((x) => x.plan);
    if (!plans.some((p) => !isRefusal(p))) {
      await this.refuse(call, plans[0] as PolicyRefusal);
      return;
    }
    const a = call.callerLeg;
    const b = call.calleeLeg;
    try { if (offer) a.took(offer); } catch {
      // RFC 3264 6: nothing the box can relay (no audio stream, no usable address).
      d.counters.inc('call.no-audio');
      await this.ending.fail(call, 'not-acceptable', 'codec-mismatch');
      return;
    }
    // An SRTP caller's leg stays closed until an answer keys it (nothing in the clear while it rings).
    const security = offerSecurity(audioOf(offer));
    const local = await call.media.open({ ...(a.remote ? { remote: a.remote } : {}), ...(security?.a ? { security: security.a } : {}) });
    if (call.ended) {
      // The caller cancelled while the ports were being opened: end() found nothing to free then.
      await call.media.close();
      return;
    }
    a.local = local.a;
    b.local = local.b;

    if (offer) {
      try { relayCheck(offer); } catch (e) {
        d.counters.inc('call.codec-mismatch');
        await this.ending.fail(call, isPbxError(e) ? 'no-common-codec' : 'not-acceptable', 'codec-mismatch');
        return;
      }
    }

    // Each usable contact gets its own keys (a fresh key per branch where the box keys the callee's leg).
    const branchesToTry: Array<{ target: Contact; offer: PreparedOffer; attempt: Attempt }> = [];
    let firstRefusal: PolicyRefusal | undefined;
    targets.forEach((t, i) => {
      const plan = plans[i]!;
      if (isRefusal(plan)) { firstRefusal ??= plan; return; }
      try {
        branchesToTry.push({ target: t, offer: this.prepare(call, t, plan), attempt: decided[i]!.attempt });
      } catch (e) {
        firstRefusal ??= { status: 488, code: 'no-common-suite', reason: e instanceof Error ? e.message : String(e) };
      }
    });
    if (branchesToTry.length === 0) {
      await call.media.close();
      await this.refuse(call, firstRefusal ?? { status: 488, code: 'no-common-suite', reason: 'no usable media' });
      return;
    }

    call.life.move('ringing');
    // In order (a trunk's servers, then the next trunk): one at a time, the next on 503, 408 or no answer.
    if (opts.inOrder) this.queued.set(call, branchesToTry.splice(1));
    for (const t of branchesToTry) this.ring(call, t.target, t.offer, t.attempt);
    if (call.fork.allDone) { await this.finishBranches(call); return; }
    // Scoped to ringing: it cannot fire once the call is answered or over.
    call.noAnswerTimer = call.life.timer(call.ringMs ?? d.noAnswerMs(), () => {
      d.counters.inc('call.no-answer');
      call.fork.cancelAll();
      guard(d, this.ending.fail(call, 'no-answer', 'no-answer'), 'no-answer');
    });
  }

  /** One branch's keys and SDP under `plan` (a fresh key where the box keys the callee's leg); throws when they cannot be made. */
  private prepare(call: Call, t: Contact, plan: MediaPlan): PreparedOffer {
    const d = this.deps;
    const keys = new CallKeys(plan, audioOf(call.callerOffer), keysOptions(d, {
      a: isSecureSignalling(call.callerLeg.target!.transport), b: isSecureSignalling(t.target.transport),
    }));
    const sdp = sdpSession(call.calleeLeg.sdp.id);
    const body = call.callerOffer ? offerFromOffer(call.callerOffer, sdp, call.calleeLeg.local!, keys.calleeOffer()).body : undefined;
    return { keys, sdp, body };
  }

  /** Ring one contact: a branch of the call's fork. */
  private ring(call: Call, t: Contact, o: PreparedOffer, attempt: Attempt): void {
    const d = this.deps;
    const branch = call.fork.ring(t.target, t.contact, this.inviteFor(call, t.target, t.contact, t.callee.extension, o.body, t.callee.trunk), o.keys, o.sdp, {
      onResponse: (res) => { guard(d, this.onBranchResponse(call, branch, res), 'response'); },
      onTimeout: () => { guard(d, this.onBranchFinal(call, branch, 408), 'timeout'); },
      onTransportError: () => { guard(d, this.onBranchFinal(call, branch, 503), 'transport error'); },
    });
    this.attempts.set(branch, attempt);
    this.members.set(branch, t.callee);
    if (branch.state === 'done') d.log.warn({ call: call.id, contact: t.contact }, 'cannot send INVITE to a contact');
  }

  /**
   * A contact refused the box's offer (488, 415, 606): offer it the next
   * shape the policy allows, bridged, as a new branch; true when one went out.
   * A refusal by the policy (forced_relay, nothing left) is kept for the
   * Warning of the caller's final answer.
   */
  private retry(call: Call, branch: Branch<CallKeys>): boolean {
    const d = this.deps;
    const attempt = this.attempts.get(branch);
    if (!attempt || !call.callerOffer || call.ended || call.state !== 'ringing' || attempt.tried.length >= MAX_ATTEMPTS) return false;
    const next = retryPlan(attempt.input, attempt.tried);
    if (isRefusal(next)) {
      d.counters.inc('call.retry.refused');
      d.log.info({ call: call.id, contact: branch.contact, reason: next.reason }, 'no other offer for a contact that refused the media');
      this.refusals.set(call, next);
      return false;
    }
    const callee = this.members.get(branch);
    if (!callee) return false;
    const contact: Contact = { target: branch.target, contact: branch.contact, kind: 'registered', callee };
    let prepared: PreparedOffer;
    try { prepared = this.prepare(call, contact, next); } catch (e) {
      d.log.info({ call: call.id, err: e instanceof Error ? e.message : String(e) }, 'retry offer could not be made');
      return false;
    }
    const shape = shapeOf(next, attempt.input.offer);
    d.counters.inc('call.retry');
    d.log.info({ call: call.id, contact: branch.contact, tried: attempt.tried.map(shapeLabel), next: shapeLabel(shape) }, 'contact refused the media: offering another shape');
    this.ring(call, contact, prepared, { ...attempt, tried: [...attempt.tried, shape] });
    return true;
  }

  /** A reliable provisional (RFC 3262) gets the box's PRACK, once per RSeq; the caller hears an ordinary 18x. */
  private prack(branch: Branch<CallKeys>, res: SipResponse): void {
    const rseq = reliableSeq(res);
    if (rseq === undefined || (branch.prack && rseq <= branch.prack.rseq)) return;
    const seq = (branch.prack?.seq ?? getCSeq(branch.request).seq) + 1;
    const req = prackFor(branch.request, res, rseq, seq);
    if (!req) return;
    branch.prack = { rseq, seq };
    this.deps.counters.inc('call.prack');
    try { this.deps.transactions.sendRequest(req, branch.target, { onResponse: () => {} }); } catch { /* the INVITE's own fate decides */ }
  }

  /** The box's INVITE toward one contact of the callee: a new dialog, the caller's name kept. */
  private inviteFor(call: Call, target: Target, contact: string, callee: string, body: Buffer | undefined, trunk?: TrunkLeg): SipRequest {
    const d = this.deps;
    const fromValue = parseNameAddr(getHeader(call.invite, 'from') ?? '');
    const display = fromValue.displayName ? `"${fromValue.displayName.replace(/(["\\])/g, '\\$1')}" ` : '';
    const host = trunk?.domain ?? this.hostOf(target);
    const headers: Header[] = [
      { name: 'max-forwards', value: '70' },
      // Toward a trunk the provider is shown the route's or extension's caller ID, not the extension.
      { name: 'from', value: `${display}<sip:${trunk?.fromUser ?? call.caller}@${host}>;tag=${d.random.token(64)}` },
      { name: 'to', value: `<sip:${callee}@${host}>` },
      { name: 'call-id', value: `${d.random.token(96)}@securepbx` },
      { name: 'cseq', value: '1 INVITE' },
      { name: 'contact', value: `<${d.contactFor(target)}>` },
      { name: 'allow', value: 'INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER' },
    ];
    const req: SipRequest = { kind: 'request', method: 'INVITE', uri: contact, headers, body: Buffer.alloc(0) };
    return body ? withBody(req, body, SDP_TYPE) : req;
  }

  /** The media plan between the call's caller and `callee` on `target` (a pickup's phone), or the policy's refusal. */
  planFor(call: Call, callee: CalleeAccount, target: RouteTarget): MediaPlan | PolicyRefusal {
    return this.decide(call, callee, call.callerOffer, target).plan;
  }

  /** The media policy for one contact of the callee (pbx/policy), with what the box learned of that contact. */
  private decide(call: Call, callee: CalleeAccount, offer: SessionDescription | undefined, target: RouteTarget): { plan: MediaPlan | PolicyRefusal; attempt: Attempt } {
    const d = this.deps;
    const policies = d.policies?.() ?? [];
    const callerAccount = d.callee(call.caller);
    const input: PlanInput = {
      callerPolicy: policySettings(policies, callerAccount?.policy ?? DEFAULT_POLICY),
      calleePolicy: policySettings(policies, callee.policy ?? DEFAULT_POLICY),
      caller: { caps: callerAccount?.media ?? DEFAULT_PHONE_CAPS, legTls: isSecureSignalling(call.callerLeg.target!.transport) },
      callee: { caps: callee.media ?? DEFAULT_PHONE_CAPS, legTls: isSecureSignalling(target.target.transport) },
      // RFC 5630: a sips: Request-URI asks for TLS on every hop.
      offer: summarizeOffer(audioOf(offer), uriScheme(call.invite.uri) === 'sips' && !callee.trunk?.sipsExempt),
    };
    if (callee.trunk?.sipsExempt && uriScheme(call.invite.uri) === 'sips') call.notes.push(`${SIPS_EXEMPT_NOTE} (${callee.trunk.name})`);
    const key = AbilityMemory.keyOf(callee.extension, target.contact);
    const plan = decideRemembering(input, this.abilities.get(key));
    if (isRefusal(plan)) {
      d.counters.inc(POLICY_REFUSAL_COUNTER_PREFIX + plan.code);
      d.log.info({ call: call.id, code: plan.code, reason: plan.reason }, 'media policy refused a contact');
    }
    return { plan, attempt: { key, input, tried: isRefusal(plan) ? [] : [shapeOf(plan, input.offer)] } };
  }

  /** The media policy refused the call: its status, and the reason in a Warning (RFC 3261 20.43, code 399). */
  private async refuse(call: Call, r: PolicyRefusal): Promise<void> {
    await this.ending.fail(call, r.status === 480 ? 'unavailable' : 'not-acceptable', 'media-policy', [this.warning(call, r.reason)]);
  }

  /** A Warning with the box's reason in words (RFC 3261 20.43, code 399). */
  private warning(call: Call, reason: string): Header {
    const text = reason.replace(/["\\]/g, '\\$&').replace(/[\r\n]/g, ' ');
    return { name: 'warning', value: `399 ${this.hostOf(call.callerLeg.target!)} "${text}"` };
  }

  /** The box's host as the phone on `target` sees it, from the Contact the box writes on that leg. */
  hostOf(target: Target): string {
    try { return parseUri(this.deps.contactFor(target)).host; } catch { return 'securepbx'; }
  }

  private async onBranchResponse(call: Call, branch: Branch<CallKeys>, res: SipResponse): Promise<void> {
    if (res.status < 200) {
      this.prack(branch, res);
      const early = toTag(res);
      if (early) (branch.earlyTags ??= new Set()).add(early);
      if (!call.fork.provisional(branch)) return;
      if (res.status === 100 || call.ended || call.state === 'answered' || call.pickedUp) return;
      // 180/183 relayed; early media (183 with SDP) makes the callee's media flow now.
      let body: Buffer | undefined;
      const a = call.callerLeg;
      if (res.body.length > 0 && call.callerOffer && a.local) {
        try {
          const early = parseBody(res.body)!;
          const k = branch.keys.calleeAnswered(audioOf(early) ?? failNoAudio());
          await call.media.answer('b', call.calleeLeg.took(early), k.engine);
          body = answerFromAnswer(call.callerOffer, early, a.sdp, a.local, k.callerAnswer);
        } catch { body = undefined; }
      }
      if (!call.tx.isTerminated) call.respond(res.status === 183 && body ? 183 : 180, res.status === 183 && body ? 'Session Progress' : 'Ringing', body ? { body } : {});
      return;
    }
    if (res.status < 300) { await this.onBranchAnswered(call, branch, res); return; }
    await this.onBranchFinal(call, branch, res.status);
  }

  private async onBranchAnswered(call: Call, branch: Branch<CallKeys>, res: SipResponse): Promise<void> {
    const d = this.deps;
    const b = call.calleeLeg;
    if (call.fork.winner === branch) {
      // A retransmitted 2xx: our ACK was lost (13.2.2.4); for a late offer there is none until the caller answers.
      b.reAck();
      return;
    }
    let dialog: Dialog;
    try { dialog = dialogAsUac(branch.request, res); } catch {
      d.counters.inc('call.bad-2xx');
      return;
    }
    if (call.fork.winner || call.ended || call.pickedUp) {
      // A second contact answered too (or another phone picked the call up) (a race with our CANCEL), or the call is over: acknowledge and hang it up.
      stray(d, dialog, branch.target);
      return;
    }
    call.fork.win(branch);
    call.noAnswerTimer?.cancel();
    // A ring group's member (or a pickup) answered: the call is with that account now.
    const member = this.members.get(branch);
    if (member) call.answeredBy(member.extension, member.name);
    const attempt = this.attempts.get(branch);
    if (attempt) this.abilities.learned(attempt.key, attempt.tried);
    // PRACKs in the early dialog used CSeq numbers too: the dialog's next request comes after them.
    b.dialog = branch.prack ? { ...dialog, localSeq: Math.max(dialog.localSeq, branch.prack.seq) } : dialog;
    b.target = branch.target;
    b.sdp = branch.sdp;
    call.keys = branch.keys;

    const a = call.callerLeg;
    let answerBody: Buffer | undefined;
    let offeredLate = false;
    try {
      const answer = parseBody(res.body);
      if (call.callerOffer && answer) {
        const k = branch.keys.calleeAnswered(audioOf(answer) ?? failNoAudio());
        const map = payloadMap(call.callerOffer, answer);
        // The RTP header is inside the SRTP tag: end-to-end SRTP cannot be renumbered.
        if (Object.keys(map).length && branch.keys.endToEnd) throw new PbxError('protocol', 'the callee renumbered payload types of end-to-end SRTP');
        await call.media.answer('b', b.took(answer), k.engine);
        if (Object.keys(map).length) await call.media.renumber('b', 'a', map);
        answerBody = answerFromAnswer(call.callerOffer, answer, a.sdp, a.local!, k.callerAnswer);
      } else if (!call.callerOffer && answer) {
        // Late offer (RFC 3261 13.2.1): the callee offered in its 2xx (pbx/call late-offer).
        const late = await lateOffer(d, call, answer, () => this.ending.hangup(call, 'codec-mismatch', 'both'));
        if ('status' in late) throw new PbxError('protocol', late.reason);
        answerBody = late.body;
        offeredLate = true;
      } else {
        throw new Error('no SDP in the answer');
      }
    } catch (e) {
      d.log.warn({ call: call.id, err: e instanceof Error ? e.message : String(e) }, 'callee answer unusable');
      b.ack({ cseq: getCSeq(branch.request).seq });
      b.bye();
      b.dialog = undefined;
      await this.ending.fail(call, 'not-acceptable', 'codec-mismatch');
      return;
    }
    // The ACK carries the INVITE's CSeq, whatever PRACKs came between (RFC 3261 13.2.2.4).
    if (!offeredLate) b.ack({ cseq: getCSeq(branch.request).seq });
    call.life.move('answered');
    call.settleInitialOffer();
    call.answeredAt = d.clock.now();
    call.respond(200, 'OK', { body: answerBody });
    d.counters.inc('call.answered');
    d.log.info({ call: call.id, caller: call.caller, callee: call.callee }, 'call answered');
    this.ending.changed();
  }

  private async onBranchFinal(call: Call, branch: Branch<CallKeys>, status: number): Promise<void> {
    if (branch.state === 'done' || branch.state === 'answered') return;
    // A phone refusing the media gets another offer first, so the fork stays open for it.
    const retried = REFUSES_MEDIA.has(status) && this.retry(call, branch);
    const last = call.fork.failed(branch, status);
    if (last && !retried && FAILOVER_STATUSES.has(status) && !call.ended && call.state === 'ringing') {
      for (let next = this.queued.get(call)?.shift(); next; next = call.fork.allDone ? this.queued.get(call)?.shift() : undefined) {
        this.deps.counters.inc('call.failover');
        this.deps.log.info({ call: call.id, failed: branch.contact, status, next: next.target.contact }, 'no answer from a trunk: trying the next');
        this.ring(call, next.target, next.offer, next.attempt);
      }
      if (!call.fork.allDone) return;
    }
    if (status >= 600 && !retried && !call.fork.winner) {
      // RFC 3261 16.7: a 6xx ends the search: the other contacts stop ringing.
      call.fork.cancelAll();
      await this.finishBranches(call);
      return;
    }
    if (last) await this.finishBranches(call);
  }

  /** Every contact failed: give the caller the most telling answer, with the policy's reason when it stopped the retries. */
  private async finishBranches(call: Call): Promise<void> {
    if (call.ended || call.state === 'answered' || call.pickedUp) return;
    const { answer, why } = call.fork.best();
    const refusal = this.refusals.get(call);
    await this.ending.fail(call, answer, why, refusal ? [this.warning(call, refusal.reason)] : undefined);
  }
}

/** A 2xx the call does not take: ACK it and hang that dialog up. */
function stray(d: SetupDeps, dialog: Dialog, target: Target): void {
  try { d.transactions.sendAck(dialogRequest(dialog, 'ACK').request, target); } catch { /* the phone will time out */ }
  try { d.transactions.sendRequest(dialogRequest(dialog, 'BYE').request, target, { onResponse: () => {} }); } catch { /* nothing more to do */ }
}
