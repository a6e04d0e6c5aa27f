/**
 * REGISTER throughput bench (`npm run bench:register`).
 *
 * Starts the appliance with 1,000 accounts, then drives it with sipp at a
 * series of steady rates, each a fixed number of full digest registrations
 * (REGISTER -> 401 -> REGISTER -> 200). For each rate it reports successes,
 * failures, response times (sipp's, plus a µs-precise probe), achieved rate
 * and the box's CPU time per registration from /proc/<pid>/stat. It stops
 * climbing once failures pass 1% or the achieved rate falls short, then
 * bisects between the last steady rate and the first unsteady one.
 *
 * Each rate runs at least 40 s: a UDP non-INVITE server transaction lingers
 * in Completed for Timer J (64*T1 = 32 s, RFC 3261 section 17.2.2), so only a
 * run longer than that shows the box's steady state.
 *
 * Options: --rates 50,100,... --min-calls N --seconds N --probe-rate N
 * --refine N (bisection steps) --keep (keep the temp dir)
 * --box-node-args="--cpu-prof --cpu-prof-dir=/tmp/prof".
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, hostname, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { cryptoRandom } from '../../firmware/core/index.js';
import {
  BIND, BenchError, climbAndBisect, PBX_CLI, type RunJson, boxRunArgs, busyShare, clockTicksPerSecond, cpuTicks, fmt as f, freeUdpPort, prerequisitesMet, releaseOnSignal,
  hostCpu, kv, memMb, percentile, readSuffix, renderTable, runCli, runMain, sleep, udpPortFree, waitRunJson,
} from './lib.js';
import { haveKamailio, type Reference, registrarConfig, startKamailio, writeSubscribers } from './kamailio.js';
import { RegisterProbe, type ProbeResult } from './probe.js';
import {
  type BenchAccount, NO_STATS, type SippStats, accountsCsv, injectionCsv, parseRttCsv, parseStatCsv, registerScenario,
  RTD_NAME, sippCpuSeconds, summarizeErrors,
} from './sipp.js';

const ACCOUNT_COUNT = 1000;
const FIRST_EXTENSION = 2000;
/** Accounts the latency probe registers as, kept apart from sipp's. */
const PROBE_ACCOUNT_COUNT = 10;
const PROBE_FIRST_EXTENSION = 3000;
const DEFAULT_PROBE_RATE = 5;
const WARMUP_RATE = 200;
const DEFAULT_RATES = [50, 100, 200, 400, 800, 1600, 3200];
const DEFAULT_MIN_CALLS = 2000;
const DEFAULT_SECONDS_PER_RATE = 40;
const DEFAULT_REFINE_STEPS = 2;
/** Bisection rounds rates to this step. */
const REFINE_STEP = 10;
/** A rate is steady when fewer than this share of registrations fail ... */
const MAX_FAILURE_RATIO = 0.01;
/** ... and sipp achieved at least this share of the rate asked for. */
const MIN_ACHIEVED_RATIO = 0.9;
/** sipp aborts a call when an expected message has not come within this. */
const RECV_TIMEOUT_MS = 5_000;
const BOX_START_TIMEOUT_MS = 30_000;
const BOX_STOP_TIMEOUT_MS = 10_000;
const CLI_TIMEOUT_MS = 60_000;
/** Let the box write its registrations file and go idle between rates. */
const SETTLE_MS = 2_000;
/** After an unsteady run, wait out Timer J (32 s) so its leftover transactions do not weigh on the next. */
const DRAIN_MS = 34_000;
/** `pbx status --json` lists every binding; leave room for many. */
const STATUS_MAX_BYTES = 64 * 1024 * 1024;

interface Options {
  readonly rates: readonly number[];
  readonly minCalls: number;
  readonly secondsPerRate: number;
  readonly probeRate: number;
  readonly refine: number;
  readonly keep: boolean;
  readonly boxNodeArgs: readonly string[];
  /** Run Kamailio with the same scenario at each rate, right after the box (interleaved). */
  readonly kamailio: boolean;
  /** Where the figures go as JSON. */
  readonly json: string;
}

interface RateResult {
  readonly rate: number;
  readonly calls: number;
  readonly stats: SippStats;
  readonly exitCode: number | null;
  readonly wallMs: number;
  readonly achieved: number;
  readonly rttMs: readonly number[];
  readonly probe: ProbeResult;
  readonly cpuUsPerReg: number;
  readonly cpuPercent: number;
  /** sipp's own CPU over the run, % of one core. */
  readonly sippCpuPercent: number;
  /** All CPUs of the machine, busy share over the run (other work on the host shows here). */
  readonly hostBusyPercent: number;
  readonly load1: number;
  readonly rssMb: number;
  readonly errors: ReadonlyArray<{ message: string; count: number }>;
  /** How the box's own counters moved during the run. */
  readonly counters: Readonly<Record<string, number>>;
  /** Bindings in the location service after the run. */
  readonly bindings: number;
  readonly steady: boolean;
  readonly why: string;
}

function intArg(name: string, v: string | undefined, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  if (!/^\d{1,7}$/.test(v) || Number(v) < min) throw new BenchError(`--${name} must be an integer >= ${min}`);
  return Number(v);
}

/** `--reference kamailio` (the default when Kamailio is installed) or `none`. */
function referenceArg(v: string | undefined): boolean {
  if (v === undefined) return haveKamailio();
  if (v === 'none') return false;
  if (v !== 'kamailio') throw new BenchError('--reference must be kamailio or none');
  if (!haveKamailio()) throw new BenchError('--reference kamailio: kamailio is not installed (bash scripts/bench/install.sh)');
  return true;
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      rates: { type: 'string' }, 'min-calls': { type: 'string' }, seconds: { type: 'string' },
      'probe-rate': { type: 'string' }, refine: { type: 'string' }, keep: { type: 'boolean' }, 'box-node-args': { type: 'string' },
      reference: { type: 'string' }, json: { type: 'string' },
    },
    strict: true,
  });
  const rates = values.rates === undefined ? DEFAULT_RATES : values.rates.split(',').map((r) => intArg('rates', r.trim(), 0));
  return {
    rates,
    minCalls: intArg('min-calls', values['min-calls'], DEFAULT_MIN_CALLS),
    secondsPerRate: intArg('seconds', values.seconds, DEFAULT_SECONDS_PER_RATE),
    probeRate: intArg('probe-rate', values['probe-rate'], DEFAULT_PROBE_RATE, 0),
    refine: intArg('refine', values.refine, DEFAULT_REFINE_STEPS, 0),
    keep: values.keep === true,
    boxNodeArgs: values['box-node-args']?.split(/\s+/).filter((s) => s.length > 0) ?? [],
    kamailio: referenceArg(values.reference),
    json: values.json ?? join(tmpdir(), 'pbx-bench', 'register.json'),
  };
}

function makeAccounts(count: number, first: number): BenchAccount[] {
  return Array.from({ length: count }, (_, i) => ({
    extension: String(first + i),
    // Distinct per account; hex only, so it travels through CSV and sipp's keyword unharmed.
    password: `b${cryptoRandom.bytes(8).toString('hex')}`,
  }));
}

/** Everything that must be undone however the bench ends. */
class Resources {
  box: ChildProcess | null = null;
  boxPid = 0;
  sipp: ChildProcess | null = null;
  probe: RegisterProbe | null = null;
  kamailio: Reference | null = null;
  dir = '';
  keep = false;
  private done = false;

  async release(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.probe?.close();
    await stopSipp(this.sipp);
    await stopBox(this);
    await this.kamailio?.stop();
    if (this.dir && this.keep) {
      process.stdout.write(`kept ${this.dir}\n`);
    } else if (this.dir) {
      try { rmSync(this.dir, { recursive: true, force: true, maxRetries: 5 }); } catch (e) {
        process.stderr.write(`bench:register: could not remove ${this.dir}: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
  }
}

/**
 * sipp runs as `timeout ... bash -c 'sipp ...'` in a process group of its own
 * (spawned detached; timeout leads it). sipp takes SIGTERM as "finish the calls
 * in progress", so an abandoned run gets SIGKILL, sent to that group alone.
 */
async function stopSipp(sipp: ChildProcess | null): Promise<void> {
  if (!sipp || sipp.pid === undefined || sipp.exitCode !== null || sipp.signalCode !== null) return;
  const exited = new Promise<void>((r) => sipp.once('exit', () => r()));
  try { process.kill(-sipp.pid, 'SIGKILL'); } catch { return; }
  await Promise.race([exited, sleep(BOX_STOP_TIMEOUT_MS)]);
}

async function stopBox(res: Resources): Promise<void> {
  const box = res.box;
  if (!box || box.exitCode !== null || box.signalCode !== null) return;
  const exited = new Promise<void>((r) => box.once('exit', () => r()));
  try { process.kill(res.boxPid || (box.pid ?? 0), 'SIGTERM'); } catch { return; }
  const timer = setTimeout(() => { try { box.kill('SIGKILL'); } catch { /* gone */ } }, BOX_STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

async function startBox(res: Resources, dataDir: string, nodeArgs: readonly string[]): Promise<RunJson> {
  const log = openSync(join(res.dir, 'box.log'), 'a');
  // sipp sends from one address: the per-source flood limit (200 datagrams/s) is off, as Kamailio runs without pike.
  const box = spawn(process.execPath, boxRunArgs(dataDir, nodeArgs, ['--udp-source-rate', '0']), {
    env: { ...process.env, PBX_LOG_LEVEL: 'warn' }, stdio: ['ignore', log, log],
  });
  closeSync(log);
  res.box = box;
  const exited = (): string | undefined => (box.exitCode !== null || box.signalCode !== null
    ? `the box exited during start (${box.exitCode ?? box.signalCode}); see ${join(res.dir, 'box.log')}` : undefined);
  const info = await waitRunJson(dataDir, BOX_START_TIMEOUT_MS, exited, () => box.pid);
  res.boxPid = info.pid;
  return info;
}

/** What every run shares. */
interface Bench {
  readonly res: Resources;
  readonly opts: Options;
  readonly box: RunJson;
  readonly ticksPerSec: number;
  readonly accounts: readonly BenchAccount[];
  readonly dataDir: string;
}

/** What a run registers with: the box, or the reference (no probe, no status; CPU of all its processes). */
interface Target {
  readonly name: 'box' | 'kamailio';
  readonly port: number;
  cpuTicks(): number;
  rssMb(): number;
  /**
   * sipp's SIP port, the same for every run against this target: the Contact
   * (sip:ext@127.0.0.1:port) then stays the same and each REGISTER refreshes
   * one binding, as a phone's would, instead of adding a binding per run.
   */
  sipPort: number;
}

interface BoxStatus {
  readonly counters: Record<string, number>;
  readonly bindings: number;
}

/** The running box's counters and binding count, through `pbx status --json` on its control socket. */
function boxStatus(dataDir: string): BoxStatus | undefined {
  const r = spawnSync(process.execPath, [PBX_CLI, 'status', '--json', '--data', dataDir], {
    encoding: 'utf8', timeout: CLI_TIMEOUT_MS, maxBuffer: STATUS_MAX_BYTES,
  });
  if (r.status !== 0) return undefined;
  try {
    const s = JSON.parse(r.stdout) as { counters?: Record<string, unknown>; registrations?: unknown[] };
    const counters = Object.fromEntries(Object.entries(s.counters ?? {}).filter((e): e is [string, number] => typeof e[1] === 'number'));
    return { counters, bindings: Array.isArray(s.registrations) ? s.registrations.length : NaN };
  } catch {
    return undefined;
  }
}

/** Counters that moved between two snapshots. */
function counterDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v !== (before[k] ?? 0)) out[k] = v - (before[k] ?? 0);
  return out;
}

/** Counters that mean a request was refused or lost rather than served. */
const TROUBLE = /overload|drop|block|fail|error|reject|stale|bad|limit/i;

async function runRate(bench: Bench, rate: number, calls: number, label: string, target: Target): Promise<RateResult> {
  const { res, opts, ticksPerSec, accounts, dataDir } = bench;
  const isBox = target.name === 'box';
  const status0 = isBox ? boxStatus(dataDir) : undefined;
  const runDir = join(res.dir, label);
  mkdirSync(runDir);
  writeFileSync(join(runDir, 'register.xml'), registerScenario());
  writeFileSync(join(runDir, 'accounts.csv'), injectionCsv(accounts));
  if (!(await udpPortFree(target.sipPort))) {
    const next = await freeUdpPort();
    process.stdout.write(`    (sipp's port ${target.sipPort} was taken; moving to ${next}, which adds a binding per account)\n`);
    target.sipPort = next;
  }
  const { sipPort } = target;
  const mediaPort = await freeUdpPort(4);
  const expectedS = calls / rate;
  const sippLimitS = Math.ceil(expectedS * 3 + RECV_TIMEOUT_MS / 1000 * 4 + 10);
  // bash's `times` reports sipp's CPU once it has exited, so the table can show whether sipp kept up.
  const args = [
    '-k', '5', String(sippLimitS + 10), 'bash', '-c', 'sipp "$@"; rc=$?; times > sipp.times; exit $rc', 'sipp',
    '-sf', 'register.xml', '-inf', 'accounts.csv', `${BIND}:${target.port}`,
    '-i', BIND, '-p', String(sipPort), '-mp', String(mediaPort), '-t', 'u1',
    '-m', String(calls), '-r', String(rate), '-rp', '1000',
    '-default_behaviors', '-bye', '-recv_timeout', String(RECV_TIMEOUT_MS), '-timeout', `${sippLimitS}s`, '-timeout_error',
    '-trace_stat', '-fd', '1', '-trace_rtt', '-rtt_freq', '1', '-trace_err', '-trace_screen', '-nostdin',
  ];
  const out = openSync(join(runDir, 'sipp.out'), 'w');
  const cpu0 = target.cpuTicks();
  const host0 = hostCpu();
  const t0 = process.hrtime.bigint();
  if (isBox) res.probe?.start(opts.probeRate);
  const sipp = spawn('timeout', args, { cwd: runDir, stdio: ['ignore', out, out], detached: true });
  closeSync(out);
  res.sipp = sipp;
  const exitCode = await new Promise<number | null>((resolve) => {
    sipp.once('error', () => resolve(null));
    sipp.once('exit', (code) => resolve(code));
  });
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  res.sipp = null;
  const probe = res.probe && isBox ? await res.probe.take() : { latenciesUs: [], failures: 0 };
  const cpu1 = target.cpuTicks();
  const host1 = hostCpu();
  const status1 = isBox ? boxStatus(dataDir) : undefined;
  const counters = status0 && status1 ? counterDelta(status0.counters, status1.counters) : {};
  const hostBusy = busyShare(host0, host1);

  const stats = parseStatCsv(readSuffix(runDir, '_.csv')) ?? { ...NO_STATS, failed: calls, failures: { NoStatFile: calls } };
  const rttMs = parseRttCsv(readSuffix(runDir, '_rtt.csv'), RTD_NAME).ms;
  const errors = summarizeErrors(readSuffix(runDir, '_errors.log'));
  const completed = stats.successful + probe.latenciesUs.length;
  const cpuUs = ((cpu1 - cpu0) * 1e6) / ticksPerSec;
  const achieved = stats.successful / (wallMs / 1000);
  const total = stats.successful + stats.failed;
  const failRatio = total > 0 ? stats.failed / total : 1;

  let why = 'ok';
  if (exitCode === 124 || exitCode === 137) why = 'sipp did not finish in time';
  else if (exitCode === null || (exitCode !== 0 && exitCode !== 1)) why = `sipp exited with ${exitCode}`;
  else if (total < calls) why = `only ${total} of ${calls} calls ended`;
  else if (failRatio >= MAX_FAILURE_RATIO) why = `${(failRatio * 100).toFixed(2)}% failed`;
  else if (achieved < rate * MIN_ACHIEVED_RATIO) why = `achieved only ${achieved.toFixed(0)}/s`;

  return {
    rate, calls, stats, exitCode, wallMs, achieved, rttMs, probe,
    cpuUsPerReg: completed > 0 ? cpuUs / completed : NaN,
    cpuPercent: (cpuUs / 1000 / wallMs) * 100,
    sippCpuPercent: (sippCpuSeconds(readSuffix(runDir, 'sipp.times')) * 1e5) / wallMs,
    hostBusyPercent: hostBusy * 100,
    load1: loadavg()[0] ?? NaN,
    rssMb: target.rssMb(),
    errors,
    counters,
    bindings: status1?.bindings ?? NaN,
    steady: why === 'ok',
    why,
  };
}

const probeMs = (r: RateResult): number[] => r.probe.latenciesUs.map((us) => us / 1000);

function table(results: readonly RateResult[]): string {
  const head = ['rate/s', 'regs', 'ok', 'failed', 'fail%', 'retrans', 'achieved/s', 'p50 ms', 'p99 ms', 'max ms',
    'probe p50 ms', 'probe p99 ms', 'CPU µs/reg', 'box CPU%', 'sipp CPU%', 'host busy% (all CPUs)', 'load1', 'RSS MB', 'verdict'];
  const rows = results.map((r) => {
    const total = r.stats.successful + r.stats.failed;
    return [
      String(r.rate), String(r.calls), String(r.stats.successful), String(r.stats.failed),
      f(total > 0 ? (100 * r.stats.failed) / total : NaN, 2), String(r.stats.retransmissions), f(r.achieved, 0),
      f(percentile(r.rttMs, 50)), f(percentile(r.rttMs, 99)), f(percentile(r.rttMs, 100)),
      f(percentile(probeMs(r), 50), 2), f(percentile(probeMs(r), 99), 2),
      f(r.cpuUsPerReg, 0), f(r.cpuPercent, 0), f(r.sippCpuPercent, 0), f(r.hostBusyPercent, 0), f(r.load1, 1),
      f(r.rssMb, 0), r.why,
    ];
  });
  return renderTable(head, rows);
}

function summary(results: readonly RateResult[]): string {
  const best = [...results].filter((r) => r.steady).sort((a, b) => b.rate - a.rate)[0];
  const firstBad = [...results].filter((r) => !r.steady).sort((a, b) => a.rate - b.rate)[0];
  const limit = firstBad ? `\nregister: first unsteady rate ${firstBad.rate}/s: ${firstBad.why}, `
    + `box CPU ${f(firstBad.cpuPercent)}% of a core; sipp ${kv(firstBad.stats.failures) || 'no failure counters'}; `
    + `box ${Object.entries(firstBad.counters).filter(([k]) => TROUBLE.test(k)).map(([k, v]) => `${k}=${v}`).join(' ') || 'counted no refusals'}` : '';
  if (!best) return `register: no rate tried ran steady with <1% failures${limit}`;
  return `register: highest steady rate with <1% failures: ${best.rate}/s `
    + `(p50 ${f(percentile(best.rttMs, 50))} ms, p99 ${f(percentile(best.rttMs, 99))} ms, `
    + `box CPU ${f(best.cpuUsPerReg)} µs/registration; probe p50 ${f(percentile(probeMs(best), 50), 1)} ms, `
    + `p99 ${f(percentile(probeMs(best), 99), 1)} ms)`
    + `\nregister: at ${f(best.cpuUsPerReg)} µs/registration one core would allow about ${f(Math.round(1e5 / best.cpuUsPerReg) * 10)}/s${limit}`;
}

/**
 * box/kamailio CPU per registration at the highest rate both ran steady
 * (and at every rate both ran, for the JSON).
 */
function ratioLine(box: readonly RateResult[], ref: readonly RateResult[]): { line: string; figures: Record<string, unknown> } {
  const pairs = box.map((b) => ({ b, k: ref.find((k) => k.rate === b.rate) })).filter((p): p is { b: RateResult; k: RateResult } => p.k !== undefined);
  const both = pairs.filter((p) => p.b.steady && p.k.steady).sort((x, y) => y.b.rate - x.b.rate)[0];
  const perRate = pairs.map((p) => ({ rate: p.b.rate, boxUs: p.b.cpuUsPerReg, kamailioUs: p.k.cpuUsPerReg, ratio: p.b.cpuUsPerReg / p.k.cpuUsPerReg,
    boxSteady: p.b.steady, kamailioSteady: p.k.steady }));
  const kBest = [...ref].filter((k) => k.steady).sort((x, y) => y.rate - x.rate)[0];
  if (!both) {
    return { line: `register: ratio box/kamailio: no rate ran steady on both (kamailio highest steady ${kBest ? `${kBest.rate}/s` : 'none'})`, figures: { perRate } };
  }
  const ratio = both.b.cpuUsPerReg / both.k.cpuUsPerReg;
  return {
    line: `register: ratio box/kamailio CPU per registration at ${both.b.rate}/s: ${f(ratio, 2)} `
      + `(box ${f(both.b.cpuUsPerReg)} µs/reg, kamailio ${f(both.k.cpuUsPerReg)} µs/reg; RSS box ${f(both.b.rssMb)} MB, kamailio ${f(both.k.rssMb)} MB)`,
    figures: { rate: both.b.rate, ratio, boxUs: both.b.cpuUsPerReg, kamailioUs: both.k.cpuUsPerReg, perRate },
  };
}

function writeFigures(path: string, box: readonly RateResult[], ref: readonly RateResult[], ratio: Record<string, unknown> | undefined): void {
  const row = (r: RateResult): Record<string, unknown> => {
    const total = r.stats.successful + r.stats.failed;
    return {
      rate: r.rate, registrations: r.calls, ok: r.stats.successful, failed: r.stats.failed, failPercent: total ? (100 * r.stats.failed) / total : null,
      achievedPerS: r.achieved, p50Ms: percentile(r.rttMs, 50), p99Ms: percentile(r.rttMs, 99), cpuUsPerReg: r.cpuUsPerReg,
      cpuPercent: r.cpuPercent, hostBusyPercent: r.hostBusyPercent, rssMb: r.rssMb, steady: r.steady, why: r.why,
    };
  };
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify({
    bench: 'register', date: new Date().toISOString(), host: hostname(), cpus: cpus().length, cpuModel: cpus()[0]?.model,
    box: box.map(row), kamailio: ref.map(row), ratio: ratio ?? null,
  }, null, 2)}\n`);
}

async function main(argv: string[]): Promise<number> {
  const opts = options(argv);
  if (!prerequisitesMet('bench:register')) return 1;
  const ticksPerSec = clockTicksPerSecond();
  const res = new Resources();
  res.keep = opts.keep;
  releaseOnSignal('bench:register', () => res.release());

  try {
    res.dir = mkdtempSync(join(tmpdir(), 'pbx-bench-register-'));
    const dataDir = join(res.dir, 'data');
    const accounts = makeAccounts(ACCOUNT_COUNT, FIRST_EXTENSION);
    const probeAccounts = makeAccounts(PROBE_ACCOUNT_COUNT, PROBE_FIRST_EXTENSION);
    const csvPath = join(res.dir, 'accounts-import.csv');
    writeFileSync(csvPath, accountsCsv([...accounts, ...probeAccounts]), { mode: 0o600 });
    runCli(['account', 'import', csvPath, '--data', dataDir]);
    const box = await startBox(res, dataDir, opts.boxNodeArgs);
    if (opts.probeRate > 0) {
      res.probe = new RegisterProbe({ host: BIND, port: box.ports.sipUdp }, probeAccounts);
      await res.probe.open();
    }

    process.stdout.write(
      `register bench: box pid ${box.pid} on udp ${BIND}:${box.ports.sipUdp}, ${ACCOUNT_COUNT} sipp accounts `
      + `(+${PROBE_ACCOUNT_COUNT} probe accounts at ${opts.probeRate}/s), CLK_TCK ${ticksPerSec}, `
      + `${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`
      + 'response times: from the first REGISTER to the final 200 (both transactions); sipp\'s in whole ms '
      + 'from a clock it refreshes once per loop pass, the probe\'s from hrtime\n',
    );
    const bench: Bench = { res, opts, box, ticksPerSec, accounts, dataDir };
    const boxTarget: Target = {
      name: 'box', port: box.ports.sipUdp, cpuTicks: () => cpuTicks(box.pid), rssMb: () => memMb(box.pid, 'VmRSS'), sipPort: await freeUdpPort(),
    };
    let kamTarget: Target | undefined;
    if (opts.kamailio) {
      const kdir = join(res.dir, 'kamailio');
      mkdirSync(kdir);
      const port = await freeUdpPort();
      const limitS = 4 * 3600;
      const kam = await startKamailio(kdir, registrarConfig(port, writeSubscribers(kdir, accounts)), port, limitS);
      res.kamailio = kam;
      kamTarget = { name: 'kamailio', port, cpuTicks: () => kam.cpuTicks(), rssMb: () => kam.rssMb(), sipPort: await freeUdpPort() };
      process.stdout.write(`reference: kamailio pid ${kam.pid} on udp ${BIND}:${port} (registrar, digest auth, db_text subscribers), `
        + 'the same sipp scenario and accounts at each rate right after the box\n');
    }
    const report = (label: string, r: RateResult): void => {
      process.stdout.write(
        `  ${label}: ${r.stats.successful} ok, ${r.stats.failed} failed, ${f(r.achieved)}/s achieved, `
        + `${f(r.cpuUsPerReg)} µs CPU/reg, load ${f(r.load1, 1)}, ${r.why}\n`,
      );
      const failures = kv(r.stats.failures);
      if (failures) process.stdout.write(`    sipp failure counters: ${failures}\n`);
      if (r.probe.failures > 0) process.stdout.write(`    probe failures: ${r.probe.failures}\n`);
      for (const e of r.errors) process.stdout.write(`    sipp error log (${e.count}x): ${e.message}\n`);
      const moved = kv(r.counters);
      process.stdout.write(`    box counters: ${moved || '(none moved, or status unavailable)'}; bindings now ${f(r.bindings)}\n`);
    };
    // One unmeasured pass over every account first: JIT warm, every account bound, as on a box in service.
    const warm = await runRate(bench, WARMUP_RATE, ACCOUNT_COUNT, 'warm-up', boxTarget);
    report(`warm-up (${WARMUP_RATE}/s, not in the table)`, warm);
    if (warm.stats.successful === 0) throw new BenchError('the warm-up registered nothing; see the sipp error log above');
    if (kamTarget) {
      const kwarm = await runRate(bench, WARMUP_RATE, ACCOUNT_COUNT, 'kamailio-warm-up', kamTarget);
      report(`kamailio warm-up (${WARMUP_RATE}/s)`, kwarm);
      if (kwarm.stats.successful === 0) throw new BenchError('kamailio registered nothing in its warm-up; see the sipp error log above');
    }
    const refs: RateResult[] = [];

    const results: RateResult[] = [];
    const measure = async (rate: number): Promise<RateResult> => {
      const previous = results[results.length - 1];
      await sleep(previous === undefined || previous.steady ? SETTLE_MS : DRAIN_MS);
      const calls = Math.max(opts.minCalls, rate * opts.secondsPerRate);
      const r = await runRate(bench, rate, calls, `rate-${rate}`, boxTarget);
      results.push(r);
      report(`${rate}/s`, r);
      if (kamTarget) {
        await sleep(r.steady ? SETTLE_MS : DRAIN_MS);
        const k = await runRate(bench, rate, calls, `kamailio-${rate}`, kamTarget);
        refs.push(k);
        report(`kamailio ${rate}/s`, k);
      }
      return r;
    };
    await climbAndBisect(opts.rates, opts.refine, REFINE_STEP, measure);
    const sorted = [...results].sort((a, b) => a.rate - b.rate);
    const refSorted = [...refs].sort((a, b) => a.rate - b.rate);
    process.stdout.write(`\n${table(sorted)}\n`);
    if (refSorted.length) process.stdout.write(`\nkamailio, the same runs (CPU of all its processes):\n${table(refSorted)}\n`);
    const ratio = refSorted.length ? ratioLine(sorted, refSorted) : undefined;
    writeFigures(opts.json, sorted, refSorted, ratio?.figures);
    process.stdout.write(`\nfigures: ${opts.json}\n${summary(sorted)}\n${ratio ? `${ratio.line}\n` : ''}`);
    return 0;
  } finally {
    await res.release();
  }
}

runMain('bench:register', main);
