import { PbxError } from '../../core/index.js';
import type { SipRequest, SipResponse } from '../message/index.js';
import { topVia } from '../message/index.js';
import { Transaction } from './base.js';
import type { ClientTransactionOptions } from './invite-client.js';
import { isProvisional, tryRead } from './msg.js';
import type { ClientTransactionUser } from './types.js';

export type NonInviteClientState = 'trying' | 'proceeding' | 'completed' | 'terminated';

/** RFC 3261 17.1.2.2, Figure 6. */
const EDGES: Readonly<Record<NonInviteClientState, readonly NonInviteClientState[]>> = {
  trying: ['proceeding', 'completed', 'terminated'],
  proceeding: ['completed', 'terminated'],
  completed: ['terminated'],
  terminated: [],
};

export class NonInviteClientTransaction extends Transaction<NonInviteClientState, ClientTransactionUser> {
  readonly kind = 'non-invite-client';
  readonly branch: string;

  /** Sends the request at once; it must already carry its top Via. */
  constructor(request: SipRequest, opts: ClientTransactionOptions) {
    super(request, 'trying', 'terminated', EDGES, opts, opts.user);
    if (request.method === 'INVITE' || request.method === 'ACK') {
      throw new PbxError('protocol', `${request.method} cannot start a non-INVITE client transaction`);
    }
    const branch = tryRead(topVia, request)?.branch;
    if (!branch) throw new PbxError('protocol', 'request has no Via branch');
    this.branch = branch;
    if (this.send(request)) this.enter('trying');
  }

  receiveResponse(res: SipResponse): void {
    switch (this.state) {
      case 'trying':
      case 'proceeding':
        if (isProvisional(res.status)) {
          if (this.state === 'trying') this.transition('proceeding');
        } else {
          this.transition('completed');
        }
        this.notify(() => this.user.onResponse(res));
        return;
      case 'completed':
        // Retransmitted responses are absorbed until Timer K fires.
        this.counters?.inc('transaction.response.absorbed');
        return;
      case 'terminated':
        return;
    }
  }

  /** Completed has its final response and only absorbs retransmissions of it. */
  protected override survivesTransportError(): boolean {
    return this.state === 'completed';
  }

  protected override transition(to: NonInviteClientState): void {
    const from = this.setState(to);
    if (from === 'trying' || from === 'proceeding') {
      if (to !== 'proceeding') {
        this.stopTimer('E');
        this.stopTimer('F');
      }
    }
    this.enter(to);
  }

  private enter(state: NonInviteClientState): void {
    switch (state) {
      case 'trying':
        // Timer E: resend; in Trying the interval doubles up to T2, in Proceeding it is T2.
        this.startRetransmit('E', this.timers.E, () => this.send(this.request),
          (ms) => (this.state === 'trying' ? Math.min(2 * ms, this.timers.T2) : this.timers.T2));
        this.startTimeout('F', this.timers.F);
        return;
      case 'completed':
        this.startTimer('K', this.timers.K, () => this.transition('terminated'));
        return;
      case 'terminated':
        this.finish();
        return;
      case 'proceeding':
        // Timer E keeps running; from now on it fires every T2 (17.1.2.2).
        return;
    }
  }
}
