// The decoding recorder's time line: placement by arrival then by RTP timestamp, loss, reordering,
// duplicates, a late leg, an SSRC change, ignored payloads, and hostile packets.
import t from 'tap';
import fc from 'fast-check';
import { AlignedDecoder, BLOCK_FRAMES, JITTER_WINDOW_MS, payloadKind, type AlignedSink } from '../../firmware/recording/index.js';
import { decodedTone, rtpPacket, tonePacket, maxAbs, PTIME_FRAMES } from './helpers.js';

const T0 = Date.UTC(2026, 0, 1);

/** A sink that rebuilds each channel as one array. */
function collector(legs: number): { sink: AlignedSink; channels: () => Int16Array[]; silenceFrames: () => number } {
  const parts: { start: number; frames: number; data: Int16Array }[] = [];
  let silent = 0;
  let expect = 0;
  const sink: AlignedSink = {
    block(start, frames, interleaved) {
      if (start !== expect) throw new Error(`block at ${start}, expected ${expect}`);
      expect = start + frames;
      parts.push({ start, frames, data: interleaved.slice(0, frames * legs) });
    },
    silence(start, frames) {
      if (start !== expect) throw new Error(`silence at ${start}, expected ${expect}`);
      expect = start + frames;
      silent += frames;
    },
  };
  return {
    sink,
    silenceFrames: () => silent,
    channels: () => {
      const out = Array.from({ length: legs }, () => new Int16Array(expect));
      for (const p of parts) for (let i = 0; i < p.frames; i++) for (let c = 0; c < legs; c++) out[c]![p.start + i] = p.data[i * legs + c]!;
      return out;
    },
  };
}

function expectAt(ch: Int16Array, at: number, samples: Int16Array): boolean {
  for (let i = 0; i < samples.length; i++) if (ch[at + i] !== samples[i]) return false;
  return true;
}

t.test('loss leaves silence exactly in the lost packet place; reordered and duplicate packets change nothing else', async (t) => {
  const c = collector(1);
  const d = new AlignedDecoder(T0, 1, {}, c.sink);
  const order: number[] = [];
  for (let n = 0; n < 100; n++) if (n !== 40) order.push(n);
  // 61 before 60, 80 twice, 70 arrives 200 ms late (inside the window).
  const i60 = order.indexOf(60); order[i60] = 61; order[i60 + 1] = 60;
  order.splice(order.indexOf(81), 0, 80);
  order.splice(order.indexOf(70), 1); order.splice(order.indexOf(80), 0, 70);
  let clockMs = 0;
  for (const n of order) {
    clockMs = Math.max(clockMs, 20 * n + 3);
    d.push(0, tonePacket('PCMU', 0, 1000, n, 1000 + n, 5000 + 160 * n, 0x1111), T0 + clockMs);
  }
  const frames = d.finish();
  t.equal(frames, 24 + 100 * PTIME_FRAMES, 'first packet placed by its arrival (3 ms = 24 frames), then by timestamp');
  const [ch] = c.channels();
  let wrong = 0;
  for (let n = 0; n < 100; n++) if (n !== 40 && !expectAt(ch!, 24 + 160 * n, decodedTone('PCMU', 1000, n))) wrong++;
  t.equal(wrong, 0, 'every packet but the lost one is exactly in its place');
  t.equal(maxAbs(ch!, 24 + 160 * 40, 24 + 160 * 41), 0, 'the lost packet is silence');
  t.ok(maxAbs(ch!, 24 + 160 * 39, 24 + 160 * 40) > 4000 && maxAbs(ch!, 24 + 160 * 41, 24 + 160 * 42) > 4000, 'its neighbours are not');
  t.equal(maxAbs(ch!, 0, 24), 0, 'before the first packet: silence');
  t.equal(d.counts.get('duplicate'), 1);
  t.equal(d.counts.get('late'), 0);
});

t.test('a packet later than the window is dropped and counted, its place stays silent', async (t) => {
  const c = collector(1);
  const d = new AlignedDecoder(T0, 1, {}, c.sink);
  for (let n = 0; n < 60; n++) if (n !== 10) d.push(0, tonePacket('PCMU', 0, 1000, n, n, 160 * n, 7), T0 + 20 * n);
  d.push(0, tonePacket('PCMU', 0, 1000, 10, 10, 1600, 7), T0 + 20 * 10 + JITTER_WINDOW_MS + 2 * 100 + 20);
  d.finish();
  t.equal(d.counts.get('late'), 1);
  t.equal(maxAbs(c.channels()[0]!, 1600, 1760), 0);
});

t.test('a leg starting late is placed by arrival; an SSRC change re-anchors by arrival; channels are padded to one length', async (t) => {
  const c = collector(2);
  const d = new AlignedDecoder(T0, 2, { 97: 'pcma', 101: 'telephone-event' }, c.sink);
  for (let n = 0; n < 150; n++) {
    const at = T0 + 20 * n;
    d.push(0, tonePacket('PCMU', 0, 1000, n, n, 160 * n, 0xa), at);
    if (n >= 25) {
      const m = n - 25;
      // Leg b: dynamic PCMA (97), a timestamp near the 32-bit wrap, then at m = 60 a new source whose timestamp starts elsewhere.
      const [ssrc, ts] = m < 60 ? [0xb1, (0xfffff000 + 160 * m) >>> 0] : [0xb2, 777 + 160 * (m - 60)];
      d.push(1, tonePacket('PCMA', 97, 600, m, 5000 + m, ts, ssrc), at + 1);
      if (m === 30) d.push(1, rtpPacket(101, 9999, ts, ssrc, new Uint8Array(4)), at + 2);
      if (m === 31) d.push(1, rtpPacket(13, 9998, ts, ssrc, new Uint8Array(1)), at + 2);
    }
  }
  const frames = d.finish();
  const [a, b] = c.channels();
  const startB = 25 * 160 + 8; // arrival 500 ms + 1 ms
  t.equal(frames, startB + 125 * 160, 'the length of the longer leg (b ends 1 ms after a)');
  t.equal(a!.length, b!.length, 'both channels padded to it');
  t.equal(maxAbs(a!, 150 * 160, frames), 0, 'a is padded with silence');
  t.equal(maxAbs(b!, 0, startB), 0, 'leg b is silent before it starts');
  let wrong = 0;
  for (let m = 0; m < 125; m++) if (!expectAt(b!, startB + 160 * m, decodedTone('PCMA', 600, m))) wrong++;
  t.equal(wrong, 0, 'leg b in place across the timestamp wrap and the SSRC change');
  t.equal(d.counts.get('ssrc-change'), 1);
  t.equal(d.counts.get('telephone-event'), 1);
  t.equal(d.counts.get('CN'), 1);
});

t.test('a timestamp jump beyond the bound re-anchors by arrival; a leg silent for minutes costs one silence span', async (t) => {
  const c = collector(1);
  const d = new AlignedDecoder(T0, 1, {}, c.sink);
  for (let n = 0; n < 10; n++) d.push(0, tonePacket('PCMU', 0, 1000, n, n, 160 * n, 1), T0 + 20 * n);
  // Ten minutes later, the timestamp says only 1 s: the arrival wins.
  const later = T0 + 600_000;
  for (let n = 10; n < 20; n++) d.push(0, tonePacket('PCMU', 0, 1000, n, n, 8000 + 160 * n, 1), later + 20 * (n - 10));
  const frames = d.finish();
  t.equal(d.counts.get('re-anchor'), 1);
  t.equal(frames, 600_000 * 8 + 10 * 160);
  t.ok(c.silenceFrames() > 590_000 * 8, 'the gap went out as silence spans, not blocks');
  t.ok(expectAt(c.channels()[0]!, 600_000 * 8, decodedTone('PCMU', 1000, 10)));
});

t.test('payload types: static, dynamic by name, unknown', async (t) => {
  t.equal(payloadKind(0, {}), 'PCMU');
  t.equal(payloadKind(8, {}), 'PCMA');
  t.equal(payloadKind(13, {}), 'CN');
  t.equal(payloadKind(96, { 96: 'PCMU' }), 'PCMU');
  t.equal(payloadKind(101, { 101: 'telephone-event' }), 'telephone-event');
  t.equal(payloadKind(9, {}), 'unknown', 'G.722 is not decoded');
  t.equal(payloadKind(0, { 0: 'opus' }), 'unknown', 'the map wins over the static table');
});

t.test('hostile packets never throw, never place audio outside the ring, and are counted (property)', async (t) => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.uint8Array({ maxLength: 400 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: -5000, max: 100_000 })), { maxLength: 60 }), (pkts) => {
    const c = collector(2);
    const d = new AlignedDecoder(T0, 2, { 96: 'PCMA' }, c.sink);
    for (const [bytes, leg, dt] of pkts) d.push(leg, bytes, T0 + dt);
    const frames = d.finish();
    const chs = c.channels();
    return chs.every((ch) => ch.length === frames) && frames % 1 === 0;
  }), { numRuns: 300 });
  const d = new AlignedDecoder(T0, 1, {}, collector(1).sink);
  d.push(0, new Uint8Array(5), T0);
  d.push(0, Uint8Array.of(0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff), T0);
  d.push(0, rtpPacket(0, 1, 1, 1, new Uint8Array(0)), T0);
  d.push(0, rtpPacket(0, 1, 1, 1, new Uint8Array(3000)), T0);
  d.push(5, rtpPacket(0, 1, 1, 1, new Uint8Array(160)), T0);
  t.equal(d.counts.get('bad-rtp'), 2);
  t.equal(d.counts.get('bad-length'), 2);
  t.equal(d.counts.get('unknown-leg'), 1);
  t.equal(d.finish(), 0);
  t.equal(BLOCK_FRAMES, 800);
});
