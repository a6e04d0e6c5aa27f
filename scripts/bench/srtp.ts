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
 * A second reference, libsrtp2 built with OpenSSL (scripts/bench/srtp-ref/build-openssl.sh,
 * from Debian's source package), joins the run when it is built. Figures go to
 * bench-srtp.json.
 *
 * Options: --packets N (per measurement, default 200000), --reps N (default 3),
 * --suite NAME (repeatable).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
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
const OPENSSL_PREFIX = process.env['SRTP_OPENSSL_PREFIX'] ?? join(homedir(), '.cache', 'pbx-bench', 'libsrtp2-openssl');
const JSON_OUT = 'bench-srtp.json';

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

interface Ref { readonly name: string; readonly exe: string }

function cc(exe: string, args: readonly string[]): void {
  const r = spawnSync('cc', ['-O2', '-o', exe, REF_SOURCE, ...args], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`cc failed: ${r.stderr || String(r.error)}`);
}

/** Debian's libsrtp2 (NSS), and libsrtp2 built with OpenSSL when build-openssl.sh has run. */
function buildRefs(dir: string): Ref[] {
  const pc = spawnSync('pkg-config', ['--cflags', '--libs', 'libsrtp2'], { encoding: 'utf8' });
  if (pc.error || pc.status !== 0) throw new Error(`pkg-config libsrtp2 failed; run scripts/install-deps.sh (libsrtp2-dev, pkg-config): ${pc.stderr}`);
  const debian = join(dir, 'srtp-bench');
  cc(debian, pc.stdout.trim().split(/\s+/).filter(Boolean));
  const refs: Ref[] = [{ name: 'debian', exe: debian }];
  const lib = join(OPENSSL_PREFIX, 'lib', 'libsrtp2.a');
  if (existsSync(lib)) {
    const exe = join(dir, 'srtp-bench-openssl');
    cc(exe, ['-I', join(OPENSSL_PREFIX, 'include'), lib, '-lcrypto']);
    refs.push({ name: 'openssl', exe });
  } else {
    console.log(`no libsrtp2 built with OpenSSL at ${OPENSSL_PREFIX} (scripts/bench/srtp-ref/build-openssl.sh builds it); Debian's only`);
  }
  return refs;
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
    const refs = buildRefs(dir);
    console.log(`srtp bench: ${packets} packets per figure, best of ${reps} (interleaved), ${PLAIN}-byte G.711 RTP packets, node ${process.version}, references: ${refs.map((r) => r.name).join(', ')}`);
    const pad = (s: string, n: number): string => s.padStart(n);
    console.log(`${'suite'.padEnd(26)}${pad('op', 10)}${pad('ours ns', 10)}${refs.map((r) => `${pad(`${r.name} ns`, 13)}${pad(`ours/${r.name}`, 14)}`).join('')}`);
    const results: Record<string, { ours: Figures; refs: Record<string, Figures> }> = {};
    for (const suite of suites) {
      const got: Record<string, Figures> = {};
      let ours: Figures | undefined;
      for (let r = 0; r < reps; r++) {
        for (const ref of refs) {
          const f = benchRef(ref.exe, suite, packets);
          got[ref.name] = got[ref.name] ? best(got[ref.name]!, f) : f;
        }
        const f = benchOurs(suite, packets);
        ours = ours ? best(ours, f) : f;
      }
      results[suite] = { ours: ours!, refs: got };
      for (const op of ['protect', 'unprotect', 'hop'] as const) {
        const cols = refs.map((r) => `${pad(got[r.name]![op].toFixed(0), 13)}${pad((ours![op] / got[r.name]![op]).toFixed(2), 14)}`).join('');
        console.log(`${suite.padEnd(26)}${pad(op, 10)}${pad(ours![op].toFixed(0), 10)}${cols}`);
      }
    }
    writeFileSync(JSON_OUT, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, packets, reps, results }, null, 2)}\n`);
    console.log(`figures written to ${JSON_OUT}`);
    const h = results[HEADLINE_SUITE]!;
    const deb = h.refs['debian']!, ossl = h.refs['openssl'];
    const extra = ossl ? `; ours/libsrtp-openssl: ${(h.ours.hop / ossl.hop).toFixed(2)} (${ossl.hop.toFixed(0)} ns)` : '';
    console.log(`srtp hop ratio ours/libsrtp: ${(h.ours.hop / deb.hop).toFixed(2)} (ours ${h.ours.hop.toFixed(0)} ns, libsrtp ${deb.hop.toFixed(0)} ns)${extra}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
