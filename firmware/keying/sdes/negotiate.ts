import { PbxError, type Counters, type Random } from '../../core/index.js';
import { attributeValues, mediaProfile, type Attribute, type MediaDescription } from '../../sdp/index.js';
import type { SrtpSessionOptions } from '../../media/srtp/index.js';
import { formatCryptoLine, mkiBytes, parseCryptoLine, type CryptoAttribute, type CryptoSkip } from './crypto.js';
import { DEFAULT_OFFER_SUITES, SDES_SUITES, SUPPORTED_SDES_SUITES, type SdesSuiteName } from './suites.js';

/**
 * SDES offer/answer (RFC 4568 5, 7) for one media stream, as pure functions
 * over parsed lines. Keys come from an injected Random; nothing here logs.
 */

/** a=crypto lines read per m-line; more are skipped. */
export const MAX_CRYPTO_LINES = 16;
/** Counter name prefix: `sdes.skip.<reason>` per skipped line. */
export const SDES_SKIP_COUNTER_PREFIX = 'sdes.skip.';

/**
 * How a media section carries SDES:
 * - 'srtp': RTP/SAVP or RTP/SAVPF, SRTP is mandatory (RFC 4568 5);
 * - 'best-effort': RTP/AVP(F) with a=crypto lines: the phone prefers SRTP
 *   but falls back to RTP when the answer has no crypto;
 * - 'none': plain RTP, or a transport SDES does not key (DTLS-SRTP).
 */
export type SdesMode = 'srtp' | 'best-effort' | 'none';

export interface SdesMedia {
  readonly mode: SdesMode;
  /** Lines the box can use, in the sender's order. */
  readonly lines: readonly CryptoAttribute[];
  readonly skipped: readonly CryptoSkip[];
}

/** Reads every a=crypto of one m-line; bad lines are skipped (and counted), never fatal. */
export function sdesOfMedia(media: MediaDescription, counters?: Counters): SdesMedia {
  const values = attributeValues(media.attributes, 'crypto');
  const lines: CryptoAttribute[] = [];
  const skipped: CryptoSkip[] = [];
  const tags = new Set<number>();
  values.forEach((v, i) => {
    let s: CryptoSkip | undefined;
    if (i >= MAX_CRYPTO_LINES) {
      s = { skip: 'too-many-lines', detail: `more than ${MAX_CRYPTO_LINES} a=crypto lines` };
    } else {
      const r = parseCryptoLine(v);
      if (!r.ok) s = r.tag === undefined ? { skip: r.skip, detail: r.detail } : { skip: r.skip, detail: r.detail, tag: r.tag };
      // A tag names one line of the m-line (RFC 4568 4); a repeat cannot be answered unambiguously.
      else if (tags.has(r.crypto.tag)) s = { skip: 'duplicate-tag', detail: `tag ${r.crypto.tag} is used twice`, tag: r.crypto.tag };
      else {
        tags.add(r.crypto.tag);
        lines.push(r.crypto);
      }
    }
    if (s) {
      skipped.push(s);
      counters?.inc(SDES_SKIP_COUNTER_PREFIX + s.skip);
    }
  });
  const profile = mediaProfile(media);
  const mode: SdesMode = profile === 'RTP/SAVP' || profile === 'RTP/SAVPF'
    ? 'srtp'
    : (profile === 'RTP/AVP' || profile === 'RTP/AVPF') && values.length > 0 ? 'best-effort' : 'none';
  return { mode, lines, skipped };
}

/**
 * The line to answer: the first offered line whose suite we support, in the
 * offerer's order (RFC 4568 7.1.1: the offerer lists its preference first).
 */
export function chooseCrypto(offered: readonly CryptoAttribute[], supported: readonly SdesSuiteName[] = SUPPORTED_SDES_SUITES): CryptoAttribute | undefined {
  return offered.find((c) => supported.includes(c.suite));
}

function freshKey(suite: SdesSuiteName, random: Random): { key: Buffer; salt: Buffer } {
  const s = SDES_SUITES[suite];
  const bytes = random.bytes(s.keyLen + s.saltLen);
  if (bytes.length !== s.keyLen + s.saltLen) throw new PbxError('invalid-state', 'the random source returned the wrong number of bytes');
  return { key: Buffer.from(bytes.subarray(0, s.keyLen)), salt: Buffer.from(bytes.subarray(s.keyLen)) };
}

/**
 * Our answer to the chosen line: same tag and suite (RFC 4568 7.1.2), a fresh
 * key and salt. No lifetime (the default, 2^48, is the suite's maximum), no
 * MKI and no session parameters: each side's key, MKI and KDR govern only
 * what that side sends. `mkiLength` adds an MKI of value 1 for peers that
 * insist on one.
 */
export function answerCrypto(chosen: CryptoAttribute, random: Random, opts: { mkiLength?: number } = {}): CryptoAttribute {
  return {
    tag: chosen.tag, suite: chosen.suite, ...freshKey(chosen.suite, random),
    ...(opts.mkiLength !== undefined ? { mki: { value: 1n, length: opts.mkiLength } } : {}),
  };
}

/** The box's own offer (toward a callee it keys): one line per suite, tags 1.., each with its own fresh key. */
export function offerCrypto(suites: readonly SdesSuiteName[] = DEFAULT_OFFER_SUITES, random: Random): CryptoAttribute[] {
  if (suites.length === 0) throw new PbxError('protocol', 'no SRTP crypto suite to offer');
  return suites.map((suite, i) => ({ tag: i + 1, suite, ...freshKey(suite, random) }));
}

/**
 * The offerer's side of RFC 4568 7.1.3: the answer must carry exactly one
 * usable line whose tag is one we offered, with the same suite. Returns our
 * offered line (our keys, for what we send) and theirs (for what we receive).
 */
export function acceptAnswer(offered: readonly CryptoAttribute[], answer: SdesMedia): { ours: CryptoAttribute; theirs: CryptoAttribute } {
  if (answer.lines.length !== 1) {
    throw new PbxError('protocol', answer.lines.length === 0 ? 'the answer has no usable a=crypto line' : 'the answer has more than one a=crypto line');
  }
  const theirs = answer.lines[0]!;
  const ours = offered.find((c) => c.tag === theirs.tag);
  if (!ours) throw new PbxError('protocol', `the answer's crypto tag ${theirs.tag} was not offered`);
  if (ours.suite !== theirs.suite) throw new PbxError('protocol', `the answer changed the suite of tag ${theirs.tag}`);
  return { ours, theirs };
}

/** tls and wss carry SIP inside TLS; only those may carry SDES keys. */
export function isSecureSignalling(transport: string): boolean {
  const t = transport.toLowerCase();
  return t === 'tls' || t === 'wss';
}

/**
 * The a=crypto attributes for SDP toward one leg. Refuses (PbxError
 * 'protocol', which maps to 488) when that leg's signalling is not TLS: SDES
 * sends the key in the clear inside SDP, so anyone on the path would read it
 * (RFC 4568 8, security considerations, asks for a secure signalling channel). This is the last guard
 * before keys reach a wire; the media policy should already have refused.
 */
export function sdesAttributes(lines: readonly CryptoAttribute[], signallingSecure: boolean): Attribute[] {
  if (!signallingSecure) throw new PbxError('protocol', 'SDES keys are only sent over TLS signalling');
  return lines.map((c) => ({ name: 'crypto', value: formatCryptoLine(c) }));
}

/**
 * SRTP session options for keys from one line: the peer's line keys what we
 * receive from it, our line what we send. `kdr` becomes the rate 2^n.
 */
export function srtpOptionsOf(c: CryptoAttribute): SrtpSessionOptions {
  return {
    suite: c.suite, masterKey: c.key, masterSalt: c.salt,
    ...(c.mki ? { mki: mkiBytes(c.mki) } : {}),
    ...(c.kdr !== undefined ? { kdr: 2 ** c.kdr } : {}),
    ...(c.lifetime !== undefined ? { lifetime: c.lifetime } : {}),
    ...(c.wsh !== undefined && c.wsh >= 128 ? { replayWindow: 128 as const } : {}),
  };
}
