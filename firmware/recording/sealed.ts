/**
 * The sealed file: a recording on disk is a short plaintext header and a
 * sequence of chunks, each sealed on its own with AES-256-GCM, so a writer
 * that dies mid-recording leaves every whole chunk readable, and a reader
 * detects a flipped byte, a chunk moved or removed, a cut tail and bytes
 * added after the end.
 *
 * File header (24 bytes, the start of every chunk's additional data):
 *
 *   0       4       5       8                                      24
 *  +-------+-------+-------+---------------------------------------+
 *  | "PBXR"| ver=1 | 0 0 0 |            file id (16 random)        |
 *  +-------+-------+-------+---------------------------------------+
 *
 * Then frames, back to back to the end of the file:
 *
 *   0               4       5
 *  +---------------+-------+----------------------------+--------+
 *  | sealed length | flags |        ciphertext          | tag 16 |
 *  |  u32 BE = n   |       |<------- n - 16 bytes ------>|        |
 *  +---------------+-------+----------------------------+--------+
 *
 *  flags: bit 0 FINAL (the end marker: the last frame of a finished file),
 *         bit 1 RECOVERED (an end marker written by crash recovery, with
 *         FINAL); other bits are zero.
 *
 * Frame i (counted from 0) is sealed with
 *   key   = HKDF-SHA256(store key, salt = file id, info = KEY_INFO)
 *   nonce = file id[0..7) | flags | i (u32 BE)
 *   AAD   = header | i (u32 BE) | flags
 * The index is nowhere on disk: it is the frame's place in the file, so a
 * frame moved, dropped or copied from another file fails its tag. The flags
 * are in the nonce as well as in the AAD: crash recovery writes its end
 * marker at the index of a torn frame that was cut off, and must not reuse
 * that frame's nonce (its plaintext is a function of the verified content, so
 * a repeated recovery writes the very same bytes).
 */
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { PbxError } from '../core/index.js';

export const SEALED_MAGIC = 'PBXR';
export const SEALED_VERSION = 1;
export const HEADER_LEN = 24;
export const FILE_ID_LEN = 16;
export const FRAME_HEAD_LEN = 5;
export const TAG_LEN = 16;
/** The largest plaintext of one chunk: more is refused when writing and reading. */
export const MAX_CHUNK_PLAINTEXT = 4 * 1024 * 1024;
export const FLAG_FINAL = 1;
export const FLAG_RECOVERED = 2;
const KNOWN_FLAGS = FLAG_FINAL | FLAG_RECOVERED;
const KEY_INFO = 'securepbx recording chunk key v1';
export const STORE_KEY_LEN = 32;

export interface SealedHeader {
  readonly version: number;
  readonly fileId: Buffer;
  /** The 24 bytes as on disk. */
  readonly bytes: Buffer;
}

export function serializeHeader(fileId: Uint8Array): Buffer {
  if (fileId.length !== FILE_ID_LEN) throw new PbxError('invalid-state', `a file id is ${FILE_ID_LEN} bytes`);
  const h = Buffer.alloc(HEADER_LEN);
  h.write(SEALED_MAGIC, 0, 'latin1');
  h[4] = SEALED_VERSION;
  h.set(fileId, 8);
  return h;
}

export type HeaderResult =
  | { readonly ok: true; readonly header: SealedHeader }
  | { readonly ok: false; readonly reason: 'short' | 'bad-magic' | 'bad-version' };

export function parseHeader(buf: Uint8Array): HeaderResult {
  if (buf.length < HEADER_LEN) return { ok: false, reason: 'short' };
  const b = Buffer.from(buf.buffer, buf.byteOffset, HEADER_LEN);
  if (b.toString('latin1', 0, 4) !== SEALED_MAGIC) return { ok: false, reason: 'bad-magic' };
  if (b[4] !== SEALED_VERSION || b[5] !== 0 || b[6] !== 0 || b[7] !== 0) return { ok: false, reason: 'bad-version' };
  const bytes = Buffer.from(b);
  return { ok: true, header: { version: SEALED_VERSION, fileId: bytes.subarray(8, 24), bytes } };
}

/** The per-file key: a file id never shares a key with another file even if the store key is reused for ever. */
export function fileKey(storeKey: Uint8Array, fileId: Uint8Array): Buffer {
  if (storeKey.length !== STORE_KEY_LEN) throw new PbxError('config', 'the recording key must be 32 bytes');
  return Buffer.from(hkdfSync('sha256', storeKey, fileId, KEY_INFO, 32));
}

function nonceOf(header: SealedHeader, index: number, flags: number): Buffer {
  const n = Buffer.alloc(12);
  header.fileId.copy(n, 0, 0, 7);
  n[7] = flags;
  n.writeUInt32BE(index, 8);
  return n;
}

function aadOf(header: SealedHeader, index: number, flags: number): Buffer {
  const a = Buffer.alloc(HEADER_LEN + 5);
  header.bytes.copy(a, 0);
  a.writeUInt32BE(index, HEADER_LEN);
  a[HEADER_LEN + 4] = flags;
  return a;
}

function checkIndex(index: number): void {
  if (!Number.isInteger(index) || index < 0 || index > 0xffffffff) throw new PbxError('limit', 'chunk index out of range');
}

/** One frame as written to disk: head, ciphertext, tag. */
export function sealChunk(key: Buffer, header: SealedHeader, index: number, flags: number, plaintext: Uint8Array): Buffer {
  checkIndex(index);
  if ((flags & ~KNOWN_FLAGS) !== 0 || (flags & FLAG_RECOVERED && !(flags & FLAG_FINAL))) throw new PbxError('invalid-state', 'bad chunk flags');
  if (plaintext.length > MAX_CHUNK_PLAINTEXT) throw new PbxError('limit', 'chunk too large');
  const c = createCipheriv('aes-256-gcm', key, nonceOf(header, index, flags));
  c.setAAD(aadOf(header, index, flags));
  const out = Buffer.allocUnsafe(FRAME_HEAD_LEN + plaintext.length + TAG_LEN);
  out.writeUInt32BE(plaintext.length + TAG_LEN, 0);
  out[4] = flags;
  const body = c.update(plaintext);
  body.copy(out, FRAME_HEAD_LEN);
  const fin = c.final();
  fin.copy(out, FRAME_HEAD_LEN + body.length);
  c.getAuthTag().copy(out, FRAME_HEAD_LEN + plaintext.length);
  return out;
}

/** The plaintext of frame `index` (its sealed bytes after the 5-byte head), or a 'parse' error if it does not authenticate. */
export function openChunk(key: Buffer, header: SealedHeader, index: number, flags: number, sealed: Uint8Array): Buffer {
  checkIndex(index);
  if (sealed.length < TAG_LEN) throw new PbxError('parse', `chunk ${index} is shorter than its tag`);
  const d = createDecipheriv('aes-256-gcm', key, nonceOf(header, index, flags));
  d.setAAD(aadOf(header, index, flags));
  d.setAuthTag(sealed.subarray(sealed.length - TAG_LEN));
  const body = d.update(sealed.subarray(0, sealed.length - TAG_LEN));
  try {
    d.final();
  } catch {
    throw new PbxError('parse', `chunk ${index} does not authenticate (tampered, moved or from another file)`);
  }
  return body;
}

/** Random access to a file's bytes (a file handle, or a buffer in tests). */
export interface ByteSource {
  readonly size: number;
  read(pos: number, len: number): Promise<Buffer>;
}

export function bufferSource(buf: Uint8Array): ByteSource {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  return { size: b.length, read: async (pos, len) => b.subarray(pos, Math.min(b.length, pos + len)) };
}

export interface FrameRef {
  readonly index: number;
  /** Offset of the frame head. */
  readonly offset: number;
  /** Sealed length (ciphertext + tag). */
  readonly length: number;
  readonly flags: number;
}

/**
 * How the framing of a file ends. 'final': the last frame is an end marker
 * and the file ends right after it. 'open': it ends on a frame boundary with
 * no end marker (a writer that stopped, or a file cut between frames).
 * 'torn': the last frame runs past the end of the file (cut inside a frame;
 * `goodEnd` is where the whole frames end). 'broken': a frame head is
 * impossible (length or flags), or bytes follow the end marker.
 */
export type FramingEnd =
  | { readonly kind: 'final' }
  | { readonly kind: 'open' }
  | { readonly kind: 'torn'; readonly goodEnd: number }
  | { readonly kind: 'broken'; readonly offset: number; readonly reason: string };

export interface Framing {
  readonly header: SealedHeader;
  readonly frames: readonly FrameRef[];
  readonly end: FramingEnd;
}

/**
 * Walk the frame heads of a file without decrypting anything (one 5-byte
 * read per chunk). Throws 'parse' only for a file that is not a sealed
 * recording at all (no valid header).
 */
export async function walkFrames(src: ByteSource): Promise<Framing> {
  const h = parseHeader(await src.read(0, HEADER_LEN));
  if (!h.ok) throw new PbxError('parse', `not a recording file (${h.reason})`);
  const frames: FrameRef[] = [];
  let off = HEADER_LEN;
  for (;;) {
    if (off === src.size) return { header: h.header, frames, end: { kind: 'open' } };
    if (off + FRAME_HEAD_LEN > src.size) return { header: h.header, frames, end: { kind: 'torn', goodEnd: off } };
    const hb = await src.read(off, FRAME_HEAD_LEN);
    const length = hb.readUInt32BE(0);
    const flags = hb[4]!;
    if (length < TAG_LEN || length > MAX_CHUNK_PLAINTEXT + TAG_LEN) {
      // An impossible length at the very end is a torn write of a head; anywhere else it is damage.
      return { header: h.header, frames, end: { kind: 'broken', offset: off, reason: 'impossible chunk length' } };
    }
    if ((flags & ~KNOWN_FLAGS) !== 0 || (flags & FLAG_RECOVERED && !(flags & FLAG_FINAL))) {
      return { header: h.header, frames, end: { kind: 'broken', offset: off, reason: 'unknown chunk flags' } };
    }
    if (frames.length > 0xffffffff) return { header: h.header, frames, end: { kind: 'broken', offset: off, reason: 'too many chunks' } };
    const end = off + FRAME_HEAD_LEN + length;
    if (end > src.size) return { header: h.header, frames, end: { kind: 'torn', goodEnd: off } };
    frames.push({ index: frames.length, offset: off, length, flags });
    off = end;
    if (flags & FLAG_FINAL) {
      if (off !== src.size) return { header: h.header, frames, end: { kind: 'broken', offset: off, reason: 'bytes after the end marker' } };
      return { header: h.header, frames, end: { kind: 'final' } };
    }
  }
}

/** Read and open one frame found by walkFrames. */
export async function readFrame(src: ByteSource, key: Buffer, header: SealedHeader, f: FrameRef): Promise<Buffer> {
  const sealed = await src.read(f.offset + FRAME_HEAD_LEN, f.length);
  if (sealed.length !== f.length) throw new PbxError('parse', `chunk ${f.index} is cut short`);
  return openChunk(key, header, f.index, f.flags, sealed);
}
