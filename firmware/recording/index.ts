/**
 * Call recording: the recorders the media engine feeds (a TapSink per
 * recording) and the encrypted store they write to.
 */
export type { TapSink, RecordingKind, RecordedLeg, RecordingMeta, RecordingState, RecordingInfo, Waveform } from './types.js';
export {
  RecordingStore, KEY_FILE, RECORDING_SUFFIX, DEFAULT_MIN_FREE_BYTES, DEFAULT_MAX_RECORDING_BYTES, DEFAULT_MAX_ACTIVE,
  type RecordingStoreOptions, type StartOptions, type RecordingDownload, type PruneOptions,
} from './store.js';
export { ActiveRecording, CAPTURE_NOTE, CHUNK_TARGET_BYTES, CHUNK_MAX_MS, MAX_QUEUED_CHUNKS } from './recorder.js';
export {
  AlignedDecoder, payloadKind, SAMPLE_RATE, BLOCK_FRAMES, BLOCK_MS, JITTER_WINDOW_MS, MAX_AHEAD_MS, MAX_BEHIND_MS,
  type AlignedSink, type PayloadKind,
} from './aligner.js';
export {
  parseHeader, serializeHeader, sealChunk, openChunk, fileKey, walkFrames, readFrame, bufferSource,
  SEALED_MAGIC, SEALED_VERSION, HEADER_LEN, FRAME_HEAD_LEN, TAG_LEN, FLAG_FINAL, FLAG_RECOVERED, MAX_CHUNK_PLAINTEXT,
  type SealedHeader, type ByteSource, type FrameRef, type Framing, type FramingEnd,
} from './sealed.js';
export { parseRecords, REC_META, REC_PCM, REC_PACKET, REC_END, REC_WAVE, MAX_LEGS } from './records.js';
export { pcapGlobalHeader, pcapRecord, capturePort, CAPTURE_BASE_PORT, LINKTYPE_RAW } from './pcap.js';
export { benchRecording, type RecordingBench } from './bench.js';
export {
  MailboxStore, DEFAULT_MAX_MESSAGE_SEC, DEFAULT_MAX_MESSAGES, DEFAULT_MAX_AGE_DAYS, MIN_MESSAGE_MS,
  type MailboxStoreOptions, type MessageInfo,
} from './mailboxes.js';
export { Housekeeping, HOUSEKEEPING_EVERY_MS, HOUSEKEEPING_FIRST_MS, type HousekeepingDeps, type RetentionSettings } from './housekeeping.js';
