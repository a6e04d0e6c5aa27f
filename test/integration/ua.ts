import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { cryptoRandom } from '../../firmware/core/index.js';
import { digestAuthorization } from '../../firmware/sip/digest/index.js';
import { frameStream, getCSeq, getCallId, getHeader, parseMessage, type SipResponse } from '../../firmware/sip/message/index.js';

/**
 * A tiny SIP user agent for integration tests: sends requests as text over
 * UDP, TCP or TLS and collects the responses, answering a 401 with digest
 * credentials. Only what a registering phone needs; no transactions of its own.
 */

export type UaTransport = 'udp' | 'tcp' | 'tls';

export interface UaOptions {
  readonly transport: UaTransport;
  readonly port: number;
  readonly host?: string;
  /** The box's CA (PEM), required for TLS. */
  readonly ca?: string | Buffer;
  readonly user: string;
  readonly password: string;
  /** Host in the Request-URI, From and To; the box's address by default. */
  readonly domain?: string;
  /** A client certificate for TLS (a PKCS#12 and its passphrase), for mutual TLS. */
  readonly clientCert?: { readonly pfx: Buffer; readonly passphrase: string };
  /** The address this UA sends from (another 127.0.0.x: another source); the box's address by default. */
  readonly localAddress?: string;
}

export interface RegisterOptions {
  readonly expires?: number;
  readonly password?: string;
  /** Contact header values; the UA's own address by default; [] sends none. */
  readonly contacts?: readonly string[];
}

const WAIT_MS = 5_000;

export class TestUa {
  readonly callId = `${cryptoRandom.token(72)}@test-ua`;
  private readonly fromTag = cryptoRandom.token(48);
  private cseq = 0;
  private readonly responses: SipResponse[] = [];
  private readonly waiters = new Set<() => void>();
  private streamBuf = Buffer.alloc(0);
  /** Set when a stream connection closed. */
  closed = false;

  private constructor(
    readonly opts: UaOptions,
    private readonly udp: dgram.Socket | undefined,
    private readonly stream: net.Socket | tls.TLSSocket | undefined,
  ) {
    udp?.on('message', (msg) => this.deliver(msg));
    stream?.on('data', (chunk: Buffer) => this.onStreamData(chunk));
    stream?.on('close', () => { this.closed = true; this.wake(); });
    stream?.on('error', () => { /* surfaced as close */ });
  }

  static async open(opts: UaOptions): Promise<TestUa> {
    const host = opts.host ?? '127.0.0.1';
    if (opts.transport === 'udp') {
      const s = dgram.createSocket('udp4');
      s.bind(0, opts.localAddress ?? host);
      await once(s, 'listening');
      return new TestUa(opts, s, undefined);
    }
    if (opts.transport === 'tcp') {
      const s = net.connect({ host, port: opts.port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
      await once(s, 'connect');
      return new TestUa(opts, undefined, s);
    }
    if (opts.ca === undefined) throw new Error('TLS needs the box CA');
    const s = tls.connect({
      host, port: opts.port, ca: opts.ca, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      ...(opts.clientCert ? { pfx: opts.clientCert.pfx, passphrase: opts.clientCert.passphrase } : {}),
      // No SNI for an address; the certificate must carry it as an iPAddress SAN (RFC 6125 6.2.1).
      checkServerIdentity: (_name, cert) => tls.checkServerIdentity(host, cert),
    });
    await once(s, 'secureConnect');
    if (!s.authorized) throw new Error(`TLS peer not authorised: ${String(s.authorizationError)}`);
    return new TestUa(opts, undefined, s);
  }

  get localPort(): number {
    if (this.udp) return this.udp.address().port;
    return this.stream?.localPort ?? 0;
  }

  get domain(): string {
    return this.opts.domain ?? this.opts.host ?? '127.0.0.1';
  }

  /** The Contact URI this UA registers by default. */
  get contactUri(): string {
    return `sip:${this.opts.user}@127.0.0.1:${this.localPort};transport=${this.opts.transport}`;
  }

  sendRaw(bytes: Buffer | string): void {
    const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    if (this.udp) this.udp.send(b, this.opts.port, this.opts.host ?? '127.0.0.1');
    else this.stream?.write(b);
  }

  /** Sends one request built from the method and extra header lines; resolves with its final response. */
  async request(method: string, headers: readonly string[] = [], ruri = `sip:${this.domain}`): Promise<SipResponse> {
    const seq = ++this.cseq;
    const text = [
      `${method} ${ruri} SIP/2.0`,
      `Via: SIP/2.0/${this.opts.transport.toUpperCase()} 127.0.0.1:${this.localPort};branch=z9hG4bK${cryptoRandom.token(72)};rport`,
      'Max-Forwards: 70',
      `From: <sip:${this.opts.user}@${this.domain}>;tag=${this.fromTag}`,
      `To: <sip:${this.opts.user}@${this.domain}>`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${seq} ${method}`,
      'User-Agent: securepbx-test-ua',
      ...headers,
      'Content-Length: 0',
      '', '',
    ].join('\r\n');
    this.sendRaw(text);
    return this.waitFinal(seq);
  }

  /** REGISTER, answering a 401 once with digest credentials (RFC 3261 22.2). */
  async register(o: RegisterOptions = {}): Promise<SipResponse> {
    const contacts = o.contacts ?? [`<${this.contactUri}>`];
    const headers = [...contacts.map((c) => `Contact: ${c}`), ...(o.expires !== undefined ? [`Expires: ${o.expires}`] : [])];
    const first = await this.request('REGISTER', headers);
    if (first.status !== 401) return first;
    const challenge = getHeader(first, 'www-authenticate');
    if (challenge === undefined) throw new Error('401 without WWW-Authenticate');
    const authorization = digestAuthorization({
      challenge, method: 'REGISTER', uri: `sip:${this.domain}`, username: this.opts.user, password: o.password ?? this.opts.password,
    });
    return this.request('REGISTER', [...headers, `Authorization: ${authorization}`]);
  }

  async close(): Promise<void> {
    if (this.udp) {
      const u = this.udp;
      await new Promise<void>((resolve) => u.close(() => resolve()));
    } else if (this.stream && !this.closed) {
      this.stream.destroy();
    }
  }

  /** Resolves when a stream connection has closed (the box dropped it), false on timeout. */
  async waitClosed(ms = WAIT_MS): Promise<boolean> {
    const end = Date.now() + ms;
    while (!this.closed && Date.now() < end) await this.waitAny(end - Date.now());
    return this.closed;
  }

  private onStreamData(chunk: Buffer): void {
    this.streamBuf = Buffer.concat([this.streamBuf, chunk]);
    for (;;) {
      const f = frameStream(this.streamBuf);
      if (f.kind === 'more') return;
      if (f.kind === 'error') {
        this.streamBuf = Buffer.alloc(0);
        this.stream?.destroy();
        return;
      }
      const unit = this.streamBuf.subarray(0, f.length);
      this.streamBuf = this.streamBuf.subarray(f.length);
      if (f.kind === 'message') this.deliver(unit);
    }
  }

  private deliver(bytes: Buffer): void {
    const p = parseMessage(bytes);
    if (!p.ok || p.message.kind !== 'response') return;
    this.responses.push(p.message);
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  private waitAny(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.waiters.delete(done); resolve(); }, Math.max(0, ms));
      const done = (): void => { clearTimeout(timer); resolve(); };
      this.waiters.add(done);
    });
  }

  private async waitFinal(seq: number): Promise<SipResponse> {
    const end = Date.now() + WAIT_MS;
    for (;;) {
      const i = this.responses.findIndex((r) => r.status >= 200 && getCallId(r) === this.callId && getCSeq(r).seq === seq);
      if (i >= 0) return this.responses.splice(i, 1)[0] as SipResponse;
      if (this.closed) throw new Error(`connection closed while waiting for CSeq ${seq}`);
      if (Date.now() >= end) throw new Error(`no final response to CSeq ${seq} within ${WAIT_MS} ms`);
      await this.waitAny(end - Date.now());
    }
  }
}
