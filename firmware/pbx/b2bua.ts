import type { Clock, Random, TimerHandle } from '../core/index.js';
import { PbxError, isPbxError } from '../core/index.js';
import { isSecureSignalling } from '../keying/index.js';
import type { EngineEvent, EngineReply, EngineRequest, LocalMedia, RemoteMedia } from '../media/index.js';
import {
  createResponse, getCSeq, getCallId, getHeader, parseNameAddr, parseUri, uriScheme, withBody,
  type Header, type SipRequest, type SipResponse,
} from '../sip/message/index.js';
import { acceptRemoteSeq, dialogAsUac, dialogAsUas, dialogRequest, inDialog, type Dialog } from '../sip/dialog/index.js';
import type {
  InviteClientTransaction, InviteServerTransaction, ServerTransaction, Target, TransactionLayer,
} from '../sip/transaction/index.js';
import { T1, T2 } from '../sip/transaction/index.js';
import { authenticate, type AuthDeps, type RequestSource } from './auth.js';
import { CallLifecycle, Negotiation, failureOf, responseOf, type CallFailure, type OfferAnswerRefusal } from './call/index.js';
import { routeCallee } from './routing/index.js';
import type { CallRecords } from './records.js';
import type { LocationService } from './location.js';
import {
  CallKeys, PLAIN_SDP, SDP_TYPE, answerFromAnswer, audioOf, offerFromOffer, offerSecurity, parseBody, payloadMap, remoteOf, type SdpSession,
} from './media-plan.js';
import {
  DEFAULT_PHONE_CAPS, POLICY_REFUSAL_COUNTER_PREFIX, decideMediaPlan, isRefusal, policySettings, summarizeOffer,
  type MediaPlan, type PhoneCaps, type PolicyRefusal, type PolicySettings,
} from './policy/index.js';
import type { CallView, LegView } from './views.js';
import type { SessionDescription } from '../sdp/index.js';
import { DEFAULT_POLICY } from '../config/index.js';

/**
 * Call control: the box is a back-to-back user agent. Each call is two
 * dialogs, leg a toward the caller and leg b toward whichever of the callee's
 * contacts answered first, and the box writes its own SDP toward each side so
 * that all media passes through the media engine.
 */

export interface MediaControl {
  request(req: EngineRequest): Promise<EngineReply>;
  onEvent(listener: (e: EngineEvent) => void): () => void;
}

export interface CalleeAccount {
  readonly extension: string;
  readonly name: string;
  readonly staticContact: string | null;
  readonly tlsOnly: boolean;
  /** The account's named media policy (config policies); "default" when absent. */
  readonly policy?: string;
  /** What the account's phone can do with media; DEFAULT_PHONE_CAPS when absent. */
  readonly media?: PhoneCaps;
}

/** A named policy as the config holds it. */
export interface NamedPolicy extends PolicySettings {
  readonly name: string;
}

export interface B2buaDeps extends AuthDeps {
  readonly clock: Clock;
  readonly random: Random;
  readonly transactions: TransactionLayer;
  readonly media: MediaControl;
  readonly location: LocationService;
  readonly callee: (extension: string) => CalleeAccount | undefined;
  /** host[:port] and transport-specific Contact for the box on a leg. */
  readonly contactFor: (target: Target) => string;
  readonly noAnswerMs: () => number;
  readonly records: CallRecords;
  /** The named media policies; without them every account gets the built-in defaults. */
  readonly policies?: () => readonly NamedPolicy[];
}


interface Branch {
  readonly target: Target;
  readonly contact: string;
  readonly request: SipRequest;
  /** This contact's media keys under its plan (TLS and so the plan may differ per contact). */
  readonly keys: CallKeys;
  tx?: InviteClientTransaction;
  state: 'calling' | 'proceeding' | 'answered' | 'done';
  finalStatus?: number;
  cancelWanted: boolean;
}

type EndReason = 'bye-caller' | 'bye-callee' | 'cancelled' | 'busy' | 'no-answer' | 'rejected' | 'not-found' | 'unavailable'
  | 'media-timeout' | 'codec-mismatch' | 'failed' | 'timeout' | 'media-policy';

let callCounter = 0;

class Call {
  readonly id: string;
  readonly startedAt: number;
  answeredAt?: number;
  /** The call's one state, its legal moves and its timers (pbx/call lifecycle). */
  readonly life: CallLifecycle;
  readonly aTag: string;
  aDialog?: Dialog;
  bDialog?: Dialog;
  bTarget?: Target;
  bBranch?: Branch;
  readonly branches: Branch[] = [];
  sessionId: string;
  aLocal?: LocalMedia;
  bLocal?: LocalMedia;
  aSdp: SdpSession;
  bSdp: SdpSession;
  callerOffer?: SessionDescription;
  /** The media keys of the branch that answered (or, before that, the first one tried). */
  keys?: CallKeys;
  /** 2xx to the caller, retransmitted on UDP until the ACK (RFC 3261 13.3.1.4). */
  final2xx?: SipResponse;
  private retransmit?: TimerHandle;
  noAnswerTimer?: TimerHandle;
  /** For a late-offer INVITE: the ACK toward the callee waits for the caller's answer. */
  pendingCalleeAck?: { dialog: Dialog; offer: SessionDescription };
  /**
   * Each leg's offer/answer state (pbx/call negotiation). A re-INVITE or
   * UPDATE crossing the box is one round on both legs: received on one,
   * sent on the other. Another one meanwhile, from either side, finds an
   * offer pending and gets 491 (RFC 3261 14.1, RFC 3311 5.2).
   */
  readonly offerAnswer = { a: new Negotiation(), b: new Negotiation() };
  /** Each leg's remote media as last given to the engine, so a refused re-offer can put it back. */
  readonly remotes: { a?: RemoteMedia; b?: RemoteMedia } = {};

  constructor(
    readonly b2b: B2bua,
    readonly invite: SipRequest,
    readonly aTx: InviteServerTransaction,
    readonly aTarget: Target,
    readonly caller: string,
    readonly callee: string,
    readonly calleeName: string,
  ) {
    const d = b2b.deps;
    this.id = `${d.clock.now().toString(36)}-${(callCounter++).toString(36)}`;
    this.startedAt = d.clock.now();
    this.aTag = d.random.token(64);
    this.sessionId = `call-${this.id}`;
    this.life = new CallLifecycle(d.clock);
    const sdpId = String(d.random.int(2 ** 31));
    this.aSdp = { id: sdpId, version: 1 };
    this.bSdp = { id: String(d.random.int(2 ** 31)), version: 1 };
  }

  get deps(): B2buaDeps { return this.b2b.deps; }

  get ended(): boolean { return this.life.ended; }

  /** The initial offer/answer completed on both legs (the caller offered to the box, the box to the callee). */
  settleInitialOffer(): void {
    for (const [n, first] of [[this.offerAnswer.a, 'receive-offer'], [this.offerAnswer.b, 'send-offer']] as const) {
      if (n.state !== 'none') continue;
      n.apply(first);
      n.apply(first === 'receive-offer' ? 'send-answer' : 'receive-answer');
    }
  }

  /**
   * A round asked for by `asker`'s phone begins: pending on both legs, or the
   * refusal (glare when the box's own offer is out on that leg) and no change.
   */
  beginRound(asker: 'a' | 'b'): OfferAnswerRefusal | undefined {
    const here = this.offerAnswer[asker];
    const there = this.offerAnswer[asker === 'a' ? 'b' : 'a'];
    const r = here.try('receive-offer');
    if (r === 'glare' || r === 'offer-pending' || r === 'no-offer') return r;
    const s = there.try('send-offer');
    if (s === 'glare' || s === 'offer-pending' || s === 'no-offer') {
      here.apply('rollback');
      return s;
    }
    return undefined;
  }

  /** The round ends: answered on both legs, or rolled back on both (a 488 or 491 leaves the old media running). */
  endRound(asker: 'a' | 'b', ok: boolean): void {
    const here = this.offerAnswer[asker];
    const there = this.offerAnswer[asker === 'a' ? 'b' : 'a'];
    if (ok) {
      there.apply('receive-answer');
      here.apply('send-answer');
    } else {
      there.apply('rollback');
      here.apply('rollback');
    }
  }

  /** The phase as the views show it (an ended call is no longer listed). */
  get state(): CallView['state'] {
    const p = this.life.phase;
    return p === 'ended' ? 'ending' : p;
  }

  respondA(status: number, reason?: string, opts: { body?: Buffer; headers?: Header[] } = {}): SipResponse {
    const headers: Header[] = [...(opts.headers ?? [])];
    if (status > 100 && status < 300) headers.push({ name: 'contact', value: `<${this.deps.contactFor(this.aTarget)}>` });
    const res = createResponse(this.invite, status, reason, {
      toTag: status === 100 ? undefined : this.aTag, headers,
      ...(opts.body ? { body: opts.body, contentType: SDP_TYPE } : {}),
    } as Parameters<typeof createResponse>[3]);
    this.aTx.respond(res);
    if (status >= 200 && status < 300) {
      this.final2xx = res;
      this.aDialog = dialogAsUas(this.invite, this.aTag);
      this.start2xxRetransmit();
    }
    return res;
  }

  private start2xxRetransmit(): void {
    if (this.aTarget.transport !== 'udp') return;
    const d = this.deps;
    let interval = T1;
    const sentAt = d.clock.now();
    const tick = (): void => {
      if (!this.final2xx || this.ended) return;
      // Measured on the clock, not summed from intervals: a busy event loop
      // fires timers late, and the server transaction's Timer L (64*T1 from
      // the 2xx) may already have ended it (found by the call load bench).
      if (d.clock.now() - sentAt >= 64 * T1 || this.aTx.isTerminated) {
        // No ACK for our 2xx: the dialog is dead (13.3.1.4).
        this.final2xx = undefined;
        guard(d, this.b2b.hangup(this, 'timeout', 'both'), 'hangup');
        return;
      }
      try {
        this.aTx.respond(this.final2xx);
      } catch {
        d.counters.inc('call.retransmit-error');
      }
      interval = Math.min(interval * 2, T2);
      this.retransmit = this.life.timer(interval, tick, ['answered']);
    };
    // Scoped to the answered phase: once the call ends, nothing is resent.
    this.retransmit = this.life.timer(interval, tick, ['answered']);
  }

  acked(): void {
    this.final2xx = undefined;
    this.retransmit?.cancel();
  }


  view(): CallView {
    const k = this.keys ?? this.branches[0]?.keys;
    const protection = (side: 'a' | 'b'): Pick<LegView, 'protection' | 'suite' | 'keys'> => (k ? k.view(side) : { protection: 'rtp' });
    const legA: LegView = { party: this.caller, transport: this.aTarget.transport, address: this.aTarget.address, ...protection('a') };
    const legB: LegView | undefined = this.bTarget
      ? { party: this.callee, transport: this.bTarget.transport, address: this.bTarget.address, ...protection('b') }
      : undefined;
    return {
      id: this.id, caller: this.caller, callee: this.callee, state: this.state, startedAt: this.startedAt,
      ...(this.answeredAt !== undefined ? { answeredAt: this.answeredAt } : {}),
      legs: { a: legA, ...(legB ? { b: legB } : {}) },
      // The box sees clear media unless it relays SRTP whose keys it never had.
      mode: k?.plan.mode ?? 'relay', recordingPossible: k ? !k.endToEnd : true,
      ...(k ? { policyNote: k.plan.note } : {}),
    };
  }
}

function failNoAudio(): never {
  throw new PbxError('protocol', 'no audio stream');
}

/**
 * Call control runs from socket and timer callbacks that cannot await: a
 * rejected promise there would be unhandled and end the process, so each one
 * is caught, counted and logged here instead.
 */
function guard(d: B2buaDeps, p: Promise<unknown>, what: string): void {
  p.catch((e: unknown) => {
    d.counters.inc('call.internal-error');
    d.log.error({ what, err: e instanceof Error ? e.message : String(e) }, 'call control step failed');
  });
}

/** A response from the failure catalogue (pbx/call failures): the one place a failure gets its status. */
function failureResponse(req: SipRequest, failure: CallFailure, opts: { toTag?: string | undefined } = {}): SipResponse {
  const { status, reason } = responseOf(failure);
  return createResponse(req, status, reason, opts.toTag !== undefined ? { toTag: opts.toTag } : {});
}

/** One crossing of a re-INVITE/UPDATE/INFO: the asking side and the other one. */
interface Across {
  readonly side: 'a' | 'b';
  readonly dialogHere: Dialog;
  readonly targetThere: Target;
  readonly there: 'a' | 'b';
  readonly localHere: LocalMedia;
  readonly sdpHere: SdpSession;
}

export class B2bua {
  private readonly calls = new Set<Call>();
  private readonly listeners = new Set<() => void>();

  constructor(readonly deps: B2buaDeps) {
    deps.media.onEvent((e) => {
      if (e.type !== 'media-timeout') return;
      const call = [...this.calls].find((c) => c.sessionId === e.sessionId);
      // Early media (a 183 whose SDP never brings RTP) is no reason to end a call
      // that is still ringing: the no-answer timer owns that phase.
      if (call && call.state === 'answered') {
        deps.log.warn({ call: call.id, idleMs: e.idleMs }, 'media stopped: ending the call');
        guard(deps, this.hangup(call, 'media-timeout', 'both'), 'media-timeout');
      }
    });
  }

  list(): CallView[] {
    return [...this.calls].map((c) => c.view());
  }

  get activeCount(): number {
    return this.calls.size;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const l of this.listeners) {
      try { l(); } catch { /* listeners must not break calls */ }
    }
  }

  /** An INVITE outside any dialog: a new call. */
  onInvite(req: SipRequest, tx: InviteServerTransaction, source: Target): void {
    const d = this.deps;
    const inCall = this.findByDialog(req);
    if (inCall) { guard(d, this.reinvite(inCall.call, inCall.side, req, tx), 're-INVITE'); return; }
    if (getHeader(req, 'to') && /;\s*tag=/i.test(getHeader(req, 'to') ?? '')) {
      tx.respond(failureResponse(req, 'no-dialog'));
      return;
    }
    // The 2xx will make a dialog from this INVITE (RFC 3261 12.1.1): it needs a
    // From tag and a Contact (8.1.1.8), so refuse it now rather than after answering.
    try { dialogAsUas(req, 'check'); } catch {
      d.counters.inc('call.bad-invite');
      tx.respond(failureResponse(req, 'missing-contact', { toTag: d.toTag() }));
      return;
    }
    const src: RequestSource = { transport: source.transport, address: source.address, port: source.port, ...(source.flowId ? { flowId: source.flowId } : {}) };
    const auth = authenticate(d, req, src);
    if (!auth.ok) { tx.respond(auth.response); return; }
    const caller = auth.account.extension;
    tx.respond(createResponse(req, 100, 'Trying'));

    let calleeExt: string | undefined;
    try { calleeExt = parseUri(req.uri).user; } catch { /* handled below */ }
    const callee = calleeExt !== undefined ? d.callee(calleeExt) : undefined;
    if (!callee) {
      d.counters.inc('call.not-found');
      tx.respond(failureResponse(req, 'not-found', { toTag: d.toTag() }));
      this.record(req, caller, calleeExt ?? req.uri, 'not-found', source);
      return;
    }
    const call = new Call(this, req, tx, source, caller, callee.extension, callee.name);
    this.calls.add(call);
    this.changed();
    void this.route(call, callee).catch((e: unknown) => {
      d.log.error({ call: call.id, err: e instanceof Error ? e.message : String(e) }, 'call setup failed');
      // The catalogue decides: no free media ports (a limit) is a passing overload, 503 so the phone retries.
      if (!call.ended) guard(d, this.fail(call, failureOf(e), 'failed'), 'fail');
    });
  }

  private async route(call: Call, callee: CalleeAccount): Promise<void> {
    const d = this.deps;
    const route = routeCallee(callee, d.location.lookup(callee.extension));
    for (const problem of route.problems) d.log.warn({ extension: callee.extension }, problem);
    const targets = route.targets;
    if (targets.length === 0) {
      d.counters.inc('call.unavailable');
      await this.fail(call, 'unavailable', 'unavailable');
      return;
    }

    // Media: both legs' ports on the box, leg a's remote from the caller's offer (if any).
    let offer: SessionDescription | undefined;
    try { offer = parseBody(call.invite.body); } catch {
      await this.fail(call, 'bad-sdp', 'failed');
      return;
    }
    call.callerOffer = offer;
    // The media policy, per contact: the callee's leg may be TLS on one and not on another.
    const plans = targets.map((t) => this.decide(call, callee, offer, t.target));
    const usable = plans.filter((p): p is MediaPlan => !isRefusal(p));
    if (usable.length === 0) {
      await this.refuse(call, plans[0] as PolicyRefusal);
      return;
    }
    let remoteA;
    try { remoteA = offer ? remoteOf(offer) : undefined; call.remotes.a = remoteA; } catch {
      // RFC 3264 6: nothing the box can relay (no audio stream, no usable address).
      d.counters.inc('call.no-audio');
      await this.fail(call, 'not-acceptable', 'codec-mismatch');
      return;
    }
    // An SRTP caller's leg stays closed until an answer keys it (nothing in the clear while it rings).
    const security = offerSecurity(audioOf(offer));
    const reply = await d.media.request({ op: 'offer', sessionId: call.sessionId, ...(remoteA ? { a: remoteA } : {}), ...(security ? { security } : {}) });
    if (reply.op !== 'offer') throw new Error('engine answered offer with something else');
    if (call.ended) {
      // The caller cancelled while the ports were being opened: end() found nothing to free then.
      await d.media.request({ op: 'delete', sessionId: call.sessionId });
      return;
    }
    call.aLocal = reply.a;
    call.bLocal = reply.b;

    if (offer) {
      try { offerFromOffer(offer, call.bSdp, reply.b); } catch (e) {
        d.counters.inc('call.codec-mismatch');
        await this.fail(call, isPbxError(e) ? 'no-common-codec' : 'not-acceptable', 'codec-mismatch');
        return;
      }
    }

    // Each usable contact gets its own keys (a fresh key per branch where the box keys the callee's leg).
    const branchesToTry: Array<{ target: Target; contact: string; keys: CallKeys; body: Buffer | undefined }> = [];
    let firstRefusal: PolicyRefusal | undefined;
    targets.forEach((t, i) => {
      const plan = plans[i]!;
      if (isRefusal(plan)) { firstRefusal ??= plan; return; }
      try {
        const keys = new CallKeys(plan, audioOf(offer), {
          random: d.random, counters: d.counters,
          tls: { a: isSecureSignalling(call.aTarget.transport), b: isSecureSignalling(t.target.transport) },
        });
        const body = offer ? offerFromOffer(offer, call.bSdp, reply.b, keys.calleeOffer()).body : undefined;
        branchesToTry.push({ ...t, keys, body });
      } catch (e) {
        firstRefusal ??= { status: 488, code: 'no-common-suite', reason: e instanceof Error ? e.message : String(e) };
      }
    });
    if (branchesToTry.length === 0) {
      await d.media.request({ op: 'delete', sessionId: call.sessionId });
      await this.refuse(call, firstRefusal ?? { status: 488, code: 'no-common-suite', reason: 'no usable media' });
      return;
    }

    call.life.move('ringing');
    const fromValue = parseNameAddr(getHeader(call.invite, 'from') ?? '');
    for (const t of branchesToTry) {
      const body = t.body;
      const bTag = d.random.token(64);
      const display = fromValue.displayName ? `"${fromValue.displayName.replace(/(["\\])/g, '\\$1')}" ` : '';
      const headers: Header[] = [
        { name: 'max-forwards', value: '70' },
        { name: 'from', value: `${display}<sip:${call.caller}@${this.hostOf(t.target)}>;tag=${bTag}` },
        { name: 'to', value: `<sip:${call.callee}@${this.hostOf(t.target)}>` },
        { name: 'call-id', value: `${d.random.token(96)}@securepbx` },
        { name: 'cseq', value: '1 INVITE' },
        { name: 'contact', value: `<${d.contactFor(t.target)}>` },
        { name: 'allow', value: 'INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO' },
      ];
      let req: SipRequest = { kind: 'request', method: 'INVITE', uri: t.contact, headers, body: Buffer.alloc(0) };
      if (body) req = withBody(req, body, SDP_TYPE);
      const branch: Branch = { target: t.target, contact: t.contact, request: req, keys: t.keys, state: 'calling', cancelWanted: false };
      call.branches.push(branch);
      try {
        branch.tx = d.transactions.sendRequest(req, t.target, {
          onResponse: (res) => { guard(d, this.onBranchResponse(call, branch, res), 'response'); },
          onTimeout: () => { guard(d, this.onBranchFinal(call, branch, 408), 'timeout'); },
          onTransportError: () => { guard(d, this.onBranchFinal(call, branch, 503), 'transport error'); },
        }) as InviteClientTransaction;
      } catch (e) {
        d.log.warn({ call: call.id, err: e instanceof Error ? e.message : String(e) }, 'cannot send INVITE to a contact');
        branch.state = 'done';
        branch.finalStatus = 503;
      }
    }
    if (call.branches.every((b) => b.state === 'done')) { await this.finishBranches(call); return; }
    // Scoped to ringing: it cannot fire once the call is answered or over.
    call.noAnswerTimer = call.life.timer(d.noAnswerMs(), () => {
      d.counters.inc('call.no-answer');
      this.cancelBranches(call);
      guard(d, this.fail(call, 'no-answer', 'no-answer'), 'no-answer');
    });
  }

  /** The media policy for one contact of the callee (pbx/policy). */
  private decide(call: Call, callee: CalleeAccount, offer: SessionDescription | undefined, target: Target): MediaPlan | PolicyRefusal {
    const d = this.deps;
    const policies = d.policies?.() ?? [];
    const callerAccount = d.callee(call.caller);
    const plan = decideMediaPlan({
      callerPolicy: policySettings(policies, callerAccount?.policy ?? DEFAULT_POLICY),
      calleePolicy: policySettings(policies, callee.policy ?? DEFAULT_POLICY),
      caller: { caps: callerAccount?.media ?? DEFAULT_PHONE_CAPS, legTls: isSecureSignalling(call.aTarget.transport) },
      callee: { caps: callee.media ?? DEFAULT_PHONE_CAPS, legTls: isSecureSignalling(target.transport) },
      // RFC 5630: a sips: Request-URI asks for TLS on every hop.
      offer: summarizeOffer(audioOf(offer), uriScheme(call.invite.uri) === 'sips'),
    });
    if (isRefusal(plan)) {
      d.counters.inc(POLICY_REFUSAL_COUNTER_PREFIX + plan.code);
      d.log.info({ call: call.id, code: plan.code, reason: plan.reason }, 'media policy refused a contact');
    }
    return plan;
  }

  /** The media policy refused the call: its status, and the reason in a Warning (RFC 3261 20.43, code 399). */
  private async refuse(call: Call, r: PolicyRefusal): Promise<void> {
    const text = r.reason.replace(/["\\]/g, '\\$&').replace(/[\r\n]/g, ' ');
    await this.fail(call, r.status === 480 ? 'unavailable' : 'not-acceptable', 'media-policy',
      [{ name: 'warning', value: `399 ${this.hostOf(call.aTarget)} "${text}"` }]);
  }

  private hostOf(target: Target): string {
    // The box's host as the callee sees it, from the Contact we write on that leg.
    try { return parseUri(this.deps.contactFor(target)).host; } catch { return 'securepbx'; }
  }

  private async onBranchResponse(call: Call, branch: Branch, res: SipResponse): Promise<void> {
    const d = this.deps;
    if (res.status < 200) {
      // Any provisional, 100 included, lets a CANCEL go out (RFC 3261 9.1); one the
      // box wanted earlier (caller's CANCEL, no answer, another contact won) leaves now.
      if (branch.state === 'calling') branch.state = 'proceeding';
      if (branch.cancelWanted) { this.cancelBranch(branch); return; }
      if (res.status === 100 || call.ended || call.state === 'answered') return;
      // 180/183 relayed; early media (183 with SDP) makes the callee's media flow now.
      let body: Buffer | undefined;
      if (res.body.length > 0 && call.callerOffer && call.aLocal) {
        try {
          const early = parseBody(res.body)!;
          const k = branch.keys.calleeAnswered(audioOf(early) ?? failNoAudio());
          call.remotes.b = remoteOf(early);
          await d.media.request({ op: 'answer', sessionId: call.sessionId, b: call.remotes.b, security: k.engine });
          body = answerFromAnswer(call.callerOffer, early, call.aSdp, call.aLocal, k.callerAnswer);
        } catch { body = undefined; }
      }
      if (!call.aTx.isTerminated) call.respondA(res.status === 183 && body ? 183 : 180, res.status === 183 && body ? 'Session Progress' : 'Ringing', body ? { body } : {});
      return;
    }
    if (res.status < 300) { await this.onBranchAnswered(call, branch, res); return; }
    await this.onBranchFinal(call, branch, res.status);
  }

  private async onBranchAnswered(call: Call, branch: Branch, res: SipResponse): Promise<void> {
    const d = this.deps;
    let dialog: Dialog;
    try { dialog = dialogAsUac(branch.request, res); } catch {
      d.counters.inc('call.bad-2xx');
      return;
    }
    if (call.bBranch && call.bBranch !== branch) {
      // A second contact answered too (a race with our CANCEL): acknowledge and hang it up.
      this.sendAck(dialog, branch.target);
      this.sendBye(dialog, branch.target);
      return;
    }
    if (call.bBranch === branch) {
      // A retransmitted 2xx: our ACK was lost (13.2.2.4).
      if (call.bDialog && !call.pendingCalleeAck) this.sendAck(call.bDialog, branch.target);
      return;
    }
    if (call.ended) { this.sendAck(dialog, branch.target); this.sendBye(dialog, branch.target); return; }
    branch.state = 'answered';
    call.bBranch = branch;
    call.bDialog = dialog;
    call.bTarget = branch.target;
    call.keys = branch.keys;
    call.noAnswerTimer?.cancel();
    for (const other of call.branches) if (other !== branch) this.cancelBranch(other);

    let answerBody: Buffer | undefined;
    try {
      const answer = parseBody(res.body);
      if (call.callerOffer && answer) {
        const k = branch.keys.calleeAnswered(audioOf(answer) ?? failNoAudio());
        const map = payloadMap(call.callerOffer, answer);
        // The RTP header is inside the SRTP tag: end-to-end SRTP cannot be renumbered.
        if (Object.keys(map).length && branch.keys.endToEnd) throw new PbxError('protocol', 'the callee renumbered payload types of end-to-end SRTP');
        call.remotes.b = remoteOf(answer);
        await d.media.request({ op: 'answer', sessionId: call.sessionId, b: call.remotes.b, security: k.engine });
        if (Object.keys(map).length) await d.media.request({ op: 'map', sessionId: call.sessionId, bToA: map });
        answerBody = answerFromAnswer(call.callerOffer, answer, call.aSdp, call.aLocal!, k.callerAnswer);
      } else if (!call.callerOffer && answer) {
        // Late offer (RFC 3261 13.2.1): the callee offered in its 2xx; the box offers
        // toward the caller and answers the callee when the caller's ACK brings the answer.
        call.remotes.b = remoteOf(answer);
        await d.media.request({ op: 'answer', sessionId: call.sessionId, b: call.remotes.b });
        answerBody = offerFromOffer(answer, call.aSdp, call.aLocal!).body;
        call.pendingCalleeAck = { dialog, offer: answer };
      } else {
        throw new Error('no SDP in the answer');
      }
    } catch (e) {
      d.log.warn({ call: call.id, err: e instanceof Error ? e.message : String(e) }, 'callee answer unusable');
      this.sendAck(dialog, branch.target);
      this.sendBye(dialog, branch.target);
      call.bDialog = undefined;
      await this.fail(call, 'not-acceptable', 'codec-mismatch');
      return;
    }
    if (!call.pendingCalleeAck) this.sendAck(dialog, branch.target);
    call.life.move('answered');
    call.settleInitialOffer();
    call.answeredAt = d.clock.now();
    call.respondA(200, 'OK', { body: answerBody });
    d.counters.inc('call.answered');
    d.log.info({ call: call.id, caller: call.caller, callee: call.callee }, 'call answered');
    this.changed();
  }

  private async onBranchFinal(call: Call, branch: Branch, status: number): Promise<void> {
    if (branch.state === 'done' || branch.state === 'answered') return;
    branch.state = 'done';
    branch.finalStatus = status;
    if (call.branches.every((b) => b.state === 'done')) await this.finishBranches(call);
  }

  /** Every contact failed: give the caller the most telling answer (RFC 3261 16.7 in spirit). */
  private async finishBranches(call: Call): Promise<void> {
    if (call.ended || call.state === 'answered') return;
    const statuses = call.branches.map((b) => b.finalStatus ?? 500);
    if (statuses.some((s) => s === 486 || s === 600)) { await this.fail(call, 'busy', 'busy'); return; }
    if (statuses.some((s) => s === 487)) { await this.fail(call, 'cancelled', 'cancelled'); return; }
    const fourxx = statuses.find((s) => s >= 400 && s < 500 && s !== 408);
    if (fourxx) { await this.fail(call, { status: fourxx }, 'rejected'); return; }
    await this.fail(call, 'unavailable', 'unavailable');
  }

  private cancelBranches(call: Call): void {
    for (const b of call.branches) this.cancelBranch(b);
  }

  private cancelBranch(branch: Branch): void {
    if (branch.state === 'done' || branch.state === 'answered' || !branch.tx) return;
    if (branch.state !== 'proceeding') { branch.cancelWanted = true; return; } // CANCEL waits for a provisional (9.1)
    try {
      this.deps.transactions.sendCancel(branch.tx, { onResponse: () => {} });
    } catch { /* the INVITE ended meanwhile */ }
    branch.state = 'done';
  }

  /** The caller's CANCEL (9.2): 200 to the CANCEL, 487 to the INVITE, CANCEL toward every contact. */
  onCancel(cancel: SipRequest, tx: ServerTransaction, cancelled: InviteServerTransaction | undefined): void {
    const call = cancelled ? [...this.calls].find((c) => c.aTx === cancelled) : undefined;
    tx.respond(createResponse(cancel, call ? 200 : 481, undefined, { toTag: this.deps.toTag() }));
    if (!call || call.state === 'answered') return;
    this.cancelBranches(call);
    guard(this.deps, this.fail(call, 'cancelled', 'cancelled'), 'cancel');
  }

  onAck(ack: SipRequest): void {
    const found = this.findByDialog(ack);
    if (!found || found.side !== 'a') return;
    const { call } = found;
    call.acked();
    if (call.pendingCalleeAck) {
      // Late offer: the caller's answer rides on its ACK; answer the callee in ours.
      const { dialog, offer } = call.pendingCalleeAck;
      call.pendingCalleeAck = undefined;
      let body: Buffer | undefined;
      try {
        const answer = parseBody(ack.body);
        if (answer) {
          call.remotes.a = remoteOf(answer);
          guard(this.deps, this.deps.media.request({ op: 'update', sessionId: call.sessionId, leg: 'a', remote: call.remotes.a }), 'late answer');
          body = answerFromAnswer(offer, answer, call.bSdp, call.bLocal!);
        }
      } catch { body = undefined; }
      this.sendAck(dialog, call.bTarget!, body);
      if (!body) guard(this.deps, this.hangup(call, 'codec-mismatch', 'both'), 'late answer');
    }
  }

  /** BYE, UPDATE, INFO, OPTIONS... inside a dialog. Returns false if the request is not ours. */
  onInDialog(req: SipRequest, tx: ServerTransaction): boolean {
    const found = this.findByDialog(req);
    if (!found) return false;
    const { call, side } = found;
    const d = this.deps;
    const dialog = side === 'a' ? call.aDialog : call.bDialog;
    if (!dialog) return false;
    const next = acceptRemoteSeq(dialog, req);
    if (!next) { tx.respond(failureResponse(req, 'cseq-out-of-order')); return true; }
    if (side === 'a') call.aDialog = next; else call.bDialog = next;
    switch (req.method) {
      case 'BYE':
        tx.respond(createResponse(req, 200, 'OK'));
        guard(d, this.hangup(call, side === 'a' ? 'bye-caller' : 'bye-callee', side === 'a' ? 'b' : 'a'), 'BYE');
        return true;
      case 'OPTIONS':
        tx.respond(createResponse(req, 200, 'OK'));
        return true;
      case 'UPDATE':
      case 'INFO':
        guard(d, this.passThrough(call, side, req, tx), req.method);
        return true;
      default:
        d.counters.inc('call.in-dialog-unsupported');
        tx.respond(createResponse(req, 405, 'Method Not Allowed', { headers: [{ name: 'allow', value: 'INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO' }] }));
        return true;
    }
  }

  /** A re-INVITE on one leg becomes a re-INVITE on the other (hold, resume, new media). */
  private async reinvite(call: Call, side: 'a' | 'b', req: SipRequest, tx: InviteServerTransaction): Promise<void> {
    const dialog = side === 'a' ? call.aDialog : call.bDialog;
    // A re-INVITE is an in-dialog request like any other: its CSeq must grow (12.2.2).
    const next = dialog ? acceptRemoteSeq(dialog, req) : undefined;
    if (!dialog || !next) {
      this.deps.counters.inc('call.cseq-out-of-order');
      tx.respond(failureResponse(req, 'cseq-out-of-order'));
      return;
    }
    if (side === 'a') call.aDialog = next; else call.bDialog = next;
    await this.passThrough(call, side, req, tx);
  }

  /**
   * Offer/answer across the call: the request's SDP (if any) updates this
   * leg's remote media, the other leg gets the same method with the box's SDP,
   * and its answer comes back rewritten for this leg.
   */
  private async passThrough(call: Call, side: 'a' | 'b', req: SipRequest, tx: ServerTransaction): Promise<void> {
    const d = this.deps;
    const dialogHere = side === 'a' ? call.aDialog : call.bDialog;
    const dialogThere = side === 'a' ? call.bDialog : call.aDialog;
    const targetThere = side === 'a' ? call.bTarget : call.aTarget;
    const here = side === 'a' ? 'a' : 'b';
    const there = side === 'a' ? 'b' : 'a';
    const localHere = side === 'a' ? call.aLocal : call.bLocal;
    const localThere = side === 'a' ? call.bLocal : call.aLocal;
    const sdpHere = side === 'a' ? call.aSdp : call.bSdp;
    const sdpThere = side === 'a' ? call.bSdp : call.aSdp;
    if (!dialogHere || !dialogThere || !targetThere || !localHere || !localThere || call.state !== 'answered') {
      tx.respond(failureResponse(req, 'glare', { toTag: dialogHere?.localTag }));
      return;
    }
    const negotiates = req.method === 'INVITE' || req.method === 'UPDATE';
    let offer: SessionDescription | undefined;
    try { offer = parseBody(req.body); } catch {
      tx.respond(failureResponse(req, 'bad-sdp', { toTag: dialogHere.localTag }));
      return;
    }
    // A re-INVITE without SDP asks the other side to offer (in its 2xx); as a
    // round it is pending on both legs all the same.
    if (negotiates) {
      const refused = call.beginRound(side);
      if (refused) {
        d.counters.inc(refused === 'glare' ? 'call.glare' : 'call.offer-pending');
        tx.respond(failureResponse(req, 'glare', { toTag: dialogHere.localTag }));
        return;
      }
    }
    let body: Buffer | undefined;
    let open = negotiates;
    /** This leg's media before the offer was applied: a refused round puts it back (RFC 6337 3.2). */
    let previous: RemoteMedia | undefined;
    const settled = (ok: boolean): void => {
      if (!open) return;
      open = false;
      call.endRound(side, ok);
      if (!ok && previous) {
        call.remotes[here] = previous;
        guard(d, d.media.request({ op: 'update', sessionId: call.sessionId, leg: here, remote: previous }), 'media rollback');
      }
    };
    if (offer) {
      try {
        // New keys in the offer rekey this leg; otherwise the keys stay (the engine restarts only the receive context).
        const media = audioOf(offer);
        const re = call.keys && media ? call.keys.reoffer(here, media) : undefined;
        const next = remoteOf(offer);
        await d.media.request({ op: 'update', sessionId: call.sessionId, leg: here, remote: next, ...(re?.here ? { security: re.here } : {}) });
        previous = call.remotes[here];
        call.remotes[here] = next;
        sdpThere.version++;
        body = offerFromOffer(offer, sdpThere, localThere, re?.there ?? PLAIN_SDP).body;
      } catch {
        settled(false);
        tx.respond(failureResponse(req, 'not-acceptable', { toTag: dialogHere.localTag }));
        return;
      }
    }
    const built = dialogRequest(dialogThere, req.method, body ? { body, contentType: SDP_TYPE } : {
      ...(req.body.length ? { body: req.body, contentType: getHeader(req, 'content-type') ?? 'application/octet-stream' } : {}),
    });
    if (side === 'a') call.bDialog = built.dialog; else call.aDialog = built.dialog;
    const contact = { name: 'contact', value: `<${d.contactFor(call.aTarget === targetThere ? call.aTarget : targetThere)}>` };
    const outReq: SipRequest = req.method === 'INVITE' || req.method === 'UPDATE'
      ? { ...built.request, headers: [...built.request.headers, contact] } : built.request;
    try {
      this.sendAcross(call, req, tx, outReq, offer, settled, { side, dialogHere, targetThere, there, localHere, sdpHere });
    } catch (e) {
      settled(false);
      d.log.warn({ call: call.id, err: e instanceof Error ? e.message : String(e) }, `cannot pass ${req.method} on`);
      tx.respond(failureResponse(req, 'unreachable', { toTag: dialogHere.localTag }));
    }
  }

  /** Send the passed-on request to the other leg and bring its answer back (see passThrough). */
  private sendAcross(call: Call, req: SipRequest, tx: ServerTransaction, outReq: SipRequest,
    offer: SessionDescription | undefined, settled: (ok: boolean) => void, x: Across): void {
    const d = this.deps;
    const { side, dialogHere, targetThere, there, localHere, sdpHere } = x;
    d.transactions.sendRequest(outReq, targetThere, {
      onResponse: (res) => {
        if (res.status < 200) return;
        settled(res.status < 300);
        guard(d, (async () => {
          let answerBody: Buffer | undefined;
          if (res.status < 300 && offer) {
            try {
              const answer = parseBody(res.body);
              if (answer) {
                const media = audioOf(answer);
                const back = call.keys && media ? call.keys.reanswered(side, media) : undefined;
                call.remotes[there] = remoteOf(answer);
                await d.media.request({ op: 'update', sessionId: call.sessionId, leg: there, remote: call.remotes[there], ...(back?.there ? { security: back.there } : {}) });
                sdpHere.version++;
                answerBody = answerFromAnswer(offer, answer, sdpHere, localHere, back?.here ?? PLAIN_SDP);
              }
            } catch (e) {
              d.log.warn({ call: call.id, err: e instanceof Error ? e.message : String(e) }, 're-offer answer unusable');
              answerBody = undefined;
            }
          }
          if (req.method === 'INVITE' && res.status < 300) {
            const latest = side === 'a' ? call.bDialog : call.aDialog;
            if (latest) this.sendAck({ ...latest, localSeq: getCSeq(outReq).seq }, targetThere);
          }
          const headers: Header[] = res.status < 300 && req.method !== 'INFO' ? [{ name: 'contact', value: `<${d.contactFor(side === 'a' ? call.aTarget : call.bTarget!)}>` }] : [];
          tx.respond(createResponse(req, res.status, res.reason, {
            toTag: dialogHere.localTag, headers, ...(answerBody ? { body: answerBody, contentType: SDP_TYPE } : {}),
          }));
        })(), `${req.method} answer`);
      },
      onTimeout: () => { settled(false); tx.respond(failureResponse(req, 'timeout', { toTag: dialogHere.localTag })); guard(d, this.hangup(call, 'timeout', 'both'), 'timeout'); },
      onTransportError: () => { settled(false); tx.respond(failureResponse(req, 'unreachable', { toTag: dialogHere.localTag })); },
    });
  }

  private sendAck(dialog: Dialog, target: Target, body?: Buffer): void {
    const ack = dialogRequest(dialog, 'ACK', body ? { body, contentType: SDP_TYPE } : {}).request;
    try { this.deps.transactions.sendAck(ack, target); } catch (e) {
      this.deps.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'cannot send ACK');
    }
  }

  private sendBye(dialog: Dialog, target: Target): Dialog {
    const built = dialogRequest(dialog, 'BYE');
    try { this.deps.transactions.sendRequest(built.request, target, { onResponse: () => {} }); } catch (e) {
      this.deps.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'cannot send BYE');
    }
    return built.dialog;
  }

  /** End an answered call: BYE toward the given side(s), free the media, write the record. */
  async hangup(call: Call, reason: EndReason, byeTo: 'a' | 'b' | 'both'): Promise<void> {
    if (call.ended) return;
    if (call.state !== 'answered') {
      this.cancelBranches(call);
      await this.fail(call, 'cancelled', reason);
      return;
    }
    call.life.move('ending');
    if ((byeTo === 'a' || byeTo === 'both') && call.aDialog) call.aDialog = this.sendBye(call.aDialog, call.aTarget);
    if ((byeTo === 'b' || byeTo === 'both') && call.bDialog && call.bTarget) call.bDialog = this.sendBye(call.bDialog, call.bTarget);
    await this.end(call, reason);
  }

  /**
   * End a call that was never answered, with a final response to the caller:
   * a catalogue entry (pbx/call failures), or a callee's own 4xx passed on.
   */
  private async fail(call: Call, answer: CallFailure | { readonly status: number }, why: EndReason, headers?: Header[]): Promise<void> {
    if (call.ended) return;
    const { status, reason } = typeof answer === 'string' ? responseOf(answer) : { status: answer.status, reason: undefined };
    if (!call.aTx.isTerminated && !call.aTx.lastResponse?.status || (call.aTx.lastResponse?.status ?? 0) < 200) {
      try { call.respondA(status, reason, headers ? { headers } : {}); } catch { /* transaction already gone */ }
    }
    await this.end(call, why);
  }

  private async end(call: Call, reason: EndReason): Promise<void> {
    if (call.ended) return;
    call.life.move('ended'); // cancels every timer of the call
    this.calls.delete(call);
    try { await this.deps.media.request({ op: 'delete', sessionId: call.sessionId }); } catch { /* nothing allocated */ }
    const view = call.view();
    this.deps.records.write({
      id: call.id, caller: call.caller, callee: call.callee, startedAt: call.startedAt,
      ...(call.answeredAt !== undefined ? { answeredAt: call.answeredAt } : {}),
      endedAt: this.deps.clock.now(), endReason: reason, legs: view.legs, mode: view.mode,
    });
    this.deps.log.info({ call: call.id, caller: call.caller, callee: call.callee, reason }, 'call ended');
    this.changed();
  }

  private record(req: SipRequest, caller: string, callee: string, reason: EndReason, source: Target): void {
    const now = this.deps.clock.now();
    this.deps.records.write({
      id: `${now.toString(36)}-${(callCounter++).toString(36)}`, caller, callee, startedAt: now, endedAt: now, endReason: reason,
      legs: { a: { party: caller, transport: source.transport, address: source.address, protection: 'rtp' } }, mode: 'relay',
    });
    void req;
  }

  private findByDialog(req: SipRequest): { call: Call; side: 'a' | 'b' } | undefined {
    const callId = getCallId(req);
    for (const call of this.calls) {
      if (call.aDialog && call.aDialog.callId === callId && inDialog(call.aDialog, req)) return { call, side: 'a' };
      if (call.bDialog && call.bDialog.callId === callId && inDialog(call.bDialog, req)) return { call, side: 'b' };
      // The caller's ACK to our 2xx arrives before aDialog's remoteSeq matters; match by Call-ID and tags.
      if (req.method === 'ACK' && callId === getCallId(call.invite) && call.final2xx !== undefined) return { call, side: 'a' };
    }
    return undefined;
  }

  /** Stop every call (appliance shutdown): BYE both legs. */
  async stopAll(): Promise<void> {
    for (const call of [...this.calls]) await this.hangup(call, 'failed', 'both');
  }
}
