import { PbxError } from '../../core/index.js';
import type { SipRequest, SipResponse } from '../message/index.js';
import { Transaction } from './base.js';
import type { ServerTransactionOptions } from './invite-server.js';
import { isProvisional, isValidStatus } from './msg.js';
import type { ServerTransactionUser } from './types.js';

export type NonInviteServerState = 'trying' | 'proceeding' | 'completed' | 'terminated';

/** RFC 3261 17.2.2, Figure 8. */
const EDGES: Readonly<Record<NonInviteServerState, readonly NonInviteServerState[]>> = {
  trying: ['proceeding', 'completed', 'terminated'],
  proceeding: ['completed', 'terminated'],
  completed: ['terminated'],
  terminated: [],
};

export class NonInviteServerTransaction extends Transaction<NonInviteServerState, ServerTransactionUser> {
  readonly kind = 'non-invite-server';
  private last: SipResponse | undefined;
  private readonly answered: ((res: SipResponse) => boolean) | undefined;

  constructor(request: SipRequest, opts: ServerTransactionOptions) {
    super(request, 'trying', 'terminated', EDGES, opts, opts.user ?? {});
    if (request.method === 'INVITE' || request.method === 'ACK') {
      throw new PbxError('protocol', `${request.method} cannot start a non-INVITE server transaction`);
    }
    this.answered = opts.answered;
  }

  get lastResponse(): SipResponse | undefined {
    return this.last;
  }

  /** The TU's response. Throws 'invalid-state' once a final response was sent. */
  respond(res: SipResponse): void {
    if (!isValidStatus(res.status)) throw new PbxError('protocol', `bad status ${res.status}`);
    if (this.state !== 'trying' && this.state !== 'proceeding') {
      // 17.2.2: further final responses from the TU are not sent.
      throw new PbxError('invalid-state', `cannot send ${res.status} in state ${this.state}`);
    }
    this.last = res;
    if (!this.send(res)) return;
    if (isProvisional(res.status)) {
      if (this.state === 'trying') this.transition('proceeding');
    } else if (this.answered?.(res) === true) {
      // The layer keeps what a retransmission needs (or nothing): no Timer J here.
      this.transition('terminated');
    } else {
      this.transition('completed');
    }
  }

  /** A retransmission of the request: resend the last response, if any. */
  receiveRequest(_req: SipRequest): void {
    switch (this.state) {
      case 'trying':
        // Nothing to resend yet; the TU is still working on it.
        this.counters?.inc('transaction.request.absorbed');
        return;
      case 'proceeding':
      case 'completed':
        if (this.last) this.send(this.last);
        return;
      case 'terminated':
        return;
    }
  }

  protected override transition(to: NonInviteServerState): void {
    this.setState(to);
    switch (to) {
      case 'completed':
        this.startTimer('J', this.timers.J, () => this.transition('terminated'));
        return;
      case 'terminated':
        this.finish();
        return;
      default:
        return;
    }
  }
}
