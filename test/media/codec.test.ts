// G.711 and WAV: checked against sox (an independent implementation) where it can say, and against ITU-T G.711's fixed points.
import t from 'tap';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  alawToLinear, decodeG711, encodeG711, g711Silence, linearToAlaw, linearToUlaw, readWav, resample, ulawToLinear, wavToTelephone, writeWav,
} from '../../firmware/media/index.js';
import { isPbxError } from '../../firmware/core/index.js';

const dir = mkdtempSync(join(tmpdir(), 'codec-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function sox(...args: string[]): void {
  const r = spawnSync('sox', args, { timeout: 20_000 });
  if (r.status !== 0) throw new Error(`sox ${args.join(' ')}: ${r.stderr?.toString()}`);
}

function dominantHz(pcm: Int16Array, rate: number): number {
  // Goertzel scan over 50 Hz steps is enough to tell 1000 Hz from anything near it.
  let best = 0; let bestHz = 0;
  for (let hz = 100; hz < rate / 2; hz += 10) {
    const w = (2 * Math.PI * hz) / rate; const c = 2 * Math.cos(w);
    let s1 = 0; let s2 = 0;
    for (let i = 0; i < pcm.length; i++) { const s0 = pcm[i]! + c * s1 - s2; s2 = s1; s1 = s0; }
    const p = s1 * s1 + s2 * s2 - c * s1 * s2;
    if (p > best) { best = p; bestHz = hz; }
  }
  return bestHz;
}

t.test('G.711 fixed points (ITU-T G.711 tables)', async (t) => {
  t.equal(linearToUlaw(0), 0xff, 'mu-law zero is 0xff');
  t.equal(linearToAlaw(0), 0xd5, 'A-law zero is 0xd5');
  t.equal(ulawToLinear(0x00), -32124, 'mu-law 0x00 is the most negative value');
  t.equal(ulawToLinear(0x80), 32124, 'mu-law 0x80 is the most positive value');
  t.equal(alawToLinear(0x55), -8, 'A-law 0x55 is the smallest negative step');
  t.equal(alawToLinear(0xaa), 32256, 'A-law 0xaa is the most positive value (sign bit set means positive)');
  t.equal(alawToLinear(0x2a), -32256);
  t.equal(g711Silence('PCMU'), linearToUlaw(0));
  t.equal(g711Silence('PCMA'), linearToAlaw(0));
  t.equal(linearToUlaw(40000), linearToUlaw(32767), 'out of range clips');
});

t.test('every code word survives decode then encode, for both laws', async (t) => {
  let bad = 0;
  for (let i = 0; i < 256; i++) {
    if (linearToAlaw(alawToLinear(i)) !== i) bad++;
    // mu-law has two zeros (0x7f and 0xff): 0x7f decodes to 0 and encodes back as 0xff.
    if (i !== 0x7f && linearToUlaw(ulawToLinear(i)) !== i) bad++;
  }
  t.equal(bad, 0);
});

t.test('companding error stays within the segment step (property)', async (t) => {
  fc.assert(fc.property(fc.integer({ min: -32768, max: 32767 }), (x) => {
    for (const [enc, dec] of [[linearToUlaw, ulawToLinear], [linearToAlaw, alawToLinear]] as const) {
      const y = dec(enc(x));
      const bound = Math.max(16, Math.abs(x) / 16 + 8) + (Math.abs(x) > 32124 ? 700 : 0);
      if (Math.abs(y - x) > bound) return false;
      if (Math.sign(y) !== Math.sign(x) && Math.abs(x) > 16) return false;
    }
    return true;
  }), { numRuns: 20_000 });
  t.pass('checked 20,000 samples per law');
});

t.test('our encoders agree with sox byte for byte', async (t) => {
  // 16-bit samples over the whole range, then sox's own mu-law and A-law of the same file.
  const pcm = new Int16Array(65536);
  for (let i = 0; i < pcm.length; i++) pcm[i] = i - 32768;
  const src = join(dir, 'ramp.wav');
  writeFileSync(src, writeWav(1, 8000, pcm));
  sox('-D', src, '-t', 'ul', join(dir, 'ramp.ul')); // -D: no dither, or sox would move samples near a step
  sox('-D', src, '-t', 'al', join(dir, 'ramp.al'));
  const ul = readFileSync(join(dir, 'ramp.ul'));
  const al = readFileSync(join(dir, 'ramp.al'));
  t.equal(ul.length, pcm.length);
  const ours = { ul: encodeG711('PCMU', pcm), al: encodeG711('PCMA', pcm) };
  let dUl = 0; let dAl = 0;
  for (let i = 0; i < pcm.length; i++) { if (ours.ul[i] !== ul[i]) dUl++; if (ours.al[i] !== al[i]) dAl++; }
  t.equal(dUl, 0, 'mu-law: every sample as sox encodes it');
  t.equal(dAl, 0, 'A-law: every sample as sox encodes it');
  // And decoding: sox's linear of every code word.
  const codes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  writeFileSync(join(dir, 'codes.ul'), codes);
  writeFileSync(join(dir, 'codes.al'), codes);
  sox('-t', 'ul', '-r', '8000', '-c', '1', join(dir, 'codes.ul'), '-b', '16', '-e', 'signed', join(dir, 'codes-ul.raw'));
  sox('-t', 'al', '-r', '8000', '-c', '1', join(dir, 'codes.al'), '-b', '16', '-e', 'signed', join(dir, 'codes-al.raw'));
  const lu = readFileSync(join(dir, 'codes-ul.raw'));
  const la = readFileSync(join(dir, 'codes-al.raw'));
  const du = decodeG711('PCMU', codes); const da = decodeG711('PCMA', codes);
  let e = 0;
  for (let i = 0; i < 256; i++) { if (lu.readInt16LE(2 * i) !== du[i]) e++; if (la.readInt16LE(2 * i) !== da[i]) e++; }
  t.equal(e, 0, 'decoding matches sox for all 512 code words');
});


t.test('WAV files as sox writes them: 16-bit, 24-bit, float, 8-bit, stereo, mu-law, at 44.1 kHz', async (t) => {
  const cases: Array<[string, string[]]> = [
    ['s16-44k-stereo', ['-r', '44100', '-c', '2', '-b', '16', '-e', 'signed']],
    ['s24-48k', ['-r', '48000', '-c', '1', '-b', '24', '-e', 'signed']],
    ['f32-16k', ['-r', '16000', '-c', '1', '-b', '32', '-e', 'floating-point']],
    ['u8-8k', ['-r', '8000', '-c', '1', '-b', '8', '-e', 'unsigned']],
    ['ulaw-8k', ['-r', '8000', '-c', '1', '-e', 'mu-law']],
    ['alaw-8k', ['-r', '8000', '-c', '1', '-e', 'a-law']],
    ['s32-22k', ['-r', '22050', '-c', '1', '-b', '32', '-e', 'signed']],
  ];
  for (const [name, opts] of cases) {
    const f = join(dir, `${name}.wav`);
    sox('-n', ...opts, f, 'synth', '1.5', 'sine', '1000', 'gain', '-6');
    const { pcm, source } = wavToTelephone(readFileSync(f));
    t.ok(Math.abs(pcm.length - 12000) <= 2, `${name}: 1.5 s at 8 kHz (${pcm.length} samples)`);
    t.equal(dominantHz(pcm.subarray(0, 4000), 8000), 1000, `${name}: the tone is still 1000 Hz`);
    const peak = pcm.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    t.ok(peak > 12000 && peak < 20000, `${name}: level kept (-6 dB is about 16400, got ${peak})`);
    t.ok(source.sampleRate > 0);
  }
});

t.test('a 3000 Hz tone at 44.1 kHz stays 3000 Hz after resampling, and 6000 Hz is filtered down', async (t) => {
  const rate = 44100;
  const mk = (hz: number): Int16Array => Int16Array.from({ length: rate }, (_, i) => Math.round(10000 * Math.sin((2 * Math.PI * hz * i) / rate)));
  t.equal(dominantHz(resample(mk(3000), rate, 8000), 8000), 3000);
  const alias = resample(mk(6000), rate, 8000);
  const rms = Math.sqrt(alias.reduce((s, v) => s + v * v, 0) / alias.length);
  t.ok(rms < 7071 * 0.5, `a tone above 4 kHz comes out at least 6 dB weaker (rms ${rms.toFixed(0)} of 7071)`);
});

t.test('files that are not usable WAV are refused with a message, never a crash', async (t) => {
  const refuse = (buf: Uint8Array, what: string): void => {
    try { readWav(buf); t.fail(`${what}: accepted`); } catch (e) { t.ok(isPbxError(e), `${what}: ${(e as Error).message}`); }
  };
  refuse(Buffer.from('hello world, not audio'), 'text');
  refuse(Buffer.alloc(0), 'empty');
  const good = writeWav(1, 8000, new Int16Array(800));
  refuse(good.subarray(0, 30), 'cut inside the format chunk');
  const noData = Buffer.from(good.subarray(0, 36)); refuse(noData, 'no data chunk');
  const stereo9 = Buffer.from(good); stereo9.writeUInt16LE(9, 22); refuse(stereo9, '9 channels');
  const adpcm = Buffer.from(good); adpcm.writeUInt16LE(2, 20); refuse(adpcm, 'MS ADPCM');
  const lowRate = Buffer.from(good); lowRate.writeUInt32LE(100, 24); refuse(lowRate, '100 Hz');
  sox('-n', '-r', '8000', '-c', '1', join(dir, 'x.flac'), 'synth', '0.2', 'sine', '440');
  refuse(readFileSync(join(dir, 'x.flac')), 'a FLAC file');
  // Mutations of a good file: either a clean refusal or a result, never a throw of another kind.
  fc.assert(fc.property(fc.array(fc.tuple(fc.nat(good.length - 1), fc.nat(255)), { maxLength: 8 }), fc.nat(good.length), (muts, cut) => {
    const b = Buffer.from(good.subarray(0, cut));
    for (const [i, v] of muts) if (i < b.length) b[i] = v;
    try { readWav(b); } catch (e) { if (!isPbxError(e)) throw e; }
  }), { numRuns: 3000 });
});
