/** An in-memory pair of ZRTP endpoints on a FakeClock, with a network that can drop, duplicate, reorder or rewrite packets. */
import { Counters, FakeClock, seededRandom } from '../../../firmware/core/index.js';
import {
  MemoryZrtpCache, parsePacket, ZrtpEndpoint, type ZrtpCache, type ZrtpEndpointOptions, type ZrtpMessageType, type ZrtpSecure,
} from '../../../firmware/keying/zrtp/index.js';

export type Side = 'a' | 'b';
/** What the network does with one packet: pass it, drop it, send it twice, hold it back until the next one, or replace it. */
export type Verdict = 'pass' | 'drop' | 'dup' | 'hold' | Buffer;
export type NetFilter = (packet: Buffer, from: Side, type: ZrtpMessageType | undefined, nth: number) => Verdict;

export interface Party {
  readonly ep: ZrtpEndpoint;
  readonly counters: Counters;
  readonly cache: ZrtpCache;
  secure: ZrtpSecure | undefined;
  failed: string | undefined;
  relayed: string[];
}

export interface World {
  readonly clock: FakeClock;
  readonly a: Party;
  readonly b: Party;
  /** Packets sent, by sender, in order, with their message type. */
  readonly log: { from: Side; type: ZrtpMessageType | undefined }[];
  /** Run until both are secure or one failed, or `ms` of fake time have passed. */
  run(ms?: number): void;
}

export type PartyOptions = Partial<Omit<ZrtpEndpointOptions, 'clock' | 'counters' | 'send' | 'onSecure' | 'onFailed'>>;

export function typeOf(p: Buffer): ZrtpMessageType | undefined {
  const r = parsePacket(p);
  return r.ok ? r.message.type : undefined;
}

export function world(aOpts: PartyOptions = {}, bOpts: PartyOptions = {}, filter: NetFilter = () => 'pass', seed = 1): World {
  const clock = new FakeClock();
  const queue: { to: Side; p: Buffer }[] = [];
  const held: { to: Side; p: Buffer }[] = [];
  const log: { from: Side; type: ZrtpMessageType | undefined }[] = [];
  const nth = new Map<string, number>();
  const send = (from: Side) => (p: Buffer): void => {
    const type = typeOf(p);
    log.push({ from, type });
    const key = `${from}:${type ?? '?'}`;
    const n = nth.get(key) ?? 0;
    nth.set(key, n + 1);
    const to: Side = from === 'a' ? 'b' : 'a';
    const v = filter(p, from, type, n);
    if (v === 'drop') return;
    if (v === 'hold') { held.push({ to, p }); return; }
    const out = Buffer.isBuffer(v) ? v : p;
    queue.push({ to, p: out });
    if (v === 'dup') queue.push({ to, p: Buffer.from(out) });
    // A held packet goes out after the next one: reordering.
    while (held.length > 0) queue.push(held.shift() as { to: Side; p: Buffer });
  };
  const party = (side: Side, o: PartyOptions, zidByte: number): Party => {
    const counters = new Counters();
    const cache = o.cache ?? new MemoryZrtpCache();
    const me: Party = {
      counters, cache, secure: undefined, failed: undefined, relayed: [],
      ep: new ZrtpEndpoint({
        zid: Buffer.alloc(12, zidByte), random: seededRandom(seed * 100 + zidByte), clientId: `test ${side}`, ...o, cache, clock, counters,
        send: send(side),
        onSecure: (s) => { me.secure = s; },
        onFailed: (r) => { me.failed = r; },
        onSasRelay: (r) => { me.relayed.push(r.sas); },
      }),
    };
    return me;
  };
  const a = party('a', aOpts, 0xa1);
  const b = party('b', bOpts, 0xb2);
  const pump = (): void => {
    for (let i = 0; i < 1000 && queue.length > 0; i++) {
      const q = queue.shift() as { to: Side; p: Buffer };
      (q.to === 'a' ? a : b).ep.receive(q.p);
    }
  };
  return {
    clock, a, b, log,
    run(ms = 60_000) {
      a.ep.start();
      b.ep.start();
      const end = clock.now() + ms;
      for (;;) {
        pump();
        if ((a.secure && b.secure) || a.failed || b.failed || clock.now() >= end) break;
        clock.advance(10);
        // a packet held with nothing after it goes out when time moves on
        while (held.length > 0) queue.push(held.shift() as { to: Side; p: Buffer });
      }
      pump();
    },
  };
}
