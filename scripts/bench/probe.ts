import { createSocket, type Socket } from 'node:dgram';
import { cryptoRandom } from '../../firmware/core/index.js';
import { digestAuthorization } from '../../firmware/sip/digest/index.js';
import { sleep } from './lib.js';
import type { BenchAccount } from './sipp.js';

/**
 * A slow, precise second opinion on latency. sipp times responses with a
 * whole-millisecond clock it refreshes once per pass of its event loop (the
 * values come in 4 ms steps on the bench VM), so alongside
 * each sipp run this probe registers a few accounts of its own at a low rate
 * and times REGISTER -> 401 -> REGISTER -> 200 with hrtime, in microseconds.
 */

/** Give up on one registration after this long (counted as a probe failure). */
export const PROBE_TIMEOUT_MS = 5_000;

interface Pending {
  readonly account: BenchAccount;
  readonly start: bigint;
  readonly timer: NodeJS.Timeout;
  readonly fromTag: string;
  stage: 'challenge' | 'final';
}

export interface ProbeResult {
  /** Full registration times, µs. */
  readonly latenciesUs: readonly number[];
  readonly failures: number;
}

/** The bits of a SIP response the probe needs; undefined for anything else. */
function readResponse(text: string): { status: number; callId: string; challenge?: string } | undefined {
  const lines = text.split('\r\n');
  const status = /^SIP\/2\.0 (\d{3}) /.exec(lines[0] ?? '');
  if (!status?.[1]) return undefined;
  let callId: string | undefined;
  let challenge: string | undefined;
  for (const line of lines.slice(1)) {
    if (line === '') break;
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'call-id' || name === 'i') callId = value;
    else if (name === 'www-authenticate' && challenge === undefined) challenge = value;
  }
  if (callId === undefined) return undefined;
  return { status: Number(status[1]), callId, ...(challenge !== undefined ? { challenge } : {}) };
}

export class RegisterProbe {
  private readonly socket: Socket;
  private readonly pending = new Map<string, Pending>();
  private latencies: number[] = [];
  private failures = 0;
  private ticker: NodeJS.Timeout | null = null;
  private next = 0;
  private localPort = 0;

  constructor(
    private readonly target: { readonly host: string; readonly port: number },
    private readonly accounts: readonly BenchAccount[],
  ) {
    this.socket = createSocket('udp4');
    this.socket.on('message', (buf) => this.onMessage(buf.toString('latin1')));
    this.socket.on('error', () => { this.failures++; });
  }

  async open(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind(0, '127.0.0.1', () => { this.socket.off('error', reject); resolve(); });
    });
    this.localPort = this.socket.address().port;
  }

  /** Start registering `perSecond` times a second; results accumulate until take(). */
  start(perSecond: number): void {
    this.latencies = [];
    this.failures = 0;
    this.ticker = setInterval(() => this.begin(), Math.max(1, Math.round(1000 / perSecond)));
  }

  /** Stop starting new registrations, wait for those in flight, and hand back the results. */
  async take(): Promise<ProbeResult> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    const deadline = Date.now() + PROBE_TIMEOUT_MS + 500;
    while (this.pending.size > 0 && Date.now() < deadline) await sleep(20);
    return { latenciesUs: this.latencies, failures: this.failures };
  }

  close(): void {
    if (this.ticker) clearInterval(this.ticker);
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    try { this.socket.close(); } catch { /* already closed */ }
  }

  private requestUri(): string {
    return `sip:${this.target.host}:${this.target.port}`;
  }

  private send(p: Pending, callId: string, cseq: number, authorization?: string): void {
    const { account } = p;
    const msg = [
      `REGISTER ${this.requestUri()} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${this.localPort};branch=z9hG4bK${cryptoRandom.token(72)}`,
      'Max-Forwards: 70',
      `From: <sip:${account.extension}@127.0.0.1>;tag=${p.fromTag}`,
      `To: <sip:${account.extension}@127.0.0.1>`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <sip:${account.extension}@127.0.0.1:${this.localPort}>`,
      ...(authorization ? [`Authorization: ${authorization}`] : []),
      'Expires: 600',
      'User-Agent: register-bench-probe',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    this.socket.send(msg, this.target.port, this.target.host);
  }

  private begin(): void {
    const account = this.accounts[this.next++ % this.accounts.length];
    if (!account) return;
    const callId = `probe-${cryptoRandom.token(72)}@127.0.0.1`;
    const timer = setTimeout(() => {
      if (this.pending.delete(callId)) this.failures++;
    }, PROBE_TIMEOUT_MS);
    const p: Pending = { account, start: process.hrtime.bigint(), timer, fromTag: cryptoRandom.token(48), stage: 'challenge' };
    this.pending.set(callId, p);
    this.send(p, callId, 1);
  }

  private onMessage(text: string): void {
    const res = readResponse(text);
    if (!res) return;
    const p = this.pending.get(res.callId);
    if (!p || res.status < 200) return;
    const fail = (): void => {
      clearTimeout(p.timer);
      this.pending.delete(res.callId);
      this.failures++;
    };
    if (p.stage === 'challenge') {
      if (res.status !== 401 || res.challenge === undefined) return fail();
      let authorization: string;
      try {
        authorization = digestAuthorization({
          challenge: res.challenge, method: 'REGISTER', uri: this.requestUri(),
          username: p.account.extension, password: p.account.password,
        });
      } catch { return fail(); }
      p.stage = 'final';
      this.send(p, res.callId, 2, authorization);
      return;
    }
    if (res.status !== 200) return fail();
    clearTimeout(p.timer);
    this.pending.delete(res.callId);
    this.latencies.push(Number(process.hrtime.bigint() - p.start) / 1000);
  }
}
