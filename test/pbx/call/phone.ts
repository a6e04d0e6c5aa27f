/**
 * A phone for call-control tests: a user agent on its own transaction layer.
 * It registers and authenticates with the real digest exchange, places and
 * takes calls, and answers in-dialog requests the way a desk phone does
 * unless a test takes over (`auto`). Everything it does is plain SIP; the
 * world's network carries it as bytes.
 */
import type { Clock, Random } from '../../../firmware/core/index.js';
import { digestAuthorization } from '../../../firmware/sip/digest/index.js';
import { dialogAsUac, dialogAsUas, dialogRequest, type Dialog } from '../../../firmware/sip/dialog/index.js';
import {
  createResponse, getCallId, getCSeq, getHeader, toTag, withBody, type Header, type SipRequest, type SipResponse,
} from '../../../firmware/sip/message/index.js';
import {
  TransactionLayer, buildCancel, type ClientTransaction, type InviteClientTransaction, type InviteServerTransaction, type NonInviteServerTransaction,
  type ServerTransaction, type Target, type TransactionLayerUser, type TransportSink,
} from '../../../firmware/sip/transaction/index.js';
import { answerSdp, phoneSdp } from './sdp.js';

export interface PhoneOptions {
  readonly ext: string;
  readonly address: string;
  readonly transport: 'udp' | 'tcp';
  readonly password: string;
  readonly realm: string;
}

interface PhoneEnv {
  readonly clock: Clock;
  readonly random: Random;
  readonly box: Target;
  readonly sink: TransportSink;
}

/** How the phone answers an in-dialog request by itself: a status, 'sdp' (200 with its SDP), or not at all. */
export type AutoAnswer = number | 'sdp' | undefined;

/** A request the phone sent and what came back. */
export class Sent {
  readonly responses: SipResponse[] = [];
  timedOut = false;
  /** The client transaction (an in-dialog request's). */
  clientTx?: ClientTransaction;
  constructor(readonly request: SipRequest) {}
  get statuses(): number[] { return this.responses.map((r) => r.status); }
  get final(): SipResponse | undefined { return this.responses.find((r) => r.status >= 200); }
  /** CANCEL this request (an INVITE that has had a provisional); the CANCEL's answers go in `cancelResponses`. */
  readonly cancelResponses: SipResponse[] = [];
  cancelVia(layer: TransactionLayer): void {
    if (this.clientTx?.kind !== 'invite-client') throw new Error('not an INVITE');
    layer.sendCancel(this.clientTx, { onResponse: (r) => { this.cancelResponses.push(r); } });
  }
}

/** A request that reached the phone, with its server transaction. */
export interface Received {
  readonly req: SipRequest;
  readonly tx: ServerTransaction;
}

/** A new call reaching this phone. */
export class Incoming {
  readonly tag: string;
  last2xx?: SipResponse;
  cancelled = false;
  constructor(readonly phone: Phone, readonly req: SipRequest, readonly tx: InviteServerTransaction) {
    this.tag = phone.random.token(48);
  }
  get callId(): string { return getCallId(this.req); }

  respond(status: number, body?: Buffer): SipResponse {
    const headers: Header[] = status > 100 ? [{ name: 'contact', value: `<${this.phone.contact}>` }] : [];
    const res = createResponse(this.req, status, undefined, {
      ...(status > 100 ? { toTag: this.tag } : {}), headers, ...(body ? { body, contentType: 'application/sdp' } : {}),
    });
    this.tx.respond(res);
    if (status >= 200 && status < 300) {
      this.last2xx = res;
      this.phone.dialogs.set(this.callId, dialogAsUas(this.req, this.tag));
    }
    return res;
  }

  ring(): void { this.respond(180); }
  /** 200 with the phone's answer to the box's offer (or an offer when the INVITE had none). */
  answer(body: Buffer = this.phone.answerTo(this.req.body)): void { this.respond(200, body); }
  /** The 2xx again, as a UDP phone does until the ACK comes (RFC 3261 13.3.1.4). */
  retransmit(): void { if (this.last2xx) this.tx.respond(this.last2xx); }
}

/** A call this phone placed. */
export class Outgoing extends Sent {
  readonly challenges: SipResponse[] = [];
  tx?: InviteClientTransaction;
  /** The first INVITE's transaction, the one the 401 answered. */
  challengedTx?: InviteClientTransaction;
  readonly cancels: Sent[] = [];
  acks = 0;
  constructor(readonly phone: Phone, request: SipRequest, readonly autoAck: boolean) { super(request); }
  get callId(): string { return getCallId(this.request); }
  cancel(): Sent {
    if (!this.tx) throw new Error('no INVITE out');
    const s = new Sent(this.request);
    this.phone.layer.sendCancel(this.tx, { onResponse: (r) => { s.responses.push(r); } });
    this.cancels.push(s);
    return s;
  }
  /** A CANCEL sent without a transaction, whatever the INVITE's state (its answers land in phone.strays). */
  rawCancel(of: 'authenticated' | 'challenged' = 'authenticated'): void {
    const tx = of === 'authenticated' ? this.tx : this.challengedTx;
    if (!tx) throw new Error('no such INVITE');
    this.phone.layer.sendStateless(buildCancel(tx.request), this.phone.box);
  }
  /** ACK the 2xx (as the phone would; automatic unless autoAck is off). */
  ack(body?: Buffer): void {
    const d = this.phone.dialogs.get(this.callId);
    if (!d) throw new Error('no dialog to ACK');
    this.acks++;
    this.phone.sendAck(d, body);
  }
}

export class Phone implements TransactionLayerUser {
  readonly ext: string;
  readonly address: string;
  readonly layer: TransactionLayer;
  readonly random: Random;
  readonly dialogs = new Map<string, Dialog>();
  readonly incoming: Incoming[] = [];
  readonly outgoing: Outgoing[] = [];
  /** In-dialog requests (and out-of-dialog ones other than INVITE) that reached the phone. */
  readonly inbox: Received[] = [];
  readonly acks: SipRequest[] = [];
  readonly cancels: SipRequest[] = [];
  /** Responses that matched no transaction of the phone. */
  readonly strays: SipResponse[] = [];
  /** What the phone answers by itself; a test sets a method to undefined to answer it by hand. */
  readonly auto: Record<string, AutoAnswer> = { BYE: 200, OPTIONS: 200, INFO: 200, NOTIFY: 200, UPDATE: 'sdp', INVITE: 'sdp' };
  registered: number | undefined;
  /** The phone's RTP port, written in its SDP. */
  mediaPort: number;
  private sdpVersion = 1;
  private seq = 1;

  constructor(private readonly o: PhoneOptions, private readonly env: PhoneEnv) {
    this.ext = o.ext;
    this.address = o.address;
    this.random = env.random;
    this.mediaPort = 30_000 + 100 * Number(o.address.split('.').pop());
    this.layer = new TransactionLayer({
      sink: env.sink, clock: env.clock, random: env.random, user: this, sentBy: () => `${o.address}:5060`,
    });
  }

  get contact(): string {
    return `sip:${this.o.ext}@${this.o.address}:5060${this.o.transport === 'udp' ? '' : ';transport=tcp'}`;
  }

  /** The phone's own SDP; each one a new version (RFC 3264 8). */
  sdp(direction = 'sendrecv', codecs?: readonly number[]): Buffer {
    return phoneSdp({ address: this.address, port: this.mediaPort, direction, version: this.sdpVersion++, ...(codecs ? { codecs } : {}) });
  }

  /** The phone's answer to an offer, or its own offer when there is none. */
  answerTo(offer: Buffer): Buffer {
    if (offer.length === 0) return this.sdp();
    return answerSdp(offer.toString('utf8'), { address: this.address, port: this.mediaPort, version: this.sdpVersion++ });
  }

  private base(method: string, to: string, callId: string, fromTag: string, cseq: number, extra: Header[] = []): SipRequest {
    return {
      kind: 'request', method, uri: `sip:${to}@${this.env.box.address}`, body: Buffer.alloc(0),
      headers: [
        { name: 'max-forwards', value: '70' },
        { name: 'from', value: `"Phone ${this.o.ext}" <sip:${this.o.ext}@${this.env.box.address}>;tag=${fromTag}` },
        { name: 'to', value: `<sip:${method === 'REGISTER' ? this.o.ext : to}@${this.env.box.address}>` },
        { name: 'call-id', value: callId },
        { name: 'cseq', value: `${cseq} ${method}` },
        { name: 'contact', value: `<${this.contact}>` },
        ...extra,
      ],
    };
  }

  private authorize(req: SipRequest, challenge: SipResponse): SipRequest {
    const value = digestAuthorization({
      challenge: getHeader(challenge, 'www-authenticate') ?? '', method: req.method, uri: req.uri,
      username: this.o.ext, password: this.o.password, random: this.random,
    });
    const seq = getCSeq(req).seq + 1;
    const headers = req.headers.map((h) => (h.name === 'cseq' ? { name: 'cseq', value: `${seq} ${req.method}` } : h));
    return { ...req, headers: [...headers, { name: 'authorization', value }] };
  }

  register(): void {
    const callId = `reg-${this.random.token(48)}`;
    const req = this.base('REGISTER', '', callId, this.random.token(48), this.seq++, [{ name: 'expires', value: '3600' }]);
    const first = { ...req, uri: `sip:${this.env.box.address}` };
    this.layer.sendRequest(first, this.env.box, {
      onResponse: (r) => {
        if (r.status !== 401) { this.registered = r.status; return; }
        this.layer.sendRequest(this.authorize(first, r), this.env.box, { onResponse: (r2) => { this.registered = r2.status; } });
      },
    });
  }

  /** Call an extension: the INVITE, the 401 and the authenticated INVITE; `sdp: null` for a late offer. */
  call(to: string, o: { sdp?: Buffer | null; autoAck?: boolean; headers?: Header[] } = {}): Outgoing {
    const body = o.sdp === undefined ? this.sdp() : o.sdp;
    let req = this.base('INVITE', to, `call-${this.random.token(64)}`, this.random.token(48), 1);
    if (o.headers) req = { ...req, headers: [...req.headers, ...o.headers] };
    if (body) req = withBody(req, body, 'application/sdp');
    const out = new Outgoing(this, req, o.autoAck ?? true);
    this.outgoing.push(out);
    out.challengedTx = this.layer.sendRequest(req, this.env.box, {
      onResponse: (r) => {
        if (r.status !== 401) { out.responses.push(r); return; }
        out.challenges.push(r);
        const authed = this.authorize(req, r);
        out.tx = this.layer.sendRequest(authed, this.env.box, {
          onResponse: (res) => this.onCallResponse(out, authed, res),
          onTimeout: () => { out.timedOut = true; },
        }) as InviteClientTransaction;
      },
    }) as InviteClientTransaction;
    return out;
  }

  private onCallResponse(out: Outgoing, req: SipRequest, res: SipResponse): void {
    out.responses.push(res);
    if (res.status < 200 || res.status >= 300) return;
    if (!this.dialogs.has(out.callId)) this.dialogs.set(out.callId, dialogAsUac(req, res));
    if (out.autoAck) out.ack(req.body.length === 0 ? this.answerTo(res.body) : undefined);
  }

  sendAck(d: Dialog, body?: Buffer): void {
    const ack = dialogRequest(d, 'ACK', body ? { body, contentType: 'application/sdp' } : {}).request;
    this.layer.sendAck(ack, this.env.box);
  }

  /** A request inside the phone's dialog (the latest by default); a 2xx to a re-INVITE is ACKed (with an answer if it offered). */
  request(method: string, o: { body?: Buffer; contentType?: string; cseq?: number; callId?: string; autoAck?: boolean; headers?: Header[] } = {}): Sent {
    const callId = o.callId ?? [...this.dialogs.keys()].pop();
    const d = callId !== undefined ? this.dialogs.get(callId) : undefined;
    if (!d || callId === undefined) throw new Error(`${this.ext} has no dialog`);
    const built = dialogRequest(d, method, {
      headers: [...(method === 'INVITE' || method === 'UPDATE' ? [{ name: 'contact', value: `<${this.contact}>` }] : []), ...(o.headers ?? [])],
      ...(o.body ? { body: o.body, contentType: o.contentType ?? 'application/sdp' } : {}), ...(o.cseq !== undefined ? { cseq: o.cseq } : {}),
    });
    this.dialogs.set(callId, built.dialog);
    const sent = new Sent(built.request);
    sent.clientTx = this.layer.sendRequest(built.request, this.env.box, {
      onResponse: (r) => {
        sent.responses.push(r);
        if (method === 'INVITE' && r.status >= 200 && r.status < 300 && (o.autoAck ?? true)) {
          const now = this.dialogs.get(callId) ?? built.dialog;
          this.sendAck({ ...now, localSeq: getCSeq(built.request).seq }, o.body || r.body.length === 0 ? undefined : this.answerTo(r.body));
        }
      },
      onTimeout: () => { sent.timedOut = true; },
    });
    return sent;
  }

  /** The latest in-dialog request of this method that reached the phone. */
  last(method: string): Received | undefined {
    return [...this.inbox].reverse().find((r) => r.req.method === method);
  }

  /** Answer a request the phone left to the test: 200 with its SDP, or any status. */
  reply(r: Received, status: number, body?: Buffer): SipResponse {
    const headers: Header[] = status >= 200 && status < 300 && (r.req.method === 'INVITE' || r.req.method === 'UPDATE')
      ? [{ name: 'contact', value: `<${this.contact}>` }] : [];
    const res = createResponse(r.req, status, undefined, { headers, ...(body ? { body, contentType: 'application/sdp' } : {}) });
    r.tx.respond(res);
    return res;
  }

  onRequest(req: SipRequest, tx: ServerTransaction): void {
    if (req.method === 'INVITE' && toTag(req) === undefined) {
      this.incoming.push(new Incoming(this, req, tx as InviteServerTransaction));
      return;
    }
    const r = { req, tx };
    this.inbox.push(r);
    if (!this.dialogs.has(getCallId(req))) { tx.respond(createResponse(req, 481)); return; }
    const auto = this.auto[req.method];
    if (auto === undefined) return;
    if (auto === 'sdp') {
      const body = req.body.length ? this.answerTo(req.body) : req.method === 'INVITE' ? this.sdp() : undefined;
      this.reply(r, 200, body);
    } else {
      this.reply(r, auto);
    }
  }

  onCancel(cancel: SipRequest, tx: NonInviteServerTransaction, cancelled: InviteServerTransaction | undefined): void {
    this.cancels.push(cancel);
    tx.respond(createResponse(cancel, cancelled ? 200 : 481));
    const inc = this.incoming.find((i) => i.tx === cancelled);
    if (inc && cancelled?.state === 'proceeding') {
      inc.cancelled = true;
      inc.respond(487);
    }
  }

  onAck(ack: SipRequest): void {
    this.acks.push(ack);
  }

  onStrayResponse(res: SipResponse): void {
    this.strays.push(res);
  }

  get box(): Target {
    return this.env.box;
  }
}

