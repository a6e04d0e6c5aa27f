import { PbxError } from '../../core/index.js';
import {
  MAX_CERTIFICATES, MAX_COOKIE, MAX_EXTENSIONS, MAX_FRAGMENTS_PER_MESSAGE, MAX_HANDSHAKE_MESSAGE, MAX_LIST_ENTRIES, MAX_PENDING_MESSAGES,
} from './limits.js';
import { Reader, parsing, u16, u24, u8, vec, type Parsed } from './wire.js';

/** Handshake message types (RFC 5246 7.4, RFC 6347 4.2.2). */
export const HandshakeType = {
  helloRequest: 0, clientHello: 1, serverHello: 2, helloVerifyRequest: 3, certificate: 11, serverKeyExchange: 12,
  certificateRequest: 13, serverHelloDone: 14, certificateVerify: 15, clientKeyExchange: 16, finished: 20,
} as const;
export type HandshakeTypeValue = (typeof HandshakeType)[keyof typeof HandshakeType];
const TYPES: ReadonlySet<number> = new Set(Object.values(HandshakeType));

export const HANDSHAKE_HEADER = 12;

export interface HandshakeFragment {
  readonly msgType: HandshakeTypeValue;
  /** Length of the whole message body. */
  readonly length: number;
  readonly messageSeq: number;
  readonly fragmentOffset: number;
  readonly body: Buffer;
}

/*
 * DTLS handshake header (RFC 6347 4.2.2), 12 bytes, then the fragment:
 *
 *   0               1               2               3
 *   +---------------+---------------+---------------+---------------+
 *   |   msg_type    |        length (24 bits, whole message)        |
 *   +---------------+---------------+---------------+---------------+
 *   |      message_seq (16)         |  fragment_offset (24) ...     |
 *   +---------------+---------------+---------------+---------------+
 *   | ... offset    |       fragment_length (24 bits)               |
 *   +---------------+---------------+---------------+---------------+
 *
 * One record may hold several fragments back to back.
 */
export function parseHandshakeFragments(fragment: Buffer): Parsed<readonly HandshakeFragment[]> {
  return parsing(() => {
    const r = new Reader(fragment, 'DTLS handshake');
    const out: HandshakeFragment[] = [];
    while (r.remaining > 0) {
      if (out.length >= MAX_FRAGMENTS_PER_MESSAGE) throw new PbxError('limit', 'too many fragments in one record', r.offset);
      const at = r.offset;
      const t = r.u8();
      if (!TYPES.has(t)) throw new PbxError('parse', `unknown handshake type ${t}`, at);
      const length = r.u24();
      if (length > MAX_HANDSHAKE_MESSAGE) throw new PbxError('limit', `handshake message of ${length} bytes`, at + 1);
      const messageSeq = r.u16();
      const fragmentOffset = r.u24();
      const fragmentLength = r.u24();
      if (fragmentOffset + fragmentLength > length) throw new PbxError('parse', 'fragment runs past the message', at + 6);
      out.push({ msgType: t as HandshakeTypeValue, length, messageSeq, fragmentOffset, body: r.bytes(fragmentLength) });
    }
    return out;
  });
}

export function serializeFragment(f: HandshakeFragment): Buffer {
  return Buffer.concat([u8(f.msgType), u24(f.length), u16(f.messageSeq), u24(f.fragmentOffset), u24(f.body.length), f.body]);
}

/** A whole message as it enters the transcript: a single fragment from offset 0 (RFC 6347 4.2.6). */
export interface HandshakeMessage {
  readonly msgType: HandshakeTypeValue;
  readonly messageSeq: number;
  readonly body: Buffer;
}
export const transcriptBytes = (m: HandshakeMessage): Buffer =>
  serializeFragment({ msgType: m.msgType, length: m.body.length, messageSeq: m.messageSeq, fragmentOffset: 0, body: m.body });

/** Cuts a message into fragments whose bodies hold at most `room` bytes. */
export function fragmentMessage(m: HandshakeMessage, room: number): HandshakeFragment[] {
  const out: HandshakeFragment[] = [];
  const step = Math.max(1, room);
  for (let off = 0; off < m.body.length || off === 0; off += step) {
    out.push({ msgType: m.msgType, length: m.body.length, messageSeq: m.messageSeq, fragmentOffset: off, body: m.body.subarray(off, off + step) });
    if (m.body.length === 0) break;
  }
  return out;
}

export type ReassemblyDrop = 'dtls-hs-old' | 'dtls-hs-ahead' | 'dtls-hs-inconsistent' | 'dtls-hs-fragments';

interface Partial {
  readonly msgType: HandshakeTypeValue;
  readonly body: Buffer;
  /** Received byte ranges [start, end), merged and sorted. */
  ranges: [number, number][];
  fragments: number;
}

/**
 * Reassembles handshake messages in message_seq order (RFC 6347 4.2.3).
 * It holds at most MAX_PENDING_MESSAGES messages from the next expected
 * one on, each at most MAX_HANDSHAKE_MESSAGE bytes and MAX_FRAGMENTS_PER_MESSAGE
 * fragments; anything outside is a drop reason, for the caller to count.
 */
export class Reassembler {
  private nextSeq = 0;
  private readonly partial = new Map<number, Partial>();

  get expected(): number {
    return this.nextSeq;
  }

  /** Adds one fragment; returns a drop reason, or undefined when it was taken (or was an exact duplicate of data held). */
  add(f: HandshakeFragment): ReassemblyDrop | undefined {
    if (f.messageSeq < this.nextSeq) return 'dtls-hs-old';
    if (f.messageSeq >= this.nextSeq + MAX_PENDING_MESSAGES) return 'dtls-hs-ahead';
    let p = this.partial.get(f.messageSeq);
    if (!p) {
      p = { msgType: f.msgType, body: Buffer.alloc(f.length), ranges: [], fragments: 0 };
      this.partial.set(f.messageSeq, p);
    }
    if (p.msgType !== f.msgType || p.body.length !== f.length) return 'dtls-hs-inconsistent';
    if (++p.fragments > MAX_FRAGMENTS_PER_MESSAGE) {
      this.partial.delete(f.messageSeq);
      return 'dtls-hs-fragments';
    }
    f.body.copy(p.body, f.fragmentOffset);
    const ranges = [...p.ranges, [f.fragmentOffset, f.fragmentOffset + f.body.length] as [number, number]].sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const r of ranges) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
      else merged.push([r[0], r[1]]);
    }
    p.ranges = merged;
    return undefined;
  }

  /** The next message in order, when complete; it is consumed. */
  next(): HandshakeMessage | undefined {
    const p = this.partial.get(this.nextSeq);
    if (!p) return undefined;
    const whole = p.body.length === 0 ? p.fragments > 0 : p.ranges.length === 1 && p.ranges[0]![0] === 0 && p.ranges[0]![1] === p.body.length;
    if (!whole) return undefined;
    this.partial.delete(this.nextSeq);
    return { msgType: p.msgType, messageSeq: this.nextSeq++, body: p.body };
  }

  /** Peeks at whether the next message is complete and of this type (without consuming it). */
  peekType(): HandshakeTypeValue | undefined {
    const p = this.partial.get(this.nextSeq);
    return p?.msgType;
  }

  /** Start expecting `seq` next (the server's first ClientHello after a cookie exchange). */
  reset(seq: number): void {
    this.partial.clear();
    this.nextSeq = seq;
  }
}

// ---------------------------------------------------------------- bodies

export interface Extension {
  readonly type: number;
  readonly data: Buffer;
}

export const ExtensionType = {
  supportedGroups: 10, ecPointFormats: 11, signatureAlgorithms: 13, useSrtp: 14, extendedMasterSecret: 23,
  renegotiationInfo: 0xff01,
} as const;

export interface ClientHello {
  readonly version: number;
  readonly random: Buffer;
  readonly sessionId: Buffer;
  readonly cookie: Buffer;
  readonly cipherSuites: readonly number[];
  readonly compressionMethods: readonly number[];
  readonly extensions: readonly Extension[];
}

export interface ServerHello {
  readonly version: number;
  readonly random: Buffer;
  readonly sessionId: Buffer;
  readonly cipherSuite: number;
  readonly compressionMethod: number;
  readonly extensions: readonly Extension[];
}

export interface HelloVerifyRequest {
  readonly version: number;
  readonly cookie: Buffer;
}

function u16List(b: Buffer, what: string): number[] {
  if (b.length % 2 !== 0) throw new PbxError('parse', `${what}: odd length`);
  if (b.length / 2 > MAX_LIST_ENTRIES) throw new PbxError('limit', `${what}: too many entries`);
  const out: number[] = [];
  for (let i = 0; i < b.length; i += 2) out.push(b.readUInt16BE(i));
  return out;
}
const listBytes = (xs: readonly number[]): Buffer => Buffer.concat(xs.map(u16));

function parseExtensions(r: Reader): Extension[] {
  if (r.remaining === 0) return [];
  const block = new Reader(r.vector(2, 0, 0xffff), 'extensions');
  const out: Extension[] = [];
  const seen = new Set<number>();
  while (block.remaining > 0) {
    if (out.length >= MAX_EXTENSIONS) throw new PbxError('limit', 'too many extensions');
    const type = block.u16();
    // RFC 5246 7.4.1.4: no extension type appears twice.
    if (seen.has(type)) throw new PbxError('parse', `extension ${type} twice`);
    seen.add(type);
    out.push({ type, data: block.vector(2, 0, 0xffff) });
  }
  return out;
}
const serializeExtensions = (xs: readonly Extension[]): Buffer =>
  xs.length === 0 ? Buffer.alloc(0) : vec(2, Buffer.concat(xs.map((x) => Buffer.concat([u16(x.type), vec(2, x.data)]))));

/*
 * ClientHello (RFC 6347 4.2.1 adds the cookie to RFC 5246 7.4.1.2):
 *
 *   client_version (2) | random (32) | session_id <0..32> | cookie <0..255>
 *   | cipher_suites <2..2^16-2> | compression_methods <1..255> | extensions <0..2^16-1>
 */
export function parseClientHello(b: Buffer): Parsed<ClientHello> {
  return parsing(() => {
    const r = new Reader(b, 'ClientHello');
    const version = r.u16();
    const random = r.bytes(32);
    const sessionId = r.vector(1, 0, 32);
    const cookie = r.vector(1, 0, MAX_COOKIE);
    const cipherSuites = u16List(r.vector(2, 2, 0xfffe), 'cipher_suites');
    const compressionMethods = [...r.vector(1, 1, 0xff)];
    const extensions = parseExtensions(r);
    r.end();
    return { version, random, sessionId, cookie, cipherSuites, compressionMethods, extensions };
  });
}
export function serializeClientHello(h: ClientHello): Buffer {
  return Buffer.concat([
    u16(h.version), h.random, vec(1, h.sessionId), vec(1, h.cookie), vec(2, listBytes(h.cipherSuites)),
    vec(1, Buffer.from(h.compressionMethods)), serializeExtensions(h.extensions),
  ]);
}

/* ServerHello: server_version (2) | random (32) | session_id <0..32> | cipher_suite (2) | compression (1) | extensions */
export function parseServerHello(b: Buffer): Parsed<ServerHello> {
  return parsing(() => {
    const r = new Reader(b, 'ServerHello');
    const version = r.u16();
    const random = r.bytes(32);
    const sessionId = r.vector(1, 0, 32);
    const cipherSuite = r.u16();
    const compressionMethod = r.u8();
    const extensions = parseExtensions(r);
    r.end();
    return { version, random, sessionId, cipherSuite, compressionMethod, extensions };
  });
}
export function serializeServerHello(h: ServerHello): Buffer {
  return Buffer.concat([
    u16(h.version), h.random, vec(1, h.sessionId), u16(h.cipherSuite), u8(h.compressionMethod), serializeExtensions(h.extensions),
  ]);
}

/* HelloVerifyRequest (RFC 6347 4.2.1): server_version (2) | cookie <0..255> */
export function parseHelloVerifyRequest(b: Buffer): Parsed<HelloVerifyRequest> {
  return parsing(() => {
    const r = new Reader(b, 'HelloVerifyRequest');
    const version = r.u16();
    const cookie = r.vector(1, 0, MAX_COOKIE);
    r.end();
    return { version, cookie };
  });
}
export const serializeHelloVerifyRequest = (h: HelloVerifyRequest): Buffer => Buffer.concat([u16(h.version), vec(1, h.cookie)]);

/* Certificate (RFC 5246 7.4.2): certificate_list <0..2^24-1> of ASN.1Cert <1..2^24-1>, sender's first. */
export function parseCertificate(b: Buffer): Parsed<readonly Buffer[]> {
  return parsing(() => {
    const r = new Reader(b, 'Certificate');
    const list = new Reader(r.vector(3, 0, 0xffffff), 'certificate_list');
    r.end();
    const out: Buffer[] = [];
    while (list.remaining > 0) {
      if (out.length >= MAX_CERTIFICATES) throw new PbxError('limit', 'too many certificates');
      out.push(list.vector(3, 1, 0xffffff));
    }
    return out;
  });
}
export const serializeCertificate = (certs: readonly Buffer[]): Buffer => vec(3, Buffer.concat(certs.map((c) => vec(3, c))));

export interface ServerKeyExchange {
  readonly namedCurve: number;
  readonly publicKey: Buffer;
  /** The signed parameters as on the wire (curve_type, named curve, point), for the signature input. */
  readonly params: Buffer;
  readonly signatureScheme: number;
  readonly signature: Buffer;
}

/*
 * ServerKeyExchange for ECDHE (RFC 8422 5.4):
 *
 *   curve_type (1) = 3 named_curve | namedcurve (2) | point <1..255>
 *   | SignatureAndHashAlgorithm (2) | signature <0..2^16-1>
 */
export function parseServerKeyExchange(b: Buffer): Parsed<ServerKeyExchange> {
  return parsing(() => {
    const r = new Reader(b, 'ServerKeyExchange');
    if (r.u8() !== 3) throw new PbxError('parse', 'ServerKeyExchange: not a named curve', 0);
    const namedCurve = r.u16();
    const publicKey = r.vector(1, 1, 0xff);
    const params = b.subarray(0, r.offset);
    const signatureScheme = r.u16();
    const signature = r.vector(2, 1, 0xffff);
    r.end();
    return { namedCurve, publicKey, params, signatureScheme, signature };
  });
}
export const serverKeyParams = (namedCurve: number, publicKey: Buffer): Buffer => Buffer.concat([u8(3), u16(namedCurve), vec(1, publicKey)]);
export const serializeServerKeyExchange = (params: Buffer, scheme: number, signature: Buffer): Buffer =>
  Buffer.concat([params, u16(scheme), vec(2, signature)]);

export interface CertificateRequest {
  readonly certificateTypes: readonly number[];
  readonly signatureSchemes: readonly number[];
}
/* CertificateRequest (RFC 5246 7.4.4): certificate_types <1..255> | supported_signature_algorithms <2..2^16-2> | certificate_authorities <0..2^16-1> */
export function parseCertificateRequest(b: Buffer): Parsed<CertificateRequest> {
  return parsing(() => {
    const r = new Reader(b, 'CertificateRequest');
    const certificateTypes = [...r.vector(1, 1, 0xff)];
    const signatureSchemes = u16List(r.vector(2, 2, 0xfffe), 'supported_signature_algorithms');
    r.vector(2, 0, 0xffff);
    r.end();
    return { certificateTypes, signatureSchemes };
  });
}
export const serializeCertificateRequest = (c: CertificateRequest): Buffer =>
  Buffer.concat([vec(1, Buffer.from(c.certificateTypes)), vec(2, listBytes(c.signatureSchemes)), vec(2, Buffer.alloc(0))]);

/* ClientKeyExchange for ECDHE (RFC 8422 5.7): ecdh_Yc <1..255> */
export function parseClientKeyExchange(b: Buffer): Parsed<Buffer> {
  return parsing(() => {
    const r = new Reader(b, 'ClientKeyExchange');
    const p = r.vector(1, 1, 0xff);
    r.end();
    return p;
  });
}
export const serializeClientKeyExchange = (point: Buffer): Buffer => vec(1, point);

export interface DigitallySigned {
  readonly scheme: number;
  readonly signature: Buffer;
}
/* CertificateVerify (RFC 5246 7.4.8): SignatureAndHashAlgorithm (2) | signature <0..2^16-1> */
export function parseCertificateVerify(b: Buffer): Parsed<DigitallySigned> {
  return parsing(() => {
    const r = new Reader(b, 'CertificateVerify');
    const scheme = r.u16();
    const signature = r.vector(2, 1, 0xffff);
    r.end();
    return { scheme, signature };
  });
}
export const serializeCertificateVerify = (d: DigitallySigned): Buffer => Buffer.concat([u16(d.scheme), vec(2, d.signature)]);

// ------------------------------------------------------------ extensions

/*
 * use_srtp (RFC 5764 4.1.1):
 *   SRTPProtectionProfiles <2..2^16-1> (uint16 each) | srtp_mki <0..255>
 */
export interface UseSrtp {
  readonly profiles: readonly number[];
  readonly mki: Buffer;
}
export function parseUseSrtp(b: Buffer): Parsed<UseSrtp> {
  return parsing(() => {
    const r = new Reader(b, 'use_srtp');
    const profiles = u16List(r.vector(2, 2, 0xffff), 'SRTPProtectionProfiles');
    const mki = r.vector(1, 0, 0xff);
    r.end();
    return { profiles, mki };
  });
}
export const serializeUseSrtp = (u: UseSrtp): Buffer => Buffer.concat([vec(2, listBytes(u.profiles)), vec(1, u.mki)]);

/* supported_groups (RFC 8422 5.1.1) and signature_algorithms (RFC 5246 7.4.1.4.1): a uint16 list <2..2^16-1>. */
export function parseU16ListExtension(b: Buffer): Parsed<readonly number[]> {
  return parsing(() => {
    const r = new Reader(b, 'extension list');
    const v = u16List(r.vector(2, 2, 0xffff), 'extension list');
    r.end();
    return v;
  });
}
export const serializeU16ListExtension = (xs: readonly number[]): Buffer => vec(2, listBytes(xs));

/* ec_point_formats (RFC 8422 5.1.2): ec_point_format_list <1..255> */
export function parsePointFormats(b: Buffer): Parsed<readonly number[]> {
  return parsing(() => {
    const r = new Reader(b, 'ec_point_formats');
    const v = [...r.vector(1, 1, 0xff)];
    r.end();
    return v;
  });
}

/* renegotiation_info (RFC 5746 3.2): renegotiated_connection <0..255>; empty on a first handshake. */
export function parseRenegotiationInfo(b: Buffer): Parsed<Buffer> {
  return parsing(() => {
    const r = new Reader(b, 'renegotiation_info');
    const v = r.vector(1, 0, 0xff);
    r.end();
    return v;
  });
}

export const findExtension = (xs: readonly Extension[], type: number): Extension | undefined => xs.find((x) => x.type === type);

/** Alerts (RFC 5246 7.2): level (1) | description (1). */
export interface Alert {
  readonly level: 1 | 2;
  readonly description: number;
}
export const AlertDescription = {
  closeNotify: 0, unexpectedMessage: 10, badRecordMac: 20, handshakeFailure: 40, badCertificate: 42, unsupportedCertificate: 43,
  illegalParameter: 47, decodeError: 50, decryptError: 51, protocolVersion: 70, insufficientSecurity: 71, internalError: 80,
  noRenegotiation: 100, unsupportedExtension: 110,
} as const;
export function parseAlert(b: Buffer): Parsed<Alert> {
  return parsing(() => {
    const r = new Reader(b, 'alert');
    const level = r.u8();
    if (level !== 1 && level !== 2) throw new PbxError('parse', `alert level ${level}`, 0);
    const description = r.u8();
    r.end();
    return { level, description };
  });
}
export const serializeAlert = (a: Alert): Buffer => Buffer.from([a.level, a.description]);
