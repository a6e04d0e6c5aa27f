/**
 * What recording costs: N seconds of a two-leg call at 50 packets/s per leg
 * (G.711, 20 ms), fed to a recorder writing to a temp store. The packet path
 * (packet() alone) and the whole (with sealing and writing) are timed in CPU
 * microseconds per packet. The writer is awaited once per simulated second,
 * as the real clock would give it time; nothing is dropped.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../core/index.js';
import { encodeG711 } from '../media/index.js';
import { RecordingStore } from './store.js';
import type { RecordingKind } from './types.js';

export interface RecordingBench {
  readonly kind: RecordingKind;
  readonly seconds: number;
  readonly packets: number;
  /** CPU µs per packet spent inside packet() (decode, align, copy). */
  readonly packetPathMicros: number;
  /** CPU µs per packet for everything: packet(), sealing, writing, the end marker. */
  readonly totalMicros: number;
  readonly fileBytes: number;
  readonly dropped: number;
}

function tonePayloads(hz: number, count: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let p = 0; p < count; p++) {
    const pcm = new Int16Array(160);
    for (let i = 0; i < 160; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * hz * (p * 160 + i)) / 8000));
    out.push(encodeG711('PCMU', pcm));
  }
  return out;
}

function rtp(seq: number, ts: number, ssrc: number, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(12 + payload.length);
  const v = new DataView(b.buffer);
  b[0] = 0x80; b[1] = 0;
  v.setUint16(2, seq & 0xffff); v.setUint32(4, ts >>> 0); v.setUint32(8, ssrc >>> 0);
  b.set(payload, 12);
  return b;
}

function restamp(b: Uint8Array, n: number): void {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  v.setUint16(2, n & 0xffff);
  v.setUint32(4, (n * 160) >>> 0);
}

const cpuMicros = (): number => { const u = process.cpuUsage(); return u.user + u.system; };

export async function benchRecording(seconds: number, kind: RecordingKind = 'decoded'): Promise<RecordingBench> {
  const dir = await mkdtemp(join(tmpdir(), 'rec-bench-'));
  try {
    const clock = new FakeClock();
    const store = await RecordingStore.open({ dir, clock, minFreeBytes: 0, stopFreeBytes: 0 });
    const rec = store.start({ kind, parties: ['a', 'b'], legs: [{ id: 'a', protection: 'bench' }, { id: 'b', protection: 'bench' }] });
    // 50 distinct payloads per leg, reused: the content does not change the cost.
    const tones = [tonePayloads(1000, 50), tonePayloads(600, 50)];
    const pkts = tones.map((t, leg) => t.map((p, k) => rtp(k, k * 160, 0x1000 + leg, p)));
    const t0 = clock.now();
    let inPacket = 0;
    let packets = 0;
    const all0 = cpuMicros();
    for (let s = 0; s < seconds; s++) {
      const c0 = cpuMicros();
      for (let k = 0; k < 50; k++) {
        const n = s * 50 + k;
        for (let leg = 0; leg < 2; leg++) {
          rec.packet(leg === 0 ? 'a' : 'b', pkts[leg]![k]!, t0 + n * 20 + leg, kind === 'encrypted-capture');
          packets++;
        }
      }
      inPacket += cpuMicros() - c0;
      // The next second's headers (sequence number, timestamp) are written outside the timed loop.
      for (let leg = 0; leg < 2; leg++) for (let k = 0; k < 50; k++) restamp(pkts[leg]![k]!, (s + 1) * 50 + k);
      await rec.whenWritten();
    }
    const info = await rec.finish();
    const total = cpuMicros() - all0;
    return {
      kind, seconds, packets, packetPathMicros: inPacket / packets, totalMicros: total / packets, fileBytes: info.size,
      dropped: info.counts['dropped-chunks'] ?? 0,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
