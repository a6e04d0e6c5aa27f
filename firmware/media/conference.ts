/**
 * A conference mixer inside a session: the Mixer (mixer.ts) on the engine's
 * frame clock, its members socket legs. A member leg feeds the mixer from
 * its receive path (after authentication and decryption) and gets the mix
 * through its ordinary send path from a source of its own, which has the leg
 * to itself: ordinary connections into a member are muted (SocketLeg.exclusive).
 */
import type { Clock, Random } from '../core/index.js';
import type { G711Law } from './codec/index.js';
import type { MediaSource } from './destination.js';
import { FrameTicker } from './frames.js';
import type { SocketLeg } from './leg.js';
import { Mixer, type MixerMember } from './mixer.js';
import type { RtpView } from './rtp.js';

/** Mixers in one session. */
export const MAX_MIXERS_PER_SESSION = 4;

/** What a member leg holds of its membership. */
export interface Membership {
  readonly mixer: SessionMixer;
  readonly member: MixerMember;
  /** The mix's source toward this leg. */
  readonly source: MediaSource;
}

export class SessionMixer {
  readonly core: Mixer;
  private readonly ticker: FrameTicker;
  readonly members = new Map<SocketLeg, Membership>();

  constructor(readonly name: string, clock: Clock, random: Random, onError: (e: unknown) => void) {
    this.core = new Mixer(random);
    this.ticker = new FrameTicker(clock, (elapsed) => this.core.mix(elapsed), onError);
  }

  /** Add the leg, or change its codec; the first member starts the frame clock. */
  add(leg: SocketLeg, codec: G711Law, payloadType: number): void {
    const had = this.members.get(leg);
    const source: MediaSource = had?.source ?? {
      id: `mixer:${this.name}`,
      opaque: false,
      drop: (reason: string) => leg.drop(`mix-${reason}`),
    };
    const opts = {
      codec,
      payloadType,
      send: (pkt: Buffer) => leg.deliverRtp(pkt, payloadType, source, undefined),
      receives: () => leg.receivesMedia(),
    };
    if (had) {
      had.member.reconfigure(opts);
      return;
    }
    const m: Membership = { mixer: this, member: this.core.add(opts), source };
    this.members.set(leg, m);
    leg.member = m;
    leg.exclusive = source;
    if (!this.ticker.isRunning) this.ticker.start(false);
  }

  /** Take the leg out (its connections are heard again); true when the mixer is left empty. */
  remove(leg: SocketLeg): boolean {
    const m = this.members.get(leg);
    if (m) {
      this.members.delete(leg);
      this.core.remove(m.member);
      if (leg.member === m) leg.member = undefined;
      if (leg.exclusive === m.source) leg.exclusive = undefined;
    }
    if (this.members.size === 0) this.ticker.stop();
    return this.members.size === 0;
  }

  close(): void {
    for (const leg of [...this.members.keys()]) this.remove(leg);
    this.ticker.stop();
  }

  /** Whether media should flow: a member that sends and another that receives. */
  mediaExpected(): boolean {
    for (const a of this.members.keys()) {
      if (!a.sendsMedia()) continue;
      for (const b of this.members.keys()) if (b !== a && b.receivesMedia()) return true;
    }
    return false;
  }
}

/** A member leg's received RTP (clear) into its jitter buffer; what the mix cannot use is counted on the leg. */
export function mixInput(x: SocketLeg, m: MixerMember, pkt: Buffer, v: RtpView): void {
  let end = pkt.length;
  // Padding of a decrypted SRTP packet was not checkable before decryption: check it here.
  if (pkt[0]! & 0x20) {
    const pad = pkt[end - 1]!;
    if (pad === 0 || pad > end - v.payloadOffset) return x.drop('mix-bad-padding');
    end -= pad;
  }
  const r = m.push(v.payloadType, v.ssrc, v.timestamp, pkt.subarray(v.payloadOffset, end));
  if (r) x.drop(r);
}
