/**
 * Dead-office recovery over TLS (`npm run bench:tls-recovery`).
 *
 * Seed 001 names it as TLS's weak point: every phone's binding lives on its
 * connection, and a restart of the box kills them all. This bench starts the
 * appliance (`pbx run`, fixed ports) with 1,000 accounts, registers 1,000
 * simulated TLS phones (Node tls clients, digest via the firmware's own
 * client code, RFC 5626 outbound: +sip.instance, reg-id, Supported: outbound,
 * CRLFCRLF keep-alives at the Flow-Timer the box offers), then restarts the
 * box with the same data folder and measures how long until the last phone is
 * reachable again, i.e. has a 200 to a REGISTER sent on a new, live
 * connection (the box then holds its binding on that flow).
 *
 * What a phone does when its connection dies (RFC 5626 section 4.5 flow
 * recovery): it reconnects after a random wait, and on each failed attempt
 * backs off, wait = min(max, base * 2^failures) * U(0.5, 1). The defaults
 * (--base-ms 1000 --max-ms 30000, first attempt after U(0, --first-ms 1000))
 * are those of a phone that watches its flow; the RFC's own base-time of
 * 30 s makes recovery that much slower and is worth a run (--base-ms 30000).
 * A phone offers its TLS session ticket on reconnect (session resumption);
 * the figure says how many resumed.
 *
 * Phones connect from 127.0.0.2 .. 127.0.0.251, a few per address as on a
 * LAN, so the box's per-address connection cap does not speak for a whole
 * office at once.
 *
 * Options: --phones N (1000) --concurrency N (initial registrations in flight, 100)
 * --base-ms --max-ms --first-ms --keep (keep the temp dir) --json PATH (figures, tls-recovery.json).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { cryptoRandom } from '../../firmware/core/index.js';
import { digestAuthorization } from '../../firmware/sip/digest/index.js';
import { frameStream, getCSeq, getHeader, parseMessage, type SipResponse } from '../../firmware/sip/message/index.js';
import {
  BIND, BenchError, boxRunArgs, clockTicksPerSecond, cpuTicks, fmt as f, freeUdpPort, percentile, releaseOnSignal, runCli, runMain, sleep, waitRunJson,
} from './lib.js';
import { accountsCsv, type BenchAccount } from './sipp.js';

const FIRST_EXTENSION = 5000;
const BOX_START_TIMEOUT_MS = 60_000;
const BOX_STOP_TIMEOUT_MS = 15_000;
/** A phone gives up one REGISTER transaction after this (RFC 3261 Timer F is 32 s; phones retry sooner). */
const TRANSACTION_TIMEOUT_MS = 10_000;
/** The whole recovery must finish within this, or the bench reports the stragglers. */
const RECOVERY_DEADLINE_MS = 300_000;
/** RFC 5626 4.4.1: keep-alives at 80-100% of Flow-Timer. */
const KEEPALIVE_SHARE = { min: 0.8, max: 1.0 };
const SOURCE_ADDRESSES = 250;

interface Options {
  readonly phones: number;
  readonly concurrency: number;
  readonly baseMs: number;
  readonly maxMs: number;
  readonly firstMs: number;
  readonly keep: boolean;
  /** Where the figures go (JSON). */
  readonly json: string;
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      phones: { type: 'string', default: '1000' }, concurrency: { type: 'string', default: '100' },
      'base-ms': { type: 'string', default: '1000' }, 'max-ms': { type: 'string', default: '30000' }, 'first-ms': { type: 'string', default: '1000' },
      keep: { type: 'boolean', default: false }, json: { type: 'string', default: 'tls-recovery.json' },
    },
  });
  const n = (name: string, v: string | undefined, min: number): number => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < min) throw new BenchError(`--${name} must be an integer >= ${min}`);
    return x;
  };
  return {
    phones: n('phones', values.phones, 1), concurrency: n('concurrency', values.concurrency, 1),
    baseMs: n('base-ms', values['base-ms'], 1), maxMs: n('max-ms', values['max-ms'], 1), firstMs: n('first-ms', values['first-ms'], 0),
    keep: values.keep === true, json: String(values.json),
  };
}

const uniform = (lo: number, hi: number): number => lo + (hi - lo) * (cryptoRandom.bytes(4).readUInt32BE(0) / 0x1_0000_0000);

/** One simulated TLS phone with RFC 5626 outbound. */
class Phone {
  private socket: tls.TLSSocket | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private readonly callId = `${cryptoRandom.token(72)}@bench-phone`;
  private readonly instance = `urn:uuid:${cryptoRandom.bytes(16).toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5')}`;
  private cseq = 0;
  private session: Buffer | undefined;
  /** The last challenge and its nonce-count: a phone reuses them on its next REGISTER, so the digest costs one round trip (RFC 7616 3.4.5). */
  private challenge: { www: string; nc: number } | undefined;
  private waiting: { seq: number; resolve: (r: SipResponse) => void } | undefined;
  private keepalive: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
  /** Time (ms, Date.now) of the last 200 on a live connection; undefined while down. */
  upSince: number | undefined;
  lastResumed = false;
  /** Whether the last registration went through on the reused challenge (one REGISTER, no 401). */
  lastDigestReused = false;
  onUp: () => void = () => {};

  constructor(readonly account: BenchAccount, private readonly localAddress: string, private readonly port: number, private readonly o: Options) {}

  /** Connect and register once; resolves true on a 200. */
  async connectAndRegister(): Promise<boolean> {
    this.dropSocket();
    let s: tls.TLSSocket;
    try {
      s = await new Promise<tls.TLSSocket>((resolve, reject) => {
        // The TCP socket first, for its source address (a phone of its own on the LAN).
        const tcp = net.connect({ host: BIND, port: this.port, localAddress: this.localAddress });
        const sock = tls.connect({
          socket: tcp, rejectUnauthorized: false,
          ...(this.session === undefined ? {} : { session: this.session }),
        });
        const timer = setTimeout(() => { sock.destroy(); reject(new Error('handshake timeout')); }, TRANSACTION_TIMEOUT_MS);
        sock.once('secureConnect', () => { clearTimeout(timer); resolve(sock); });
        sock.once('error', (e) => { clearTimeout(timer); reject(e); });
      });
    } catch {
      return false;
    }
    this.socket = s;
    this.lastResumed = s.isSessionReused();
    s.on('session', (ticket: Buffer) => { this.session = ticket; });
    s.on('data', (chunk: Buffer) => this.onData(chunk));
    s.on('error', () => { /* surfaces as close */ });
    s.once('close', () => { if (this.socket === s) this.onClosed(); });
    try {
      // Reuse the last challenge (nonce-count + 1) as a phone does; a 401 (stale, or a nonce it no longer knows) gives a fresh one.
      const reuse = this.challenge;
      if (reuse !== undefined) reuse.nc++;
      let ok = await this.register(reuse === undefined ? undefined : this.credentials(reuse.www, reuse.nc));
      this.lastDigestReused = reuse !== undefined && ok.status === 200;
      if (ok.status === 401) {
        const www = getHeader(ok, 'www-authenticate');
        if (www === undefined) return false;
        this.challenge = { www, nc: 1 };
        ok = await this.register(this.credentials(www, 1));
      }
      if (ok.status !== 200 || this.socket !== s) return false;
      this.failures = 0;
      this.upSince = Date.now();
      this.armKeepalive(Number(getHeader(ok, 'flow-timer') ?? '120'));
      this.onUp();
      return true;
    } catch {
      s.destroy();
      return false;
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.dropSocket();
  }

  private credentials(www: string, nc: number): string {
    return digestAuthorization({
      challenge: www, method: 'REGISTER', uri: `sip:${BIND}`, username: this.account.extension, password: this.account.password, nc,
    });
  }

  private register(authorization: string | undefined): Promise<SipResponse> {
    const s = this.socket;
    if (s === undefined) return Promise.reject(new Error('no connection'));
    const seq = ++this.cseq;
    const ext = this.account.extension;
    const lines = [
      `REGISTER sip:${BIND} SIP/2.0`,
      `Via: SIP/2.0/TLS ${this.localAddress}:${s.localPort ?? 0};branch=z9hG4bK${cryptoRandom.token(72)};rport`,
      'Max-Forwards: 70',
      `From: <sip:${ext}@${BIND}>;tag=${cryptoRandom.token(48)}`,
      `To: <sip:${ext}@${BIND}>`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${seq} REGISTER`,
      `Contact: <sip:${ext}@${this.localAddress}:${s.localPort ?? 0};transport=tls;ob>;+sip.instance="<${this.instance}>";reg-id=1`,
      'Supported: outbound, path',
      'Expires: 3600',
      ...(authorization === undefined ? [] : [`Authorization: ${authorization}`]),
      'User-Agent: securepbx-bench-phone',
      'Content-Length: 0', '', '',
    ];
    return new Promise<SipResponse>((resolve, reject) => {
      const timer = setTimeout(() => { this.waiting = undefined; reject(new Error('REGISTER timeout')); }, TRANSACTION_TIMEOUT_MS);
      this.waiting = { seq, resolve: (r) => { clearTimeout(timer); resolve(r); } };
      s.write(lines.join('\r\n'));
    });
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const fr = frameStream(this.buf);
      if (fr.kind === 'more') return;
      if (fr.kind === 'error') { this.socket?.destroy(); return; }
      const unit = this.buf.subarray(0, fr.length);
      this.buf = this.buf.subarray(fr.length);
      if (fr.kind !== 'message') continue;
      const p = parseMessage(unit);
      if (!p.ok || p.message.kind !== 'response' || p.message.status < 200) continue;
      const w = this.waiting;
      if (w !== undefined && getCSeq(p.message).seq === w.seq) {
        this.waiting = undefined;
        w.resolve(p.message);
      }
    }
  }

  private armKeepalive(flowTimerS: number): void {
    if (this.keepalive) clearInterval(this.keepalive);
    const every = Math.max(1, flowTimerS) * 1000 * uniform(KEEPALIVE_SHARE.min, KEEPALIVE_SHARE.max);
    this.keepalive = setInterval(() => this.socket?.write('\r\n\r\n'), every);
  }

  /** RFC 5626 4.5: the flow failed; recover after a random, growing wait. */
  private onClosed(): void {
    this.upSince = undefined;
    this.dropSocket();
    if (this.stopped) return;
    const wait = this.failures === 0
      ? uniform(0, this.o.firstMs)
      : Math.min(this.o.maxMs, this.o.baseMs * 2 ** (this.failures - 1)) * uniform(0.5, 1);
    this.retry = setTimeout(() => {
      void this.connectAndRegister().then((ok) => {
        if (!ok && !this.stopped) {
          this.failures++;
          this.onClosed();
        }
      });
    }, wait);
  }

  private dropSocket(): void {
    if (this.keepalive) clearInterval(this.keepalive);
    this.keepalive = undefined;
    const s = this.socket;
    this.socket = undefined;
    this.buf = Buffer.alloc(0);
    s?.destroy();
  }
}

class Resources {
  dir = '';
  keep = false;
  box: ChildProcess | undefined;
  phones: Phone[] = [];
  async stopBox(): Promise<void> {
    const box = this.box;
    this.box = undefined;
    if (!box || box.exitCode !== null || box.signalCode !== null) return;
    const exited = new Promise<void>((r) => box.once('exit', () => r()));
    box.kill('SIGTERM');
    const timer = setTimeout(() => box.kill('SIGKILL'), BOX_STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
  async release(): Promise<void> {
    for (const p of this.phones) p.stop();
    await this.stopBox();
    if (this.dir && !this.keep) rmSync(this.dir, { recursive: true, force: true });
  }
}

async function startBox(res: Resources, dataDir: string, sipPort: number, tlsPort: number, n: number): Promise<{ pid: number; readyAt: number }> {
  const log = openSync(join(res.dir, `box-${n}.log`), 'a');
  const box = spawn(process.execPath, boxRunArgs(dataDir, [], ['--sip-port', String(sipPort), '--tls-port', String(tlsPort)]), {
    env: { ...process.env, PBX_LOG_LEVEL: 'warn' }, stdio: ['ignore', log, log],
  });
  closeSync(log);
  res.box = box;
  rmSync(join(dataDir, 'run.json'), { force: true });
  const exited = (): string | undefined => (box.exitCode !== null || box.signalCode !== null
    ? `the box exited during start (${box.exitCode ?? box.signalCode}); see ${join(res.dir, `box-${n}.log`)}` : undefined);
  const info = await waitRunJson(dataDir, BOX_START_TIMEOUT_MS, exited, () => box.pid);
  return { pid: info.pid, readyAt: Date.now() };
}

async function main(argv: string[]): Promise<number> {
  const o = options(argv);
  const ticksPerSec = clockTicksPerSecond();
  const res = new Resources();
  res.keep = o.keep;
  releaseOnSignal('bench:tls-recovery', () => res.release());
  try {
    res.dir = mkdtempSync(join(tmpdir(), 'pbx-bench-tls-recovery-'));
    const dataDir = join(res.dir, 'data');
    const accounts: BenchAccount[] = Array.from({ length: o.phones }, (_, i) => ({
      extension: String(FIRST_EXTENSION + i), password: `b${cryptoRandom.bytes(8).toString('hex')}`,
    }));
    const csv = join(res.dir, 'accounts.csv');
    writeFileSync(csv, accountsCsv(accounts), { mode: 0o600 });
    runCli(['account', 'import', csv, '--data', dataDir]);
    // Fixed ports: the phones are configured with them, before and after the restart.
    const sipPort = await freeUdpPort(2);
    const tlsPort = sipPort + 1;

    let box = await startBox(res, dataDir, sipPort, tlsPort, 1);
    process.stdout.write(`tls-recovery bench: ${o.phones} TLS phones, box pid ${box.pid} tls ${BIND}:${tlsPort}, ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`
      + `phone flow recovery (RFC 5626 4.5): first try after U(0, ${o.firstMs}) ms, then min(${o.maxMs}, ${o.baseMs} * 2^n) * U(0.5, 1) ms\n`);

    res.phones = accounts.map((a, i) => new Phone(a, `127.0.0.${2 + (i % SOURCE_ADDRESSES)}`, tlsPort, o));
    // Initial registration, a bounded number in flight.
    const t0 = Date.now();
    let next = 0;
    let failedInitial = 0;
    await Promise.all(Array.from({ length: Math.min(o.concurrency, res.phones.length) }, async () => {
      while (next < res.phones.length) {
        const p = res.phones[next++]!;
        let ok = false;
        for (let attempt = 0; attempt < 3 && !ok; attempt++) ok = await p.connectAndRegister();
        if (!ok) failedInitial++;
      }
    }));
    if (failedInitial > 0) throw new BenchError(`${failedInitial} phones could not register before the restart; see ${res.dir}`);
    process.stdout.write(`  registered ${o.phones} phones in ${f((Date.now() - t0) / 1000, 1)} s\n`);
    await sleep(1_000); // the box writes registrations.json within 500 ms of the last change

    // The restart: stop the box (every connection dies), start it on the same data folder.
    let lastUp = 0;
    let up = 0;
    const upTimes: number[] = [];
    const restartAt = Date.now();
    for (const p of res.phones) {
      p.onUp = () => { up++; lastUp = Date.now(); upTimes.push(lastUp - restartAt); };
    }
    await res.stopBox();
    const stoppedAt = Date.now();
    box = await startBox(res, dataDir, sipPort, tlsPort, 2);
    const cpuBefore = cpuTicks(box.pid);
    const deadline = Date.now() + RECOVERY_DEADLINE_MS;
    while (up < o.phones && Date.now() < deadline) await sleep(50);
    const cpuAfter = cpuTicks(box.pid);
    const resumed = res.phones.filter((p) => p.lastResumed).length;
    const digestOnce = res.phones.filter((p) => p.lastDigestReused).length;

    const ms = (x: number): string => `${f(x / 1000, 2)} s`;
    process.stdout.write(
      `  restart: box stopped in ${ms(stoppedAt - restartAt)}, listening again ${ms(box.readyAt - restartAt)} after the stop began\n`
      + `  phones reachable again (200 on a new connection): ${up}/${o.phones}\n`
      + `  time to reachable, from the stop: p50 ${ms(percentile(upTimes, 50))}, p90 ${ms(percentile(upTimes, 90))}, last ${ms(lastUp - restartAt)}\n`
      + `  last phone reachable ${ms(lastUp - box.readyAt)} after the new box was listening\n`
      + `  TLS sessions resumed on reconnect: ${resumed}/${o.phones} (the box keeps its ticket keys in the data folder)\n`
      + `  registered with the reused challenge (one REGISTER, no 401): ${digestOnce}/${o.phones}\n`
      + `  box CPU during recovery: ${f((cpuAfter - cpuBefore) / ticksPerSec, 2)} s\n`,
    );
    if (up < o.phones) {
      process.stdout.write(`  ${o.phones - up} phones not back within ${RECOVERY_DEADLINE_MS / 1000} s\n`);
      return 1;
    }
    const figures = {
      bench: 'tls-recovery', date: new Date().toISOString(), cpus: cpus().length, phones: o.phones, baseMs: o.baseMs,
      stopS: (stoppedAt - restartAt) / 1000, listeningS: (box.readyAt - restartAt) / 1000,
      p50S: percentile(upTimes, 50) / 1000, p90S: percentile(upTimes, 90) / 1000, lastS: (lastUp - restartAt) / 1000,
      lastAfterListeningS: (lastUp - box.readyAt) / 1000, resumed, digestOnce, boxCpuS: (cpuAfter - cpuBefore) / ticksPerSec,
    };
    writeFileSync(o.json, `${JSON.stringify(figures, null, 2)}\n`);
    process.stdout.write(`  figures: ${o.json}\n`);
    process.stdout.write(`\nRESULT: the last of ${o.phones} TLS phones was reachable again ${ms(lastUp - restartAt)} after the restart began\n`);
    return 0;
  } finally {
    await res.release();
  }
}

runMain('bench:tls-recovery', main);
