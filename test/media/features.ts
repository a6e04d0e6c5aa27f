/**
 * Support for the tests of the engine's own streams and taps (players,
 * mixers, recorder taps, move-leg): an engine over in-memory sockets on a
 * fake clock that can also jump, phones with SRTP sessions of their own,
 * and a little signal analysis (tones, the dominant frequency of a window).
 */
import { Counters, FakeClock, seededRandom, type Clock, type TimerHandle } from '../../firmware/core/index.js';
import {
  MediaEngine, decodeG711, encodeG711, parseRtp, type EngineEvent, type G711Law, type LegSecurity, type LocalMedia, type RemoteInfo,
  type RemoteMedia, type SessionStats, type TapSink, type TapSinkFactory, type RtpHeader,
} from '../../firmware/media/index.js';
import { SRTP_SUITES, SrtpSession, type SrtpSessionOptions } from '../../firmware/media/srtp/index.js';
import { FakeNet, legOf, rtp } from './helpers.js';

/**
 * A FakeClock whose now() can leap ahead without firing the timers in
 * between, as a stalled event loop sees it: the next timer fires late.
 */
export class JumpClock implements Clock {
  readonly fake = new FakeClock();
  private offset = 0;
  now(): number { return this.fake.now() + this.offset; }
  setTimer(ms: number, fn: () => void): TimerHandle { return this.fake.setTimer(ms, fn); }
  advance(ms: number): void { this.fake.advance(ms); }
  jump(ms: number): void { this.offset += ms; }
}

export const PHONES: Record<string, RemoteInfo> = {
  A: { address: '10.0.0.2', port: 4000 },
  B: { address: '10.0.0.3', port: 6000 },
  C: { address: '10.0.0.4', port: 8000 },
  D: { address: '10.0.0.5', port: 9000 },
};

export function remote(at: RemoteInfo, direction: RemoteMedia['direction'] = 'sendrecv'): RemoteMedia {
  return { rtp: { ...at }, rtcp: { address: at.address, port: at.port + 1 }, rtcpMux: false, direction };
}

let keyByte = 0x30;
export function key(): SrtpSessionOptions {
  const s = SRTP_SUITES.AES_CM_128_HMAC_SHA1_80;
  const k = keyByte++ & 0xff;
  return { suite: 'AES_CM_128_HMAC_SHA1_80', masterKey: Buffer.alloc(s.keyLength, k), masterSalt: Buffer.alloc(s.saltLength, k ^ 0x3c) };
}

/** A phone with SRTP: what it sends (`out`, under the key the box receives) and reads (`in`, the box's key toward it), independent sessions. */
export interface SrtpPhone { readonly security: LegSecurity; readonly out: SrtpSession; readonly in: SrtpSession }
export function srtpPhone(): SrtpPhone {
  const rx = key();
  const tx = key();
  return { security: { kind: 'srtp', rx, tx }, out: new SrtpSession(rx), in: new SrtpSession(tx) };
}

/** A sink that keeps copies of what it is given, and can be told to throw. */
export class RecordingSink implements TapSink {
  readonly packets: { leg: string; rtp: Buffer; arrivedAt: number; opaque: boolean }[] = [];
  closed = 0;
  throwOnPacket = false;
  constructor(readonly spec: Readonly<Record<string, unknown>>) {}
  packet(leg: string, rtpPkt: Uint8Array, arrivedAt: number, opaque: boolean): void {
    if (this.throwOnPacket) throw new Error('disk full');
    this.packets.push({ leg, rtp: Buffer.from(rtpPkt), arrivedAt, opaque });
  }
  close(): void { this.closed++; }
}

export interface RigOptions {
  readonly tapSinks?: TapSinkFactory | false;
  readonly mediaTimeoutMs?: number;
}

export async function rig(opts: RigOptions = {}) {
  const net = new FakeNet();
  const clock = new JumpClock();
  const counters = new Counters();
  const sinks: RecordingSink[] = [];
  const factory: TapSinkFactory = (spec) => {
    const s = new RecordingSink(spec);
    sinks.push(s);
    return s;
  };
  const engine = new MediaEngine({
    bindAddress: '0.0.0.0', advertiseAddress: '192.0.2.1', portRange: { min: 10000, max: 10199 }, clock, counters,
    socketFactory: net.factory, random: seededRandom(7),
    ...(opts.tapSinks === false ? {} : { tapSinks: opts.tapSinks ?? factory }),
    ...(opts.mediaTimeoutMs ? { mediaTimeoutMs: opts.mediaTimeoutMs } : {}),
  });
  const events: EngineEvent[] = [];
  engine.onEvent((e) => events.push(e));
  await engine.request({ op: 'create', sessionId: 's' });
  /** Local ports by leg object key `session/leg`; a moved leg keeps its ports, so tests look them up by its old name too. */
  const local: Record<string, LocalMedia> = {};
  const add = async (leg: string, security?: LegSecurity, sessionId = 's', direction: RemoteMedia['direction'] = 'sendrecv'): Promise<LocalMedia> => {
    const r = await engine.request({ op: 'add-leg', sessionId, leg, remote: remote(PHONES[leg]!, direction), ...(security ? { security } : {}) });
    if (r.op !== 'add-leg' || r.leg !== leg) throw new Error('expected the add-leg reply for this leg');
    local[leg] = r.local;
    return r.local;
  };
  const connect = (from: string, to: string, sessionId = 's') => engine.request({ op: 'connect', sessionId, from, to });
  /** The phone of `leg` sends to its leg's RTP (or RTCP) port (a copy: the box decrypts in place). */
  const send = (leg: string, pkt: Buffer, rtcp = false): void => {
    const at = PHONES[leg]!;
    net.at(rtcp ? local[leg]!.rtcpPort : local[leg]!.rtpPort).deliver(Buffer.from(pkt), rtcp ? { ...at, port: at.port + 1 } : at);
  };
  /** What the box sent toward `leg`'s phone so far from that leg's RTP (or RTCP) socket. */
  const heard = (leg: string, rtcp = false): Buffer[] => net.at(rtcp ? local[leg]!.rtcpPort : local[leg]!.rtpPort).sent.map((p) => p.data);
  const stats = async (sessionId = 's'): Promise<SessionStats> => {
    const r = await engine.request({ op: 'stats', sessionId });
    if (r.op !== 'stats') throw new Error('expected stats');
    return r.sessions[0]!;
  };
  const leg = async (id: string, sessionId = 's') => legOf(await stats(sessionId), id);
  return { net, clock, counters, engine, events, sinks, local, add, connect, send, heard, stats, leg };
}

export type Rig = Awaited<ReturnType<typeof rig>>;

export function header(pkt: Uint8Array): RtpHeader {
  const p = parseRtp(pkt);
  if (!p.ok) throw new Error(`not RTP: ${p.reason}`);
  return p.header;
}

/** The payload of a clear RTP packet. */
export function payload(pkt: Buffer): Buffer {
  const h = header(pkt);
  return pkt.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength);
}

/** The linear audio of a run of clear G.711 RTP packets, in order. */
export function decodeAll(law: G711Law, pkts: readonly Buffer[]): Int16Array {
  const parts = pkts.map((p) => decodeG711(law, payload(p)));
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** A sine of `hz` at `amplitude`, `samples` long, from phase sample `start`. */
export function tone(hz: number, samples: number, amplitude = 8000, start = 0): Int16Array {
  const out = new Int16Array(samples);
  for (let i = 0; i < samples; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * (start + i)) / 8000));
  return out;
}

/** Power of `hz` in `x` (Goertzel), normalised by length. */
export function power(x: Int16Array, hz: number): number {
  const w = (2 * Math.PI * hz) / 8000;
  const c = 2 * Math.cos(w);
  let s1 = 0, s2 = 0;
  for (let i = 0; i < x.length; i++) {
    const s0 = x[i]! + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - c * s1 * s2) / (x.length * x.length);
}

/**
 * The frequency of the strongest component in [lo, hi], to `step` Hz: a scan
 * in 4 Hz steps (finer than the 5 Hz main lobe of a 200 ms window), then the
 * best one refined.
 */
export function dominant(x: Int16Array, lo = 100, hi = 3500, step = 2): number {
  const scan = (from: number, to: number, by: number): number => {
    let best = from, bestP = -1;
    for (let f = from; f <= to; f += by) {
      const p = power(x, f);
      if (p > bestP) { bestP = p; best = f; }
    }
    return best;
  };
  const coarse = scan(lo, hi, Math.max(step, 4));
  return scan(Math.max(lo, coarse - 4), Math.min(hi, coarse + 4), step);
}

/** 20 ms of a tone as one G.711 RTP packet of a phone's stream. */
export function tonePacket(law: G711Law, hz: number, frame: number, ssrc: number, amplitude = 6000): Buffer {
  const pcm = tone(hz, 160, amplitude, frame * 160);
  return rtp({ pt: law === 'PCMU' ? 0 : 8, seq: (1000 + frame) & 0xffff, ts: (frame * 160) >>> 0, ssrc, payload: encodeG711(law, pcm) });
}
