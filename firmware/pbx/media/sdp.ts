import { PbxError } from '../../core/index.js';
import type { KeyingSdp } from '../../keying/index.js';
import { PLAIN_SDP, withSessionDtls } from '../../keying/index.js';
import type { LocalMedia, RemoteMedia } from '../../media/index.js';
import type { LegsSecurity } from './session.js';
import {
  parseSdp, relayAnswer, relayIndex, relayOffer, relayPayloadMap, relayedCodecs, remoteMediaOf, serializeSdp, stampLeg,
  type Codec, type MediaDescription, type RelayLeg, type SentSdp, type SessionDescription,
} from '../../sdp/index.js';

/**
 * How call control writes SDP: the box is the media endpoint for each phone,
 * so toward each leg it writes its own address and ports and offers or
 * answers only what it relays (sdp/relay.ts), with the transport and key
 * lines the leg's keying gives (CallKeys).
 */

export const SDP_TYPE = 'application/sdp';

/** What the box writes on one leg's relayed m-line besides codecs: the keying's part. */
export type LegSdp = KeyingSdp;

/**
 * The box's o= line toward one leg: session id and version (RFC 3264 8).
 *
 * A session made by sdpSession() keeps what the box last wrote on the leg
 * and sets the version itself: the same when nothing else changed, one more
 * when something did, never below `version` (so a caller that still bumps
 * `version` before a re-offer gets the number it asked for). A plain object
 * without `sent` is written with `version` as it stands: the caller bumps.
 */
export interface SdpSession {
  readonly id: string;
  version: number;
  /** Present on sessions from sdpSession(): the last SDP written on this leg (undefined until the first). */
  sent?: SentSdp | undefined;
  readonly auto?: boolean;
}

/** A leg's o= state that versions itself (see SdpSession). One per dialog: forked branches each need their own. */
export function sdpSession(id: string, version = 1): SdpSession {
  return { id, version, sent: undefined, auto: true };
}

export function parseBody(body: Buffer): SessionDescription | undefined {
  if (body.length === 0) return undefined;
  return parseSdp(body);
}

/** The first audio m-line that is not disabled: the one stream the box relays; -1 when none. */
export const audioIndex = relayIndex;

/** The first relayed audio m-line of an SDP, if any. */
export function audioOf(sd: SessionDescription | undefined): MediaDescription | undefined {
  if (!sd) return undefined;
  const i = relayIndex(sd);
  const m = i < 0 ? undefined : sd.media[i];
  // RFC 8122 5 / RFC 4145 4: a=fingerprint and a=setup at session level apply to a DTLS m-line without its own.
  return m && /^UDP\/TLS\//i.test(m.protocol) ? withSessionDtls(sd, m) : m;
}

/** Where the phone that wrote `sd` wants the relayed stream; PbxError 'protocol' when there is none. */
export function remoteOf(sd: SessionDescription): RemoteMedia {
  const i = relayIndex(sd);
  if (i < 0) throw new PbxError('protocol', 'no audio stream');
  return remoteMediaOf(sd, i);
}

/**
 * The codecs the box would relay from `offer`, without writing anything:
 * PbxError 'protocol' when there is no audio stream or no relayed voice codec.
 */
export function relayCheck(offer: SessionDescription): Codec[] {
  const m = audioOf(offer);
  if (!m) throw new PbxError('protocol', 'the offer has no audio stream');
  return relayedCodecs(m);
}

function legOf(session: SdpSession, local: LocalMedia, leg: LegSdp): RelayLeg {
  return {
    origin: { sessionId: session.id, sessionVersion: String(session.version) }, address: local.address,
    ports: { rtp: local.rtpPort, rtcp: local.rtcpPort }, profile: leg.profile, attributes: withCandidate(leg.attributes, local),
    ...(leg.rtcpMux ? { rtcpMux: true } : {}),
  };
}

/**
 * An ICE-lite leg (the keying wrote a=ice-ufrag) names its one host
 * candidate (RFC 8839 5.1): the box's media address and RTP port,
 * component 1 (RTCP is multiplexed), the highest host priority.
 */
function withCandidate(attributes: LegSdp['attributes'], local: LocalMedia): LegSdp['attributes'] {
  if (!attributes.some((a) => a.name === 'ice-ufrag')) return attributes;
  return [...attributes, { name: 'candidate', value: `1 1 udp 2130706431 ${local.address} ${local.rtpPort} typ host` }];
}

function write(session: SdpSession, sd: SessionDescription): Buffer {
  if (!session.auto) return Buffer.from(serializeSdp(sd), 'utf8');
  const stamped = stampLeg(sd, session.sent, BigInt(session.version));
  session.sent = stamped.sent;
  session.version = Number(stamped.sent.version);
  return Buffer.from(serializeSdp(stamped.sdp), 'utf8');
}

/** The box's offer toward one leg, made from the other phone's offer: same relayed codecs, same numbers. */
export function offerFromOffer(offer: SessionDescription, session: SdpSession, local: LocalMedia, leg: LegSdp = PLAIN_SDP): { body: Buffer; codecs: Codec[] } {
  const { sdp, codecs } = relayOffer(offer, legOf(session, local, leg));
  return { body: write(session, sdp), codecs };
}

/**
 * The box's answer toward the phone that sent `offer`, given the other
 * phone's `answer`: the codecs both took, in the offerer's payload numbers.
 */
export function answerFromAnswer(offer: SessionDescription, answer: SessionDescription, session: SdpSession, local: LocalMedia, leg: LegSdp = PLAIN_SDP): Buffer {
  return write(session, relayAnswer(offer, answer, legOf(session, local, leg)));
}

/** Payload type rewriting needed when the answerer numbered a codec differently from the offer. */
export function payloadMap(offer: SessionDescription, answer: SessionDescription): Record<number, number> {
  return relayPayloadMap(offer, answer);
}

/**
 * The engine security of the caller's leg at 'offer', before any branch has
 * answered: a caller that offered SRTP (a=crypto, an SAVP profile, a ZRTP
 * hash) is 'srtp-pending', so the engine sends it nothing in the clear while
 * the call rings (early media, or whoever sends at the callee-side port). The
 * answer that brings the keys settles the leg (CallKeys.calleeAnswered),
 * plain RTP included when a best-effort offer ends up plain.
 */
export function offerSecurity(callerOffer: MediaDescription | undefined): LegsSecurity | undefined {
  if (!callerOffer) return undefined;
  const srtp = /SAVP/i.test(callerOffer.protocol) || callerOffer.attributes.some((a) => a.name === 'crypto' || a.name === 'zrtp-hash');
  return srtp ? { a: { kind: 'srtp-pending' } } : undefined;
}
