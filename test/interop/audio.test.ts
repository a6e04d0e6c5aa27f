import t from 'tap';
import { analyseTone, dominantFrequency, makeWav, parseWav, rms } from './audio.js';

/*
 * The call tests trust audio.ts to tell a 600 Hz tone from a 1000 Hz one and
 * a tone from silence; these checks run on synthesised samples, no clients.
 */

function sine(hz: number, seconds: number, rate: number, amplitude: number, noise = 0): Int16Array {
  const out = new Int16Array(Math.round(seconds * rate));
  let x = 12345;
  for (let i = 0; i < out.length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff; // deterministic noise
    out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / rate) + noise * ((x / 0x7fffffff) * 2 - 1));
  }
  return out;
}

t.test('dominant frequency of clean and noisy tones', async (t) => {
  for (const hz of [600, 1000, 440, 3000]) {
    const f = dominantFrequency(sine(hz, 2, 8000, 8000), 8000);
    t.ok(Math.abs(f.frequency - hz) < 2, `${hz} Hz found as ${f.frequency.toFixed(2)}`);
    t.ok(f.peakShare > 0.95, `a clean tone holds the energy near its peak (${f.peakShare.toFixed(3)})`);
  }
  const noisy = dominantFrequency(sine(600, 2, 8000, 3000, 3000), 8000);
  t.ok(Math.abs(noisy.frequency - 600) < 2, 'found under broadband noise');
  t.ok(noisy.peakShare < 0.95, 'but with less of the energy at the peak');
});

t.test('RMS of a sine is amplitude / sqrt 2; silence is 0', async (t) => {
  t.ok(Math.abs(rms(sine(1000, 1, 8000, 10000)) - 10000 / Math.SQRT2) < 20);
  t.equal(rms(new Int16Array(800)), 0);
  t.equal(rms([]), 0);
});

t.test('WAV round trip, skipping unknown chunks with odd sizes', async (t) => {
  const samples = sine(1000, 3, 8000, 5000);
  const plain = makeWav(samples, 8000);
  const pcm = parseWav(plain);
  t.equal(pcm.sampleRate, 8000);
  t.equal(pcm.channels, 1);
  t.same(Array.from(pcm.samples.subarray(0, 50)), Array.from(samples.subarray(0, 50)));
  t.equal(pcm.samples.length, samples.length);

  // A LIST chunk of odd length (plus its pad byte) between fmt and data.
  const list = Buffer.concat([Buffer.from('LIST'), Buffer.from([3, 0, 0, 0]), Buffer.from('abc'), Buffer.from([0])]);
  const withList = Buffer.concat([plain.subarray(0, 36), list, plain.subarray(36)]);
  t.equal(parseWav(withList).samples.length, samples.length);

  // A recording whose writer died before it filled in the data size.
  const unfinished = Buffer.from(plain);
  unfinished.writeUInt32LE(0, 40);
  t.equal(parseWav(unfinished).samples.length, samples.length);

  const report = analyseTone(pcm);
  t.ok(Math.abs(report.frequency - 1000) < 2);
  t.ok(Math.abs(report.seconds - 3) < 0.01);
  t.ok(report.rms > 3000);
});

t.test('refuses what it cannot read', async (t) => {
  t.throws(() => parseWav(Buffer.from('not a wav file at all')), /RIFF/);
  const eightBit = makeWav(sine(600, 0.1, 8000, 100), 8000);
  eightBit.writeUInt16LE(8, 34);
  t.throws(() => parseWav(eightBit), /16-bit/);
  const alaw = makeWav(sine(600, 0.1, 8000, 100), 8000);
  alaw.writeUInt16LE(6, 20);
  t.throws(() => parseWav(alaw), /not PCM/);
  t.throws(() => parseWav(makeWav(new Int16Array(0), 8000).subarray(0, 36)), /no data chunk/);
  t.throws(() => dominantFrequency(new Int16Array(100), 8000), /only 100 samples/);
});
