/**
 * The recording store: a folder (mode 0700) of sealed recordings (`<id>.rec`,
 * mode 0600) and the key that seals them (`.key`, 32 random bytes, mode
 * 0600, created once). On open it lists every file by reading only its
 * first chunk (the metadata) and its end marker; a file without an end
 * marker (the box stopped mid-recording) is recovered there and then: a torn
 * last chunk is cut off, and an end marker saying 'incomplete' is appended,
 * so what was written up to the last whole chunk stays exportable. Export
 * streams chunk by chunk: a WAV for a decoded recording, a pcap for an
 * encrypted capture; a chunk that fails its tag stops the export with a
 * 'parse' error.
 *
 * The disk guard: start() refuses (PbxError 'limit') when the disk has less
 * than minFreeBytes free; a recording running stops cleanly (listed complete,
 * cut, with a note) when the disk falls below stopFreeBytes or the recording
 * reaches maxRecordingBytes.
 */
import { constants, createWriteStream, statfsSync } from 'node:fs';
import { chmod, link, mkdir, open, readdir, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Clock, Counters, PbxError, type Random, cryptoRandom, fsyncDir, systemClock } from '../core/index.js';
import { wavHeader } from '../media/index.js';
import { FRAMES_PER_MS, SAMPLE_RATE } from './aligner.js';
import { capturePort, pcapGlobalHeader, pcapRecord } from './pcap.js';
import { ActiveRecording, CAPTURE_NOTE } from './recorder.js';
import {
  encodeJson, encodeWave, parseEnd, parseMeta, parsePacket, parseRecords, parseWave,
  MAX_LEGS, PCM_HEAD_LEN, REC_END, REC_META, REC_PACKET, REC_PCM, REC_WAVE,
  type EndRecord, type MetaRecord, type WaveRecord,
} from './records.js';
import {
  FILE_ID_LEN, FLAG_FINAL, FLAG_RECOVERED, STORE_KEY_LEN, fileKey, readFrame, sealChunk, serializeHeader, parseHeader, walkFrames,
  type ByteSource, type FrameRef, type Framing, type SealedHeader,
} from './sealed.js';
import type { RecordingInfo, RecordingMeta, RecordingState, Waveform } from './types.js';
import { WaveformBuilder, toWaveform } from './waveform.js';

export const KEY_FILE = '.key';
export const RECORDING_SUFFIX = '.rec';
export const DEFAULT_MIN_FREE_BYTES = 256 * 1024 * 1024;
export const DEFAULT_MAX_RECORDING_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_MAX_ACTIVE = 32;
const ID_PATTERN = /^[0-9a-f]{32}$/;
const DAY_MS = 86_400_000;

export interface RecordingStoreOptions {
  /** The store folder (created 0700). */
  readonly dir: string;
  readonly clock?: Clock;
  readonly random?: Random;
  /** Free bytes on the disk holding `dir`; defaults to statfs. */
  readonly freeBytes?: (dir: string) => number;
  /** start() refuses below this (default 256 MB). */
  readonly minFreeBytes?: number;
  /** A running recording stops cleanly below this (default half of minFreeBytes). */
  readonly stopFreeBytes?: number;
  /** A single recording stops cleanly at this size (default 1 GiB). */
  readonly maxRecordingBytes?: number;
  /** Recordings at once (default 32). */
  readonly maxActive?: number;
  /** recording.* counters for the status page. */
  readonly counters?: Counters;
}

export interface StartOptions {
  /** Called when the recording has ended by itself (cut by the disk guard, a write error) or by finish(). */
  readonly onEnd?: (info: RecordingInfo) => void;
}

export interface RecordingDownload {
  readonly info: RecordingInfo;
  readonly contentType: 'audio/wav' | 'application/vnd.tcpdump.pcap';
  readonly fileName: string;
  readonly stream: Readable;
}

export interface PruneOptions {
  /** Delete recordings that started more than this many days ago. */
  readonly maxAgeDays?: number;
  /** Then delete the oldest until the store holds at most this many bytes. */
  readonly maxBytes?: number;
}

interface Entry {
  readonly id: string;
  readonly path: string;
  readonly meta: MetaRecord;
  readonly end: EndRecord | undefined;
  readonly state: Exclude<RecordingState, 'recording'>;
  readonly size: number;
  readonly damage?: string;
}

function statfsFree(dir: string): number {
  const s = statfsSync(dir);
  return Number(s.bavail) * Number(s.bsize);
}

function errno(e: unknown): string | undefined {
  return e instanceof Error && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

function handleSource(fh: FileHandle, size: number): ByteSource {
  return {
    size,
    async read(pos, len) {
      const n = Math.max(0, Math.min(len, size - pos));
      const buf = Buffer.alloc(n);
      let got = 0;
      while (got < n) {
        const { bytesRead } = await fh.read(buf, got, n - got, pos + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    },
  };
}

const mb = (n: number): number => Math.round(n / 1e6);

export class RecordingStore {
  private readonly entries = new Map<string, Entry>();
  private readonly active = new Map<string, ActiveRecording>();
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly freeBytes: () => number;
  private readonly minFreeBytes: number;
  private readonly stopFreeBytes: number;
  private readonly maxRecordingBytes: number;
  private readonly maxActive: number;
  readonly counters: Counters;

  private constructor(readonly dir: string, private readonly key: Buffer, opts: RecordingStoreOptions) {
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? cryptoRandom;
    const free = opts.freeBytes ?? statfsFree;
    this.freeBytes = () => free(dir);
    this.minFreeBytes = opts.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES;
    this.stopFreeBytes = opts.stopFreeBytes ?? Math.floor(this.minFreeBytes / 2);
    this.maxRecordingBytes = opts.maxRecordingBytes ?? DEFAULT_MAX_RECORDING_BYTES;
    this.maxActive = opts.maxActive ?? DEFAULT_MAX_ACTIVE;
    this.counters = opts.counters ?? new Counters();
  }

  /** Open (or create) the store: the folder, the key, the listing, crash recovery. */
  static async open(opts: RecordingStoreOptions): Promise<RecordingStore> {
    await mkdir(opts.dir, { recursive: true, mode: 0o700 });
    await chmod(opts.dir, 0o700);
    const key = await loadOrCreateKey(opts.dir, opts.random ?? cryptoRandom);
    const store = new RecordingStore(opts.dir, key, opts);
    await store.scan();
    return store;
  }

  // ---- recording -------------------------------------------------------------

  /**
   * Start a recording; the returned object is the TapSink to hand the engine.
   * Throws PbxError 'limit' when the disk is too full or too many run (the
   * call goes on without a recording: the caller decides what to tell).
   */
  start(meta: RecordingMeta, opts: StartOptions = {}): ActiveRecording {
    if (meta.kind !== 'decoded' && meta.kind !== 'encrypted-capture') throw new PbxError('config', 'unknown recording kind');
    if (meta.legs.length < 1 || meta.legs.length > MAX_LEGS) throw new PbxError('limit', `a recording has 1 to ${MAX_LEGS} legs`);
    if (new Set(meta.legs.map((l) => l.id)).size !== meta.legs.length) throw new PbxError('conflict', 'two recorded legs share an id');
    if (this.active.size >= this.maxActive) {
      this.counters.inc('recording.refused-busy');
      throw new PbxError('limit', `recording refused: ${this.active.size} recordings are running, the most the box takes`);
    }
    let free: number;
    try {
      free = this.freeBytes();
    } catch {
      this.counters.inc('recording.refused-disk');
      throw new PbxError('limit', 'recording refused: the free space of the recording disk cannot be read');
    }
    if (free < this.minFreeBytes) {
      this.counters.inc('recording.refused-disk');
      throw new PbxError('limit', `recording refused: the recording disk has ${mb(free)} MB free, less than the ${mb(this.minFreeBytes)} MB kept free`);
    }
    const rec: MetaRecord = {
      kind: meta.kind, start: this.clock.now(), parties: [...meta.parties],
      legs: meta.legs.map((l) => ({ id: l.id, protection: l.protection })),
      payloadTypes: { ...(meta.payloadTypes ?? {}) },
      ...(meta.note !== undefined ? { note: meta.note } : {}),
    };
    encodeJson(REC_META, rec); // throws 'limit' now rather than in the writer
    const fileId = this.random.bytes(FILE_ID_LEN);
    const id = fileId.toString('hex');
    if (this.entries.has(id) || this.active.has(id)) throw new PbxError('conflict', 'recording id collision');
    const header = parseHeaderOk(serializeHeader(fileId));
    const path = join(this.dir, id + RECORDING_SUFFIX);
    const recording = new ActiveRecording({
      id, path, header, key: fileKey(this.key, fileId), meta: rec, clock: this.clock,
      freeBytes: this.freeBytes, stopFreeBytes: this.stopFreeBytes, maxRecordingBytes: this.maxRecordingBytes,
      counters: this.counters,
      onEnd: (info, end) => {
        this.active.delete(id);
        this.entries.set(id, {
          id, path, meta: rec, end, size: info.size,
          state: info.state === 'recording' ? 'incomplete' : info.state,
        });
        try { opts.onEnd?.(info); } catch { this.counters.inc('recording.listener-error'); }
      },
    });
    this.active.set(id, recording);
    this.counters.inc('recording.started');
    return recording;
  }

  /** Every recording, oldest first; running ones as 'recording'. */
  list(): RecordingInfo[] {
    const out = [...this.entries.values()].map((e) => entryInfo(e));
    for (const r of this.active.values()) out.push(r.info());
    return out.sort((a, b) => a.start - b.start || a.id.localeCompare(b.id));
  }

  get(id: string): RecordingInfo {
    const a = this.active.get(id);
    if (a) return a.info();
    return entryInfo(this.entry(id));
  }

  /** Finish every running recording (shutdown). */
  async close(): Promise<void> {
    await Promise.all([...this.active.values()].map((r) => r.finish().catch(() => undefined)));
  }

  // ---- export ----------------------------------------------------------------

  /** Write the decrypted WAV (or the pcap) to `outPath` (mode 0600), chunk by chunk; nothing is left at outPath on failure. */
  async exportTo(id: string, outPath: string): Promise<{ readonly bytes: number }> {
    const e = this.exportable(id);
    const tmp = `${outPath}.part-${this.random.token(48)}`;
    let bytes = 0;
    const counted = async function* (src: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
      for await (const b of src) { bytes += b.length; yield b; }
    };
    try {
      await pipeline(Readable.from(counted(this.exportBytes(e))), createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
      await rename(tmp, outPath);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    return { bytes };
  }

  /** A download: the same bytes as exportTo, as a stream (it errors with PbxError 'parse' on a damaged chunk). */
  read(id: string): RecordingDownload {
    const e = this.exportable(id);
    const wav = e.meta.kind === 'decoded';
    const day = new Date(e.meta.start).toISOString().replace(/[:]/g, '-').replace(/\..*$/, '');
    return {
      info: entryInfo(e),
      contentType: wav ? 'audio/wav' : 'application/vnd.tcpdump.pcap',
      fileName: `recording-${day}-${id.slice(0, 8)}.${wav ? 'wav' : 'pcap'}`,
      stream: Readable.from(this.exportBytes(e)),
    };
  }

  /** The waveform summary (decoded recordings; a capture has none: 0 channels). Reads only the end marker. */
  async waveform(id: string): Promise<Waveform> {
    const e = this.exportable(id);
    const w = await this.withFile(e, async (src, framing, key) => {
      const last = framing.frames[framing.frames.length - 1]!;
      const recs = parseRecords(await readFrame(src, key, framing.header, last));
      const wave = recs.find((r) => r.type === REC_WAVE);
      return wave ? parseWave(wave.body) : undefined;
    });
    return w ? toWaveform(w) : { stepMs: 100, channels: 0, min: [], max: [] };
  }

  // ---- deleting --------------------------------------------------------------

  async delete(id: string): Promise<void> {
    if (this.active.has(id)) throw new PbxError('invalid-state', 'the recording is still running');
    const e = this.entry(id);
    await unlink(e.path).catch((err: unknown) => { if (errno(err) !== 'ENOENT') throw err; });
    this.entries.delete(id);
    await fsyncDir(this.dir);
    this.counters.inc('recording.deleted');
  }

  /** Delete recordings older than maxAgeDays, then the oldest until at most maxBytes remain. Running ones stay. */
  async prune(opts: PruneOptions): Promise<string[]> {
    const deleted: string[] = [];
    const byAge = [...this.entries.values()].sort((a, b) => a.meta.start - b.meta.start || a.id.localeCompare(b.id));
    const now = this.clock.now();
    const kept: Entry[] = [];
    for (const e of byAge) {
      if (opts.maxAgeDays !== undefined && e.meta.start < now - opts.maxAgeDays * DAY_MS) {
        await this.delete(e.id);
        deleted.push(e.id);
      } else kept.push(e);
    }
    if (opts.maxBytes !== undefined) {
      let total = kept.reduce((s, e) => s + e.size, 0) + [...this.active.values()].reduce((s, r) => s + r.size, 0);
      for (const e of kept) {
        if (total <= opts.maxBytes) break;
        await this.delete(e.id);
        deleted.push(e.id);
        total -= e.size;
      }
    }
    return deleted;
  }

  // ---- insides ---------------------------------------------------------------

  private entry(id: string): Entry {
    const e = ID_PATTERN.test(id) ? this.entries.get(id) : undefined;
    if (!e) throw new PbxError('not-found', 'no such recording');
    return e;
  }

  private exportable(id: string): Entry {
    if (this.active.has(id)) throw new PbxError('invalid-state', 'the recording is still running');
    const e = this.entry(id);
    if (e.state === 'damaged' || !e.end) throw new PbxError('parse', `the recording is damaged: ${e.damage ?? 'no end marker'}`);
    return e;
  }

  private async withFile<T>(e: Entry, fn: (src: ByteSource, framing: Framing, key: Buffer) => Promise<T>): Promise<T> {
    const fh = await open(e.path, 'r');
    try {
      const src = handleSource(fh, (await fh.stat()).size);
      const framing = await walkFrames(src);
      if (framing.header.fileId.toString('hex') !== e.id) throw new PbxError('parse', 'the file does not belong to this recording');
      if (framing.end.kind !== 'final' || framing.frames.length < 2) throw new PbxError('parse', 'the recording file changed: its end marker is gone');
      return await fn(src, framing, fileKey(this.key, framing.header.fileId));
    } finally {
      await fh.close();
    }
  }

  /** The export, as buffers: every chunk is opened (and so authenticated) as it is read. */
  private async *exportBytes(e: Entry): AsyncGenerator<Buffer> {
    const fh = await open(e.path, 'r');
    try {
      const src = handleSource(fh, (await fh.stat()).size);
      const framing = await walkFrames(src);
      if (framing.header.fileId.toString('hex') !== e.id) throw new PbxError('parse', 'the file does not belong to this recording');
      if (framing.end.kind !== 'final' || framing.frames.length < 2) throw new PbxError('parse', 'the recording file changed: its end marker is gone');
      const key = fileKey(this.key, framing.header.fileId);
      const meta = readMeta(parseRecords(await readFrame(src, key, framing.header, framing.frames[0]!)));
      const last = framing.frames[framing.frames.length - 1]!;
      const end = readEnd(parseRecords(await readFrame(src, key, framing.header, last)));
      const data = framing.frames.slice(1, -1);
      if (meta.kind === 'decoded') {
        const ch = meta.legs.length;
        const total = end.frames;
        yield wavHeader(ch, SAMPLE_RATE, total * ch * 2);
        let at = 0;
        for (const f of data) {
          for (const r of parseRecords(await readFrame(src, key, framing.header, f))) {
            if (r.type !== REC_PCM) continue;
            if (r.body.length < PCM_HEAD_LEN) throw new PbxError('parse', 'PCM record too short');
            const start = r.body.readUInt32BE(0);
            const n = r.body.readUInt16BE(4);
            if (r.body[6] !== ch || r.body.length !== PCM_HEAD_LEN + n * ch * 2) throw new PbxError('parse', 'PCM record does not match the recording');
            const limit = Math.min(n, total - start);
            if (start > at) { yield* zeros((Math.min(start, total) - at) * ch * 2); at = Math.min(start, total); }
            const skip = at - start;
            if (limit <= skip) continue;
            yield r.body.subarray(PCM_HEAD_LEN + skip * ch * 2, PCM_HEAD_LEN + limit * ch * 2);
            at = start + limit;
          }
        }
        if (at < total) yield* zeros((total - at) * ch * 2);
      } else {
        yield pcapGlobalHeader();
        for (const f of data) {
          for (const r of parseRecords(await readFrame(src, key, framing.header, f))) {
            if (r.type !== REC_PACKET) continue;
            const p = parsePacket(r.body);
            if (p.leg >= meta.legs.length) throw new PbxError('parse', 'packet of an unknown leg');
            yield pcapRecord(p.leg, p.arrivedAt, p.data);
          }
        }
      }
    } finally {
      await fh.close();
    }
  }

  private async scan(): Promise<void> {
    for (const name of (await readdir(this.dir)).sort()) {
      if (!name.endsWith(RECORDING_SUFFIX)) continue;
      const id = name.slice(0, -RECORDING_SUFFIX.length);
      if (!ID_PATTERN.test(id)) continue;
      const path = join(this.dir, name);
      const e = await this.inspect(id, path);
      if (e) this.entries.set(id, e);
    }
  }

  /** List one file; recover it if it has no end marker. Undefined: an empty leftover (removed). */
  private async inspect(id: string, path: string): Promise<Entry | undefined> {
    const fh = await open(path, constants.O_RDWR);
    let size = (await fh.stat()).size;
    const placeholder: MetaRecord = { kind: 'decoded', start: Math.round((await fh.stat()).mtimeMs), parties: [], legs: [], payloadTypes: {} };
    const damaged = (meta: MetaRecord, why: string): Entry => {
      this.counters.inc('recording.damaged');
      return { id, path, meta, end: undefined, state: 'damaged', size, damage: why };
    };
    try {
      const src = handleSource(fh, size);
      let framing: Framing;
      try {
        framing = await walkFrames(src);
      } catch (e) {
        if (size < 24 + 5) {
          // Created but nothing sealed yet: the box stopped within the first write.
          await fh.close();
          await unlink(path);
          this.counters.inc('recording.empty-removed');
          return undefined;
        }
        return damaged(placeholder, e instanceof Error ? e.message : 'unreadable');
      }
      if (framing.header.fileId.toString('hex') !== id) return damaged(placeholder, 'the file name does not match its id');
      const key = fileKey(this.key, framing.header.fileId);
      const first = framing.frames[0];
      if (!first) {
        if (framing.end.kind === 'broken') return damaged(placeholder, framing.end.reason);
        await fh.close();
        await unlink(path);
        this.counters.inc('recording.empty-removed');
        return undefined;
      }
      let meta: MetaRecord;
      try {
        if (first.flags !== 0) throw new PbxError('parse', 'the first chunk is an end marker');
        meta = readMeta(parseRecords(await readFrame(src, key, framing.header, first)));
      } catch (e) {
        return damaged(placeholder, e instanceof Error ? e.message : 'bad metadata');
      }
      const fe = framing.end;
      if (fe.kind === 'broken') return damaged(meta, fe.reason);
      if (fe.kind === 'final') {
        const last = framing.frames[framing.frames.length - 1]!;
        if (last.index === 0) return damaged(meta, 'no metadata chunk before the end marker');
        try {
          const end = readEnd(parseRecords(await readFrame(src, key, framing.header, last)));
          return { id, path, meta, end, state: end.state, size };
        } catch (e) {
          return damaged(meta, e instanceof Error ? e.message : 'bad end marker');
        }
      }
      // No end marker: recover what the whole chunks hold.
      let recovered: { end: EndRecord; wave: WaveRecord | undefined };
      try {
        recovered = await recover(src, key, framing.header, framing.frames.slice(1), meta);
      } catch (e) {
        return damaged(meta, e instanceof Error ? e.message : 'unreadable chunk');
      }
      const at = fe.kind === 'torn' ? fe.goodEnd : size;
      const parts = [encodeJson(REC_END, recovered.end)];
      if (recovered.wave) parts.push(encodeWave(recovered.wave));
      const marker = sealChunk(key, framing.header, framing.frames.length, FLAG_FINAL | FLAG_RECOVERED, Buffer.concat(parts));
      try {
        if (fe.kind === 'torn') await fh.truncate(at);
        let off = 0;
        while (off < marker.length) off += (await fh.write(marker, off, marker.length - off, at + off)).bytesWritten;
        await fh.datasync();
        size = at + marker.length;
        this.counters.inc('recording.recovered');
      } catch {
        // A read-only or full disk: list it as recovered for now; the next open tries again.
        this.counters.inc('recording.recover-write-error');
        size = at;
      }
      return { id, path, meta, end: recovered.end, state: 'incomplete', size };
    } finally {
      await fh.close().catch(() => undefined);
    }
  }
}

function parseHeaderOk(b: Buffer): SealedHeader {
  const h = parseHeader(b);
  if (!h.ok) throw new PbxError('invalid-state', 'header does not parse');
  return h.header;
}

function readMeta(recs: ReturnType<typeof parseRecords>): MetaRecord {
  const m = recs[0];
  if (recs.length !== 1 || !m || m.type !== REC_META) throw new PbxError('parse', 'the first chunk is not the metadata');
  return parseMeta(m.body);
}

function readEnd(recs: ReturnType<typeof parseRecords>): EndRecord {
  const e = recs.find((r) => r.type === REC_END);
  if (!e || recs.some((r) => r.type !== REC_END && r.type !== REC_WAVE)) throw new PbxError('parse', 'the end marker holds no end record');
  return parseEnd(e.body);
}

/**
 * The end record and waveform of a file cut short, from its whole chunks. It
 * is a function of the verified content only (no clock): a recovery that is
 * itself interrupted and run again seals the same bytes under the same nonce.
 */
async function recover(src: ByteSource, key: Buffer, header: SealedHeader, frames: readonly FrameRef[], meta: MetaRecord): Promise<{ end: EndRecord; wave: WaveRecord | undefined }> {
  const ch = meta.legs.length;
  const wave = meta.kind === 'decoded' ? new WaveformBuilder(ch) : undefined;
  let total = 0;
  let lastArrival = meta.start;
  let packets = 0;
  for (const f of frames) {
    for (const r of parseRecords(await readFrame(src, key, header, f))) {
      if (r.type === REC_PCM && wave) {
        const body = r.body;
        if (body.length < PCM_HEAD_LEN || body[6] !== ch) throw new PbxError('parse', 'PCM record does not match the recording');
        const start = body.readUInt32BE(0);
        const n = body.readUInt16BE(4);
        if (body.length !== PCM_HEAD_LEN + n * ch * 2) throw new PbxError('parse', 'PCM record length does not match');
        const samples = new Int16Array(n * ch);
        for (let i = 0; i < samples.length; i++) samples[i] = body.readInt16LE(PCM_HEAD_LEN + 2 * i);
        wave.add(start, n, samples);
        total = Math.max(total, start + n);
      } else if (r.type === REC_PACKET) {
        const p = parsePacket(r.body);
        packets++;
        if (p.arrivedAt > lastArrival) lastArrival = p.arrivedAt;
      } else {
        throw new PbxError('parse', `record type ${r.type} inside the recording`);
      }
    }
  }
  const durationMs = wave ? total / FRAMES_PER_MS : lastArrival - meta.start;
  const notes = [
    ...(meta.kind === 'encrypted-capture' ? [CAPTURE_NOTE] : []),
    `interrupted: the box stopped before the recording ended; the ${(durationMs / 1000).toFixed(1)} s written before that are kept`,
  ];
  const end: EndRecord = {
    state: 'incomplete', end: meta.start + durationMs, durationMs, frames: wave ? total : 0, cut: false, notes,
    counts: wave ? {} : { packets },
  };
  return { end, wave: wave?.build(total) };
}

function entryInfo(e: Entry): RecordingInfo {
  const m = e.meta;
  return {
    id: e.id, kind: m.kind, start: m.start, end: e.end?.end ?? m.start, durationMs: e.end?.durationMs ?? 0,
    parties: m.parties, legs: m.legs, state: e.state, cut: e.end?.cut ?? false,
    notes: e.damage ? [`damaged: ${e.damage}`] : [...(e.end?.notes ?? [])],
    size: e.size,
    ...(m.kind === 'encrypted-capture' ? { capturePorts: Object.fromEntries(m.legs.map((l, i) => [l.id, capturePort(i)])) } : {}),
    counts: { ...(e.end?.counts ?? {}) },
  };
}

const ZEROS = Buffer.alloc(64 * 1024);

function* zeros(n: number): Generator<Buffer> {
  while (n > 0) {
    const k = Math.min(n, ZEROS.length);
    yield ZEROS.subarray(0, k);
    n -= k;
  }
}

/**
 * The store key: read it, or create it once. It is written to a temp file
 * (0600) and linked into place, so it appears whole or not at all, and a
 * second creator finds it there instead of replacing it.
 */
async function loadOrCreateKey(dir: string, random: Random): Promise<Buffer> {
  const path = join(dir, KEY_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const key = await readFile(path);
      if (key.length !== STORE_KEY_LEN) throw new PbxError('config', `the recording key file ${path} is not ${STORE_KEY_LEN} bytes`);
      if (((await stat(path)).mode & 0o777) !== 0o600) await chmod(path, 0o600);
      return key;
    } catch (e) {
      if (errno(e) !== 'ENOENT') throw e;
    }
    const tmp = `${path}.tmp-${random.token(48)}`;
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.chmod(0o600);
      await fh.writeFile(random.bytes(STORE_KEY_LEN));
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await link(tmp, path);
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw e;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
    await fsyncDir(dir);
  }
  throw new PbxError('config', 'the recording key could not be created');
}
