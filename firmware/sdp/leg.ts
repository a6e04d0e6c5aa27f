/**
 * The B2BUA's two views of one phone's SDP: what the media engine needs to
 * reach that phone (remoteMediaOf), and the SDP the box writes toward the
 * other phone in its own name, with its own address and ports, so all media
 * passes through it (rewriteForLeg).
 */
import { PbxError } from '../core/index.js';
import type { Endpoint, RemoteMedia } from '../media/index.js';
import { hasRtcpMux, remoteDirection, rtcpOf } from './attributes.js';
import { boxConnection, boxOrigin, type OriginSpec, type PortPair } from './offer-answer.js';
import { serializeSdp } from './serialize.js';
import type { Attribute, MediaDescription, SessionDescription } from './types.js';

/**
 * ICE (RFC 8445, RFC 8839) is between the phone and the box, which is the
 * media endpoint: the phone's candidates and credentials mean nothing to the
 * other phone and are never passed on.
 */
export const ICE_ATTRIBUTES: ReadonlySet<string> = new Set([
  'candidate', 'remote-candidates', 'end-of-candidates', 'ice-ufrag', 'ice-pwd', 'ice-options', 'ice-lite',
  'ice-mismatch', 'ice-pacing',
]);

/** The next o= version (RFC 3264 8: one more each time the description changes); decimal, any size. */
export function nextVersion(version: string): string {
  if (!/^\d{1,20}$/.test(version)) throw new PbxError('protocol', 'session version must be a decimal number');
  return (BigInt(version) + 1n).toString();
}

/**
 * Gives `next` the session id of `previous` (the last SDP the box sent on
 * this leg) and its version, incremented only when something else differs
 * (RFC 3264 8: an unchanged description keeps its version).
 */
export function stampVersion(next: SessionDescription, previous: SessionDescription | undefined): SessionDescription {
  if (previous === undefined) return next;
  const same = { ...next, origin: { ...next.origin, sessionId: previous.origin.sessionId, sessionVersion: previous.origin.sessionVersion } };
  if (serializeSdp(same) === serializeSdp(previous)) return same;
  return { ...same, origin: { ...same.origin, sessionVersion: nextVersion(previous.origin.sessionVersion) } };
}

export interface LegRewrite {
  /** The box's media address on the side of the phone that will read this SDP. */
  readonly address: string;
  /** Per m-line, the box's ports toward that phone, or null/absent to disable the stream (port 0). */
  readonly ports: ReadonlyArray<PortPair | null | undefined>;
  /** Session id and version used when there is no previous SDP on this leg. */
  readonly origin: OriginSpec;
  /** The last SDP the box sent on this leg: its session id is kept and its version bumped only on change. */
  readonly previous?: SessionDescription;
  /** Per m-line transport to write instead of the phone's (the keying layer sets RTP/SAVP and friends). */
  readonly protocols?: ReadonlyArray<string | undefined>;
}

function withoutIce(attrs: readonly Attribute[]): Attribute[] {
  return attrs.filter((a) => !ICE_ATTRIBUTES.has(a.name.toLowerCase()));
}

/**
 * The phone's SDP rewritten as the box's own toward the other phone: new o=
 * line in the box's name, the box's address in one session-level c= (media
 * c= lines dropped), the box's ports in m= lines and a=rtcp, ICE removed.
 * Codecs, directions and every other attribute (a=crypto, a=fingerprint ...)
 * pass untouched: the security layer filters those.
 */
export function rewriteForLeg(sd: SessionDescription, opts: LegRewrite): SessionDescription {
  const media = sd.media.map((m, i): MediaDescription => {
    const ports = opts.ports[i];
    const protocol = opts.protocols?.[i] ?? m.protocol;
    const attrs = withoutIce(m.attributes).filter((a) => a.name.toLowerCase() !== 'rtcp');
    const { connection: _c, portCount: _n, ...rest } = m;
    if (m.port === 0 || !ports) return { ...rest, port: 0, protocol, attributes: attrs };
    if (!Number.isInteger(ports.rtp) || ports.rtp < 1 || ports.rtp > 65535 || !Number.isInteger(ports.rtcp)
      || ports.rtcp < 1 || ports.rtcp > 65535) {
      throw new PbxError('protocol', 'port out of range');
    }
    // a=rtcp goes first among the attributes the box owns, before the phone's own.
    return { ...rest, port: ports.rtp, protocol, attributes: [{ name: 'rtcp', value: String(ports.rtcp) }, ...attrs] };
  });
  const { connection: _c, ...session } = sd;
  const next: SessionDescription = {
    ...session,
    origin: boxOrigin(opts.origin, opts.address),
    connection: boxConnection(opts.address),
    attributes: withoutIce(sd.attributes),
    media,
  };
  return stampVersion(next, opts.previous);
}

/**
 * Where the phone that wrote `sd` wants stream `index`, shaped for the media
 * engine. rtcpMux reports that the phone offered or accepted a=rtcp-mux; the
 * caller ands it with what the other side of the exchange agreed.
 */
export function remoteMediaOf(sd: SessionDescription, index: number): RemoteMedia {
  const m = sd.media[index];
  if (m === undefined) throw new PbxError('not-found', `no m-line ${index}`);
  const conn = m.connection ?? sd.connection;
  if (conn === undefined && m.port !== 0) throw new PbxError('protocol', `m-line ${index} has no connection address`);
  const rtp: Endpoint = { address: conn?.address ?? '0.0.0.0', port: m.port };
  const a = rtcpOf(m);
  // RFC 3605: without a=rtcp, RTCP is on the next port up (RFC 3550 11).
  const rtcpPort = m.port === 0 ? 0 : a !== undefined ? a.port : m.port < 65535 ? m.port + 1 : 0;
  return {
    rtp,
    rtcp: { address: a?.address ?? rtp.address, port: rtcpPort },
    rtcpMux: m.port !== 0 && hasRtcpMux(m),
    direction: remoteDirection(sd, m),
  };
}
