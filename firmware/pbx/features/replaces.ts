import { createResponse, fromTag, getCallId, getHeaders, type SipRequest } from '../../sip/message/index.js';
import { guard, responseOf, type Call, type CallFailure, type EndReason, type IncomingCall, type SetupDeps } from '../call/index.js';
import { PRIVATE_TRANSFER_NOTE, answerJoin, findReplaced, parseReplaces, type Replaces } from './transfer.js';

/**
 * An INVITE with Replaces arriving directly (RFC 3891): a phone asks, in a
 * new dialog, to take the place of a dialog of a call through the box (an
 * attended transfer the phones carry out themselves, a pickup by Replaces).
 * The dialog is found as a REFER's Replaces finds it (transfer.ts
 * findReplaced) and the new leg joins as a park retrieve joins
 * (transfer.ts answerJoin): the box answers the new INVITE itself, keyed
 * from its own offer as the new phone's account allows, the staying party's
 * leg untouched, and the replaced dialog gets BYE.
 *
 * RFC 3891 3 as the box applies it: more than one Replaces, or one that does
 * not parse: 400. No dialog matches: 481. A confirmed dialog with
 * `early-only`: 486. An early dialog the box did not start (the caller's,
 * ringing): 481. An early dialog the box started (a ringing callee's
 * branch): the new phone picks the call up (features/pickup.ts). The new
 * INVITE must come from an authenticated account that knows the dialog's
 * Call-ID and both tags (random, 64 bits and more). A fully private call
 * cannot be joined to another phone: 603 with a Warning.
 */

export interface ReplacesDeps extends SetupDeps {
  readonly calls: () => Iterable<Call>;
  /** A transfer of the call is ringing its target (transfer.ts busy): the call is not free to change hands. */
  readonly busy: (call: Call) => boolean;
  /** Pick a ringing call up with the new INVITE (features/pickup.ts). */
  readonly pickUp: (call: Call, incoming: IncomingCall) => Promise<void>;
  /** A fresh To tag for the box's answers. */
  readonly toTag: () => string;
}

export interface ReplacesHost {
  refuse(incoming: IncomingCall, answer: CallFailure, why: EndReason): void;
  tell(incoming: IncomingCall, status: number, reason: string): void;
  hangup(call: Call, reason: EndReason, byeTo: string): Promise<void>;
  changed(): void;
}

/** Whether an INVITE carries a Replaces header (it is then this feature's, whatever it dials). */
export function hasReplaces(req: SipRequest): boolean {
  return getHeaders(req, 'replaces').length > 0;
}

let joins = 0;

export class ReplacesInvite {
  constructor(private readonly deps: ReplacesDeps, private readonly host: ReplacesHost) {}

  /** Take an authenticated new INVITE that carries Replaces; it is answered now or later. */
  take(incoming: IncomingCall): void {
    const d = this.deps;
    const values = getHeaders(incoming.req, 'replaces');
    let rep: Replaces;
    try {
      if (values.length !== 1) throw new Error('more than one Replaces');
      rep = parseReplaces(values[0]!);
    } catch (e) {
      d.counters.inc('replaces.bad');
      d.log.info({ caller: incoming.caller, err: e instanceof Error ? e.message : String(e) }, 'INVITE with a malformed Replaces: 400');
      this.host.refuse(incoming, 'bad-request', 'failed');
      return;
    }
    const tags = [rep.toTag, rep.fromTag];
    for (const call of d.calls()) {
      if (call.state !== 'ringing') continue;
      // The caller's early dialog: the box is its UAS, it did not start it (RFC 3891 3: 481).
      if (getCallId(call.invite) === rep.callId && tags.includes(call.tag) && tags.includes(fromTag(call.invite) ?? '')) {
        d.counters.inc('replaces.early-refused');
        this.host.refuse(incoming, 'no-dialog', 'rejected');
        return;
      }
      // A ringing callee's early dialog, which the box started: a pickup by Replaces.
      const branch = call.fork.branches.find((b) => b.state === 'proceeding' && getCallId(b.request) === rep.callId
        && tags.includes(fromTag(b.request) ?? '') && tags.some((t) => b.earlyTags?.has(t)));
      if (branch) {
        d.counters.inc('replaces.pickup');
        guard(d, d.pickUp(call, incoming), 'pickup by Replaces');
        return;
      }
    }
    const found = findReplaced(d.calls(), rep);
    if (!found) {
      d.counters.inc('replaces.unknown');
      this.host.refuse(incoming, 'no-dialog', 'rejected');
      return;
    }
    if (rep.earlyOnly) {
      d.counters.inc('replaces.early-only');
      this.host.refuse(incoming, 'busy', 'busy');
      return;
    }
    const { call, leg } = found;
    if (call.state !== 'answered' || !call.sideOf(leg.id) || call.parkedIn !== undefined || d.busy(call)) {
      this.host.refuse(incoming, 'glare', 'rejected');
      return;
    }
    if (!call.keys || call.keys.endToEnd) {
      d.counters.inc('replaces.private-refused');
      const { status, reason } = responseOf('declined');
      try {
        incoming.tx.respond(createResponse(incoming.req, status, reason, {
          toTag: d.toTag(), headers: [{ name: 'warning', value: `399 securepbx "${PRIVATE_TRANSFER_NOTE}"` }],
        }));
      } catch { /* the transaction is gone */ }
      return;
    }
    guard(d, this.join(call, leg.id, incoming), 'INVITE with Replaces');
  }

  private async join(call: Call, replacedId: string, incoming: IncomingCall): Promise<void> {
    const d = this.deps;
    const account = d.callee(incoming.caller);
    const replaced = call.leg(replacedId);
    const stay = call.other(replacedId);
    if (!account) { this.host.refuse(incoming, 'forbidden', 'rejected'); return; }
    const r = await answerJoin(d, call, stay, incoming, account, `x${++joins}`,
      () => guard(d, this.host.hangup(call, 'timeout', 'both'), 'Replaces no ACK'));
    if ('refused' in r) { this.host.refuse(incoming, r.refused, r.why); return; }
    // The replaced dialog ends (RFC 3891 3: BYE); its ports go.
    await call.media.removeLeg(replaced.id).catch(() => {});
    replaced.bye();
    call.notes.push(`${replaced.party} replaced by ${account.extension} (INVITE with Replaces)`);
    d.counters.inc('replaces.joined');
    d.log.info({ call: call.id, replaced: replaced.party, joined: account.extension, stays: stay.party }, 'INVITE with Replaces: joined');
    this.host.changed();
  }
}
