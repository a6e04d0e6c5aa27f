/**
 * The box as a media relay between two phones, on top of buildOffer and
 * buildAnswer: it relays one audio stream, and toward each phone it writes
 * SDP in its own name (its address, ports, o= line) while keeping the
 * offerer's payload type numbers on both legs, so RTP passes through with no
 * renumbering (RFC 3264 6.1). Every other m-line keeps its place, disabled
 * with port 0 (RFC 3264 6 for answers, 8.2 for offers). The transport and
 * the key attributes of the relayed stream come from the keying layer.
 */
import { PbxError } from '../core/index.js';
import { ptime, remoteDirection } from './attributes.js';
import { codecMatches, codecsOf, isAuxiliary, type CodecFilter } from './codecs.js';
import { buildAnswer, buildOffer, type OfferMedia, type OriginSpec, type PortPair } from './offer-answer.js';
import { serializeSdp } from './serialize.js';
import type { Attribute, Codec, MediaDescription, SessionDescription } from './types.js';

/** Codecs the relay passes (by encoding name, clock rate and channels). */
export const RELAYED_CODECS: CodecFilter = [
  { encoding: 'PCMU', clockRate: 8000 },
  { encoding: 'PCMA', clockRate: 8000 },
  { encoding: 'G722', clockRate: 8000 },
  { encoding: 'telephone-event', clockRate: 8000 },
];

/** The session name of every description the box writes as a relay. */
export const RELAY_SESSION_NAME = 'securepbx call';

const isRelayed = (c: Codec): boolean => RELAYED_CODECS.some((r) => codecMatches(c, r));

/** The stream the box relays: the first audio m-line that is not disabled; -1 when there is none. */
export function relayIndex(sd: SessionDescription): number {
  return sd.media.findIndex((m) => m.type === 'audio' && m.port !== 0);
}

/** The codecs of `m` the box relays, in the sender's order and numbers; PbxError 'protocol' when no voice codec is left. */
export function relayedCodecs(m: MediaDescription): Codec[] {
  const codecs = codecsOf(m).filter(isRelayed);
  if (!codecs.some((c) => !isAuxiliary(c))) throw new PbxError('protocol', 'no codec in common');
  return codecs;
}

/** The box's side of one leg: where it receives, and what the keying layer puts on the relayed m-line. */
export interface RelayLeg {
  readonly origin: OriginSpec;
  /** The box's media address toward this leg's phone. */
  readonly address: string;
  readonly ports: PortPair;
  /** Transport of the relayed stream (RTP/AVP, RTP/SAVP ...). */
  readonly profile: string;
  /** Key attributes of the relayed stream (a=crypto ...). */
  readonly attributes?: readonly Attribute[];
  /** Answer a=rtcp-mux when the phone offered it (RFC 5761; WebRTC requires it, RFC 8834 5.1.1); default: a=rtcp names the RTCP port. */
  readonly rtcpMux?: boolean;
}

/** A disabled copy of an m-line the box does not relay, for an offer. */
function disabled(m: MediaDescription): OfferMedia {
  return { type: m.type, protocol: m.protocol, ports: null, codecs: [], formats: m.formats.length > 0 ? m.formats.slice(0, 1) : ['0'] };
}

/**
 * The box's offer toward one leg, made from the other phone's offer (or, for
 * a late offer, from its answer-borne offer): the relayed codecs with the
 * same numbers, the same direction (a=sendonly, c=0.0.0.0 hold) and ptime.
 * Throws PbxError 'protocol' when there is no audio stream or no relayed codec.
 */
export function relayOffer(from: SessionDescription, leg: RelayLeg): { sdp: SessionDescription; codecs: Codec[] } {
  const i = relayIndex(from);
  if (i < 0) throw new PbxError('protocol', 'the offer has no audio stream');
  const m = from.media[i]!;
  const codecs = relayedCodecs(m);
  const pt = ptime(m);
  const media = from.media.map((x, j): OfferMedia => (j !== i ? disabled(x) : {
    type: 'audio', protocol: leg.profile, ports: leg.ports, codecs, direction: remoteDirection(from, m),
    ...(pt !== undefined ? { ptime: pt } : {}), attributes: leg.attributes ?? [],
  }));
  return { sdp: buildOffer({ origin: leg.origin, address: leg.address, media, sessionName: RELAY_SESSION_NAME }), codecs };
}

/**
 * The box's answer to `offer` (from one phone), given `answer` (the other
 * phone's answer to the box's relayed offer): the codecs both took, in the
 * offerer's numbers, the direction RFC 3264 6.1 allows given what the other
 * phone answered, and its ptime. Throws PbxError 'protocol' when the relayed
 * stream ends up with no voice codec (the SIP answer is then 488).
 */
export function relayAnswer(offer: SessionDescription, answer: SessionDescription, leg: RelayLeg): SessionDescription {
  const oi = relayIndex(offer);
  const ai = relayIndex(answer);
  if (oi < 0 || ai < 0) throw new PbxError('protocol', 'no audio stream was accepted');
  const am = answer.media[ai]!;
  const accepted: CodecFilter = codecsOf(am).filter(isRelayed).map((c) => ({ encoding: c.encoding, clockRate: c.clockRate, channels: c.channels }));
  const sd = buildAnswer(offer, {
    origin: leg.origin, address: leg.address, sessionName: RELAY_SESSION_NAME,
    ports: offer.media.map((_, j) => (j === oi ? leg.ports : null)),
    codecs: { audio: accepted },
    direction: offer.media.map((_, j) => (j === oi ? remoteDirection(answer, am) : 'sendrecv')),
    // The box does not multiplex RTCP on a relayed leg: a=rtcp names its RTCP port.
    rtcpMux: leg.rtcpMux === true,
    streams: offer.media.map((_, j) => (j === oi ? { profile: leg.profile, attributes: leg.attributes ?? [], ptime: ptime(am) ?? null } : undefined)),
  });
  const relayed = sd.media[oi]!;
  if (relayed.port === 0 || !codecsOf(relayed).some((c) => !isAuxiliary(c))) throw new PbxError('protocol', 'no codec in common');
  return sd;
}

/**
 * Payload type rewriting needed toward the offerer when the answerer
 * numbered a codec differently from the offer: answerer's number -> offerer's.
 */
export function relayPayloadMap(offer: SessionDescription, answer: SessionDescription): Record<number, number> {
  const oi = relayIndex(offer);
  const ai = relayIndex(answer);
  const map: Record<number, number> = {};
  if (oi < 0 || ai < 0) return map;
  const offered = codecsOf(offer.media[oi]!);
  for (const a of codecsOf(answer.media[ai]!)) {
    const o = offered.find((x) => codecMatches(x, a));
    if (o && o.pt !== a.pt) map[a.pt] = o.pt;
  }
  return map;
}

/** What the box last wrote on one leg, for the o= version rule (RFC 3264 8). */
export interface SentSdp {
  /** The description with its o= version blanked, as text. */
  readonly text: string;
  readonly version: bigint;
}

function withVersion(sd: SessionDescription, version: string): SessionDescription {
  return { ...sd, origin: { ...sd.origin, sessionVersion: version } };
}

/**
 * The version `next` gets on a leg where `sent` was the box's last SDP: the
 * same when nothing but o= would differ, one more when something changed
 * (RFC 3264 8), and never below `floor` (a caller that bumped the version
 * itself keeps its number). Returns the stamped description and what to
 * remember as sent.
 */
export function stampLeg(next: SessionDescription, sent: SentSdp | undefined, floor: bigint): { sdp: SessionDescription; sent: SentSdp } {
  const text = serializeSdp(withVersion(next, '0'));
  const auto = sent === undefined ? floor : sent.text === text ? sent.version : sent.version + 1n;
  const version = auto > floor ? auto : floor;
  return { sdp: withVersion(next, version.toString()), sent: { text, version } };
}
