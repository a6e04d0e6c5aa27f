/**
 * Just enough STUN (RFC 5389) for a media port: recognise a Binding request
 * and answer it with the sender's reflexive address in XOR-MAPPED-ADDRESS.
 *
 * What we answer, and why: phones send Binding requests to the box's media
 * ports as NAT keepalives (RFC 6263) or consent/connectivity checks. The box
 * offers no ICE credentials in its SDP yet, so it has no password to check a
 * MESSAGE-INTEGRITY with. It answers every well-formed Binding request, with
 * or without USERNAME, with a success response carrying XOR-MAPPED-ADDRESS
 * and no MESSAGE-INTEGRITY; a request that carried MESSAGE-INTEGRITY is still
 * answered (and counted), since the answer only tells the sender its own
 * address. A client that insists on integrity drops our answer, which costs
 * nothing. FINGERPRINT is added when the request had one (ICE peers use it to
 * demultiplex), and a request whose FINGERPRINT is wrong is dropped.
 * Unknown comprehension-required attributes do not get a 420 error: the
 * request is answered as if they were absent.
 */

/*
 * RFC 5389 6, header, then TLV attributes padded to 4 bytes:
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |0 0|     STUN Message Type     |         Message Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                   Magic Cookie = 0x2112A442                   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                  Transaction ID (96 bits)                     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |         Attribute Type        |      Value Length (bytes)     |
 * |                    Value (padded to 32 bits)  ...             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */

export const STUN_HEADER = 20;
export const STUN_MAGIC_COOKIE = 0x2112a442;
/** A STUN message on a media port never needs more than this. */
export const STUN_MAX_MESSAGE = 1280;

export const STUN_BINDING_REQUEST = 0x0001;
export const STUN_BINDING_INDICATION = 0x0011;
export const STUN_BINDING_SUCCESS = 0x0101;
export const STUN_BINDING_ERROR = 0x0111;

export const ATTR_MAPPED_ADDRESS = 0x0001;
export const ATTR_USERNAME = 0x0006;
export const ATTR_MESSAGE_INTEGRITY = 0x0008;
export const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
export const ATTR_FINGERPRINT = 0x8028;
/** RFC 5389 15.5: CRC-32 of the message XORed with this ("STUN"). */
const FINGERPRINT_XOR = 0x5354554e;

export type StunReject =
  | 'short'             // under 20 bytes, or attribute running past the end
  | 'too-long'
  | 'bad-type'          // top two bits not zero
  | 'bad-cookie'
  | 'bad-length'        // header length not a multiple of 4 or not matching the datagram
  | 'bad-fingerprint';  // FINGERPRINT present but wrong, or not the last attribute

export interface StunAttribute {
  readonly type: number;
  /** Offset of the value within the message. */
  readonly offset: number;
  readonly length: number;
}

export interface StunMessage {
  readonly type: number;
  readonly transactionId: Uint8Array;
  readonly attributes: readonly StunAttribute[];
  readonly hasUsername: boolean;
  readonly hasIntegrity: boolean;
  readonly hasFingerprint: boolean;
}

export type StunParseResult =
  | { readonly ok: true; readonly message: StunMessage }
  | { readonly ok: false; readonly reason: StunReject; readonly offset: number };

export function parseStun(buf: Uint8Array): StunParseResult {
  const len = buf.length;
  if (len < STUN_HEADER) return { ok: false, reason: 'short', offset: 0 };
  if (len > STUN_MAX_MESSAGE) return { ok: false, reason: 'too-long', offset: 0 };
  if (buf[0]! & 0xc0) return { ok: false, reason: 'bad-type', offset: 0 };
  const type = (buf[0]! << 8) | buf[1]!;
  const msgLen = (buf[2]! << 8) | buf[3]!;
  if (readU32(buf, 4) !== STUN_MAGIC_COOKIE) return { ok: false, reason: 'bad-cookie', offset: 4 };
  if (msgLen % 4 !== 0 || msgLen + STUN_HEADER !== len) return { ok: false, reason: 'bad-length', offset: 2 };
  const attributes: StunAttribute[] = [];
  let hasUsername = false;
  let hasIntegrity = false;
  let hasFingerprint = false;
  let off = STUN_HEADER;
  while (off < len) {
    if (off + 4 > len) return { ok: false, reason: 'short', offset: off };
    const atype = (buf[off]! << 8) | buf[off + 1]!;
    const alen = (buf[off + 2]! << 8) | buf[off + 3]!;
    const padded = (alen + 3) & ~3;
    if (off + 4 + padded > len) return { ok: false, reason: 'short', offset: off };
    if (hasFingerprint) return { ok: false, reason: 'bad-fingerprint', offset: off };
    if (atype === ATTR_FINGERPRINT) {
      if (alen !== 4) return { ok: false, reason: 'bad-fingerprint', offset: off };
      const want = (crc32(buf, 0, off) ^ FINGERPRINT_XOR) >>> 0;
      if (readU32(buf, off + 4) !== want) return { ok: false, reason: 'bad-fingerprint', offset: off };
      hasFingerprint = true;
    } else if (!hasIntegrity) {
      // RFC 5389 15.4: everything after MESSAGE-INTEGRITY but FINGERPRINT is ignored.
      if (atype === ATTR_USERNAME) hasUsername = true;
      if (atype === ATTR_MESSAGE_INTEGRITY) hasIntegrity = true;
    }
    attributes.push({ type: atype, offset: off + 4, length: alen });
    off += 4 + padded;
  }
  return {
    ok: true,
    message: { type, transactionId: buf.slice(8, 20), attributes, hasUsername, hasIntegrity, hasFingerprint },
  };
}

export interface MappedAddress {
  readonly address: string;
  readonly port: number;
}

/**
 * A Binding success response to `transactionId` telling the sender it was
 * seen at `mapped` (RFC 5389 10.1.3, XOR-MAPPED-ADDRESS per 15.2).
 * Returns null when the address is neither IPv4 nor IPv6 text.
 */
export function buildBindingSuccess(
  transactionId: Uint8Array,
  mapped: MappedAddress,
  opts: { readonly fingerprint?: boolean } = {},
): Buffer | null {
  const addr = addressBytes(mapped.address);
  if (!addr || transactionId.length !== 12 || !(mapped.port >= 0 && mapped.port <= 0xffff)) return null;
  const xmaLen = 4 + addr.length;
  const total = STUN_HEADER + 4 + xmaLen + (opts.fingerprint ? 8 : 0);
  const out = Buffer.alloc(total);
  out.writeUInt16BE(STUN_BINDING_SUCCESS, 0);
  out.writeUInt16BE(total - STUN_HEADER, 2);
  out.writeUInt32BE(STUN_MAGIC_COOKIE, 4);
  out.set(transactionId, 8);
  let off = STUN_HEADER;
  out.writeUInt16BE(ATTR_XOR_MAPPED_ADDRESS, off);
  out.writeUInt16BE(xmaLen, off + 2);
  out[off + 4] = 0;
  out[off + 5] = addr.length === 4 ? 0x01 : 0x02;
  out.writeUInt16BE(mapped.port ^ (STUN_MAGIC_COOKIE >>> 16), off + 6);
  // The address is XORed with the cookie, then (IPv6) the transaction id:
  // exactly header bytes 4..19.
  for (let i = 0; i < addr.length; i++) out[off + 8 + i] = addr[i]! ^ out[4 + i]!;
  off += 4 + xmaLen;
  if (opts.fingerprint) {
    out.writeUInt16BE(ATTR_FINGERPRINT, off);
    out.writeUInt16BE(4, off + 2);
    out.writeUInt32BE((crc32(out, 0, off) ^ FINGERPRINT_XOR) >>> 0, off + 4);
  }
  return out;
}

/** Decode an XOR-MAPPED-ADDRESS attribute of a parsed message (for clients and tests). */
export function readXorMappedAddress(buf: Uint8Array, msg: StunMessage): MappedAddress | null {
  const attr = msg.attributes.find((a) => a.type === ATTR_XOR_MAPPED_ADDRESS);
  if (!attr || attr.length < 8) return null;
  const family = buf[attr.offset + 1]!;
  const n = family === 0x01 ? 4 : family === 0x02 ? 16 : 0;
  if (n === 0 || attr.length !== 4 + n) return null;
  const port = (((buf[attr.offset + 2]! << 8) | buf[attr.offset + 3]!) ^ (STUN_MAGIC_COOKIE >>> 16)) & 0xffff;
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = buf[attr.offset + 4 + i]! ^ buf[4 + i]!;
  return { address: n === 4 ? bytes.join('.') : formatIpv6(bytes), port };
}

function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

// ---------------------------------------------------------------- helpers

let crcTable: Uint32Array | undefined;

/** CRC-32 (ISO 3309 / ITU-T V.42, the one FINGERPRINT uses) over buf[from, to). */
export function crc32(buf: Uint8Array, from = 0, to = buf.length): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = from; i < to; i++) crc = crcTable[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * IPv4 or IPv6 text to bytes. An IPv4-mapped IPv6 address (what a dual-stack
 * socket reports for an IPv4 sender) becomes the 4-byte IPv4 address, since
 * that is what the sender knows itself as.
 */
export function addressBytes(text: string): Uint8Array | null {
  const v4 = parseIpv4(text);
  if (v4) return v4;
  const v6 = parseIpv6(text);
  if (!v6) return null;
  const mapped = v6.slice(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
  return mapped ? v6.slice(12) : v6;
}

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    out[i] = Number(p);
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | null {
  const zone = text.indexOf('%');
  const s = zone >= 0 ? text.slice(0, zone) : text;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIpv4(p);
        if (!v4) return null;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return null;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null;
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => { out[2 * i] = g >> 8; out[2 * i + 1] = g & 0xff; });
  return out;
}

/** RFC 5952 text: lower case, leading zeros dropped, the longest run of 2+ zero groups as '::'. */
function formatIpv6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(g);
  return `${hex(g.slice(0, bestAt))}::${hex(g.slice(bestAt + bestLen))}`;
}
