/**
 * The conference mixer, as a plain object a bench can drive without the
 * engine: members push the G.711 payloads they received, and once per 20 ms
 * frame `mix()` hands each member the sum of the others' audio (its own
 * voice left out, "mix-minus"), clipped to 16 bits and encoded in the
 * member's own codec, as an RTP packet of the member's own stream (SSRC,
 * sequence number, timestamp). The engine (conference.ts) runs it on its
 * frame clock and sends each packet through the member leg's send path.
 *
 * Per member, a small jitter buffer: a ring of decoded samples indexed by
 * RTP timestamp, played out 20 ms behind the first packet of the stream
 * (JITTER_DELAY_SAMPLES), holding up to JITTER_RING_SAMPLES (four frames).
 * Packets are placed by timestamp, so reordering inside the window costs
 * nothing and packets of any duration (10, 20, 30 ms) mix alike. A member
 * that sent nothing for a frame adds silence. The stream is re-anchored (its
 * buffer emptied, its next packet played 20 ms later) when its SSRC changes
 * or its timestamps leave the window: ahead of it (a clock running fast,
 * silence suppression that ended) or behind it while still the newest seen
 * (a clock running slow). An older packet than one seen is just late.
 *
 * Cost per frame: one pass to sum every member's frame, and per member a
 * subtraction, a clip and a table lookup per sample (65536-entry encode
 * tables, built on first use).
 */
import type { Random } from '../core/index.js';
import { decodeG711, linearToAlaw, linearToUlaw, type G711Law } from './codec/index.js';
import { FRAME_SAMPLES, RtpSender, payloadOf } from './frames.js';

export const JITTER_RING_SAMPLES = 4 * FRAME_SAMPLES;
export const JITTER_DELAY_SAMPLES = FRAME_SAMPLES;
/** Members of one mixer: a small office's conference. */
export const MAX_MIXER_MEMBERS = 16;

let ulawEncode: Uint8Array | undefined;
let alawEncode: Uint8Array | undefined;

/** Index a sample by `sample & 0xffff` (two's complement). */
function encodeTable(law: G711Law): Uint8Array {
  if (law === 'PCMU') {
    if (!ulawEncode) ulawEncode = buildTable(linearToUlaw);
    return ulawEncode;
  }
  if (!alawEncode) alawEncode = buildTable(linearToAlaw);
  return alawEncode;
}

function buildTable(enc: (s: number) => number): Uint8Array {
  const t = new Uint8Array(65536);
  for (let s = -32768; s < 32768; s++) t[s & 0xffff] = enc(s);
  return t;
}

/** a - b on 32-bit RTP timestamps, as a signed distance. */
function tsDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** Why a pushed payload did not make it into the mix (counted by the engine). */
export type MixReject = 'mix-pt' | 'mix-late' | 'mix-empty';

export interface MixerMemberOptions {
  readonly codec: G711Law;
  readonly payloadType: number;
  /** Hands one encoded RTP packet (the buffer is the mixer's, reused after RTP_OUT_RING frames). */
  readonly send: (pkt: Buffer) => void;
  /** Whether the member takes audio now (its SDP direction); when not, its packet is not even encoded. */
  readonly receives?: () => boolean;
}

export class MixerMember {
  codec: G711Law;
  payloadType: number;
  private sendFn: (pkt: Buffer) => void;
  private receivesFn: (() => boolean) | undefined;
  readonly sender: RtpSender;
  /** Decoded input by timestamp; `playTs` is the timestamp of ring[playPos]. */
  private readonly ring = new Int16Array(JITTER_RING_SAMPLES);
  private playPos = 0;
  private playTs = 0;
  private anchored = false;
  private haveSsrc = false;
  private ssrc = 0;
  private newestTs = 0;
  /** This frame's contribution (read out of the ring by the mixer). */
  readonly frame = new Int16Array(FRAME_SAMPLES);
  /** Packets sent to the member, and how often its stream was re-anchored. */
  packetsOut = 0;
  resyncs = 0;

  constructor(random: Random, opts: MixerMemberOptions) {
    this.codec = opts.codec;
    this.payloadType = opts.payloadType;
    this.sendFn = opts.send;
    this.receivesFn = opts.receives;
    this.sender = new RtpSender(random, opts.payloadType);
  }

  /** A new codec or payload type for what the member receives and sends; its stream (SSRC) stays. */
  reconfigure(opts: MixerMemberOptions): void {
    this.codec = opts.codec;
    this.payloadType = opts.payloadType;
    this.sender.payloadType = opts.payloadType;
    this.sendFn = opts.send;
    this.receivesFn = opts.receives;
  }

  /**
   * One received packet's payload (already decrypted). Returns a reason when
   * nothing of it will be heard: another payload type (DTMF events, comfort
   * noise), an empty payload, or a late packet.
   */
  push(payloadType: number, ssrc: number, timestamp: number, payload: Uint8Array): MixReject | undefined {
    if (payloadType !== this.payloadType) return 'mix-pt';
    const n = Math.min(payload.length, JITTER_RING_SAMPLES - JITTER_DELAY_SAMPLES);
    if (n === 0) return 'mix-empty';
    if (!this.haveSsrc || ssrc !== this.ssrc) {
      this.haveSsrc = true;
      this.ssrc = ssrc;
      this.anchor(timestamp);
    } else if (!this.anchored) {
      this.anchor(timestamp);
    } else {
      const newest = tsDiff(timestamp, this.newestTs) > 0;
      const off = tsDiff(timestamp, this.playTs);
      if (off + n > JITTER_RING_SAMPLES || (newest && off + n <= 0)) {
        this.anchor(timestamp);
      } else if (off + n <= 0) {
        return 'mix-late';
      }
    }
    if (tsDiff(timestamp, this.newestTs) > 0) this.newestTs = timestamp;
    this.place(timestamp, payload.subarray(0, n));
    return undefined;
  }

  private anchor(ts: number): void {
    if (this.anchored) this.resyncs++;
    this.anchored = true;
    this.ring.fill(0);
    this.playPos = 0;
    this.playTs = (ts - JITTER_DELAY_SAMPLES) >>> 0;
    this.newestTs = ts;
  }

  private place(ts: number, payload: Uint8Array): void {
    let off = tsDiff(ts, this.playTs);
    let src = payload;
    // The part already played out is dropped.
    if (off < 0) {
      src = src.subarray(-off);
      off = 0;
    }
    let pos = (this.playPos + off) % JITTER_RING_SAMPLES;
    while (src.length > 0) {
      const k = Math.min(src.length, JITTER_RING_SAMPLES - pos);
      decodeG711(this.codec, src.subarray(0, k), this.ring.subarray(pos, pos + k));
      src = src.subarray(k);
      pos = (pos + k) % JITTER_RING_SAMPLES;
    }
  }

  /** Move this frame out of the ring into `frame`; the ring slots become silence. `frames` > 1 after a skip. */
  readOut(frames: number): void {
    if (!this.anchored) {
      this.frame.fill(0);
      return;
    }
    // Frames skipped by the clock are dropped unheard, then the current one is read.
    for (let f = 1; f < frames; f++) this.consume(undefined);
    this.consume(this.frame);
  }

  private consume(into: Int16Array | undefined): void {
    const ring = this.ring;
    let pos = this.playPos;
    for (let i = 0; i < FRAME_SAMPLES; i++) {
      if (into) into[i] = ring[pos]!;
      ring[pos] = 0;
      pos = pos + 1 === JITTER_RING_SAMPLES ? 0 : pos + 1;
    }
    this.playPos = pos;
    this.playTs = (this.playTs + FRAME_SAMPLES) >>> 0;
  }

  /** Encode `total` minus this member's own frame and send it. */
  emit(total: Int32Array, elapsed: number): void {
    if (this.receivesFn && !this.receivesFn()) {
      // Nothing sent, but the stream's timestamps keep time.
      this.sender.skip(elapsed);
      return;
    }
    const pkt = this.sender.next(elapsed);
    const out = payloadOf(pkt);
    const table = encodeTable(this.codec);
    const own = this.frame;
    for (let i = 0; i < FRAME_SAMPLES; i++) {
      let v = total[i]! - own[i]!;
      if (v > 32767) v = 32767; else if (v < -32768) v = -32768;
      out[i] = table[v & 0xffff]!;
    }
    this.packetsOut++;
    this.sendFn(pkt);
  }
}

export class Mixer {
  private readonly members = new Set<MixerMember>();
  private readonly total = new Int32Array(FRAME_SAMPLES);
  frames = 0;

  constructor(private readonly random: Random) {}

  get size(): number {
    return this.members.size;
  }

  add(opts: MixerMemberOptions): MixerMember {
    const m = new MixerMember(this.random, opts);
    this.members.add(m);
    return m;
  }

  remove(m: MixerMember): void {
    this.members.delete(m);
  }

  /** One 20 ms frame (`elapsed` frames since the previous one: more than 1 after the clock jumped). */
  mix(elapsed = 1): void {
    this.frames++;
    const total = this.total;
    total.fill(0);
    for (const m of this.members) {
      m.readOut(elapsed);
      const f = m.frame;
      for (let i = 0; i < FRAME_SAMPLES; i++) total[i]! += f[i]!;
    }
    for (const m of this.members) m.emit(total, elapsed);
  }
}
