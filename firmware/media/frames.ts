/**
 * What the box's own media sources share (the music-on-hold player, the
 * conference mixer): a 20 ms frame clock on the injected Clock, and an RTP
 * stream of the box's own (SSRC, sequence number, timestamp).
 *
 * The frame clock schedules frame n at start + n * 20 ms, never "20 ms after
 * the last one", so timer lateness does not add up into drift. When the
 * clock jumps (the event loop stalled, the fake clock leapt), the frames
 * that fell due in the gap are skipped, not sent in a burst: a phone's jitter
 * buffer would throw a burst away anyway, and the RTP timestamp still moves
 * on by the time that passed (RFC 3550 5.1: the timestamp follows the
 * sampling clock; the sequence number counts packets sent).
 */
import type { Clock, Random, TimerHandle } from '../core/index.js';

export const FRAME_MS = 20;
/** 20 ms at 8000 samples/s. */
export const FRAME_SAMPLES = 160;
/** A clock that went backwards by more than this many frames restarts the schedule from now. */
const MAX_EARLY_FRAMES = 5;
/** Buffers a stream cycles through: a packet must stay intact until its send completed. */
export const RTP_OUT_RING = 8;
const RTP_HEADER = 12;

/**
 * Calls `onFrame(elapsed)` once per due frame; `elapsed` is the number of
 * frame periods since the previous call (1, or more after a skip). A
 * throwing callback costs its frame, not the schedule: `onError` hears it.
 */
export class FrameTicker {
  private t0 = 0;
  private next = 0;
  private timer: TimerHandle | undefined;
  private running = false;
  private last = -1;
  /** Frames skipped because the clock jumped. */
  skipped = 0;

  constructor(
    private readonly clock: Clock,
    private readonly onFrame: (elapsed: number) => void,
    private readonly onError: (e: unknown) => void = () => {},
  ) {}

  get isRunning(): boolean {
    return this.running;
  }

  /** Start the schedule now; with `immediate` frame 0 runs at once, else one period from now. */
  start(immediate: boolean): void {
    this.stop();
    this.running = true;
    this.t0 = this.clock.now();
    this.last = -1;
    this.next = immediate ? 0 : 1;
    if (immediate) this.run(0);
    if (this.running) this.arm();
  }

  stop(): void {
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private arm(): void {
    const wait = Math.max(0, this.t0 + this.next * FRAME_MS - this.clock.now());
    this.timer = this.clock.setTimer(wait, () => this.fire());
  }

  private fire(): void {
    this.timer = undefined;
    if (!this.running) return;
    const now = this.clock.now();
    let due = Math.floor((now - this.t0) / FRAME_MS);
    if (due < this.next) {
      if (this.next - due > MAX_EARLY_FRAMES) {
        // The clock went back (a wall-clock step): carry on from now, not from the old start.
        this.t0 = now - this.next * FRAME_MS;
        due = this.next;
      } else {
        this.arm();
        return;
      }
    }
    this.skipped += due - this.next;
    this.run(due);
    if (this.running) this.arm();
  }

  private run(frame: number): void {
    const elapsed = this.last < 0 ? 1 : frame - this.last;
    this.last = frame;
    this.next = frame + 1;
    try {
      this.onFrame(elapsed);
    } catch (e) {
      this.onError(e);
    }
  }
}

/**
 * One RTP stream the box originates: its own random SSRC, initial sequence
 * number and timestamp (RFC 3550 5.1, 8.1), the marker bit on its first
 * packet (RFC 3551 4.1: the start of a talkspurt), a ring of packet buffers.
 */
export class RtpSender {
  readonly ssrc: number;
  private seq: number;
  private ts: number;
  private started = false;
  /** Frames went by unsent: the next packet starts a talkspurt again (marker). */
  private resumed = false;
  private readonly ring: Buffer[] = [];
  private slot = 0;

  constructor(random: Random, public payloadType: number, readonly samples = FRAME_SAMPLES) {
    this.ssrc = random.bytes(4).readUInt32BE(0);
    this.seq = random.int(0x10000);
    this.ts = random.bytes(4).readUInt32BE(0);
    for (let i = 0; i < RTP_OUT_RING; i++) this.ring.push(Buffer.alloc(RTP_HEADER + samples));
  }

  /**
   * The next packet, header written, `elapsed` frames after the previous
   * one. The caller fills its payload, `payloadOf(pkt)`, before sending it.
   */
  next(elapsed = 1): Buffer {
    if (this.started) {
      this.seq = (this.seq + 1) & 0xffff;
      this.ts = (this.ts + elapsed * this.samples) >>> 0;
    }
    const pkt = this.ring[this.slot]!;
    this.slot = (this.slot + 1) % RTP_OUT_RING;
    pkt[0] = 0x80;
    pkt[1] = (this.started && !this.resumed ? 0 : 0x80) | (this.payloadType & 0x7f);
    pkt.writeUInt16BE(this.seq, 2);
    pkt.writeUInt32BE(this.ts, 4);
    pkt.writeUInt32BE(this.ssrc, 8);
    this.started = true;
    this.resumed = false;
    return pkt;
  }

  /** `elapsed` frames pass without a packet: the timestamp keeps time, the sequence number does not move. */
  skip(elapsed = 1): void {
    if (!this.started) return;
    this.ts = (this.ts + elapsed * this.samples) >>> 0;
    this.resumed = true;
  }
}

export function payloadOf(pkt: Buffer): Buffer {
  return pkt.subarray(RTP_HEADER);
}
