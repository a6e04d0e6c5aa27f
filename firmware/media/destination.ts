/**
 * Where a leg's media goes: connections deliver to a small destination
 * interface instead of to "the other leg". A socket leg (leg.ts) is both a
 * source (its phone sends) and a destination (the box sends to its phone).
 *
 * Where the call features plug in:
 *  - a player (player.ts: music on hold, prompts) is a MediaSource that calls
 *    deliverRtp of the leg it plays into, on the engine's frame clock;
 *  - a conference mixer (conference.ts, mixer.ts) is fed from each member's
 *    receive path and has a MediaSource per member that delivers the mix;
 *  - either has the leg to itself while it plays (SocketLeg.exclusive):
 *    connections into the leg are muted, not removed;
 *  - a recorder tap (tap.ts) hears a leg's receive path directly, so it gets
 *    what no connection forwards as well.
 * Whatever implements MediaDestination applies the same security rule as a
 * socket leg if it sends on: nothing unprotected toward a leg that is not 'rtp'.
 */
import type { LegId, PayloadTypeMap } from './api.js';

export interface MediaSource {
  readonly id: LegId;
  /** Its packets are end-to-end SRTP: passed byte for byte, never rewritten or parsed. */
  readonly opaque: boolean;
  /** Count a drop against the source (its packet could not go where a connection takes it). */
  drop(reason: string): void;
}

export interface MediaDestination {
  readonly id: LegId;
  /** Whether media is meant to flow into it now (the media timer asks; RFC 3264 directions). */
  receivesMedia(): boolean;
  /**
   * One RTP packet from `from`, already authenticated and decrypted if the box
   * holds `from`'s keys. The buffer is shared by every destination of a
   * fan-out: a destination may change it only for the duration of the call
   * (and must restore it), or copy it. `ptOut` is the connection's payload
   * type table (PT_NONE = keep), to apply unless `from` is opaque.
   */
  deliverRtp(pkt: Buffer, payloadType: number, from: MediaSource, ptOut: Int16Array | undefined): void;
  /** One RTCP compound packet (SRTCP, untouched, when `from` is opaque); the same sharing rule. */
  deliverRtcp(pkt: Buffer, from: MediaSource): void;
}

export const PT_NONE = -1;

/** One direction: what `from`'s phone sends goes to `to`. */
export class Connection {
  /** Payload type rewrite for packets crossing it; undefined = none. */
  ptOut: Int16Array | undefined;
  ptMap: PayloadTypeMap | undefined;

  constructor(readonly from: MediaSource, readonly to: MediaDestination) {}

  setMap(map: PayloadTypeMap | undefined, table: Int16Array | undefined): void {
    this.ptMap = map;
    this.ptOut = table;
  }
}
