/**
 * The received audio as the page measures it: the dominant frequency and the
 * level of an AnalyserNode's spectrum. Pure, so a unit test can feed it bins.
 */

export interface ToneReading {
  /** Hz at the strongest bin (interpolated between its neighbours), or 0 in silence. */
  readonly frequency: number;
  /** dBFS of that bin. */
  readonly levelDb: number;
}

/** Below this the page calls it silence. */
export const SILENCE_DB = -90;

/**
 * bins: getFloatFrequencyData output (dB per bin), sampleRate of the
 * AudioContext, fftSize of the analyser. Only 100-4000 Hz is looked at: the
 * band a narrowband phone call carries.
 */
export function dominantTone(bins: ArrayLike<number>, sampleRate: number, fftSize: number, minHz = 100, maxHz = 4000): ToneReading {
  const hzPerBin = sampleRate / fftSize;
  const lo = Math.max(1, Math.floor(minHz / hzPerBin));
  const hi = Math.min(bins.length - 2, Math.ceil(maxHz / hzPerBin));
  let best = -1;
  let bestDb = -Infinity;
  for (let i = lo; i <= hi; i++) {
    const v = bins[i]!;
    if (Number.isFinite(v) && v > bestDb) { bestDb = v; best = i; }
  }
  if (best < 0 || bestDb < SILENCE_DB) return { frequency: 0, levelDb: Number.isFinite(bestDb) ? bestDb : -Infinity };
  // Parabolic interpolation over the peak and its neighbours (in dB), for a frequency finer than a bin.
  const a = bins[best - 1]!;
  const b = bins[best]!;
  const c = bins[best + 1]!;
  const denom = a - 2 * b + c;
  const shift = Number.isFinite(denom) && denom !== 0 ? Math.max(-0.5, Math.min(0.5, 0.5 * (a - c) / denom)) : 0;
  return { frequency: (best + shift) * hzPerBin, levelDb: bestDb };
}
