/**
 * The decoding recorder's heart: RTP packets of several legs in, one time
 * line of 8 kHz frames per leg out, cut into 100 ms blocks.
 *
 * Placement. A leg's first packet lands where its arrival time says,
 * counted from the recording's start. After that each packet lands where its
 * RTP timestamp says, relative to the newest packet so far: a lost packet
 * leaves silence and shifts nothing, a late or reordered one fills its own
 * place, one whose place is already filled is a duplicate. A new SSRC (a
 * transfer, a phone restarting its stream) or a timestamp that runs too far
 * from the arrival clock (a jump, or a sender's clock drifting away) anchors
 * the leg again by arrival time.
 *
 * Release. A block is released once the newest arrival is JITTER_WINDOW_MS
 * past its end: a packet later than that has lost its place and is counted
 * as late. Time that no leg has any audio for is released as one silence
 * span, however long (hold, a long gap), so one packet never pays for
 * minutes of zeros. Pending audio sits in a fixed ring per leg; a leg whose
 * timestamps run far ahead forces the oldest blocks out rather than grow it.
 *
 * Only G.711 is decoded; comfort noise, telephone events and any other
 * payload are counted and skipped.
 */
import { Counters } from '../core/index.js';
import { decodeG711, inspectRtp, newRtpView, type G711Law, type RtpView } from '../media/index.js';

export const SAMPLE_RATE = 8000;
export const FRAMES_PER_MS = SAMPLE_RATE / 1000;
/** A released block: 100 ms, also the waveform's step. */
export const BLOCK_FRAMES = 800;
export const BLOCK_MS = BLOCK_FRAMES / FRAMES_PER_MS;
/** How late (after the newest arrival) a packet may come and still fill its place. */
export const JITTER_WINDOW_MS = 250;
/** A newer packet whose timestamp places it this far ahead of its arrival re-anchors the leg. */
export const MAX_AHEAD_MS = 1000;
/** ... or this far behind it (less than the window, so a slow sender clock is caught before its packets turn late). */
export const MAX_BEHIND_MS = 150;
/** Pending frames kept per leg. */
export const RING_FRAMES = 4 * SAMPLE_RATE;
/** A payload longer than this (frames) is refused: no G.711 packet is near it. */
export const MAX_PACKET_FRAMES = 2048;

const WINDOW_FRAMES = JITTER_WINDOW_MS * FRAMES_PER_MS;
const AHEAD_FRAMES = MAX_AHEAD_MS * FRAMES_PER_MS;
const BEHIND_FRAMES = MAX_BEHIND_MS * FRAMES_PER_MS;

/** Where the released time line goes. */
export interface AlignedSink {
  /** `frames` frames from `startFrame`, interleaved by leg; the array is reused after the call. */
  block(startFrame: number, frames: number, interleaved: Int16Array): void;
  /** `frames` frames from `startFrame` in which no leg has audio. */
  silence(startFrame: number, frames: number): void;
}

interface Channel {
  started: boolean;
  ssrc: number;
  /** Timestamp and frame position of the newest packet placed. */
  lastTs: number;
  lastPos: number;
  /** End of the furthest audio placed (frames). */
  end: number;
  readonly ring: Int16Array;
  readonly filled: Uint8Array;
}

/** Static payload types of RFC 3551 that matter here. */
const STATIC_PT: Readonly<Record<number, string>> = { 0: 'PCMU', 8: 'PCMA', 13: 'CN' };

export type PayloadKind = G711Law | 'CN' | 'telephone-event' | 'unknown';

/** What a payload type carries, given the call's dynamic map. */
export function payloadKind(pt: number, map: Readonly<Record<number, string>>): PayloadKind {
  const name = (map[pt] ?? STATIC_PT[pt] ?? '').toUpperCase();
  if (name === 'PCMU' || name === 'PCMA' || name === 'CN') return name;
  if (name === 'TELEPHONE-EVENT') return 'telephone-event';
  return 'unknown';
}

export class AlignedDecoder {
  private readonly channels: Channel[];
  private readonly view: RtpView = newRtpView();
  private readonly scratch = new Int16Array(MAX_PACKET_FRAMES);
  private readonly out: Int16Array;
  /** Frames released so far (a multiple of BLOCK_FRAMES until finish). */
  private base = 0;
  private newestArrival = 0;
  private finished = false;

  constructor(
    private readonly start: number,
    legCount: number,
    private readonly payloadTypes: Readonly<Record<number, string>>,
    private readonly sink: AlignedSink,
    readonly counts: Counters = new Counters(),
  ) {
    this.channels = Array.from({ length: legCount }, () => ({
      started: false, ssrc: 0, lastTs: 0, lastPos: 0, end: 0,
      ring: new Int16Array(RING_FRAMES), filled: new Uint8Array(RING_FRAMES),
    }));
    this.out = new Int16Array(BLOCK_FRAMES * legCount);
  }

  /** Frames released so far. */
  get released(): number {
    return this.base;
  }

  push(leg: number, rtp: Uint8Array, arrivedAt: number): void {
    const ch = this.channels[leg];
    if (this.finished || ch === undefined) { this.counts.inc(this.finished ? 'after-end' : 'unknown-leg'); return; }
    const v = this.view;
    if (inspectRtp(rtp, v) !== null) { this.counts.inc('bad-rtp'); return; }
    const kind = payloadKind(v.payloadType, this.payloadTypes);
    if (kind !== 'PCMU' && kind !== 'PCMA') { this.counts.inc(kind === 'unknown' ? 'unknown-payload' : kind); return; }
    const n = v.payloadLength;
    if (n === 0 || n > MAX_PACKET_FRAMES) { this.counts.inc('bad-length'); return; }

    const arrivalPos = Math.max(0, Math.round((arrivedAt - this.start) * FRAMES_PER_MS));
    if (arrivalPos > this.newestArrival) {
      this.newestArrival = arrivalPos;
      // Release what the clock has passed first, so a leg back from a long silence finds its place in the ring.
      this.release(this.newestArrival - WINDOW_FRAMES);
    }

    let pos: number;
    if (!ch.started || ch.ssrc !== v.ssrc) {
      if (ch.started) this.counts.inc('ssrc-change');
      pos = this.anchor(ch, arrivalPos);
      ch.started = true;
      ch.ssrc = v.ssrc;
      ch.lastTs = v.timestamp;
      ch.lastPos = pos;
    } else {
      const d = (v.timestamp - ch.lastTs) | 0;
      pos = ch.lastPos + d;
      if (d > 0) {
        const drift = pos - arrivalPos;
        if (drift > AHEAD_FRAMES || drift < -BEHIND_FRAMES) {
          this.counts.inc('re-anchor');
          pos = this.anchor(ch, arrivalPos);
        }
        ch.lastTs = v.timestamp;
        ch.lastPos = pos;
      }
    }

    let skip = 0;
    if (pos < this.base) {
      skip = this.base - pos;
      if (skip >= n) { this.counts.inc('late'); return; }
      this.counts.inc('late-partial');
    }
    // A leg far ahead pushes the oldest pending blocks out instead of overrunning its ring.
    while (pos + n > this.base + RING_FRAMES) { this.counts.inc('forced-release'); this.releaseBlock(BLOCK_FRAMES); }
    const first = Math.max(pos + skip, this.base);
    if (ch.filled[first % RING_FRAMES] === 1) { this.counts.inc('duplicate'); return; }
    const law: G711Law = kind;
    decodeG711(law, rtp.subarray(v.payloadOffset, v.payloadOffset + n), this.scratch);
    for (let i = Math.max(skip, this.base - pos); i < n; i++) {
      const at = (pos + i) % RING_FRAMES;
      ch.ring[at] = this.scratch[i]!;
      ch.filled[at] = 1;
    }
    if (pos + n > ch.end) ch.end = pos + n;
  }

  /**
   * Release everything placed (padding every leg to the longest) and return
   * the recording's length in frames. Nothing more is accepted.
   */
  finish(): number {
    if (!this.finished) {
      this.finished = true;
      const end = Math.max(this.base, ...this.channels.map((c) => c.end));
      this.release(end);
      while (this.base < end) this.releaseBlock(Math.min(BLOCK_FRAMES, end - this.base));
    }
    return this.base;
  }

  /** Place a leg by arrival; audio it placed beyond that (an old source running ahead) is dropped. */
  private anchor(ch: Channel, arrivalPos: number): number {
    const pos = Math.max(arrivalPos, this.base);
    for (let p = pos; p < ch.end; p++) {
      const at = p % RING_FRAMES;
      ch.ring[at] = 0;
      ch.filled[at] = 0;
    }
    if (ch.end > pos) ch.end = pos;
    return pos;
  }

  /** Release whole blocks up to `until`. */
  private release(until: number): void {
    while (this.base + BLOCK_FRAMES <= until) {
      if (this.channels.every((c) => c.end <= this.base)) {
        // Nothing pending in any leg: the whole span is silence, released at once.
        const frames = Math.floor((until - this.base) / BLOCK_FRAMES) * BLOCK_FRAMES;
        this.sink.silence(this.base, frames);
        this.base += frames;
        return;
      }
      this.releaseBlock(BLOCK_FRAMES);
    }
  }

  private releaseBlock(frames: number): void {
    const legs = this.channels.length;
    let any = false;
    for (let c = 0; c < legs; c++) {
      const ch = this.channels[c]!;
      for (let i = 0; i < frames; i++) {
        const at = (this.base + i) % RING_FRAMES;
        if (ch.filled[at] === 1) {
          any = true;
          this.out[i * legs + c] = ch.ring[at]!;
          ch.filled[at] = 0;
          ch.ring[at] = 0;
        } else {
          this.out[i * legs + c] = 0;
        }
      }
    }
    if (any) this.sink.block(this.base, frames, this.out);
    else this.sink.silence(this.base, frames);
    this.base += frames;
  }
}
