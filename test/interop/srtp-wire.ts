import { createCipheriv, createHmac, timingSafeEqual } from 'node:crypto';

/*
 * An independent check of SRTP/SRTCP seen on the wire (RFC 3711, AES-CM with
 * HMAC-SHA1, RFC 6188 for the 256-bit keys), written on Node's own AES and
 * HMAC so the test does not trust the box's SRTP code to judge the box:
 * given the a=crypto keys a phone was told, does a captured packet
 * authenticate under one of them, and what audio does it carry?
 */

export interface SdesKey {
  readonly suite: string;
  /** The inline key as signalled (base64 of master key || master salt); a test-only secret. */
  readonly inline: string;
}

interface Suite { readonly keyLen: number; readonly tagLen: number; readonly rtcpTagLen: number }
const SUITES: Readonly<Record<string, Suite>> = {
  AES_CM_128_HMAC_SHA1_80: { keyLen: 16, tagLen: 10, rtcpTagLen: 10 },
  AES_CM_128_HMAC_SHA1_32: { keyLen: 16, tagLen: 4, rtcpTagLen: 10 },
  AES_256_CM_HMAC_SHA1_80: { keyLen: 32, tagLen: 10, rtcpTagLen: 10 },
  AES_256_CM_HMAC_SHA1_32: { keyLen: 32, tagLen: 4, rtcpTagLen: 10 },
};
const SALT_LEN = 14;
const AUTH_KEY_LEN = 20;

/** Every `a=crypto:` line in a text (SDP bodies in a client's log), in order; duplicates dropped. */
export function cryptoKeys(text: string): SdesKey[] {
  const seen = new Map<string, SdesKey>();
  for (const m of text.matchAll(/a=crypto:\d+ ([A-Z0-9_]+) inline:([A-Za-z0-9+/=]+)/g)) {
    seen.set(`${m[1]} ${m[2]}`, { suite: m[1]!, inline: m[2]! });
  }
  return [...seen.values()];
}

interface Derived { readonly cipher: string; readonly encKey: Buffer; readonly authKey: Buffer; readonly salt: Buffer; readonly tagLen: number }
export interface Session { readonly key: SdesKey; readonly rtp: Derived; readonly rtcp: Derived }

function aesCtr(cipher: string, key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const c = createCipheriv(cipher, key, iv);
  return Buffer.concat([c.update(data), c.final()]);
}

/** RFC 3711 4.3.1 with kdr 0: x = (label << 48) XOR salt, keystream from IV x * 2^16. */
function prf(cipher: string, masterKey: Buffer, masterSalt: Buffer, label: number, len: number): Buffer {
  const iv = Buffer.alloc(16);
  masterSalt.copy(iv, 0);
  iv[7]! ^= label;
  return aesCtr(cipher, masterKey, iv, Buffer.alloc(len));
}

export function session(key: SdesKey): Session | undefined {
  const s = SUITES[key.suite];
  if (!s) return undefined;
  const raw = Buffer.from(key.inline, 'base64');
  if (raw.length !== s.keyLen + SALT_LEN) return undefined;
  const mk = raw.subarray(0, s.keyLen);
  const ms = raw.subarray(s.keyLen);
  const cipher = s.keyLen === 16 ? 'aes-128-ctr' : 'aes-256-ctr';
  const derive = (base: number, tagLen: number): Derived => ({
    cipher, tagLen,
    encKey: prf(cipher, mk, ms, base, s.keyLen),
    authKey: prf(cipher, mk, ms, base + 1, AUTH_KEY_LEN),
    salt: prf(cipher, mk, ms, base + 2, SALT_LEN),
  });
  return { key, rtp: derive(0, s.tagLen), rtcp: derive(3, s.rtcpTagLen) };
}

/** IV = (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16), index 48 bits. */
function packetIv(salt: Buffer, ssrc: number, index: bigint): Buffer {
  const iv = Buffer.alloc(16);
  salt.copy(iv, 0);
  iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
  for (let i = 0; i < 6; i++) iv[13 - i]! ^= Number((index >> BigInt(8 * i)) & 0xffn);
  return iv;
}

function tagOk(d: Derived, authed: Buffer, tag: Buffer): boolean {
  const full = createHmac('sha1', d.authKey).update(authed).digest().subarray(0, d.tagLen);
  return tag.length === d.tagLen && timingSafeEqual(full, tag);
}

/** RTP header length (12 + CSRCs + extension). */
function headerLen(p: Buffer): number {
  let n = 12 + 4 * (p[0]! & 0x0f);
  if (p[0]! & 0x10) n += 4 + 4 * p.readUInt16BE(n + 2);
  return n;
}

/**
 * An SRTP packet's clear payload when it authenticates under `s` with
 * rollover counter `roc`; undefined otherwise.
 */
export function openRtp(s: Session, roc: number, p: Buffer): Buffer | undefined {
  const d = s.rtp;
  const h = headerLen(p);
  if (p.length < h + d.tagLen) return undefined;
  const body = p.subarray(0, p.length - d.tagLen);
  const rocBuf = Buffer.alloc(4);
  rocBuf.writeUInt32BE(roc >>> 0);
  if (!tagOk(d, Buffer.concat([body, rocBuf]), p.subarray(p.length - d.tagLen))) return undefined;
  const index = (BigInt(roc >>> 0) << 16n) | BigInt(p.readUInt16BE(2));
  return aesCtr(d.cipher, d.encKey, packetIv(d.salt, p.readUInt32BE(8), index), body.subarray(h));
}

/** Whether an SRTCP packet (E flag and index after the compound, then the tag) authenticates under `s`. */
export function rtcpAuthentic(s: Session, p: Buffer): boolean {
  const d = s.rtcp;
  if (p.length < 8 + 4 + d.tagLen) return false;
  const authed = p.subarray(0, p.length - d.tagLen);
  return (authed.readUInt32BE(authed.length - 4) & 0x80000000) !== 0 && tagOk(d, authed, p.subarray(p.length - d.tagLen));
}

/**
 * Follows one sender's rollover counter per SSRC from the order packets were
 * captured in (RFC 3711 3.3.1's estimate), and opens each packet under the
 * first of `sessions` it authenticates with. A send context that restarted
 * under a fresh key may begin again at ROC 0, so that is tried too.
 */
export class SrtpOpener {
  private readonly last = new Map<number, { seq: number; roc: number }>();
  constructor(private readonly sessions: readonly Session[]) {}

  open(p: Buffer): { payload: Buffer; key: SdesKey } | undefined {
    if (p.length < 12) return undefined;
    const ssrc = p.readUInt32BE(8);
    const seq = p.readUInt16BE(2);
    const prev = this.last.get(ssrc);
    let roc = prev?.roc ?? 0;
    if (prev && seq < prev.seq && prev.seq - seq > 0x8000) roc++;
    else if (prev && seq > prev.seq && seq - prev.seq > 0x8000) roc--;
    for (const r of new Set([roc, roc - 1, roc + 1, 0].filter((x) => x >= 0))) {
      for (const s of this.sessions) {
        const payload = openRtp(s, r, p);
        if (payload) {
          if (!prev || r > prev.roc || (r === prev.roc && seq > prev.seq)) this.last.set(ssrc, { seq, roc: r });
          return { payload, key: s.key };
        }
      }
    }
    return undefined;
  }
}

/** G.711 mu-law to 16-bit linear (ITU-T G.711). */
export function ulawToPcm(bytes: Buffer): Int16Array {
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const u = ~bytes[i]! & 0xff;
    const mag = ((((u & 0x0f) << 3) + 0x84) << ((u >> 4) & 7)) - 0x84;
    out[i] = u & 0x80 ? -mag : mag;
  }
  return out;
}

export interface LoggedSip { readonly dir: 'sent' | 'received'; readonly startLine: string; readonly keys: readonly SdesKey[] }

/**
 * The SIP messages in linphonec's debug log (-d 6): belle-sip writes each one
 * after a `message sent to [...]` or `received [N] new bytes from [...]` line.
 * Over TLS this is the only place a test can read the SDP's keys.
 */
export function linphoneSip(log: string): LoggedSip[] {
  const out: LoggedSip[] = [];
  const entries = log.split(/\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3} )/);
  for (const e of entries) {
    const nl = e.indexOf('\n');
    if (nl < 0) continue;
    const head = e.slice(0, nl);
    const dir = /: message sent to \[/.test(head) ? 'sent' : /: received \[\d+\] new bytes from \[/.test(head) ? 'received' : undefined;
    if (!dir) continue;
    const body = e.slice(nl + 1);
    out.push({ dir, startLine: body.split(/\r?\n/, 1)[0] ?? '', keys: cryptoKeys(body) });
  }
  return out;
}
