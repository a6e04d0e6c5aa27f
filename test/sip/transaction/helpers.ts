import { FakeClock, PbxError } from '../../../firmware/core/index.js';
import type { Header, SipMessage, SipRequest, SipResponse } from '../../../firmware/sip/message/index.js';
import type { ClientTransactionUser, ServerTransactionUser, Target, TransportSink } from '../../../firmware/sip/transaction/index.js';

export const UDP: Target = { transport: 'udp', address: '192.0.2.10', port: 5060 };
export const TCP: Target = { transport: 'tcp', address: '192.0.2.10', port: 5060, flowId: 'flow-1' };

export interface ReqOpts {
  branch?: string;
  sentBy?: string;
  transport?: string;
  uri?: string;
  callId?: string;
  fromTag?: string;
  toTag?: string;
  cseq?: number;
  cseqMethod?: string;
  routes?: string[];
  extraVia?: string;
}

/** A request as plain data, shaped like what the parser produces. */
export function request(method: string, o: ReqOpts = {}): SipRequest {
  const viaBranch = o.branch === undefined ? ';branch=z9hG4bKabc123' : o.branch === '' ? '' : `;branch=${o.branch}`;
  const headers: Header[] = [
    { name: 'via', value: `SIP/2.0/${o.transport ?? 'UDP'} ${o.sentBy ?? 'pc33.atlanta.com:5060'}${viaBranch}` },
  ];
  if (o.extraVia) headers.push({ name: 'via', value: o.extraVia });
  for (const r of o.routes ?? []) headers.push({ name: 'route', value: r });
  headers.push(
    { name: 'max-forwards', value: '70' },
    { name: 'to', value: `Bob <sip:bob@biloxi.com>${o.toTag ? `;tag=${o.toTag}` : ''}` },
    { name: 'from', value: `Alice <sip:alice@atlanta.com>;tag=${o.fromTag ?? '1928301774'}` },
    { name: 'call-id', value: o.callId ?? 'a84b4c76e66710@pc33.atlanta.com' },
    { name: 'cseq', value: `${o.cseq ?? 314159} ${o.cseqMethod ?? method}` },
    { name: 'contact', value: '<sip:alice@pc33.atlanta.com>' },
  );
  return { kind: 'request', method, uri: o.uri ?? 'sip:bob@biloxi.com', headers, body: Buffer.alloc(0) };
}

/** A response to `req` built as a UAS would (8.2.6.2): Vias, From, To (+tag), Call-ID, CSeq copied. */
export function response(req: SipRequest, status: number, toTag?: string, reason = 'Reason'): SipResponse {
  const headers: Header[] = [];
  for (const h of req.headers) {
    if (h.name === 'via' || h.name === 'from' || h.name === 'call-id' || h.name === 'cseq') headers.push(h);
    if (h.name === 'to') headers.push({ name: 'to', value: toTag && !h.value.includes(';tag=') ? `${h.value};tag=${toTag}` : h.value });
  }
  return { kind: 'response', status, reason, headers, body: Buffer.alloc(0) };
}

/** First value of a header: the message module's own reader. */
export { getHeader as header } from '../../../firmware/sip/message/index.js';

export interface Sent {
  msg: SipMessage;
  target: Target;
  at: number;
}

/** Records what would go on the wire, with the fake time it was sent. */
export class RecordingSink implements TransportSink {
  readonly sent: Sent[] = [];
  failing = false;
  constructor(private readonly clock: FakeClock) {}
  send(msg: SipMessage, target: Target): void {
    if (this.failing) throw new PbxError('transport', 'unreachable');
    this.sent.push({ msg, target, at: this.clock.now() });
  }
  /** Offsets from `t0` at which messages matching `pred` were sent. */
  times(t0: number, pred: (m: SipMessage) => boolean = () => true): number[] {
    return this.sent.filter((s) => pred(s.msg)).map((s) => s.at - t0);
  }
  requests(method: string): SipRequest[] {
    return this.sent.flatMap((s) => (s.msg.kind === 'request' && s.msg.method === method ? [s.msg] : []));
  }
  responses(status?: number): SipResponse[] {
    return this.sent.flatMap((s) => (s.msg.kind === 'response' && (status === undefined || s.msg.status === status) ? [s.msg] : []));
  }
}

export class ClientUser implements ClientTransactionUser {
  readonly responses: SipResponse[] = [];
  timeouts = 0;
  errors: PbxError[] = [];
  onResponse(res: SipResponse): void {
    this.responses.push(res);
  }
  onTimeout(): void {
    this.timeouts++;
  }
  onTransportError(err: PbxError): void {
    this.errors.push(err);
  }
}

export class ServerUser implements ServerTransactionUser {
  timeouts = 0;
  errors: PbxError[] = [];
  acks: SipRequest[] = [];
  onTimeout(): void {
    this.timeouts++;
  }
  onTransportError(err: PbxError): void {
    this.errors.push(err);
  }
  onAck(ack: SipRequest): void {
    this.acks.push(ack);
  }
}

export function setup(): { clock: FakeClock; sink: RecordingSink; t0: number } {
  const clock = new FakeClock();
  return { clock, sink: new RecordingSink(clock), t0: clock.now() };
}
