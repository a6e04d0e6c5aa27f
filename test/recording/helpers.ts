// Shared by the recording tests: synthetic RTP, tones, a WAV reader for several channels, a tone detector.
import { decodeG711, encodeG711, type G711Law } from '../../firmware/media/index.js';

export const RATE = 8000;
export const PTIME_FRAMES = 160;

/** 160 samples of a tone at global sample index `packet * 160`, phase-continuous across packets. */
export function tonePcm(hz: number, packet: number, amplitude = 8000): Int16Array {
  const pcm = new Int16Array(PTIME_FRAMES);
  for (let i = 0; i < PTIME_FRAMES; i++) pcm[i] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * (packet * PTIME_FRAMES + i)) / RATE));
  return pcm;
}

/** What the recorder should hold for that packet: the tone through G.711 and back. */
export function decodedTone(law: G711Law, hz: number, packet: number): Int16Array {
  return decodeG711(law, encodeG711(law, tonePcm(hz, packet)));
}

export function rtpPacket(pt: number, seq: number, ts: number, ssrc: number, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(12 + payload.length);
  const v = new DataView(b.buffer);
  b[0] = 0x80;
  b[1] = pt & 0x7f;
  v.setUint16(2, seq & 0xffff);
  v.setUint32(4, ts >>> 0);
  v.setUint32(8, ssrc >>> 0);
  b.set(payload, 12);
  return b;
}

export function tonePacket(law: G711Law, pt: number, hz: number, packet: number, seq: number, ts: number, ssrc: number): Uint8Array {
  return rtpPacket(pt, seq, ts, ssrc, encodeG711(law, tonePcm(hz, packet)));
}

export interface Wav {
  readonly channels: number;
  readonly rate: number;
  readonly bits: number;
  readonly frames: number;
  /** One array per channel. */
  readonly data: Int16Array[];
}

/** A 16-bit PCM WAV with a 44-byte header, split by channel (checks the header fields it relies on). */
export function parseWav16(buf: Buffer): Wav {
  if (buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE' || buf.toString('latin1', 36, 40) !== 'data') {
    throw new Error('not the 44-byte WAV layout');
  }
  const channels = buf.readUInt16LE(22);
  const rate = buf.readUInt32LE(24);
  const bits = buf.readUInt16LE(34);
  const bytes = buf.readUInt32LE(40);
  if (bytes !== buf.length - 44) throw new Error(`data size ${bytes} but ${buf.length - 44} bytes follow`);
  const frames = bytes / (2 * channels);
  const data = Array.from({ length: channels }, () => new Int16Array(frames));
  for (let f = 0; f < frames; f++) for (let c = 0; c < channels; c++) data[c]![f] = buf.readInt16LE(44 + 2 * (f * channels + c));
  return { channels, rate, bits, frames, data };
}

/** The strongest frequency (10 Hz steps, Goertzel) of a stretch of samples. */
export function dominantHz(pcm: Int16Array, rate = RATE): number {
  let best = 0;
  let bestHz = 0;
  for (let hz = 100; hz < rate / 2; hz += 10) {
    const w = (2 * Math.PI * hz) / rate;
    const c = 2 * Math.cos(w);
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < pcm.length; i++) { const s0 = pcm[i]! + c * s1 - s2; s2 = s1; s1 = s0; }
    const p = s1 * s1 + s2 * s2 - c * s1 * s2;
    if (p > best) { best = p; bestHz = hz; }
  }
  return bestHz;
}

export function maxAbs(pcm: Int16Array, from = 0, to = pcm.length): number {
  let m = 0;
  for (let i = from; i < to; i++) m = Math.max(m, Math.abs(pcm[i]!));
  return m;
}

/** Shannon entropy in bits per byte. */
export function entropy(buf: Uint8Array): number {
  const counts = new Array<number>(256).fill(0);
  for (const b of buf) counts[b]!++;
  let h = 0;
  for (const c of counts) if (c > 0) { const p = c / buf.length; h -= p * Math.log2(p); }
  return h;
}
