/**
 * Typed views over the raw attribute lists. Derived on demand, never stored,
 * so the data stays the one truth. A malformed attribute is skipped by its
 * view (a phone's odd a=fmtp must not fail the call), never thrown.
 */
import { isRtpProtocol } from './parse.js';
import {
  MEDIA_PROFILES,
  type Attribute, type Connection, type Direction, type Fmtp, type MediaDescription, type MediaProfile, type RtcpAttribute, type RtpMap,
  type SessionDescription,
} from './types.js';

export const DIRECTIONS: readonly Direction[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];

/** Attribute names compare without regard to case, as most stacks do. */
function same(a: string, b: string): boolean {
  return a.length === b.length && a.toLowerCase() === b.toLowerCase();
}

export function findAttribute(attrs: readonly Attribute[], name: string): Attribute | undefined {
  return attrs.find((a) => same(a.name, name));
}

export function hasAttribute(attrs: readonly Attribute[], name: string): boolean {
  return findAttribute(attrs, name) !== undefined;
}

/** The values of every `a=<name>:<value>` in order (property forms skipped). */
export function attributeValues(attrs: readonly Attribute[], name: string): string[] {
  return attrs.filter((a) => same(a.name, name) && a.value !== null).map((a) => a.value ?? '');
}

function pt(s: string): number | undefined {
  return /^\d{1,3}$/.test(s) && Number(s) <= 127 ? Number(s) : undefined;
}

export function parseRtpMap(value: string): RtpMap | undefined {
  const m = /^(\d{1,3})[ \t]+([^/\s]+)\/(\d{1,10})(?:\/(\d{1,3}))?$/.exec(value.trim());
  const p = m ? pt(m[1] ?? '') : undefined;
  if (!m || p === undefined) return undefined;
  const clockRate = Number(m[3]);
  if (clockRate === 0) return undefined;
  return { pt: p, encoding: m[2] ?? '', clockRate, ...(m[4] !== undefined ? { channels: Number(m[4]) } : {}) };
}

export function rtpMaps(m: MediaDescription): RtpMap[] {
  return attributeValues(m.attributes, 'rtpmap').flatMap((v) => parseRtpMap(v) ?? []);
}

export function parseFmtp(value: string): Fmtp | undefined {
  const m = /^(\d{1,3})(?:[ \t]+(.*))?$/.exec(value.trim());
  const p = m ? pt(m[1] ?? '') : undefined;
  return m && p !== undefined ? { pt: p, params: (m[2] ?? '').trim() } : undefined;
}

export function fmtps(m: MediaDescription): Fmtp[] {
  return attributeValues(m.attributes, 'fmtp').flatMap((v) => parseFmtp(v) ?? []);
}

function positive(m: MediaDescription, name: string): number | undefined {
  const v = attributeValues(m.attributes, name)[0];
  if (v === undefined || !/^\d{1,6}(\.\d+)?$/.test(v.trim())) return undefined;
  const n = Number(v.trim());
  return n > 0 ? n : undefined;
}

/** a=ptime, packet duration in ms (RFC 4566 6). */
export function ptime(m: MediaDescription): number | undefined {
  return positive(m, 'ptime');
}

/** a=maxptime (RFC 4566 6). */
export function maxptime(m: MediaDescription): number | undefined {
  return positive(m, 'maxptime');
}

function directionIn(attrs: readonly Attribute[]): Direction | undefined {
  const a = attrs.find((x) => x.value === null && DIRECTIONS.some((d) => same(d, x.name)));
  return a ? (a.name.toLowerCase() as Direction) : undefined;
}

/** The stream's declared direction: its own attribute, else the session's, else sendrecv (RFC 4566 6, RFC 3264 5.1). */
export function directionOf(sd: SessionDescription, m: MediaDescription): Direction {
  return directionIn(m.attributes) ?? directionIn(sd.attributes) ?? 'sendrecv';
}

export function parseRtcp(value: string): RtcpAttribute | undefined {
  const f = value.trim().split(/[ \t]+/);
  const port = /^\d{1,5}$/.test(f[0] ?? '') ? Number(f[0]) : NaN;
  if (!(port >= 0 && port <= 65535)) return undefined;
  if (f.length === 1) return { port };
  if (f.length !== 4) return undefined;
  return { port, netType: f[1] ?? '', addrType: f[2] ?? '', address: f[3] ?? '' };
}

/** a=rtcp (RFC 3605): where the peer wants RTCP when not at port+1. */
export function rtcpOf(m: MediaDescription): RtcpAttribute | undefined {
  const v = attributeValues(m.attributes, 'rtcp')[0];
  return v === undefined ? undefined : parseRtcp(v);
}

/** a=rtcp-mux (RFC 5761): RTP and RTCP share one port. */
export function hasRtcpMux(m: MediaDescription): boolean {
  return hasAttribute(m.attributes, 'rtcp-mux');
}

/** a=mid (RFC 5888). */
export function midOf(m: MediaDescription): string | undefined {
  return attributeValues(m.attributes, 'mid')[0];
}

/** The known RTP profile of an m-line, written canonically; undefined for other transports. */
export function mediaProfile(m: MediaDescription): MediaProfile | undefined {
  return MEDIA_PROFILES.find((p) => same(p, m.protocol));
}

export function isRtpMedia(m: MediaDescription): boolean {
  return isRtpProtocol(m.protocol);
}

/** SRTP profiles (RFC 3711 / RFC 5764): media must be keyed before it flows. */
export function isSecureProfile(p: MediaProfile): boolean {
  return p.includes('SAVP');
}

/**
 * c=0.0.0.0 is the old way to put a call on hold (RFC 2543; RFC 3264 8.4
 * still asks answerers to understand it): the sender will not receive. Some
 * stacks write :: for IPv6 in the same sense.
 */
export function isHoldConnection(c: Connection | undefined): boolean {
  if (c === undefined) return false;
  const t = c.addrType.toUpperCase();
  return (t === 'IP4' && c.address === '0.0.0.0') || (t === 'IP6' && c.address === '::');
}

/**
 * The direction the sender of `sd` really means for stream `m`: the declared
 * one, without the receive half when its connection address is a hold
 * address, and inactive when the stream is disabled (port 0).
 */
export function remoteDirection(sd: SessionDescription, m: MediaDescription): Direction {
  if (m.port === 0) return 'inactive';
  const d = directionOf(sd, m);
  if (!isHoldConnection(m.connection ?? sd.connection)) return d;
  return d === 'sendrecv' || d === 'sendonly' ? 'sendonly' : 'inactive';
}
