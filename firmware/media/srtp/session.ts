import { PbxError } from '../../core/index.js';
import {
  AES_BLOCK, AesEcb, deriveSessionKey,
  LABEL_RTCP_AUTH, LABEL_RTCP_ENCRYPTION, LABEL_RTCP_SALT, LABEL_RTP_AUTH, LABEL_RTP_ENCRYPTION, LABEL_RTP_SALT,
} from './aes.js';
import { Ghash } from './ghash.js';
import { HmacSha1, tagDiffers, writeTag } from './hmac-sha1.js';
import { ReplayWindow, SEQ_MOD, estimateIndex } from './replay.js';
import { SRTP_SUITES, isSrtpSuiteName, type SrtpSuite, type SrtpSuiteName } from './suites.js';

/** Largest RTP or RTCP packet (before protection) a session accepts. */
export const MAX_SRTP_PACKET = 2048;
/** RFC 4568 6.1: an MKI is 1 to 128 bytes. */
export const MAX_MKI_LENGTH = 128;
/** Largest trailer we add: E flag and SRTCP index, MKI, 16-byte tag. */
export const MAX_SRTP_TRAILER = 4 + MAX_MKI_LENGTH + 16;
/**
 * SSRCs tracked per direction. A stream is only created by a packet that
 * authenticated (or one we send), so this bounds memory against a keyed but
 * misbehaving peer; streams are never evicted, since dropping one would forget
 * its replay window.
 */
export const MAX_STREAMS_PER_SESSION = 64;
export const DEFAULT_REPLAY_WINDOW = 128;
/** RFC 3711 9.2: at most 2^48 SRTP packets under one master key ... */
export const SRTP_MAX_PACKETS = 2 ** 48;
/** ... and the SRTCP index is 31 bits (3.4). */
export const SRTCP_MAX_INDEX = 0x7fffffff;
/** RFC 3711 4.3.1: the key derivation rate is 0 or a power of two up to 2^24. */
export const MAX_KDR = 2 ** 24;
/** Counter-mode keystream is generated for this many packets of a stream at a time ... */
export const KEYSTREAM_BATCH_PACKETS = 32;
/** ... within this many bytes. */
export const KEYSTREAM_BATCH_BYTES = 16384;

const RTP_HEADER = 12;
const RTCP_HEADER = 8;
const GCM_TAG = 16;
const E_FLAG = 0x80000000;

export type SrtpReject =
  | 'srtp-short'         // too short for a header and the trailer this suite needs
  | 'srtp-header'        // not version 2, or the CSRC list / extension runs past the end
  | 'srtp-too-big'       // longer than MAX_SRTP_PACKET
  | 'srtp-no-room'       // the caller's output buffer cannot hold the result
  | 'srtp-mki'           // the MKI does not name our master key
  | 'srtp-auth'          // the authentication tag does not match
  | 'srtp-replay'        // this index was already received (or, sending, already sent)
  | 'srtp-old'           // the index lies behind the replay window
  | 'srtp-key-expired'   // the master key's packet lifetime is used up: rekey
  | 'srtp-stream-limit'; // a new SSRC beyond MAX_STREAMS_PER_SESSION

export const SRTP_REJECTS: readonly SrtpReject[] = [
  'srtp-short', 'srtp-header', 'srtp-too-big', 'srtp-no-room', 'srtp-mki', 'srtp-auth', 'srtp-replay', 'srtp-old',
  'srtp-key-expired', 'srtp-stream-limit',
];

export interface SrtpSessionOptions {
  readonly suite: SrtpSuiteName;
  readonly masterKey: Uint8Array;
  readonly masterSalt: Uint8Array;
  /** Master key identifier carried in every packet (RFC 3711 3.1), if signalled. */
  readonly mki?: Uint8Array;
  /** Key derivation rate (RFC 3711 4.3.1); 0, the default, derives once. */
  readonly kdr?: number;
  /** Replay window in packets (RFC 3711 3.3.2 asks for at least 64). */
  readonly replayWindow?: 64 | 128;
  /** Packets (SRTP and SRTCP, both ways) this master key may protect, e.g. from the SDES lifetime. */
  readonly lifetime?: number;
  /** false sends SRTCP with E=0 (SDES UNENCRYPTED_SRTCP); received packets follow their own E flag. */
  readonly encryptRtcp?: boolean;
}

/** Session (not master) keys for one direction of RTP or RTCP. */
export interface SrtpSessionKeys {
  readonly key: Uint8Array;
  readonly salt: Uint8Array;
  /** HMAC-SHA1 key for the CM suites. */
  readonly authKey?: Uint8Array;
}

export interface SrtpStats {
  readonly rtpProtected: number;
  readonly rtpUnprotected: number;
  readonly rtcpProtected: number;
  readonly rtcpUnprotected: number;
  readonly rejected: Readonly<Record<SrtpReject, number>>;
}

/** Session keys for one key-derivation epoch r (RFC 3711 4.3). */
interface KeySet {
  readonly r: number;
  readonly ecb: AesEcb;
  readonly s0: number; readonly s1: number; readonly s2: number; readonly s3: number;
  readonly hmac: HmacSha1 | null;
  readonly ghash: Ghash | null;
}

class RtpStream {
  readonly window: ReplayWindow;
  /** Keystream for packets ksFirst .. ksFirst+ksCount-1, ksBlocks blocks each. */
  ks: Buffer | null = null;
  ksKeys: KeySet | null = null;
  ksFirst = 0;
  ksCount = 0;
  ksBlocks = 0;
  constructor(readonly ssrc: number, size: 64 | 128) {
    this.window = new ReplayWindow(size);
  }
}

class RtcpStream {
  readonly window: ReplayWindow;
  /** Next SRTCP index to send. */
  next = 0;
  constructor(readonly ssrc: number, size: 64 | 128) {
    this.window = new ReplayWindow(size);
  }
}

/** Counter blocks are laid out here and handed to AES-ECB in one call. */
const CTR_IN = Buffer.alloc(KEYSTREAM_BATCH_BYTES);
const CTR_VIEW = new DataView(CTR_IN.buffer, CTR_IN.byteOffset, CTR_IN.byteLength);
/** GCM SRTCP associated data, which is not contiguous in the packet. */
const AAD = Buffer.alloc(MAX_SRTP_PACKET + 4);

function rd32(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24; b[o + 1] = (v >>> 16) & 0xff; b[o + 2] = (v >>> 8) & 0xff; b[o + 3] = v & 0xff;
}

/**
 * RFC 3550 5.1: length of the fixed header, CSRC list and header extension,
 * all of which SRTP authenticates but leaves in clear; -1 when the version is
 * wrong or the header runs past `len`.
 */
function rtpHeaderLength(b: Uint8Array, len: number): number {
  if (len < RTP_HEADER) return -1;
  const b0 = b[0]!;
  if (b0 >> 6 !== 2) return -1;
  let hl = RTP_HEADER + (b0 & 0x0f) * 4;
  if (b0 & 0x10) {
    if (hl + 4 > len) return -1;
    hl += 4 + ((b[hl + 2]! << 8) | b[hl + 3]!) * 4;
  }
  return hl <= len ? hl : -1;
}

/** dst[off..off+n) ^= ks[ksOff..]; unrolled by eight, which V8 runs about twice as fast. */
function xorInto(dst: Uint8Array, off: number, n: number, ks: Uint8Array, ksOff: number): void {
  let i = off, j = ksOff;
  const end8 = off + (n & ~7), end = off + n;
  for (; i < end8; i += 8, j += 8) {
    dst[i]! ^= ks[j]!; dst[i + 1]! ^= ks[j + 1]!; dst[i + 2]! ^= ks[j + 2]!; dst[i + 3]! ^= ks[j + 3]!;
    dst[i + 4]! ^= ks[j + 4]!; dst[i + 5]! ^= ks[j + 5]!; dst[i + 6]! ^= ks[j + 6]!; dst[i + 7]! ^= ks[j + 7]!;
  }
  for (; i < end; i++, j++) dst[i]! ^= ks[j]!;
}

/** Whether out[0, n) and packet[0, n) share any memory (then the copy must come first). */
function overlaps(out: Buffer, packet: Buffer, n: number): boolean {
  if (out.buffer !== packet.buffer) return false;
  return out.byteOffset < packet.byteOffset + n && packet.byteOffset < out.byteOffset + n;
}

/** dst[off..off+n) = src[off..off+n) ^ ks[ksOff..]: copy and encrypt in one pass. */
function xorTo(dst: Uint8Array, src: Uint8Array, off: number, n: number, ks: Uint8Array, ksOff: number): void {
  let i = off, j = ksOff;
  const end8 = off + (n & ~7), end = off + n;
  for (; i < end8; i += 8, j += 8) {
    dst[i] = src[i]! ^ ks[j]!; dst[i + 1] = src[i + 1]! ^ ks[j + 1]!; dst[i + 2] = src[i + 2]! ^ ks[j + 2]!; dst[i + 3] = src[i + 3]! ^ ks[j + 3]!;
    dst[i + 4] = src[i + 4]! ^ ks[j + 4]!; dst[i + 5] = src[i + 5]! ^ ks[j + 5]!; dst[i + 6] = src[i + 6]! ^ ks[j + 6]!; dst[i + 7] = src[i + 7]! ^ ks[j + 7]!;
  }
  for (; i < end; i++, j++) dst[i] = src[i]! ^ ks[j]!;
}

/**
 * One SRTP/SRTCP cryptographic context: a master key and salt with the state
 * of every SSRC seen under them, both for packets we protect and packets we
 * unprotect. In a call leg use one for what the phone sends (its key) and one
 * for what we send (ours).
 *
 * Buffers: `unprotectRtp`/`unprotectRtcp` authenticate, then decrypt in place
 * and return a subarray of the packet given; on a rejection the packet is
 * untouched. `protectRtp`/`protectRtcp` never change their input; they write
 * into `out` when given (it may be the input's own memory, with room after the
 * packet for the trailer), else into a buffer owned by the session that the
 * next protect call on this session overwrites.
 *
 * Hostile input never throws: every rejection is a typed reason, counted in
 * `stats()`. Only the constructor throws (PbxError 'config') on a bad key.
 */
export class SrtpSession {
  readonly suite: SrtpSuite;
  private readonly masterKey: Buffer;
  private readonly masterSalt: Buffer;
  private readonly mki: Buffer;
  private readonly kdr: number;
  private readonly windowSize: 64 | 128;
  private readonly lifetime: number;
  private readonly encryptRtcp: boolean;
  private readonly rtpTag: number;
  private readonly rtcpTag: number;

  private rtpKeys: KeySet;
  private rtcpKeys: KeySet | null = null;
  private readonly rxRtp = new Map<number, RtpStream>();
  private readonly txRtp = new Map<number, RtpStream>();
  private readonly rxRtcp = new Map<number, RtcpStream>();
  private readonly txRtcp = new Map<number, RtcpStream>();
  private lastRx: RtpStream | null = null;
  private lastTx: RtpStream | null = null;

  private used = 0;
  private readonly counts = { rtpProtected: 0, rtpUnprotected: 0, rtcpProtected: 0, rtcpUnprotected: 0 };
  private readonly rejected: Record<SrtpReject, number>;

  private readonly outBuf = Buffer.alloc(MAX_SRTP_PACKET + MAX_SRTP_TRAILER);
  private outView: Buffer = this.outBuf.subarray(0, 0);
  /** Where the last keystream lookup left its result. */
  private ksBuf: Buffer = CTR_IN;
  private ksOff = 0;

  constructor(opts: SrtpSessionOptions) {
    if (!isSrtpSuiteName(opts.suite)) throw new PbxError('config', `unknown SRTP suite ${String(opts.suite)}`);
    const s = SRTP_SUITES[opts.suite];
    this.suite = s;
    if (opts.masterKey.length !== s.keyLength) {
      throw new PbxError('config', `${s.name} needs a ${s.keyLength}-byte master key, got ${opts.masterKey.length}`);
    }
    if (opts.masterSalt.length !== s.saltLength) {
      throw new PbxError('config', `${s.name} needs a ${s.saltLength}-byte master salt, got ${opts.masterSalt.length}`);
    }
    const mki = opts.mki ?? new Uint8Array(0);
    if (opts.mki !== undefined && (mki.length < 1 || mki.length > MAX_MKI_LENGTH)) {
      throw new PbxError('config', `an MKI is 1 to ${MAX_MKI_LENGTH} bytes, got ${mki.length}`);
    }
    const kdr = opts.kdr ?? 0;
    if (!Number.isInteger(kdr) || kdr < 0 || kdr > MAX_KDR || (kdr & (kdr - 1)) !== 0) {
      throw new PbxError('config', `the key derivation rate must be 0 or a power of two up to 2^24, got ${kdr}`);
    }
    const win = opts.replayWindow ?? DEFAULT_REPLAY_WINDOW;
    if (win !== 64 && win !== 128) throw new PbxError('config', `replay window must be 64 or 128, got ${String(win)}`);
    const lifetime = opts.lifetime ?? SRTP_MAX_PACKETS;
    if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > SRTP_MAX_PACKETS) {
      throw new PbxError('config', `key lifetime must be 1 to 2^48 packets, got ${lifetime}`);
    }
    this.masterKey = Buffer.from(opts.masterKey);
    this.masterSalt = Buffer.from(opts.masterSalt);
    this.mki = Buffer.from(mki);
    this.kdr = kdr;
    this.windowSize = win;
    this.lifetime = lifetime;
    this.encryptRtcp = opts.encryptRtcp ?? true;
    this.rtpTag = s.srtpTagLength;
    this.rtcpTag = s.srtcpTagLength;
    this.rtpKeys = this.derive(false, 0);
    this.rejected = Object.fromEntries(SRTP_REJECTS.map((r) => [r, 0])) as Record<SrtpReject, number>;
  }

  /**
   * A session from session keys rather than a master key, for known-answer
   * tests: RFC 7714 16 and 17 give the packet-layer keys directly. The master
   * key is unknown, so the key derivation rate must stay 0.
   */
  static fromSessionKeys(
    suite: SrtpSuiteName, rtp: SrtpSessionKeys, rtcp: SrtpSessionKeys,
    opts: Omit<SrtpSessionOptions, 'suite' | 'masterKey' | 'masterSalt' | 'kdr'> = {},
  ): SrtpSession {
    const s = SRTP_SUITES[suite];
    const session = new SrtpSession({ ...opts, suite, masterKey: new Uint8Array(s.keyLength), masterSalt: new Uint8Array(s.saltLength) });
    session.rtpKeys = session.keySet(0, rtp.key, rtp.salt, rtp.authKey);
    session.rtcpKeys = session.keySet(0, rtcp.key, rtcp.salt, rtcp.authKey);
    return session;
  }

  /** Packets this master key may still protect or accept before it must be replaced. */
  get remainingPackets(): number {
    return this.lifetime - this.used;
  }

  stats(): SrtpStats {
    return { ...this.counts, rejected: { ...this.rejected } };
  }

  // ---------------------------------------------------------------- SRTP

  /*
   * RFC 3711 3.1 (CM) and RFC 7714 8.2 (GCM): the protected packet.
   *
   *   | RTP header, CSRCs, extension (clear) | payload incl. padding (encrypted) |
   *   | CM:  MKI (opt) | auth tag (10 or 4)                                     |
   *   | GCM: GCM tag (16) | MKI (opt)                                           |
   */
  protectRtp(packet: Buffer, out?: Buffer): Buffer | SrtpReject {
    const len = packet.length;
    if (len > MAX_SRTP_PACKET) return this.reject('srtp-too-big');
    if (len < RTP_HEADER) return this.reject('srtp-short');
    const hl = rtpHeaderLength(packet, len);
    if (hl < 0) return this.reject('srtp-header');
    const ssrc = rd32(packet, 8) >>> 0;
    const seq = (packet[2]! << 8) | packet[3]!;
    let st = this.lastTx;
    if (st === null || st.ssrc !== ssrc) {
      st = this.txRtp.get(ssrc) ?? null;
      if (st === null) {
        if (this.txRtp.size >= MAX_STREAMS_PER_SESSION) return this.reject('srtp-stream-limit');
        st = new RtpStream(ssrc, this.windowSize);
        this.txRtp.set(ssrc, st);
      }
      this.lastTx = st;
    }
    // The sender follows the same index rule as a receiver, so packets we relay
    // out of order still get the index the far end will compute (3.3.1).
    const index = estimateIndex(st.window.highest, seq);
    if (index < 0) return this.reject('srtp-old');
    const verdict = st.window.check(index);
    if (verdict !== 'new') return this.reject(verdict === 'old' ? 'srtp-old' : 'srtp-replay');
    if (this.used >= this.lifetime || index >= SRTP_MAX_PACKETS) return this.reject('srtp-key-expired');
    const keys = this.rtpKeysFor(index);
    const mkiLen = this.mki.length;
    const tagLen = this.rtpTag;
    const total = len + mkiLen + tagLen;
    const o = out ?? this.outBuf;
    if (o.length < total) return this.reject('srtp-no-room');
    const plen = len - hl;
    if (keys.ghash === null) {
      this.rtpKeystream(st, keys, index, (plen + 15) >>> 4);
      // The header is copied, the payload encrypted on its way across: one pass.
      if (!overlaps(o, packet, len)) {
        packet.copy(o, 0, 0, hl);
        xorTo(o, packet, hl, plen, this.ksBuf, this.ksOff);
      } else {
        if (o !== packet) packet.copy(o, 0, 0, len);
        xorInto(o, hl, plen, this.ksBuf, this.ksOff);
      }
      if (mkiLen) this.mki.copy(o, len);
      const d = keys.hmac!.mac(o, 0, len, Math.floor(index / SEQ_MOD), 4);
      writeTag(d, tagLen, o, len + mkiLen);
    } else {
      if (o !== packet) packet.copy(o, 0, 0, len);
      this.rtpKeystream(st, keys, index, 1 + ((plen + 15) >>> 4));
      const ks = this.ksBuf, ko = this.ksOff;
      xorInto(o, hl, plen, ks, ko + AES_BLOCK);
      this.gcmTag(keys.ghash, o, 0, hl, o, hl, plen, ks, ko, o, len);
      if (mkiLen) this.mki.copy(o, len + GCM_TAG);
    }
    st.window.commit(index);
    this.used++;
    this.counts.rtpProtected++;
    return this.view(o, total);
  }

  unprotectRtp(packet: Buffer): Buffer | SrtpReject {
    const len = packet.length;
    const mkiLen = this.mki.length;
    const tagLen = this.rtpTag;
    if (len > MAX_SRTP_PACKET + mkiLen + tagLen) return this.reject('srtp-too-big');
    if (len < RTP_HEADER + mkiLen + tagLen) return this.reject('srtp-short');
    const end = len - mkiLen - tagLen;
    const hl = rtpHeaderLength(packet, end);
    if (hl < 0) return this.reject('srtp-header');
    const gcm = this.suite.aead;
    if (mkiLen && this.mki.compare(packet, gcm ? end + GCM_TAG : end, gcm ? len : end + mkiLen) !== 0) {
      return this.reject('srtp-mki');
    }
    const ssrc = rd32(packet, 8) >>> 0;
    const seq = (packet[2]! << 8) | packet[3]!;
    let st = this.lastRx;
    if (st === null || st.ssrc !== ssrc) st = this.rxRtp.get(ssrc) ?? null;
    // Candidate index from a read-only look at the stream (appendix A); a new
    // SSRC starts its rollover counter at 0.
    const index = estimateIndex(st === null ? -1 : st.window.highest, seq);
    if (index < 0) return this.reject('srtp-old');
    if (this.used >= this.lifetime || index >= SRTP_MAX_PACKETS) return this.reject('srtp-key-expired');
    const keys = this.rtpKeysFor(index);
    const plen = end - hl;
    if (keys.ghash === null) {
      const d = keys.hmac!.mac(packet, 0, end, Math.floor(index / SEQ_MOD), 4);
      if (tagDiffers(d, tagLen, packet, end + mkiLen)) return this.reject('srtp-auth');
    } else {
      // E(K, J0) from the stream's keystream when it is there, else one block
      // alone: a forged packet must not displace the batch.
      let ks: Buffer, ko: number;
      if (st !== null && this.batchHas(st, keys, index, 1 + ((plen + 15) >>> 4))) {
        ks = st.ks!; ko = (index - st.ksFirst) * st.ksBlocks * AES_BLOCK;
      } else {
        ks = this.counterKeystream(keys, ssrc, index, 1, 1, true); ko = 0;
      }
      if (this.gcmTag(keys.ghash, packet, 0, hl, packet, hl, plen, ks, ko, packet, end, true)) return this.reject('srtp-auth');
    }
    if (st !== null) {
      const verdict = st.window.check(index);
      if (verdict !== 'new') return this.reject(verdict === 'old' ? 'srtp-old' : 'srtp-replay');
    } else {
      if (this.rxRtp.size >= MAX_STREAMS_PER_SESSION) return this.reject('srtp-stream-limit');
      st = new RtpStream(ssrc, this.windowSize);
      this.rxRtp.set(ssrc, st);
    }
    // Authentic and fresh: commit, then decrypt.
    this.lastRx = st;
    st.window.commit(index);
    this.used++;
    this.counts.rtpUnprotected++;
    if (keys.ghash === null) {
      this.rtpKeystream(st, keys, index, (plen + 15) >>> 4);
      xorInto(packet, hl, plen, this.ksBuf, this.ksOff);
    } else {
      this.rtpKeystream(st, keys, index, 1 + ((plen + 15) >>> 4));
      xorInto(packet, hl, plen, this.ksBuf, this.ksOff + AES_BLOCK);
    }
    return packet.subarray(0, end);
  }

  // --------------------------------------------------------------- SRTCP

  /*
   * RFC 3711 3.4 (CM) and RFC 7714 9 (GCM): the protected compound packet.
   *
   *   | V P RC PT length | SSRC (clear) | rest of the compound packet (encrypted when E) |
   *   | CM:  E | SRTCP index (31) | MKI (opt) | auth tag (10)                           |
   *   | GCM: GCM tag (16) | E | SRTCP index (31) | MKI (opt)                            |
   */
  protectRtcp(packet: Buffer, out?: Buffer): Buffer | SrtpReject {
    const len = packet.length;
    if (len > MAX_SRTP_PACKET) return this.reject('srtp-too-big');
    if (len < RTCP_HEADER) return this.reject('srtp-short');
    if (packet[0]! >> 6 !== 2) return this.reject('srtp-header');
    const ssrc = rd32(packet, 4) >>> 0;
    let st = this.txRtcp.get(ssrc);
    if (st === undefined) {
      if (this.txRtcp.size >= MAX_STREAMS_PER_SESSION) return this.reject('srtp-stream-limit');
      st = new RtcpStream(ssrc, this.windowSize);
      this.txRtcp.set(ssrc, st);
    }
    const index = st.next;
    if (index > SRTCP_MAX_INDEX || this.used >= this.lifetime) return this.reject('srtp-key-expired');
    const keys = this.rtcpKeysFor(index);
    const mkiLen = this.mki.length;
    const tagLen = this.rtcpTag;
    const total = len + 4 + mkiLen + tagLen;
    const o = out ?? this.outBuf;
    if (o.length < total) return this.reject('srtp-no-room');
    if (o !== packet) packet.copy(o, 0, 0, len);
    const enc = this.encryptRtcp;
    const word = ((enc ? E_FLAG : 0) | index) >>> 0;
    const plen = len - RTCP_HEADER;
    if (keys.ghash === null) {
      if (enc) {
        const ks = this.counterKeystream(keys, ssrc, index, (plen + 15) >>> 4, 0, false);
        xorInto(o, RTCP_HEADER, plen, ks, 0);
      }
      wr32(o, len, word);
      if (mkiLen) this.mki.copy(o, len + 4);
      const d = keys.hmac!.mac(o, 0, len + 4, 0, 0);
      writeTag(d, tagLen, o, len + 4 + mkiLen);
    } else {
      const ks = this.counterKeystream(keys, ssrc, index, enc ? 1 + ((plen + 15) >>> 4) : 1, 1, true);
      const aadLen = this.rtcpAad(o, len, word, enc);
      if (enc) {
        xorInto(o, RTCP_HEADER, plen, ks, AES_BLOCK);
        this.gcmTag(keys.ghash, AAD, 0, aadLen, o, RTCP_HEADER, plen, ks, 0, o, len);
      } else {
        this.gcmTag(keys.ghash, AAD, 0, aadLen, o, 0, 0, ks, 0, o, len);
      }
      wr32(o, len + GCM_TAG, word);
      if (mkiLen) this.mki.copy(o, len + GCM_TAG + 4);
    }
    st.next = index + 1;
    this.used++;
    this.counts.rtcpProtected++;
    return this.view(o, total);
  }

  unprotectRtcp(packet: Buffer): Buffer | SrtpReject {
    const len = packet.length;
    const mkiLen = this.mki.length;
    const tagLen = this.rtcpTag;
    if (len > MAX_SRTP_PACKET + 4 + mkiLen + tagLen) return this.reject('srtp-too-big');
    if (len < RTCP_HEADER + 4 + mkiLen + tagLen) return this.reject('srtp-short');
    if (packet[0]! >> 6 !== 2) return this.reject('srtp-header');
    const gcm = this.suite.aead;
    // CM: ... | E+index | MKI | tag.  GCM: ... | tag | E+index | MKI.
    const wordAt = gcm ? len - mkiLen - 4 : len - tagLen - mkiLen - 4;
    const end = gcm ? wordAt - GCM_TAG : wordAt;
    if (mkiLen && this.mki.compare(packet, wordAt + 4, wordAt + 4 + mkiLen) !== 0) return this.reject('srtp-mki');
    const word = rd32(packet, wordAt) >>> 0;
    const enc = word >= E_FLAG;
    const index = word & SRTCP_MAX_INDEX;
    const ssrc = rd32(packet, 4) >>> 0;
    if (this.used >= this.lifetime) return this.reject('srtp-key-expired');
    const keys = this.rtcpKeysFor(index);
    const plen = end - RTCP_HEADER;
    let ks: Buffer | null = null;
    if (keys.ghash === null) {
      const d = keys.hmac!.mac(packet, 0, wordAt + 4, 0, 0);
      if (tagDiffers(d, tagLen, packet, wordAt + 4 + mkiLen)) return this.reject('srtp-auth');
    } else {
      ks = this.counterKeystream(keys, ssrc, index, enc ? 1 + ((plen + 15) >>> 4) : 1, 1, true);
      const aadLen = this.rtcpAad(packet, end, word, enc);
      const bad = enc
        ? this.gcmTag(keys.ghash, AAD, 0, aadLen, packet, RTCP_HEADER, plen, ks, 0, packet, end, true)
        : this.gcmTag(keys.ghash, AAD, 0, aadLen, packet, 0, 0, ks, 0, packet, end, true);
      if (bad) return this.reject('srtp-auth');
    }
    let st = this.rxRtcp.get(ssrc);
    if (st !== undefined) {
      const verdict = st.window.check(index);
      if (verdict !== 'new') return this.reject(verdict === 'old' ? 'srtp-old' : 'srtp-replay');
    } else {
      if (this.rxRtcp.size >= MAX_STREAMS_PER_SESSION) return this.reject('srtp-stream-limit');
      st = new RtcpStream(ssrc, this.windowSize);
      this.rxRtcp.set(ssrc, st);
    }
    st.window.commit(index);
    this.used++;
    this.counts.rtcpUnprotected++;
    if (enc) {
      if (ks === null) {
        ks = this.counterKeystream(keys, ssrc, index, (plen + 15) >>> 4, 0, false);
        xorInto(packet, RTCP_HEADER, plen, ks, 0);
      } else {
        xorInto(packet, RTCP_HEADER, plen, ks, AES_BLOCK);
      }
    }
    return packet.subarray(0, end);
  }

  // ------------------------------------------------------------ internals

  private reject(r: SrtpReject): SrtpReject {
    this.rejected[r]++;
    return r;
  }

  /** A view of the session's output buffer, reused while the length stays the same. */
  private view(o: Buffer, n: number): Buffer {
    if (o !== this.outBuf) return o.subarray(0, n);
    if (this.outView.length !== n) this.outView = o.subarray(0, n);
    return this.outView;
  }

  private derive(rtcp: boolean, r: number): KeySet {
    const s = this.suite;
    const mk = this.masterKey, ms = this.masterSalt;
    const encKey = deriveSessionKey(mk, ms, rtcp ? LABEL_RTCP_ENCRYPTION : LABEL_RTP_ENCRYPTION, r, s.keyLength);
    const salt = deriveSessionKey(mk, ms, rtcp ? LABEL_RTCP_SALT : LABEL_RTP_SALT, r, s.saltLength);
    const auth = s.aead ? undefined : deriveSessionKey(mk, ms, rtcp ? LABEL_RTCP_AUTH : LABEL_RTP_AUTH, r, s.authKeyLength);
    const keys = this.keySet(r, encKey, salt, auth);
    encKey.fill(0);
    auth?.fill(0);
    return keys;
  }

  private keySet(r: number, encKey: Uint8Array, salt: Uint8Array, authKey: Uint8Array | undefined): KeySet {
    const s = this.suite;
    if (encKey.length !== s.keyLength || salt.length !== s.saltLength || (!s.aead && authKey?.length !== s.authKeyLength)) {
      throw new PbxError('config', `${s.name}: session key, salt or auth key of the wrong length`);
    }
    const ecb = new AesEcb(encKey);
    const hmac = s.aead ? null : new HmacSha1(authKey!);
    const ghash = s.aead ? new Ghash(ecb.encrypt(Buffer.alloc(AES_BLOCK))) : null;
    const padded = Buffer.alloc(AES_BLOCK);
    padded.set(salt);
    return { r, ecb, s0: rd32(padded, 0), s1: rd32(padded, 4), s2: rd32(padded, 8), s3: rd32(padded, 12), hmac, ghash };
  }

  /** RFC 3711 4.3.1: r = index DIV kdr; with kdr 0 the keys never change. */
  private rtpKeysFor(index: number): KeySet {
    if (this.kdr === 0) return this.rtpKeys;
    const r = Math.floor(index / this.kdr);
    if (this.rtpKeys.r !== r) this.rtpKeys = this.derive(false, r);
    return this.rtpKeys;
  }

  /** RFC 3711 4.3.2: SRTCP keys come from their own labels, r from the SRTCP index. */
  private rtcpKeysFor(index: number): KeySet {
    const r = this.kdr === 0 ? 0 : Math.floor(index / this.kdr);
    if (this.rtcpKeys === null || this.rtcpKeys.r !== r) this.rtcpKeys = this.derive(true, r);
    return this.rtcpKeys;
  }

  private batchHas(st: RtpStream, keys: KeySet, index: number, blocks: number): boolean {
    return st.ks !== null && st.ksKeys === keys && index >= st.ksFirst && index < st.ksFirst + st.ksCount && blocks <= st.ksBlocks;
  }

  /**
   * Keystream for one RTP packet, left in ksBuf/ksOff. Packets of a stream
   * mostly come in order, so on a miss we generate the next several packets'
   * keystream in one AES call; a late packet gets its own without disturbing
   * the batch.
   */
  private rtpKeystream(st: RtpStream, keys: KeySet, index: number, blocks: number): void {
    if (this.batchHas(st, keys, index, blocks)) {
      this.ksBuf = st.ks!;
      this.ksOff = (index - st.ksFirst) * st.ksBlocks * AES_BLOCK;
      return;
    }
    const gcm = keys.ghash !== null;
    if (st.ks !== null && st.ksKeys === keys && index < st.ksFirst && blocks <= st.ksBlocks) {
      this.ksBuf = this.counterKeystream(keys, st.ssrc, index, blocks, gcm ? 1 : 0, gcm);
      this.ksOff = 0;
      return;
    }
    const bytes = blocks * AES_BLOCK;
    let count = Math.max(1, Math.min(KEYSTREAM_BATCH_PACKETS, Math.floor(KEYSTREAM_BATCH_BYTES / bytes)));
    // Never let a batch cross a key-derivation epoch.
    if (this.kdr !== 0) count = Math.min(count, this.kdr - (index % this.kdr));
    count = Math.min(count, SRTP_MAX_PACKETS - index);
    st.ks = this.counterKeystream(keys, st.ssrc, index, blocks, gcm ? 1 : 0, gcm, count);
    st.ksKeys = keys;
    st.ksFirst = index;
    st.ksCount = count;
    st.ksBlocks = blocks;
    this.ksBuf = st.ks;
    this.ksOff = 0;
  }

  /**
   * AES keystream for `count` consecutive indexes from `index`, `blocks`
   * blocks each, counters from `first`. CM (RFC 3711 4.1.1): IV = salt·2^16
   * XOR SSRC·2^64 XOR index·2^16, block number in the low 16 bits. GCM (RFC
   * 7714 8.1, 9.1): IV = salt XOR (0^16 || SSRC || 48-bit index), then a 32-bit
   * block counter (1 for the tag mask J0, 2.. for data).
   */
  private counterKeystream(
    keys: KeySet, ssrc: number, index: number, blocks: number, first: number, gcm: boolean, count = 1,
  ): Buffer {
    const dv = CTR_VIEW;
    let o = 0;
    for (let p = 0; p < count; p++) {
      const idx = index + p;
      let w0: number, w1: number, w2: number, w3: number;
      if (gcm) {
        const hi16 = Math.floor(idx / 0x100000000);
        w0 = keys.s0 ^ (ssrc >>> 16);
        w1 = keys.s1 ^ (((ssrc & 0xffff) << 16) | hi16);
        w2 = keys.s2 ^ (idx % 0x100000000);
        w3 = 0;
      } else {
        w0 = keys.s0;
        w1 = keys.s1 ^ ssrc;
        w2 = keys.s2 ^ Math.floor(idx / SEQ_MOD);
        w3 = keys.s3 ^ ((idx % SEQ_MOD) << 16);
      }
      for (let j = 0; j < blocks; j++, o += AES_BLOCK) {
        dv.setInt32(o, w0);
        dv.setInt32(o + 4, w1);
        dv.setInt32(o + 8, w2);
        dv.setInt32(o + 12, gcm ? first + j : w3 | (first + j));
      }
    }
    return keys.ecb.encrypt(CTR_IN.subarray(0, o));
  }

  /** GCM SRTCP associated data into AAD (RFC 7714 9.2, 9.3); returns its length. */
  private rtcpAad(b: Buffer, end: number, word: number, enc: boolean): number {
    const n = enc ? RTCP_HEADER : end;
    b.copy(AAD, 0, 0, n);
    wr32(AAD, n, word);
    return n + 4;
  }

  /**
   * GCM tag (SP 800-38D 7.1): GHASH(aad, ct, lengths) XOR E(K, J0), with
   * E(K, J0) at ks[ko]. Writes it at dst[at] or, when `verify`, compares it there
   * without an early exit and returns whether it differs.
   */
  private gcmTag(
    g: Ghash, aad: Uint8Array, aadOff: number, aadLen: number, ct: Uint8Array, ctOff: number, ctLen: number,
    ks: Uint8Array, ko: number, dst: Uint8Array, at: number, verify = false,
  ): boolean {
    g.reset();
    g.update(aad, aadOff, aadLen);
    if (ctLen) g.update(ct, ctOff, ctLen);
    g.lengths(aadLen, ctLen);
    const t0 = g.w0 ^ rd32(ks, ko), t1 = g.w1 ^ rd32(ks, ko + 4), t2 = g.w2 ^ rd32(ks, ko + 8), t3 = g.w3 ^ rd32(ks, ko + 12);
    if (verify) {
      const diff = (t0 ^ rd32(dst, at)) | (t1 ^ rd32(dst, at + 4)) | (t2 ^ rd32(dst, at + 8)) | (t3 ^ rd32(dst, at + 12));
      return diff !== 0;
    }
    wr32(dst, at, t0); wr32(dst, at + 4, t1); wr32(dst, at + 8, t2); wr32(dst, at + 12, t3);
    return false;
  }
}

/** The packet-transform shape the media engine's legs take (structurally its LegTransform). */
export interface SrtpTransform {
  unprotect(kind: 'rtp' | 'rtcp', packet: Buffer): Buffer | SrtpReject;
  protect(kind: 'rtp' | 'rtcp', packet: Buffer): Buffer | SrtpReject;
}

/** A leg's transform: `inbound` holds the phone's key, `outbound` ours. */
export function srtpTransform(inbound: SrtpSession, outbound: SrtpSession): SrtpTransform {
  return {
    unprotect: (kind, packet) => (kind === 'rtp' ? inbound.unprotectRtp(packet) : inbound.unprotectRtcp(packet)),
    protect: (kind, packet) => (kind === 'rtp' ? outbound.protectRtp(packet) : outbound.protectRtcp(packet)),
  };
}
