/**
 * What arrived on a media port, by its first byte (RFC 7983 section 7, which
 * updates RFC 5764 5.1.2), and RTP versus RTCP by the second byte when both
 * share a port (RFC 5761 section 4).
 *
 *              +----------------+
 *   [0..3]   ->|      STUN      |
 *   [16..19] ->|      ZRTP      |
 *   [20..63] ->|      DTLS      |
 *   [64..79] ->|  TURN channel  |
 *   [128..191]>|    RTP/RTCP    |-> byte 1 in [192..223] ? RTCP : RTP
 *   otherwise  |    unknown     |   (dropped and counted)
 *              +----------------+
 */

export type PacketClass = 'stun' | 'zrtp' | 'dtls' | 'turn-channel' | 'rtp' | 'rtcp' | 'unknown';

/** RFC 5761 4: RTCP packet types 192..223 never collide with RTP payload types in use. */
export const RTCP_PT_MIN = 192;
export const RTCP_PT_MAX = 223;

/** Classify by the first byte alone ('rtp' covers RTP and RTCP). */
export function classifyFirstByte(b0: number): Exclude<PacketClass, 'rtcp'> {
  if (b0 <= 3) return 'stun';
  if (b0 >= 16 && b0 <= 19) return 'zrtp';
  if (b0 >= 20 && b0 <= 63) return 'dtls';
  if (b0 >= 64 && b0 <= 79) return 'turn-channel';
  if (b0 >= 128 && b0 <= 191) return 'rtp';
  return 'unknown';
}

/** Classify a whole datagram, splitting RTP from RTCP. An empty datagram is 'unknown'. */
export function classifyPacket(buf: Uint8Array): PacketClass {
  if (buf.length === 0) return 'unknown';
  const c = classifyFirstByte(buf[0]!);
  if (c !== 'rtp') return c;
  if (buf.length < 2) return 'rtp'; // too short for either; the RTP check rejects it as 'short'
  const b1 = buf[1]!;
  return b1 >= RTCP_PT_MIN && b1 <= RTCP_PT_MAX ? 'rtcp' : 'rtp';
}
