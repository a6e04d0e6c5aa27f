import type { Counters, Logger } from '../../core/index.js';
import type { Call, CalleeAccount, CallFailure, Destination, EndReason, IncomingCall, RingOptions } from '../call/index.js';

/**
 * Where a call to a number goes: an account's phones, with its forwarding
 * (always, on busy, on no answer), do-not-disturb and call waiting; or a ring
 * group's members, all at once or one after the other, then the group's
 * no-answer destination. Forwards may lead to groups and groups to
 * extensions; a number already visited on the way stops the chain (A
 * forwards to B forwards to A), and so does a chain longer than
 * MAX_FORWARD_HOPS.
 */

/** A ring group as call control needs it (the config's groups entry, structurally). */
export interface RingGroupEntry {
  readonly extension: string;
  readonly name: string;
  readonly members: readonly string[];
  readonly order: 'parallel' | 'sequential';
  readonly memberRingSec: number;
  readonly noAnswerTo: string | null;
}

/** What delivery asks of the B2BUA: ring accounts, refuse, who is in a call. */
export interface DeliveryHost {
  ring(incoming: IncomingCall, callees: readonly CalleeAccount[], opts?: RingOptions): Call;
  refuse(incoming: IncomingCall, answer: CallFailure, why: EndReason): void;
  inCall(extension: string): boolean;
}

export interface DeliveryDeps {
  readonly callee: (extension: string) => CalleeAccount | undefined;
  readonly groups: () => readonly RingGroupEntry[];
  readonly counters: Counters;
  readonly log: Logger;
  /** An unanswered call to an account that no forward takes: voicemail's (true when it took the call). */
  readonly voicemail?: (incoming: IncomingCall, mailbox: string, after: Call | undefined, why: Unanswered) => boolean;
  /** Voicemail is on for the account: its phones ring for its no-answer time (forward.noAnswerSec), then voicemail answers. */
  readonly voicemailOn?: (extension: string) => boolean;
}

export const MAX_FORWARD_HOPS = 8;

type Unanswered = 'busy' | 'no-answer' | 'unavailable';

export class Delivery implements Destination {
  readonly name = 'delivery';

  constructor(private readonly deps: DeliveryDeps, private readonly host: DeliveryHost) {}

  /** Takes every call to an account or a ring group. */
  take(incoming: IncomingCall): boolean {
    if (!this.known(incoming.dialled)) return false;
    this.deliver(incoming, incoming.dialled, [], undefined);
    return true;
  }

  private known(n: string): boolean {
    return this.deps.callee(n) !== undefined || this.group(n) !== undefined;
  }

  private group(n: string): RingGroupEntry | undefined {
    return this.deps.groups().find((g) => g.extension === n);
  }

  /**
   * Deliver to `number`, having visited `chain` on the way; `after` is the
   * unanswered call this delivery takes over from (undefined on the first).
   * `failure` is what the caller hears if nothing more can be tried.
   */
  private deliver(incoming: IncomingCall, number: string, chain: readonly string[], after: Call | undefined, failure: Unanswered = 'unavailable'): boolean {
    const d = this.deps;
    if (chain.includes(number) || chain.length >= MAX_FORWARD_HOPS) {
      d.counters.inc('call.forward-loop');
      d.log.warn({ caller: incoming.caller, chain: [...chain, number].join(' -> ') }, 'forwarding loop stopped');
      return this.giveUp(incoming, after, failure);
    }
    const here = [...chain, number];
    const group = this.group(number);
    if (group) return this.ringGroup(incoming, group, here, after);
    const acct = d.callee(number);
    if (!acct) {
      d.log.warn({ caller: incoming.caller, chain: here.join(' -> ') }, 'forward target does not exist');
      return this.giveUp(incoming, after, failure);
    }
    const fwd = acct.forward;
    if (fwd?.always) {
      d.counters.inc('call.forward.always');
      d.log.info({ caller: incoming.caller, from: number, to: fwd.always }, 'call forwarded (always)');
      return this.deliver(incoming, fwd.always, here, after, failure);
    }
    const busy = acct.dnd === true || (acct.callWaiting === false && this.host.inCall(number));
    if (busy) {
      d.counters.inc(acct.dnd ? 'call.dnd' : 'call.busy-no-waiting');
      if (fwd?.busy) {
        d.log.info({ caller: incoming.caller, from: number, to: fwd.busy, dnd: acct.dnd === true }, 'call forwarded (busy)');
        return this.deliver(incoming, fwd.busy, here, after, 'busy');
      }
      d.log.info({ caller: incoming.caller, callee: number, dnd: acct.dnd === true }, acct.dnd ? 'callee is on do-not-disturb: busy' : 'callee is in a call and has call waiting off: busy');
      if (d.voicemail?.(incoming, number, after, 'busy')) return true;
      return this.giveUp(incoming, after, 'busy');
    }
    this.track(incoming, this.host.ring(incoming, [acct], {
      ...(fwd?.noAnswer || (fwd && d.voicemailOn?.(number)) ? { ringMs: fwd.noAnswerSec * 1000 } : {}),
      ...(after ? { replaces: after } : {}),
      onUnanswered: (why) => {
        const to = why === 'busy' ? fwd?.busy : fwd?.noAnswer;
        if (!to) return d.voicemail?.(incoming, number, this.current.get(incoming.tx), why) ?? false;
        d.counters.inc(why === 'busy' ? 'call.forward.busy' : 'call.forward.no-answer');
        d.log.info({ caller: incoming.caller, from: number, to, why }, 'call forwarded');
        return this.deliverAfter(incoming, to, here, why);
      },
    }));
    return true;
  }

  /** Deliver from an unanswered call's onUnanswered: the new call replaces it. */
  private deliverAfter(incoming: IncomingCall, number: string, chain: readonly string[], why: Unanswered): boolean {
    // The unanswered call is the one whose handler runs; the host finds it by the transaction.
    const call = this.current.get(incoming.tx);
    return this.deliver(incoming, number, chain, call, why);
  }

  /** The latest call made for each incoming INVITE (a forward replaces it). */
  private readonly current = new WeakMap<object, Call>();

  private ringGroup(incoming: IncomingCall, g: RingGroupEntry, chain: readonly string[], after: Call | undefined): boolean {
    const d = this.deps;
    const members = g.members
      .map((m) => d.callee(m))
      .filter((a): a is CalleeAccount => a !== undefined && a.dnd !== true && !(a.callWaiting === false && this.host.inCall(a.extension)));
    const shownAs = { extension: g.extension, name: g.name };
    const onNobody = (why: Unanswered): boolean => {
      if (!g.noAnswerTo) return false;
      d.log.info({ caller: incoming.caller, group: g.extension, to: g.noAnswerTo }, 'ring group unanswered: to its no-answer destination');
      return this.deliverAfter(incoming, g.noAnswerTo, chain, why);
    };
    if (members.length === 0) {
      d.log.info({ caller: incoming.caller, group: g.extension }, 'no member of the ring group can take a call');
      if (g.noAnswerTo) return this.deliver(incoming, g.noAnswerTo, chain, after, 'busy');
      return this.giveUp(incoming, after, 'busy');
    }
    d.counters.inc('call.group');
    if (g.order === 'parallel') {
      this.track(incoming, this.host.ring(incoming, members, { shownAs, ...(after ? { replaces: after } : {}), onUnanswered: onNobody }));
      return true;
    }
    const next = (i: number, prev: Call | undefined): void => {
      const member = members[i]!;
      d.log.info({ caller: incoming.caller, group: g.extension, member: member.extension }, 'ring group: ringing the next member');
      this.track(incoming, this.host.ring(incoming, [member], {
        shownAs, ringMs: g.memberRingSec * 1000, ...(prev ? { replaces: prev } : {}),
        onUnanswered: (why) => {
          if (i + 1 < members.length) { next(i + 1, this.current.get(incoming.tx)); return true; }
          return onNobody(why);
        },
      }));
    };
    next(0, after);
    return true;
  }

  private track(incoming: IncomingCall, call: Call): void {
    this.current.set(incoming.tx, call);
  }

  /** Nothing more to try: the caller hears `why` (a call in progress ends through the B2BUA's own failure path). */
  private giveUp(incoming: IncomingCall, after: Call | undefined, why: Unanswered): boolean {
    if (after) return false; // the unanswered call's own failure answers the caller
    this.host.refuse(incoming, why === 'busy' ? 'busy' : why === 'no-answer' ? 'no-answer' : 'unavailable', why);
    return true;
  }
}
