/**
 * ZRTP packets and messages (RFC 6189 5): plain readonly data and pure
 * parse/serialize functions. Nothing here keys or checks a MAC; that is the
 * endpoint's work with the hash chain (RFC 6189 9). Every rejection is a
 * reason string the endpoint counts; nothing here throws on input.
 *
 * The packet (RFC 6189 5, figure 2):
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |0 0 0 1|  not used (zero)      |        sequence number        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |               magic cookie 'ZRTP' (0x5a525450)                |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                      source identifier                        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |              ZRTP message (length in its own header)          |
 *  |                            . . .                              |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |       CRC-32C of all the above (1 word, low byte first)       |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Every message starts with the same three words (RFC 6189 5.1.1):
 *
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |0 1 0 1 0 0 0 0 0 1 0 1 1 0 1 0|    length (32-bit words)      |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |            message type block (8 ASCII characters)            |
 *  |                                                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The length counts the whole message, those three words included.
 */
import { crc32cOk, writeCrc32c } from './crc32c.js';

export const ZRTP_FIRST_BYTE = 0x10;
export const ZRTP_MAGIC_COOKIE = 0x5a525450;
export const ZRTP_PREAMBLE = 0x505a;
export const ZRTP_VERSION = '1.10';
/** Header (12) and CRC (4) around the message. */
export const ZRTP_PACKET_OVERHEAD = 16;
export const ZRTP_HEADER_BYTES = 12;
/** The shortest message (the ACKs): preamble word and type block. */
export const MIN_MESSAGE_WORDS = 3;
/**
 * The longest message we take: a DH3k DHPart (117 words) is the longest of
 * the modes we speak; Hello with seven of every list is 57 words; a Confirm
 * may carry a signature we ignore. 1200 bytes stays inside one UDP datagram
 * on any path.
 */
export const MAX_MESSAGE_BYTES = 1200;
export const MAX_ZRTP_PACKET = MAX_MESSAGE_BYTES + ZRTP_PACKET_OVERHEAD;
/** RFC 6189 5.2: each algorithm count is a 4-bit field, at most 7 entries. */
export const MAX_ALGORITHMS_PER_LIST = 7;
export const HASH_IMAGE_BYTES = 32;
export const ZID_BYTES = 12;
export const MAC_BYTES = 8;
export const CLIENT_ID_BYTES = 16;
export const CFB_IV_BYTES = 16;
/** Hello without its algorithm lists: 22 words (RFC 6189 5.2). */
export const HELLO_FIXED_WORDS = 22;
/** Commit in DH mode (RFC 6189 5.4): 29 words. */
export const COMMIT_DH_WORDS = 29;
/** DHPart1/2 without pv (RFC 6189 5.5, 5.6): 21 words. */
export const DHPART_FIXED_WORDS = 21;
/** Confirm1/2 and SASrelay without a signature (RFC 6189 5.7, 5.13): 19 words. */
export const CONFIRM_WORDS = 19;
export const SASRELAY_WORDS = 19;

export type ZrtpMessageType =
  | 'Hello' | 'HelloACK' | 'Commit' | 'DHPart1' | 'DHPart2' | 'Confirm1' | 'Confirm2' | 'Conf2ACK'
  | 'Error' | 'ErrorACK' | 'GoClear' | 'ClearACK' | 'SASrelay' | 'RelayACK' | 'Ping' | 'PingACK';

export const ZRTP_MESSAGE_TYPES: readonly ZrtpMessageType[] = [
  'Hello', 'HelloACK', 'Commit', 'DHPart1', 'DHPart2', 'Confirm1', 'Confirm2', 'Conf2ACK',
  'Error', 'ErrorACK', 'GoClear', 'ClearACK', 'SASrelay', 'RelayACK', 'Ping', 'PingACK',
];
const TYPE_BY_BLOCK = new Map(ZRTP_MESSAGE_TYPES.map((t) => [t.padEnd(8, ' '), t] as const));

/** RFC 6189 5.9: the error codes. */
export const ZRTP_ERROR = {
  malformed: 0x10, software: 0x20, version: 0x30, helloMismatch: 0x40,
  hashUnsupported: 0x51, cipherUnsupported: 0x52, keyAgreementUnsupported: 0x53, authTagUnsupported: 0x54,
  sasUnsupported: 0x55, noSharedSecret: 0x56, badPublicValue: 0x61, badHvi: 0x62, untrustedMitm: 0x63,
  badConfirmMac: 0x70, nonceReuse: 0x80, equalZids: 0x90, ssrcCollision: 0x91, unavailable: 0xa0,
  timeout: 0xb0, goClearRefused: 0x100,
} as const;

export interface HelloMessage {
  readonly type: 'Hello';
  readonly version: string;
  readonly clientId: string;
  readonly h3: Buffer;
  readonly zid: Buffer;
  /** S: signature capable; M: a trusted MiTM (PBX); P: passive (RFC 6189 5.2). */
  readonly signature: boolean;
  readonly mitm: boolean;
  readonly passive: boolean;
  readonly hashes: readonly string[];
  readonly ciphers: readonly string[];
  readonly authTags: readonly string[];
  readonly keyAgreements: readonly string[];
  readonly sasTypes: readonly string[];
  readonly mac: Buffer;
}

export interface CommitMessage {
  readonly type: 'Commit';
  readonly h2: Buffer;
  readonly zid: Buffer;
  readonly hash: string;
  readonly cipher: string;
  readonly authTag: string;
  readonly keyAgreement: string;
  readonly sasType: string;
  readonly hvi: Buffer;
  readonly mac: Buffer;
}

export interface DhPartMessage {
  readonly type: 'DHPart1' | 'DHPart2';
  readonly h1: Buffer;
  readonly rs1Id: Buffer;
  readonly rs2Id: Buffer;
  readonly auxSecretId: Buffer;
  readonly pbxSecretId: Buffer;
  readonly pv: Buffer;
  readonly mac: Buffer;
}

/** Confirm1/2 and SASrelay as on the wire: the MAC, the IV and the still encrypted rest. */
export interface EncryptedMessage {
  readonly type: 'Confirm1' | 'Confirm2' | 'SASrelay';
  readonly mac: Buffer;
  readonly iv: Buffer;
  readonly encrypted: Buffer;
}

export interface ErrorMessage { readonly type: 'Error'; readonly code: number }
export interface GoClearMessage { readonly type: 'GoClear'; readonly clearMac: Buffer }
export interface PingMessage { readonly type: 'Ping'; readonly version: string; readonly endpointHash: Buffer }
export interface PingAckMessage {
  readonly type: 'PingACK';
  readonly version: string;
  readonly endpointHash: Buffer;
  readonly receivedHash: Buffer;
  readonly ssrc: number;
}
export interface AckMessage { readonly type: 'HelloACK' | 'Conf2ACK' | 'ErrorACK' | 'ClearACK' | 'RelayACK' }

export type ZrtpMessage =
  | HelloMessage | CommitMessage | DhPartMessage | EncryptedMessage | ErrorMessage | GoClearMessage
  | PingMessage | PingAckMessage | AckMessage;

/** Why a packet or message was refused; each is a counter name suffix. */
export type ZrtpParseReject =
  | 'too-short' | 'too-long' | 'not-zrtp' | 'bad-crc' | 'bad-preamble' | 'bad-length' | 'unknown-type'
  | 'bad-field' | 'unsupported-mode';

export type MessageParse =
  | { readonly ok: true; readonly message: ZrtpMessage }
  | { readonly ok: false; readonly reason: ZrtpParseReject; readonly offset: number };

export interface ZrtpPacket {
  readonly sequence: number;
  readonly ssrc: number;
  /** The message's own bytes (preamble to MAC): what hashes and MACs are computed over. */
  readonly messageBytes: Buffer;
  readonly message: ZrtpMessage;
}

export type PacketParse =
  | ({ readonly ok: true } & ZrtpPacket)
  | { readonly ok: false; readonly reason: ZrtpParseReject; readonly offset: number };

/** RFC 7983 / RFC 6189 5: first byte 0x10 and the magic cookie at offset 4 mark a ZRTP packet on a media port. */
export function isZrtpPacket(b: Uint8Array): boolean {
  return b.length >= ZRTP_HEADER_BYTES && b[0] === ZRTP_FIRST_BYTE
    && b[4] === 0x5a && b[5] === 0x52 && b[6] === 0x54 && b[7] === 0x50;
}

function fail(reason: ZrtpParseReject, offset: number): { ok: false; reason: ZrtpParseReject; offset: number } {
  return { ok: false, reason, offset };
}

/** Parse one packet: header, CRC (checked before anything else is read), then the message. */
export function parsePacket(b: Buffer): PacketParse {
  if (b.length < ZRTP_HEADER_BYTES + MIN_MESSAGE_WORDS * 4 + 4) return fail('too-short', 0);
  if (b.length > MAX_ZRTP_PACKET) return fail('too-long', 0);
  if (!isZrtpPacket(b)) return fail('not-zrtp', 0);
  if (b.length % 4 !== 0) return fail('bad-length', 0);
  if (!crc32cOk(b)) return fail('bad-crc', b.length - 4);
  const messageBytes = b.subarray(ZRTP_HEADER_BYTES, b.length - 4);
  const m = parseMessage(messageBytes);
  if (!m.ok) return fail(m.reason, m.offset + ZRTP_HEADER_BYTES);
  return { ok: true, sequence: b.readUInt16BE(2), ssrc: b.readUInt32BE(8), messageBytes, message: m.message };
}

/** Wrap message bytes into a packet with its header and CRC. */
export function serializePacket(sequence: number, ssrc: number, messageBytes: Uint8Array): Buffer {
  const out = Buffer.alloc(ZRTP_HEADER_BYTES + messageBytes.length + 4);
  out[0] = ZRTP_FIRST_BYTE;
  out.writeUInt16BE(sequence & 0xffff, 2);
  out.writeUInt32BE(ZRTP_MAGIC_COOKIE, 4);
  out.writeUInt32BE(ssrc >>> 0, 8);
  out.set(messageBytes, ZRTP_HEADER_BYTES);
  writeCrc32c(out);
  return out;
}

const ascii = (b: Buffer, at: number, n: number): string => b.toString('latin1', at, at + n);
const copy = (b: Buffer, at: number, n: number): Buffer => Buffer.from(b.subarray(at, at + n));
/** Algorithm and type names are 4 printable ASCII characters; a NUL or control byte is a malformed field. */
const PRINTABLE4 = /^[\x20-\x7e]{4}$/;
/** Names shorter than 4 characters are padded with spaces on the wire ("B32 "); the data form has no padding. */
const name = (s: string | undefined): string => (s ?? '').trimEnd();

/*
 * Commit in DH mode (RFC 6189 5.4) and DHPart1/DHPart2 (5.5, 5.6), after the
 * three header words:
 *
 *   Commit                                DHPart1 / DHPart2
 *  |  hash image H2 (8 words)        |   |  hash image H1 (8 words)        |
 *  |  ZID (3 words)                  |   |  rs1ID (2 words)                |
 *  |  hash algorithm     (1 word)    |   |  rs2ID (2 words)                |
 *  |  cipher algorithm   (1 word)    |   |  auxsecretID (2 words)          |
 *  |  auth tag type      (1 word)    |   |  pbxsecretID (2 words)          |
 *  |  key agreement type (1 word)    |   |  pv (96 words DH3k, 16 EC25,    |
 *  |  SAS type           (1 word)    |   |      8 X255)                    |
 *  |  hvi (8 words)                  |   |  MAC (2 words)                  |
 *  |  MAC (2 words)                  |
 *
 * Confirm1/Confirm2/SASrelay: confirm_mac (2 words), CFB IV (4 words), then
 * the encrypted part (below). Error: the error code (1 word). GoClear:
 * clear_mac (2 words). Ping: version (1 word), endpoint hash (2 words).
 * PingACK: version, sender's endpoint hash (2), received endpoint hash (2),
 * SSRC of the Ping (1).
 */
/**
 * Parse one message block. Checks the preamble, that the length word matches
 * the bytes given and the fixed size of the type, then reads fields.
 */
export function parseMessage(b: Buffer): MessageParse {
  if (b.length < MIN_MESSAGE_WORDS * 4) return fail('too-short', 0);
  if (b.length > MAX_MESSAGE_BYTES) return fail('too-long', 0);
  if (b.readUInt16BE(0) !== ZRTP_PREAMBLE) return fail('bad-preamble', 0);
  const words = b.readUInt16BE(2);
  if (words * 4 !== b.length) return fail('bad-length', 2);
  const type = TYPE_BY_BLOCK.get(ascii(b, 4, 8));
  if (type === undefined) return fail('unknown-type', 4);
  const need = (w: number): boolean => words === w;
  switch (type) {
    case 'HelloACK': case 'Conf2ACK': case 'ErrorACK': case 'ClearACK': case 'RelayACK':
      return need(3) ? { ok: true, message: { type } } : fail('bad-length', 2);
    case 'Hello': return parseHello(b, words);
    case 'Commit': {
      if (!need(COMMIT_DH_WORDS)) return fail(words === 25 || words === 27 ? 'unsupported-mode' : 'bad-length', 2);
      const names = [56, 60, 64, 68, 72].map((o) => ascii(b, o, 4));
      if (!names.every((n) => PRINTABLE4.test(n))) return fail('bad-field', 56);
      return {
        ok: true,
        message: {
          type, h2: copy(b, 12, 32), zid: copy(b, 44, 12),
          hash: name(names[0]), cipher: name(names[1]), authTag: name(names[2]),
          keyAgreement: name(names[3]), sasType: name(names[4]),
          hvi: copy(b, 76, 32), mac: copy(b, 108, 8),
        },
      };
    }
    case 'DHPart1': case 'DHPart2': {
      if (words <= DHPART_FIXED_WORDS) return fail('bad-length', 2);
      const pvEnd = b.length - MAC_BYTES;
      return {
        ok: true,
        message: {
          type, h1: copy(b, 12, 32), rs1Id: copy(b, 44, 8), rs2Id: copy(b, 52, 8),
          auxSecretId: copy(b, 60, 8), pbxSecretId: copy(b, 68, 8),
          pv: copy(b, 76, pvEnd - 76), mac: copy(b, pvEnd, 8),
        },
      };
    }
    case 'Confirm1': case 'Confirm2': case 'SASrelay':
      if (words < CONFIRM_WORDS) return fail('bad-length', 2);
      return { ok: true, message: { type, mac: copy(b, 12, 8), iv: copy(b, 20, 16), encrypted: copy(b, 36, b.length - 36) } };
    case 'Error':
      return need(4) ? { ok: true, message: { type, code: b.readUInt32BE(12) } } : fail('bad-length', 2);
    case 'GoClear':
      return need(5) ? { ok: true, message: { type, clearMac: copy(b, 12, 8) } } : fail('bad-length', 2);
    case 'Ping':
      return need(6) ? { ok: true, message: { type, version: ascii(b, 12, 4), endpointHash: copy(b, 16, 8) } } : fail('bad-length', 2);
    case 'PingACK':
      return need(9)
        ? {
          ok: true,
          message: {
            type, version: ascii(b, 12, 4), endpointHash: copy(b, 16, 8), receivedHash: copy(b, 24, 8), ssrc: b.readUInt32BE(32),
          },
        }
        : fail('bad-length', 2);
  }
}

/*
 * Hello (RFC 6189 5.2), after the three header words:
 *
 *  |                 version "1.10" (1 word)                       |
 *  |                 client identifier (4 words)                   |
 *  |                 hash image H3 (8 words)                       |
 *  |                 ZID (3 words)                                 |
 *  |0|S|M|P| unused (zeros)|  hc   |  cc   |  ac   |  kc   |  sc   |
 *  |  hc hash types, cc ciphers, ac auth tags, kc key agreements,  |
 *  |  sc SAS types: one word each                                  |
 *  |                 MAC (2 words)                                 |
 */
function parseHello(b: Buffer, words: number): MessageParse {
  if (words < HELLO_FIXED_WORDS) return fail('bad-length', 2);
  const flags = b[76] as number;
  const c0 = b[77] as number; const c1 = b[78] as number; const c2 = b[79] as number;
  const counts = [c0 & 0x0f, c1 >> 4, c1 & 0x0f, c2 >> 4, c2 & 0x0f];
  if (counts.some((c) => c > MAX_ALGORITHMS_PER_LIST)) return fail('bad-field', 77);
  const total = counts.reduce((a, c) => a + c, 0);
  if (words !== HELLO_FIXED_WORDS + total) return fail('bad-length', 2);
  const lists: string[][] = [];
  let at = 80;
  for (const c of counts) {
    const list: string[] = [];
    for (let i = 0; i < c; i++, at += 4) {
      const n = ascii(b, at, 4);
      if (!PRINTABLE4.test(n)) return fail('bad-field', at);
      list.push(name(n));
    }
    lists.push(list);
  }
  const version = ascii(b, 12, 4);
  if (!PRINTABLE4.test(version)) return fail('bad-field', 12);
  return {
    ok: true,
    message: {
      type: 'Hello', version, clientId: ascii(b, 16, 16), h3: copy(b, 32, 32), zid: copy(b, 64, 12),
      signature: (flags & 0x40) !== 0, mitm: (flags & 0x20) !== 0, passive: (flags & 0x10) !== 0,
      hashes: lists[0] as string[], ciphers: lists[1] as string[], authTags: lists[2] as string[],
      keyAgreements: lists[3] as string[], sasTypes: lists[4] as string[], mac: copy(b, at, 8),
    },
  };
}

class Writer {
  private readonly parts: Buffer[] = [];
  bytes(b: Uint8Array): this { this.parts.push(Buffer.from(b)); return this; }
  text(s: string, n: number): this { this.parts.push(Buffer.from(s.padEnd(n, ' ').slice(0, n), 'latin1')); return this; }
  u32(v: number): this { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); this.parts.push(b); return this; }
  /** The header words go first once the length is known. */
  done(type: ZrtpMessageType): Buffer {
    const body = Buffer.concat(this.parts);
    const head = Buffer.alloc(12);
    head.writeUInt16BE(ZRTP_PREAMBLE, 0);
    head.writeUInt16BE((body.length + 12) / 4, 2);
    head.write(type.padEnd(8, ' '), 4, 'latin1');
    return Buffer.concat([head, body]);
  }
}

function fixed(b: Uint8Array, n: number, what: string): Uint8Array {
  if (b.length !== n) throw new RangeError(`${what} must be ${n} bytes`);
  return b;
}

/**
 * Serialize a message. The MAC fields are written as given; callers that
 * compute a MAC serialize with a zero MAC, MAC the bytes before it and patch
 * it in (see withMac). Throws RangeError only for our own bad arguments.
 */
export function serializeMessage(m: ZrtpMessage): Buffer {
  const w = new Writer();
  switch (m.type) {
    case 'HelloACK': case 'Conf2ACK': case 'ErrorACK': case 'ClearACK': case 'RelayACK':
      return w.done(m.type);
    case 'Hello': {
      const lists = [m.hashes, m.ciphers, m.authTags, m.keyAgreements, m.sasTypes];
      if (lists.some((l) => l.length > MAX_ALGORITHMS_PER_LIST)) throw new RangeError('too many algorithms in a Hello list');
      const flags = (m.signature ? 0x40 : 0) | (m.mitm ? 0x20 : 0) | (m.passive ? 0x10 : 0);
      const c = lists.map((l) => l.length) as [number, number, number, number, number];
      w.text(m.version, 4).text(m.clientId, 16).bytes(fixed(m.h3, 32, 'H3')).bytes(fixed(m.zid, 12, 'ZID'))
        .bytes(Uint8Array.of(flags, c[0], (c[1] << 4) | c[2], (c[3] << 4) | c[4]));
      for (const l of lists) for (const n of l) w.text(n, 4);
      return w.bytes(fixed(m.mac, 8, 'MAC')).done('Hello');
    }
    case 'Commit':
      return w.bytes(fixed(m.h2, 32, 'H2')).bytes(fixed(m.zid, 12, 'ZID')).text(m.hash, 4).text(m.cipher, 4).text(m.authTag, 4)
        .text(m.keyAgreement, 4).text(m.sasType, 4).bytes(fixed(m.hvi, 32, 'hvi')).bytes(fixed(m.mac, 8, 'MAC')).done('Commit');
    case 'DHPart1': case 'DHPart2':
      if (m.pv.length === 0 || m.pv.length % 4 !== 0) throw new RangeError('pv must be whole words');
      return w.bytes(fixed(m.h1, 32, 'H1')).bytes(fixed(m.rs1Id, 8, 'rs1ID')).bytes(fixed(m.rs2Id, 8, 'rs2ID'))
        .bytes(fixed(m.auxSecretId, 8, 'auxsecretID')).bytes(fixed(m.pbxSecretId, 8, 'pbxsecretID')).bytes(m.pv)
        .bytes(fixed(m.mac, 8, 'MAC')).done(m.type);
    case 'Confirm1': case 'Confirm2': case 'SASrelay':
      if (m.encrypted.length % 4 !== 0) throw new RangeError('encrypted part must be whole words');
      return w.bytes(fixed(m.mac, 8, 'MAC')).bytes(fixed(m.iv, 16, 'IV')).bytes(m.encrypted).done(m.type);
    case 'Error':
      return w.u32(m.code).done('Error');
    case 'GoClear':
      return w.bytes(fixed(m.clearMac, 8, 'clear_mac')).done('GoClear');
    case 'Ping':
      return w.text(m.version, 4).bytes(fixed(m.endpointHash, 8, 'endpoint hash')).done('Ping');
    case 'PingACK':
      return w.text(m.version, 4).bytes(fixed(m.endpointHash, 8, 'endpoint hash'))
        .bytes(fixed(m.receivedHash, 8, 'received hash')).u32(m.ssrc).done('PingACK');
  }
}

/*
 * The encrypted part of Confirm1/Confirm2 (RFC 6189 5.7), once decrypted:
 *
 *  |                 hash preimage H0 (8 words)                    |
 *  |  padding (15 bits, zero)  | sig len (9 bits) |0 0 0 0|E|V|A|D|
 *  |                 cache expiration interval (1 word)            |
 *  |                 optional signature block (sig len words)      |
 *
 * and of SASrelay (RFC 6189 5.13):
 *
 *  |  padding (15 bits, zero)  | sig len (9 bits) |0 0 0 0|0|V|A|D|
 *  |                 rendering scheme of the relayed SAS (1 word)  |
 *  |                 trusted MiTM (relayed) sashash (8 words)      |
 *  |                 optional signature block (sig len words)      |
 */
export interface ConfirmPlain {
  readonly h0: Buffer;
  /** E: PBX enrollment (7.3.1), V: SAS verified (7.1), A: allow clear (4.7.2), D: disclosure (11). */
  readonly enroll: boolean;
  readonly sasVerified: boolean;
  readonly allowClear: boolean;
  readonly disclosure: boolean;
  /** Seconds; 0xffffffff means forever (RFC 6189 4.9). */
  readonly cacheExpiration: number;
}

export interface SasRelayPlain {
  readonly sasVerified: boolean;
  readonly allowClear: boolean;
  readonly disclosure: boolean;
  readonly renderingScheme: string;
  readonly sasHash: Buffer;
}

function flagWord(sigWords: number, e: boolean, v: boolean, a: boolean, d: boolean): number {
  return ((sigWords & 0x1ff) << 8) | (e ? 8 : 0) | (v ? 4 : 0) | (a ? 2 : 0) | (d ? 1 : 0);
}

export function serializeConfirmPlain(c: ConfirmPlain): Buffer {
  const b = Buffer.alloc(40);
  b.set(fixed(c.h0, 32, 'H0'), 0);
  b.writeUInt32BE(flagWord(0, c.enroll, c.sasVerified, c.allowClear, c.disclosure), 32);
  b.writeUInt32BE(c.cacheExpiration >>> 0, 36);
  return b;
}

export function parseConfirmPlain(b: Buffer): ConfirmPlain | undefined {
  if (b.length < 40) return undefined;
  const f = b.readUInt32BE(32);
  const sigWords = (f >>> 8) & 0x1ff;
  if (b.length !== 40 + sigWords * 4) return undefined;
  return {
    h0: copy(b, 0, 32), enroll: (f & 8) !== 0, sasVerified: (f & 4) !== 0, allowClear: (f & 2) !== 0, disclosure: (f & 1) !== 0,
    cacheExpiration: b.readUInt32BE(36),
  };
}

export function serializeSasRelayPlain(s: SasRelayPlain): Buffer {
  const b = Buffer.alloc(40);
  b.writeUInt32BE(flagWord(0, false, s.sasVerified, s.allowClear, s.disclosure), 0);
  b.write(s.renderingScheme.padEnd(4, ' ').slice(0, 4), 4, 'latin1');
  b.set(fixed(s.sasHash, 32, 'sashash'), 8);
  return b;
}

export function parseSasRelayPlain(b: Buffer): SasRelayPlain | undefined {
  if (b.length < 40) return undefined;
  const f = b.readUInt32BE(0);
  const sigWords = (f >>> 8) & 0x1ff;
  if (b.length !== 40 + sigWords * 4) return undefined;
  return {
    sasVerified: (f & 4) !== 0, allowClear: (f & 2) !== 0, disclosure: (f & 1) !== 0,
    renderingScheme: name(ascii(b, 4, 4)), sasHash: copy(b, 8, 32),
  };
}
