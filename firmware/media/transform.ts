/**
 * The per-leg packet transform slot: SRTP (and keys from SDES, DTLS or ZRTP)
 * will plug in here without changing the relay path.
 *
 * On receive the engine calls `unprotect` after the clear RTP header and the
 * source check passed but before it commits any state (latching, statistics),
 * so a forged packet cannot move the latch. On send it calls `protect` last,
 * after payload-type rewriting. Either returns the packet to carry on with (the
 * same buffer, a subarray of it, or a buffer the transform owns and reuses) or
 * a drop reason that the leg counts (e.g. 'srtp-auth', 'srtp-replay').
 */
export type MediaKind = 'rtp' | 'rtcp';

export interface LegTransform {
  unprotect(kind: MediaKind, packet: Buffer): Buffer | string;
  protect(kind: MediaKind, packet: Buffer): Buffer | string;
}
