/**
 * The built-in music on hold, generated in code (no file to ship or license):
 * a slow arpeggio over four chords, Cmaj7 - Am7 - Fmaj7 - G, each chord's
 * four notes up and back down (eight notes of 450 ms), 32 notes in all:
 * 14.4 s at 8000 samples/s, looped seamlessly.
 *
 * Each note is a soft sine with a faint second harmonic, a 15 ms raised-
 * cosine attack and an exponential decay (time constant 300 ms) that rings
 * on under the next note for 900 ms. The notes are rendered into a circular
 * buffer, so the tails of the last notes fall over the first ones and the
 * loop point has no click. The whole is scaled to a peak of -12 dBFS.
 *
 * All notes lie in 261-784 Hz, inside the telephone band, and at least
 * 30 Hz apart, so the dominant frequency of any 200 ms window is one of
 * DEFAULT_HOLD_MUSIC_NOTES_HZ.
 */
import { FRAME_SAMPLES } from './frames.js';

const RATE = 8000;

const C4 = 261.63, E4 = 329.63, F4 = 349.23, G4 = 392.0, A4 = 440.0, B4 = 493.88;
const C5 = 523.25, D5 = 587.33, E5 = 659.25, G5 = 783.99;

/** The chords, each arpeggiated up then down. */
const CHORDS: readonly (readonly number[])[] = [
  [C4, E4, G4, B4], // Cmaj7
  [A4, C5, E5, G5], // Am7 (G5 on top)
  [F4, A4, C5, E5], // Fmaj7
  [G4, B4, D5, G5], // G
];

/** Every note the default music plays, in Hz, lowest first. */
export const DEFAULT_HOLD_MUSIC_NOTES_HZ: readonly number[] = [...new Set(CHORDS.flat())].sort((a, b) => a - b);

const NOTE_STEP_MS = 450;
const NOTE_RING_MS = 900;
const ATTACK_MS = 15;
const DECAY_MS = 300;
const SECOND_HARMONIC = 0.12;
/** -12 dBFS of a 16-bit full scale. */
export const DEFAULT_HOLD_MUSIC_PEAK = Math.round(32767 * 10 ** (-12 / 20));

function sequence(): number[] {
  const out: number[] = [];
  for (const chord of CHORDS) out.push(...chord, ...[...chord].reverse());
  return out;
}

let cached: Int16Array | undefined;

function render(): Int16Array {
  const notes = sequence();
  const step = (NOTE_STEP_MS * RATE) / 1000;
  // A whole number of 20 ms frames, so a loop is frame-aligned.
  const length = Math.ceil((notes.length * step) / FRAME_SAMPLES) * FRAME_SAMPLES;
  const acc = new Float64Array(length);
  const ring = (NOTE_RING_MS * RATE) / 1000;
  const attack = (ATTACK_MS * RATE) / 1000;
  const decay = (DECAY_MS * RATE) / 1000;
  notes.forEach((f, n) => {
    const start = Math.round(n * step);
    const w = (2 * Math.PI * f) / RATE;
    for (let i = 0; i < ring; i++) {
      const env = (i < attack ? 0.5 - 0.5 * Math.cos((Math.PI * i) / attack) : 1) * Math.exp(-i / decay)
        // The last 10% of the ring fades to zero, so a note never stops on a step.
        * Math.min(1, (ring - i) / (ring * 0.1));
      acc[(start + i) % length]! += env * (Math.sin(w * i) + SECOND_HARMONIC * Math.sin(2 * w * i));
    }
  });
  let peak = 0;
  for (let i = 0; i < length; i++) peak = Math.max(peak, Math.abs(acc[i]!));
  const gain = DEFAULT_HOLD_MUSIC_PEAK / peak;
  const out = new Int16Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.round(acc[i]! * gain);
  return out;
}

/** The default music on hold: 8 kHz mono linear PCM (a fresh copy each call; rendered once). */
export function defaultHoldMusic(): Int16Array {
  cached ??= render();
  return cached.slice();
}
