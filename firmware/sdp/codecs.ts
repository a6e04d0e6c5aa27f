/** Codecs of an m-line and their intersection with what the box supports (RFC 3264 6.1). */
import { fmtps, isRtpMedia, rtpMaps } from './attributes.js';
import type { Codec, MediaDescription } from './types.js';

/**
 * Static payload types of RFC 3551 tables 4 and 5, usable without a=rtpmap.
 * G722 is listed at 8000 Hz although it samples at 16 kHz: RFC 3551 4.5.2
 * keeps the clock rate of the original (erroneous) assignment.
 */
export const STATIC_PAYLOAD_TYPES: Readonly<Record<number, Omit<Codec, 'pt' | 'fmtp'>>> = {
  0: { encoding: 'PCMU', clockRate: 8000, channels: 1 },
  3: { encoding: 'GSM', clockRate: 8000, channels: 1 },
  4: { encoding: 'G723', clockRate: 8000, channels: 1 },
  5: { encoding: 'DVI4', clockRate: 8000, channels: 1 },
  6: { encoding: 'DVI4', clockRate: 16000, channels: 1 },
  7: { encoding: 'LPC', clockRate: 8000, channels: 1 },
  8: { encoding: 'PCMA', clockRate: 8000, channels: 1 },
  9: { encoding: 'G722', clockRate: 8000, channels: 1 },
  10: { encoding: 'L16', clockRate: 44100, channels: 2 },
  11: { encoding: 'L16', clockRate: 44100, channels: 1 },
  12: { encoding: 'QCELP', clockRate: 8000, channels: 1 },
  13: { encoding: 'CN', clockRate: 8000, channels: 1 },
  14: { encoding: 'MPA', clockRate: 90000, channels: 1 },
  15: { encoding: 'G728', clockRate: 8000, channels: 1 },
  16: { encoding: 'DVI4', clockRate: 11025, channels: 1 },
  17: { encoding: 'DVI4', clockRate: 22050, channels: 1 },
  18: { encoding: 'G729', clockRate: 8000, channels: 1 },
  25: { encoding: 'CelB', clockRate: 90000, channels: 1 },
  26: { encoding: 'JPEG', clockRate: 90000, channels: 1 },
  28: { encoding: 'nv', clockRate: 90000, channels: 1 },
  31: { encoding: 'H261', clockRate: 90000, channels: 1 },
  32: { encoding: 'MPV', clockRate: 90000, channels: 1 },
  33: { encoding: 'MP2T', clockRate: 90000, channels: 1 },
  34: { encoding: 'H263', clockRate: 90000, channels: 1 },
};

/**
 * The codecs of an m-line in the sender's order. An a=rtpmap wins over the
 * static table; a dynamic payload type without a=rtpmap names nothing we can
 * match and is left out. Non-RTP m-lines have no codecs.
 */
export function codecsOf(m: MediaDescription): Codec[] {
  if (!isRtpMedia(m)) return [];
  const maps = rtpMaps(m);
  const params = fmtps(m);
  const seen = new Set<number>();
  const out: Codec[] = [];
  for (const f of m.formats) {
    const pt = Number(f);
    if (seen.has(pt)) continue;
    seen.add(pt);
    const map = maps.find((x) => x.pt === pt);
    const fixed = STATIC_PAYLOAD_TYPES[pt];
    const fmtp = params.find((x) => x.pt === pt)?.params;
    const base = map
      ? { encoding: map.encoding, clockRate: map.clockRate, channels: map.channels ?? 1 }
      : fixed;
    if (base === undefined) continue;
    out.push({ pt, ...base, ...(fmtp !== undefined ? { fmtp } : {}) });
  }
  return out;
}

/** One codec the box accepts; channels default to 1. */
export interface CodecSpec {
  readonly encoding: string;
  readonly clockRate: number;
  readonly channels?: number;
}

/** The codecs the box accepts for one media type, in its own order of preference. */
export type CodecFilter = readonly CodecSpec[];

export interface AnswerPrefs {
  /** List kept codecs in the box's order instead of the offerer's (RFC 3264 6.1 lets the answerer reorder). */
  readonly preferOurs?: boolean;
  /** Keep at most this many primary codecs (e.g. 1 to pin a single codec). */
  readonly maxCodecs?: number;
}

/**
 * Payload formats that only make sense beside a primary codec: DTMF events
 * (RFC 4733), comfort noise (RFC 3389), redundancy (RFC 2198),
 * retransmission (RFC 4588) and FEC (RFC 5109, RFC 8627).
 */
const AUXILIARY = new Set(['telephone-event', 'cn', 'red', 'rtx', 'ulpfec', 'flexfec']);

export function isAuxiliary(c: Codec): boolean {
  return AUXILIARY.has(c.encoding.toLowerCase());
}

export function codecMatches(c: Codec, s: CodecSpec): boolean {
  return c.encoding.toLowerCase() === s.encoding.toLowerCase() && c.clockRate === s.clockRate
    && c.channels === (s.channels ?? 1);
}

/** apt=<pt> of an rtx codec (RFC 4588 8.6). */
function associatedPt(c: Codec): number | undefined {
  const m = /(?:^|;)\s*apt=(\d{1,3})\s*(?:;|$)/.exec(c.fmtp ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * The offered codecs the box accepts, with the offer's payload type numbers
 * and fmtp (RFC 3264 6.1: the answer should use the offerer's numbers).
 * Auxiliary formats survive only beside a surviving primary codec, unless the
 * offered stream carried nothing else (a dedicated DTMF stream, RFC 4317
 * 2.4); rtx survives only if the codec it repairs does. An empty result means
 * no common codec: reject the stream, or answer the whole offer with 488.
 */
export function intersectCodecs(offer: readonly Codec[], supported: CodecFilter, prefs: AnswerPrefs = {}): Codec[] {
  const rank = (c: Codec): number => supported.findIndex((s) => codecMatches(c, s));
  const kept = offer.filter((c) => rank(c) >= 0);
  let primary = kept.filter((c) => !isAuxiliary(c));
  if (prefs.preferOurs) primary = [...primary].sort((a, b) => rank(a) - rank(b));
  if (prefs.maxCodecs !== undefined) primary = primary.slice(0, Math.max(0, prefs.maxCodecs));
  if (primary.length === 0 && offer.some((c) => !isAuxiliary(c))) return [];
  const pts = new Set(primary.map((c) => c.pt));
  const aux = kept.filter((c) => isAuxiliary(c)
    && (c.encoding.toLowerCase() !== 'rtx' || pts.has(associatedPt(c) ?? -1)));
  if (prefs.preferOurs) return [...primary, ...aux];
  const keep = new Set([...pts, ...aux.map((c) => c.pt)]);
  return offer.filter((c) => keep.has(c.pt));
}
