/**
 * The waveform summary: per 100 ms step and per channel the lowest and
 * highest sample, kept as their top 8 bits. Built the same way while
 * recording and when a crashed recording is recovered, so both give the same
 * picture.
 */
import { BLOCK_FRAMES, BLOCK_MS } from './aligner.js';
import type { WaveRecord } from './records.js';
import type { Waveform } from './types.js';

export class WaveformBuilder {
  private min: Int8Array;
  private max: Int8Array;
  private steps = 0;

  constructor(readonly channels: number) {
    this.min = new Int8Array(64 * channels);
    this.max = new Int8Array(64 * channels);
  }

  private grow(steps: number): void {
    if (steps <= this.steps) return;
    const need = steps * this.channels;
    if (need > this.min.length) {
      const cap = Math.max(need, this.min.length * 2);
      const min = new Int8Array(cap); min.set(this.min);
      const max = new Int8Array(cap); max.set(this.max);
      this.min = min; this.max = max;
    }
    this.steps = steps;
  }

  /** Frames of audio from `startFrame`, interleaved (`frames * channels` samples used). */
  add(startFrame: number, frames: number, interleaved: Int16Array): void {
    const ch = this.channels;
    this.grow(Math.ceil((startFrame + frames) / BLOCK_FRAMES));
    for (let i = 0; i < frames; i++) {
      const step = Math.floor((startFrame + i) / BLOCK_FRAMES);
      for (let c = 0; c < ch; c++) {
        const v = interleaved[i * ch + c]! >> 8;
        const k = step * ch + c;
        if (v < this.min[k]!) this.min[k] = v;
        if (v > this.max[k]!) this.max[k] = v;
      }
    }
  }

  /** The picture of `totalFrames` frames (silence where nothing was added). */
  build(totalFrames: number): WaveRecord {
    const steps = Math.ceil(totalFrames / BLOCK_FRAMES);
    this.grow(steps);
    return { channels: this.channels, stepMs: BLOCK_MS, min: this.min.slice(0, steps * this.channels), max: this.max.slice(0, steps * this.channels) };
  }
}

/** The page's shape: one array per channel. */
export function toWaveform(w: WaveRecord): Waveform {
  const steps = w.channels === 0 ? 0 : w.min.length / w.channels;
  const min: Int8Array[] = [];
  const max: Int8Array[] = [];
  for (let c = 0; c < w.channels; c++) {
    const lo = new Int8Array(steps);
    const hi = new Int8Array(steps);
    for (let s = 0; s < steps; s++) { lo[s] = w.min[s * w.channels + c]!; hi[s] = w.max[s * w.channels + c]!; }
    min.push(lo); max.push(hi);
  }
  return { stepMs: w.stepMs, channels: w.channels, min, max };
}
