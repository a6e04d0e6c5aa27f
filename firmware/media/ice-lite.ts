/**
 * ICE-lite on a media port (RFC 8445 2.5): the box has one host candidate
 * per leg, never checks anything itself, and answers the phone's
 * connectivity checks, STUN Binding requests under short-term credentials
 * (RFC 5389 10.1, RFC 8445 7.2.2):
 *
 * - USERNAME is "<our ufrag>:<its ufrag>" (the receiver's fragment first);
 * - MESSAGE-INTEGRITY is HMAC-SHA1 keyed with our a=ice-pwd over the message
 *   up to the attribute, with the header's length counting the attribute
 *   itself (RFC 5389 15.4);
 * - the answer carries XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY under the same
 *   password, and FINGERPRINT.
 *
 * A check that fails any of these is dropped and counted, never answered:
 * the box tells a stranger nothing, and an answer could be a reflection.
 * Because the credentials came in the SDP over the signalling path, an
 * authenticated check proves it comes from the phone that got our SDP, so
 * it may choose where the box sends (the browser's SDP gives no usable
 * c= address: 0.0.0.0 and port 9, RFC 8839 5.1): the first authenticated
 * check, and later one with USE-CANDIDATE (the controlling agent nominates,
 * RFC 8445 8.1.1), set the leg's target.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IceLiteSpec } from './api.js';
import { buildBindingSuccess, crc32, STUN_HEADER, ATTR_MESSAGE_INTEGRITY, ATTR_USERNAME, type MappedAddress, type StunMessage } from './stun.js';

export const ATTR_PRIORITY = 0x0024;
export const ATTR_USE_CANDIDATE = 0x0025;
export const ATTR_ICE_CONTROLLED = 0x8029;
export const ATTR_ICE_CONTROLLING = 0x802a;
/** RFC 5389 15.4: an HMAC-SHA1 of 20 bytes. */
const INTEGRITY_LENGTH = 20;
/** RFC 8839 5.4: ice-ufrag is 4..256 characters, ice-pwd 22..256. */
export const MAX_ICE_CREDENTIAL = 256;

export type IceCheckReject = 'ice-no-username' | 'ice-bad-username' | 'ice-no-integrity' | 'ice-bad-integrity';

export interface IceCheck {
  /** The controlling agent nominated this pair. */
  readonly useCandidate: boolean;
}

/**
 * Whether a parsed Binding request is a genuine check for this leg.
 * `buf` is the whole datagram `msg` was parsed from.
 */
export function verifyCheck(buf: Uint8Array, msg: StunMessage, ice: IceLiteSpec): IceCheck | IceCheckReject {
  const user = msg.attributes.find((a) => a.type === ATTR_USERNAME);
  if (!user) return 'ice-no-username';
  const username = Buffer.from(buf.subarray(user.offset, user.offset + user.length)).toString('utf8');
  const want = ice.remoteUfrag !== undefined ? `${ice.localUfrag}:${ice.remoteUfrag}` : undefined;
  if (want !== undefined ? username !== want : !username.startsWith(`${ice.localUfrag}:`)) return 'ice-bad-username';
  const mi = msg.attributes.find((a) => a.type === ATTR_MESSAGE_INTEGRITY);
  if (!mi) return 'ice-no-integrity';
  if (mi.length !== INTEGRITY_LENGTH) return 'ice-bad-integrity';
  const start = mi.offset - 4;
  const expected = integrity(buf.subarray(0, start), start + 4 + INTEGRITY_LENGTH - STUN_HEADER, ice.localPwd);
  const got = buf.subarray(mi.offset, mi.offset + INTEGRITY_LENGTH);
  if (!timingSafeEqual(expected, got)) return 'ice-bad-integrity';
  // Attributes after MESSAGE-INTEGRITY (but FINGERPRINT) are not authenticated: read USE-CANDIDATE only before it.
  const useCandidate = msg.attributes.some((a) => a.type === ATTR_USE_CANDIDATE && a.offset < mi.offset);
  return { useCandidate };
}

/** HMAC-SHA1 of `head` (the message up to the MESSAGE-INTEGRITY attribute) with its length field set to `length`. */
function integrity(head: Uint8Array, length: number, pwd: string): Buffer {
  const copy = Buffer.from(head);
  copy.writeUInt16BE(length, 2);
  return createHmac('sha1', Buffer.from(pwd, 'utf8')).update(copy).digest();
}

/**
 * The Binding success response to a verified check: XOR-MAPPED-ADDRESS,
 * MESSAGE-INTEGRITY under our password, FINGERPRINT. Null when the address
 * is not IP text.
 */
export function buildCheckSuccess(transactionId: Uint8Array, mapped: MappedAddress, pwd: string): Buffer | null {
  const base = buildBindingSuccess(transactionId, mapped);
  if (!base) return null;
  const miAt = base.length;
  const withMi = Buffer.alloc(miAt + 4 + INTEGRITY_LENGTH);
  base.copy(withMi);
  withMi.writeUInt16BE(ATTR_MESSAGE_INTEGRITY, miAt);
  withMi.writeUInt16BE(INTEGRITY_LENGTH, miAt + 2);
  integrity(base, withMi.length - STUN_HEADER, pwd).copy(withMi, miAt + 4);
  withMi.writeUInt16BE(withMi.length - STUN_HEADER, 2);
  return appendFingerprint(withMi);
}

/** A Binding request as a controlling ICE agent sends it (for tests and tools): USERNAME, PRIORITY, USE-CANDIDATE, MESSAGE-INTEGRITY, FINGERPRINT. */
export function buildCheck(transactionId: Uint8Array, username: string, pwd: string, o: { readonly useCandidate?: boolean } = {}): Buffer {
  const user = Buffer.from(username, 'utf8');
  const attrs: Buffer[] = [attr(ATTR_USERNAME, user), attr(ATTR_PRIORITY, Buffer.from([0x6e, 0x00, 0x1e, 0xff]))];
  if (o.useCandidate) attrs.push(attr(ATTR_USE_CANDIDATE, Buffer.alloc(0)));
  attrs.push(attr(ATTR_ICE_CONTROLLING, Buffer.alloc(8, 7)));
  const body = Buffer.concat(attrs);
  const head = Buffer.alloc(STUN_HEADER);
  head.writeUInt16BE(0x0001, 0);
  head.writeUInt32BE(0x2112a442, 4);
  Buffer.from(transactionId).copy(head, 8);
  const pre = Buffer.concat([head, body]);
  const mi = integrity(pre, pre.length + 4 + INTEGRITY_LENGTH - STUN_HEADER, pwd);
  const out = Buffer.concat([pre, attr(ATTR_MESSAGE_INTEGRITY, mi)]);
  out.writeUInt16BE(out.length - STUN_HEADER, 2);
  return appendFingerprint(out);
}

function attr(type: number, value: Buffer): Buffer {
  const padded = (value.length + 3) & ~3;
  const out = Buffer.alloc(4 + padded);
  out.writeUInt16BE(type, 0);
  out.writeUInt16BE(value.length, 2);
  value.copy(out, 4);
  return out;
}

function appendFingerprint(msg: Buffer): Buffer {
  const out = Buffer.alloc(msg.length + 8);
  msg.copy(out);
  out.writeUInt16BE(out.length - STUN_HEADER, 2);
  out.writeUInt16BE(0x8028, msg.length);
  out.writeUInt16BE(4, msg.length + 2);
  out.writeUInt32BE((crc32(out, 0, msg.length) ^ 0x5354554e) >>> 0, msg.length + 4);
  return out;
}
