/**
 * `npm run bench:boot`: how long `pbx run` takes from the process start to
 * SIP answering an OPTIONS over UDP, on a first boot (an empty data folder:
 * the config, the CA and server certificate, the DTLS certificate and the
 * other secrets are made) and on a warm boot (the same folder again). Five
 * of each by default (`--runs N`); prints every run, then the medians. Also
 * times run.json (the box writes it last, once the admin servers and the
 * control socket are up too).
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIND, BenchError, PBX_CLI, fmt, freeUdpPort, percentile, renderTable, runMain, sleep } from './lib.js';

const TARGET_MS = 3000;
const BOOT_TIMEOUT_MS = 60_000;
const PROBE_EVERY_MS = 10;

interface Boot { readonly sipMs: number; readonly readyMs: number }

/**
 * An OPTIONS to the port every PROBE_EVERY_MS from one socket; resolves at
 * the first SIP response (a box busy starting may take longer than one
 * interval to answer, so no probe is given up on).
 */
function firstAnswer(port: number, stop: () => boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    let n = 0;
    let timer: NodeJS.Timeout | undefined;
    const done = (ok: boolean): void => { clearInterval(timer); s.close(); resolve(ok); };
    s.on('message', (m) => { if (m.subarray(0, 8).toString('latin1') === 'SIP/2.0 ') done(true); });
    s.bind(0, BIND, () => {
      const lp = s.address().port;
      timer = setInterval(() => {
        if (stop()) { done(false); return; }
        n++;
        const msg = [
          `OPTIONS sip:${BIND}:${port} SIP/2.0`, `Via: SIP/2.0/UDP ${BIND}:${lp};branch=z9hG4bK-boot-${n}`, 'Max-Forwards: 70',
          `From: <sip:bench@${BIND}>;tag=boot${n}`, `To: <sip:${BIND}>`, `Call-ID: boot-${lp}-${n}`, `CSeq: ${n} OPTIONS`, 'Content-Length: 0', '', '',
        ].join('\r\n');
        s.send(msg, port, BIND);
      }, PROBE_EVERY_MS);
    });
  });
}

async function bootOnce(dataDir: string, cli: string): Promise<Boot> {
  const port = await freeUdpPort();
  const started = performance.now();
  const child = spawn(process.execPath, [
    cli, 'run', '--data', dataDir, '--bind', BIND, '--board', 'sim',
    '--sip-port', String(port), '--tls-port', '0', '--web-port', '0', '--http-port', '0',
  ], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PBX_LOG_LEVEL: 'warn' } });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  let exited = false;
  const gone = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve(); }));
  try {
    const answered = await firstAnswer(port, () => exited || performance.now() - started > BOOT_TIMEOUT_MS);
    if (!answered) throw new BenchError(exited ? `the box exited: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : 'SIP did not answer within 60 s');
    const sipMs = performance.now() - started;
    // This process's run.json: a warm boot finds the last one's still there.
    const ours = (): boolean => { try { return (JSON.parse(readFileSync(join(dataDir, 'run.json'), 'utf8')) as { pid?: number }).pid === child.pid; } catch { return false; } };
    while (!ours()) {
      if (exited || performance.now() - started > BOOT_TIMEOUT_MS) throw new BenchError('the box wrote no run.json');
      await sleep(PROBE_EVERY_MS);
    }
    return { sipMs, readyMs: performance.now() - started };
  } finally {
    if (!exited) child.kill('SIGTERM');
    await gone;
  }
}

async function main(argv: string[]): Promise<number> {
  const i = argv.indexOf('--runs');
  const runs = i >= 0 ? Number(argv[i + 1]) : 5;
  if (!(runs >= 1)) throw new BenchError('--runs needs a number');
  // --cli PATH: another build's pbx.js (to compare before and after a change on a busy machine).
  const c = argv.indexOf('--cli');
  const cli = c >= 0 ? String(argv[c + 1]) : PBX_CLI;
  const first: Boot[] = [];
  const warm: Boot[] = [];
  const rows: string[][] = [];
  for (let r = 1; r <= runs; r++) {
    const dir = mkdtempSync(join(tmpdir(), 'pbx-boot-'));
    const dataDir = join(dir, 'data');
    try {
      const a = await bootOnce(dataDir, cli);
      const b = await bootOnce(dataDir, cli);
      first.push(a);
      warm.push(b);
      rows.push([String(r), fmt(a.sipMs), fmt(a.readyMs), fmt(b.sipMs), fmt(b.readyMs)]);
      process.stdout.write(`run ${r}: first boot SIP ${fmt(a.sipMs)} ms (run.json ${fmt(a.readyMs)} ms), warm boot SIP ${fmt(b.sipMs)} ms (run.json ${fmt(b.readyMs)} ms)\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const med = (xs: Boot[], k: keyof Boot): number => percentile(xs.map((x) => x[k]), 50);
  process.stdout.write(`\n${renderTable(['run', 'first SIP ms', 'first ready ms', 'warm SIP ms', 'warm ready ms'], rows)}\n\n`);
  const f = med(first, 'sipMs');
  const w = med(warm, 'sipMs');
  process.stdout.write(`boot: median of ${runs}: first boot SIP answering in ${fmt(f)} ms (ready ${fmt(med(first, 'readyMs'))} ms), `
    + `warm boot ${fmt(w)} ms (ready ${fmt(med(warm, 'readyMs'))} ms); target ${TARGET_MS} ms: ${Math.max(f, w) < TARGET_MS ? 'met' : 'missed'}\n`);
  return 0;
}

runMain('bench:boot', main);
