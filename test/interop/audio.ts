/**
 * Just enough audio analysis for the call tests: read a PCM WAV file, find the
 * dominant frequency of a stretch of it and its RMS level.
 */

export interface Pcm {
  readonly sampleRate: number;
  readonly channels: number;
  /** The first channel, as signed 16-bit values. */
  readonly samples: Int16Array;
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** A recording left open when its writer died may say 0 (or ~0) for the data size. */
const UNFINISHED_SIZES = new Set([0, 0xffffffff]);

/*
 * RIFF layout (little endian):
 *   "RIFF" u32 size "WAVE"
 *   then chunks: id[4] u32 size body[size] (+1 pad byte when size is odd)
 *   "fmt ": u16 format, u16 channels, u32 rate, u32 byteRate, u16 blockAlign, u16 bits
 *   "data": interleaved samples
 */
export function parseWav(buf: Buffer): Pcm {
  if (buf.length < 12 || buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE') {
    throw new Error('not a RIFF/WAVE file');
  }
  let fmt: { format: number; channels: number; rate: number; bits: number } | undefined;
  let at = 12;
  while (at + 8 <= buf.length) {
    const id = buf.toString('latin1', at, at + 4);
    const declared = buf.readUInt32LE(at + 4);
    const bodyAt = at + 8;
    if (id === 'fmt ') {
      if (declared < 16 || bodyAt + 16 > buf.length) throw new Error('short fmt chunk');
      fmt = {
        format: buf.readUInt16LE(bodyAt), channels: buf.readUInt16LE(bodyAt + 2),
        rate: buf.readUInt32LE(bodyAt + 4), bits: buf.readUInt16LE(bodyAt + 14),
      };
    } else if (id === 'data') {
      if (!fmt) throw new Error('data chunk before fmt chunk');
      if (fmt.format !== WAVE_FORMAT_PCM && fmt.format !== WAVE_FORMAT_EXTENSIBLE) throw new Error(`WAV format ${fmt.format} is not PCM`);
      if (fmt.bits !== 16) throw new Error(`${fmt.bits}-bit samples; only 16-bit PCM is read`);
      if (fmt.channels < 1) throw new Error('no channels');
      const available = buf.length - bodyAt;
      const size = UNFINISHED_SIZES.has(declared) || declared > available ? available : declared;
      const frameBytes = 2 * fmt.channels;
      const frames = Math.floor(size / frameBytes);
      const samples = new Int16Array(frames);
      for (let i = 0; i < frames; i++) samples[i] = buf.readInt16LE(bodyAt + i * frameBytes);
      return { sampleRate: fmt.rate, channels: fmt.channels, samples };
    }
    if (declared > buf.length - bodyAt) break;
    at = bodyAt + declared + (declared & 1);
  }
  throw new Error('no data chunk');
}

/** Root mean square of the samples, in 16-bit units (full-scale sine ≈ 23170). */
export function rms(samples: ArrayLike<number>): number {
  if (samples.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  return Math.sqrt(sum / samples.length);
}

/** In-place iterative radix-2 FFT; re and im have a power-of-two length. */
function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    const wr = Math.cos(ang);
    const wi = Math.sin(ang);
    for (let i = 0; i < n; i += len) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = i + k;
        const b = a + len / 2;
        const tr = re[b]! * cr - im[b]! * ci;
        const ti = re[b]! * ci + im[b]! * cr;
        re[b] = re[a]! - tr;
        im[b] = im[a]! - ti;
        re[a] = re[a]! + tr;
        im[a] = im[a]! + ti;
        const ncr = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = ncr;
      }
    }
  }
}

export interface Spectrum { readonly frequency: number; readonly peakShare: number }

/**
 * The strongest frequency between minHz and maxHz: a Hann-windowed FFT over
 * the largest power-of-two stretch of the samples, refined by a parabola
 * through the peak bin and its neighbours. peakShare is the fraction of the
 * in-band energy within ±3 bins of the peak (near 1 for a clean tone).
 */
export function dominantFrequency(samples: ArrayLike<number>, sampleRate: number, minHz = 100, maxHz = 3500): Spectrum {
  let n = 1;
  while (n * 2 <= samples.length) n *= 2;
  if (n < 256) throw new Error(`only ${samples.length} samples`);
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let i = 0; i < n; i++) re[i] = samples[i]! * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1)));
  fft(re, im);
  const power = (k: number): number => re[k]! * re[k]! + im[k]! * im[k]!;
  const lo = Math.max(1, Math.ceil((minHz * n) / sampleRate));
  const hi = Math.min(n / 2 - 1, Math.floor((maxHz * n) / sampleRate));
  let best = lo;
  let total = 0;
  for (let k = lo; k <= hi; k++) {
    total += power(k);
    if (power(k) > power(best)) best = k;
  }
  let near = 0;
  for (let k = Math.max(lo, best - 3); k <= Math.min(hi, best + 3); k++) near += power(k);
  // Parabolic interpolation on log magnitudes of bins best-1, best, best+1.
  const a = Math.log(power(best - 1) + 1e-12);
  const b = Math.log(power(best) + 1e-12);
  const c = Math.log(power(best + 1) + 1e-12);
  const denom = a - 2 * b + c;
  const offset = denom === 0 ? 0 : (0.5 * (a - c)) / denom;
  return { frequency: ((best + offset) * sampleRate) / n, peakShare: total === 0 ? 0 : near / total };
}

export interface ToneReport { readonly seconds: number; readonly frequency: number; readonly peakShare: number; readonly rms: number }

/** Analyse the middle of a recording: skip `skipSec` at each end (call set-up and tear-down). */
export function analyseTone(pcm: Pcm, skipSec = 0.5): ToneReport {
  const skip = Math.floor(skipSec * pcm.sampleRate);
  const s = pcm.samples.length > 4 * skip ? pcm.samples.subarray(skip, pcm.samples.length - skip) : pcm.samples;
  const spec = dominantFrequency(s, pcm.sampleRate);
  return { seconds: pcm.samples.length / pcm.sampleRate, frequency: spec.frequency, peakShare: spec.peakShare, rms: rms(s) };
}

/** A 16-bit mono PCM WAV of the given samples (for tests of the reader). */
export function makeWav(samples: Int16Array, sampleRate: number): Buffer {
  const data = Buffer.alloc(samples.length * 2);
  samples.forEach((v, i) => data.writeInt16LE(v, i * 2));
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + data.length, 4);
  h.write('WAVE', 8, 'latin1');
  h.write('fmt ', 12, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(WAVE_FORMAT_PCM, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}
