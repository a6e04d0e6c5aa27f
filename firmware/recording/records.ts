/**
 * What a chunk holds once opened: records back to back.
 *
 *   0      1                5
 *  +------+----------------+---------------------+
 *  | type | body length n  |      body (n)       |
 *  |  u8  |    u32 BE      |                     |
 *  +------+----------------+---------------------+
 *
 *  1 META    UTF-8 JSON: kind, start, parties, legs, payload types, note (chunk 0, alone)
 *  2 PCM     start frame u32 BE | frames u16 BE | channels u8 | frames x channels int16 LE, interleaved
 *            (8 kHz frames counted from the recording's start; silence between PCM records is implicit)
 *  3 PACKET  arrived at: f64 BE ms since the epoch | leg u8 | the packet as it came
 *  4 END     UTF-8 JSON: end, duration, frames, cut, notes, counts, state (in the end marker)
 *  5 WAVE    channels u8 | steps u32 BE | step ms u16 BE | steps x channels x (min i8, max i8)
 *
 * Chunks are authenticated, so a record that does not parse means a bug or a
 * forged key, but the parser still checks every length before reading and
 * answers with a typed error.
 */
import { PbxError } from '../core/index.js';
import type { RecordedLeg, RecordingKind, RecordingState } from './types.js';

export const REC_META = 1;
export const REC_PCM = 2;
export const REC_PACKET = 3;
export const REC_END = 4;
export const REC_WAVE = 5;
export const RECORD_HEAD_LEN = 5;
export const PCM_HEAD_LEN = 7;
export const PACKET_HEAD_LEN = 9;
export const WAVE_HEAD_LEN = 7;
/** At most this many legs (channels) per recording. */
export const MAX_LEGS = 8;
const MAX_JSON = 64 * 1024;

export interface RawRecord {
  readonly type: number;
  readonly body: Buffer;
}

/** Split a chunk's plaintext into records. */
export function parseRecords(chunk: Buffer): RawRecord[] {
  const out: RawRecord[] = [];
  let off = 0;
  while (off < chunk.length) {
    if (off + RECORD_HEAD_LEN > chunk.length) throw new PbxError('parse', 'record head cut short', off);
    const type = chunk[off]!;
    const n = chunk.readUInt32BE(off + 1);
    if (type < REC_META || type > REC_WAVE) throw new PbxError('parse', `unknown record type ${type}`, off);
    if (off + RECORD_HEAD_LEN + n > chunk.length) throw new PbxError('parse', 'record body cut short', off);
    out.push({ type, body: chunk.subarray(off + RECORD_HEAD_LEN, off + RECORD_HEAD_LEN + n) });
    off += RECORD_HEAD_LEN + n;
  }
  return out;
}

/** Append-only plaintext of the chunk being filled. */
export class ChunkBuilder {
  private buf: Buffer;
  private len = 0;

  constructor(private readonly capacity: number) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  get length(): number {
    return this.len;
  }

  /** Room for a record with an n-byte body? */
  fits(n: number): boolean {
    return this.len + RECORD_HEAD_LEN + n <= this.capacity;
  }

  /** Reserve a record and return the slice its body goes into. The caller checked `fits`. */
  reserve(type: number, n: number): Buffer {
    this.buf[this.len] = type;
    this.buf.writeUInt32BE(n, this.len + 1);
    const body = this.buf.subarray(this.len + RECORD_HEAD_LEN, this.len + RECORD_HEAD_LEN + n);
    this.len += RECORD_HEAD_LEN + n;
    return body;
  }

  /** Hand over the bytes written so far and start a fresh chunk. */
  take(): Buffer {
    const out = this.buf.subarray(0, this.len);
    this.buf = Buffer.allocUnsafe(this.capacity);
    this.len = 0;
    return out;
  }
}

export function encodeRecord(type: number, body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(RECORD_HEAD_LEN + body.length);
  out[0] = type;
  out.writeUInt32BE(body.length, 1);
  out.set(body, RECORD_HEAD_LEN);
  return out;
}

// ---- PCM -------------------------------------------------------------------

export interface PcmRecord {
  readonly startFrame: number;
  readonly frames: number;
  readonly channels: number;
  /** Interleaved, `frames * channels` samples. */
  readonly samples: Int16Array;
}

export function pcmBodyLength(frames: number, channels: number): number {
  return PCM_HEAD_LEN + frames * channels * 2;
}

/** Write a PCM record's body into `out` (pcmBodyLength bytes). */
export function writePcmBody(out: Buffer, startFrame: number, frames: number, channels: number, interleaved: Int16Array): void {
  out.writeUInt32BE(startFrame, 0);
  out.writeUInt16BE(frames, 4);
  out[6] = channels;
  const n = frames * channels;
  for (let i = 0; i < n; i++) out.writeInt16LE(interleaved[i]!, PCM_HEAD_LEN + 2 * i);
}

export function parsePcm(body: Buffer): PcmRecord {
  if (body.length < PCM_HEAD_LEN) throw new PbxError('parse', 'PCM record too short');
  const startFrame = body.readUInt32BE(0);
  const frames = body.readUInt16BE(4);
  const channels = body[6]!;
  if (channels < 1 || channels > MAX_LEGS) throw new PbxError('parse', `PCM record with ${channels} channels`);
  if (body.length !== pcmBodyLength(frames, channels)) throw new PbxError('parse', 'PCM record length does not match its frames');
  const samples = new Int16Array(frames * channels);
  for (let i = 0; i < samples.length; i++) samples[i] = body.readInt16LE(PCM_HEAD_LEN + 2 * i);
  return { startFrame, frames, channels, samples };
}

// ---- PACKET ----------------------------------------------------------------

export interface PacketRecord {
  readonly arrivedAt: number;
  readonly leg: number;
  readonly data: Buffer;
}

export function writePacketBody(out: Buffer, arrivedAt: number, leg: number, data: Uint8Array): void {
  out.writeDoubleBE(arrivedAt, 0);
  out[8] = leg;
  out.set(data, PACKET_HEAD_LEN);
}

export function parsePacket(body: Buffer): PacketRecord {
  if (body.length < PACKET_HEAD_LEN) throw new PbxError('parse', 'packet record too short');
  const arrivedAt = body.readDoubleBE(0);
  if (!Number.isFinite(arrivedAt)) throw new PbxError('parse', 'packet record with a bad time');
  const leg = body[8]!;
  if (leg >= MAX_LEGS) throw new PbxError('parse', `packet record for leg ${leg}`);
  return { arrivedAt, leg, data: body.subarray(PACKET_HEAD_LEN) };
}

// ---- WAVE ------------------------------------------------------------------

export interface WaveRecord {
  readonly channels: number;
  readonly stepMs: number;
  /** [step * channels + channel] */
  readonly min: Int8Array;
  readonly max: Int8Array;
}

export function encodeWave(w: WaveRecord): Buffer {
  const steps = w.channels === 0 ? 0 : w.min.length / w.channels;
  const body = Buffer.alloc(WAVE_HEAD_LEN + steps * w.channels * 2);
  body[0] = w.channels;
  body.writeUInt32BE(steps, 1);
  body.writeUInt16BE(w.stepMs, 5);
  for (let i = 0; i < w.min.length; i++) {
    body.writeInt8(w.min[i]!, WAVE_HEAD_LEN + 2 * i);
    body.writeInt8(w.max[i]!, WAVE_HEAD_LEN + 2 * i + 1);
  }
  return encodeRecord(REC_WAVE, body);
}

export function parseWave(body: Buffer): WaveRecord {
  if (body.length < WAVE_HEAD_LEN) throw new PbxError('parse', 'waveform record too short');
  const channels = body[0]!;
  const steps = body.readUInt32BE(1);
  const stepMs = body.readUInt16BE(5);
  if (channels > MAX_LEGS || stepMs === 0) throw new PbxError('parse', 'waveform record with bad dimensions');
  if (body.length !== WAVE_HEAD_LEN + steps * channels * 2) throw new PbxError('parse', 'waveform record length does not match');
  const min = new Int8Array(steps * channels);
  const max = new Int8Array(steps * channels);
  for (let i = 0; i < min.length; i++) {
    min[i] = body.readInt8(WAVE_HEAD_LEN + 2 * i);
    max[i] = body.readInt8(WAVE_HEAD_LEN + 2 * i + 1);
  }
  return { channels, stepMs, min, max };
}

// ---- META and END (JSON) -----------------------------------------------------

export interface MetaRecord {
  readonly kind: RecordingKind;
  readonly start: number;
  readonly parties: readonly string[];
  readonly legs: readonly RecordedLeg[];
  readonly payloadTypes: Readonly<Record<number, string>>;
  readonly note?: string;
}

export interface EndRecord {
  readonly state: Extract<RecordingState, 'complete' | 'incomplete'>;
  readonly end: number;
  readonly durationMs: number;
  /** Frames per channel of a decoded recording (its WAV length); 0 for a capture. */
  readonly frames: number;
  readonly cut: boolean;
  readonly notes: readonly string[];
  readonly counts: Readonly<Record<string, number>>;
}

export function encodeJson(type: typeof REC_META | typeof REC_END, value: MetaRecord | EndRecord): Buffer {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  if (body.length > MAX_JSON) throw new PbxError('limit', 'recording metadata too large');
  return encodeRecord(type, body);
}

function parseJson(body: Buffer): Record<string, unknown> {
  if (body.length > MAX_JSON) throw new PbxError('parse', 'metadata record too large');
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    throw new PbxError('parse', 'metadata record is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new PbxError('parse', 'metadata record is not an object');
  return v as Record<string, unknown>;
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export function parseMeta(body: Buffer): MetaRecord {
  const o = parseJson(body);
  const legs = o['legs'];
  const pts = o['payloadTypes'];
  if ((o['kind'] !== 'decoded' && o['kind'] !== 'encrypted-capture') || !isNum(o['start']) || !isStrings(o['parties'])
    || !Array.isArray(legs) || legs.length < 1 || legs.length > MAX_LEGS
    || !legs.every((l: unknown) => typeof l === 'object' && l !== null
      && typeof (l as Record<string, unknown>)['id'] === 'string' && typeof (l as Record<string, unknown>)['protection'] === 'string')
    || typeof pts !== 'object' || pts === null || !Object.values(pts).every((s) => typeof s === 'string')
    || (o['note'] !== undefined && typeof o['note'] !== 'string')) {
    throw new PbxError('parse', 'metadata record has bad fields');
  }
  const meta: MetaRecord = {
    kind: o['kind'], start: o['start'], parties: o['parties'],
    legs: (legs as RecordedLeg[]).map((l) => ({ id: l.id, protection: l.protection })),
    payloadTypes: pts as Record<number, string>,
    ...(typeof o['note'] === 'string' ? { note: o['note'] } : {}),
  };
  return meta;
}

export function parseEnd(body: Buffer): EndRecord {
  const o = parseJson(body);
  const counts = o['counts'];
  if ((o['state'] !== 'complete' && o['state'] !== 'incomplete') || !isNum(o['end']) || !isNum(o['durationMs'])
    || !isNum(o['frames']) || typeof o['cut'] !== 'boolean' || !isStrings(o['notes'])
    || typeof counts !== 'object' || counts === null || !Object.values(counts).every(isNum)) {
    throw new PbxError('parse', 'end record has bad fields');
  }
  return {
    state: o['state'], end: o['end'], durationMs: o['durationMs'], frames: o['frames'], cut: o['cut'],
    notes: o['notes'], counts: counts as Record<string, number>,
  };
}
