import { PbxError } from '../../core/index.js';

/**
 * A bounds-checked reader over one buffer. Every read checks the length
 * first and throws PbxError 'parse' with the offset; the public parse
 * functions catch it and return a typed result, so no Buffer read ever
 * runs past the end.
 */
export class Reader {
  private o = 0;
  constructor(private readonly b: Buffer, private readonly what: string) {}

  get offset(): number {
    return this.o;
  }
  get remaining(): number {
    return this.b.length - this.o;
  }
  private need(n: number): void {
    if (n < 0 || this.o + n > this.b.length) throw new PbxError('parse', `${this.what}: truncated`, this.o);
  }
  u8(): number {
    this.need(1);
    return this.b[this.o++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.b.readUInt16BE(this.o);
    this.o += 2;
    return v;
  }
  u24(): number {
    this.need(3);
    const v = this.b.readUIntBE(this.o, 3);
    this.o += 3;
    return v;
  }
  u48(): number {
    this.need(6);
    const v = this.b.readUIntBE(this.o, 6);
    this.o += 6;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.b.subarray(this.o, this.o + n);
    this.o += n;
    return v;
  }
  /** An opaque vector with a 1, 2 or 3 byte length prefix, within [min, max]. */
  vector(lenBytes: 1 | 2 | 3, min: number, max: number): Buffer {
    const at = this.o;
    const n = lenBytes === 1 ? this.u8() : lenBytes === 2 ? this.u16() : this.u24();
    if (n < min || n > max) throw new PbxError('parse', `${this.what}: vector length ${n} outside ${min}..${max}`, at);
    return this.bytes(n);
  }
  rest(): Buffer {
    return this.bytes(this.remaining);
  }
  end(): void {
    if (this.remaining !== 0) throw new PbxError('parse', `${this.what}: ${this.remaining} trailing bytes`, this.o);
  }
}

/** Writers for the same vectors. */
export const u8 = (v: number): Buffer => Buffer.from([v & 0xff]);
export function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}
export function u24(v: number): Buffer {
  const b = Buffer.alloc(3);
  b.writeUIntBE(v, 0, 3);
  return b;
}
export function u48(v: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUIntBE(v, 0, 6);
  return b;
}
export function vec(lenBytes: 1 | 2 | 3, body: Buffer): Buffer {
  const max = lenBytes === 1 ? 0xff : lenBytes === 2 ? 0xffff : 0xffffff;
  if (body.length > max) throw new PbxError('limit', `vector of ${body.length} bytes does not fit a ${lenBytes}-byte length`);
  const len = lenBytes === 1 ? u8(body.length) : lenBytes === 2 ? u16(body.length) : u24(body.length);
  return Buffer.concat([len, body]);
}

/** A parse result: a value, or the reason and where it was found. */
export type Parsed<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: PbxError };

export function parsing<T>(fn: () => T): Parsed<T> {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (e instanceof PbxError) return { ok: false, error: e };
    // A bug in our own code, not the peer's bytes; still never escapes a parse.
    return { ok: false, error: new PbxError('parse', e instanceof Error ? e.message : 'unparseable') };
  }
}
