/**
 * Recorder taps: the engine side of recording. A tap hands every RTP packet
 * received on each of its legs to a TapSink (the recording store, written
 * elsewhere, makes the sinks; the engine knows them only by this interface).
 *
 * Where it sits on the receive path (receive.ts): after the packet passed the
 * source check, was authenticated and decrypted (when the box holds the leg's
 * keys) and committed, before the direction check and the connections. So a
 * tap also gets what no connection forwards (a held party, a muted leg).
 * On an 'srtp-relay' leg the box cannot decrypt: the sink gets the SRTP
 * packet as it came, with `opaque` true.
 *
 * The engine copies nothing for a tap: `rtp` is the receive buffer itself,
 * shared with the connections that forward it and reused once the call
 * returns. A sink copies whatever it keeps, and must not change it. A sink
 * that throws costs only itself: the engine counts it, removes the tap,
 * closes the sink and raises 'tap-closed'; the packet goes on to its
 * connections.
 */
import type { LegId } from './api.js';
import type { SocketLeg } from './leg.js';

export interface TapSink {
  /** One RTP packet received on `leg` at `arrivedAt` (the engine's clock, ms). */
  packet(leg: LegId, rtp: Uint8Array, arrivedAt: number, opaque: boolean): void;
  /** The tap ends (untap, a failure, the session deleted). Called once. */
  close(): void;
}

/** Makes a sink from the serialisable spec of a 'tap' request (a file name, a recording id ...). */
export type TapSinkFactory = (spec: Readonly<Record<string, unknown>>) => TapSink;

/** Taps in one session. */
export const MAX_TAPS_PER_SESSION = 4;

export class Tap {
  /** The legs it listens to (each leg keeps its taps in `taps`). */
  legs: readonly SocketLeg[] = [];
  closed = false;

  constructor(readonly id: string, readonly sink: TapSink, readonly specJson: string) {}

  /** Close the sink once; what it throws is the caller's to count. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sink.close();
  }
}
