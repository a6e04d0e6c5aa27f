import { createResponse, getHeader, parseUri, type Header, type SipRequest } from '../sip/message/index.js';
import { dialogAsUas } from '../sip/dialog/index.js';
import type { InviteServerTransaction, ServerTransaction, Target } from '../sip/transaction/index.js';
import { authenticate, type AuthDeps, type RequestSource } from './auth.js';
import {
  Call, CallSetup, Renegotiation, onKeyingEvent, sdpIn, unsupportedRequired, failureOf, failureResponse, guard, newCallId, responseOf, type CallEnding, type CallFailure,
  type CalleeAccount, type EndReason, type LegId, type SetupDeps,
} from './call/index.js';
import type { CallRecords } from './records.js';
import type { LocationService } from './location.js';
import type { CallView } from './views.js';
import { Delivery, Hold, ParkLot, Pickup, ReplacesInvite, SettingCodesDestination, Transfer, hasReplaces, type ParkSettings, type PickupCodes, type RingGroupEntry, type SettingCodes } from './features/index.js';
import type { CallLeg, Destination, IncomingCall, RingOptions } from './call/index.js';
import type { MediaPlan, PolicyRefusal } from './policy/index.js';
import type { RouteTarget } from './routing/index.js';

export type { Destination, IncomingCall, RingOptions };

export type { CalleeAccount, MediaControl, NamedPolicy } from './call/index.js';

/**
 * Call control's entry point: the box is a back-to-back user agent. It takes
 * the SIP requests the core hands it (a new INVITE, CANCEL, ACK, anything in
 * a dialog), finds the call and the leg they belong to, and hands them on:
 * setting up (setup.ts), renegotiating across legs (renegotiate.ts), ending.
 * The call model itself (calls, legs, fork, lifecycle, offer/answer,
 * failures) is pbx/call.
 */

export interface B2buaDeps extends AuthDeps, SetupDeps {
  readonly location: LocationService;
  readonly records: CallRecords;
  /** Music on hold (8 kHz mono PCM); absent or undefined: holds pass across to the other phone. */
  readonly holdMusic?: () => Int16Array | undefined;
  /** The ring groups (config groups); absent: none. */
  readonly groups?: () => readonly RingGroupEntry[];
  /** Feature codes for settings, and where a changed setting is stored; absent: no such codes. */
  readonly settingCodes?: { readonly codes: () => SettingCodes; readonly setDnd: (extension: string, on: boolean) => Promise<void> };
  /** Pickup codes (directed, group); absent: the defaults ** and *8. */
  readonly pickupCodes?: () => PickupCodes;
  /** Call park (the park number, its slots, the time before the parker is rung back); absent: no park. */
  readonly parkSettings?: () => ParkSettings;
  /** Hold recall: a hold the box answered and nobody resumed rings the holder back after this long; absent or 0: never. */
  readonly holdRecallMs?: () => number;
}

/** Voicemail as the B2BUA's delivery asks it (features/voicemail): take an unanswered call, is it on for an account. */
export interface VoicemailHook {
  leave(incoming: IncomingCall, mailbox: string, after: Call | undefined, why: string): boolean;
  on(extension: string): boolean;
}

export class B2bua implements CallEnding {
  private readonly calls = new Set<Call>();
  private readonly listeners = new Set<() => void>();
  private readonly setup: CallSetup;
  private readonly renegotiation: Renegotiation;
  private readonly hold: Hold;
  private readonly transfer: Transfer;
  private readonly parking?: ParkLot;
  private readonly replaces: ReplacesInvite;
  private readonly destinations: Destination[] = [];
  private voicemail?: VoicemailHook;
  private trunkInbound?: (req: SipRequest, tx: InviteServerTransaction, source: Target) => boolean;

  constructor(readonly deps: B2buaDeps) {
    this.setup = new CallSetup(deps, this);
    this.renegotiation = new Renegotiation(deps, this);
    const holdMusic = deps.holdMusic ?? (() => undefined);
    this.hold = new Hold({
      counters: deps.counters, log: deps.log, holdMusic, recallMs: deps.holdRecallMs ?? (() => 0),
      recall: (c, holder) => this.transfer.recall(c, holder), cancelRecall: (c) => this.transfer.cancelRecall(c),
    }, this);
    const parkSettings = deps.parkSettings;
    if (parkSettings) {
      this.parking = new ParkLot({ ...deps, settings: parkSettings }, {
        tell: (i, status, reason) => this.tell(i, status, reason),
        refuse: (i, answer, why) => this.refuse(i, answer, why),
        hangup: (c, reason, byeTo) => this.hangup(c, reason, byeTo),
        changed: () => this.changed(),
        ringBack: (c, ghost, parker) => this.transfer.ringBack(c, ghost, parker),
      });
    }
    this.transfer = new Transfer({ ...deps, holdMusic, calls: () => this.calls, ...(this.parking ? { parking: this.parking } : {}) }, this);
    const pickup = new Pickup({ codes: deps.pickupCodes ?? (() => ({ directedPickup: '**', groupPickup: '*8' })), callee: deps.callee, random: deps.random, clock: deps.clock, counters: deps.counters, log: deps.log, ...(deps.zrtp ? { zrtp: deps.zrtp } : {}), ...(deps.dtlsFingerprint ? { dtlsFingerprint: deps.dtlsFingerprint } : {}) }, this);
    this.destinations.push(pickup);
    this.replaces = new ReplacesInvite({
      ...deps, calls: () => this.calls, busy: (c) => this.transfer.busy(c), pickUp: (c, i) => pickup.pickUp(c, i),
    }, this);
    if (this.parking) this.destinations.push(this.parking);
    if (deps.settingCodes) this.destinations.push(new SettingCodesDestination({ ...deps.settingCodes, counters: deps.counters, log: deps.log }, this));
    // Accounts and ring groups, with forwarding and do-not-disturb: destinations added later see only other numbers.
    this.destinations.push(new Delivery({
      callee: deps.callee, groups: deps.groups ?? (() => []), counters: deps.counters, log: deps.log,
      voicemail: (incoming, mailbox, after, why) => this.voicemail?.leave(incoming, mailbox, after, why) ?? false,
      voicemailOn: (ext) => this.voicemail?.on(ext) ?? false,
    }, this));
    deps.media.onEvent((e) => {
      if (e.type === 'keying') {
        // A key agreement in the media path (ZRTP) finished or failed on one of a call's legs.
        const call = [...this.calls].find((c) => c.media.id === e.sessionId);
        if (call) onKeyingEvent(deps, this, call, e);
        return;
      }
      if (e.type !== 'media-timeout') return;
      const call = [...this.calls].find((c) => c.media.id === e.sessionId);
      // Early media (a 183 whose SDP never brings RTP) is no reason to end a call
      // that is still ringing: the no-answer timer owns that phase.
      if (call && call.state === 'answered') {
        deps.log.warn({ call: call.id, idleMs: e.idleMs }, 'media stopped: ending the call');
        guard(deps, this.hangup(call, 'media-timeout', 'both'), 'media-timeout');
      }
    });
  }

  /**
   * A leg's key agreement in the media path (DTLS-SRTP) finished or failed:
   * the leg's keying takes it; a failed one ends the call, never media in the clear.
   */
  /** Add a kind of destination (see Destination); asked after those added before it, before the accounts. */
  addDestination(dest: Destination): void {
    this.destinations.push(dest);
  }

  /** Voicemail's hook for an unanswered call to an account (features/voicemail): true when it took the call. */
  setVoicemail(hook: VoicemailHook): void {
    this.voicemail = hook;
  }

  /** Calls arriving from trunks: asked before digest authentication; true when it took the INVITE (pbx/trunks). */
  setTrunkInbound(hook: (req: SipRequest, tx: InviteServerTransaction, source: Target) => boolean): void {
    this.trunkInbound = hook;
  }

  /** The calls in progress, for features that look across calls (pickup, park, transfer). */
  active(): Iterable<Call> {
    return this.calls;
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

  changed(): void {
    for (const l of this.listeners) {
      try { l(); } catch { /* listeners must not break calls */ }
    }
  }

  /** An INVITE: a new call, or a re-INVITE in one of a call's dialogs. */
  onInvite(req: SipRequest, tx: InviteServerTransaction, source: Target): void {
    const d = this.deps;
    const found = this.findByDialog(req);
    if (found) {
      // A re-INVITE is an in-dialog request like any other: its CSeq must grow (12.2.2).
      if (!found.leg.acceptRemote(req, source)) {
        d.counters.inc('call.cseq-out-of-order');
        tx.respond(failureResponse(req, 'cseq-out-of-order'));
        return;
      }
      this.reoffer(found.call, found.leg, req, tx);
      return;
    }
    if (/;\s*tag=/i.test(getHeader(req, 'to') ?? '')) {
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
    // RFC 3261 8.2.2.3: an extension the caller insists on and the box lacks is refused, not ignored.
    const unsupported = unsupportedRequired(req);
    if (unsupported.length > 0) {
      d.counters.inc('call.bad-extension');
      tx.respond(createResponse(req, 420, 'Bad Extension', { toTag: d.toTag(), headers: [{ name: 'unsupported', value: unsupported.join(', ') }] }));
      return;
    }
    // A trunk's INVITE (from its servers or its allow list) is not an account's: no digest; its DID routes it (pbx/trunks).
    if (this.trunkInbound?.(req, tx, source)) return;
    const src: RequestSource = { transport: source.transport, address: source.address, port: source.port, ...(source.flowId ? { flowId: source.flowId } : {}) };
    const auth = authenticate(d, req, src);
    if (!auth.ok) { tx.respond(auth.response); return; }
    const caller = auth.account.extension;
    tx.respond(createResponse(req, 100, 'Trying'));

    let dialled: string | undefined;
    try { dialled = parseUri(req.uri).user; } catch { /* handled below */ }
    // RFC 3891: a new INVITE that names a dialog to replace joins that call, whatever it dials.
    if (hasReplaces(req)) { this.replaces.take({ req, tx, source, caller, dialled: dialled ?? '' }); return; }
    if (dialled !== undefined) {
      const incoming: IncomingCall = { req, tx, source, caller, dialled };
      for (const dest of this.destinations) {
        let taken = false;
        try { taken = dest.take(incoming); } catch (e) {
          d.counters.inc('call.internal-error');
          d.log.error({ destination: dest.name, err: e instanceof Error ? e.message : String(e) }, 'destination failed');
          this.refuse(incoming, 'internal', 'failed');
          return;
        }
        if (taken) return;
      }
    }
    d.counters.inc('call.not-found');
    d.log.info({ caller, dialled: dialled ?? req.uri }, 'call to an unknown number: 404');
    tx.respond(failureResponse(req, 'not-found', { toTag: d.toTag() }));
    this.record(caller, dialled ?? req.uri, 'not-found', source);
  }

  /**
   * Ring accounts for an incoming call: one (an extension, a forward) or
   * several at once (a ring group); the first to answer takes the call. The
   * call shows `shownAs` as its callee until a member answers. With
   * `replaces`, the new call takes over from one that was not answered (a
   * forward on busy or no answer, a ring group's next member): that one ends
   * without a word to the caller, and its To tag carries on.
   */
  ring(incoming: IncomingCall, callees: readonly CalleeAccount[], opts: RingOptions = {}): Call {
    const d = this.deps;
    const first = callees[0];
    const label = opts.shownAs ?? (first ? { extension: first.extension, name: first.name } : { extension: incoming.dialled, name: '' });
    if (opts.replaces) void this.end(opts.replaces, 'forwarded');
    const call: Call = new Call(d, incoming.req, incoming.tx, incoming.source, incoming.caller, label.extension, label.name, opts.replaces?.tag);
    if (opts.ringMs !== undefined) call.ringMs = opts.ringMs;
    if (opts.onUnanswered) call.onUnanswered = opts.onUnanswered;
    // No ACK for our 2xx: the dialog is dead (13.3.1.4).
    call.onNoAck = () => guard(d, this.hangup(call, 'timeout', 'both'), 'hangup');
    this.calls.add(call);
    this.changed();
    void this.setup.route(call, callees, opts).catch((e: unknown) => {
      d.log.error({ call: call.id, err: e instanceof Error ? e.message : String(e) }, 'call setup failed');
      // The catalogue decides: no free media ports (a limit) is a passing overload, 503 so the phone retries.
      if (!call.ended) guard(d, this.fail(call, failureOf(e), 'failed'), 'fail');
    });
    return call;
  }

  /** The media plan between a call's caller and another account on `target` (for a pickup). */
  planFor(call: Call, callee: CalleeAccount, target: RouteTarget): MediaPlan | PolicyRefusal {
    return this.setup.planFor(call, callee, target);
  }

  /**
   * A call a destination answers itself (a conference room): the B2BUA
   * routes its in-dialog requests (ACK, BYE) and ends it like any other.
   */
  adopt(call: Call, replaces?: Call): void {
    // An unanswered call the answering destination takes over (voicemail): it ends without a word to the caller.
    if (replaces) void this.end(replaces, 'forwarded');
    call.onNoAck = () => guard(this.deps, this.hangup(call, 'timeout', 'both'), 'hangup');
    this.calls.add(call);
    this.changed();
  }

  /** Is `extension` a party of an answered call (for call waiting off). */
  inCall(extension: string): boolean {
    for (const c of this.calls) {
      if (c.state === 'answered' && (c.caller === extension || c.callee === extension)) return true;
    }
    return false;
  }

  /** Answer an incoming call at once with a status and reason phrase of the box's own (a feature code's outcome). */
  tell(incoming: IncomingCall, status: number, reason: string): void {
    try { incoming.tx.respond(createResponse(incoming.req, status, reason, { toTag: this.deps.toTag() })); } catch { /* the transaction is gone */ }
  }

  /** Refuse an incoming call before it is a call, with a catalogue answer, and keep its record. */
  refuse(incoming: IncomingCall, answer: CallFailure, why: EndReason, headers?: Header[]): void {
    try {
      incoming.tx.respond(failureResponse(incoming.req, answer, { toTag: this.deps.toTag(), ...(headers ? { headers } : {}) }));
    } catch { /* the transaction is gone */ }
    this.record(incoming.caller, incoming.dialled, why, incoming.source);
  }

  /**
   * A CANCEL (9.2): of the caller's INVITE, 200 to the CANCEL, 487 to the
   * INVITE, CANCEL toward every contact; of a re-INVITE crossing the box, 200,
   * 487 to the re-INVITE and CANCEL of the box's own on the other leg, the
   * call going on.
   */
  onCancel(cancel: SipRequest, tx: ServerTransaction, cancelled: InviteServerTransaction | undefined): void {
    const call = cancelled ? [...this.calls].find((c) => c.tx === cancelled) : undefined;
    const crossing = cancelled && !call
      ? [...this.calls].flatMap((c) => [...c.crossings]).find((x) => x.asked === cancelled) : undefined;
    tx.respond(createResponse(cancel, call || crossing ? 200 : 481, undefined, { toTag: this.deps.toTag() }));
    if (crossing) { crossing.abandon('cancel'); return; }
    if (!call || call.state === 'answered') return;
    call.fork.cancelAll();
    guard(this.deps, this.fail(call, 'cancelled', 'cancelled'), 'cancel');
  }

  /** An ACK to one of the box's 2xx, on any leg: resending stops; an answer it carries goes where it is awaited. */
  onAck(ack: SipRequest): void {
    this.findByDialog(ack)?.leg.acked(ack);
  }

  /** BYE, UPDATE, INFO, OPTIONS... inside a dialog. Returns false if the request is not ours. */
  onInDialog(req: SipRequest, tx: ServerTransaction, source?: Target): boolean {
    const found = this.findByDialog(req);
    if (!found || !found.leg.dialog) return false;
    const { call, leg } = found;
    const d = this.deps;
    if (!leg.acceptRemote(req, source)) { tx.respond(failureResponse(req, 'cseq-out-of-order')); return true; }
    switch (req.method) {
      case 'BYE':
        tx.respond(createResponse(req, 200, 'OK'));
        // A blind transferor may hang up before the target answers (RFC 5589 6): the call stays for the transferee.
        if (this.transfer.transferorLeft(call, leg)) return true;
        guard(d, this.hangup(call, leg.id === 'a' ? 'bye-caller' : 'bye-callee', call.other(leg.id).id), 'BYE');
        return true;
      case 'OPTIONS':
        tx.respond(createResponse(req, 200, 'OK'));
        return true;
      case 'UPDATE':
        this.reoffer(call, leg, req, tx);
        return true;
      case 'INFO':
        if (call.onInfo?.(req, tx)) return true;
        guard(d, this.renegotiation.across(call, leg, req, tx), req.method);
        return true;
      case 'REFER':
        guard(d, this.transfer.refer(call, leg, req, tx), 'REFER');
        return true;
      default:
        d.counters.inc('call.in-dialog-unsupported');
        tx.respond(createResponse(req, 405, 'Method Not Allowed', { headers: [{ name: 'allow', value: 'INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER' }] }));
        return true;
    }
  }

  /** A re-INVITE or UPDATE: a hold or resume the box answers itself (music on hold), else across to the other phone. */
  private reoffer(call: Call, leg: CallLeg, req: SipRequest, tx: ServerTransaction): void {
    const carried = sdpIn(req);
    const offer = typeof carried === 'object' ? carried.offer : undefined;
    // A parked party's re-offer (a session refresh, a hold of its own): nobody is on the other
    // side to ask, so the box answers it on the leg and the music goes on.
    if (call.parkedIn !== undefined) {
      if (offer) guard(this.deps, this.hold.answer(call, leg, req, tx, offer, false), 'parked re-offer');
      else tx.respond(failureResponse(req, 'not-acceptable', { toTag: leg.dialog?.localTag }));
      return;
    }
    if (offer && this.hold.takes(call, leg, req, offer)) {
      guard(this.deps, this.hold.answer(call, leg, req, tx, offer), 'hold');
      return;
    }
    guard(this.deps, this.renegotiation.across(call, leg, req, tx), req.method === 'INVITE' ? 're-INVITE' : req.method);
  }

  /** End a call: an answered one with BYE toward the given leg(s), one still ringing by cancelling it. */
  async hangup(call: Call, reason: EndReason, byeTo: LegId | 'both'): Promise<void> {
    if (call.ended) return;
    if (call.state !== 'answered') {
      call.fork.cancelAll();
      await this.fail(call, 'cancelled', reason);
      return;
    }
    call.life.move('ending');
    // Requests still crossing get their final answer before the BYE ends their dialog (RFC 3261 15.1.2).
    for (const x of [...call.crossings]) x.abandon('ended');
    for (const leg of call.legs.values()) if (byeTo === 'both' || byeTo === leg.id) leg.bye();
    await this.end(call, reason);
  }

  /**
   * The admin ends a call (the dashboard's Hang up, `pbx call hangup ID`):
   * BYE to both legs of an answered call, or 487 to the caller and CANCEL to
   * every ringing phone of one not answered yet; its record says 'admin'.
   * The call as it was, or undefined when no call has that id.
   */
  async hangupById(id: string): Promise<CallView | undefined> {
    const call = [...this.calls].find((c) => c.id === id);
    if (!call || call.ended) return undefined;
    const view = call.view();
    this.deps.log.info({ call: call.id, caller: call.caller, callee: call.callee }, 'call ended by the admin');
    await this.hangup(call, 'admin', 'both');
    return view;
  }

  /**
   * End a call that was never answered, with a final response to the caller:
   * a catalogue entry (pbx/call failures), or a callee's own 4xx passed on.
   */
  async fail(call: Call, answer: CallFailure | { readonly status: number }, why: EndReason, headers?: Header[]): Promise<void> {
    if (call.ended) return;
    // Forwarding or a ring group's next member may take an unanswered call elsewhere.
    if (call.state !== 'answered' && call.onUnanswered && (why === 'busy' || why === 'no-answer' || why === 'unavailable')) {
      const handler = call.onUnanswered;
      call.onUnanswered = undefined;
      if (handler(why)) return;
    }
    const { status, reason } = typeof answer === 'string' ? responseOf(answer) : { status: answer.status, reason: undefined };
    if (!call.tx.isTerminated && !call.tx.lastResponse?.status || (call.tx.lastResponse?.status ?? 0) < 200) {
      try { call.respond(status, reason, headers ? { headers } : {}); } catch { /* transaction already gone */ }
    }
    await this.end(call, why);
  }

  private async end(call: Call, reason: EndReason): Promise<void> {
    if (call.ended) return;
    this.calls.delete(call);
    if (!(await call.close(reason))) return;
    const view = call.view();
    this.deps.records.write({
      id: call.id, caller: call.caller, callee: call.callee, startedAt: call.startedAt,
      ...(call.answeredAt !== undefined ? { answeredAt: call.answeredAt } : {}),
      endedAt: this.deps.clock.now(), endReason: reason, legs: view.legs, mode: view.mode,
      ...(view.notes ? { notes: view.notes } : {}),
    });
    this.deps.log.info({ call: call.id, caller: call.caller, callee: call.callee, reason }, 'call ended');
    this.changed();
  }

  /** A call refused before it had a Call (unknown callee): its record all the same. */
  private record(caller: string, callee: string, reason: EndReason, source: Target): void {
    const now = this.deps.clock.now();
    this.deps.records.write({
      id: newCallId(now), caller, callee, startedAt: now, endedAt: now, endReason: reason,
      legs: { a: { party: caller, transport: source.transport, address: source.address, protection: 'rtp' } }, mode: 'relay',
    });
  }

  private findByDialog(req: SipRequest): { call: Call; leg: NonNullable<ReturnType<Call['legOf']>> } | undefined {
    for (const call of this.calls) {
      const leg = call.legOf(req);
      if (leg) return { call, leg };
    }
    return undefined;
  }

  /** Stop every call (appliance shutdown): BYE both legs. */
  async stopAll(): Promise<void> {
    for (const call of [...this.calls]) await this.hangup(call, 'failed', 'both');
  }
}
