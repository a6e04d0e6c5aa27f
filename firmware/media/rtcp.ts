/**
 * RTCP compound packets on the wire (RFC 3550 6): the validity check the
 * relay runs on every packet it forwards (RFC 3550 A.2) and a parser of
 * SR/RR report blocks. Neither throws; every length is checked before it is
 * read.
 */

function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

/** RFC 3550 6.4.1: the same version field as RTP. */
const RTCP_VERSION = 2;
export const RTCP_SR = 200;
export const RTCP_RR = 201;
export const RTCP_HEADER = 4;
const SR_SENDER_INFO = 20;
const REPORT_BLOCK = 24;

export type RtcpReject =
  | 'short'            // under 8 bytes, not a multiple of 4, or a length past the end
  | 'bad-version'      // some packet in the compound is not version 2
  | 'bad-first-type'   // the compound does not start with SR or RR
  | 'bad-padding'      // padding on a packet that is not the last (or a bad count)
  | 'bad-report-count'; // SR/RR claims more report blocks than its length holds

/*
 * RFC 3550 6.4.1 / 6.4.2, common header then SR sender info and report blocks:
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|    RC   |   PT=200/201  |  length (32-bit words - 1)    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         SSRC of sender                        |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * | SR only: NTP timestamp (64), RTP timestamp, packet count,     |
 * |          octet count  (20 bytes)                              |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |                 SSRC_n (source this block is about)           |
 * | fraction lost |       cumulative packets lost (signed 24)     |
 * |           extended highest sequence number received           |
 * |                      interarrival jitter                      |
 * |                         last SR (LSR)                         |
 * |                   delay since last SR (DLSR)                  |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 */

/**
 * RFC 3550 A.2 validity check of a compound RTCP packet, allocation-free:
 * version 2 everywhere, the first packet SR or RR without padding, only the
 * last packet may pad, and the length fields add up to exactly the datagram.
 */
export function checkRtcpCompound(buf: Uint8Array): RtcpReject | null {
  const len = buf.length;
  if (len < 8 || len % 4 !== 0) return 'short';
  const pt0 = buf[1]!;
  if (buf[0]! >> 6 !== RTCP_VERSION) return 'bad-version';
  if (pt0 !== RTCP_SR && pt0 !== RTCP_RR) return 'bad-first-type';
  let off = 0;
  while (off < len) {
    if (off + RTCP_HEADER > len) return 'short';
    const b0 = buf[off]!;
    if (b0 >> 6 !== RTCP_VERSION) return 'bad-version';
    const plen = (((buf[off + 2]! << 8) | buf[off + 3]!) + 1) * 4;
    const end = off + plen;
    if (end > len) return 'short';
    if (b0 & 0x20) {
      // RFC 3550 6.4.1: only the last packet of a compound may be padded.
      if (end !== len || off === 0) return 'bad-padding';
      const pad = buf[len - 1]!;
      if (pad === 0 || pad > plen - RTCP_HEADER) return 'bad-padding';
    }
    const pt = buf[off + 1]!;
    if (pt === RTCP_SR || pt === RTCP_RR) {
      const fixed = RTCP_HEADER + 4 + (pt === RTCP_SR ? SR_SENDER_INFO : 0);
      if (fixed + (b0 & 0x1f) * REPORT_BLOCK > plen) return 'bad-report-count';
    }
    off = end;
  }
  return null;
}

export interface RtcpReportBlock {
  readonly ssrc: number;
  /** Fraction lost since the previous report, as the 8-bit fixed-point value / 256. */
  readonly fractionLost: number;
  /** Signed: duplicates can make it negative (RFC 3550 6.4.1). */
  readonly cumulativeLost: number;
  readonly extendedHighestSeq: number;
  /** In timestamp units of the reported stream. */
  readonly jitter: number;
  readonly lastSr: number;
  readonly delaySinceLastSr: number;
}

export interface RtcpSenderInfo {
  readonly ntpMsw: number;
  readonly ntpLsw: number;
  readonly rtpTimestamp: number;
  readonly packetCount: number;
  readonly octetCount: number;
}

export interface RtcpPacket {
  readonly packetType: number;
  /** The 5-bit count field (report count for SR/RR, source count for BYE, ...). */
  readonly count: number;
  readonly offset: number;
  readonly length: number;
  /** SR/RR only. */
  readonly ssrc?: number;
  readonly sender?: RtcpSenderInfo;
  readonly reports?: readonly RtcpReportBlock[];
}

export type RtcpParseResult =
  | { readonly ok: true; readonly packets: readonly RtcpPacket[] }
  | { readonly ok: false; readonly reason: RtcpReject };

/** Validate (A.2) then split a compound packet; SR/RR report blocks are decoded. */
export function parseRtcpCompound(buf: Uint8Array): RtcpParseResult {
  const reason = checkRtcpCompound(buf);
  if (reason) return { ok: false, reason };
  const packets: RtcpPacket[] = [];
  let off = 0;
  while (off < buf.length) {
    const count = buf[off]! & 0x1f;
    const packetType = buf[off + 1]!;
    const length = (((buf[off + 2]! << 8) | buf[off + 3]!) + 1) * 4;
    if (packetType === RTCP_SR || packetType === RTCP_RR) {
      let p = off + RTCP_HEADER;
      const ssrc = readU32(buf, p);
      p += 4;
      let sender: RtcpSenderInfo | undefined;
      if (packetType === RTCP_SR) {
        sender = {
          ntpMsw: readU32(buf, p), ntpLsw: readU32(buf, p + 4), rtpTimestamp: readU32(buf, p + 8),
          packetCount: readU32(buf, p + 12), octetCount: readU32(buf, p + 16),
        };
        p += SR_SENDER_INFO;
      }
      const reports: RtcpReportBlock[] = [];
      for (let i = 0; i < count; i++, p += REPORT_BLOCK) {
        const lost24 = (buf[p + 5]! << 16) | (buf[p + 6]! << 8) | buf[p + 7]!;
        reports.push({
          ssrc: readU32(buf, p),
          fractionLost: buf[p + 4]! / 256,
          cumulativeLost: lost24 & 0x800000 ? lost24 - 0x1000000 : lost24,
          extendedHighestSeq: readU32(buf, p + 8),
          jitter: readU32(buf, p + 12),
          lastSr: readU32(buf, p + 16),
          delaySinceLastSr: readU32(buf, p + 20),
        });
      }
      packets.push({ packetType, count, offset: off, length, ssrc, ...(sender ? { sender } : {}), reports });
    } else {
      packets.push({ packetType, count, offset: off, length });
    }
    off += length;
  }
  return { ok: true, packets };
}

