/**
 * Connection limits and TLS churn against the appliance (`npm run bench:connections`,
 * issue 20's must-shows):
 *
 * 1. --idle-tcp (2,000) idle TCP and --idle-tls (500) idle TLS connections
 *    (handshake done, then silent) and --slowloris (50) connections trickling
 *    one byte a second, from many 127.0.0.x addresses (the per-address cap is
 *    256); then a phone on its own address registers over TLS with digest. All
 *    idle ones must be closed by the box within IDLE_DEADLINE_MS; the figures
 *    say how many and when (FIRST_MESSAGE_TIMEOUT_MS, PARTIAL_MESSAGE_TIMEOUT_MS).
 * 2. --rounds (4) rounds of --per-round (5,000) TLS connections, each opened
 *    (full handshake), then closed by the client; the box's RSS before the
 *    first round, after each, and SETTLE_MS after the last, which must be
 *    within 25% of the first.
 *
 * Options: --idle-tcp N --idle-tls N --slowloris N --rounds N --per-round N
 * --concurrency N (handshakes in flight, 200) --settle-s S (60) --keep.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { cryptoRandom } from '../../firmware/core/index.js';
import { digestAuthorization } from '../../firmware/sip/digest/index.js';
import { frameStream, getHeader, parseMessage, type SipResponse } from '../../firmware/sip/message/index.js';
import { type Bounded, spawnBounded, stop } from './calls.js';
import { BenchError, PBX_CLI, boxRunArgs, fmt as f, memMb, releaseOnSignal, runCli, runMain, sleep, tail, waitRunJson } from './lib.js';

const BOX_START_TIMEOUT_MS = 30_000;
const IDLE_DEADLINE_MS = 60_000;
const CONNECT_TIMEOUT_MS = 20_000;
const EXT = '1001';
/** Connections per source address in the idle phase, under the box's 256. */
const PER_ADDRESS = 200;

interface Ports { readonly sipTcp: number; readonly sipTls: number }

function addressOf(i: number, base: number): string {
  const n = base + Math.floor(i / PER_ADDRESS);
  return `127.0.${Math.floor(n / 250)}.${2 + (n % 250)}`;
}

interface Held { socket: net.Socket; closedAt?: number; opened: boolean }

function holdTcp(port: number, local: string, onClose: (h: Held) => void): Promise<Held> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress: local });
    const h: Held = { socket: s, opened: false };
    s.on('error', () => {});
    s.resume();
    s.once('connect', () => { h.opened = true; resolve(h); });
    s.once('close', () => { h.closedAt = Date.now(); onClose(h); resolve(h); });
  });
}

function holdTls(port: number, local: string, onClose: (h: Held) => void): Promise<Held> {
  return new Promise((resolve) => {
    const s = tls.connect({ socket: net.connect({ host: '127.0.0.1', port, localAddress: local }), rejectUnauthorized: false });
    const h: Held = { socket: s, opened: false };
    const timer = setTimeout(() => { s.destroy(); }, CONNECT_TIMEOUT_MS);
    s.on('error', () => {});
    s.resume();
    s.once('secureConnect', () => { clearTimeout(timer); h.opened = true; resolve(h); });
    s.once('close', () => { clearTimeout(timer); h.closedAt = Date.now(); onClose(h); resolve(h); });
  });
}

/** A TLS phone: REGISTER, 401, REGISTER with digest, 200. Returns the final status and ms. */
async function tlsRegister(port: number, local: string, password: string): Promise<{ status: number; ms: number }> {
  const t0 = Date.now();
  const s = tls.connect({ socket: net.connect({ host: '127.0.0.1', port, localAddress: local }), rejectUnauthorized: false });
  s.on('error', () => {});
  await new Promise<void>((resolve, reject) => { s.once('secureConnect', () => resolve()); s.once('close', () => reject(new BenchError('the phone\'s TLS connection closed'))); });
  let buf = Buffer.alloc(0);
  let waiting: ((r: SipResponse) => void) | undefined;
  s.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const fr = frameStream(buf);
      if (fr.kind === 'more' || fr.kind === 'error') return;
      const unit = buf.subarray(0, fr.length);
      buf = buf.subarray(fr.length);
      if (fr.kind !== 'message') continue;
      const p = parseMessage(unit);
      if (p.ok && p.message.kind === 'response' && p.message.status >= 200) waiting?.(p.message);
    }
  });
  const callId = `${cryptoRandom.token(64)}@${local}`;
  const uri = `sips:127.0.0.1:${port}`;
  const send = (cseq: number, auth?: string): Promise<SipResponse> => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new BenchError('no answer to the phone\'s REGISTER within 10 s')), 10_000);
    waiting = (r) => { clearTimeout(timer); resolve(r); };
    s.write([
      `REGISTER ${uri} SIP/2.0`, `Via: SIP/2.0/TLS ${local}:5061;branch=z9hG4bK${cryptoRandom.token(64)}`, 'Max-Forwards: 70',
      `From: <sips:${EXT}@127.0.0.1>;tag=${cryptoRandom.token(32)}`, `To: <sips:${EXT}@127.0.0.1>`, `Call-ID: ${callId}`, `CSeq: ${cseq} REGISTER`,
      `Contact: <sips:${EXT}@${local}:5061;transport=tls>`, ...(auth ? [`Authorization: ${auth}`] : []), 'Expires: 300', 'Content-Length: 0', '', '',
    ].join('\r\n'));
  });
  try {
    const first = await send(1);
    const challenge = getHeader(first, 'www-authenticate');
    if (first.status !== 401 || challenge === undefined) return { status: first.status, ms: Date.now() - t0 };
    const second = await send(2, digestAuthorization({ challenge, method: 'REGISTER', uri, username: EXT, password }));
    return { status: second.status, ms: Date.now() - t0 };
  } finally { s.destroy(); }
}

/** Runs `n` jobs with at most `width` at once. */
async function pool(n: number, width: number, job: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(width, n) }, async () => { while (next < n) await job(next++); }));
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'idle-tcp': { type: 'string', default: '2000' }, 'idle-tls': { type: 'string', default: '500' }, slowloris: { type: 'string', default: '50' },
      rounds: { type: 'string', default: '4' }, 'per-round': { type: 'string', default: '5000' }, concurrency: { type: 'string', default: '200' },
      'settle-s': { type: 'string', default: '60' }, keep: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const n = (k: keyof typeof values): number => { const x = Number(values[k]); if (!Number.isInteger(x) || x < 0) throw new BenchError(`--${k} must be an integer >= 0`); return x; };
  const dir = mkdtempSync(join(tmpdir(), 'pbx-bench-conn-'));
  let box: Bounded | null = null;
  const release = async (): Promise<void> => { await stop(box); if (values.keep) process.stdout.write(`kept ${dir}\n`); else rmSync(dir, { recursive: true, force: true }); };
  releaseOnSignal('bench:connections', release);
  const open: Held[] = [];
  try {
    const dataDir = join(dir, 'data');
    const password = `c${cryptoRandom.token(64)}`;
    runCli(['account', 'add', EXT, '--password', password, '--data', dataDir]);
    const b = spawnBounded(process.execPath, boxRunArgs(dataDir, []), 1800, dir, join(dir, 'box.log'), { ...process.env, PBX_LOG_LEVEL: 'warn' });
    box = b;
    const run = await waitRunJson(dataDir, BOX_START_TIMEOUT_MS, () => (b.proc.exitCode !== null ? `box exited: ${tail(join(dir, 'box.log'), 20)}` : undefined), () => b.pid());
    const ports = (JSON.parse(readFileSync(join(dataDir, 'run.json'), 'utf8')) as { ports: Ports }).ports;
    const pid = run.pid;
    const rss = (): number => memMb(pid, 'VmRSS');
    process.stdout.write(`connections bench: box pid ${pid}, tcp ${ports.sipTcp}, tls ${ports.sipTls}; RSS at start ${f(rss(), 1)} MB\n`);

    // ---- 1. idle connections and a slowloris
    const idleTcp = n('idle-tcp'); const idleTls = n('idle-tls'); const loris = n('slowloris');
    const t0 = Date.now();
    const closed: number[] = [];
    const onClose = (h: Held): void => { if (h.opened) closed.push(Date.now() - t0); };
    await pool(idleTcp, 200, async (i) => { open.push(await holdTcp(ports.sipTcp, addressOf(i, 0), onClose)); });
    await pool(idleTls, 50, async (i) => { open.push(await holdTls(ports.sipTls, addressOf(i, 20), onClose)); });
    const lorisSockets: Held[] = [];
    await pool(loris, 50, async (i) => { const h = await holdTcp(ports.sipTcp, addressOf(i, 30), onClose); lorisSockets.push(h); open.push(h); });
    const text = 'OPTIONS sip:pbx SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKloris\r\nX-Slow: ';
    let pos = 0;
    const drip = setInterval(() => {
      const ch = text[pos % text.length] ?? 'a';
      pos++;
      for (const h of lorisSockets) if (h.closedAt === undefined) h.socket.write(ch);
    }, 1000);
    const opened = open.filter((h) => h.opened).length;
    process.stdout.write(`opened ${opened} of ${idleTcp + idleTls + loris} (${idleTcp} TCP, ${idleTls} TLS, ${loris} slowloris) in ${f((Date.now() - t0) / 1000, 1)} s; RSS ${f(rss(), 1)} MB\n`);
    const reg = await tlsRegister(ports.sipTls, '127.0.3.200', password);
    process.stdout.write(`legitimate TLS registration while they are held: ${reg.status} in ${reg.ms} ms\n`);
    while (closed.length < opened && Date.now() - t0 < IDLE_DEADLINE_MS + 10_000) await sleep(500);
    clearInterval(drip);
    const sorted = [...closed].sort((a, b) => a - b);
    const inTime = sorted.filter((ms) => ms <= IDLE_DEADLINE_MS).length;
    process.stdout.write(`closed by the box: ${inTime} of ${opened} within ${IDLE_DEADLINE_MS / 1000} s (first ${f((sorted[0] ?? NaN) / 1000, 1)} s, last ${f((sorted[sorted.length - 1] ?? NaN) / 1000, 1)} s after the first connect)\n`);
    for (const h of open) h.socket.destroy();
    open.length = 0;
    const idleOk = reg.status === 200 && inTime === opened;

    // ---- 2. TLS churn
    const rounds = n('rounds'); const perRound = n('per-round'); const width = n('concurrency');
    await sleep(5000);
    const before = rss();
    const after: number[] = [];
    process.stdout.write(`TLS churn: ${rounds} rounds of ${perRound}; RSS before ${f(before, 1)} MB\n`);
    for (let r = 0; r < rounds; r++) {
      const r0 = Date.now();
      let ok = 0;
      await pool(perRound, width, async (i) => {
        const h = await holdTls(ports.sipTls, addressOf(i % (width * 2), 40), () => {});
        if (h.opened) ok++;
        h.socket.end();
        h.socket.destroy();
      });
      after.push(rss());
      process.stdout.write(`  round ${r + 1}: ${ok}/${perRound} handshakes in ${f((Date.now() - r0) / 1000, 1)} s; RSS ${f(after[after.length - 1] ?? NaN, 1)} MB\n`);
    }
    const settleS = n('settle-s');
    await sleep(settleS * 1000);
    const settled = rss();
    const churnOk = settled <= before * 1.25;
    process.stdout.write(`RSS ${settleS} s after the last round: ${f(settled, 1)} MB (${f((settled / before - 1) * 100, 1)}% over before; limit 25%): ${churnOk ? 'ok' : 'NOT BACK'}\n`);
    const st = spawnStatus(dataDir);
    process.stdout.write(`box counters: ${st}\n`);
    process.stdout.write(`connections: idle ${idleOk ? 'ok' : 'FAILED'}, churn ${churnOk ? 'ok' : 'FAILED'}\n`);
    return idleOk && churnOk ? 0 : 1;
  } finally {
    for (const h of open) h.socket.destroy();
    await release();
  }
}

function spawnStatus(dataDir: string): string {
  const r = spawnSync(process.execPath, [PBX_CLI, 'status', '--json', '--data', dataDir], { encoding: 'utf8', timeout: 30_000 });
  try {
    const s = (JSON.parse(r.stdout) as { counters?: Record<string, number> }).counters ?? {};
    return Object.entries(s).filter(([k]) => /conn|timeout|limit|tls|partial|buffer/.test(k)).map(([k, v]) => `${k}=${v}`).join(' ');
  } catch { return `(status failed: ${r.stderr.trim()})`; }
}

runMain('bench:connections', main);
