import type { TimerHandle } from '../../core/index.js';
import type { LocalMedia, RemoteMedia } from '../../media/index.js';
import { getCallId, type Header, type SipRequest, type SipResponse } from '../../sip/message/index.js';
import { acceptRemoteSeq, dialogRequest, inDialog, refreshTarget, type Dialog } from '../../sip/dialog/index.js';
import type { ClientTransaction, ClientTransactionUser, InviteServerTransaction, Target } from '../../sip/transaction/index.js';
import { T1, T2 } from '../../sip/transaction/index.js';
import type { CallDeps, LegId } from './deps.js';
import type { CallLifecycle } from './lifecycle.js';
import { Negotiation } from './negotiation.js';
import { remoteOf, sdpSession, type SdpSession } from '../media/index.js';
import type { SessionDescription } from '../../sdp/index.js';

const SDP_TYPE = 'application/sdp';

/**
 * One leg of a call: the dialog with one phone, where that phone is, the
 * box's media endpoint toward it, what its SDP last said, and the leg's own
 * offer/answer state. A leg sends its own in-dialog requests (ACK, BYE, a
 * re-INVITE or UPDATE the box passes on or makes itself) and, on the leg the
 * box answered, retransmits its own 2xx until the ACK.
 */
export class CallLeg {
  dialog?: Dialog;
  /** Where the phone is: known at once for the caller, when a branch answers for the callee. */
  target?: Target;
  /** The box's ports toward this phone. */
  local?: LocalMedia;
  /** The phone's media as last given to the engine, so a refused re-offer can put it back. */
  remote?: RemoteMedia;
  /** The phone's last SDP (offer or answer): what it takes, for media the box makes itself (music on hold). */
  remoteSdp?: SessionDescription;
  /** This leg's phone has put the call on hold (its last offer was sendonly, inactive or c=0.0.0.0). */
  holding = false;
  /** The box plays music on hold into this leg (the other phone holds). */
  hearingMusic = false;
  /** o= of the box's SDP toward this phone; its version goes up only when the SDP changes (RFC 3264 8). */
  sdp: SdpSession;
  readonly offerAnswer = new Negotiation();
  /** The 2xx the box sent on this leg, resent on UDP until the ACK (RFC 3261 13.3.1.4). */
  private final2xx?: SipResponse;
  private retransmit?: TimerHandle;
  private ackWaiter?: (ack: SipRequest) => void;
  /** The last ACK the box sent on this leg, resent as is when the phone resends its 2xx. */
  private lastAck?: SipRequest;

  constructor(public id: LegId, public party: string, private readonly deps: CallDeps, target?: Target) {
    if (target) this.target = target;
    this.sdp = sdpSession(String(deps.random.int(2 ** 31)));
  }

  /** The phone's SDP is now `sd`: where its media goes (RemoteMedia) and what it said. Throws PbxError 'protocol' with no audio stream. */
  took(sd: SessionDescription): RemoteMedia {
    const remote = remoteOf(sd);
    this.remote = remote;
    this.remoteSdp = sd;
    return remote;
  }

  /** The Contact the box writes on this leg. */
  contact(): Header {
    return { name: 'contact', value: `<${this.deps.contactFor(this.target!)}>` };
  }

  /** Whether an in-dialog request belongs to this leg's dialog. */
  matches(req: SipRequest): boolean {
    return this.dialog !== undefined && this.dialog.callId === getCallId(req) && inDialog(this.dialog, req);
  }

  /**
   * An in-dialog request's CSeq must grow (RFC 3261 12.2.2); false when it
   * does not. A re-INVITE or UPDATE whose Contact moves is a target refresh:
   * the box's next requests on this leg carry that URI, and go where the
   * phone sent it from (`source`: its new address, or the flow it uses now),
   * as the first ones went to where the phone's INVITE came from.
   */
  acceptRemote(req: SipRequest, source?: Target): boolean {
    const next = this.dialog ? acceptRemoteSeq(this.dialog, req) : undefined;
    if (!next) return false;
    const refreshed = req.method === 'INVITE' || req.method === 'UPDATE' ? refreshTarget(next, req) : next;
    if (source && refreshed.remoteTarget !== next.remoteTarget) this.target = source;
    this.dialog = refreshed;
    return true;
  }

  /** The phone's 2xx to the box's re-INVITE or UPDATE on this leg: a target refresh too. */
  refreshedBy(res: SipResponse): void {
    if (this.dialog) this.dialog = refreshTarget(this.dialog, res);
  }

  /** The next in-dialog request on this leg; INVITE and UPDATE carry the box's Contact (target refresh). */
  nextRequest(method: string, opts: { body?: Buffer; contentType?: string } = {}): SipRequest {
    const built = dialogRequest(this.dialog!, method, opts.body ? { body: opts.body, contentType: opts.contentType ?? SDP_TYPE } : {});
    this.dialog = built.dialog;
    const req = built.request;
    return method === 'INVITE' || method === 'UPDATE' ? { ...req, headers: [...req.headers, this.contact()] } : req;
  }

  /** Send a request made by nextRequest to this leg's phone. */
  send(req: SipRequest, handlers: ClientTransactionUser): ClientTransaction {
    return this.deps.transactions.sendRequest(req, this.target!, handlers);
  }

  /** ACK a 2xx on this leg: for the INVITE of `cseq` (default: the dialog's latest), with the SDP answer of a late offer. */
  ack(opts: { cseq?: number; body?: Buffer } = {}): void {
    if (!this.dialog || !this.target) return;
    this.lastAck = dialogRequest(this.dialog, 'ACK', {
      ...(opts.body ? { body: opts.body, contentType: SDP_TYPE } : {}), ...(opts.cseq !== undefined ? { cseq: opts.cseq } : {}),
    }).request;
    this.sendAck(this.lastAck);
  }

  /** The phone resent its 2xx (our ACK was lost, RFC 3261 13.2.2.4): the same ACK again, if one was sent. */
  reAck(): void {
    if (this.lastAck) this.sendAck(this.lastAck);
  }

  private sendAck(ack: SipRequest): void {
    try { this.deps.transactions.sendAck(ack, this.target!); } catch (e) {
      this.deps.log.warn({ leg: this.id, err: e instanceof Error ? e.message : String(e) }, 'cannot send ACK');
    }
  }

  /** End this leg's dialog from the box's side. */
  bye(): void {
    if (!this.dialog || !this.target) return;
    const req = this.nextRequest('BYE');
    try { this.deps.transactions.sendRequest(req, this.target, { onResponse: () => {} }); } catch (e) {
      this.deps.log.warn({ leg: this.id, err: e instanceof Error ? e.message : String(e) }, 'cannot send BYE');
    }
  }

  /**
   * The box answered this leg's INVITE with `res` (a 2xx): on UDP it is resent,
   * T1 doubling to T2, until acked() or 64*T1 (RFC 3261 13.3.1.4); on TCP/TLS
   * it is sent once, with the same 64*T1 wait. Without the ACK by then
   * `onNoAck` runs, since the dialog is dead. Scoped to the call's answered
   * phase: once the call ends, nothing is resent.
   */
  answered(tx: InviteServerTransaction, res: SipResponse, life: CallLifecycle, onNoAck: () => void): void {
    this.final2xx = res;
    if (this.target?.transport !== 'udp') {
      // A reliable transport carries the 2xx once, but an ACK that never comes still means a dead dialog.
      this.retransmit = life.timer(64 * T1, () => {
        if (!this.final2xx) return;
        this.final2xx = undefined;
        onNoAck();
      }, ['answered']);
      return;
    }
    const clock = this.deps.clock;
    const sentAt = clock.now();
    let interval = T1;
    const tick = (): void => {
      if (!this.final2xx) return;
      // Measured on the clock, not summed from intervals: a busy event loop
      // fires timers late, and the server transaction's Timer L (64*T1 from
      // the 2xx) may already have ended it (found by the call load bench).
      if (clock.now() - sentAt >= 64 * T1 || tx.isTerminated) {
        this.final2xx = undefined;
        onNoAck();
        return;
      }
      try { tx.respond(this.final2xx); } catch { this.deps.counters.inc('call.retransmit-error'); }
      interval = Math.min(interval * 2, T2);
      this.retransmit = life.timer(interval, tick, ['answered']);
    };
    this.retransmit = life.timer(interval, tick, ['answered']);
  }

  /**
   * The ACK for our 2xx arrived: resending stops, and whoever waits for it
   * (an offer the box made in that 2xx: the answer rides on the ACK) gets it.
   */
  acked(ack?: SipRequest): void {
    this.final2xx = undefined;
    this.retransmit?.cancel();
    const waiter = this.ackWaiter;
    this.ackWaiter = undefined;
    if (waiter && ack) waiter(ack);
  }

  /** Hand the next ACK on this leg to `fn` (the box offered in its 2xx and needs the answer). */
  whenAcked(fn: (ack: SipRequest) => void): void {
    this.ackWaiter = fn;
  }

  /** The box still waits for the ACK of its 2xx on this leg. */
  get awaitingAck(): boolean {
    return this.final2xx !== undefined;
  }
}
