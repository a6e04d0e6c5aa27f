import { PbxError } from '../core/index.js';
import type { LocalMedia, RemoteMedia } from '../media/index.js';
import {
  codecsOf, parseSdp, remoteMediaOf, serializeSdp, remoteDirection,
  type Codec, type Direction, type MediaDescription, type SessionDescription,
} from '../sdp/index.js';

/**
 * How the box rewrites SDP between the two legs of a call. The box is the
 * media endpoint for each phone: toward each leg it writes its own address
 * and ports, and it offers and answers only codecs it relays (RFC 3264 offer/
 * answer, with the offerer's payload type numbers kept on both legs so RTP
 * passes through unchanged).
 */

/** Codecs the relay passes (by encoding name and clock rate). */
const RELAYED: ReadonlyArray<{ encoding: string; clockRate: number }> = [
  { encoding: 'PCMU', clockRate: 8000 },
  { encoding: 'PCMA', clockRate: 8000 },
  { encoding: 'G722', clockRate: 8000 },
  { encoding: 'telephone-event', clockRate: 8000 },
];

const isRelayed = (c: Codec): boolean =>
  RELAYED.some((r) => r.encoding.toLowerCase() === c.encoding.toLowerCase() && r.clockRate === c.clockRate);
const isAudioCodec = (c: Codec): boolean => c.encoding.toLowerCase() !== 'telephone-event';

export interface SdpSession {
  /** o= session id of the box toward this leg, and its version (RFC 3264 8: +1 on each change). */
  readonly id: string;
  version: number;
}

export function parseBody(body: Buffer): SessionDescription | undefined {
  if (body.length === 0) return undefined;
  return parseSdp(body);
}

/** The first audio m-line: the one stream the box relays. */
export function audioIndex(sd: SessionDescription): number {
  return sd.media.findIndex((m) => m.type === 'audio' && m.port !== 0);
}

export function remoteOf(sd: SessionDescription): RemoteMedia {
  const i = audioIndex(sd);
  if (i < 0) throw new PbxError('protocol', 'no audio stream');
  return remoteMediaOf(sd, i);
}

function mediaLines(codecs: readonly Codec[], ptime: string | undefined): { formats: string[]; attributes: { name: string; value: string | null }[] } {
  const attributes: { name: string; value: string | null }[] = [];
  for (const c of codecs) {
    attributes.push({ name: 'rtpmap', value: `${c.pt} ${c.encoding}/${c.clockRate}${c.channels > 1 ? `/${c.channels}` : ''}` });
    if (c.fmtp) attributes.push({ name: 'fmtp', value: `${c.pt} ${c.fmtp}` });
  }
  if (ptime) attributes.push({ name: 'ptime', value: ptime });
  return { formats: codecs.map((c) => String(c.pt)), attributes };
}

function attr(m: MediaDescription, name: string): string | undefined {
  const a = m.attributes.find((x) => x.name === name);
  return a?.value ?? undefined;
}

/** Build the box's SDP toward one leg: one audio stream at `local`, with `codecs`, plus rejected copies of other streams. */
function boxSdp(session: SdpSession, local: LocalMedia, shape: SessionDescription | undefined, codecs: readonly Codec[], direction: Direction, ptime: string | undefined): Buffer {
  const ip = local.address.includes(':') ? 'IP6' : 'IP4';
  const audio = mediaLines(codecs, ptime);
  const audioMedia: MediaDescription = {
    type: 'audio', port: local.rtpPort, protocol: 'RTP/AVP', formats: audio.formats, bandwidths: [],
    attributes: [...audio.attributes, { name: 'rtcp', value: String(local.rtcpPort) }, { name: direction, value: null }],
  };
  // The answer keeps every m-line of the offer, in order (RFC 3264 6); the box rejects all but the audio it relays.
  const ai = shape ? audioIndex(shape) : -1;
  const media: MediaDescription[] = shape && ai >= 0
    ? shape.media.map((m, i) => (i === ai ? audioMedia : { type: m.type, port: 0, protocol: m.protocol, formats: m.formats.slice(0, 1), bandwidths: [], attributes: [] }))
    : [audioMedia];
  const sd: SessionDescription = {
    version: 0,
    origin: { username: 'securepbx', sessionId: session.id, sessionVersion: String(session.version), netType: 'IN', addrType: ip, address: local.address },
    sessionName: 'securepbx',
    emails: [], phones: [], bandwidths: [],
    connection: { netType: 'IN', addrType: ip, address: local.address },
    timings: [{ start: 0, stop: 0, repeats: [] }],
    attributes: [],
    media,
  };
  return Buffer.from(serializeSdp(sd), 'utf8');
}

/** The box's offer toward the callee, made from the caller's offer: same codecs (those we relay), same numbers. */
export function offerFromOffer(offer: SessionDescription, session: SdpSession, local: LocalMedia): { body: Buffer; codecs: Codec[] } {
  const i = audioIndex(offer);
  if (i < 0) throw new PbxError('protocol', 'the offer has no audio stream');
  const m = offer.media[i]!;
  const codecs = codecsOf(m).filter(isRelayed);
  if (!codecs.some(isAudioCodec)) throw new PbxError('protocol', 'no codec in common');
  return { body: boxSdp(session, local, undefined, codecs, remoteDirection(offer, m), attr(m, 'ptime')), codecs };
}

/**
 * The box's answer toward the caller, from the caller's offer and the callee's
 * answer: the codecs the callee accepted, in the caller's payload numbers.
 */
export function answerFromAnswer(offer: SessionDescription, answer: SessionDescription, session: SdpSession, local: LocalMedia): Buffer {
  const oi = audioIndex(offer);
  const ai = audioIndex(answer);
  if (oi < 0 || ai < 0) throw new PbxError('protocol', 'no audio stream was accepted');
  const offered = codecsOf(offer.media[oi]!).filter(isRelayed);
  const accepted = codecsOf(answer.media[ai]!);
  const same = (a: Codec, b: Codec): boolean => a.encoding.toLowerCase() === b.encoding.toLowerCase() && a.clockRate === b.clockRate;
  const codecs = offered.filter((o) => accepted.some((a) => same(a, o)));
  if (!codecs.some(isAudioCodec)) throw new PbxError('protocol', 'no codec in common');
  return boxSdp(session, local, offer, codecs, remoteDirection(answer, answer.media[ai]!), attr(answer.media[ai]!, 'ptime'));
}

/** Payload type rewriting needed when the answerer numbered a codec differently from the offer. */
export function payloadMap(offer: SessionDescription, answer: SessionDescription): Record<number, number> {
  const oi = audioIndex(offer);
  const ai = audioIndex(answer);
  const map: Record<number, number> = {};
  if (oi < 0 || ai < 0) return map;
  const offered = codecsOf(offer.media[oi]!);
  for (const a of codecsOf(answer.media[ai]!)) {
    const o = offered.find((x) => x.encoding.toLowerCase() === a.encoding.toLowerCase() && x.clockRate === a.clockRate);
    if (o && o.pt !== a.pt) map[a.pt] = o.pt;
  }
  return map;
}

export const SDP_TYPE = 'application/sdp';
