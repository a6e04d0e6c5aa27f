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

export class NonInviteClientTransaction extends Transaction<NonInviteClientState> {
  readonly kind = 'non-invite-client';
  readonly branch: string;
  private readonly user: ClientTransactionUser;
  private intervalE = 0;

  /** Sends the request at once; it must already carry its top Via. */
  constructor(request: SipRequest, opts: ClientTransactionOptions) {
    super(request, 'trying', 'terminated', EDGES, opts);
    if (request.method === 'INVITE' || request.method === 'ACK') {
      throw new PbxError('protocol', `${request.method} cannot start a non-INVITE client transaction`);
    }
    const branch = tryRead(topVia, request)?.branch;
    if (!branch) throw new PbxError('protocol', 'request has no Via branch');
    this.branch = branch;
    this.user = opts.user;
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

  override transportFailed(err: PbxError): void {
    if (this.state === 'terminated' || this.state === 'completed') return;
    this.transition('terminated');
    this.notify(() => this.user.onTransportError?.(err));
  }

  private transition(to: NonInviteClientState): void {
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
        if (this.timers.E !== null) {
          this.intervalE = this.timers.E;
          this.startTimer('E', this.intervalE, () => this.fireE());
        }
        this.startTimer('F', this.timers.F, () => {
          this.transition('terminated');
          this.notify(() => this.user.onTimeout?.());
        });
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

  /** Timer E: retransmit; in Trying the interval doubles up to T2, in Proceeding it is T2. */
  private fireE(): void {
    if (!this.send(this.request)) return;
    this.intervalE = this.state === 'trying' ? Math.min(2 * this.intervalE, this.timers.T2) : this.timers.T2;
    this.startTimer('E', this.intervalE, () => this.fireE());
  }
}
