/**
 * A player: music on hold or a prompt, played into one leg. It is a
 * MediaSource of its own (destination.ts) that hands one 20 ms G.711 packet
 * per frame to the leg's ordinary send path (SocketLeg.deliverRtp), so the
 * leg's rules hold for it as for any connection: its SRTP keys protect it,
 * nothing goes to a phone whose SDP says it does not receive, nothing
 * unprotected to a leg that is not 'rtp'.
 *
 * The PCM is encoded once when the player starts; each frame then copies 160
 * bytes (wrapping round at the end when it loops). A prompt that does not
 * loop pads its last frame with G.711 silence and then ends.
 */
import type { Clock, Random } from '../core/index.js';
import { encodeG711, g711Silence, type G711Law } from './codec/index.js';
import type { MediaDestination, MediaSource } from './destination.js';
import { FRAME_SAMPLES, FrameTicker, RtpSender, payloadOf } from './frames.js';

export interface PlayerOptions {
  /** Where it plays; drops are counted on this leg with a 'play-' prefix. */
  readonly into: MediaDestination & { drop(reason: string): void };
  /** 8 kHz mono linear PCM; not kept (encoded at once). */
  readonly pcm: Int16Array;
  readonly codec: G711Law;
  readonly payloadType: number;
  readonly loop: boolean;
  readonly clock: Clock;
  readonly random: Random;
  /** A prompt that does not loop played to its end. */
  readonly onEnd?: () => void;
  readonly onError?: (e: unknown) => void;
}

export class Player implements MediaSource {
  readonly id: string;
  readonly opaque = false;
  readonly codec: G711Law;
  private readonly encoded: Uint8Array;
  private readonly silence: number;
  private readonly sender: RtpSender;
  private readonly ticker: FrameTicker;
  /** Frames since the start, skipped ones included: the position in the music. */
  private frame = 0;
  private stopped = false;
  private begun = false;
  /** Packets handed to the leg. */
  sent = 0;

  constructor(private readonly opts: PlayerOptions) {
    this.id = `player:${opts.into.id}`;
    this.codec = opts.codec;
    this.encoded = encodeG711(opts.codec, opts.pcm);
    this.silence = g711Silence(opts.codec);
    this.sender = new RtpSender(opts.random, opts.payloadType);
    this.ticker = new FrameTicker(opts.clock, (elapsed) => this.onFrame(elapsed), opts.onError);
  }

  get ssrc(): number {
    return this.sender.ssrc;
  }

  get playing(): boolean {
    return !this.stopped;
  }

  get skipped(): number {
    return this.ticker.skipped;
  }

  /** The first packet goes out now, the next ones every 20 ms. */
  start(): void {
    this.ticker.start(true);
  }

  /** Idempotent. */
  stop(): void {
    this.stopped = true;
    this.ticker.stop();
  }

  drop(reason: string): void {
    this.opts.into.drop(`play-${reason}`);
  }

  private onFrame(elapsed: number): void {
    if (this.stopped) return;
    if (this.begun) this.frame += elapsed;
    this.begun = true;
    const len = this.encoded.length;
    let pos = this.frame * FRAME_SAMPLES;
    if (!this.opts.loop && pos >= len) {
      this.stop();
      this.opts.onEnd?.();
      return;
    }
    const pkt = this.sender.next(elapsed);
    const out = payloadOf(pkt);
    if (this.opts.loop) {
      pos %= len;
      for (let i = 0; i < FRAME_SAMPLES;) {
        const n = Math.min(FRAME_SAMPLES - i, len - pos);
        out.set(this.encoded.subarray(pos, pos + n), i);
        i += n;
        pos = (pos + n) % len;
      }
    } else {
      const n = Math.min(FRAME_SAMPLES, len - pos);
      out.set(this.encoded.subarray(pos, pos + n), 0);
      if (n < FRAME_SAMPLES) out.fill(this.silence, n);
    }
    this.sent++;
    this.opts.into.deliverRtp(pkt, this.sender.payloadType, this, undefined);
  }
}
