/**
 * Soak (`npm run bench:soak -- --minutes N`): the box under steady churn for
 * N minutes, sampled, plotted and judged for leaks (issue 20).
 *
 * Load: a sipp UAC places calls through the box (INVITE, 401, INVITE with
 * digest, 200, ACK, hold, BYE) to a sipp UAS reached by a static contact, at
 * --call-rate calls/s held --hold ms, each with a media session of four box
 * ports; a second sipp registers accounts (REGISTER, 401, REGISTER with
 * digest, 200) at --reg-rate a second, cycling --accounts accounts, so
 * bindings are refreshed and replaced all the time. Each call carries real
 * audio both ways: caller and callee play a PCMU pcap (pcmuPcap, 50 packets/s,
 * as long as the hold) with sipp's play_pcap_audio, which the box relays
 * between the call's legs (--no-audio leaves the ports silent).
 *
 * Every --sample-s seconds (60 by default; 10 in a run of up to 15 minutes):
 * the box's RSS and anonymous RSS (/proc/<pid>/status: VmRSS, RssAnon), its
 * open file descriptors (/proc/<pid>/fd), and from its status (the control
 * socket, as `pbx status --json`) the V8 heap used and total, external and
 * ArrayBuffer memory, calls, media sessions and ports in use, live server and
 * client transactions and remembered answers, bindings, and the RTP packets
 * the live calls' legs have received. Writes soak.csv and soak.svg (one panel
 * per figure group) into --out.
 *
 * Verdict: nothing may grow without bound under steady load: a least-squares
 * line through the second half of the loaded samples must rise by less than
 * SLOPE_LIMITS per minute for each figure (memory in MB, counts in units or a
 * share of their mean), or else the level must not have moved: a figure
 * whose last quarter's median is no higher than its second quarter's plus
 * the limit times the minutes between them dipped and came back (a starved
 * box sheds calls, then takes them up again), it did not climb. And once the load has stopped and the box has let go
 * of its calls, fds and ports must be back at their level before the load
 * (within FD_SLACK). Exit 1 otherwise.
 *
 * --heap-snapshots: the box runs with --heapsnapshot-signal=SIGUSR2 and is
 * sent it a quarter into the load and at its end; the two snapshots are left
 * in --out, compared by constructor (heapdiff.ts) and the top growers printed.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { LiveStatus } from '../../firmware/api/index.js';
import { callControl, controlSocketPath } from '../../firmware/control/index.js';
import { type Bounded, spawnBounded, stop } from './calls.js';
import { compareSnapshots } from './heapdiff.js';
import { judge, type Sample } from './soak-verdict.js';
import {
  BIND, BenchError, boxRunArgs, fmt as f, freeUdpPort, memMb, prerequisitesMet, releaseOnSignal, runCli, runMain, sleep, tail, waitRunJson,
} from './lib.js';
import { type BenchAccount, accountsCsv, injectionCsv, pcmuPcap, registerScenario, uacScenario, uasScenario } from './sipp.js';

const FIRST_CALLER = 1000;
const CALLEE = '2000';
const FIRST_REGISTRANT = 3000;
const BOX_RTP_PORTS = { min: 40_000, max: 49_999 };
const SIPP_MEDIA_PORTS = { min: 20_000, max: 39_990 };
const BOX_START_TIMEOUT_MS = 30_000;
const STATUS_TIMEOUT_MS = 5_000;
/** After the load: how long the box may take to let go of every call. */
const DRAIN_MS = 40_000;
/** Sampling period (s) of a long run, and of a run of up to SHORT_RUN_MIN minutes. */
const SAMPLE_S_LONG = 60;
const SAMPLE_S_SHORT = 10;
const SHORT_RUN_MIN = 15;
const RECV_TIMEOUT_MS = 10_000;

interface Options {
  readonly minutes: number; readonly callRate: number; readonly holdMs: number; readonly regRate: number;
  readonly accounts: number; readonly sampleS: number; readonly out: string; readonly keep: boolean;
  readonly audio: boolean; readonly heapSnapshots: boolean; readonly rtpPorts: string; readonly env: Readonly<Record<string, string>>;
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      minutes: { type: 'string', default: '10' }, 'call-rate': { type: 'string', default: '4' }, hold: { type: 'string', default: '5000' },
      'reg-rate': { type: 'string', default: '20' }, accounts: { type: 'string', default: '200' }, 'sample-s': { type: 'string' },
      out: { type: 'string', default: 'soak-out' }, keep: { type: 'boolean', default: false },
      'no-audio': { type: 'boolean', default: false }, 'rtp-ports': { type: 'string', default: `${BOX_RTP_PORTS.min}-${BOX_RTP_PORTS.max}` }, 'heap-snapshots': { type: 'boolean', default: false },
      // NAME=VALUE for the box's environment, e.g. --box-env MALLOC_ARENA_MAX=2 (repeatable).
      'box-env': { type: 'string', multiple: true },
    },
    strict: true,
  });
  const num = (name: string, v: string | undefined, min: number): number => {
    const x = Number(v);
    if (!Number.isFinite(x) || x < min) throw new BenchError(`--${name} must be a number >= ${min}`);
    return x;
  };
  return {
    minutes: num('minutes', values.minutes, 0.5), callRate: num('call-rate', values['call-rate'], 0.1), holdMs: num('hold', values.hold, 0),
    regRate: num('reg-rate', values['reg-rate'], 0.1), accounts: Math.round(num('accounts', values.accounts, 1)),
    sampleS: values['sample-s'] !== undefined ? num('sample-s', values['sample-s'], 1)
      : Number(values.minutes) <= SHORT_RUN_MIN ? SAMPLE_S_SHORT : SAMPLE_S_LONG,
    out: resolve(values.out ?? 'soak-out'), keep: values.keep === true,
    audio: values['no-audio'] !== true, rtpPorts: values['rtp-ports'] ?? `${BOX_RTP_PORTS.min}-${BOX_RTP_PORTS.max}`, heapSnapshots: values['heap-snapshots'] === true,
    env: Object.fromEntries((values['box-env'] ?? []).map((kv) => {
      const i = kv.indexOf('=');
      if (i < 1) throw new BenchError('--box-env takes NAME=VALUE');
      return [kv.slice(0, i), kv.slice(i + 1)];
    })),
  };
}

/** One row of soak.csv. */

const COLUMNS: readonly (keyof Sample)[] = [
  't', 'phase', 'rssMb', 'anonMb', 'heapUsedMb', 'heapTotalMb', 'externalMb', 'arrayBuffersMb', 'fds',
  'calls', 'sessions', 'ports', 'bindings', 'serverTx', 'clientTx', 'answered', 'rtpIn', 'newSpaceMb', 'oldSpaceMb', 'largeSpaceMb',
];
const DECIMALS = new Set<keyof Sample>(['t', 'rssMb', 'anonMb', 'heapUsedMb', 'heapTotalMb', 'externalMb', 'arrayBuffersMb', 'newSpaceMb', 'oldSpaceMb', 'largeSpaceMb']);

export function toCsv(samples: readonly Sample[]): string {
  return `${COLUMNS.join(',')}\n${samples.map((s) => COLUMNS.map((c) => (typeof s[c] === 'number' ? f(s[c], DECIMALS.has(c) ? 1 : 0) : s[c])).join(',')).join('\n')}\n`;
}

function anonMb(pid: number): number {
  try {
    const m = /^RssAnon:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) / 1024 : NaN;
  } catch { return NaN; }
}

function fdCount(pid: number): number {
  try { return readdirSync(`/proc/${pid}/fd`).length; } catch { return NaN; }
}

type StatusFigures = Pick<Sample, 'heapUsedMb' | 'heapTotalMb' | 'externalMb' | 'arrayBuffersMb' | 'calls' | 'sessions' | 'ports' | 'bindings' | 'serverTx' | 'clientTx' | 'answered' | 'rtpIn' | 'newSpaceMb' | 'oldSpaceMb' | 'largeSpaceMb'>;

const NO_FIGURES: StatusFigures = {
  heapUsedMb: NaN, heapTotalMb: NaN, externalMb: NaN, arrayBuffersMb: NaN, calls: NaN, sessions: NaN, ports: NaN, bindings: NaN,
  serverTx: NaN, clientTx: NaN, answered: NaN, rtpIn: NaN, newSpaceMb: NaN, oldSpaceMb: NaN, largeSpaceMb: NaN,
};

/** The figures of one `pbx status --json` (LiveStatus) that a soak watches; NaN where absent. */
export function statusFigures(s: LiveStatus): StatusFigures {
  const mb = (v: number | undefined): number => (typeof v === 'number' ? v / 2 ** 20 : NaN);
  const n = (v: number | undefined): number => (typeof v === 'number' ? v : NaN);
  let rtpIn = 0;
  for (const st of s.media?.streams ?? []) for (const leg of Object.values(st.legs)) rtpIn += leg.packetsIn;
  return {
    heapUsedMb: mb(s.process?.heapUsed), heapTotalMb: mb(s.process?.heapTotal), externalMb: mb(s.process?.external), arrayBuffersMb: mb(s.process?.arrayBuffers),
    calls: Array.isArray(s.calls) ? s.calls.length : NaN, sessions: n(s.media?.sessions), ports: n(s.media?.portsInUse),
    bindings: Array.isArray(s.registrations) ? s.registrations.length : NaN,
    serverTx: n(s.sip?.serverTransactions), clientTx: n(s.sip?.clientTransactions), answered: n(s.sip?.answered),
    rtpIn: s.media?.streams ? rtpIn : NaN,
    newSpaceMb: mb(s.process?.heapSpaces?.['new_space']?.size), oldSpaceMb: mb(s.process?.heapSpaces?.['old_space']?.size),
    largeSpaceMb: mb(s.process?.heapSpaces?.['large_object_space']?.size),
  };
}

async function figures(dataDir: string): Promise<StatusFigures> {
  try {
    return statusFigures(await callControl(controlSocketPath(dataDir), { command: 'status', args: {} }, STATUS_TIMEOUT_MS) as LiveStatus);
  } catch { return NO_FIGURES; }
}

// ---------------------------------------------------------------- the plot

interface Series { readonly label: string; readonly key: keyof Sample; readonly colour: string }
interface Panel { readonly title: string; readonly series: readonly Series[] }

const PANELS: readonly Panel[] = [
  { title: 'RSS (MB)', series: [{ label: 'VmRSS', key: 'rssMb', colour: '#c0392b' }, { label: 'RssAnon', key: 'anonMb', colour: '#e67e22' }] },
  {
    title: 'V8 heap and buffers (MB)',
    series: [
      { label: 'heap total', key: 'heapTotalMb', colour: '#7f8c8d' }, { label: 'heap used', key: 'heapUsedMb', colour: '#c0392b' },
      { label: 'external', key: 'externalMb', colour: '#16a085' }, { label: 'arrayBuffers', key: 'arrayBuffersMb', colour: '#8e44ad' },
    ],
  },
  {
    title: 'V8 spaces reserved (MB)',
    series: [
      { label: 'old space', key: 'oldSpaceMb', colour: '#c0392b' }, { label: 'new space', key: 'newSpaceMb', colour: '#2980b9' },
      { label: 'large objects', key: 'largeSpaceMb', colour: '#16a085' },
    ],
  },
  { title: 'open file descriptors', series: [{ label: 'fds', key: 'fds', colour: '#2c3e50' }] },
  { title: 'calls and media', series: [{ label: 'calls', key: 'calls', colour: '#27ae60' }, { label: 'ports in use', key: 'ports', colour: '#8e44ad' }] },
  {
    title: 'SIP transactions',
    series: [
      { label: 'server', key: 'serverTx', colour: '#d35400' }, { label: 'client', key: 'clientTx', colour: '#2980b9' },
      { label: 'answered (kept)', key: 'answered', colour: '#7f8c8d' },
    ],
  },
  { title: 'bindings', series: [{ label: 'bindings', key: 'bindings', colour: '#2980b9' }] },
  { title: 'RTP packets received by the live calls', series: [{ label: 'packets in', key: 'rtpIn', colour: '#27ae60' }] },
];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** An SVG with one panel per PANELS entry, time in minutes on x, the load phase shaded. */
export function toSvg(samples: readonly Sample[], title: string): string {
  const W = 900; const PH = 190; const L = 70; const R = 20; const T = 40; const GAP = 40;
  const H = T + PANELS.length * (PH + GAP);
  const tMax = Math.max(1, ...samples.map((s) => s.t));
  const x = (t: number): number => L + ((W - L - R) * t) / tMax;
  const loadT = samples.filter((s) => s.phase === 'load').map((s) => s.t);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${L}" y="22" font-size="15">${esc(title)}</text>`,
  ];
  PANELS.forEach((p, i) => {
    const top = T + i * (PH + GAP);
    const vals = p.series.flatMap((s) => samples.map((row) => row[s.key] as number)).filter(Number.isFinite);
    const vMax = vals.length ? Math.max(...vals) : 1;
    const hi = vMax <= 0 ? 1 : vMax * 1.1;
    const y = (v: number): number => top + PH - (PH * v) / hi;
    if (loadT.length) {
      const a = x(Math.min(...loadT)); const b = x(Math.max(...loadT));
      parts.push(`<rect x="${f(a, 1)}" y="${top}" width="${f(b - a, 1)}" height="${PH}" fill="#f4f6f7"/>`);
    }
    parts.push(`<rect x="${L}" y="${top}" width="${W - L - R}" height="${PH}" fill="none" stroke="#999"/>`);
    parts.push(`<text x="${L}" y="${top - 6}" font-weight="bold">${esc(p.title)}</text>`);
    for (const frac of [0, 0.5, 1]) {
      const v = hi * frac;
      parts.push(`<text x="${L - 6}" y="${f(y(v) + 4, 1)}" text-anchor="end">${f(v, v < 10 ? 1 : 0)}</text>`);
      parts.push(`<line x1="${L}" x2="${W - R}" y1="${f(y(v), 1)}" y2="${f(y(v), 1)}" stroke="#eee"/>`);
    }
    p.series.forEach((s, k) => {
      const pts = samples.filter((row) => Number.isFinite(row[s.key] as number)).map((row) => `${f(x(row.t), 1)},${f(y(row[s.key] as number), 1)}`);
      parts.push(`<polyline fill="none" stroke="${s.colour}" stroke-width="1.5" points="${pts.join(' ')}"/>`);
      parts.push(`<text x="${W - R - 10 - k * 120}" y="${top - 6}" text-anchor="end" fill="${s.colour}">${esc(s.label)}</text>`);
    });
    for (let m = 0; m <= tMax / 60; m += Math.max(1, Math.ceil(tMax / 60 / 10))) {
      parts.push(`<text x="${f(x(m * 60), 1)}" y="${top + PH + 14}" text-anchor="middle">${m} min</text>`);
    }
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

// ---------------------------------------------------------------- main

async function main(argv: string[]): Promise<number> {
  const opts = options(argv);
  if (!prerequisitesMet('bench:soak')) return 1;
  const dir = mkdtempSync(join(tmpdir(), 'pbx-bench-soak-'));
  const procs: Array<Bounded | null> = [null, null, null, null];
  let released = false;
  const release = async (): Promise<void> => {
    if (released) return;
    released = true;
    for (const p of procs) await stop(p);
    if (opts.keep) process.stdout.write(`kept ${dir}\n`); else rmSync(dir, { recursive: true, force: true });
  };
  releaseOnSignal('bench:soak', release);
  try {
    const dataDir = join(dir, 'data');
    const limitS = opts.minutes * 60 + 300;
    const pw = (): string => `s${randomBytes(8).toString('hex')}`;
    const uasPort = await freeUdpPort();
    // The audio each side plays: as long as the hold (less a little, so it ends before the BYE).
    const audio = opts.audio ? 'audio.pcap' : undefined;
    if (audio) writeFileSync(join(dir, audio), pcmuPcap(Math.max(200, opts.holdMs - 500)));
    writeFileSync(join(dir, 'uas.xml'), uasScenario(audio));
    procs[0] = spawnBounded('sipp', [
      '-sf', 'uas.xml', '-i', BIND, '-p', String(uasPort), '-mp', String(await freeUdpPort(4, SIPP_MEDIA_PORTS)), '-t', 'u1',
      '-recv_timeout', '60000', '-nostdin',
    ], limitS, dir, join(dir, 'uas.out'));
    const callers: BenchAccount[] = Array.from({ length: 20 }, (_, i) => ({ extension: String(FIRST_CALLER + i), password: pw() }));
    const registrants: BenchAccount[] = Array.from({ length: opts.accounts }, (_, i) => ({ extension: String(FIRST_REGISTRANT + i), password: pw() }));
    writeFileSync(join(dir, 'accounts.csv'), accountsCsv([...callers, ...registrants], 'soak'), { mode: 0o600 });
    runCli(['account', 'import', join(dir, 'accounts.csv'), '--data', dataDir]);
    runCli(['account', 'add', CALLEE, '--password', pw(), '--name', 'soak callee', '--contact', `sip:${CALLEE}@${BIND}:${uasPort}`, '--data', dataDir]);
    const nodeArgs = opts.heapSnapshots ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`] : [];
    const box = spawnBounded(process.execPath, boxRunArgs(dataDir, nodeArgs, ['--rtp-ports', opts.rtpPorts]),
      limitS, dir, join(dir, 'box.log'), { ...process.env, PBX_LOG_LEVEL: 'warn', ...opts.env });
    procs[1] = box;
    const run = await waitRunJson(dataDir, BOX_START_TIMEOUT_MS, () => (box.proc.exitCode !== null ? `the box exited: ${tail(join(dir, 'box.log'), 20)}` : undefined), () => box.pid());
    const pid = run.pid;
    process.stdout.write(`soak: box pid ${pid}, ${opts.minutes} min of ${opts.callRate} calls/s held ${opts.holdMs} ms ${audio ? 'with PCMU audio both ways' : 'without audio'} `
      + `and ${opts.regRate} registrations/s over ${opts.accounts} accounts; sample every ${opts.sampleS} s`
      + `${Object.keys(opts.env).length ? `; box env ${Object.entries(opts.env).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}\n`);

    const samples: Sample[] = [];
    const t0 = Date.now();
    let phase: Sample['phase'] = 'idle';
    const sample = async (): Promise<Sample> => {
      const st = await figures(dataDir);
      const s: Sample = { t: (Date.now() - t0) / 1000, phase, rssMb: memMb(pid, 'VmRSS'), anonMb: anonMb(pid), fds: fdCount(pid), ...st };
      samples.push(s);
      return s;
    };
    for (let i = 0; i < 3; i++) { await sample(); await sleep(opts.sampleS * 1000); }

    phase = 'load';
    const loadS = opts.minutes * 60;
    writeFileSync(join(dir, 'uac.xml'), uacScenario(true, opts.holdMs, audio));
    writeFileSync(join(dir, 'callers.csv'), injectionCsv(callers, CALLEE), { mode: 0o600 });
    procs[2] = spawnBounded('sipp', [
      '-sf', 'uac.xml', '-inf', 'callers.csv', `${BIND}:${run.ports.sipUdp}`, '-i', BIND, '-p', String(await freeUdpPort()),
      '-mp', String(await freeUdpPort(4, SIPP_MEDIA_PORTS)), '-t', 'u1', '-r', String(opts.callRate), '-rp', '1000',
      '-m', String(Math.ceil(opts.callRate * loadS)), '-recv_timeout', String(RECV_TIMEOUT_MS), '-trace_stat', '-fd', '5', '-nostdin',
      '-l', String(Math.ceil(opts.callRate * (opts.holdMs / 1000 + 20)) + 50), '-pause_msg_ign',
    ], loadS + 120, dir, join(dir, 'uac.out'));
    writeFileSync(join(dir, 'register.xml'), registerScenario());
    writeFileSync(join(dir, 'registrants.csv'), injectionCsv(registrants), { mode: 0o600 });
    procs[3] = spawnBounded('sipp', [
      '-sf', 'register.xml', '-inf', 'registrants.csv', `${BIND}:${run.ports.sipUdp}`, '-i', BIND, '-p', String(await freeUdpPort()),
      '-mp', String(await freeUdpPort(4, SIPP_MEDIA_PORTS)), '-t', 'u1', '-r', String(opts.regRate), '-rp', '1000',
      '-m', String(Math.ceil(opts.regRate * loadS)), '-recv_timeout', String(RECV_TIMEOUT_MS), '-trace_stat', '-fd', '5', '-nostdin',
      '-default_behaviors', '-bye',
    ], loadS + 120, dir, join(dir, 'reg.out'));
    const loadStart = Date.now();
    const loadEnd = loadStart + loadS * 1000;
    let lastReport = -Infinity;
    const snapshots: string[] = [];
    const snapshotAt = opts.heapSnapshots ? [loadStart + loadS * 250, loadEnd - opts.sampleS * 1000] : [];
    while (Date.now() < loadEnd) {
      if (box.proc.exitCode !== null) throw new BenchError(`the box died during the soak: ${tail(join(dir, 'box.log'), 20)}`);
      const s = await sample();
      if (s.t - lastReport >= 60) {
        lastReport = s.t;
        process.stdout.write(`  ${f(s.t / 60, 1)} min: rss ${f(s.rssMb, 1)} MB anon ${f(s.anonMb, 1)} heap ${f(s.heapUsedMb, 1)}/${f(s.heapTotalMb, 1)} `
          + `ext ${f(s.externalMb, 1)} ab ${f(s.arrayBuffersMb, 1)} MB fds ${s.fds} calls ${s.calls} ports ${s.ports} tx ${s.serverTx}/${s.clientTx}/${s.answered} `
          + `bindings ${s.bindings} rtp ${s.rtpIn}\n`);
      }
      if (snapshotAt.length > snapshots.length && Date.now() >= (snapshotAt[snapshots.length] ?? Infinity)) snapshots.push(await heapSnapshot(pid, dir));
      await sleep(opts.sampleS * 1000);
    }
    // sipp ends by itself once its -m calls have been placed and finished; a kill would leave calls open.
    const finish = (b: Bounded | null): Promise<unknown> => Promise.race([b?.exited, sleep(opts.holdMs + 3 * RECV_TIMEOUT_MS)]);
    phase = 'drain';
    await Promise.all([finish(procs[2]), finish(procs[3])]);
    await stop(procs[2]);
    await stop(procs[3]);

    const drainEnd = Date.now() + DRAIN_MS;
    while (Date.now() < drainEnd) {
      const s = await sample();
      if (s.calls === 0 && s.ports === 0 && Date.now() > drainEnd - DRAIN_MS / 2) break;
      await sleep(opts.sampleS * 1000);
    }
    await sample();

    mkdirSync(opts.out, { recursive: true });
    writeFileSync(join(opts.out, 'soak.csv'), toCsv(samples));
    const title = `pbx soak: ${opts.minutes} min, ${opts.callRate} calls/s (hold ${opts.holdMs} ms), ${opts.regRate} reg/s; shaded = load`;
    writeFileSync(join(opts.out, 'soak.svg'), toSvg(samples, title));
    const callsDone = readStatCounter(dir, 'uac');
    const regsDone = readStatCounter(dir, 'register');
    process.stdout.write(`sipp: calls ${callsDone.ok} ok / ${callsDone.failed} failed; registrations ${regsDone.ok} ok / ${regsDone.failed} failed\n`);
    if (snapshots.length === 2 && snapshots.every((p) => p !== '')) {
      const [a, b] = snapshots as [string, string];
      for (const p of [a, b]) writeFileSync(join(opts.out, p.split('/').pop() ?? 'heap.heapsnapshot'), readFileSync(p));
      process.stdout.write(`heap snapshots: ${a} -> ${b}; constructors whose retained count grew most:\n`);
      for (const row of compareSnapshots(readFileSync(a, 'utf8'), readFileSync(b, 'utf8')).slice(0, 15)) {
        process.stdout.write(`  ${row.name.padEnd(40)} count ${row.countA} -> ${row.countB} (${row.countB - row.countA >= 0 ? '+' : ''}${row.countB - row.countA}), self ${f(row.bytesA / 1024, 0)} -> ${f(row.bytesB / 1024, 0)} KB\n`);
      }
    }
    const v = judge(samples);
    for (const l of v.lines) process.stdout.write(`${l}\n`);
    process.stdout.write(`wrote ${join(opts.out, 'soak.csv')} and ${join(opts.out, 'soak.svg')} (${samples.length} samples)\n`);
    process.stdout.write(`soak: ${v.ok ? 'no leak seen' : 'LEAK or not released'}\n`);
    return v.ok ? 0 : 1;
  } finally {
    await release();
  }
}

/** SIGUSR2 to a box started with --heapsnapshot-signal; the path of the snapshot once it is written whole ('' if none came). */
async function heapSnapshot(pid: number, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir).filter((n) => n.endsWith('.heapsnapshot')));
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + 120_000;
  let lastSize = -1;
  while (Date.now() < deadline) {
    await sleep(1000);
    const fresh = readdirSync(dir).find((n) => n.endsWith('.heapsnapshot') && !before.has(n));
    if (!fresh) continue;
    const size = statSync(join(dir, fresh)).size;
    // V8 writes the file in one go; two equal sizes a second apart and a JSON end mean it is done.
    if (size > 0 && size === lastSize && readFileSync(join(dir, fresh), 'latin1').trimEnd().endsWith(']}')) return join(dir, fresh);
    lastSize = size;
  }
  return '';
}

/** Successful and failed calls from the last line of a sipp -trace_stat file (`<scenario>_<pid>_.csv`). */
function readStatCounter(dir: string, scenario: string): { ok: number; failed: number } {
  const file = readdirSync(dir).find((n) => n.startsWith(`${scenario}_`) && n.endsWith('_.csv'));
  if (!file) return { ok: NaN, failed: NaN };
  const lines = readFileSync(join(dir, file), 'latin1').trim().split('\n');
  const head = (lines[0] ?? '').split(';');
  const lastRow = (lines[lines.length - 1] ?? '').split(';');
  const col = (name: string): number => Number(lastRow[head.indexOf(name)]);
  return { ok: col('SuccessfulCall(C)'), failed: col('FailedCall(C)') };
}

runMain('bench:soak', main);
