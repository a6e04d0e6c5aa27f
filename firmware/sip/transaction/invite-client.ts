import { PbxError } from '../../core/index.js';
import type { SipRequest, SipResponse } from '../message/index.js';
import { topVia } from '../message/index.js';
import { buildAckForNon2xx } from './ack.js';
import { Transaction, type TransactionOptions } from './base.js';
import { isProvisional, isSuccess, tryRead } from './msg.js';
import type { ClientTransactionUser } from './types.js';

export type InviteClientState = 'calling' | 'proceeding' | 'completed' | 'accepted' | 'terminated';

/** RFC 3261 17.1.1.2, Figure 5, as amended by RFC 6026 (2xx leads to Accepted). */
const EDGES: Readonly<Record<InviteClientState, readonly InviteClientState[]>> = {
  calling: ['proceeding', 'completed', 'accepted', 'terminated'],
  // Proceeding -> Terminated only when the flow the INVITE went over dies.
  proceeding: ['completed', 'accepted', 'terminated'],
  completed: ['terminated'],
  accepted: ['terminated'],
  terminated: [],
};

export interface ClientTransactionOptions extends TransactionOptions {
  readonly user: ClientTransactionUser;
}

export class InviteClientTransaction extends Transaction<InviteClientState, ClientTransactionUser> {
  readonly kind = 'invite-client';
  readonly branch: string;
  private ack: SipRequest | undefined;

  /** Sends the INVITE at once; the request must already carry its top Via. */
  constructor(request: SipRequest, opts: ClientTransactionOptions) {
    super(request, 'calling', 'terminated', EDGES, opts, opts.user);
    if (request.method !== 'INVITE') throw new PbxError('protocol', 'InviteClientTransaction needs an INVITE');
    const branch = tryRead(topVia, request)?.branch;
    if (!branch) throw new PbxError('protocol', 'request has no Via branch');
    this.branch = branch;
    if (this.send(request)) this.enter('calling');
  }

  /** The ACK sent for a non-2xx final response, once there is one. */
  get ackRequest(): SipRequest | undefined {
    return this.ack;
  }

  /** A response the layer matched to this transaction (17.1.3). */
  receiveResponse(res: SipResponse): void {
    switch (this.state) {
      case 'calling':
      case 'proceeding':
        if (isProvisional(res.status)) {
          if (this.state === 'calling') this.transition('proceeding');
        } else if (isSuccess(res.status)) {
          this.transition('accepted');
        } else {
          try {
            this.ack = buildAckForNon2xx(this.request, res);
          } catch {
            this.counters?.inc('transaction.response.unackable');
            return;
          }
          this.transition('completed');
        }
        this.notify(() => this.user.onResponse(res));
        return;
      case 'completed':
        // A retransmitted final response: the ACK was lost, send it again; the TU already knows.
        if (res.status >= 300 && this.ack) this.send(this.ack);
        else this.counters?.inc('transaction.response.ignored');
        return;
      case 'accepted':
        // RFC 6026 7.2: every 2xx goes to the TU, which ACKs each one.
        if (isSuccess(res.status)) this.notify(() => this.user.onResponse(res));
        else this.counters?.inc('transaction.response.ignored');
        return;
      case 'terminated':
        return;
    }
  }

  /** In Accepted the TU sends its own ACKs; this transaction only passes 2xx retransmissions up. */
  protected override survivesTransportError(): boolean {
    return this.state === 'accepted';
  }

  protected override transition(to: InviteClientState): void {
    const from = this.setState(to);
    if (from === 'calling') {
      this.stopTimer('A');
      this.stopTimer('B');
    }
    this.enter(to);
  }

  private enter(state: InviteClientState): void {
    switch (state) {
      case 'calling':
        // Timer A: resend the INVITE, doubling the interval with no cap.
        this.startRetransmit('A', this.timers.A, () => this.send(this.request), (ms) => 2 * ms);
        this.startTimeout('B', this.timers.B);
        return;
      case 'completed':
        if (this.ack && !this.send(this.ack)) return;
        this.startTimer('D', this.timers.D, () => this.transition('terminated'));
        return;
      case 'accepted':
        this.startTimer('M', this.timers.M, () => this.transition('terminated'));
        return;
      case 'terminated':
        this.finish();
        return;
      case 'proceeding':
        return;
    }
  }
}
