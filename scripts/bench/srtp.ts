/**
 * SRTP bench (`npm run bench:srtp`): ns per packet for protect, unprotect and
 * the transcoding hop (unprotect with leg A's keys, protect with leg B's) on
 * a G.711 packet (12-byte header + 160 bytes), ours (firmware/media/srtp) and
 * libsrtp's (Debian's libsrtp2-dev, scripts/bench/srtp-ref/srtp-bench.c, built
 * here with cc and pkg-config) in the same run, for every suite. The last line
 * is the AES_CM_128_HMAC_SHA1_80 hop ratio.
 *
 * Both sides are timed alike: packets to unprotect are protected a chunk at a
 * time outside the timed loop (each index is fresh, so the replay window
 * accepts it), one warm-up chunk first, then many chunks timed whole. Each
 * figure is measured --reps times, alternating libsrtp and ours, and the
 * lowest kept: on a shared machine the minimum is the figure least disturbed
 * by other work.
 *
 * Options: --packets N (per measurement, default 200000), --reps N (default 3),
 * --suite NAME (repeatable).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SRTP_SUITE_NAMES, SRTP_SUITES, SrtpSession, isSrtpSuiteName, type SrtpSuiteName } from '../../firmware/media/srtp/index.js';

const HEADER = 12;
const PAYLOAD = 160;
const PLAIN = HEADER + PAYLOAD;
const CHUNK = 1024;
const DEFAULT_PACKETS = 200_000;
const DEFAULT_REPS = 3;
const HEADLINE_SUITE: SrtpSuiteName = 'AES_CM_128_HMAC_SHA1_80';
const REF_SOURCE = fileURLToPath(new URL('../../../scripts/bench/srtp-ref/srtp-bench.c', import.meta.url));
const REF_TIMEOUT_MS = 120_000;

interface Figures { readonly protect: number; readonly unprotect: number; readonly hop: number }

function packet(b: Buffer, n: number): void {
  b[0] = 0x80; b[1] = 0;
  b.writeUInt16BE(n & 0xffff, 2);
  b.writeUInt32BE((n * 160) >>> 0, 4);
  b.writeUInt32BE(0x12345678, 8);
  for (let i = 0; i < PAYLOAD; i++) b[HEADER + i] = 0xd5 ^ (i & 0xff);
}

function session(suite: SrtpSuiteName, seed: number): SrtpSession {
  const s = SRTP_SUITES[suite];
  const bytes = (n: number, off: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (seed * 31 + off + i) & 0xff));
  return new SrtpSession({ suite, masterKey: bytes(s.keyLength, 0), masterSalt: bytes(s.saltLength, s.keyLength) });
}

function must(r: Buffer | string): Buffer {
  if (typeof r === 'string') throw new Error(`srtp: ${r}`);
  return r;
}

function benchOurs(suite: SrtpSuiteName, packets: number): Figures {
  const rounds = Math.max(2, Math.floor(packets / CHUNK));
  const chunk = Array.from({ length: CHUNK }, () => Buffer.alloc(PLAIN + 64));
  const views: Buffer[] = new Array<Buffer>(CHUNK);
  const fill = (by: SrtpSession, first: number): void => {
    const clear = Buffer.alloc(PLAIN);
    for (let i = 0; i < CHUNK; i++) {
      packet(clear, first + i);
      const p = must(by.protectRtp(clear));
      p.copy(chunk[i]!);
      views[i] = chunk[i]!.subarray(0, p.length);
    }
  };

  // protect: the clear packet is read, not changed; the output lands in the session's buffer
  const tx = session(suite, 1);
  const plain = Buffer.alloc(PLAIN);
  packet(plain, 0);
  let total = 0n;
  for (let r = -1; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < CHUNK; i++) {
      const n = (r + 1) * CHUNK + i;
      plain[2] = (n >>> 8) & 0xff;
      plain[3] = n & 0xff;
      must(tx.protectRtp(plain));
    }
    if (r >= 0) total += process.hrtime.bigint() - t0;
  }
  const protect = Number(total) / (rounds * CHUNK);

  const tx2 = session(suite, 2), rx2 = session(suite, 2);
  total = 0n;
  for (let r = -1; r < rounds; r++) {
    fill(tx2, (r + 1) * CHUNK);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < CHUNK; i++) must(rx2.unprotectRtp(views[i]!));
    if (r >= 0) total += process.hrtime.bigint() - t0;
  }
  const unprotect = Number(total) / (rounds * CHUNK);

  const txa = session(suite, 3), rxa = session(suite, 3), txb = session(suite, 4);
  total = 0n;
  for (let r = -1; r < rounds; r++) {
    fill(txa, (r + 1) * CHUNK);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < CHUNK; i++) must(txb.protectRtp(must(rxa.unprotectRtp(views[i]!))));
    if (r >= 0) total += process.hrtime.bigint() - t0;
  }
  const hop = Number(total) / (rounds * CHUNK);
  return { protect, unprotect, hop };
}

function buildRef(dir: string): string {
  const pc = spawnSync('pkg-config', ['--cflags', '--libs', 'libsrtp2'], { encoding: 'utf8' });
  if (pc.error || pc.status !== 0) throw new Error(`pkg-config libsrtp2 failed; run scripts/install-deps.sh (libsrtp2-dev, pkg-config): ${pc.stderr}`);
  const exe = join(dir, 'srtp-bench');
  const cc = spawnSync('cc', ['-O2', '-o', exe, REF_SOURCE, ...pc.stdout.trim().split(/\s+/).filter(Boolean)], { encoding: 'utf8' });
  if (cc.error || cc.status !== 0) throw new Error(`cc failed: ${cc.stderr || String(cc.error)}`);
  return exe;
}

function benchRef(exe: string, suite: SrtpSuiteName, packets: number): Figures {
  const r = spawnSync(exe, [suite, String(packets)], { encoding: 'utf8', timeout: REF_TIMEOUT_MS });
  if (r.error || r.status !== 0) throw new Error(`srtp-bench ${suite} failed (${r.status}): ${r.stderr || String(r.error)}`);
  const v: Record<string, number> = {};
  for (const line of r.stdout.trim().split('\n')) {
    const [k, n] = line.split(' ');
    v[k!] = Number(n);
  }
  if (!(v['protect']! > 0 && v['unprotect']! > 0 && v['hop']! > 0)) throw new Error(`srtp-bench ${suite}: unexpected output ${r.stdout}`);
  return { protect: v['protect']!, unprotect: v['unprotect']!, hop: v['hop']! };
}

function best(a: Figures, b: Figures): Figures {
  return { protect: Math.min(a.protect, b.protect), unprotect: Math.min(a.unprotect, b.unprotect), hop: Math.min(a.hop, b.hop) };
}

function main(): void {
  const { values } = parseArgs({ options: { packets: { type: 'string' }, reps: { type: 'string' }, suite: { type: 'string', multiple: true } } });
  const packets = values.packets ? Number(values.packets) : DEFAULT_PACKETS;
  const reps = values.reps ? Number(values.reps) : DEFAULT_REPS;
  if (!Number.isInteger(reps) || reps < 1) throw new Error('--reps must be a positive integer');
  if (!Number.isInteger(packets) || packets < CHUNK * 2) throw new Error(`--packets must be an integer of at least ${CHUNK * 2}`);
  const suites = (values.suite ?? [...SRTP_SUITE_NAMES]).map((s) => {
    if (!isSrtpSuiteName(s)) throw new Error(`unknown suite ${s}`);
    return s;
  });
  if (!suites.includes(HEADLINE_SUITE)) suites.push(HEADLINE_SUITE);
  const dir = mkdtempSync(join(tmpdir(), 'srtp-bench-'));
  try {
    const exe = buildRef(dir);
    console.log(`srtp bench: ${packets} packets per figure, best of ${reps}, ${PLAIN}-byte G.711 RTP packets, node ${process.version}, libsrtp2 via pkg-config`);
    const pad = (s: string, n: number): string => s.padStart(n);
    console.log(`${'suite'.padEnd(26)}${pad('op', 10)}${pad('ours ns', 10)}${pad('libsrtp ns', 12)}${pad('ours/lib', 10)}`);
    let headline: { ours: Figures; ref: Figures } | undefined;
    for (const suite of suites) {
      let ref = benchRef(exe, suite, packets);
      let ours = benchOurs(suite, packets);
      for (let r = 1; r < reps; r++) {
        ref = best(ref, benchRef(exe, suite, packets));
        ours = best(ours, benchOurs(suite, packets));
      }
      for (const op of ['protect', 'unprotect', 'hop'] as const) {
        console.log(`${suite.padEnd(26)}${pad(op, 10)}${pad(ours[op].toFixed(0), 10)}${pad(ref[op].toFixed(0), 12)}${pad((ours[op] / ref[op]).toFixed(2), 10)}`);
      }
      if (suite === HEADLINE_SUITE) headline = { ours, ref };
    }
    const h = headline!;
    console.log(`srtp hop ratio ours/libsrtp: ${(h.ours.hop / h.ref.hop).toFixed(2)} (ours ${h.ours.hop.toFixed(0)} ns, libsrtp ${h.ref.hop.toFixed(0)} ns)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
