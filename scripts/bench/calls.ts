/**
 * Call throughput bench (`npm run bench:calls`).
 *
 * Starts the appliance with a few caller accounts and one callee whose static
 * contact is a sipp UAS, then drives calls through the box with a sipp UAC at
 * rising rates. Each call is a full B2BUA call: INVITE -> 401 -> ACK ->
 * INVITE with digest credentials -> 100/180 -> 200 -> ACK -> hold -> BYE ->
 * 200, with the box relaying every message between two dialogs and opening a
 * media session (four UDP ports) for the call's lifetime.
 *
 * Per rate: successes and failures (sipp's counters, plus the UAS's and the
 * box's call records), response time from the first INVITE to the 200 OK,
 * the achieved rate, the box's CPU time per call (/proc/<pid>/stat), calls
 * held at once (sampled from the box's status over its control socket: the
 * same request `pbx status --json` sends, without starting a node process
 * that would compete for the CPU), the box's RSS, and after the step whether
 * the box let go of every call, media session and port. Climbing stops at
 * the first rate with more than 1% failures (or a leak, or a shortfall in
 * the achieved rate); one bisection step follows. Finally the same load runs
 * from the UAC straight to the UAS (no box, no 401) at the best rate, as the
 * load generator's own latency floor.
 *
 * Options: --rates 5,10,... --min-calls N --seconds N (calls per step =
 * max(min-calls, rate*seconds)) --hold MS --callers N --refine N --keep
 * --box-node-args="--cpu-prof --cpu-prof-dir=/tmp/prof".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, hostname, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { callControl, controlSocketPath } from '../../firmware/control/index.js';
import {
  BIND, BenchError, climbAndBisect, type RunJson, boxRunArgs, busyShare, childOf, clockTicksPerSecond, cpuTicks, fmt as f, freeUdpPort, prerequisitesMet, releaseOnSignal,
  hostCpu, kv, mean, memMb, percentile, readSuffix, renderTable, runCli, runMain, sleep, tail, waitRunJson,
} from './lib.js';
import {
  type BenchAccount, CALL_RTD_NAME, NO_STATS, type SippStats, UAC_TIMEWAIT_MS, UAS_TIMEWAIT_MS, accountsCsv, injectionCsv,
  parseRttCsv, parseStatCsv, statDelta, summarizeErrors, uacScenario, uasScenario,
} from './sipp.js';
import { combined, haveKamailio, haveRtpengine, proxyConfig, type Reference, startKamailio, startRtpengine, writeSubscribers } from './kamailio.js';

export { uacScenario, uasScenario } from './sipp.js';

const DEFAULT_RATES = [5, 10, 20, 40, 80, 160, 320, 640];
const DEFAULT_MIN_CALLS = 200;
const DEFAULT_SECONDS_PER_RATE = 10;
const DEFAULT_HOLD_MS = 3_000;
const DEFAULT_CALLERS = 20;
const DEFAULT_REFINE_STEPS = 1;
const REFINE_STEP = 5;
const FIRST_CALLER = 1000;
const CALLEE = '2000';
/** A rate is steady with fewer failures than this share ... */
const MAX_FAILURE_RATIO = 0.01;
/** ... and at least this share of the asked rate achieved. */
const MIN_ACHIEVED_RATIO = 0.9;
/** A sipp call fails when an expected message has not come within this. */
const RECV_TIMEOUT_MS = 10_000;
/** The UAS waits this long for the BYE (hold time plus slack) before failing a call. */
const UAS_RECV_TIMEOUT_MS = 60_000;
/** sipp writes its stat row this often (s); readers wait a little longer. */
const STAT_EVERY_S = 1;
const BOX_RTP_PORTS = { min: 40_000, max: 49_999 };
/** sipp's media ports come from here, clear of the box's RTP range. */
const SIPP_MEDIA_PORTS = { min: 20_000, max: 39_990 };
const BOX_START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;
const STATUS_TIMEOUT_MS = 5_000;
/** After a clean step the box must be idle within this ... */
const CLEAN_TIMEOUT_MS = 20_000;
/** ... after a failing one, its timers (64*T1 for an unacknowledged 2xx, the 60 s no-answer timer) must run out first. */
const CLEAN_AFTER_FAILURE_TIMEOUT_MS = 100_000;
const SETTLE_MS = 1_000;
/** One unmeasured pass first, so the JIT has compiled the call path: rate and calls. */
const WARMUP = { rate: 20, calls: 200 };
/** The idle box's CPU is measured over this long (clock ticks are 10 ms). */
const IDLE_MEASURE_MS = 5_000;
/** Upper bound on the whole bench; every child is started under `timeout` with it. */
const BENCH_LIMIT_S = 3_600;
const RSS_SAMPLE_MS = 250;
/** Points of each step's sending phase at which the box's status is sampled. */
const STATUS_SAMPLE_AT = [0.5, 0.85];
/** rtpengine's media ports in the reference run, clear of the box's and sipp's. */
const REFERENCE_RTP_PORTS = { min: 50_000, max: 59_999 };
interface Options {
  readonly rates: readonly number[];
  readonly minCalls: number;
  readonly secondsPerRate: number;
  readonly holdMs: number;
  readonly callers: number;
  readonly refine: number;
  readonly keep: boolean;
  /** Extra node options for the box, e.g. --cpu-prof --cpu-prof-dir=/tmp/prof. */
  readonly boxNodeArgs: readonly string[];
  /** Run Kamailio (+rtpengine) at the best rate after the climb. */
  readonly reference: boolean;
  readonly referenceRounds: number;
  readonly json: string;
}

function positiveInt(name: string, v: string | undefined, dflt: number, allowZero = false): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v) || (!allowZero && Number(v) < 1)) throw new BenchError(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer`);
  return Number(v);
}

/** `--reference kamailio` (the default when Kamailio is installed; rtpengine joins it when installed) or `none`. */
function referenceArg(v: string | undefined): boolean {
  if (v === undefined) return haveKamailio();
  if (v === 'none') return false;
  if (v !== 'kamailio') throw new BenchError('--reference must be kamailio or none');
  if (!haveKamailio()) throw new BenchError('--reference kamailio: kamailio is not installed (bash scripts/bench/install.sh)');
  if (!haveRtpengine()) process.stderr.write('bench:calls: rtpengine is not installed; Kamailio runs alone\n');
  return true;
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      rates: { type: 'string' }, 'min-calls': { type: 'string' }, seconds: { type: 'string' }, hold: { type: 'string' },
      callers: { type: 'string' }, refine: { type: 'string' }, keep: { type: 'boolean' }, 'box-node-args': { type: 'string' },
      reference: { type: 'string' }, 'reference-rounds': { type: 'string' }, json: { type: 'string' },
    },
    strict: true,
  });
  const rates = values.rates === undefined ? DEFAULT_RATES : values.rates.split(',').map((r) => positiveInt('rates', r.trim(), 0));
  return {
    rates: [...rates].sort((a, b) => a - b),
    minCalls: positiveInt('min-calls', values['min-calls'], DEFAULT_MIN_CALLS),
    secondsPerRate: positiveInt('seconds', values.seconds, DEFAULT_SECONDS_PER_RATE),
    holdMs: positiveInt('hold', values.hold, DEFAULT_HOLD_MS),
    callers: positiveInt('callers', values.callers, DEFAULT_CALLERS),
    refine: positiveInt('refine', values.refine, DEFAULT_REFINE_STEPS, true),
    keep: values.keep === true,
    boxNodeArgs: values['box-node-args']?.split(/\s+/).filter((a) => a.length > 0) ?? [],
    reference: referenceArg(values.reference),
    referenceRounds: positiveInt('reference-rounds', values['reference-rounds'], 2),
    json: values.json ?? join(tmpdir(), 'pbx-bench', 'calls.json'),
  };
}

// ---------------------------------------------------------------- processes

/** A child started under `timeout`, so it dies on its own even if this bench is killed outright. */
export interface Bounded {
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  /** The program's own pid (timeout's child), once known. */
  pid(): number | undefined;
}

export function spawnBounded(cmd: string, args: readonly string[], limitS: number, cwd: string, outPath: string, env?: NodeJS.ProcessEnv): Bounded {
  const out = openSync(outPath, 'a');
  const proc = spawn('timeout', ['-k', '5', String(Math.ceil(limitS)), cmd, ...args], {
    cwd, stdio: ['ignore', out, out], ...(env ? { env } : {}),
  });
  closeSync(out);
  const exited = new Promise<number | null>((resolve) => {
    proc.once('error', () => resolve(null));
    proc.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null)));
  });
  let inner: number | undefined;
  return {
    proc, exited,
    pid: () => {
      if (inner === undefined && proc.pid !== undefined && proc.exitCode === null) inner = childOf(proc.pid);
      return inner;
    },
  };
}

/** SIGTERM to `timeout` (it passes the signal on to its program), SIGKILL after a grace period. */
export async function stop(b: Bounded | null): Promise<void> {
  if (!b || b.proc.exitCode !== null || b.proc.signalCode !== null || b.proc.pid === undefined) return;
  try { process.kill(b.proc.pid, 'SIGTERM'); } catch { return; }
  const timer = setTimeout(() => {
    const inner = b.pid();
    for (const pid of [inner, b.proc.pid]) if (pid) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  }, STOP_GRACE_MS);
  await b.exited;
  clearTimeout(timer);
}

/** Everything that must be undone however the bench ends. */
class Resources {
  box: Bounded | null = null;
  uas: Bounded | null = null;
  uac: Bounded | null = null;
  reference: Reference | null = null;
  dir = '';
  keep = false;
  private done = false;

  async release(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await stop(this.uac);
    await stop(this.box);
    await this.reference?.stop();
    await stop(this.uas);
    if (!this.dir) return;
    if (this.keep) process.stdout.write(`kept ${this.dir}\n`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}

async function startBox(res: Resources, dataDir: string, nodeArgs: readonly string[]): Promise<RunJson> {
  const box = spawnBounded(process.execPath, boxRunArgs(dataDir, nodeArgs, ['--rtp-ports', `${BOX_RTP_PORTS.min}-${BOX_RTP_PORTS.max}`, '--udp-source-rate', '0']),
    BENCH_LIMIT_S, res.dir, join(res.dir, 'box.log'), { ...process.env, PBX_LOG_LEVEL: 'warn' });
  res.box = box;
  const exited = (): string | undefined => (box.proc.exitCode !== null || box.proc.signalCode !== null
    ? `the box exited during start; see ${join(res.dir, 'box.log')}:\n${tail(join(res.dir, 'box.log'), 20)}` : undefined);
  return waitRunJson(dataDir, BOX_START_TIMEOUT_MS, exited, () => box.pid());
}

/** The box's warnings and errors (pino JSON lines, level >= 40), counted by message. */
function boxLogSummary(path: string): Array<{ message: string; count: number }> {
  const counts = new Map<string, number>();
  let text = '';
  try { text = readFileSync(path, 'utf8'); } catch { return []; }
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const r = JSON.parse(line) as { level?: unknown; msg?: unknown; err?: unknown; reason?: unknown };
      if (typeof r.level !== 'number' || r.level < 40) continue;
      const key = `${r.level >= 50 ? 'error' : 'warn'}: ${String(r.msg)}${r.err !== undefined ? ` (${String(r.err)})` : ''}${r.reason !== undefined ? ` [${String(r.reason)}]` : ''}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    } catch { /* not a log record */ }
  }
  return [...counts].map(([message, count]) => ({ message, count })).sort((a, b) => b.count - a.count);
}

export interface BoxStatus { readonly calls: number; readonly sessions: number; readonly portsInUse: number }

/** The running box's calls and media figures (the `status` command behind `pbx status --json`). */
export async function boxStatus(dataDir: string): Promise<BoxStatus | undefined> {
  try {
    const s = await callControl(controlSocketPath(dataDir), { command: 'status', args: {} }, STATUS_TIMEOUT_MS) as {
      calls?: unknown; media?: { sessions?: unknown; portsInUse?: unknown };
    };
    if (!Array.isArray(s.calls) || typeof s.media?.sessions !== 'number' || typeof s.media.portsInUse !== 'number') return undefined;
    return { calls: s.calls.length, sessions: s.media.sessions, portsInUse: s.media.portsInUse };
  } catch {
    return undefined;
  }
}

/** Wait until the box holds no call, media session or port; the figures at the end and how long it took. */
async function waitClean(dataDir: string, timeoutMs: number, alive: () => boolean): Promise<{ clean: boolean; afterMs: number; last: BoxStatus | undefined }> {
  const t0 = Date.now();
  let last: BoxStatus | undefined;
  while (Date.now() - t0 < timeoutMs && alive()) {
    last = await boxStatus(dataDir);
    if (last && last.calls === 0 && last.sessions === 0 && last.portsInUse === 0) return { clean: true, afterMs: Date.now() - t0, last };
    await sleep(500);
  }
  return { clean: false, afterMs: Date.now() - t0, last };
}

/** The box's call records written since `offset`, counted by end reason. */
function newCallRecords(dataDir: string, offset: number): { reasons: Record<string, number>; offset: number } {
  const path = join(dataDir, 'calls.jsonl');
  if (!existsSync(path)) return { reasons: {}, offset };
  const size = statSync(path).size;
  const text = readFileSync(path).subarray(offset, size).toString('utf8');
  const reasons: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as { endReason?: unknown };
      const k = typeof r.endReason === 'string' ? r.endReason : '?';
      reasons[k] = (reasons[k] ?? 0) + 1;
    } catch { reasons['unreadable'] = (reasons['unreadable'] ?? 0) + 1; }
  }
  return { reasons, offset: size };
}

// ---------------------------------------------------------------- one step

interface Bench {
  readonly res: Resources;
  readonly opts: Options;
  readonly dataDir: string;
  readonly box: RunJson;
  readonly uasPort: number;
  readonly uasDir: string;
  readonly ticksPerSec: number;
  readonly callers: readonly BenchAccount[];
  /** The idle box's own CPU use (timers, status refresh), µs per second, subtracted for the net figure. */
  idleUsPerS: number;
  uasBefore: SippStats;
  recordsOffset: number;
}

interface StepResult {
  readonly label: string;
  readonly direct: boolean;
  readonly rate: number;
  readonly calls: number;
  readonly stats: SippStats;
  readonly exitCode: number | null;
  readonly wallMs: number;
  readonly achieved: number;
  readonly rttMs: readonly number[];
  readonly cpuUsPerCall: number;
  /** cpuUsPerCall less what the idle box would have used over the same time. */
  readonly netCpuUsPerCall: number;
  readonly boxCpuPercent: number;
  /** All CPUs of the host, busy share over the step: other work on the host shows here. */
  readonly hostBusyPercent: number;
  readonly uacCpuPercent: number;
  readonly uasCpuPercent: number;
  readonly load1: number;
  /** Little's law: rate x (hold + setup). */
  readonly concurrentExpected: number;
  readonly sampled: readonly BoxStatus[];
  readonly rssPeakMb: number;
  readonly clean?: { clean: boolean; afterMs: number; last: BoxStatus | undefined };
  /** The box process ended during the step (crashed). */
  readonly boxDied: boolean;
  readonly boxExit: string;
  readonly boxLogTail: string;
  readonly uas: SippStats;
  readonly records: Readonly<Record<string, number>>;
  readonly errors: ReadonlyArray<{ message: string; count: number }>;
  readonly steady: boolean;
  readonly why: string;
}

/** A reference proxy the UAC calls through instead of the box (Kamailio, with rtpengine when it runs). */
interface ProxyTarget { readonly port: number; readonly ref: Reference }

async function runStep(bench: Bench, rate: number, calls: number, direct: boolean, name?: string, proxy?: ProxyTarget): Promise<StepResult> {
  const { res, opts, box, ticksPerSec } = bench;
  const label = name ?? `${proxy ? proxy.ref.name : direct ? 'direct' : 'box'}-${rate}`;
  const dir = join(res.dir, label);
  mkdirSync(dir);
  writeFileSync(join(dir, 'uac.xml'), uacScenario(!direct || proxy !== undefined, opts.holdMs));
  writeFileSync(join(dir, 'callers.csv'), injectionCsv(bench.callers, CALLEE), { mode: 0o600 });
  const target = proxy ? proxy.port : direct ? bench.uasPort : box.ports.sipUdp;
  const sendS = calls / rate;
  const limitS = Math.ceil((sendS + opts.holdMs / 1000) * 2 + RECV_TIMEOUT_MS / 1000 * 3 + 30);
  const args = [
    '-sf', 'uac.xml', '-inf', 'callers.csv', `${BIND}:${target}`,
    '-i', BIND, '-p', String(await freeUdpPort()), '-mp', String(await freeUdpPort(4, SIPP_MEDIA_PORTS)), '-t', 'u1',
    '-m', String(calls), '-r', String(rate), '-rp', '1000',
    // No cap on calls at once below what the rate and hold time need.
    '-l', String(Math.ceil(rate * ((opts.holdMs + UAC_TIMEWAIT_MS + RECV_TIMEOUT_MS) / 1000)) + 100),
    '-recv_timeout', String(RECV_TIMEOUT_MS), '-timeout', `${limitS}s`, '-timeout_error',
    '-trace_stat', '-fd', String(STAT_EVERY_S), '-trace_rtt', '-rtt_freq', '1', '-trace_err', '-trace_screen', '-nostdin',
    // Messages that reach a call in its hold or final wait are late retransmissions (a 200 for a
    // BYE the box answered slowly): ignore them rather than abort a call that already succeeded.
    '-pause_msg_ign',
  ];
  const boxPid = box.pid;
  const uasPid = res.uas?.pid();
  const cpu0 = proxy ? proxy.ref.cpuTicks() : cpuTicks(boxPid);
  const uas0 = uasPid !== undefined ? cpuTicks(uasPid) : NaN;
  const host0 = hostCpu();
  const t0 = Date.now();
  const uac = spawnBounded('sipp', args, limitS + 10, dir, join(dir, 'sipp.out'));
  res.uac = uac;

  // While sipp runs: the box's RSS often, its status at a few points of the sending phase, sipp's CPU.
  const rssNow = (): number => (proxy ? proxy.ref.rssMb() : direct ? NaN : memMb(boxPid, 'VmRSS'));
  let rssPeak = rssNow();
  let uacTicks = NaN;
  const sampled: BoxStatus[] = [];
  const pendingSamples = direct ? [] : STATUS_SAMPLE_AT.map((f) => t0 + f * sendS * 1000);
  let running = true;
  void uac.exited.then(() => { running = false; });
  while (running) {
    await Promise.race([uac.exited, sleep(RSS_SAMPLE_MS)]);
    if (!running) break;
    const rss = rssNow();
    if (Number.isFinite(rss) && !(rss <= rssPeak)) rssPeak = rss;
    const sp = uac.pid();
    if (sp !== undefined) { const t = cpuTicks(sp); if (Number.isFinite(t)) uacTicks = t; }
    if (pendingSamples.length && Date.now() >= (pendingSamples[0] ?? Infinity)) {
      pendingSamples.shift();
      const s = await boxStatus(bench.dataDir);
      if (s) sampled.push(s);
    }
  }
  const exitCode = await uac.exited;
  const wallMs = Date.now() - t0;
  res.uac = null;
  const cpu1 = proxy ? proxy.ref.cpuTicks() : cpuTicks(boxPid);
  const uas1 = uasPid !== undefined ? cpuTicks(uasPid) : NaN;
  const host1 = hostCpu();
  const load1 = loadavg()[0] ?? NaN;

  // The box must let go of everything; the UAS's stat row must catch up with its timewait.
  const failedSome = exitCode !== 0;
  const alive = (): boolean => res.box !== null && res.box.proc.exitCode === null && res.box.proc.signalCode === null;
  const clean = direct ? undefined : await waitClean(bench.dataDir, failedSome ? CLEAN_AFTER_FAILURE_TIMEOUT_MS : CLEAN_TIMEOUT_MS, alive);
  const boxDied = !direct && !alive();
  const boxExit = boxDied ? String(res.box?.proc.exitCode ?? res.box?.proc.signalCode) : '';
  const boxLogTail = boxDied ? tail(join(res.dir, 'box.log'), 14) : '';
  const waited = Date.now() - t0 - wallMs;
  await sleep(Math.max(0, UAS_TIMEWAIT_MS + STAT_EVERY_S * 1000 + 700 - waited));
  const uasNow = parseStatCsv(readSuffix(bench.uasDir, '_.csv')) ?? bench.uasBefore;
  const uas = statDelta(uasNow, bench.uasBefore);
  bench.uasBefore = uasNow;
  const rec = newCallRecords(bench.dataDir, bench.recordsOffset);
  bench.recordsOffset = rec.offset;

  const stats = parseStatCsv(readSuffix(dir, '_.csv')) ?? { ...NO_STATS, failed: calls, failures: { NoStatFile: calls } };
  const rtt = parseRttCsv(readSuffix(dir, '_rtt.csv'), CALL_RTD_NAME);
  const errors = summarizeErrors(readSuffix(dir, '_errors.log'), 5, true);
  // Achieved rate: answers per second between the first and the last 200 OK.
  const first = Math.min(...rtt.atMs);
  const last = Math.max(...rtt.atMs);
  const achieved = rtt.atMs.length > 1 && last > first ? ((rtt.atMs.length - 1) * 1000) / (last - first) : NaN;
  const cpuUs = ((cpu1 - cpu0) * 1e6) / ticksPerSec;
  const total = stats.successful + stats.failed;
  const failRatio = total > 0 ? stats.failed / total : 1;

  let why = 'ok';
  if (boxDied) why = 'BOX EXITED';
  else if (exitCode === 124 || exitCode === 137 || exitCode === null) why = `sipp did not finish (${exitCode})`;
  else if (exitCode !== 0 && exitCode !== 1) why = `sipp exited with ${exitCode}`;
  else if (total < calls) why = `only ${total} of ${calls} calls ended`;
  else if (failRatio > MAX_FAILURE_RATIO) why = `${(failRatio * 100).toFixed(2)}% failed`;
  else if (!(achieved >= rate * MIN_ACHIEVED_RATIO)) why = `achieved only ${f(achieved)}/s`;
  else if (clean && !clean.clean) why = 'box not clean (leak)';
  else if (stats.failed > 0) why = `ok (${stats.failed} failed)`;

  return {
    label, direct, rate, calls, stats, exitCode, wallMs, achieved, rttMs: rtt.ms,
    cpuUsPerCall: (!direct || proxy) && stats.successful > 0 ? cpuUs / stats.successful : NaN,
    netCpuUsPerCall: !direct && stats.successful > 0 ? (cpuUs - (bench.idleUsPerS * wallMs) / 1000) / stats.successful : NaN,
    boxCpuPercent: direct && !proxy ? NaN : (cpuUs / 1000 / wallMs) * 100,
    hostBusyPercent: 100 * busyShare(host0, host1),
    uacCpuPercent: (((uacTicks * 1e6) / ticksPerSec) / 1000 / wallMs) * 100,
    uasCpuPercent: ((((uas1 - uas0) * 1e6) / ticksPerSec) / 1000 / wallMs) * 100,
    load1,
    concurrentExpected: rate * ((opts.holdMs + (percentile(rtt.ms, 50) || 0)) / 1000),
    sampled, rssPeakMb: rssPeak, ...(clean ? { clean } : {}), boxDied, boxExit, boxLogTail, uas, records: rec.reasons, errors,
    steady: why.startsWith('ok'), why,
  };
}

// ---------------------------------------------------------------- report

const maxOf = (xs: readonly number[]): number => (xs.length ? Math.max(...xs) : NaN);

function heldAtOnce(r: StepResult): number {
  return maxOf(r.sampled.map((s) => s.calls));
}

function table(results: readonly StepResult[]): string {
  const head = ['rate/s', 'calls', 'ok', 'failed', 'fail%', 'retrans', 'achieved/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms',
    'held (exp)', 'held (box)', 'media sess', 'ports', 'CPU µs/call', 'net µs/call', 'box CPU%', 'UAC CPU%', 'UAS CPU%',
    'host busy%', 'load1',
    'RSS MB', 'clean', 'verdict'];
  const rows = results.map((r) => {
    const total = r.stats.successful + r.stats.failed;
    const clean = r.boxDied ? 'box died' : r.clean ? (r.clean.clean ? `yes ${f(r.clean.afterMs / 1000, 1)}s` : `NO ${r.clean.last ? `${r.clean.last.calls}c/${r.clean.last.sessions}s/${r.clean.last.portsInUse}p` : '?'}`) : '-';
    return [
      String(r.rate), String(r.calls), String(r.stats.successful), String(r.stats.failed),
      f(total > 0 ? (100 * r.stats.failed) / total : NaN, 2), String(r.stats.retransmissions), f(r.achieved, 1),
      f(percentile(r.rttMs, 50)), f(percentile(r.rttMs, 90)), f(percentile(r.rttMs, 99)), f(percentile(r.rttMs, 100)),
      f(r.concurrentExpected), f(heldAtOnce(r)), f(maxOf(r.sampled.map((s) => s.sessions))), f(maxOf(r.sampled.map((s) => s.portsInUse))),
      f(r.cpuUsPerCall), f(r.netCpuUsPerCall), f(r.boxCpuPercent), f(r.uacCpuPercent), f(r.uasCpuPercent),
      f(r.hostBusyPercent), f(r.load1, 1),
      f(r.rssPeakMb, 0), clean, r.why,
    ];
  });
  return renderTable(head, rows);
}

function report(r: StepResult): void {
  const w = (s: string): void => { process.stdout.write(`${s}\n`); };
  w(`  ${r.direct ? 'direct UAC->UAS' : 'via box'} ${r.rate}/s x ${r.calls}: ${r.stats.successful} ok, ${r.stats.failed} failed, `
    + `${f(r.achieved, 1)}/s achieved, p50 ${f(percentile(r.rttMs, 50))} ms, p99 ${f(percentile(r.rttMs, 99))} ms`
    + `${r.direct ? '' : `, ${f(r.cpuUsPerCall)} µs box CPU/call, held ${f(heldAtOnce(r))}`}, ${f(r.wallMs / 1000, 1)} s: ${r.why}`);
  if (Object.keys(r.stats.failures).length) w(`    sipp UAC failure counters: ${kv(r.stats.failures)}`);
  if (r.uas.failed > 0 || Object.keys(r.uas.failures).length) w(`    sipp UAS: ${r.uas.successful} ok, ${r.uas.failed} failed ${kv(r.uas.failures)}`);
  if (!r.direct) {
    const reasons = kv(r.records);
    const odd = Object.keys(r.records).some((k) => k !== 'bye-caller');
    if (odd || (r.records['bye-caller'] ?? 0) !== r.stats.successful) w(`    box call records: ${reasons || 'none'}`);
  }
  if (r.boxDied) w(`    THE BOX PROCESS EXITED (exit ${r.boxExit}); the end of box.log:\n${r.boxLogTail.replace(/^/gm, '      ')}`);
  else if (r.clean && !r.clean.clean) {
    w(`    LEAK: ${f(r.clean.afterMs / 1000, 1)} s after the last call the box still holds `
      + `${r.clean.last ? `${r.clean.last.calls} calls, ${r.clean.last.sessions} media sessions, ${r.clean.last.portsInUse} ports` : 'an unknown state (status unreadable)'}`);
  }
  for (const e of r.errors) w(`    sipp error log (${e.count}x): ${e.message}`);
}

function summary(steps: readonly StepResult[], direct: StepResult | undefined): string {
  const best = [...steps].filter((r) => r.steady).sort((a, b) => b.rate - a.rate)[0];
  const firstBad = [...steps].filter((r) => !r.steady).sort((a, b) => a.rate - b.rate)[0];
  const out: string[] = [];
  if (direct && best) {
    const ratio = (p: number): string => {
      const b = percentile(best.rttMs, p);
      const d = percentile(direct.rttMs, p);
      return d > 0 ? `${f(b / d, 1)}x` : `- (direct ${f(d)} ms: below sipp's clock step)`;
    };
    const md = mean(direct.rttMs);
    out.push(`reference: sipp UAC -> sipp UAS directly at ${direct.rate}/s: p50 ${f(percentile(direct.rttMs, 50))} ms, `
      + `p99 ${f(percentile(direct.rttMs, 99))} ms, mean ${f(md, 2)} ms, ${direct.stats.failed} failed, UAC CPU ${f(direct.uacCpuPercent)}%`);
    out.push(`reference: response time via box / direct: p50 ${ratio(50)}, p99 ${ratio(99)}, `
      + `mean ${md > 0 ? `${f(mean(best.rttMs) / md, 1)}x` : '-'} (the box path has two transactions, 401 then 200, and two legs)`);
  }
  const dead = steps.find((r) => r.boxDied);
  if (dead) {
    const cause = dead.boxLogTail.split('\n').find((l) => /Error|error:/.test(l)) ?? 'see box.log';
    out.push(`calls: THE BOX PROCESS EXITED during the ${dead.rate}/s step (exit ${dead.boxExit}): ${cause.trim()}`);
  }
  const leaks = steps.filter((r) => r.clean && !r.clean.clean && !r.boxDied).map((r) => `${r.rate}/s`);
  out.push(leaks.length ? `calls: LEAKS after ${leaks.join(', ')}` : 'calls: the box was clean (no calls, media sessions or ports) after every step');
  if (firstBad) {
    out.push(`calls: first unsteady rate ${firstBad.rate}/s: ${firstBad.why}; box CPU ${f(firstBad.boxCpuPercent)}% of a core, `
      + `UAC ${f(firstBad.uacCpuPercent)}%, UAS ${f(firstBad.uasCpuPercent)}%; sipp ${kv(firstBad.stats.failures) || 'no failure counters'}`);
  }
  if (!best) {
    out.push('calls: no rate tried ran steady with <1% failures');
    return out.join('\n');
  }
  const held = Number.isFinite(heldAtOnce(best)) ? heldAtOnce(best) : best.concurrentExpected;
  out.push(`calls: highest steady rate with <1% failures: ${best.rate} calls/s, ${f(held)} concurrent calls, `
    + `box CPU ${f(best.cpuUsPerCall)} µs/call, peak RSS ${f(best.rssPeakMb)} MB `
    + `(p50 ${f(percentile(best.rttMs, 50))} ms, p99 ${f(percentile(best.rttMs, 99))} ms to 200 OK)`);
  return out.join('\n');
}

// ---------------------------------------------------------------- reference

/**
 * Kamailio as a stateful proxy with rtpengine (userspace) for the same
 * callers and callee; Kamailio alone when rtpengine will not start here.
 */
async function startReference(res: Resources, callers: readonly BenchAccount[], uasPort: number): Promise<{ target: ProxyTarget; note: string }> {
  const dir = join(res.dir, 'reference');
  mkdirSync(dir);
  const db = writeSubscribers(dir, callers);
  const port = await freeUdpPort();
  let rtp: (Reference & { pid: number }) | undefined;
  let why = '';
  const ngPort = await freeUdpPort();
  try {
    rtp = await startRtpengine(dir, ngPort, REFERENCE_RTP_PORTS, BENCH_LIMIT_S);
  } catch (e) {
    why = e instanceof Error ? e.message.split('\n')[0] ?? '' : String(e);
  }
  // Without rtpengine the proxy still asks for offer/answer; its rtpengine module then fails them and relays the SDP unchanged.
  const kam = await startKamailio(dir, proxyConfig(port, db, ngPort, uasPort), port, BENCH_LIMIT_S);
  const ref = rtp ? combined([kam, rtp]) : kam;
  res.reference = ref;
  return {
    target: { port, ref },
    note: rtp
      ? `kamailio (pid ${kam.pid}, stateful proxy, 401 digest, record-route) + rtpengine (pid ${rtp.pid}, userspace --table=-1, ng offer/answer/delete) on udp ${BIND}:${port}`
      : `kamailio alone (pid ${kam.pid}) on udp ${BIND}:${port}: rtpengine did not start: ${why}`,
  };
}

function writeCallFigures(path: string, rate: number, box: readonly StepResult[], ref: readonly StepResult[], note: string): void {
  const row = (r: StepResult): Record<string, unknown> => ({
    label: r.label, rate: r.rate, calls: r.calls, ok: r.stats.successful, failed: r.stats.failed, achievedPerS: r.achieved,
    p50Ms: percentile(r.rttMs, 50), p99Ms: percentile(r.rttMs, 99), cpuUsPerCall: r.cpuUsPerCall, cpuPercent: r.boxCpuPercent,
    hostBusyPercent: r.hostBusyPercent, rssPeakMb: r.rssPeakMb, steady: r.steady, why: r.why,
  });
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify({
    bench: 'calls', date: new Date().toISOString(), host: hostname(), cpus: cpus().length, cpuModel: cpus()[0]?.model,
    rate, reference: note, box: box.map(row), kamailio: ref.map(row),
  }, null, 2)}\n`);
}

// ---------------------------------------------------------------- main

async function main(argv: string[]): Promise<number> {
  const opts = options(argv);
  if (!prerequisitesMet('bench:calls')) return 1;
  const ticksPerSec = clockTicksPerSecond();
  const res = new Resources();
  res.keep = opts.keep;
  releaseOnSignal('bench:calls', () => res.release());

  try {
    res.dir = mkdtempSync(join(tmpdir(), 'pbx-bench-calls-'));
    const dataDir = join(res.dir, 'data');
    const uasDir = join(res.dir, 'uas');
    mkdirSync(uasDir);

    // The callee: a sipp UAS on a port of its own, reached through a static contact.
    const uasPort = await freeUdpPort();
    writeFileSync(join(uasDir, 'uas.xml'), uasScenario());
    res.uas = spawnBounded('sipp', [
      '-sf', 'uas.xml', '-i', BIND, '-p', String(uasPort), '-mp', String(await freeUdpPort(4, SIPP_MEDIA_PORTS)), '-t', 'u1',
      '-recv_timeout', String(UAS_RECV_TIMEOUT_MS), '-trace_stat', '-fd', String(STAT_EVERY_S), '-trace_err', '-nostdin',
    ], BENCH_LIMIT_S, uasDir, join(uasDir, 'sipp.out'));

    const callers: BenchAccount[] = Array.from({ length: opts.callers }, (_, i) => ({
      extension: String(FIRST_CALLER + i), password: `c${randomBytes(8).toString('hex')}`,
    }));
    const csvPath = join(res.dir, 'accounts.csv');
    writeFileSync(csvPath, accountsCsv(callers, 'caller'), { mode: 0o600 });
    runCli(['account', 'import', csvPath, '--data', dataDir]);
    runCli(['account', 'add', CALLEE, '--password', `c${randomBytes(8).toString('hex')}`, '--name', 'bench callee',
      '--contact', `sip:${CALLEE}@${BIND}:${uasPort}`, '--data', dataDir]);
    const box = await startBox(res, dataDir, opts.boxNodeArgs);
    if (res.uas.proc.exitCode !== null) throw new BenchError(`the sipp UAS exited: ${tail(join(uasDir, 'sipp.out'), 10)}`);

    process.stdout.write(
      `calls bench: box pid ${box.pid} on udp ${BIND}:${box.ports.sipUdp}, RTP ${BOX_RTP_PORTS.min}-${BOX_RTP_PORTS.max}; `
      + `${opts.callers} callers -> ${CALLEE} (static contact: sipp UAS on ${BIND}:${uasPort}); hold ${opts.holdMs} ms, no RTP; `
      + `CLK_TCK ${ticksPerSec}, ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`
      + 'each call: INVITE -> 401 -> ACK -> INVITE+digest -> 100/180 -> 200 -> ACK -> hold -> BYE -> 200; '
      + 'response time from the first INVITE to the 200 OK (sipp, whole ms)\n',
    );
    const bench: Bench = {
      res, opts, dataDir, box, uasPort, uasDir, ticksPerSec, callers, idleUsPerS: 0, uasBefore: NO_STATS, recordsOffset: 0,
    };
    const warm = await runStep(bench, WARMUP.rate, WARMUP.calls, false, 'warm-up');
    process.stdout.write('warm-up (not in the table):\n');
    report(warm);
    if (warm.stats.successful === 0) throw new BenchError('the warm-up completed no call; see the errors above and box.log');
    const idle0 = cpuTicks(box.pid);
    await sleep(IDLE_MEASURE_MS);
    bench.idleUsPerS = (((cpuTicks(box.pid) - idle0) * 1e6) / ticksPerSec) / (IDLE_MEASURE_MS / 1000);
    process.stdout.write(`idle box: ${f(bench.idleUsPerS / 1e4, 2)}% of a core (net µs/call subtracts this)\n`);

    const steps: StepResult[] = [];
    const callsFor = (rate: number): number => Math.max(opts.minCalls, rate * opts.secondsPerRate);
    const measure = async (rate: number): Promise<StepResult> => {
      await sleep(SETTLE_MS);
      const r = await runStep(bench, rate, callsFor(rate), false);
      steps.push(r);
      report(r);
      return r;
    };
    const lo = await climbAndBisect(opts.rates, opts.refine, REFINE_STEP, measure, () => !steps.some((r) => r.boxDied));
    const died = steps.some((r) => r.boxDied);

    let direct: StepResult | undefined;
    if (lo > 0) {
      await sleep(SETTLE_MS);
      direct = await runStep(bench, lo, callsFor(lo), true);
      report(direct);
    }
    // The reference at the same rate, then the box once more (interleaved; the box's best of its two runs counts).
    const refSteps: StepResult[] = [];
    const boxAgain: StepResult[] = [];
    let refNote = '';
    if (lo > 0 && !died && opts.reference) {
      const ref = await startReference(res, callers, uasPort);
      refNote = ref.note;
      process.stdout.write(`reference: ${ref.note}\n`);
      for (let i = 0; i < opts.referenceRounds; i++) {
        await sleep(SETTLE_MS);
        const k = await runStep(bench, lo, callsFor(lo), true, `${ref.target.ref.name}-${lo}-${i + 1}`, ref.target);
        refSteps.push(k);
        process.stdout.write(`  ${ref.target.ref.name}: ${f(k.cpuUsPerCall)} µs CPU/call, peak RSS ${f(k.rssPeakMb)} MB (all its processes)\n`);
        report(k);
        await sleep(SETTLE_MS);
        const b = await runStep(bench, lo, callsFor(lo), false, `box-${lo}-again-${i + 1}`);
        boxAgain.push(b);
        report(b);
      }
    }

    const sorted = [...steps].sort((a, b) => a.rate - b.rate);
    const all = direct ? [...sorted, direct] : sorted;
    process.stdout.write(`\n${table(all)}\n${direct ? '(last row: sipp UAC -> UAS directly, no box)\n' : ''}`);
    const logged = boxLogSummary(join(res.dir, 'box.log'));
    process.stdout.write(`box peak RSS over the run (VmHWM): ${died ? '- (the box exited)' : f(memMb(box.pid, 'VmHWM'))} MB; `
      + `box log: ${logged.reduce((n, l) => n + l.count, 0)} warnings/errors\n`);
    for (const l of logged.slice(0, 8)) process.stdout.write(`  box log (${l.count}x) ${l.message}\n`);
    process.stdout.write(`\n${summary(sorted, direct)}\n`);
    const uasErrors = summarizeErrors(readSuffix(uasDir, '_errors.log'), 5, true);
    for (const e of uasErrors) process.stdout.write(`sipp UAS error log, whole run (${e.count}x): ${e.message}\n`);
    if (refSteps.length) {
      const best = (xs: readonly StepResult[]): StepResult | undefined => [...xs].filter((r) => r.steady && Number.isFinite(r.cpuUsPerCall))
        .sort((a, b) => a.cpuUsPerCall - b.cpuUsPerCall)[0];
      const ours = best([...steps.filter((r) => r.rate === lo), ...boxAgain]);
      const theirs = best(refSteps);
      const name = refSteps[0]?.label.replace(/-\d+-\d+$/, '') ?? 'kamailio';
      writeCallFigures(opts.json, lo, [...steps, ...boxAgain], refSteps, refNote);
      process.stdout.write(`figures: ${opts.json}\n`);
      process.stdout.write(ours && theirs
        ? `calls: ours ${f(ours.cpuUsPerCall)} us/call, ${name} ${f(theirs.cpuUsPerCall)} us/call, ratio ${f(ours.cpuUsPerCall / theirs.cpuUsPerCall, 2)} (at ${lo}/s, best of ${1 + boxAgain.length} and ${refSteps.length} runs)\n`
        : `calls: ours ${f(ours?.cpuUsPerCall ?? NaN)} us/call, ${name} ${f(theirs?.cpuUsPerCall ?? NaN)} us/call, ratio - (a side did not run steady at ${lo}/s)\n`);
    }
    const troubled = steps.some((r) => r.stats.failed > 0 || r.uas.failed > 0 || r.boxDied || (r.clean && !r.clean.clean));
    if (troubled && !res.keep) {
      res.keep = true;
      process.stdout.write('keeping the temp dir for its sipp logs and box.log (some calls failed)\n');
    }
    // The box must survive and come back clean after every step; anything else fails the bench.
    return steps.some((r) => r.boxDied || (r.clean !== undefined && !r.clean.clean)) ? 1 : 0;
  } catch (e) {
    if (res.dir) {
      res.keep = true;
      const log = tail(join(res.dir, 'box.log'), 20);
      if (log) process.stderr.write(`box.log (last lines):\n${log}\n`);
    }
    throw e;
  } finally {
    await res.release();
  }
}

// Run when started as a program; importing the module (for its scenario builders) runs nothing.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) runMain('bench:calls', main);
