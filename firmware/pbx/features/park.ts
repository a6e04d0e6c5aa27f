import type { TimerHandle } from '../../core/index.js';
import { guard, type Call, type CallFailure, type CallLeg, type Destination, type EndReason, type IncomingCall, type SetupDeps } from '../call/index.js';
import { answerJoin, type ParkingLot } from './transfer.js';

/**
 * Call park: a phone parks its call by a blind transfer to the park number
 * (700 by default). The box keeps the other party in the first free slot
 * (701..709) with music on hold, tells the parker the slot in the REFER's
 * final NOTIFY (`SIP/2.0 200 Parked at 701`), and ends the parker's leg.
 * Any phone dialling the slot retrieves the call: the box answers that
 * phone's INVITE itself and joins it to the parked party, the new leg keyed
 * as the retriever's account allows (SDES, DTLS-SRTP, ZRTP or plain) and
 * the parked party's leg untouched (no re-INVITE, its keys and SRTP context
 * go on). A call nobody retrieves within the park time rings the parker
 * back (transfer.ts ringBack); a parker who does not answer ends it.
 *
 * Only calls whose keys the box holds can be parked: a fully private call
 * (relayed end to end) is refused before it gets here, by blind transfer.
 */

export interface ParkSettings {
  /** The park number (a blind transfer to it parks); the slots are the numbers after it. */
  readonly park: string;
  readonly slots: number;
  readonly timeoutMs: number;
}

export interface ParkHost {
  tell(incoming: IncomingCall, status: number, reason: string): void;
  refuse(incoming: IncomingCall, answer: CallFailure, why: EndReason): void;
  hangup(call: Call, reason: EndReason, byeTo: string): Promise<void>;
  changed(): void;
  /** The park time ran out: ring the parker, the parked party waiting (transfer.ts ringBack). */
  ringBack(call: Call, ghost: CallLeg, parker: string): Promise<void>;
}

export interface ParkDeps extends SetupDeps {
  readonly settings: () => ParkSettings;
}

interface Parked {
  readonly call: Call;
  /** The party waiting in the slot. */
  readonly stay: CallLeg;
  readonly parker: string;
  readonly timer: TimerHandle;
}

/** The slot numbers after `park`: 700 with 9 slots gives 701..709 (the park number's width kept: 0700 -> 0701). */
export function parkSlots(s: ParkSettings): string[] {
  const base = Number(s.park);
  return Array.from({ length: s.slots }, (_, i) => String(base + i + 1).padStart(s.park.length, '0'));
}

let retrievals = 0;

export class ParkLot implements Destination, ParkingLot {
  readonly name = 'park';
  private readonly parked = new Map<string, Parked>();

  constructor(private readonly deps: ParkDeps, private readonly host: ParkHost) {}

  isPark(user: string): boolean {
    return user === this.deps.settings().park;
  }

  /** Which slot holds this call, if it is parked. */
  slotOf(call: Call): string | undefined {
    for (const [slot, p] of this.parked) if (p.call === call) return slot;
    return undefined;
  }

  /** The parked calls by slot, for views. */
  list(): { slot: string; call: string; party: string; parker: string }[] {
    return [...this.parked].map(([slot, p]) => ({ slot, call: p.call.id, party: p.stay.party, parker: p.parker }));
  }

  park(call: Call, stay: CallLeg, parker: string): string | undefined {
    const d = this.deps;
    const s = d.settings();
    const slot = parkSlots(s).find((x) => !this.parked.has(x));
    if (slot === undefined) return undefined;
    const timer = d.clock.setTimer(s.timeoutMs, () => this.expire(slot, call));
    this.parked.set(slot, { call, stay, parker, timer });
    call.parkedIn = slot;
    call.notes.push(`parked at ${slot} by ${parker}`);
    call.on('closed', () => this.free(slot, call));
    d.counters.inc('park.parked');
    d.log.info({ call: call.id, slot, parker, parked: stay.party }, 'call parked');
    return slot;
  }

  /** A phone dialled a slot (retrieve) or the park number itself (nothing to park: it is reached by transfer). */
  take(incoming: IncomingCall): boolean {
    const s = this.deps.settings();
    const n = incoming.dialled;
    if (n === s.park) {
      this.host.tell(incoming, 403, 'Transfer A Call Here To Park It');
      return true;
    }
    if (!parkSlots(s).includes(n)) return false;
    const p = this.parked.get(n);
    if (!p) {
      this.deps.counters.inc('park.empty-slot');
      this.host.tell(incoming, 480, `Nothing Parked At ${n}`);
      return true;
    }
    guard(this.deps, this.retrieve(n, p, incoming), 'park retrieve');
    return true;
  }

  private free(slot: string, call: Call): void {
    const p = this.parked.get(slot);
    if (!p || p.call !== call) return;
    p.timer.cancel();
    this.parked.delete(slot);
    call.parkedIn = undefined;
  }

  private expire(slot: string, call: Call): void {
    const p = this.parked.get(slot);
    if (!p || p.call !== call) return;
    this.free(slot, call);
    this.deps.counters.inc('park.timeout');
    this.deps.log.info({ call: call.id, slot, parker: p.parker }, 'parked call not retrieved: ringing the parker back');
    call.notes.push(`not retrieved from ${slot}: rang ${p.parker} back`);
    const ghost = call.other(p.stay.id);
    guard(this.deps, this.host.ringBack(call, ghost, p.parker), 'park ring back');
    this.host.changed();
  }

  /** Answer the retriever's INVITE and join its new leg to the parked party in the parker's place (transfer.ts answerJoin). */
  private async retrieve(slot: string, p: Parked, incoming: IncomingCall): Promise<void> {
    const d = this.deps;
    const { call, stay } = p;
    const retriever = d.callee(incoming.caller);
    if (!retriever) { this.host.refuse(incoming, 'not-acceptable', 'codec-mismatch'); return; }
    let claimed = false;
    // Taken once the plan allows it: a second phone dialling the slot meanwhile finds it empty.
    const r = await answerJoin(d, call, stay, incoming, retriever, `r${++retrievals}`,
      () => guard(d, this.host.hangup(call, 'timeout', 'both'), 'park retrieve no ACK'),
      () => { claimed = true; this.free(slot, call); });
    if ('refused' in r) {
      this.host.refuse(incoming, r.refused, r.why);
      // The parked party goes back in its slot if it is still free, else to the parker at once.
      if (claimed && !call.ended && this.park(call, stay, p.parker) === undefined) await this.host.ringBack(call, call.other(stay.id), p.parker);
      return;
    }
    call.notes.push(`retrieved from ${slot} by ${retriever.extension}`);
    d.counters.inc('park.retrieved');
    d.log.info({ call: call.id, slot, retriever: retriever.extension, parked: stay.party }, 'parked call retrieved');
    this.host.changed();
  }
}
