/**
 * One recording being written: the TapSink the media engine feeds.
 *
 * packet() never touches the disk. It decodes and aligns (decoded) or copies
 * the packet (capture) into the plaintext chunk being filled; a full chunk
 * (or one a second old) joins a bounded queue that one asynchronous writer
 * seals and appends, in order. When the queue is full the chunk is dropped
 * and counted: the call's packet path never waits for the disk. The writer
 * checks the disk budget before every chunk and stops the recording cleanly
 * (an end marker saying it was cut) when the disk runs low or the recording
 * reaches its size limit.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type Clock, Counters, fsyncDir } from '../core/index.js';
import { AlignedDecoder, FRAMES_PER_MS, type AlignedSink } from './aligner.js';
import { MAX_UDP_PAYLOAD, capturePort } from './pcap.js';
import {
  ChunkBuilder, encodeJson, encodeWave, pcmBodyLength, writePacketBody, writePcmBody,
  PACKET_HEAD_LEN, REC_END, REC_META, REC_PACKET, REC_PCM, type EndRecord, type MetaRecord,
} from './records.js';
import { FLAG_FINAL, HEADER_LEN, sealChunk, type SealedHeader } from './sealed.js';
import type { RecordingInfo, TapSink } from './types.js';
import { WaveformBuilder } from './waveform.js';

export const CAPTURE_NOTE = 'encrypted capture: the box does not hold the keys of this call and cannot decrypt it; the export is a pcap of the SRTP packets as they came';

/** A chunk is sealed once its plaintext reaches this size ... */
export const CHUNK_TARGET_BYTES = 32 * 1024;
/** ... or once it has been open this long (by packet arrival), so a crash loses little. */
export const CHUNK_MAX_MS = 1000;
/** Room for the largest single record (a capture packet) on top of the target. */
const CHUNK_CAPACITY = CHUNK_TARGET_BYTES + 80 * 1024;
/** Chunks waiting for the writer; beyond this a chunk is dropped and counted. */
export const MAX_QUEUED_CHUNKS = 32;
/** The file is synced to the disk every this many chunks, and at the end. */
export const SYNC_EVERY_CHUNKS = 8;
/** Room kept for the end marker when checking the size limit. */
const END_RESERVE_BYTES = 2 * 1024 * 1024;

/** What the store gives a recording. */
export interface RecorderContext {
  readonly id: string;
  readonly path: string;
  readonly header: SealedHeader;
  readonly key: Buffer;
  readonly meta: MetaRecord;
  readonly clock: Clock;
  /** Free bytes on the recording disk now. */
  readonly freeBytes: () => number;
  readonly stopFreeBytes: number;
  readonly maxRecordingBytes: number;
  /** The store's counters (recording.* names). */
  readonly counters: Counters;
  /** Called once with the final info when the recording has ended (finished, cut or failed). */
  readonly onEnd: (info: RecordingInfo, end: EndRecord | undefined) => void;
}

type Phase = 'recording' | 'stopping' | 'done';

export class ActiveRecording implements TapSink {
  readonly id: string;
  readonly counts = new Counters();
  private phase: Phase = 'recording';
  private readonly legIndex: Map<string, number>;
  private readonly builder = new ChunkBuilder(CHUNK_CAPACITY);
  private chunkOpenedAt = -1;
  private readonly aligner: AlignedDecoder | undefined;
  private readonly wave: WaveformBuilder | undefined;
  private lastArrival: number;
  private queued = 0;
  private tail: Promise<void> = Promise.resolve();
  private fh: FileHandle | undefined;
  private nextIndex = 0;
  private written = 0;
  private sinceSync = 0;
  private stopped = false;
  private failed: string | undefined;
  private readonly notes: string[] = [];
  private cut = false;
  private finishing: Promise<RecordingInfo> | undefined;

  constructor(private readonly ctx: RecorderContext) {
    this.id = ctx.id;
    this.legIndex = new Map(ctx.meta.legs.map((l, i) => [l.id, i]));
    this.lastArrival = ctx.meta.start;
    if (ctx.meta.kind === 'decoded') {
      const wave = new WaveformBuilder(ctx.meta.legs.length);
      this.wave = wave;
      const channels = ctx.meta.legs.length;
      const sink: AlignedSink = {
        block: (startFrame, frames, interleaved) => {
          wave.add(startFrame, frames, interleaved);
          const n = pcmBodyLength(frames, channels);
          if (!this.builder.fits(n)) this.flush();
          writePcmBody(this.builder.reserve(REC_PCM, n), startFrame, frames, channels, interleaved);
          if (this.builder.length >= CHUNK_TARGET_BYTES) this.flush();
        },
        silence: () => undefined,
      };
      this.aligner = new AlignedDecoder(ctx.meta.start, channels, ctx.meta.payloadTypes, sink, this.counts);
    } else {
      this.notes.push(CAPTURE_NOTE);
    }
    // Chunk 0, the metadata, goes first; the file is created by the writer.
    this.tail = this.tail.then(() => this.create());
  }

  get state(): Phase {
    return this.phase;
  }

  /** Bytes written to the file so far. */
  get size(): number {
    return this.written;
  }

  packet(leg: string, rtp: Uint8Array, arrivedAt: number, opaque: boolean): void {
    if (this.phase !== 'recording') { this.counts.inc('after-end'); return; }
    const idx = this.legIndex.get(leg);
    if (idx === undefined) { this.counts.inc('unknown-leg'); return; }
    if (arrivedAt > this.lastArrival) this.lastArrival = arrivedAt;
    if (this.chunkOpenedAt < 0) this.chunkOpenedAt = arrivedAt;
    if (this.aligner) {
      if (opaque) { this.counts.inc('opaque'); return; }
      this.aligner.push(idx, rtp, arrivedAt);
    } else {
      if (rtp.length > MAX_UDP_PAYLOAD) { this.counts.inc('too-long'); return; }
      const n = PACKET_HEAD_LEN + rtp.length;
      if (!this.builder.fits(n)) this.flush();
      writePacketBody(this.builder.reserve(REC_PACKET, n), arrivedAt, idx, rtp);
      this.counts.inc('packets');
      if (this.builder.length >= CHUNK_TARGET_BYTES) this.flush();
    }
    if (this.builder.length > 0 && arrivedAt - this.chunkOpenedAt >= CHUNK_MAX_MS) this.flush();
  }

  /** Resolves when every chunk handed to the writer so far is written (tests, the bench, a clean shutdown). */
  whenWritten(): Promise<void> {
    return this.tail;
  }

  /** TapSink: the engine is done with this tap. Same as finish(), without waiting. */
  close(): void {
    this.finish().catch(() => this.ctx.counters.inc('recording.finish-error'));
  }

  /** End the recording: release what is pending, write the end marker, close the file. Idempotent. */
  finish(): Promise<RecordingInfo> {
    if (!this.finishing) this.finishing = this.end();
    return this.finishing;
  }

  private async end(): Promise<RecordingInfo> {
    this.phase = 'stopping';
    const frames = this.aligner?.finish() ?? 0;
    this.flush();
    const done = this.tail.then(() => this.writeEnd(frames));
    this.tail = done.then(() => undefined);
    const endRec = await done;
    this.phase = 'done';
    const info = this.info(endRec);
    this.ctx.onEnd(info, endRec);
    return info;
  }

  /** What list() shows while recording, or after the end. */
  info(end?: EndRecord): RecordingInfo {
    const m = this.ctx.meta;
    const now = end?.end ?? this.ctx.clock.now();
    const durationMs = end?.durationMs ?? (this.aligner ? this.aligner.released / FRAMES_PER_MS : Math.max(0, this.lastArrival - m.start));
    return {
      id: this.id, kind: m.kind, start: m.start, end: now, durationMs, parties: m.parties, legs: m.legs,
      state: end ? (this.failed ? 'incomplete' : end.state) : this.phase === 'done' ? 'incomplete' : 'recording',
      cut: this.cut, notes: [...(end?.notes ?? this.notes)], size: this.written,
      ...(m.kind === 'encrypted-capture' ? { capturePorts: Object.fromEntries(m.legs.map((l, i) => [l.id, capturePort(i)])) } : {}),
      counts: this.counts.snapshot(),
    };
  }

  /** Hand the chunk being filled to the writer, or drop it when the writer is too far behind. */
  private flush(): void {
    this.chunkOpenedAt = -1;
    if (this.builder.length === 0) return;
    const chunk = this.builder.take();
    if (this.stopped) { this.counts.inc('dropped-after-stop'); return; }
    if (this.queued >= MAX_QUEUED_CHUNKS) {
      this.counts.inc('dropped-chunks');
      this.ctx.counters.inc('recording.dropped-chunks');
      return;
    }
    this.queued++;
    this.tail = this.tail.then(() => this.writeData(chunk)).finally(() => { this.queued--; });
  }

  private async create(): Promise<void> {
    try {
      this.fh = await open(this.ctx.path, 'wx', 0o600);
      const meta = sealChunk(this.ctx.key, this.ctx.header, 0, 0, encodeJson(REC_META, this.ctx.meta));
      await this.writeAll(Buffer.concat([this.ctx.header.bytes, meta]));
      this.nextIndex = 1;
      await this.fh.datasync();
      await fsyncDir(dirname(this.ctx.path));
    } catch (e) {
      this.fail(e);
    }
  }

  private async writeData(plain: Buffer): Promise<void> {
    if (this.stopped || !this.fh) return;
    const frame = sealChunk(this.ctx.key, this.ctx.header, this.nextIndex, 0, plain);
    const reason = this.overBudget(frame.length);
    if (reason) {
      this.stop(reason);
      return;
    }
    try {
      await this.writeAll(frame);
      this.nextIndex++;
      if (++this.sinceSync >= SYNC_EVERY_CHUNKS) { this.sinceSync = 0; await this.fh.datasync(); }
    } catch (e) {
      this.fail(e);
    }
  }

  private overBudget(frameBytes: number): string | undefined {
    if (this.written + frameBytes + END_RESERVE_BYTES > this.ctx.maxRecordingBytes) {
      return `stopped at the size limit of one recording (${Math.round(this.ctx.maxRecordingBytes / 1e6)} MB)`;
    }
    let free: number;
    try {
      free = this.ctx.freeBytes();
    } catch {
      return undefined; // the disk cannot say: keep recording; a failing write still stops it
    }
    if (free - frameBytes < this.ctx.stopFreeBytes) {
      return `stopped because the recording disk is nearly full (${Math.round(free / 1e6)} MB free, ${Math.round(this.ctx.stopFreeBytes / 1e6)} MB are kept free)`;
    }
    return undefined;
  }

  /** The disk guard cut in: stop taking packets and end cleanly (the end marker says why). */
  private stop(reason: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.cut = true;
    this.notes.push(reason);
    this.counts.inc('cut');
    this.ctx.counters.inc('recording.cut');
    this.phase = this.phase === 'recording' ? 'stopping' : this.phase;
    void this.finish().catch(() => this.ctx.counters.inc('recording.finish-error'));
  }

  /** A write failed: nothing more is written to this file (its tail may be torn; recovery on open repairs it). */
  private fail(e: unknown): void {
    const code = e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : 'error';
    if (!this.failed) {
      this.failed = code;
      this.notes.push(`writing the recording failed (${code}); it ends at the last chunk written`);
      this.ctx.counters.inc('recording.write-error');
    }
    this.stopped = true;
    this.cut = true;
  }

  private async writeAll(buf: Buffer): Promise<void> {
    const fh = this.fh!;
    let off = 0;
    while (off < buf.length) {
      const { bytesWritten } = await fh.write(buf, off, buf.length - off);
      if (bytesWritten <= 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
      off += bytesWritten;
      this.written += bytesWritten;
    }
  }

  private async writeEnd(frames: number): Promise<EndRecord> {
    const m = this.ctx.meta;
    const end = this.ctx.clock.now();
    const durationMs = this.aligner ? frames / FRAMES_PER_MS : Math.max(0, this.lastArrival - m.start);
    const rec: EndRecord = {
      state: 'complete', end, durationMs, frames, cut: this.cut, notes: [...this.notes], counts: this.counts.snapshot(),
    };
    if (this.fh && !this.failed) {
      try {
        const parts = [encodeJson(REC_END, rec)];
        if (this.wave) parts.push(encodeWave(this.wave.build(frames)));
        await this.writeAll(sealChunk(this.ctx.key, this.ctx.header, this.nextIndex, FLAG_FINAL, Buffer.concat(parts)));
        this.nextIndex++;
        await this.fh.datasync();
      } catch (e) {
        this.fail(e);
      }
    }
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
    if (this.written < HEADER_LEN) this.written = 0;
    return this.failed ? { ...rec, state: 'incomplete', notes: [...this.notes] } : rec;
  }
}

