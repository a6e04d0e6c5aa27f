import type { TimerHandle } from '../../core/index.js';
import type { LegView } from '../../api/index.js';
import type { SessionDescription } from '../../sdp/index.js';
import { createResponse, type Header, type SipRequest, type SipResponse } from '../../sip/message/index.js';
import { dialogAsUas } from '../../sip/dialog/index.js';
import type { InviteServerTransaction, ServerTransaction, Target } from '../../sip/transaction/index.js';
import { MediaSession, type CallKeys } from '../media/index.js';
import type { CallDeps, CallView, EndReason, LegId } from './deps.js';
import { Fork } from './fork.js';
import { CallLeg } from './leg.js';
import { CallLifecycle, type CallPhase } from './lifecycle.js';
import type { OfferAnswerRefusal } from './negotiation.js';

let callCounter = 0;

/** The typed events of a call. */
export interface CallEvents {
  readonly phase: { readonly to: CallPhase; readonly from: CallPhase };
  readonly closed: { readonly reason: EndReason };
}

/**
 * A request crossing the box that has no final answer yet: received on one
 * leg (its server transaction), passed on to the other. A CANCEL of it, a
 * re-INVITE left hanging, or the end of the call finishes it from outside.
 */
export interface Crossing {
  /** The asker's transaction: a CANCEL (RFC 3261 9.2) finds the crossing by it. */
  readonly asked: ServerTransaction;
  /**
   * Give the crossing up: the asker gets `status` of the catalogue's
   * 'cancelled' or 'timeout' at once and the round rolls back; for a CANCEL
   * or a timeout the box CANCELs its own request on the other leg, for the
   * call's end nothing more goes toward it. False when the other side's
   * final answer came first (it is on its way to the asker).
   */
  abandon(why: 'cancel' | 'timeout' | 'ended'): boolean;
}

/** A call's id: time-ordered, unique within the process. */
export function newCallId(now: number): string {
  return `${now.toString(36)}-${(callCounter++).toString(36)}`;
}

/**
 * One call: its legs by id (today "a" toward the caller, "b" toward the
 * callee; transfer and conference will add and re-pair legs), its one
 * lifecycle with the timers scoped to it, the fork that rings the callee's
 * contacts, and the keys of the branch that answered. The caller's INVITE is
 * answered through respond(); every leg speaks its own dialog.
 */
export class Call {
  readonly id: string;
  readonly startedAt: number;
  answeredAt?: number;
  readonly life: CallLifecycle;
  /** The call's media: one engine session, its legs named as the call's. */
  readonly media: MediaSession;
  readonly legs = new Map<LegId, CallLeg>();
  readonly fork: Fork<CallKeys>;
  /** The caller's SDP offer; undefined for a late-offer INVITE (the callee offers in its 2xx). */
  callerOffer?: SessionDescription;
  /** The media keys of the branch that answered. */
  keys?: CallKeys;
  /** The keys were built with the callee as the offering side (a late offer): their "a" is leg b. */
  keysFlipped = false;
  /** Ringing's no-answer timer: cancelled the moment a branch wins, before the answer is processed. */
  noAnswerTimer?: TimerHandle;
  /** Runs when the caller never ACKs the box's 2xx: the call is dead. */
  onNoAck: () => void = () => {};
  /** Requests passed across that await their final answer (renegotiate.ts adds and removes them). */
  readonly crossings = new Set<Crossing>();
  /** What the call's features could not do and why (a hold without music on a fully private call), for the views. */
  readonly notes: string[] = [];
  /** The recording running on the call (pbx/features recording), for the views. */
  recording?: { readonly id: string; readonly kind: 'decoded' | 'encrypted-capture' };
  /** How the parties' accounts say the call is recorded, once answered. */
  recordMode?: 'always' | 'on-demand' | 'never';
  /** The account the call is with: the dialled one, or the member of a ring group that answered. */
  callee: string;
  calleeName: string;
  /** How long the callee's phones ring before 480 No Answer; undefined: the box's setting. */
  ringMs?: number;
  /**
   * The call was not answered (busy, no answer, nobody reachable): a feature
   * (forwarding, a ring group's next member) may take it elsewhere; true when
   * it did, and the caller then hears nothing of this call's end.
   */
  onUnanswered?: (why: 'busy' | 'no-answer' | 'unavailable') => boolean;
  /** The accounts whose phones the call rings (one, or a ring group's members). */
  ringing: readonly string[] = [];
  /** Another phone picked the ringing call up (its extension): the ringing branches no longer count. */
  pickedUp?: string;
  /** A destination that answered the call itself (voicemail) takes the INFOs of its dialog (DTMF); true when it answered one. */
  onInfo?: (req: SipRequest, tx: ServerTransaction) => boolean;
  /** The park slot the call waits in (features/park.ts), while it is parked. */
  parkedIn?: string;
  /** The box's To tag toward the caller. */
  readonly tag: string;

  constructor(
    deps: CallDeps,
    readonly invite: SipRequest,
    readonly tx: InviteServerTransaction,
    source: Target,
    readonly caller: string,
    callee: string,
    calleeName: string,
    /** The To tag toward the caller: a call that takes over from a forwarded one keeps the tag its ringing showed. */
    toTag?: string,
  ) {
    this.callee = callee;
    this.calleeName = calleeName;
    this.id = newCallId(deps.clock.now());
    this.startedAt = deps.clock.now();
    this.tag = toTag ?? deps.random.token(64);
    this.media = new MediaSession(deps.media, `call-${this.id}`);
    this.life = new CallLifecycle(deps.clock);
    this.life.onMove((to, from) => this.emit('phase', { to, from }));
    this.fork = new Fork<CallKeys>(deps.transactions);
    this.legs.set('a', new CallLeg('a', caller, deps, source));
    this.legs.set('b', new CallLeg('b', callee, deps));
  }

  /** A member of a ring group (or a pickup) answered: the call and its callee leg are with that account now. */
  answeredBy(extension: string, name: string): void {
    this.callee = extension;
    this.calleeName = name;
    this.calleeLeg.party = extension;
  }

  /** What a call tells whoever watches it: each phase it enters, and once, that it closed and why. */
  private readonly listeners: { [E in keyof CallEvents]: Set<(e: CallEvents[E]) => void> } = { phase: new Set(), closed: new Set() };
  private closing?: Promise<boolean>;

  on<E extends keyof CallEvents>(event: E, listener: (e: CallEvents[E]) => void): () => void {
    const set = this.listeners[event] as Set<(e: CallEvents[E]) => void>;
    set.add(listener);
    return () => set.delete(listener);
  }

  private emit<E extends keyof CallEvents>(event: E, e: CallEvents[E]): void {
    for (const l of [...(this.listeners[event] as Set<(e: CallEvents[E]) => void>)]) {
      try { l(e); } catch { /* a watcher must not break the call */ }
    }
  }

  /**
   * End the call's life: the lifecycle moves to ended (every timer of the
   * call stops), each passed-on request still open gets its final answer,
   * no leg resends anything, and the media session's ports are freed; then
   * 'closed' is told once. Idempotent: a second close() waits for the first
   * and returns false. Signalling toward the phones (BYE, CANCEL, the
   * caller's final response) is the caller's job before this.
   */
  close(reason: EndReason): Promise<boolean> {
    if (this.closing) return this.closing.then(() => false);
    this.closing = (async () => {
      this.life.tryMove('ended');
      for (const x of [...this.crossings]) x.abandon('ended');
      for (const leg of this.legs.values()) leg.acked();
      await this.media.close();
      this.emit('closed', { reason });
      return true;
    })();
    return this.closing;
  }

  leg(id: LegId): CallLeg {
    const l = this.legs.get(id);
    if (!l) throw new Error(`call ${this.id} has no leg ${id}`);
    return l;
  }

  /**
   * The two legs that talk to each other now, by the side of the call they
   * stand on: "a" first the caller's, "b" the callee's. A transfer puts a new
   * leg in the place of the one that leaves; the call's keys follow the side.
   */
  readonly sides: { a: LegId; b: LegId } = { a: 'a', b: 'b' };

  /** The leg on the caller's side (the caller's, until a transfer replaces it). */
  get callerLeg(): CallLeg { return this.leg(this.sides.a); }

  /** The leg on the callee's side. */
  get calleeLeg(): CallLeg { return this.leg(this.sides.b); }

  /** Which side a leg talks from; undefined for a leg that is joining or leaving (a transfer). */
  sideOf(id: LegId): 'a' | 'b' | undefined {
    return this.sides.a === id ? 'a' : this.sides.b === id ? 'b' : undefined;
  }

  /** The leg whose media and requests pair with `id`'s. */
  other(id: LegId): CallLeg {
    return this.leg(this.sides.a === id ? this.sides.b : this.sides.a);
  }

  /** `joining` takes the place of the leg on `side`, which leaves the call (it is no longer listed). */
  replace(side: 'a' | 'b', joining: CallLeg): CallLeg {
    const leaving = this.leg(this.sides[side]);
    this.legs.set(joining.id, joining);
    this.sides[side] = joining.id;
    this.legs.delete(leaving.id);
    return leaving;
  }

  get ended(): boolean { return this.life.ended; }

  /** The phase as the views show it (an ended call is no longer listed). */
  get state(): CallView['state'] {
    const p = this.life.phase;
    return p === 'ended' ? 'ending' : p;
  }

  /**
   * Which leg an in-dialog request belongs to, the ACK to one of the box's 2xx
   * included: every leg's dialog exists from its 2xx on, so Call-ID and both
   * tags decide (RFC 3261 12.2.2). An ACK with the right Call-ID but other
   * tags is no one's: it cannot stop a 2xx or bring a late-offer answer.
   */
  legOf(req: SipRequest): CallLeg | undefined {
    for (const leg of this.legs.values()) if (leg.matches(req)) return leg;
    return undefined;
  }

  /** Answer the caller's INVITE; a 2xx makes the caller leg's dialog and is resent until the ACK. */
  respond(status: number, reason?: string, opts: { body?: Buffer; headers?: Header[] } = {}): SipResponse {
    const a = this.callerLeg;
    const headers: Header[] = [...(opts.headers ?? [])];
    if (status > 100 && status < 300) headers.push(a.contact());
    const res = createResponse(this.invite, status, reason, {
      toTag: status === 100 ? undefined : this.tag, headers,
      ...(opts.body ? { body: opts.body, contentType: 'application/sdp' } : {}),
    } as Parameters<typeof createResponse>[3]);
    this.tx.respond(res);
    if (status >= 200 && status < 300) {
      a.dialog = dialogAsUas(this.invite, this.tag);
      a.answered(this.tx, res, this.life, () => this.onNoAck());
    }
    return res;
  }

  /** The initial offer/answer completed on both legs (the caller offered to the box, the box to the callee). */
  settleInitialOffer(): void {
    for (const [leg, first] of [[this.callerLeg, 'receive-offer'], [this.calleeLeg, 'send-offer']] as const) {
      const n = leg.offerAnswer;
      if (n.state !== 'none') continue;
      n.apply(first);
      n.apply(first === 'receive-offer' ? 'send-answer' : 'receive-answer');
    }
  }

  /**
   * A re-INVITE or UPDATE crossing the box is one round on two legs: received
   * on the asker's, sent on the other. Another one meanwhile, from either
   * side, finds an offer pending and is refused (glare: 491, RFC 3261 14.1,
   * RFC 3311 5.2). Returns the refusal, and then nothing changed.
   */
  beginRound(asker: LegId): OfferAnswerRefusal | undefined {
    const here = this.leg(asker).offerAnswer;
    const there = this.other(asker).offerAnswer;
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
  endRound(asker: LegId, ok: boolean): void {
    const here = this.leg(asker).offerAnswer;
    const there = this.other(asker).offerAnswer;
    if (ok) {
      there.apply('receive-answer');
      here.apply('send-answer');
    } else {
      there.apply('rollback');
      here.apply('rollback');
    }
  }

  view(): CallView {
    const k = this.keys ?? this.fork.branches[0]?.keys;
    const protection = (id: 'a' | 'b'): Pick<LegView, 'protection' | 'suite' | 'keys' | 'sas' | 'zrtp'> => {
      if (!k) return { protection: 'rtp' };
      const { zrtp, ...v } = k.view(this.keysFlipped && this.keys ? (id === 'a' ? 'b' : 'a') : id);
      return { ...v, ...(zrtp ? { sas: zrtp.sas, zrtp } : {}) };
    };
    const a = this.callerLeg;
    const b = this.calleeLeg;
    const state = (l: CallLeg): Pick<LegView, 'held' | 'music'> => ({ ...(l.holding ? { held: true } : {}), ...(l.hearingMusic ? { music: true } : {}) });
    const legA: LegView = { party: a.party, transport: a.target!.transport, address: a.target!.address, ...protection('a'), ...state(a) };
    const legB: LegView | undefined = b.target
      ? { party: b.party, transport: b.target.transport, address: b.target.address, ...protection('b'), ...state(b) }
      : undefined;
    return {
      id: this.id, caller: this.caller, callee: this.callee, state: this.state, startedAt: this.startedAt,
      ...(this.answeredAt !== undefined ? { answeredAt: this.answeredAt } : {}),
      legs: { a: legA, ...(legB ? { b: legB } : {}) },
      // The box sees clear media unless it relays SRTP whose keys it never had.
      mode: k?.plan.mode ?? 'relay', recordingPossible: k ? !k.endToEnd : true,
      ...(k ? { policyNote: k.plan.note } : {}),
      ...(this.notes.length ? { notes: [...this.notes] } : {}),
      ...(this.parkedIn !== undefined ? { parked: this.parkedIn } : {}),
      ...(this.recording ? { recording: this.recording } : {}),
      ...(this.recordMode ? { recordMode: this.recordMode } : {}),
    };
  }
}
