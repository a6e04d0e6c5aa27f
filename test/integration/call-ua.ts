import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { cryptoRandom } from '../../firmware/core/index.js';
import { digestAuthorization } from '../../firmware/sip/digest/index.js';
import {
  frameStream, fromTag, getCSeq, getCallId, getHeader, getHeaders, parseMessage, parseNameAddrList, toTag, topVia,
  type SipRequest, type SipResponse,
} from '../../firmware/sip/message/index.js';
import { codecsOf, directionOf, parseSdp } from '../../firmware/sdp/index.js';
import type { UaTransport } from './ua.js';

/**
 * An in-test SIP phone for call scenarios: it registers, places calls
 * (answering the 401 challenge, ACKing non-2xx finals itself as a UAC
 * transaction must, RFC 3261 17.1.1.3), receives calls from the box and
 * answers them, and runs in-dialog requests (ACK, BYE, re-INVITE, UPDATE,
 * CANCEL). Messages are written as text; incoming bytes are parsed with the
 * firmware's message parser. RtpPeer beside it sends and receives RTP.
 */

export const WAIT_MS = 5_000;
const CRLF = '\r\n';

type Hdr = readonly [string, string];

function build(startLine: string, headers: readonly Hdr[], body?: string | Buffer): Buffer {
  const b = body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body);
  const lines = [startLine, ...headers.map(([n, v]) => `${n}: ${v}`)];
  if (b.length > 0 && !headers.some(([n]) => n.toLowerCase() === 'content-type')) lines.push('Content-Type: application/sdp');
  lines.push(`Content-Length: ${b.length}`, '', '');
  return Buffer.concat([Buffer.from(lines.join(CRLF)), b]);
}

const token = (bits = 64): string => cryptoRandom.token(bits);
const stripTag = (v: string): string => v.replace(/;\s*tag=[^;>]*/i, '');

/** A request the box sent us, with the means to answer it. */
export class Incoming {
  final: number | undefined;
  private last: Buffer | undefined;
  localTag: string | undefined;

  constructor(readonly ua: CallUa, readonly req: SipRequest) {}

  get method(): string { return this.req.method; }
  get callId(): string { return getCallId(this.req); }
  get branch(): string { return topVia(this.req).branch ?? ''; }
  get body(): Buffer { return this.req.body; }

  /** Answer with a status; a To tag is added for anything but 100 (RFC 3261 8.2.6.2). */
  respond(status: number, reason: string, opts: { body?: string; headers?: readonly Hdr[] } = {}): void {
    const to = getHeader(this.req, 'to') ?? '';
    const hasTag = /;\s*tag=/i.test(to);
    if (status !== 100 && !hasTag && this.localTag === undefined) this.localTag = token();
    const headers: Hdr[] = [
      ...getHeaders(this.req, 'via').map((v): Hdr => ['Via', v]),
      ['From', getHeader(this.req, 'from') ?? ''],
      ['To', status === 100 || hasTag ? to : `${to};tag=${this.localTag ?? ''}`],
      ['Call-ID', this.callId],
      ['CSeq', getHeader(this.req, 'cseq') ?? ''],
      ...(opts.headers ?? []),
    ];
    this.last = build(`SIP/2.0 ${status} ${reason}`, headers, opts.body);
    if (status >= 200) this.final = status;
    this.ua.sendRaw(this.last);
  }

  /** A retransmission of this request arrived: repeat the last answer (17.2). */
  repeat(): void {
    if (this.last) this.ua.sendRaw(this.last);
  }
}

/** An INVITE from the box, seen from the called phone. */
export class IncomingCall {
  constructor(readonly ua: CallUa, readonly invite: Incoming) {}

  get sdp(): Buffer { return this.invite.body; }
  get callId(): string { return this.invite.callId; }
  trying(): void { this.invite.respond(100, 'Trying'); }
  ring(): void { this.invite.respond(180, 'Ringing', { headers: [['Contact', `<${this.ua.contactUri}>`]] }); }
  progress(sdp: string): void { this.invite.respond(183, 'Session Progress', { body: sdp, headers: [['Contact', `<${this.ua.contactUri}>`]] }); }
  reject(status: number, reason: string): void { this.invite.respond(status, reason); }

  /** 200 with our SDP (or none); the dialog is the UAS side of RFC 3261 12.1.1. */
  answer(sdp?: string): UaDialog {
    this.invite.respond(200, 'OK', { ...(sdp !== undefined ? { body: sdp } : {}), headers: [['Contact', `<${this.ua.contactUri}>`]] });
    const req = this.invite.req;
    const remoteTarget = parseNameAddrList(getHeader(req, 'contact') ?? '')[0]?.uri ?? '';
    return new UaDialog(this.ua, {
      callId: this.invite.callId, localTag: this.invite.localTag ?? '', remoteTag: fromTag(req) ?? '',
      localUri: stripTag(getHeader(req, 'to') ?? ''), remoteUri: stripTag(getHeader(req, 'from') ?? ''),
      remoteTarget, localSeq: 100,
    });
  }
}

export interface DialogState {
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  readonly localUri: string;
  readonly remoteUri: string;
  readonly remoteTarget: string;
  readonly localSeq: number;
}

/** One confirmed dialog of this phone (RFC 3261 12.2.1). */
export class UaDialog {
  private seq: number;
  constructor(readonly ua: CallUa, readonly state: DialogState) {
    this.seq = state.localSeq;
  }

  private headers(method: string, seq: number, branch: string): Hdr[] {
    return [
      ['Via', this.ua.via(branch)],
      ['Max-Forwards', '70'],
      ['From', `${this.state.localUri};tag=${this.state.localTag}`],
      ['To', `${this.state.remoteUri};tag=${this.state.remoteTag}`],
      ['Call-ID', this.state.callId],
      ['CSeq', `${seq} ${method}`],
    ];
  }

  /** Send a request in the dialog and wait for its final response. */
  async request(method: string, opts: { sdp?: string; ms?: number; cseq?: number; contact?: string } = {}): Promise<SipResponse> {
    // opts.cseq replays an old number (to see the peer refuse it); normally the next one.
    const seq = opts.cseq ?? ++this.seq;
    // opts.contact moves the phone's target (RFC 3261 12.2: a target refresh).
    const extra: Hdr[] = method === 'INVITE' || method === 'UPDATE' ? [['Contact', `<${opts.contact ?? this.ua.contactUri}>`]] : [];
    const branch = `z9hG4bK${token(72)}`;
    const headers = this.headers(method, seq, branch);
    if (method === 'INVITE') this.ua.noteInvite(branch, { ruri: this.state.remoteTarget, from: headers[2]![1], callId: this.state.callId, cseq: seq });
    this.ua.sendRaw(build(`${method} ${this.state.remoteTarget} SIP/2.0`, [...headers, ...extra], opts.sdp));
    return this.ua.waitResponse((r) => r.status >= 200 && getCallId(r) === this.state.callId && getCSeq(r).seq === seq && getCSeq(r).method === method, opts.ms);
  }

  /** ACK for a 2xx to our (re-)INVITE: its own transaction, the INVITE's CSeq number (13.2.2.4). */
  ack(res: SipResponse, sdp?: string): void {
    const seq = getCSeq(res).seq;
    const bytes = build(`ACK ${this.state.remoteTarget} SIP/2.0`, this.headers('ACK', seq, `z9hG4bK${token(72)}`), sdp);
    this.ua.rememberAck(this.state.callId, seq, bytes);
    this.ua.sendRaw(bytes);
  }

  bye(): Promise<SipResponse> { return this.request('BYE'); }

  /** The next request the box sends us in this dialog. */
  waitRequest(method: string, ms?: number): Promise<Incoming> {
    return this.ua.waitRequest(method, (r) => r.callId === this.state.callId && toTag(r.req) === this.state.localTag, ms);
  }
}

/** A call this phone placed: the INVITE client side until it is answered. */
export class OutgoingCall {
  readonly callId = `${token(72)}@call-ua`;
  readonly fromTag = token();
  cseq = 0;
  branch = '';
  readonly ruri: string;

  constructor(readonly ua: CallUa, readonly extension: string, readonly sdp: string | undefined, readonly omit: readonly string[] = [], scheme: 'sip' | 'sips' = 'sip') {
    this.ruri = `${scheme}:${extension}@${ua.domain}`;
  }

  /** Send (or re-send after a challenge) the INVITE, with a new CSeq and branch. */
  send(authorization?: string, extra: readonly Hdr[] = []): void {
    this.cseq++;
    this.branch = `z9hG4bK${token(72)}`;
    const all: Hdr[] = [
      ['Via', this.ua.via(this.branch)],
      ['Max-Forwards', '70'],
      ['From', `"Caller ${this.ua.opts.user}" <sip:${this.ua.opts.user}@${this.ua.domain}>;tag=${this.fromTag}`],
      ['To', `<${this.ruri}>`],
      ['Call-ID', this.callId],
      ['CSeq', `${this.cseq} INVITE`],
      ['Contact', `<${this.ua.contactUri}>`],
      ['Allow', 'INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE'],
      ...(authorization ? [['Authorization', authorization] as Hdr] : []),
      ...extra,
    ];
    const headers = all.filter(([n]) => !this.omit.includes(n.toLowerCase()));
    this.ua.noteInvite(this.branch, { ruri: this.ruri, from: all[2]![1], callId: this.callId, cseq: this.cseq });
    this.ua.sendRaw(build(`INVITE ${this.ruri} SIP/2.0`, headers, this.sdp));
  }

  /** Answer a 401 with digest credentials (RFC 3261 22.2). */
  authenticate(challenge: SipResponse, password = this.ua.opts.password): void {
    const www = getHeader(challenge, 'www-authenticate');
    if (!www) throw new Error('401 without WWW-Authenticate');
    this.send(digestAuthorization({ challenge: www, method: 'INVITE', uri: this.ruri, username: this.ua.opts.user, password }));
  }

  /** The next response to the current INVITE matching the predicate (removed from the queue). */
  waitResponse(pred: (r: SipResponse) => boolean = () => true, ms?: number): Promise<SipResponse> {
    const seq = this.cseq;
    return this.ua.waitResponse((r) => getCallId(r) === this.callId && getCSeq(r).method === 'INVITE' && getCSeq(r).seq === seq && pred(r), ms);
  }

  waitStatus(status: number, ms?: number): Promise<SipResponse> {
    return this.waitResponse((r) => r.status === status, ms);
  }

  /** The final response to the current INVITE; a non-2xx one is already ACKed by the UA. */
  final(ms?: number): Promise<SipResponse> {
    return this.waitResponse((r) => r.status >= 200, ms);
  }

  /** ACK the 2xx and return the confirmed dialog (12.1.2). */
  ack(res: SipResponse, sdp?: string): UaDialog {
    const remoteTarget = parseNameAddrList(getHeader(res, 'contact') ?? '')[0]?.uri;
    if (!remoteTarget) throw new Error('2xx without Contact');
    const d = new UaDialog(this.ua, {
      callId: this.callId, localTag: this.fromTag, remoteTag: toTag(res) ?? '',
      localUri: `"Caller ${this.ua.opts.user}" <sip:${this.ua.opts.user}@${this.ua.domain}>`,
      remoteUri: stripTag(getHeader(res, 'to') ?? ''), remoteTarget, localSeq: this.cseq,
    });
    d.ack(res, sdp);
    return d;
  }

  /** CANCEL the pending INVITE (9.1): same Request-URI, Call-ID, From, To, CSeq number and branch. */
  cancel(): Promise<SipResponse> {
    this.ua.sendRaw(build(`CANCEL ${this.ruri} SIP/2.0`, [
      ['Via', this.ua.via(this.branch)],
      ['Max-Forwards', '70'],
      ['From', `"Caller ${this.ua.opts.user}" <sip:${this.ua.opts.user}@${this.ua.domain}>;tag=${this.fromTag}`],
      ['To', `<${this.ruri}>`],
      ['Call-ID', this.callId],
      ['CSeq', `${this.cseq} CANCEL`],
    ]));
    const seq = this.cseq;
    return this.ua.waitResponse((r) => getCallId(r) === this.callId && getCSeq(r).method === 'CANCEL' && getCSeq(r).seq === seq);
  }
}

export interface CallUaOptions {
  /** The box's SIP port for the transport. */
  readonly boxPort: number;
  readonly transport?: UaTransport;
  readonly user: string;
  readonly password: string;
  /** Extra Contact URI parameters, as real phones send (';ob', ';line=...'). */
  readonly contactParams?: string;
  /** Extra Contact header parameters (+sip.instance, reg-id, ...). */
  readonly contactHeaderParams?: string;
}

export interface InviteOptions {
  readonly sdp?: string;
  /** Password for the digest answer; the account's by default. */
  readonly password?: string;
  /** Header names to leave out of the INVITE (hostile-input checks). */
  readonly omit?: readonly string[];
  /** The Request-URI's scheme: sips asks for TLS end to end (RFC 5630). */
  readonly scheme?: 'sip' | 'sips';
}

interface SentInvite { readonly ruri: string; readonly from: string; readonly callId: string; readonly cseq: number }

export class CallUa {
  private readonly responses: SipResponse[] = [];
  private readonly requests: Incoming[] = [];
  private readonly seen = new Map<string, Incoming>();
  private readonly invites = new Map<string, SentInvite>();
  private readonly acks = new Map<string, Buffer>();
  private readonly finals = new Set<string>();
  private readonly waiters = new Set<() => void>();
  private streamBuf = Buffer.alloc(0);
  private regCallId = `${token(72)}@call-ua-reg`;
  private regSeq = 0;
  /** Start line of every message in and out, for a failing test's diagnostics. */
  readonly trace: string[] = [];

  private constructor(
    readonly opts: CallUaOptions,
    private readonly udp: dgram.Socket | undefined,
    private readonly tcp: net.Socket | undefined,
  ) {
    udp?.on('message', (m) => this.deliver(m));
    tcp?.on('data', (chunk: Buffer) => this.onStream(chunk));
    tcp?.on('error', () => { /* the test sees missing answers */ });
  }

  static async open(opts: CallUaOptions): Promise<CallUa> {
    if (opts.transport === 'tls') {
      // The box's certificate is its own CA's; this test phone, like baresip, does not check it.
      const s = tls.connect({ host: '127.0.0.1', port: opts.boxPort, rejectUnauthorized: false });
      await once(s, 'secureConnect');
      return new CallUa(opts, undefined, s);
    }
    if ((opts.transport ?? 'udp') === 'tcp') {
      const s = net.connect({ host: '127.0.0.1', port: opts.boxPort });
      await once(s, 'connect');
      return new CallUa(opts, undefined, s);
    }
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1');
    await once(s, 'listening');
    return new CallUa(opts, s, undefined);
  }

  get transport(): UaTransport { return this.opts.transport ?? 'udp'; }
  get domain(): string { return '127.0.0.1'; }
  get localPort(): number { return this.udp ? this.udp.address().port : this.tcp?.localPort ?? 0; }
  get contactUri(): string {
    return `sip:${this.opts.user}@127.0.0.1:${this.localPort};transport=${this.transport}${this.opts.contactParams ?? ''}`;
  }

  via(branch: string): string {
    return `SIP/2.0/${this.transport.toUpperCase()} 127.0.0.1:${this.localPort};branch=${branch};rport`;
  }

  sendRaw(bytes: Buffer | string): void {
    const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    this.trace.push(`> ${b.subarray(0, Math.max(0, b.indexOf('\r\n'))).toString()}`);
    if (this.udp) this.udp.send(b, this.opts.boxPort, '127.0.0.1');
    else this.tcp?.write(b);
  }

  /** REGISTER, answering the challenge (RFC 3261 10.2, 22.2). */
  async register(expires = 600): Promise<SipResponse> {
    const send = (authorization?: string): Promise<SipResponse> => {
      const seq = ++this.regSeq;
      const ruri = `sip:${this.domain}`;
      this.sendRaw(build(`REGISTER ${ruri} SIP/2.0`, [
        ['Via', this.via(`z9hG4bK${token(72)}`)],
        ['Max-Forwards', '70'],
        ['From', `<sip:${this.opts.user}@${this.domain}>;tag=${token()}`],
        ['To', `<sip:${this.opts.user}@${this.domain}>`],
        ['Call-ID', this.regCallId],
        ['CSeq', `${seq} REGISTER`],
        ['Contact', `<${this.contactUri}>${this.opts.contactHeaderParams ?? ''}`],
        ['Expires', String(expires)],
        ...(authorization ? [['Authorization', authorization] as Hdr] : []),
      ]));
      return this.waitResponse((r) => r.status >= 200 && getCallId(r) === this.regCallId && getCSeq(r).seq === seq);
    };
    const first = await send();
    if (first.status !== 401) return first;
    const www = getHeader(first, 'www-authenticate');
    if (!www) throw new Error('401 without WWW-Authenticate');
    return send(digestAuthorization({ challenge: www, method: 'REGISTER', uri: `sip:${this.domain}`, username: this.opts.user, password: this.opts.password }));
  }

  /** Send an INVITE without credentials (body: SDP text, or anything a hostile peer sends). */
  invite(extension: string, o: InviteOptions = {}): OutgoingCall {
    const c = new OutgoingCall(this, extension, o.sdp, (o.omit ?? []).map((h) => h.toLowerCase()), o.scheme);
    c.send();
    return c;
  }

  /** INVITE, take the 401 (ACKed by the UA), and INVITE again with credentials. */
  async call(extension: string, o: InviteOptions = {}): Promise<OutgoingCall> {
    const c = this.invite(extension, o);
    const first = await c.final();
    if (first.status !== 401) throw new Error(`expected a 401 challenge, got ${first.status}`);
    c.authenticate(first, o.password);
    return c;
  }

  /** An out-of-dialog OPTIONS (11). */
  async options(): Promise<SipResponse> {
    const callId = `${token(72)}@call-ua`;
    this.sendRaw(build(`OPTIONS sip:${this.domain} SIP/2.0`, [
      ['Via', this.via(`z9hG4bK${token(72)}`)], ['Max-Forwards', '70'],
      ['From', `<sip:${this.opts.user}@${this.domain}>;tag=${token()}`], ['To', `<sip:${this.domain}>`],
      ['Call-ID', callId], ['CSeq', '1 OPTIONS'],
    ]));
    return this.waitResponse((r) => getCallId(r) === callId && r.status >= 200);
  }

  /** The next INVITE the box sends this phone. */
  async waitInvite(ms?: number): Promise<IncomingCall> {
    return new IncomingCall(this, await this.waitRequest('INVITE', (r) => toTag(r.req) === undefined, ms));
  }

  noteInvite(branch: string, s: SentInvite): void { this.invites.set(branch, s); }
  rememberAck(callId: string, seq: number, bytes: Buffer): void { this.acks.set(`${callId} ${seq}`, bytes); }

  async waitResponse(pred: (r: SipResponse) => boolean, ms = WAIT_MS): Promise<SipResponse> {
    return this.waitFor(() => {
      const i = this.responses.findIndex(pred);
      return i >= 0 ? this.responses.splice(i, 1)[0] : undefined;
    }, ms, 'response');
  }

  async waitRequest(method: string, pred: (r: Incoming) => boolean = () => true, ms = WAIT_MS): Promise<Incoming> {
    return this.waitFor(() => {
      const i = this.requests.findIndex((r) => r.method === method && pred(r));
      return i >= 0 ? this.requests.splice(i, 1)[0] : undefined;
    }, ms, `${method} request`);
  }

  /** True if a request of this method is queued or arrives within ms. */
  async sees(method: string, pred: (r: Incoming) => boolean = () => true, ms = 300): Promise<boolean> {
    try { await this.waitRequest(method, pred, ms); return true; } catch { return false; }
  }

  /** Requests received and not yet taken by the test (to prove nothing else came). */
  pending(): string[] { return this.requests.map((r) => r.method); }

  async close(): Promise<void> {
    if (this.udp) {
      const u = this.udp;
      await new Promise<void>((resolve) => u.close(() => resolve()));
    } else this.tcp?.destroy();
  }

  private async waitFor<T>(take: () => T | undefined, ms: number, what: string): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = take();
      if (v !== undefined) return v;
      const left = end - Date.now();
      if (left <= 0) throw new Error(`${this.opts.user}: no ${what} within ${ms} ms; trace:\n${this.trace.join('\n')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { this.waiters.delete(done); resolve(); }, left);
        const done = (): void => { clearTimeout(timer); resolve(); };
        this.waiters.add(done);
      });
    }
  }

  private onStream(chunk: Buffer): void {
    this.streamBuf = Buffer.concat([this.streamBuf, chunk]);
    for (;;) {
      const f = frameStream(this.streamBuf);
      if (f.kind === 'more') return;
      if (f.kind === 'error') { this.streamBuf = Buffer.alloc(0); return; }
      const unit = this.streamBuf.subarray(0, f.length);
      this.streamBuf = this.streamBuf.subarray(f.length);
      if (f.kind === 'message') this.deliver(unit);
    }
  }

  private deliver(bytes: Buffer): void {
    const p = parseMessage(bytes);
    if (!p.ok) { this.trace.push(`< (unparseable ${bytes.length} bytes)`); return; }
    const m = p.message;
    this.trace.push(`< ${m.kind === 'request' ? `${m.method} ${m.uri}` : `${m.status} ${m.reason} (${getHeader(m, 'cseq') ?? ''})`}`);
    if (m.kind === 'response') this.onResponse(m);
    else this.onRequest(m);
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  private onResponse(res: SipResponse): void {
    const cseq = getCSeq(res);
    if (cseq.method === 'INVITE' && res.status >= 300) {
      // 17.1.1.3: the client transaction ACKs a non-2xx final itself, every copy of it.
      const branch = topVia(res).branch ?? '';
      const inv = this.invites.get(branch);
      if (inv) {
        this.sendRaw(build(`ACK ${inv.ruri} SIP/2.0`, [
          ['Via', this.via(branch)], ['Max-Forwards', '70'], ['From', inv.from], ['To', getHeader(res, 'to') ?? ''],
          ['Call-ID', inv.callId], ['CSeq', `${inv.cseq} ACK`],
        ]));
      }
      if (this.finals.has(`${branch} ${res.status}`)) return;
      this.finals.add(`${branch} ${res.status}`);
    }
    if (cseq.method === 'INVITE' && res.status >= 200 && res.status < 300) {
      // A retransmitted 2xx after our ACK: ACK again (13.2.2.4), do not queue it twice.
      const ack = this.acks.get(`${getCallId(res)} ${cseq.seq}`);
      if (ack) { this.sendRaw(ack); return; }
    }
    this.responses.push(res);
  }

  private onRequest(req: SipRequest): void {
    const inc = new Incoming(this, req);
    const key = `${inc.branch} ${req.method}`;
    const before = this.seen.get(key);
    if (before && req.method !== 'ACK') { before.repeat(); return; }
    this.seen.set(key, inc);
    if (req.method === 'CANCEL') {
      // 9.2: 200 to the CANCEL, then 487 to the INVITE if it has no final answer yet.
      inc.respond(200, 'OK');
      const invite = this.seen.get(`${inc.branch} INVITE`);
      if (invite && invite.final === undefined) invite.respond(487, 'Request Terminated');
    } else if (req.method === 'BYE') {
      inc.respond(200, 'OK');
    }
    this.requests.push(inc);
  }
}

// ---------------------------------------------------------------- SDP

export interface SdpOptions {
  readonly port: number;
  /** [payload type, rtpmap encoding/rate]; G.711 mu-law and A-law, G.722, telephone-event by default. */
  readonly codecs?: ReadonlyArray<readonly [number, string]>;
  readonly direction?: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
  readonly version?: number;
  readonly extraMedia?: readonly string[];
  /** The m-line's transport profile; RTP/AVP by default. */
  readonly profile?: string;
}

export const DEFAULT_CODECS: ReadonlyArray<readonly [number, string]> = [[0, 'PCMU/8000'], [8, 'PCMA/8000'], [9, 'G722/8000'], [101, 'telephone-event/8000']];

/** A phone's SDP: one audio stream on 127.0.0.1 (RFC 4566). */
export function sdp(o: SdpOptions): string {
  const codecs = o.codecs ?? DEFAULT_CODECS;
  return [
    'v=0',
    `o=- 4242 ${o.version ?? 1} IN IP4 127.0.0.1`,
    's=call-ua',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${o.port} ${o.profile ?? 'RTP/AVP'} ${codecs.map(([pt]) => pt).join(' ')}`,
    ...codecs.map(([pt, enc]) => `a=rtpmap:${pt} ${enc}`),
    ...(codecs.some(([, enc]) => enc.startsWith('telephone-event')) ? [`a=fmtp:${codecs.find(([, e]) => e.startsWith('telephone-event'))![0]} 0-16`] : []),
    'a=ptime:20',
    `a=${o.direction ?? 'sendrecv'}`,
    ...(o.extraMedia ?? []),
    '',
  ].join(CRLF);
}

export interface SdpSummary {
  readonly address: string;
  readonly port: number;
  readonly pts: number[];
  readonly encodings: string[];
  readonly direction: string;
  readonly origin: { readonly username: string; readonly sessionId: string; readonly version: string };
  readonly mediaCount: number;
}

/** The first audio stream of an SDP body, as the test needs it. */
export function sdpOf(body: Buffer): SdpSummary {
  const sd = parseSdp(body);
  const m = sd.media.find((x) => x.type === 'audio');
  if (!m) throw new Error('no audio m-line');
  return {
    address: (m.connection ?? sd.connection)?.address ?? '',
    port: m.port,
    pts: m.formats.map(Number),
    encodings: codecsOf(m).map((c) => `${c.encoding}/${c.clockRate}`),
    direction: directionOf(sd, m),
    origin: { username: sd.origin.username, sessionId: sd.origin.sessionId, version: sd.origin.sessionVersion },
    mediaCount: sd.media.length,
  };
}

// ---------------------------------------------------------------- RTP

export interface RtpPacket {
  readonly pt: number;
  readonly seq: number;
  readonly ssrc: number;
  readonly payload: Buffer;
  readonly from: { readonly address: string; readonly port: number };
}

/** A phone's RTP socket: sends RTP (RFC 3550 5.1 fixed header) and collects what arrives. */
export class RtpPeer {
  private readonly got: RtpPacket[] = [];
  private readonly waiters = new Set<() => void>();
  private seq = cryptoRandom.int(0x8000);
  private ts = cryptoRandom.int(0x7fffffff);
  readonly ssrc = cryptoRandom.int(0x7fffffff);

  private constructor(private readonly sock: dgram.Socket) {
    sock.on('message', (m, rinfo) => {
      if (m.length < 12 || m[0]! >> 6 !== 2) return;
      this.got.push({
        pt: m[1]! & 0x7f, seq: m.readUInt16BE(2), ssrc: m.readUInt32BE(8),
        payload: m.subarray(12 + (m[0]! & 0x0f) * 4), from: { address: rinfo.address, port: rinfo.port },
      });
      for (const w of this.waiters) w();
      this.waiters.clear();
    });
  }

  static async open(): Promise<RtpPeer> {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1');
    await once(s, 'listening');
    return new RtpPeer(s);
  }

  get port(): number { return this.sock.address().port; }

  send(to: { readonly address: string; readonly port: number }, payload: Buffer, pt = 0): void {
    const h = Buffer.alloc(12);
    h[0] = 0x80;
    h[1] = pt & 0x7f;
    h.writeUInt16BE(this.seq = (this.seq + 1) & 0xffff, 2);
    h.writeUInt32BE(this.ts = (this.ts + 160) >>> 0, 4);
    h.writeUInt32BE(this.ssrc >>> 0, 8);
    this.sock.send(Buffer.concat([h, payload]), to.port, to.address);
  }

  /** The first packet (received so far or later) whose payload equals `payload`. */
  async waitPayload(payload: Buffer, ms = 2_000): Promise<RtpPacket> {
    const end = Date.now() + ms;
    for (;;) {
      const p = this.got.find((x) => x.payload.equals(payload));
      if (p) return p;
      const left = end - Date.now();
      if (left <= 0) throw new Error(`no RTP packet with payload ${payload.toString('hex').slice(0, 16)}… within ${ms} ms (got ${this.got.length})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { this.waiters.delete(done); resolve(); }, left);
        const done = (): void => { clearTimeout(timer); resolve(); };
        this.waiters.add(done);
      });
    }
  }

  /** Send a packet every 20 ms until the payload arrives at `peer` (the first packets latch the relay). */
  async sendUntil(to: { readonly address: string; readonly port: number }, peer: RtpPeer, payload: Buffer, pt = 0, ms = 2_000): Promise<RtpPacket> {
    const timer = setInterval(() => this.send(to, payload, pt), 20);
    this.send(to, payload, pt);
    try { return await peer.waitPayload(payload, ms); } finally { clearInterval(timer); }
  }

  get received(): number { return this.got.length; }

  close(): Promise<void> {
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }
}
