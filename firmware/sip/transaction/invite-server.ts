import { PbxError } from '../../core/index.js';
import type { SipRequest, SipResponse } from '../message/index.js';
import { createResponse } from '../message/index.js';
import { Transaction, type TransactionOptions } from './base.js';
import { isProvisional, isSuccess, isValidStatus } from './msg.js';
import { TRYING_DELAY } from './timers.js';
import type { ServerTransactionUser } from './types.js';

export type InviteServerState = 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';

/** RFC 3261 17.2.1, Figure 7, as amended by RFC 6026 (a 2xx leads to Accepted). */
const EDGES: Readonly<Record<InviteServerState, readonly InviteServerState[]>> = {
  proceeding: ['completed', 'accepted', 'terminated'],
  completed: ['confirmed', 'terminated'],
  confirmed: ['terminated'],
  accepted: ['terminated'],
  terminated: [],
};

export interface ServerTransactionOptions extends TransactionOptions {
  readonly user?: ServerTransactionUser;
  /**
   * Told of the final response once it is sent (for an INVITE: a non-2xx
   * one). True means the owner took over what is left (nothing, for a
   * stateless answer, RFC 3261 8.2.7; or just the serialized response to
   * resend on a retransmission) and the transaction terminates at once.
   */
  readonly answered?: (res: SipResponse) => boolean;
}

export class InviteServerTransaction extends Transaction<InviteServerState, ServerTransactionUser> {
  readonly kind = 'invite-server';
  private last: SipResponse | undefined;
  private readonly answered: ((res: SipResponse) => boolean) | undefined;

  /** Created when the INVITE arrives; the INVITE itself goes to the TU. */
  constructor(request: SipRequest, opts: ServerTransactionOptions) {
    super(request, 'proceeding', 'terminated', EDGES, opts, opts.user ?? {});
    if (request.method !== 'INVITE') throw new PbxError('protocol', 'InviteServerTransaction needs an INVITE');
    this.answered = opts.answered;
    this.enter('proceeding');
  }

  /** The response most recently sent (including an automatic 100 Trying). */
  get lastResponse(): SipResponse | undefined {
    return this.last;
  }

  /** The TU's response. Throws 'invalid-state' if this state cannot take it. */
  respond(res: SipResponse): void {
    if (!isValidStatus(res.status)) throw new PbxError('protocol', `bad status ${res.status}`);
    switch (this.state) {
      case 'proceeding':
        this.stopTimer('Trying');
        this.last = res;
        if (!this.send(res)) return;
        if (isProvisional(res.status)) return;
        if (!isSuccess(res.status) && this.answered?.(res) === true) {
          this.transition('terminated');
          return;
        }
        this.transition(isSuccess(res.status) ? 'accepted' : 'completed');
        return;
      case 'accepted':
        // RFC 6026 7.1: the TU retransmits its 2xx through the transaction.
        if (!isSuccess(res.status)) break;
        this.last = res;
        this.send(res);
        return;
      default:
        break;
    }
    throw new PbxError('invalid-state', `cannot send ${res.status} in state ${this.state}`);
  }

  /** A request the layer matched to this transaction: an INVITE retransmission or an ACK. */
  receiveRequest(req: SipRequest): void {
    if (req.method === 'ACK') {
      switch (this.state) {
        case 'completed':
          this.transition('confirmed');
          return;
        case 'accepted':
          // RFC 6026 7.1: an ACK that reaches an Accepted transaction belongs to the TU.
          this.notify(() => this.user.onAck?.(req));
          return;
        case 'confirmed':
          this.counters?.inc('transaction.request.absorbed');
          return;
        default:
          this.counters?.inc('transaction.request.unexpected-ack');
          return;
      }
    }
    switch (this.state) {
      case 'proceeding':
        // The peer is already retransmitting: answer now rather than waiting for the 200 ms.
        this.stopTimer('Trying');
        if (!this.last) this.last = createResponse(this.request, 100);
        this.send(this.last);
        return;
      case 'completed':
        if (this.last) this.send(this.last);
        return;
      case 'confirmed':
      case 'accepted':
        // RFC 6026: absorbed, never passed to the TU, no 2xx generated here.
        this.counters?.inc('transaction.request.absorbed');
        return;
      case 'terminated':
        return;
    }
  }

  protected override transition(to: InviteServerState): void {
    const from = this.setState(to);
    if (from === 'proceeding') this.stopTimer('Trying');
    if (from === 'completed') {
      this.stopTimer('G');
      this.stopTimer('H');
    }
    this.enter(to);
  }

  private enter(state: InviteServerState): void {
    switch (state) {
      case 'proceeding':
        // 17.2.1: a 100 Trying unless the TU answers within 200 ms.
        this.startTimer('Trying', TRYING_DELAY, () => {
          this.last = createResponse(this.request, 100);
          this.send(this.last);
        });
        return;
      case 'completed':
        // Timer G: resend the final response, doubling the interval up to T2.
        this.startRetransmit('G', this.timers.G, () => this.last !== undefined && this.send(this.last),
          (ms) => Math.min(2 * ms, this.timers.T2));
        this.startTimeout('H', this.timers.H);
        return;
      case 'confirmed':
        this.startTimer('I', this.timers.I, () => this.transition('terminated'));
        return;
      case 'accepted':
        this.startTimer('L', this.timers.L, () => this.transition('terminated'));
        return;
      case 'terminated':
        this.finish();
        return;
    }
  }
}
