/**
 * Media bench (`npm run bench:media -- --calls N`): N bridged SDES<->SDES
 * G.711 calls' worth of SRTP through the box's media engine, and the same
 * streams through rtpengine (Debian's rtpengine-daemon, userspace: no kernel
 * table), in the same run, interleaved, best of --rounds.
 *
 * - The box (media-box.ts) is the real appliance in a child process; the
 *   bench sets each call up through the engine's seam (the requests the
 *   B2BUA sends for a bridged SDES call), so both legs are 'srtp' under keys
 *   the box holds and every packet is a hop: authenticate and decrypt on one
 *   leg, encrypt and tag on the other.
 * - rtpengine is set up over its ng protocol (ng.ts): offer with the
 *   caller's a=crypto, answer with the callee's; it answers each side with
 *   keys of its own, so it does the same hop.
 * - The load generator (media-load.ts, --gens child processes) plays 2N
 *   phones: 50 packets/s each, every packet authenticated and checked at
 *   the other end (loss counts what did not arrive genuine).
 * - While the box carries the load, a SIP probe asks it OPTIONS and
 *   REGISTER (digest) over UDP, 10/s each, timed with hrtime.
 *
 * Relay CPU per packet: the relay process's utime+stime (all threads) over
 * the sending window plus drain, divided by packets sent to it. For the box
 * the main thread's share is reported too (today the engine runs on it).
 *
 * Options: --calls N (100) --seconds S (10) --rounds R (1) --gens G (1)
 * --no-rtpengine --out FILE (bench-media.json).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cryptoRandom } from '../../firmware/core/index.js';
import { formatCryptoLine, offerCrypto, parseCryptoLine, srtpOptionsOf, type CryptoAttribute } from '../../firmware/keying/index.js';
import type { SrtpSessionOptions } from '../../firmware/media/srtp/index.js';
import { BenchError, busyShare, clockTicksPerSecond, cpuTicks, fmt, freeUdpPort, hostCpu, percentile, releaseOnSignal, runCli, runMain, sleep } from './lib.js';
import type { BoxCall } from './media-box.js';
import { PACKETS_PER_SECOND, type LoadResult, type LoadStream } from './media-load.js';
import { NgClient, type Bencode } from './ng.js';
import { RegisterProbe } from './probe.js';
import { accountsCsv, type BenchAccount } from './sipp.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
/**
 * The caller's phone keys AES_CM_128_HMAC_SHA1_32, the callee's
 * AES_CM_128_HMAC_SHA1_80, at the box and at rtpengine alike: rtpengine hands
 * a suite both sides share through with the offerer's own key (no hop, the
 * bytes pass untouched), so only different suites make it decrypt and
 * re-encrypt as the box does on every SDES bridge.
 */
const SUITE_A = 'AES_CM_128_HMAC_SHA1_32';
const SUITE_B = 'AES_CM_128_HMAC_SHA1_80';
const BOX_RTP = { min: 40_000, max: 49_999 };
const RTPENGINE_RTP = { min: 30_000, max: 39_999 };
const START_TIMEOUT_MS = 60_000;
/** The generators wait up to this long after sending for late packets (until 500 ms pass without one). */
const DRAIN_MS = 10_000;
const PROBE_RATE = 10;
const PROBE_ACCOUNTS = 10;
const OPTIONS_TIMEOUT_MS = 5_000;
const WARMUP_SECONDS = 3;
/** The box counts as idle below this share of one CPU over IDLE_WINDOW_MS. */
const IDLE_SHARE = 0.1;
const IDLE_WINDOW_MS = 1_000;
const IDLE_TIMEOUT_MS = 60_000;

interface Run {
  readonly target: 'box' | 'rtpengine';
  readonly round: number;
  readonly sent: number;
  readonly skipped: number;
  readonly received: number;
  readonly lossPct: number;
  readonly authFailed: number;
  readonly replayed: number;
  readonly wrongStream: number;
  readonly maxLagMs: number;
  readonly cpuUsPerPacket: number;
  readonly mainThreadUsPerPacket?: number;
  readonly hostBusyPct: number;
  readonly optionsP99Ms?: number;
  readonly registerP99Ms?: number;
  readonly probeFailures?: number;
  readonly hop: boolean;
}

// ---------------------------------------------------------------- children

function waitMessage<T>(child: ChildProcess, op: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { cleanup(); reject(new BenchError(`no '${op}' from a child within ${timeoutMs} ms`)); }, timeoutMs);
    const onMsg = (m: { op?: string; message?: string }): void => {
      if (m.op === 'error') { cleanup(); reject(new BenchError(`child: ${m.message ?? '?'}`)); }
      if (m.op === op) { cleanup(); resolve(m as T); }
    };
    const onExit = (code: number | null): void => { cleanup(); reject(new BenchError(`a child exited (${code}) before '${op}'`)); };
    const cleanup = (): void => { clearTimeout(timer); child.off('message', onMsg); child.off('exit', onExit); };
    child.on('message', onMsg);
    child.on('exit', onExit);
  });
}

function stopChild(c: ChildProcess | undefined): void {
  if (c?.pid !== undefined && c.exitCode === null && c.signalCode === null) {
    try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

function keyPair(suite: typeof SUITE_A | typeof SUITE_B): { attr: CryptoAttribute; opts: SrtpSessionOptions } {
  const attr = offerCrypto([suite], cryptoRandom)[0]!;
  return { attr, opts: srtpOptionsOf(attr) };
}

// ---------------------------------------------------------------- SIP probe

/** OPTIONS to the box every 1/rate s, timed with hrtime; latencies in ms. */
class OptionsProbe {
  private readonly sock = createSocket('udp4');
  private readonly pending = new Map<string, bigint>();
  private timer: NodeJS.Timeout | undefined;
  latencies: number[] = [];
  failures = 0;

  constructor(private readonly port: number) {
    this.sock.on('message', (m) => {
      const t = m.toString('latin1');
      const id = /\r\nCall-ID:\s*([^\r\n]+)/i.exec(t)?.[1]?.trim();
      const at = id !== undefined ? this.pending.get(id) : undefined;
      if (at === undefined || id === undefined) return;
      this.pending.delete(id);
      if (!t.startsWith('SIP/2.0 200')) this.failures++;
      else this.latencies.push(Number(process.hrtime.bigint() - at) / 1e6);
    });
  }

  async open(): Promise<void> {
    await new Promise<void>((r) => this.sock.bind(0, '127.0.0.1', r));
  }

  start(rate: number): void {
    this.latencies = [];
    this.failures = 0;
    const me = this.sock.address().port;
    this.timer = setInterval(() => {
      const id = `opt-${cryptoRandom.token(64)}`;
      const msg = [
        `OPTIONS sip:127.0.0.1:${this.port} SIP/2.0`,
        `Via: SIP/2.0/UDP 127.0.0.1:${me};branch=z9hG4bK${cryptoRandom.token(64)}`,
        'Max-Forwards: 70', `From: <sip:probe@127.0.0.1>;tag=${cryptoRandom.token(32)}`, `To: <sip:127.0.0.1:${this.port}>`,
        `Call-ID: ${id}`, 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', '',
      ].join('\r\n');
      this.pending.set(id, process.hrtime.bigint());
      setTimeout(() => { if (this.pending.delete(id)) this.failures++; }, OPTIONS_TIMEOUT_MS);
      this.sock.send(msg, this.port, '127.0.0.1');
    }, Math.round(1000 / rate));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    const end = Date.now() + OPTIONS_TIMEOUT_MS + 200;
    while (this.pending.size > 0 && Date.now() < end) await sleep(20);
  }

  close(): void {
    clearInterval(this.timer);
    try { this.sock.close(); } catch { /* closed */ }
  }
}

// ---------------------------------------------------------------- rtpengine

const sdpOf = (port: number, crypto: readonly CryptoAttribute[]): string => [
  'v=0', `o=- ${cryptoRandom.int(1e9)} 1 IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
  `m=audio ${port} RTP/SAVP 0`, 'a=rtpmap:0 PCMU/8000', 'a=sendrecv', 'a=rtcp-mux',
  ...crypto.map((c) => `a=crypto:${formatCryptoLine(c)}`), '',
].join('\r\n');

function readSdp(sdp: string): { port: number; crypto: CryptoAttribute[] } {
  const port = Number(/^m=audio (\d+) /m.exec(sdp)?.[1]);
  const crypto: CryptoAttribute[] = [];
  for (const m of sdp.matchAll(/^a=crypto:([^\r\n]+)/gm)) {
    const r = parseCryptoLine(m[1]!);
    if (r.ok) crypto.push(r.crypto);
  }
  if (!Number.isInteger(port) || port <= 0) throw new BenchError('rtpengine answered without an audio port');
  return { port, crypto };
}

async function startRtpengine(dir: string): Promise<{ child: ChildProcess; ng: NgClient }> {
  const ngPort = await freeUdpPort();
  const child = spawn('rtpengine', [
    '--config-file=none', '--foreground', '--log-stderr', '--log-level=3', '--table=-1',
    '--interface=127.0.0.1', `--listen-ng=127.0.0.1:${ngPort}`,
    `--port-min=${RTPENGINE_RTP.min}`, `--port-max=${RTPENGINE_RTP.max}`, `--pidfile=${join(dir, 'rtpengine.pid')}`,
    '--timeout=600', '--delete-delay=0',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-2000); });
  const ng = new NgClient(ngPort);
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new BenchError(`rtpengine exited: ${err.trim()}`);
    try { await ng.command({ command: 'ping' }); break; } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(200);
    }
  }
  return { child, ng };
}

interface Leg { phonePort: number; phone: ReturnType<typeof keyPair>; relayTx?: SrtpSessionOptions; relayPort?: number }

async function setupRtpengine(ng: NgClient, calls: { a: Leg; b: Leg }[], tag: string): Promise<{ ids: string[]; hop: boolean }> {
  const ids: string[] = [];
  let hop = true;
  for (let i = 0; i < calls.length; i++) {
    const { a, b } = calls[i]!;
    const callId = `${tag}-${i}`;
    ids.push(callId);
    const flags: Record<string, Bencode> = { ICE: 'remove', replace: ['origin', 'session-connection'], 'rtcp-mux': ['accept'] };
    const offer = await ng.command({ command: 'offer', 'call-id': callId, 'from-tag': 'a', sdp: sdpOf(a.phonePort, [a.phone.attr]), ...flags });
    const toB = readSdp(String(offer.sdp));
    const theirs = toB.crypto.find((c) => c.suite === SUITE_B);
    if (!theirs) throw new BenchError(`rtpengine offered no ${SUITE_B} to the callee`);
    const bAttr = { ...b.phone.attr, tag: theirs.tag };
    const answer = await ng.command({ command: 'answer', 'call-id': callId, 'from-tag': 'a', 'to-tag': 'b', sdp: sdpOf(b.phonePort, [bAttr]), ...flags });
    const toA = readSdp(String(answer.sdp));
    const aKey = toA.crypto[0];
    if (!aKey) throw new BenchError('rtpengine answered the caller without a=crypto');
    if (aKey.key.equals(bAttr.key) || theirs.key.equals(a.phone.attr.key)) hop = false;
    a.relayPort = toA.port;
    a.relayTx = srtpOptionsOf(aKey);
    b.relayPort = toB.port;
    b.relayTx = srtpOptionsOf(theirs);
  }
  return { ids, hop };
}

// ---------------------------------------------------------------- main

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      calls: { type: 'string', default: '100' }, seconds: { type: 'string', default: '10' }, rounds: { type: 'string', default: '1' },
      gens: { type: 'string', default: '1' }, 'no-rtpengine': { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench-media.json' },
    },
  });
  const n = Number(values.calls);
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const gens = Math.max(1, Math.min(Number(values.gens), n));
  if (!(n > 0) || !(seconds > 0) || !(rounds > 0)) throw new BenchError('--calls, --seconds and --rounds must be positive');
  const tck = clockTicksPerSecond();
  const dir = mkdtempSync(join(tmpdir(), 'bench-media-'));
  const children: ChildProcess[] = [];
  const probeAccounts: BenchAccount[] = Array.from({ length: PROBE_ACCOUNTS }, (_, i) => ({ extension: String(3000 + i), password: cryptoRandom.token(96) }));
  let ng: NgClient | undefined;
  let opt: OptionsProbe | undefined;
  let reg: RegisterProbe | undefined;
  const release = async (): Promise<void> => {
    opt?.close();
    reg?.close();
    ng?.close();
    for (const c of children) stopChild(c);
    rmSync(dir, { recursive: true, force: true });
  };
  releaseOnSignal('bench:media', release);
  try {
    // The box: probe accounts, then boot.
    const dataDir = join(dir, 'data');
    const csv = join(dir, 'accounts.csv');
    writeFileSync(csv, accountsCsv(probeAccounts), { mode: 0o600 });
    runCli(['account', 'import', csv, '--data', dataDir]);
    const boxChild = fork(join(HERE, 'media-box.js'), [dataDir, String(BOX_RTP.min), String(BOX_RTP.max)], {
      serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...process.env, PBX_LOG_LEVEL: 'warn' },
    });
    children.push(boxChild);
    const ready = await waitMessage<{ pid: number; sipUdp: number }>(boxChild, 'ready', START_TIMEOUT_MS);
    const options = new OptionsProbe(ready.sipUdp);
    opt = options;
    await options.open();
    const register = new RegisterProbe({ host: '127.0.0.1', port: ready.sipUdp }, probeAccounts);
    reg = register;
    await register.open();
    let rtpengine: ChildProcess | undefined;
    if (!values['no-rtpengine']) {
      const r = await startRtpengine(dir);
      rtpengine = r.child;
      ng = r.ng;
      children.push(rtpengine);
    }
    // The generators: calls split evenly, each call's two phones in one generator.
    const share = Array.from({ length: gens }, (_, g) => Math.floor(n / gens) + (g < n % gens ? 1 : 0));
    const gen: { child: ChildProcess; ports: number[] }[] = [];
    for (let g = 0; g < gens; g++) {
      const child = fork(join(HERE, 'media-load.js'), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(child);
      await waitMessage(child, 'hello', START_TIMEOUT_MS);
      child.send({ op: 'bind', phones: 2 * share[g]! });
      const { ports } = await waitMessage<{ ports: number[] }>(child, 'bound', START_TIMEOUT_MS);
      gen.push({ child, ports });
    }
    process.stdout.write(`media: ${n} calls (${2 * n} SRTP streams, ${fmt(2 * n * PACKETS_PER_SECOND)} packets/s), ${seconds} s per run, ${rounds} round(s), `
      + `${gens} generator(s); ${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);

    const runs: Run[] = [];
    const targets: ('box' | 'rtpengine')[] = rtpengine ? ['box', 'rtpengine'] : ['box'];
    const runOnce = async (target: 'box' | 'rtpengine', round: number, secs: number): Promise<Run> => {
      // Fresh keys every run; a call's phones sit in one generator.
      const calls: { g: number; a: Leg; b: Leg }[] = [];
      for (let g = 0; g < gens; g++) {
        for (let i = 0; i < share[g]!; i++) {
          calls.push({ g, a: { phonePort: gen[g]!.ports[2 * i]!, phone: keyPair(SUITE_A) }, b: { phonePort: gen[g]!.ports[2 * i + 1]!, phone: keyPair(SUITE_B) } });
        }
      }
      let hop = true;
      let ngIds: string[] = [];
      if (target === 'box') {
        for (const c of calls) { c.a.relayTx = keyPair(SUITE_A).opts; c.b.relayTx = keyPair(SUITE_B).opts; }
        const boxCalls: BoxCall[] = calls.map((c) => ({
          a: { phonePort: c.a.phonePort, rx: c.a.phone.opts, tx: c.a.relayTx! },
          b: { phonePort: c.b.phonePort, rx: c.b.phone.opts, tx: c.b.relayTx! },
        }));
        boxChild.send({ op: 'setup', calls: boxCalls });
        const { ports } = await waitMessage<{ ports: { a: number; b: number }[] }>(boxChild, 'setup-done', START_TIMEOUT_MS * 4);
        ports.forEach((p, i) => { calls[i]!.a.relayPort = p.a; calls[i]!.b.relayPort = p.b; });
      } else {
        const r = await setupRtpengine(ng!, calls, `r${round}`);
        ngIds = r.ids;
        hop = r.hop;
      }
      const streams: LoadStream[][] = gen.map(() => []);
      let id = 0;
      const perGen = new Array<number>(gens).fill(0);
      for (const c of calls) {
        const base = id;
        id += 2;
        const k = perGen[c.g]!;
        perGen[c.g] = k + 2;
        for (const [j, leg] of [[0, c.a], [1, c.b]] as const) {
          streams[c.g]!.push({
            phone: k + j, id: base + j, peerId: base + 1 - j, to: { address: '127.0.0.1', port: leg.relayPort! },
            tx: leg.phone.opts, rx: leg.relayTx!,
          });
        }
      }
      await sleep(500);
      const pid = target === 'box' ? ready.pid : rtpengine!.pid!;
      const cpu0 = cpuTicks(pid);
      const main0 = target === 'box' ? mainThreadTicks(pid) : NaN;
      const host0 = hostCpu();
      if (target === 'box') { options.start(PROBE_RATE); register.start(PROBE_RATE); }
      const results = await Promise.all(gen.map(async (g, i) => {
        g.child.send({ op: 'start', streams: streams[i], seconds: secs, drainMs: DRAIN_MS });
        return waitMessage<LoadResult>(g.child, 'done', (secs + 30) * 1000);
      }));
      const cpu1 = cpuTicks(pid);
      const main1 = target === 'box' ? mainThreadTicks(pid) : NaN;
      const host1 = hostCpu();
      let optP99: number | undefined;
      let regP99: number | undefined;
      let probeFailures: number | undefined;
      if (target === 'box') {
        const [, r] = await Promise.all([options.stop(), register.take()]);
        optP99 = percentile(options.latencies, 99);
        regP99 = percentile(r.latenciesUs.map((u) => u / 1000), 99);
        probeFailures = options.failures + r.failures;
      }
      const sum = (f: (r: LoadResult) => number): number => results.reduce((a, r) => a + f(r), 0);
      const sent = sum((r) => r.sent);
      const received = sum((r) => r.received);
      const run: Run = {
        target, round, sent, skipped: sum((r) => r.skipped), received, lossPct: sent > 0 ? (100 * (sent - received)) / sent : NaN,
        authFailed: sum((r) => r.authFailed), replayed: sum((r) => r.replayed), wrongStream: sum((r) => r.wrongStream), maxLagMs: Math.max(...results.map((r) => r.maxLagMs)),
        cpuUsPerPacket: ((cpu1 - cpu0) * 1e6) / tck / sent,
        ...(target === 'box' ? { mainThreadUsPerPacket: ((main1 - main0) * 1e6) / tck / sent } : {}),
        hostBusyPct: 100 * busyShare(host0, host1),
        ...(optP99 !== undefined ? { optionsP99Ms: optP99, registerP99Ms: regP99, probeFailures } : {}),
        hop,
      };
      process.stdout.write(`  ${round === 0 ? 'warm-up' : `round ${round}`} ${target.padEnd(9)} sent ${sent} received ${received} loss ${fmt(run.lossPct, 3)}% auth-failed ${run.authFailed} replayed ${run.replayed} `
        + `wrong-stream ${run.wrongStream} gen-lag ${fmt(run.maxLagMs, 1)} ms skipped ${run.skipped}  CPU ${fmt(run.cpuUsPerPacket, 2)} us/packet`
        + (run.mainThreadUsPerPacket !== undefined ? ` (main thread ${fmt(run.mainThreadUsPerPacket, 2)})` : '')
        + `  host busy ${fmt(run.hostBusyPct)}%`
        + (optP99 !== undefined ? `  sip p99 OPTIONS ${fmt(optP99, 1)} ms REGISTER ${fmt(regP99 ?? NaN, 1)} ms (failures ${probeFailures})` : '')
        + (target === 'rtpengine' && !hop ? '  (rtpengine passed SRTP through: no hop!)' : '') + '\n');
      if (target === 'box') {
        boxChild.send({ op: 'teardown' });
        const { counters } = await waitMessage<{ counters: Record<string, number> }>(boxChild, 'teardown-done', START_TIMEOUT_MS);
        const drops = Object.entries(counters).filter(([k, v]) => k.startsWith('media.drop.') && v > 0);
        if (drops.length) process.stdout.write(`    box drops so far: ${drops.map(([k, v]) => `${k.slice(11)}=${v}`).join(' ')}\n`);
      } else {
        for (const callId of ngIds) await ng!.command({ command: 'delete', 'call-id': callId });
      }
      return run;
    };
    // The box's first boot makes its keys and certificates: wait for it to idle, then one unmeasured run each (JIT, sockets).
    await waitIdle(ready.pid, tck);
    for (const target of targets) await runOnce(target, 0, WARMUP_SECONDS);
    for (let round = 1; round <= rounds; round++) {
      for (const target of round % 2 === 0 ? [...targets].reverse() : targets) runs.push(await runOnce(target, round, seconds));
    }
    const best = (t: Run['target']): Run | undefined => runs.filter((r) => r.target === t).sort((a, b) => a.cpuUsPerPacket - b.cpuUsPerPacket)[0];
    const box = best('box')!;
    const ref = best('rtpengine');
    const boxRuns = runs.filter((r) => r.target === 'box');
    const lossPct = Math.max(...boxRuns.map((r) => r.lossPct));
    const sipP99 = Math.max(...boxRuns.map((r) => Math.max(r.optionsP99Ms ?? NaN, r.registerP99Ms ?? NaN)));
    const ratio = ref ? box.cpuUsPerPacket / ref.cpuUsPerPacket : NaN;
    const figures = {
      bench: 'media', date: new Date().toISOString(), calls: n, seconds, rounds, gens,
      cpus: cpus().length, loadavg: loadavg(), lossPct, relayUsPerPacket: box.cpuUsPerPacket, mainThreadUsPerPacket: box.mainThreadUsPerPacket,
      rtpengineUsPerPacket: ref?.cpuUsPerPacket ?? null, ratio, sipP99Ms: sipP99, runs,
    };
    writeFileSync(values.out, `${JSON.stringify(figures, null, 2)}\n`);
    process.stdout.write(`figures written to ${values.out}\n`);
    const skipped = runs.reduce((a, r) => a + r.skipped, 0);
    if (skipped > 0) process.stdout.write(`WARNING: the generator fell behind and skipped ${skipped} packets: this N is beyond what this machine can offer, not a zero-loss result\n`);
    process.stdout.write(`media: ${n} calls, loss ${fmt(lossPct, 3)}%, relay CPU ${fmt(box.cpuUsPerPacket, 2)} us/packet, `
      + `rtpengine ${ref ? fmt(ref.cpuUsPerPacket, 2) : '-'} us/packet, ratio ${fmt(ratio, 2)}, sip p99 ${fmt(sipP99, 1)} ms\n`);
    for (const g of gen) g.child.send({ op: 'exit' });
    boxChild.send({ op: 'exit' });
    await sleep(500);
    return 0;
  } finally {
    await release();
  }
}

/** Wait until the process uses under IDLE_SHARE of a CPU (its first boot generates keys in the background). */
async function waitIdle(pid: number, tck: number): Promise<void> {
  const end = Date.now() + IDLE_TIMEOUT_MS;
  while (Date.now() < end) {
    const t0 = cpuTicks(pid);
    await sleep(IDLE_WINDOW_MS);
    if ((cpuTicks(pid) - t0) / tck < IDLE_SHARE * (IDLE_WINDOW_MS / 1000)) return;
  }
}

/** CPU ticks of a process's main thread alone (/proc/<pid>/task/<pid>/stat: the main thread's tid is the pid). */
function mainThreadTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return NaN;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) runMain('bench:media', main);
