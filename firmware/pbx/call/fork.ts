import type { SipRequest } from '../../sip/message/index.js';
import type { ClientTransactionUser, InviteClientTransaction, Target, TransactionLayer } from '../../sip/transaction/index.js';
import type { SdpSession } from '../media/index.js';
import type { EndReason } from './deps.js';
import type { CallFailure } from './failures.js';

/**
 * Forking: the callee's contacts are rung at once, one branch each; the first
 * 2xx wins and the others are cancelled; when all fail, the caller gets the
 * most telling of their answers (RFC 3261 16.7 in spirit).
 */

export type BranchState = 'calling' | 'proceeding' | 'answered' | 'done';

export interface Branch<K> {
  readonly target: Target;
  readonly contact: string;
  readonly request: SipRequest;
  /** This contact's media keys under its plan (TLS, and so the plan, may differ per contact). */
  readonly keys: K;
  /** The o= of the box's SDP in this branch's dialog (each branch is a dialog of its own). */
  readonly sdp: SdpSession;
  tx?: InviteClientTransaction;
  state: BranchState;
  finalStatus?: number;
  /** A CANCEL the box wants but may not send before a provisional (RFC 3261 9.1). */
  cancelWanted: boolean;
  /** The To tags of the phone's provisionals: its early dialogs (an INVITE with Replaces may name one, RFC 3891 3). */
  earlyTags?: Set<string>;
  /** The highest RSeq the box PRACKed on this branch, and the CSeq of its last PRACK (RFC 3262). */
  prack?: { rseq: number; seq: number };
}

/**
 * What the caller hears when every branch failed, and why the call record
 * says it ended: a 6xx first (600 is busy everywhere, 603 and the others a
 * refusal), then busy, cancelled, a telling 4xx, else "unavailable".
 */
export function bestFinal(statuses: readonly number[]): { answer: CallFailure | { readonly status: number }; why: EndReason } {
  // A 6xx is final for the whole call (RFC 3261 16.7 step 6, 21.6): it wins over every other answer and is passed on as is.
  const global = statuses.find((s) => s >= 600 && s < 700);
  if (global !== undefined) return { answer: { status: global }, why: global === 600 ? 'busy' : 'rejected' };
  if (statuses.some((s) => s === 486)) return { answer: 'busy', why: 'busy' };
  if (statuses.some((s) => s === 487)) return { answer: 'cancelled', why: 'cancelled' };
  const fourxx = statuses.find((s) => s >= 400 && s < 500 && s !== 408);
  if (fourxx) return { answer: { status: fourxx }, why: 'rejected' };
  return { answer: 'unavailable', why: 'unavailable' };
}

export class Fork<K> {
  readonly branches: Branch<K>[] = [];
  /** The branch whose 2xx the call took. */
  winner?: Branch<K>;

  constructor(private readonly transactions: TransactionLayer) {}

  /** Send one branch's INVITE; a contact the box cannot send to is a failed branch (503). */
  ring(target: Target, contact: string, request: SipRequest, keys: K, sdp: SdpSession, user: ClientTransactionUser): Branch<K> {
    const branch: Branch<K> = { target, contact, request, keys, sdp, state: 'calling', cancelWanted: false };
    this.branches.push(branch);
    try {
      branch.tx = this.transactions.sendRequest(request, target, user) as InviteClientTransaction;
    } catch {
      branch.state = 'done';
      branch.finalStatus = 503;
    }
    return branch;
  }

  get allDone(): boolean {
    return this.branches.every((b) => b.state === 'done');
  }

  /**
   * A provisional on a branch (100 included) lets a CANCEL go out (RFC 3261
   * 9.1): one the box wanted earlier leaves now. False when it did: the
   * branch is being cancelled and its provisional means nothing more.
   */
  provisional(branch: Branch<K>): boolean {
    if (branch.state === 'calling') branch.state = 'proceeding';
    if (!branch.cancelWanted) return true;
    this.cancel(branch);
    return false;
  }

  /** CANCEL one branch, now or at its first provisional. */
  cancel(branch: Branch<K>): void {
    if (branch.state === 'done' || branch.state === 'answered' || !branch.tx) return;
    if (branch.state !== 'proceeding') { branch.cancelWanted = true; return; }
    try {
      this.transactions.sendCancel(branch.tx, { onResponse: () => {} });
    } catch { /* the INVITE ended meanwhile */ }
    branch.state = 'done';
  }

  cancelAll(): void {
    for (const b of this.branches) this.cancel(b);
  }

  /** `branch` answered first: it wins and every other branch is cancelled. */
  win(branch: Branch<K>): void {
    branch.state = 'answered';
    this.winner = branch;
    for (const other of this.branches) if (other !== branch) this.cancel(other);
  }

  /** A branch's final failure; true when it was the last branch still open. */
  failed(branch: Branch<K>, status: number): boolean {
    if (branch.state === 'done' || branch.state === 'answered') return false;
    branch.state = 'done';
    branch.finalStatus = status;
    return this.allDone;
  }

  /** The answer for the caller once every branch failed. */
  best(): ReturnType<typeof bestFinal> {
    return bestFinal(this.branches.map((b) => b.finalStatus ?? 500));
  }
}
