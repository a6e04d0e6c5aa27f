/**
 * The offer/answer model (RFC 3264) as pure functions from data to data: the
 * box's own offers, and its answers to a phone's offer.
 */
import { PbxError } from '../core/index.js';
import { hasRtcpMux, mediaProfile, midOf, ptime, remoteDirection } from './attributes.js';
import { codecsOf, intersectCodecs, type AnswerPrefs, type CodecFilter } from './codecs.js';
import type {
  Attribute, Codec, Connection, Direction, MediaDescription, MediaProfile, Origin, SessionDescription,
} from './types.js';

/** The username in every o= line the box writes. */
export const BOX_SDP_USERNAME = 'securepbx';

/** Profiles the box answers by default; SRTP profiles need the keying layer's attributes and are opted in by it. */
export const DEFAULT_ANSWER_PROFILES: readonly MediaProfile[] = ['RTP/AVP', 'RTP/AVPF'];

/** A local RTP/RTCP port pair on the box (equal numbers when RTCP is multiplexed). */
export interface PortPair {
  readonly rtp: number;
  readonly rtcp: number;
}

/** The box's session id and version for one leg (RFC 4566 5.2); decimal strings. */
export interface OriginSpec {
  readonly sessionId: string;
  readonly sessionVersion: string;
  readonly username?: string;
}

function checkAddress(address: string): string {
  if (!/^[^\s\0]+$/.test(address)) throw new PbxError('protocol', 'media address must be one word');
  return address;
}

function checkPorts(p: PortPair): PortPair {
  for (const n of [p.rtp, p.rtcp]) {
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new PbxError('protocol', `port ${n} out of range`);
  }
  return p;
}

function addrType(address: string): 'IP4' | 'IP6' {
  return address.includes(':') ? 'IP6' : 'IP4';
}

export function boxOrigin(spec: OriginSpec, address: string): Origin {
  for (const v of [spec.sessionId, spec.sessionVersion]) {
    if (!/^\d{1,20}$/.test(v)) throw new PbxError('protocol', 'session id and version must be decimal numbers');
  }
  return {
    username: spec.username ?? BOX_SDP_USERNAME,
    sessionId: spec.sessionId,
    sessionVersion: spec.sessionVersion,
    netType: 'IN',
    addrType: addrType(address),
    address: checkAddress(address),
  };
}

export function boxConnection(address: string): Connection {
  return { netType: 'IN', addrType: addrType(address), address: checkAddress(address) };
}

/** a=rtpmap and a=fmtp lines for the codecs, in their order. */
export function codecAttributes(codecs: readonly Codec[]): Attribute[] {
  return codecs.flatMap((c) => {
    const ch = c.channels > 1 ? `/${c.channels}` : '';
    const map: Attribute = { name: 'rtpmap', value: `${c.pt} ${c.encoding}/${c.clockRate}${ch}` };
    return c.fmtp !== undefined && c.fmtp !== '' ? [map, { name: 'fmtp', value: `${c.pt} ${c.fmtp}` }] : [map];
  });
}

const FLAGS: Readonly<Record<Direction, readonly [send: boolean, recv: boolean]>> = {
  sendrecv: [true, true], sendonly: [true, false], recvonly: [false, true], inactive: [false, false],
};

function fromFlags(send: boolean, recv: boolean): Direction {
  return send ? (recv ? 'sendrecv' : 'sendonly') : recv ? 'recvonly' : 'inactive';
}

/**
 * RFC 3264 6.1: the answer may send only what the offerer receives and
 * receive only what it sends; within that, the box's own wish decides
 * (sendonly offer -> recvonly, recvonly -> sendonly, inactive -> inactive).
 */
export function answerDirection(offered: Direction, wanted: Direction = 'sendrecv'): Direction {
  const [os, or] = FLAGS[offered];
  const [ws, wr] = FLAGS[wanted];
  return fromFlags(or && ws, os && wr);
}

export interface OfferMedia {
  readonly type: string;
  readonly protocol: MediaProfile | string;
  /** null offers the stream disabled (port 0), keeping its place (RFC 3264 8.2). */
  readonly ports: PortPair | null;
  readonly codecs: readonly Codec[];
  readonly direction?: Direction;
  readonly ptime?: number;
  /** Offer RTCP multiplexing (RFC 5761); a=rtcp still names the fallback port. */
  readonly rtcpMux?: boolean;
  readonly mid?: string;
  /** Extra attributes (a=crypto, a=fingerprint ...) placed before the direction. */
  readonly attributes?: readonly Attribute[];
  /**
   * Formats listed for a disabled stream (ports null) that has no codec the
   * box knows, such as a non-RTP m-line kept only to hold its place.
   */
  readonly formats?: readonly string[];
}

export interface OfferOptions {
  readonly origin: OriginSpec;
  readonly address: string;
  readonly media: readonly OfferMedia[];
  readonly sessionName?: string;
  readonly attributes?: readonly Attribute[];
}

function sessionShell(origin: Origin, address: string, name: string | undefined, timings: SessionDescription['timings'],
  media: MediaDescription[], attributes: readonly Attribute[] = []): SessionDescription {
  return {
    version: 0, origin, sessionName: name ?? '-', emails: [], phones: [], connection: boxConnection(address),
    bandwidths: [], timings, attributes, media,
  };
}

/** The box's own offer (a new call leg, a re-INVITE, music on hold). */
export function buildOffer(opts: OfferOptions): SessionDescription {
  const origin = boxOrigin(opts.origin, opts.address);
  const media = opts.media.map((o): MediaDescription => {
    if (o.ports === null) {
      const formats = o.codecs.length > 0 ? o.codecs.map((c) => String(c.pt)) : [...(o.formats ?? [])];
      if (formats.length === 0) throw new PbxError('protocol', `offered ${o.type} stream has no format`);
      return { type: o.type, port: 0, protocol: o.protocol, formats, bandwidths: [], attributes: codecAttributes(o.codecs) };
    }
    if (o.codecs.length === 0) throw new PbxError('protocol', `offered ${o.type} stream has no codec`);
    const formats = o.codecs.map((c) => String(c.pt));
    const ports = checkPorts(o.ports);
    const attributes: Attribute[] = [
      ...codecAttributes(o.codecs),
      ...(o.ptime !== undefined ? [{ name: 'ptime', value: String(o.ptime) }] : []),
      { name: 'rtcp', value: String(ports.rtcp) },
      ...(o.rtcpMux ? [{ name: 'rtcp-mux', value: null }] : []),
      ...(o.mid !== undefined ? [{ name: 'mid', value: o.mid }] : []),
      ...(o.attributes ?? []),
      { name: o.direction ?? 'sendrecv', value: null },
    ];
    return { type: o.type, port: ports.rtp, protocol: o.protocol, formats, bandwidths: [], attributes };
  });
  return sessionShell(origin, opts.address, opts.sessionName, [{ start: 0, stop: 0, repeats: [] }], media, opts.attributes);
}

export interface AnswerOptions {
  readonly origin: OriginSpec;
  readonly address: string;
  /** Per offered m-line, the box's ports, or null/absent to decline that stream. */
  readonly ports: ReadonlyArray<PortPair | null | undefined>;
  /** Accepted codecs by media type ('audio', 'video' ...); a type with no entry is declined. */
  readonly codecs: Readonly<Record<string, CodecFilter>>;
  /** What the box wants to do, for all streams or per m-line (default sendrecv). */
  readonly direction?: Direction | readonly Direction[];
  /** The box can multiplex RTP and RTCP (default true). */
  readonly rtcpMux?: boolean;
  /** Transports the box accepts (default RTP/AVP and RTP/AVPF). */
  readonly profiles?: readonly MediaProfile[];
  readonly prefs?: AnswerPrefs;
  readonly sessionName?: string;
  /** Per offered m-line, what the box writes beyond codecs and direction (the keying layer's part). */
  readonly streams?: ReadonlyArray<AnswerStream | undefined>;
}

/** The box's own part of one answered m-line. */
export interface AnswerStream {
  /**
   * Transport to write, chosen by the keying layer (RTP/SAVP with a=crypto,
   * say); the stream is then accepted whatever `profiles` says, as long as
   * the offer's transport is an RTP profile.
   */
  readonly profile?: string;
  /** Attributes placed just before the direction (a=crypto ...). */
  readonly attributes?: readonly Attribute[];
  /** a=ptime to write instead of the offer's (a relay writes the other phone's); null writes none. */
  readonly ptime?: number | null;
}

/** RFC 3264 6: a declined stream keeps its place with port 0 and a format of the offer. */
function declined(m: MediaDescription): MediaDescription {
  const first = m.formats[0] ?? '0';
  const map = m.attributes.find((a) => a.name.toLowerCase() === 'rtpmap' && (a.value ?? '').split(/[ \t]/)[0] === first);
  return { type: m.type, port: 0, protocol: m.protocol, formats: [first], bandwidths: [], attributes: map ? [map] : [] };
}

function filterFor(codecs: Readonly<Record<string, CodecFilter>>, type: string): CodecFilter | undefined {
  const key = type.toLowerCase();
  return Object.hasOwn(codecs, key) ? codecs[key] : undefined;
}

/**
 * The box's answer to `offer`: one m-line per offered m-line, in order
 * (RFC 3264 6). Streams are declined (port 0) when the offerer disabled
 * them, the box gave no ports, the transport or media type is not accepted,
 * or no codec is common. When every stream is declined the caller answers
 * 488 instead (see hasActiveMedia).
 */
export function buildAnswer(offer: SessionDescription, opts: AnswerOptions): SessionDescription {
  const origin = boxOrigin(opts.origin, opts.address);
  const profiles = opts.profiles ?? DEFAULT_ANSWER_PROFILES;
  const media = offer.media.map((om, i): MediaDescription => {
    const ports = opts.ports[i];
    const profile = mediaProfile(om);
    const filter = filterFor(opts.codecs, om.type);
    const own = opts.streams?.[i];
    const allowed = own?.profile !== undefined || (profile !== undefined && profiles.includes(profile));
    if (om.port === 0 || !ports || profile === undefined || !allowed || !filter) return declined(om);
    const codecs = intersectCodecs(codecsOf(om), filter, opts.prefs);
    if (codecs.length === 0) return declined(om);
    const p = checkPorts(ports);
    const wanted = typeof opts.direction === 'string' ? opts.direction : opts.direction?.[i];
    const mux = hasRtcpMux(om) && opts.rtcpMux !== false;
    const pt = own?.ptime === undefined ? ptime(om) : own.ptime ?? undefined;
    const mid = midOf(om);
    const attributes: Attribute[] = [
      ...codecAttributes(codecs),
      ...(pt !== undefined ? [{ name: 'ptime', value: String(pt) }] : []),
      mux ? { name: 'rtcp-mux', value: null } : { name: 'rtcp', value: String(p.rtcp) },
      ...(mid !== undefined ? [{ name: 'mid', value: mid }] : []),
      ...(own?.attributes ?? []),
      { name: answerDirection(remoteDirection(offer, om), wanted), value: null },
    ];
    return {
      type: om.type, port: p.rtp, protocol: own?.profile ?? profile, formats: codecs.map((c) => String(c.pt)), bandwidths: [], attributes,
    };
  });
  return sessionShell(origin, opts.address, opts.sessionName, offer.timings.map((t) => ({ ...t, repeats: [...t.repeats] })), media);
}

/** False when every stream is declined (or there are none): a SIP answer to such an offer is 488. */
export function hasActiveMedia(sd: SessionDescription): boolean {
  return sd.media.some((m) => m.port !== 0);
}
