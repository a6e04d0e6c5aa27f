/**
 * Hostile-input campaign against a live endpoint: captures a real exchange
 * between two endpoints, then feeds mutations of its packets (bit flips,
 * byte changes, truncation, extension, field splices, random bytes; half of
 * them with the CRC made good again so they reach the message logic) into
 * endpoints at every stage of the exchange. Checks that nothing throws and
 * that each packet moves a counter (a drop reason or an accepted message).
 * The tests run it at 10^4; a bench may run it at 10^5.
 */
import { Counters, FakeClock, seededRandom, type Random } from '../../core/index.js';
import { MemoryZrtpCache } from './cache.js';
import { writeCrc32c } from './crc32c.js';
import { ZrtpEndpoint } from './endpoint.js';

export interface MutationReport {
  readonly packets: number;
  readonly threw: number;
  /** Packets after which no counter moved. */
  readonly uncounted: number;
  readonly crcFixed: number;
  readonly ms: number;
  /** Every counter the targets moved, summed over the campaign. */
  readonly counts: Readonly<Record<string, number>>;
}

function total(c: Counters): number {
  return Object.values(c.snapshot()).reduce((a, b) => a + b, 0);
}

/** The packets endpoint A (ZID 01..) sends in one exchange with B (ZID 02..), which the live target then plays. */
function capture(seed: number): Buffer[] {
  const clock = new FakeClock();
  const packets: Buffer[] = [];
  const queue: { to: 'a' | 'b'; p: Buffer }[] = [];
  const mk = (zidByte: number, to: 'a' | 'b', commit: boolean): ZrtpEndpoint => new ZrtpEndpoint({
    zid: Buffer.alloc(12, zidByte), clock, random: seededRandom(seed + zidByte), cache: new MemoryZrtpCache(), counters: new Counters(),
    send: (p) => { if (to === 'b') packets.push(p); queue.push({ to, p }); }, clientId: 'mutate', commit,
    supported: { keyAgreements: ['EC25'] },
  });
  const a = mk(1, 'b', true);
  const b = mk(2, 'a', false);
  a.start(); b.start();
  for (let i = 0; i < 200 && queue.length > 0; i++) {
    const q = queue.shift() as { to: 'a' | 'b'; p: Buffer };
    (q.to === 'a' ? a : b).receive(q.p);
  }
  a.close(); b.close();
  return packets;
}

function mutate(p: Buffer, r: Random): Buffer {
  const kind = r.int(6);
  let out: Buffer;
  switch (kind) {
    case 0: { out = Buffer.from(p); const i = r.int(out.length); out[i] = (out[i] as number) ^ (1 << r.int(8)); break; }
    case 1: { out = Buffer.from(p); for (let k = 1 + r.int(4); k > 0; k--) out[r.int(out.length)] = r.int(256); break; }
    case 2: out = Buffer.from(p.subarray(0, r.int(p.length))); break;
    case 3: out = Buffer.concat([p, r.bytes(1 + r.int(64))]); break;
    case 4: { out = Buffer.from(p); const at = 12 + r.int(Math.max(1, out.length - 16)); out.set(r.bytes(Math.min(8, out.length - at)), at); break; }
    default: out = r.bytes(r.int(200));
  }
  return out;
}

export function mutationCampaign(count: number, seed = 7): MutationReport {
  const started = process.hrtime.bigint();
  const packets = capture(seed);
  const r = seededRandom(seed * 31 + 1);
  let threw = 0; let uncounted = 0; let crcFixed = 0;
  let target: ZrtpEndpoint | undefined;
  const counts: Record<string, number> = {};
  const keep = (c: Counters): void => { for (const [k, v] of Object.entries(c.snapshot())) counts[k] = (counts[k] ?? 0) + v; };
  let counters = new Counters();
  let clock = new FakeClock();
  for (let i = 0; i < count; i++) {
    if (i % 500 === 0 || target?.currentState === 'failed') {
      // A fresh endpoint now and then (and once one has failed), brought part-way through an exchange by real packets.
      target?.close();
      keep(counters);
      counters = new Counters();
      clock = new FakeClock();
      const live = new ZrtpEndpoint({
        zid: Buffer.alloc(12, 2), clock, random: seededRandom(seed + 2), cache: new MemoryZrtpCache(), counters,
        send: () => undefined, clientId: 'mutate', commit: false, supported: { keyAgreements: ['EC25'] },
      });
      live.start();
      const upTo = r.int(packets.length);
      for (let k = 0; k < upTo; k++) live.receive(packets[k] as Buffer);
      target = live;
    }
    const m = mutate(packets[r.int(packets.length)] as Buffer, r);
    if (m.length >= 16 && m.length % 4 === 0 && r.int(2) === 0) {
      writeCrc32c(m);
      crcFixed++;
    }
    const before = total(counters);
    try {
      (target as ZrtpEndpoint).receive(m);
      clock.advance(r.int(40));
    } catch {
      threw++;
    }
    if (total(counters) === before) uncounted++;
  }
  target?.close();
  keep(counters);
  return { packets: count, threw, uncounted, crcFixed, ms: Number(process.hrtime.bigint() - started) / 1e6, counts };
}
