/**
 * Conference mixer and recording bench (`npm run bench:mixer`), issue 9.
 *
 * Mixer: N participants each send S seconds of a G.711 (PCMU) tone, 20 ms
 * frames; every frame the box's Mixer (firmware/media/mixer.ts) decodes each
 * member's frame, sums, and encodes the sum minus the listener's own voice
 * for each member in PCMU. The reference does the same job with sox in the
 * same run: for each listener one `sox -m` of the other N-1 raw u-law files
 * into a u-law output (decode, mix, encode), its CPU time read from the
 * children's rusage (/proc/self/stat cutime+cstime). Both figures are CPU
 * per participant per second of audio; the ratio is sox's over ours (above
 * 1: ours costs less). Each figure is the lowest of --reps runs (the least
 * disturbed on a shared machine).
 *
 * Recording: benchRecording (firmware/recording/bench.ts) feeds a two-party
 * call at 50 packets/s per leg into a real store on disk: CPU per recorded
 * call (decoded WAV and encrypted capture), sealing and writing included.
 *
 * Not measured here: sockets and SRTP per member (bench:srtp has the SRTP
 * hop), so "participants per core" is the mixing alone.
 *
 * Options: --seconds S (default 60), --sizes 3,5,10,16, --reps N (default 3).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cryptoRandom } from '../../firmware/core/index.js';
import { FRAME_SAMPLES, Mixer, encodeG711 } from '../../firmware/media/index.js';
import { benchRecording } from '../../firmware/recording/index.js';

const { values } = parseArgs({ options: { seconds: { type: 'string' }, sizes: { type: 'string' }, reps: { type: 'string' } } });
const SECONDS = Number(values.seconds ?? 60);
const SIZES = (values.sizes ?? '3,5,10,16').split(',').map(Number);
const REPS = Number(values.reps ?? 3);
const FRAMES = SECONDS * 50;
const TONES = [1000, 600, 400, 800, 1200, 500, 700, 900, 1100, 1300, 450, 650, 850, 1050, 1250, 1450];

/** One participant's whole input, PCMU, FRAMES x 160 bytes. */
function toneUlaw(hz: number): Uint8Array {
  const pcm = new Int16Array(FRAMES * FRAME_SAMPLES);
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(6000 * Math.sin((2 * Math.PI * hz * i) / 8000));
  return encodeG711('PCMU', pcm);
}

const cpuMicros = (): number => { const u = process.cpuUsage(); return u.user + u.system; };

function childTicksMicros(): number {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  // After ") ": state is field 3, so cutime (16) and cstime (17) are at 13 and 14.
  const ticks = Number(f[13]) + Number(f[14]);
  const hz = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
  return (ticks * 1e6) / hz;
}

/** Our mixer: CPU µs for the whole input of n members. */
function ours(inputs: readonly Uint8Array[], n: number): number {
  const mixer = new Mixer(cryptoRandom);
  let sent = 0;
  const members = inputs.slice(0, n).map(() => mixer.add({ codec: 'PCMU', payloadType: 0, send: () => { sent++; } }));
  const c0 = cpuMicros();
  for (let f = 0; f < FRAMES; f++) {
    for (let m = 0; m < n; m++) {
      members[m]!.push(0, 0x1000 + m, (f * FRAME_SAMPLES) >>> 0, inputs[m]!.subarray(f * FRAME_SAMPLES, (f + 1) * FRAME_SAMPLES));
    }
    mixer.mix(1);
  }
  const used = cpuMicros() - c0;
  if (sent < (FRAMES - 2) * n) throw new Error(`the mixer sent ${sent} packets, expected about ${FRAMES * n}`);
  return used;
}

/** sox: CPU µs (children) for the n mix-minus outputs. */
function sox(dir: string, n: number): number {
  const c0 = childTicksMicros();
  for (let me = 0; me < n; me++) {
    const args = ['-m'];
    for (let o = 0; o < n; o++) if (o !== me) args.push('-t', 'ul', '-r', '8000', '-c', '1', join(dir, `in${o}.ul`));
    args.push('-t', 'ul', '-r', '8000', '-c', '1', join(dir, `out${me}.ul`));
    const r = spawnSync('sox', args, { timeout: 300_000 });
    if (r.status !== 0) throw new Error(`sox: ${r.stderr.toString()}`);
  }
  return childTicksMicros() - c0;
}

async function main(): Promise<void> {
  if (spawnSync('sox', ['--version']).status !== 0) throw new Error('sox is missing: scripts/install-deps.sh installs it');
  const dir = mkdtempSync(join(tmpdir(), 'mixer-bench-'));
  try {
    const inputs = TONES.slice(0, Math.max(...SIZES)).map(toneUlaw);
    inputs.forEach((b, i) => writeFileSync(join(dir, `in${i}.ul`), b));
    ours(inputs, 3); // warm-up (JIT)
    console.log(`mixer: ${SECONDS} s of PCMU per participant, mix-minus encoded per member; lowest of ${REPS} runs`);
    console.log('participants  ours µs/participant/s  sox µs/participant/s  sox/ours  ours CPU% per participant  participants per core');
    let headline = '';
    for (const n of SIZES) {
      let best = Infinity;
      let ref = Infinity;
      for (let r = 0; r < REPS; r++) {
        ref = Math.min(ref, sox(dir, n));
        best = Math.min(best, ours(inputs, n));
      }
      const perPs = best / n / SECONDS;
      const refPs = ref / n / SECONDS;
      const perCore = Math.floor(1e6 / perPs);
      console.log(`${String(n).padStart(12)}  ${perPs.toFixed(1).padStart(20)}  ${refPs.toFixed(1).padStart(20)}  ${(refPs / perPs).toFixed(2).padStart(8)}  ${((perPs / 1e6) * 100).toFixed(3).padStart(25)}  ${String(perCore).padStart(21)}`);
      headline = `mixer: ${n} participants: ${perPs.toFixed(1)} µs CPU per participant per second (sox ${refPs.toFixed(1)}), ratio sox/ours ${(refPs / perPs).toFixed(2)}, about ${perCore} participants per core (mixing alone)`;
    }
    for (const kind of ['decoded', 'encrypted-capture'] as const) {
      let best: Awaited<ReturnType<typeof benchRecording>> | undefined;
      for (let r = 0; r < REPS; r++) {
        const b = await benchRecording(Math.min(SECONDS, 30), kind);
        if (!best || b.totalMicros < best.totalMicros) best = b;
      }
      const perCallPs = best!.totalMicros * 100;
      console.log(`recording (${kind}): ${best!.packetPathMicros.toFixed(2)} µs per packet on the packet path, ${best!.totalMicros.toFixed(2)} µs with sealing and writing; ${perCallPs.toFixed(0)} µs CPU per second of a two-party call (${(perCallPs / 1e4).toFixed(2)}% of a core), ${best!.dropped} chunks dropped`);
    }
    console.log(headline);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
