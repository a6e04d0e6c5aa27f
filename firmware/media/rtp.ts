/**
 * RTP and RTCP on the wire (RFC 3550), plus the receiver-side statistics the
 * relay keeps per leg: sequence tracking and loss (RFC 3550 A.1) and
 * interarrival jitter (RFC 3550 A.8).
 *
 * Two shapes of the RTP parser: `inspectRtp` fills a caller-owned mutable view
 * and returns a reason string or null, so the packet path allocates nothing;
 * `parseRtp` wraps it and returns plain readonly data for tests and tools.
 * Neither ever throws, and every length is checked before it is read.
 */

/** RFC 3550 5.1: the fixed header is 12 bytes. */
export const RTP_HEADER_MIN = 12;
export const RTP_VERSION = 2;
/** Sequence number space (16 bits). */
export const RTP_SEQ_MOD = 0x10000;
/** RFC 3550 A.1 defaults: jumps beyond these restart or are ignored. */
export const MAX_DROPOUT = 3000;
export const MAX_MISORDER = 100;
export const MIN_SEQUENTIAL = 2;
/** Narrowband audio (PCMU, PCMA, G.722's RTP clock, telephone-event at 8 kHz). */
export const DEFAULT_CLOCK_RATE = 8000;

export type RtpReject =
  | 'short'          // fewer bytes than the fixed header, CSRC list or extension claim
  | 'bad-version'    // V is not 2
  | 'bad-padding';   // P set but the count is 0 or runs into the header

/*
 * RFC 3550 5.1 fixed header, then optional CSRCs, extension and padding:
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                           timestamp                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                             SSRC                              |
 * +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
 * |                   CSRC list (CC x 32 bits)                    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | if X: profile-defined (16)    |  length in 32-bit words (16)  |
 * |                   extension data (length x 32 bits)           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                 payload ...   | padding ...   | pad count (8) |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */

/** Mutable, reusable view of one RTP header: owned by a leg, refilled per packet. */
export interface RtpView {
  padding: boolean;
  extension: boolean;
  csrcCount: number;
  marker: boolean;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  /** Offset of the extension header (profile word), or -1. */
  extensionOffset: number;
  extensionProfile: number;
  /** Extension data length in bytes (excluding its 4-byte header). */
  extensionLength: number;
  payloadOffset: number;
  payloadLength: number;
  paddingLength: number;
}

export function newRtpView(): RtpView {
  return {
    padding: false, extension: false, csrcCount: 0, marker: false, payloadType: 0,
    sequenceNumber: 0, timestamp: 0, ssrc: 0, extensionOffset: -1, extensionProfile: 0,
    extensionLength: 0, payloadOffset: 0, payloadLength: 0, paddingLength: 0,
  };
}

/**
 * Validate an RTP packet and fill `out`. `checkPadding` is false when the
 * packet's tail is not its own (an SRTP auth tag follows the payload, and the
 * padding count sits under the encryption), so only the clear header is judged.
 */
export function inspectRtp(buf: Uint8Array, out: RtpView, checkPadding = true): RtpReject | null {
  const len = buf.length;
  if (len < RTP_HEADER_MIN) return 'short';
  const b0 = buf[0]!;
  if (b0 >> 6 !== RTP_VERSION) return 'bad-version';
  const b1 = buf[1]!;
  out.padding = (b0 & 0x20) !== 0;
  out.extension = (b0 & 0x10) !== 0;
  out.csrcCount = b0 & 0x0f;
  out.marker = (b1 & 0x80) !== 0;
  out.payloadType = b1 & 0x7f;
  out.sequenceNumber = (buf[2]! << 8) | buf[3]!;
  out.timestamp = ((buf[4]! << 24) | (buf[5]! << 16) | (buf[6]! << 8) | buf[7]!) >>> 0;
  out.ssrc = ((buf[8]! << 24) | (buf[9]! << 16) | (buf[10]! << 8) | buf[11]!) >>> 0;
  let off = RTP_HEADER_MIN + out.csrcCount * 4;
  if (off > len) return 'short';
  out.extensionOffset = -1;
  out.extensionProfile = 0;
  out.extensionLength = 0;
  if (out.extension) {
    if (off + 4 > len) return 'short';
    out.extensionOffset = off;
    out.extensionProfile = (buf[off]! << 8) | buf[off + 1]!;
    out.extensionLength = ((buf[off + 2]! << 8) | buf[off + 3]!) * 4;
    off += 4 + out.extensionLength;
    if (off > len) return 'short';
  }
  out.payloadOffset = off;
  out.paddingLength = 0;
  if (out.padding && checkPadding) {
    // RFC 3550 5.1: the last octet counts the padding, itself included.
    const pad = buf[len - 1]!;
    if (pad === 0 || off + pad > len) return 'bad-padding';
    out.paddingLength = pad;
  }
  out.payloadLength = len - off - out.paddingLength;
  return null;
}

export interface RtpHeader {
  readonly version: 2;
  readonly padding: boolean;
  readonly marker: boolean;
  readonly payloadType: number;
  readonly sequenceNumber: number;
  readonly timestamp: number;
  readonly ssrc: number;
  readonly csrcs: readonly number[];
  readonly extension?: { readonly profile: number; readonly data: Uint8Array };
  readonly payloadOffset: number;
  readonly payloadLength: number;
  readonly paddingLength: number;
}

export type RtpParseResult =
  | { readonly ok: true; readonly header: RtpHeader }
  | { readonly ok: false; readonly reason: RtpReject };

export function parseRtp(buf: Uint8Array): RtpParseResult {
  const v = newRtpView();
  const reason = inspectRtp(buf, v);
  if (reason) return { ok: false, reason };
  const csrcs: number[] = [];
  for (let i = 0; i < v.csrcCount; i++) csrcs.push(readU32(buf, RTP_HEADER_MIN + i * 4));
  const header: RtpHeader = {
    version: 2, padding: v.padding, marker: v.marker, payloadType: v.payloadType,
    sequenceNumber: v.sequenceNumber, timestamp: v.timestamp, ssrc: v.ssrc, csrcs,
    ...(v.extension
      ? { extension: { profile: v.extensionProfile, data: buf.slice(v.extensionOffset + 4, v.extensionOffset + 4 + v.extensionLength) } }
      : {}),
    payloadOffset: v.payloadOffset, payloadLength: v.payloadLength, paddingLength: v.paddingLength,
  };
  return { ok: true, header };
}

function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

// RTCP (RFC 3550 6) lives in rtcp.ts; re-exported here for the callers that import it with RTP.
export * from './rtcp.js';

// ------------------------------------------------ receiver statistics

/**
 * Per-source receive state: RFC 3550 A.1 sequence validation (probation,
 * wrap, restart after a large jump) and A.8 interarrival jitter. One instance
 * per leg; `reset()` when the sender's SSRC changes.
 */
export class SourceStats {
  private maxSeq = 0;
  private cycles = 0;
  private baseSeq = 0;
  private badSeq = RTP_SEQ_MOD + 1;
  private probation = MIN_SEQUENTIAL;
  private receivedCount = 0;
  private started = false;
  private transit = 0;
  private haveTransit = false;
  /** Jitter estimate in timestamp units (floating point form of A.8). */
  private jitterUnits = 0;

  constructor(private clockRate = DEFAULT_CLOCK_RATE) {}

  setClockRate(rate: number): void {
    if (rate > 0 && rate !== this.clockRate) {
      this.clockRate = rate;
      this.haveTransit = false;
      this.jitterUnits = 0;
    }
  }

  reset(): void {
    this.started = false;
    this.probation = MIN_SEQUENTIAL;
    this.receivedCount = 0;
    this.cycles = 0;
    this.haveTransit = false;
    this.jitterUnits = 0;
  }

  private initSeq(seq: number): void {
    this.baseSeq = seq;
    this.maxSeq = seq;
    this.badSeq = RTP_SEQ_MOD + 1;
    this.cycles = 0;
    this.receivedCount = 0;
  }

  /**
   * RFC 3550 A.1 update_seq: true when the packet counts as valid for the
   * statistics (a source still on probation, or a jump, returns false).
   */
  updateSeq(seq: number): boolean {
    if (!this.started) {
      this.started = true;
      this.initSeq(seq);
      this.maxSeq = (seq - 1) & 0xffff;
      this.probation = MIN_SEQUENTIAL;
    }
    const udelta = (seq - this.maxSeq) & 0xffff;
    if (this.probation > 0) {
      // A new source must send MIN_SEQUENTIAL packets in order before it counts.
      if (seq === ((this.maxSeq + 1) & 0xffff)) {
        this.probation--;
        this.maxSeq = seq;
        if (this.probation === 0) {
          this.initSeq(seq);
          this.receivedCount++;
          return true;
        }
      } else {
        this.probation = MIN_SEQUENTIAL - 1;
        this.maxSeq = seq;
      }
      return false;
    } else if (udelta < MAX_DROPOUT) {
      // In order, possibly with a gap; a smaller number means we wrapped.
      if (seq < this.maxSeq) this.cycles += RTP_SEQ_MOD;
      this.maxSeq = seq;
    } else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
      // A big jump: restart only if the next packet follows on from it.
      if (seq === this.badSeq) {
        this.initSeq(seq);
      } else {
        this.badSeq = (seq + 1) & 0xffff;
        return false;
      }
    }
    // else: duplicate or misordered within MAX_MISORDER, counted as received.
    this.receivedCount++;
    return true;
  }

  /**
   * RFC 3550 A.8: arrival time in ms (converted to timestamp units with the
   * clock rate) minus the RTP timestamp is the relative transit; the jitter
   * moves 1/16 of the way toward each new |difference in transit|.
   */
  updateJitter(arrivalMs: number, rtpTimestamp: number): void {
    const arrival = (arrivalMs * this.clockRate) / 1000;
    const transit = arrival - rtpTimestamp;
    if (this.haveTransit) {
      let d = transit - this.transit;
      // The timestamp is 32-bit and wraps; fold the difference back.
      if (d > 0x80000000) d -= 0x100000000;
      else if (d < -0x80000000) d += 0x100000000;
      if (d < 0) d = -d;
      this.jitterUnits += (d - this.jitterUnits) / 16;
    }
    this.transit = transit;
    this.haveTransit = true;
  }

  get extendedMaxSeq(): number {
    return this.cycles + this.maxSeq;
  }

  get received(): number {
    return this.receivedCount;
  }

  /** A.3: expected minus received; 0 while on probation. Can be negative with duplicates. */
  get lost(): number {
    if (!this.started || this.probation > 0) return 0;
    const expected = this.extendedMaxSeq - this.baseSeq + 1;
    return expected - this.receivedCount;
  }

  get jitter(): number {
    return this.jitterUnits;
  }

  get jitterMs(): number {
    return (this.jitterUnits * 1000) / this.clockRate;
  }
}
