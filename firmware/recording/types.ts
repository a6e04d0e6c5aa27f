/**
 * The shapes the recorder and the recording store speak: plain readonly data.
 */

/**
 * What the media engine hands a recorder: every RTP packet received from each
 * recorded leg. `rtp` is the decrypted packet when the box holds the leg's
 * keys (opaque = false), or the SRTP packet as it came (opaque = true). The
 * buffer is the engine's and may be reused once the call returns. Declared
 * here structurally so the recorder does not depend on the engine's insides.
 */
export interface TapSink {
  packet(leg: string, rtp: Uint8Array, arrivedAt: number, opaque: boolean): void;
  close(): void;
}

/** 'decoded': G.711 decoded to a WAV, one channel per leg; 'encrypted-capture': the packets kept as they came (a pcap). */
export type RecordingKind = 'decoded' | 'encrypted-capture';

export interface RecordedLeg {
  /** The leg name the engine uses in TapSink.packet. */
  readonly id: string;
  /** How the leg is protected, in words for the page (e.g. 'SDES AES_CM_128_HMAC_SHA1_80', 'relayed SRTP, keys not held'). */
  readonly protection: string;
}

/** What the caller says about a recording when it starts it. */
export interface RecordingMeta {
  readonly kind: RecordingKind;
  /** The people on the call, as the page shows them. */
  readonly parties: readonly string[];
  /** The recorded legs, in channel order (a WAV channel or a pcap UDP port each). At most MAX_LEGS. */
  readonly legs: readonly RecordedLeg[];
  /** Dynamic payload types of the call: number -> encoding name ('PCMU', 'PCMA', 'telephone-event', 'CN', ...). */
  readonly payloadTypes?: Readonly<Record<number, string>>;
  /** A free note kept with the recording (e.g. the call id). */
  readonly note?: string;
}

/**
 * 'recording': being written now. 'complete': finished and its end marker is
 * on disk. 'incomplete': the writer stopped without an end marker (a crash or
 * a truncated file); what was written up to the last whole chunk is
 * exportable. 'damaged': a chunk fails authentication, is out of order or the
 * file's framing is broken: tampering or corruption.
 */
export type RecordingState = 'recording' | 'complete' | 'incomplete' | 'damaged';

export interface RecordingInfo {
  readonly id: string;
  readonly kind: RecordingKind;
  /** Milliseconds since the epoch. */
  readonly start: number;
  readonly end: number;
  readonly durationMs: number;
  readonly parties: readonly string[];
  readonly legs: readonly RecordedLeg[];
  readonly state: RecordingState;
  /** Stopped early by the disk guard or a write error (the recording is whole up to that point). */
  readonly cut: boolean;
  /** Plain-language notes: why it was cut, that the box cannot decrypt a capture, a recovery. */
  readonly notes: readonly string[];
  /** Bytes on disk. */
  readonly size: number;
  /** The UDP port of each leg in the exported pcap (encrypted captures). */
  readonly capturePorts?: Readonly<Record<string, number>>;
  /** What the recorder dropped or ignored, by reason. */
  readonly counts: Readonly<Record<string, number>>;
}

/** A picture of the audio: min and max per step per channel, as the top 8 bits of the 16-bit samples. */
export interface Waveform {
  readonly stepMs: number;
  readonly channels: number;
  readonly min: readonly Int8Array[];
  readonly max: readonly Int8Array[];
}
