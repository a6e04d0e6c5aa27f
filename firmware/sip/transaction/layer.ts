import { type Clock, type Counters, type Random, type TimerHandle, PbxError, isPbxError } from '../../core/index.js';
import type { CSeq, SipMessage, SipRequest, SipResponse, Via } from '../message/index.js';
import { createResponse, fromTag, getCSeq, getHeader, prependHeader, serialize, toTag, topVia } from '../message/index.js';
import { buildCancel } from './ack.js';
import type { TransactionOptions } from './base.js';
import { InviteClientTransaction } from './invite-client.js';
import { InviteServerTransaction } from './invite-server.js';
import {
  MAGIC_COOKIE, clientKey, hasMagicCookie, isValidStatus, legacyKey, serverKey, tryRead, viaKey,
} from './msg.js';
import { NonInviteClientTransaction } from './non-invite-client.js';
import { NonInviteServerTransaction } from './non-invite-server.js';
import { type BaseTimers, timerValues } from './timers.js';
import { type ClientTransactionUser, type Target, type TransportSink, isReliable, viaTransport } from './types.js';

export type ClientTransaction = InviteClientTransaction | NonInviteClientTransaction;
export type ServerTransaction = InviteServerTransaction | NonInviteServerTransaction;

/** Live transactions of each side the layer keeps before it refuses new work. */
export const MAX_CLIENT_TRANSACTIONS = 10_000;
/**
 * Live server transactions, answered ones included: a UDP non-INVITE one stays
 * 32 s after its answer (Timer J), so this bounds the sustained request rate at
 * about MAX / 32 per second and the memory they hold (measured about 11 KB each:
 * 50,000 reached 700 MB RSS at 800 registrations/s). 25,000 keeps a Pi-class
 * box under about 300 MB while still taking about 390 registrations/s; past it
 * the box answers 503. (10,000 capped the register bench at 156/s.)
 */
export const MAX_SERVER_TRANSACTIONS = 25_000;
/**
 * Answered UDP non-INVITE requests remembered for Timer J so a retransmission
 * gets the same answer: each is only its key and serialized response (about
 * 0.6 KB, test/hardening/stateless.test.ts measures it), and they do not count
 * against MAX_SERVER_TRANSACTIONS. Past this the oldest is forgotten (its
 * retransmission, if one comes, is simply handled again).
 */
export const MAX_ANSWERED = 50_000;
/** Seconds an overloaded box asks clients to wait (RFC 3261 21.5.4, 20.33). */
export const OVERLOAD_RETRY_AFTER_S = 5;
/** Random bits in a generated branch, after the magic cookie. */
export const BRANCH_RANDOM_BITS = 72;

/** The transaction user above the layer: a UA core, B2BUA or proxy core. */
export interface TransactionLayerUser {
  /** A new request; a server transaction now exists for it (not for ACK or CANCEL). */
  onRequest(req: SipRequest, tx: ServerTransaction, source: Target): void;
  /** A CANCEL got its own server transaction; `cancelled` is the INVITE server
   * transaction it targets (RFC 3261 9.2), undefined if none matched (answer 481). */
  onCancel(cancel: SipRequest, tx: NonInviteServerTransaction, cancelled: InviteServerTransaction | undefined, source: Target): void;
  /** An ACK that matched no transaction: the ACK for a 2xx, for the dialog layer.
   * ACKs reaching an INVITE server transaction in Accepted come here too (RFC 6026). */
  onAck(ack: SipRequest, source: Target): void;
  /** A response that matched no client transaction. RFC 6026 8.9 says a UA
   * discards these; a stateful proxy may forward them. Optional. */
  onStrayResponse?(res: SipResponse, source: Target): void;
  /** Timer H fired on an INVITE server transaction (no ACK for a non-2xx). */
  onServerTimeout?(tx: ServerTransaction): void;
  onServerTransportError?(tx: ServerTransaction, err: PbxError): void;
}

export interface TransactionLayerOptions {
  readonly sink: TransportSink;
  readonly clock: Clock;
  readonly random: Random;
  readonly user: TransactionLayerUser;
  readonly counters?: Counters;
  readonly timers?: Partial<BaseTimers>;
  /** host[:port] this box writes as sent-by in the Via of requests over that target's transport. */
  sentBy(target: Target): string;
  /** Where responses to a request go; default: back where it came from (the same flow). */
  responseTarget?(req: SipRequest, source: Target): Target;
  /** Add ;rport to our Vias (RFC 3581). Default true. */
  readonly rport?: boolean;
  /** Default MAX_SERVER_TRANSACTIONS. */
  readonly maxServerTransactions?: number;
  /** Which final answers are sent statelessly (RFC 3261 8.2.7); default answerStatelessly. */
  readonly stateless?: (req: SipRequest, res: SipResponse) => boolean;
  /** Default MAX_ANSWERED. */
  readonly maxAnswered?: number;
}

/**
 * The default stateless policy (issue 20: a flood of unauthenticated requests
 * must not fill the transaction table): challenges (401/407, INVITE too: its
 * ACK then reaches the TU, which finds no dialog), every answer to OPTIONS, and
 * out-of-dialog errors other than 403 (a 403 after a digest check is kept, so a
 * retransmission is not counted as another failed guess). A retransmission of
 * such a request is simply answered again.
 */
export function answerStatelessly(req: SipRequest, res: SipResponse): boolean {
  if (res.status < 200) return false;
  if (res.status === 401 || res.status === 407) return true;
  if (req.method === 'INVITE') return false;
  if (req.method === 'OPTIONS') return true;
  return res.status >= 400 && res.status !== 403 && tryRead(toTag, req) === undefined;
}

/** What is left of an answered UDP non-INVITE server transaction until Timer J. */
interface Answered {
  /** The serialized response when the sink can send bytes, else the message. */
  readonly wire: Buffer | SipResponse;
  readonly target: Target;
  readonly expires: number;
}

/**
 * RFC 3261 section 17 transaction layer: owns every client and server
 * transaction, matches incoming messages to them (17.1.3, 17.2.3), hands the
 * rest to the TU, and forgets transactions once they terminate. `receive`
 * never throws: bad input is counted and dropped.
 */
export class TransactionLayer {
  private readonly clients = new Map<string, ClientTransaction>();
  /** Server transactions from RFC 3261 peers, by branch + sent-by + method. */
  private readonly servers = new Map<string, ServerTransaction>();
  /** Server transactions from RFC 2543 peers (no magic cookie), by Call-ID + CSeq number. */
  private readonly legacy = new Map<string, Set<ServerTransaction>>();
  /** Answered UDP non-INVITE transactions by server key; insertion order is expiry order (one Timer J). */
  private readonly answeredMap = new Map<string, Answered>();
  private sweep: TimerHandle | undefined;
  private sweepDue = 0;
  private readonly counters: Counters | undefined;

  constructor(private readonly opts: TransactionLayerOptions) {
    this.counters = opts.counters;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Answered requests remembered only as key + response (not in serverCount). */
  get answeredCount(): number {
    return this.answeredMap.size;
  }

  get serverCount(): number {
    let n = this.servers.size;
    for (const set of this.legacy.values()) n += set.size;
    return n;
  }

  /** A fresh branch: magic cookie plus random bits (8.1.1.7). */
  newBranch(): string {
    return MAGIC_COOKIE + this.opts.random.token(BRANCH_RANDOM_BITS);
  }

  /** The request with our Via on top, carrying a new branch (8.1.1.7, 18.1.1). */
  stampVia(req: SipRequest, target: Target, branch = this.newBranch()): SipRequest {
    const rport = this.opts.rport === false ? '' : ';rport';
    const via = `SIP/2.0/${viaTransport(target.transport)} ${this.opts.sentBy(target)};branch=${branch}${rport}`;
    return prependHeader(req, 'via', via);
  }

  /** Start a client transaction: add our Via and send. ACK and CANCEL have their own calls. */
  sendRequest(req: SipRequest, target: Target, user: ClientTransactionUser): ClientTransaction {
    if (req.method === 'ACK') throw new PbxError('protocol', 'use sendAck for an ACK to a 2xx');
    if (req.method === 'CANCEL') throw new PbxError('protocol', 'use sendCancel for CANCEL');
    if (this.clients.size >= MAX_CLIENT_TRANSACTIONS) {
      this.counters?.inc('transaction.client.overload');
      throw new PbxError('limit', 'too many client transactions');
    }
    const stamped = this.stampVia(req, target);
    return this.startClient(stamped, target, user);
  }

  /**
   * CANCEL a pending INVITE (RFC 3261 9.1): same branch as the INVITE, sent to
   * the same target, in its own non-INVITE client transaction. Only once a
   * provisional response has arrived, and before any final one.
   */
  sendCancel(invite: InviteClientTransaction, user: ClientTransactionUser): NonInviteClientTransaction {
    if (invite.state !== 'proceeding') {
      throw new PbxError('invalid-state', `cannot CANCEL an INVITE in state ${invite.state}`);
    }
    const tx = this.startClient(buildCancel(invite.request), invite.target, user);
    if (tx.kind !== 'non-invite-client') throw new PbxError('protocol', 'CANCEL built as INVITE');
    return tx;
  }

  /** ACK for a 2xx (13.2.2.4): a request of its own with a fresh branch, sent
   * without a transaction. The stamped ACK is returned so the TU can resend it
   * as is, with sendStateless, for each retransmitted 2xx. */
  sendAck(ack: SipRequest, target: Target): SipRequest {
    if (ack.method !== 'ACK') throw new PbxError('protocol', 'sendAck needs an ACK');
    const stamped = this.stampVia(ack, target);
    this.opts.sink.send(stamped, target);
    return stamped;
  }

  /** Send without any transaction state (ACK retransmissions, stateless replies). */
  sendStateless(msg: SipMessage, target: Target): void {
    this.opts.sink.send(msg, target);
  }

  /** Everything the transports receive comes in here. Never throws. */
  receive(msg: SipMessage, source: Target): void {
    try {
      if (msg.kind === 'response') this.receiveResponse(msg, source);
      else this.receiveRequest(msg, source);
    } catch (e: unknown) {
      this.counters?.inc(isPbxError(e) ? `transaction.error.${e.code}` : 'transaction.error.internal');
    }
  }

  /** A connection died: every transaction bound to it sees a transport error. */
  flowFailed(flowId: string): void {
    const err = new PbxError('transport', `flow ${flowId} closed`);
    for (const tx of this.all()) {
      if (tx.target.flowId === flowId) tx.transportFailed(err);
    }
  }

  /** Stop every transaction and its timers (shutdown). */
  close(): void {
    for (const tx of this.all()) tx.destroy();
    this.clients.clear();
    this.servers.clear();
    this.legacy.clear();
    this.answeredMap.clear();
    this.sweep?.cancel();
    this.sweep = undefined;
  }

  /** The INVITE server transaction a CANCEL targets (RFC 3261 9.2), if any. */
  findCancelled(cancel: SipRequest): InviteServerTransaction | undefined {
    const via = tryRead(topVia, cancel);
    const cseq = tryRead(getCSeq, cancel);
    if (!via || !cseq) return undefined;
    // 9.2: match as if the CANCEL were the request it cancels.
    const tx = this.findServer(cancel, via, { seq: cseq.seq, method: 'INVITE' }, 'INVITE');
    return tx?.kind === 'invite-server' ? tx : undefined;
  }

  private *all(): Iterable<ClientTransaction | ServerTransaction> {
    yield* [...this.clients.values()];
    yield* [...this.servers.values()];
    for (const set of [...this.legacy.values()]) yield* [...set];
  }

  private txOptions(target: Target, onTerminated: () => void): TransactionOptions {
    return {
      sink: this.opts.sink,
      clock: this.opts.clock,
      target,
      timers: this.opts.timers,
      counters: this.counters,
      onTerminated,
    };
  }

  private startClient(req: SipRequest, target: Target, user: ClientTransactionUser): ClientTransaction {
    const branch = tryRead(topVia, req)?.branch;
    if (!branch) throw new PbxError('protocol', 'request has no Via branch');
    const key = clientKey(branch, req.method);
    if (this.clients.has(key)) throw new PbxError('conflict', 'a client transaction with this branch exists');
    let tx: ClientTransaction | undefined;
    const forget = (): void => {
      if (tx && this.clients.get(key) === tx) this.clients.delete(key);
    };
    const opts = { ...this.txOptions(target, forget), user };
    tx = req.method === 'INVITE' ? new InviteClientTransaction(req, opts) : new NonInviteClientTransaction(req, opts);
    if (!tx.isTerminated) this.clients.set(key, tx);
    return tx;
  }

  private receiveResponse(res: SipResponse, source: Target): void {
    if (!isValidStatus(res.status)) return this.drop('response.bad-status');
    const via = tryRead(topVia, res);
    if (!via) return this.drop('response.no-via');
    const cseq = tryRead(getCSeq, res);
    if (!cseq) return this.drop('response.no-cseq');
    // 17.1.3: branch of the top Via plus the CSeq method (which tells a CANCEL's
    // responses from the INVITE's, as both share the branch).
    const tx = via.branch ? this.clients.get(clientKey(via.branch, cseq.method)) : undefined;
    if (tx) {
      tx.receiveResponse(res);
      return;
    }
    this.counters?.inc('transaction.response.stray');
    this.callUser(() => this.opts.user.onStrayResponse?.(res, source));
  }

  private receiveRequest(req: SipRequest, source: Target): void {
    const via = tryRead(topVia, req);
    if (!via) return this.drop('request.no-via');
    const cseq = tryRead(getCSeq, req);
    if (!cseq) return this.drop('request.no-cseq');
    if (cseq.method !== req.method) return this.drop('request.cseq-method-mismatch');
    if (getHeader(req, 'call-id') === undefined) return this.drop('request.no-call-id');

    const existing = this.findServer(req, via, cseq, req.method);
    if (existing) {
      this.counters?.inc(req.method === 'ACK' ? 'transaction.request.ack-matched' : 'transaction.request.retransmission');
      existing.receiveRequest(req);
      return;
    }
    const answered = hasMagicCookie(via.branch) ? this.answeredMap.get(serverKey(via.branch, via, req.method)) : undefined;
    if (answered !== undefined) {
      this.counters?.inc('transaction.request.retransmission');
      this.resendAnswered(answered);
      return;
    }
    if (req.method === 'ACK') {
      this.callUser(() => this.opts.user.onAck(req, source));
      return;
    }
    const target = this.opts.responseTarget?.(req, source) ?? source;
    if (this.serverCount >= (this.opts.maxServerTransactions ?? MAX_SERVER_TRANSACTIONS)) {
      // Overloaded: say so statelessly (503 + Retry-After) rather than stay
      // silent, which would only make the phone retransmit into the overload.
      this.drop('request.overload');
      try {
        this.opts.sink.send(createResponse(req, 503, 'Service Unavailable', {
          headers: [{ name: 'retry-after', value: String(OVERLOAD_RETRY_AFTER_S) }],
        }), target);
      } catch { /* nothing more to do for a request we cannot take */ }
      return;
    }

    const tx = this.startServer(req, via, cseq, target);
    if (tx.kind === 'non-invite-server' && req.method === 'CANCEL') {
      const cancelled = this.findCancelled(req);
      this.callUser(() => this.opts.user.onCancel(req, tx, cancelled, source));
    } else {
      this.callUser(() => this.opts.user.onRequest(req, tx, source));
    }
  }

  private startServer(req: SipRequest, via: Via, cseq: CSeq, target: Target): ServerTransaction {
    let tx: ServerTransaction | undefined;
    let forget: () => void;
    if (hasMagicCookie(via.branch)) {
      const key = serverKey(via.branch, via, req.method);
      forget = () => {
        if (tx && this.servers.get(key) === tx) this.servers.delete(key);
      };
      tx = this.createServer(req, target, forget, key);
      if (!tx.isTerminated) this.servers.set(key, tx);
    } else {
      const key = legacyKey(req, cseq);
      forget = () => {
        const set = this.legacy.get(key);
        if (!tx || !set) return;
        set.delete(tx);
        if (set.size === 0) this.legacy.delete(key);
      };
      tx = this.createServer(req, target, forget);
      const set = this.legacy.get(key) ?? new Set<ServerTransaction>();
      set.add(tx);
      this.legacy.set(key, set);
    }
    return tx;
  }

  private createServer(req: SipRequest, target: Target, onTerminated: () => void, key?: string): ServerTransaction {
    let tx: ServerTransaction | undefined;
    const user = {
      onTimeout: () => { if (tx) this.opts.user.onServerTimeout?.(tx); },
      onTransportError: (err: PbxError) => { if (tx) this.opts.user.onServerTransportError?.(tx, err); },
      onAck: (ack: SipRequest) => this.opts.user.onAck(ack, tx?.target ?? target),
    };
    const answered = (res: SipResponse): boolean => this.onAnswered(req, res, tx?.target ?? target, key);
    const opts = { ...this.txOptions(target, onTerminated), user, answered };
    tx = req.method === 'INVITE' ? new InviteServerTransaction(req, opts) : new NonInviteServerTransaction(req, opts);
    return tx;
  }

  /**
   * A server transaction sent its final answer: true when the layer takes
   * over and the transaction may terminate now. Stateless answers leave
   * nothing; an answered UDP non-INVITE one leaves its key and response.
   */
  private onAnswered(req: SipRequest, res: SipResponse, target: Target, key: string | undefined): boolean {
    if ((this.opts.stateless ?? answerStatelessly)(req, res)) {
      this.counters?.inc('transaction.server.stateless');
      return true;
    }
    // INVITE needs its ACK matched; legacy peers and reliable flows keep the usual path (Timer J is 0 there).
    if (req.method === 'INVITE' || key === undefined || isReliable(target.transport)) return false;
    let wire: Buffer | SipResponse = res;
    if (this.opts.sink.sendSerialized !== undefined) {
      try {
        // An exact copy outside the shared pool, so it does not keep the slab the request's bytes sit in.
        const bytes = serialize(res);
        wire = Buffer.allocUnsafeSlow(bytes.length);
        bytes.copy(wire);
      } catch {
        return false;
      }
    }
    const now = this.opts.clock.now();
    // The key is made of slices of the request's text; a flat copy lets that text go.
    key = Buffer.from(key, 'utf8').toString('utf8');
    this.answeredMap.delete(key);
    this.answeredMap.set(key, { wire, target, expires: now + timerValues(false, this.opts.timers).J });
    const max = this.opts.maxAnswered ?? MAX_ANSWERED;
    while (this.answeredMap.size > max) {
      const first = this.answeredMap.keys().next();
      if (first.done === true) break;
      this.answeredMap.delete(first.value);
      this.counters?.inc('transaction.answered.evicted');
    }
    this.armSweep();
    return true;
  }

  private resendAnswered(a: Answered): void {
    try {
      if (Buffer.isBuffer(a.wire) && this.opts.sink.sendSerialized !== undefined) this.opts.sink.sendSerialized(a.wire, a.target);
      else if (!Buffer.isBuffer(a.wire)) this.opts.sink.send(a.wire, a.target);
    } catch {
      this.counters?.inc('transaction.transport-error');
    }
  }

  /** One clock timer for all answered entries: they expire in the order they were made. */
  private armSweep(): void {
    const first = this.answeredMap.values().next();
    if (first.done === true) return;
    if (this.sweep !== undefined && this.sweepDue <= first.value.expires) return;
    this.sweep?.cancel();
    this.sweepDue = first.value.expires;
    this.sweep = this.opts.clock.setTimer(Math.max(0, first.value.expires - this.opts.clock.now()), () => {
      this.sweep = undefined;
      const now = this.opts.clock.now();
      for (const [k, a] of this.answeredMap) {
        if (a.expires > now) break;
        this.answeredMap.delete(k);
      }
      this.armSweep();
    });
  }

  /**
   * 17.2.3. With the magic cookie: branch, sent-by and method (an ACK matches
   * its INVITE). Without it, the RFC 2543 rules: Request-URI, tags, Call-ID,
   * CSeq and top Via of the request that created the transaction; an ACK's To
   * tag must equal the tag of the response the transaction sent.
   */
  private findServer(req: SipRequest, via: Via, cseq: CSeq, method: string): ServerTransaction | undefined {
    if (hasMagicCookie(via.branch)) {
      return this.servers.get(serverKey(via.branch, via, method));
    }
    const set = this.legacy.get(legacyKey(req, cseq));
    if (!set) return undefined;
    const isAck = method === 'ACK';
    for (const tx of set) {
      const orig = tx.request;
      const origVia = tryRead(topVia, orig);
      const origCseq = tryRead(getCSeq, orig);
      if (!origVia || !origCseq) continue;
      if (orig.uri !== req.uri) continue;
      if (tryRead(fromTag, orig) !== tryRead(fromTag, req)) continue;
      if (viaKey(origVia) !== viaKey(via)) continue;
      if (isAck) {
        if (tx.kind !== 'invite-server') continue;
        const sent = tx.lastResponse;
        if (!sent || tryRead(toTag, sent) !== tryRead(toTag, req)) continue;
      } else {
        if (origCseq.method !== method) continue;
        if (tryRead(toTag, orig) !== tryRead(toTag, req)) continue;
      }
      return tx;
    }
    return undefined;
  }

  private callUser(fn: () => void): void {
    try {
      fn();
    } catch {
      this.counters?.inc('transaction.tu-exception');
    }
  }

  private drop(reason: string): void {
    this.counters?.inc(`transaction.${reason}`);
  }
}
