/** Builders for RTP/RTCP test packets and small in-test "phones". */
import dgram from 'node:dgram';
import type {
  EngineReply, EngineRequest, LegSecurity, LegStats, LocalMedia, RemoteInfo, RemoteMedia, SessionStats, UdpSocketFactory, UdpSocketLike, UdpType,
} from '../../firmware/media/index.js';

export interface RtpSpec {
  readonly pt?: number;
  readonly seq?: number;
  readonly ts?: number;
  readonly ssrc?: number;
  readonly marker?: boolean;
  readonly csrcs?: readonly number[];
  readonly ext?: { readonly profile: number; readonly words: number };
  readonly payload?: Uint8Array;
  /** Padding bytes to add (count byte included). */
  readonly pad?: number;
}

export function rtp(spec: RtpSpec = {}): Buffer {
  const csrcs = spec.csrcs ?? [];
  const extLen = spec.ext ? 4 + spec.ext.words * 4 : 0;
  const payload = spec.payload ?? Buffer.from('hello-rtp-payload');
  const pad = spec.pad ?? 0;
  const out = Buffer.alloc(12 + csrcs.length * 4 + extLen + payload.length + pad);
  out[0] = 0x80 | (pad ? 0x20 : 0) | (spec.ext ? 0x10 : 0) | csrcs.length;
  out[1] = (spec.marker ? 0x80 : 0) | (spec.pt ?? 0);
  out.writeUInt16BE(spec.seq ?? 1, 2);
  out.writeUInt32BE(spec.ts ?? 160, 4);
  out.writeUInt32BE(spec.ssrc ?? 0x11223344, 8);
  let off = 12;
  for (const c of csrcs) { out.writeUInt32BE(c, off); off += 4; }
  if (spec.ext) {
    out.writeUInt16BE(spec.ext.profile, off);
    out.writeUInt16BE(spec.ext.words, off + 2);
    for (let i = 0; i < spec.ext.words * 4; i++) out[off + 4 + i] = 0xe0 + (i & 0x0f);
    off += extLen;
  }
  out.set(payload, off);
  off += payload.length;
  if (pad) out[off + pad - 1] = pad;
  return out;
}

export interface ReportSpec {
  readonly ssrc: number;
  readonly fraction: number;   // 0..255
  readonly cumulative: number; // signed 24-bit
  readonly highest: number;
  readonly jitter: number;
}

/** An RTCP receiver report (PT 201) with the given report blocks. */
export function rtcpRR(senderSsrc: number, reports: readonly ReportSpec[] = []): Buffer {
  const out = Buffer.alloc(8 + reports.length * 24);
  out[0] = 0x80 | reports.length;
  out[1] = 201;
  out.writeUInt16BE(out.length / 4 - 1, 2);
  out.writeUInt32BE(senderSsrc, 4);
  reports.forEach((r, i) => {
    const o = 8 + i * 24;
    out.writeUInt32BE(r.ssrc, o);
    out[o + 4] = r.fraction;
    out.writeUIntBE(r.cumulative & 0xffffff, o + 5, 3);
    out.writeUInt32BE(r.highest, o + 8);
    out.writeUInt32BE(r.jitter, o + 12);
  });
  return out;
}

/** An SDES packet (PT 202) with one CNAME chunk, to append to a compound packet. */
export function rtcpSdes(ssrc: number, cname: string): Buffer {
  const item = Buffer.concat([Buffer.from([1, cname.length]), Buffer.from(cname), Buffer.from([0])]);
  const body = Buffer.alloc(4 + Math.ceil(item.length / 4) * 4);
  body.writeUInt32BE(ssrc, 0);
  body.set(item, 4);
  const out = Buffer.alloc(4 + body.length);
  out[0] = 0x81;
  out[1] = 202;
  out.writeUInt16BE(out.length / 4 - 1, 2);
  out.set(body, 4);
  return out;
}

export interface Received {
  readonly msg: Buffer;
  readonly from: RemoteInfo;
}

/** A "phone": a real UDP socket on loopback with a queue of what it received. */
export class Phone {
  readonly sock = dgram.createSocket('udp4');
  private readonly queue: Received[] = [];
  private waiters: ((r: Received) => void)[] = [];

  /** `address`: another loopback address (127.0.0.2, ...) plays a different host on the LAN. */
  static async open(address = '127.0.0.1'): Promise<Phone> {
    const p = new Phone();
    p.sock.on('message', (msg, rinfo) => {
      const r = { msg, from: { address: rinfo.address, port: rinfo.port } };
      const w = p.waiters.shift();
      if (w) w(r); else p.queue.push(r);
    });
    await new Promise<void>((resolve) => p.sock.bind(0, address, resolve));
    return p;
  }

  get port(): number {
    return this.sock.address().port;
  }

  get pendingCount(): number {
    return this.queue.length;
  }

  send(data: Uint8Array, port: number): Promise<void> {
    return new Promise((resolve, reject) => this.sock.send(data, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }

  /** The next datagram; rejects after `guardMs` of real time so a broken relay fails the test rather than hanging it. */
  next(guardMs = 3000): Promise<Received> {
    const r = this.queue.shift();
    if (r) return Promise.resolve(r);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== got);
        reject(new Error('no datagram arrived'));
      }, guardMs);
      const got = (x: Received): void => { clearTimeout(timer); resolve(x); };
      this.waiters.push(got);
    });
  }

  close(): void {
    this.sock.close();
  }
}

/** In-memory sockets: the test injects datagrams and reads what the engine sent. */
export class FakeSocket implements UdpSocketLike {
  port = 0;
  closed = false;
  readonly sent: { data: Buffer; port: number; address: string }[] = [];
  private onMessage: (msg: Buffer, from: RemoteInfo) => void = () => {};
  private onError: (err: Error) => void = () => {};

  constructor(private readonly net: FakeNet, readonly type: UdpType) {}

  setHandlers(onMessage: (msg: Buffer, from: RemoteInfo) => void, onError: (err: Error) => void): void {
    this.onMessage = onMessage;
    this.onError = onError;
  }

  async bind(port: number): Promise<void> {
    if (this.net.busy.has(port) || this.net.bound.has(port)) {
      throw Object.assign(new Error(`port ${port} busy`), { code: 'EADDRINUSE' });
    }
    this.port = port;
    this.net.bound.set(port, this);
  }

  send(data: Uint8Array, port: number, address: string, done: (err: Error | null) => void): void {
    this.sent.push({ data: Buffer.from(data), port, address });
    done(this.net.failSends ? new Error('send failed') : null);
  }

  close(): void {
    if (!this.closed && this.port) this.net.bound.delete(this.port);
    this.closed = true;
  }

  deliver(msg: Buffer, from: RemoteInfo): void {
    this.onMessage(msg, from);
  }

  fail(err: Error): void {
    this.onError(err);
  }
}

export class FakeNet {
  readonly busy = new Set<number>();
  readonly bound = new Map<number, FakeSocket>();
  readonly all: FakeSocket[] = [];
  failSends = false;
  readonly factory: UdpSocketFactory = (type) => {
    const s = new FakeSocket(this, type);
    this.all.push(s);
    return s;
  };

  at(port: number): FakeSocket {
    const s = this.bound.get(port);
    if (!s) throw new Error(`nothing bound at ${port}`);
    return s;
  }
}

/** Anything that takes the engine's public requests (the MediaEngine itself). */
export interface Requests {
  request(req: EngineRequest): Promise<EngineReply>;
}

/** Security for the two legs of a two-party call; a leg left out keeps what it has. */
export interface TwoLegSecurity {
  readonly a?: LegSecurity;
  readonly b?: LegSecurity;
}

/** The local ports of an 'add-leg' reply for `leg`; anything else fails the test. */
export function localOf(r: EngineReply, leg: string): LocalMedia {
  if (r.op !== 'add-leg' || r.leg !== leg) throw new Error(`expected the add-leg reply for leg ${leg}, got ${r.op}`);
  return r.local;
}

/**
 * A two-party call as call control sets it up at the caller's offer, with the
 * public requests only: create, add-leg 'a' (the caller, its remote when
 * known), add-leg 'b' (the callee, not known yet), connect a->b and b->a.
 * A refused step is thrown as is and nothing is undone: the test sees what
 * the engine kept.
 */
export async function twoLegs(
  engine: Requests, sessionId: string,
  opts: { readonly a?: RemoteMedia; readonly rtcpMux?: boolean; readonly security?: TwoLegSecurity } = {},
): Promise<{ a: LocalMedia; b: LocalMedia }> {
  const mux = opts.rtcpMux !== undefined ? { rtcpMux: opts.rtcpMux } : {};
  await engine.request({ op: 'create', sessionId });
  const a = localOf(await engine.request({
    op: 'add-leg', sessionId, leg: 'a', ...(opts.a ? { remote: opts.a } : {}), ...mux,
    ...(opts.security?.a ? { security: opts.security.a } : {}),
  }), 'a');
  const b = localOf(await engine.request({
    op: 'add-leg', sessionId, leg: 'b', ...mux, ...(opts.security?.b ? { security: opts.security.b } : {}),
  }), 'b');
  await engine.request({ op: 'connect', sessionId, from: 'a', to: 'b' });
  await engine.request({ op: 'connect', sessionId, from: 'b', to: 'a' });
  return { a, b };
}

/**
 * The callee's answer, with the public requests only: leg a keyed by the
 * answer the box gives the caller (when given), then leg b's remote and
 * security; both as the answer (`answer: true`).
 */
export async function answerB(engine: Requests, sessionId: string, b: RemoteMedia, security: TwoLegSecurity = {}): Promise<void> {
  if (security.a) await engine.request({ op: 'update-leg', sessionId, leg: 'a', security: security.a, answer: true });
  await engine.request({ op: 'update-leg', sessionId, leg: 'b', remote: b, ...(security.b ? { security: security.b } : {}), answer: true });
}

/** An SRTP protect/unprotect result that must have succeeded (a string is the drop reason). */
export function ok(r: Buffer | string): Buffer {
  if (typeof r === 'string') throw new Error(`unexpected ${r}`);
  return Buffer.from(r);
}

/** One leg's figures from a session's stats; a leg that is not there fails the test. */
export function legOf(s: SessionStats | undefined, leg: string): LegStats {
  const l = s?.legs[leg];
  if (!l) throw new Error(`no leg ${leg} in the stats`);
  return l;
}
