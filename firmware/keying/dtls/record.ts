import { createCipheriv, createDecipheriv } from 'node:crypto';
import { PbxError } from '../../core/index.js';
import { MAX_RECORD_FRAGMENT, MAX_RECORDS_PER_DATAGRAM, REPLAY_WINDOW } from './limits.js';
import { Reader, parsing, u16, u48, type Parsed } from './wire.js';

/** Record content types (RFC 5246 6.2.1). */
export const ContentType = { changeCipherSpec: 20, alert: 21, handshake: 22, applicationData: 23 } as const;
export type ContentTypeValue = (typeof ContentType)[keyof typeof ContentType];
const CONTENT_TYPES: ReadonlySet<number> = new Set(Object.values(ContentType));

/** DTLS 1.2 is {254, 253}; DTLS 1.0 {254, 255} is seen on the first hellos and the HelloVerifyRequest (RFC 6347 4.2.1). */
export const DTLS12 = 0xfefd;
export const DTLS10 = 0xfeff;

export const RECORD_HEADER = 13;
/** RFC 7983: a datagram whose first byte is 20..63 is DTLS. */
export function isDtlsDatagram(b: Buffer): boolean {
  return b.length > 0 && b[0]! >= 20 && b[0]! <= 63;
}

export interface DtlsRecord {
  readonly type: ContentTypeValue;
  readonly version: number;
  readonly epoch: number;
  /** 48-bit sequence number (safe in a JS number). */
  readonly seq: number;
  readonly fragment: Buffer;
}

/*
 * DTLS record header (RFC 6347 4.1), 13 bytes:
 *
 *   0               1               2               3
 *   +---------------+---------------+---------------+---------------+
 *   | content type  | version major | version minor |     epoch     |
 *   +---------------+---------------+---------------+---------------+
 *   |     epoch     |          sequence number (48 bits) ...        |
 *   +---------------+---------------+---------------+---------------+
 *   |           ... sequence number                 |    length     |
 *   +---------------+---------------+---------------+---------------+
 *   |    length     |  fragment (length bytes) ...
 *   +---------------+------------------------------------------------
 *
 * A datagram may carry several records back to back.
 */
export function parseRecords(datagram: Buffer): Parsed<readonly DtlsRecord[]> {
  return parsing(() => {
    const r = new Reader(datagram, 'DTLS record');
    const out: DtlsRecord[] = [];
    while (r.remaining > 0) {
      if (out.length >= MAX_RECORDS_PER_DATAGRAM) throw new PbxError('limit', 'too many records in one datagram', r.offset);
      const at = r.offset;
      const type = r.u8();
      if (!CONTENT_TYPES.has(type)) throw new PbxError('parse', `unknown content type ${type}`, at);
      const version = r.u16();
      if (version !== DTLS12 && version !== DTLS10) throw new PbxError('parse', `record version ${version.toString(16)}`, at + 1);
      const epoch = r.u16();
      const seq = r.u48();
      const length = r.u16();
      if (length > MAX_RECORD_FRAGMENT) throw new PbxError('limit', `record of ${length} bytes`, at + 11);
      out.push({ type: type as ContentTypeValue, version, epoch, seq, fragment: r.bytes(length) });
    }
    return out;
  });
}

export function serializeRecord(rec: DtlsRecord): Buffer {
  if (rec.fragment.length > MAX_RECORD_FRAGMENT) throw new PbxError('limit', 'record fragment too long');
  const h = Buffer.alloc(RECORD_HEADER);
  h[0] = rec.type;
  h.writeUInt16BE(rec.version, 1);
  h.writeUInt16BE(rec.epoch, 3);
  h.writeUIntBE(rec.seq, 5, 6);
  h.writeUInt16BE(rec.fragment.length, 11);
  return Buffer.concat([h, rec.fragment]);
}

/**
 * Anti-replay window for one epoch (RFC 6347 4.1.2.6): the highest sequence
 * number seen and a bitmap of the REPLAY_WINDOW numbers below it. check()
 * is side-effect free; mark() is called only after the record authenticated.
 */
export class ReplayWindow {
  private top = -1;
  private bits = 0n;
  private static readonly MASK = (1n << BigInt(REPLAY_WINDOW)) - 1n;

  check(seq: number): 'ok' | 'replay' | 'old' {
    if (seq > this.top) return 'ok';
    const d = this.top - seq;
    if (d >= REPLAY_WINDOW) return 'old';
    return (this.bits >> BigInt(d)) & 1n ? 'replay' : 'ok';
  }

  mark(seq: number): void {
    if (seq > this.top) {
      const shift = this.top < 0 ? REPLAY_WINDOW : seq - this.top;
      this.bits = shift >= REPLAY_WINDOW ? 1n : ((this.bits << BigInt(shift)) | 1n) & ReplayWindow.MASK;
      this.top = seq;
    } else {
      this.bits |= 1n << BigInt(this.top - seq);
    }
  }
}

/** One direction's AES-GCM record keys (RFC 5288): the write key and the 4-byte implicit salt. */
export interface AeadKeys {
  readonly key: Buffer;
  readonly salt: Buffer;
}

const EXPLICIT_NONCE = 8;
const GCM_TAG = 16;
export const AEAD_OVERHEAD = EXPLICIT_NONCE + GCM_TAG;

/** RFC 5246 6.2.3.3 additional data with the DTLS sequence number: epoch || seq (8), type, version, plaintext length. */
function additionalData(type: number, version: number, epoch: number, seq: number, length: number): Buffer {
  return Buffer.concat([u16(epoch), u48(seq), Buffer.from([type]), u16(version), u16(length)]);
}
const algorithm = (k: AeadKeys): 'aes-128-gcm' | 'aes-256-gcm' => (k.key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm');

/*
 * A protected fragment (RFC 5288 3):
 *
 *   +-------------------------------+------------------------+----------+
 *   | explicit nonce (8): epoch||seq |  ciphertext            | tag (16) |
 *   +-------------------------------+------------------------+----------+
 *
 * The GCM nonce is the 4-byte salt from the key block followed by the
 * explicit part; using the record's own epoch and sequence number makes it
 * unique per key without any state.
 */
export function protectFragment(k: AeadKeys, type: number, version: number, epoch: number, seq: number, plain: Buffer): Buffer {
  const explicit = Buffer.concat([u16(epoch), u48(seq)]);
  const c = createCipheriv(algorithm(k), k.key, Buffer.concat([k.salt, explicit]), { authTagLength: GCM_TAG });
  c.setAAD(additionalData(type, version, epoch, seq, plain.length));
  const body = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([explicit, body, c.getAuthTag()]);
}

/** The plaintext, or undefined when the record does not authenticate (never throws). */
export function unprotectFragment(k: AeadKeys, rec: DtlsRecord): Buffer | undefined {
  const f = rec.fragment;
  if (f.length < AEAD_OVERHEAD) return undefined;
  const n = f.length - AEAD_OVERHEAD;
  try {
    const d = createDecipheriv(algorithm(k), k.key, Buffer.concat([k.salt, f.subarray(0, EXPLICIT_NONCE)]), { authTagLength: GCM_TAG });
    d.setAAD(additionalData(rec.type, rec.version, rec.epoch, rec.seq, n));
    d.setAuthTag(f.subarray(f.length - GCM_TAG));
    return Buffer.concat([d.update(f.subarray(EXPLICIT_NONCE, EXPLICIT_NONCE + n)), d.final()]);
  } catch {
    return undefined;
  }
}
