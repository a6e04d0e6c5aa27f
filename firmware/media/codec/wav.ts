/**
 * WAV (RIFF/WAVE) files: read what an admin uploads (music on hold,
 * greetings) into 8 kHz mono linear PCM, and write the 44-byte header of a
 * 16-bit PCM file (recordings).
 *
 *   "RIFF" size:u32le "WAVE"  then chunks:  id:4 size:u32le data (padded to even)
 *   "fmt " format:u16 channels:u16 rate:u32 byteRate:u32 blockAlign:u16 bits:u16 [...]
 *   "data" samples, interleaved by channel, little-endian
 *
 * Formats read: PCM 8 bit (unsigned), 16, 24 and 32 bit, IEEE float 32 bit,
 * mu-law and A-law, and WAVE_FORMAT_EXTENSIBLE wrapping any of them. Anything
 * else is refused with a message an admin can act on.
 */
import { PbxError } from '../../core/index.js';
import { alawToLinear, ulawToLinear } from './g711.js';

/** A WAV file larger than this is refused (about 26 minutes of 16-bit 44.1 kHz stereo would be 280 MB). */
export const MAX_WAV_BYTES = 64 * 1024 * 1024;
/** Rates accepted: telephone to studio. */
export const MIN_WAV_RATE = 8000;
export const MAX_WAV_RATE = 192000;
export const MAX_WAV_CHANNELS = 8;

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_ALAW = 6;
const FORMAT_MULAW = 7;
const FORMAT_EXTENSIBLE = 0xfffe;

export interface WavInfo {
  readonly format: 'pcm' | 'float' | 'alaw' | 'ulaw';
  readonly sampleRate: number;
  readonly channels: number;
  readonly bitsPerSample: number;
  /** Samples per channel. */
  readonly frames: number;
}

export interface DecodedWav extends WavInfo {
  /** Mono (channels averaged), linear 16-bit, at the file's own rate. */
  readonly mono: Int16Array;
}

function bad(message: string): PbxError {
  return new PbxError('parse', message);
}

/** Parse a WAV file and mix it down to mono 16-bit linear PCM. */
export function readWav(buf: Uint8Array): DecodedWav {
  if (buf.length > MAX_WAV_BYTES) throw new PbxError('limit', `the file is larger than ${MAX_WAV_BYTES / 1024 / 1024} MB`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 12 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') {
    throw bad('not a WAV file (no RIFF/WAVE header)');
  }
  let fmt: { code: number; channels: number; rate: number; bits: number; align: number } | undefined;
  let data: Buffer | undefined;
  let off = 12;
  while (off + 8 <= b.length) {
    const id = b.toString('latin1', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    const start = off + 8;
    // A truncated last data chunk (a recorder that never fixed its size) is read as far as it goes.
    const end = Math.min(b.length, start + size);
    if (id === 'fmt ') {
      if (end - start < 16) throw bad('the WAV format chunk is too short');
      let code = b.readUInt16LE(start);
      if (code === FORMAT_EXTENSIBLE) {
        if (end - start < 40) throw bad('the WAV extensible format chunk is too short');
        code = b.readUInt16LE(start + 24); // first two bytes of the sub-format GUID
      }
      fmt = { code, channels: b.readUInt16LE(start + 2), rate: b.readUInt32LE(start + 4), bits: b.readUInt16LE(start + 14), align: b.readUInt16LE(start + 12) };
    } else if (id === 'data') {
      data = b.subarray(start, end);
    }
    off = start + size + (size & 1);
  }
  if (!fmt) throw bad('the WAV file has no format chunk');
  if (!data) throw bad('the WAV file has no audio data');
  const { code, channels, rate, bits } = fmt;
  if (channels < 1 || channels > MAX_WAV_CHANNELS) throw bad(`the WAV file has ${channels} channels (1 to ${MAX_WAV_CHANNELS} are read)`);
  if (rate < MIN_WAV_RATE || rate > MAX_WAV_RATE) throw bad(`the WAV sample rate ${rate} Hz is outside ${MIN_WAV_RATE}-${MAX_WAV_RATE} Hz`);
  let format: WavInfo['format'];
  let read: (o: number) => number;
  if (code === FORMAT_PCM && bits === 8) { format = 'pcm'; read = (o) => (data!.readUInt8(o) - 128) << 8; }
  else if (code === FORMAT_PCM && bits === 16) { format = 'pcm'; read = (o) => data!.readInt16LE(o); }
  else if (code === FORMAT_PCM && bits === 24) { format = 'pcm'; read = (o) => data!.readIntLE(o, 3) >> 8; }
  else if (code === FORMAT_PCM && bits === 32) { format = 'pcm'; read = (o) => data!.readInt32LE(o) >> 16; }
  else if (code === FORMAT_FLOAT && bits === 32) {
    format = 'float';
    read = (o) => Math.max(-32768, Math.min(32767, Math.round(data!.readFloatLE(o) * 32767)));
  } else if (code === FORMAT_MULAW && bits === 8) { format = 'ulaw'; read = (o) => ulawToLinear(data!.readUInt8(o)); }
  else if (code === FORMAT_ALAW && bits === 8) { format = 'alaw'; read = (o) => alawToLinear(data!.readUInt8(o)); }
  else throw bad(`WAV format ${code} with ${bits}-bit samples is not supported: save it as 16-bit PCM`);
  const bytes = bits / 8;
  const frameBytes = bytes * channels;
  const frames = Math.floor(data.length / frameBytes);
  if (frames === 0) throw bad('the WAV file holds no samples');
  const mono = new Int16Array(frames);
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += read(f * frameBytes + c * bytes);
    mono[f] = Math.round(sum / channels);
  }
  return { format, sampleRate: rate, channels, bitsPerSample: bits, frames, mono };
}

/**
 * Resample mono PCM to `rate` (8000 for G.711). Downsampling first averages
 * over each output sample's span (a box filter: enough against aliasing for
 * music on hold and prompts), then interpolates linearly.
 */
export function resample(pcm: Int16Array, from: number, to: number): Int16Array {
  if (from === to) return pcm.slice();
  const ratio = from / to;
  const n = Math.max(1, Math.floor(pcm.length / ratio));
  const out = new Int16Array(n);
  const half = ratio > 1 ? ratio / 2 : 0;
  for (let i = 0; i < n; i++) {
    const centre = i * ratio;
    if (half > 0) {
      const lo = Math.max(0, Math.ceil(centre - half));
      const hi = Math.min(pcm.length - 1, Math.floor(centre + half));
      let sum = 0;
      for (let k = lo; k <= hi; k++) sum += pcm[k]!;
      out[i] = Math.round(sum / (hi - lo + 1));
    } else {
      const k = Math.floor(centre);
      const frac = centre - k;
      const a = pcm[k]!;
      const b = pcm[Math.min(pcm.length - 1, k + 1)]!;
      out[i] = Math.round(a + (b - a) * frac);
    }
  }
  return out;
}

/** Read a WAV file as 8 kHz mono linear PCM: what G.711 carries. */
export function wavToTelephone(buf: Uint8Array): { readonly pcm: Int16Array; readonly source: WavInfo } {
  const w = readWav(buf);
  const { mono, ...source } = w;
  return { pcm: resample(mono, w.sampleRate, 8000), source };
}

/** The 44-byte header of a 16-bit PCM WAV file with `dataBytes` of samples. */
export function wavHeader(channels: number, sampleRate: number, dataBytes: number): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(Math.min(0xffffffff, 36 + dataBytes), 4);
  h.write('WAVE', 8, 'latin1');
  h.write('fmt ', 12, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(FORMAT_PCM, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * channels * 2, 28);
  h.writeUInt16LE(channels * 2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(Math.min(0xffffffff - 36, dataBytes), 40);
  return h;
}

/** A whole 16-bit PCM WAV file from interleaved samples. */
export function writeWav(channels: number, sampleRate: number, interleaved: Int16Array): Buffer {
  const body = Buffer.from(interleaved.buffer, interleaved.byteOffset, interleaved.byteLength);
  return Buffer.concat([wavHeader(channels, sampleRate, body.length), body]);
}
