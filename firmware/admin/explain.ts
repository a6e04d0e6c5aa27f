/**
 * Plain-language text the admin page shows: what a media security policy
 * does, and how a call's legs are protected. Pure functions over plain data,
 * bundled into the page as well as used by the server and its tests. The
 * policy outcomes follow the caller/callee table in the design seeds
 * (caller_stream_relay_or_decrypt x callee_stream_security_settings).
 *
 * The page bundles this file, so it may import only types, and only from the
 * dependency-free API file (test/architecture.test.ts checks both).
 */
import type { CallView, CalleeStreamOption, CallerStreamOption, LegView } from '../api/index.js';

export type { CalleeStreamOption, CallerStreamOption };

export interface Choice<T extends string> {
  readonly value: T;
  readonly label: string;
  readonly help: string;
}

export const CALLER_CHOICES: readonly Choice<CallerStreamOption>[] = [
  {
    value: 'forced_relay', label: 'Always relay',
    help: 'The box forwards whatever the caller sends without touching it, and ignores the callee\'s setting. An encrypted call stays private end to end, so the box cannot record it or play music on hold.',
  },
  {
    value: 'relay_or_decrypt', label: 'Relay when possible (default)',
    help: 'The box forwards the caller\'s media untouched when the callee\'s setting allows it; when the callee needs something else, the box decrypts and re-encrypts.',
  },
  {
    value: 'decrypt', label: 'Always decrypt',
    help: 'The box always takes the caller\'s media apart: it holds the keys of the caller\'s leg, so recording and music on hold always work.',
  },
];

export const CALLEE_CHOICES: readonly Choice<CalleeStreamOption>[] = [
  { value: 'as_caller', label: 'Same as the caller (default)', help: 'The callee receives the media in the form the caller chose.' },
  { value: 'decrypted', label: 'Plain RTP', help: 'The box always sends the callee unencrypted RTP, for phones without SRTP.' },
  { value: 'sdes', label: 'SRTP with SDES', help: 'The box always encrypts toward the callee, with keys exchanged in the SDP (needs SIP over TLS to stay secret).' },
  { value: 'dtls', label: 'SRTP with DTLS', help: 'The box always encrypts toward the callee, with keys agreed by a DTLS handshake on the media path (browsers use this).' },
  { value: 'zrtp', label: 'SRTP with ZRTP', help: 'The box always encrypts toward the callee, with keys agreed by ZRTP on the media path.' },
];

export interface PolicyOutcome {
  /** relay: media passes untouched; bridge: the box decrypts and re-encrypts. */
  readonly mode: 'relay' | 'bridge';
  /** The media path, caller on the left. */
  readonly path: string;
  /** Whether the box can record and play music on hold. */
  readonly recording: boolean;
}

export interface PolicyExplanation {
  readonly summary: string;
  /** When the caller offers SRTP. */
  readonly callerEncrypts: PolicyOutcome;
  /** When the caller offers plain RTP. */
  readonly callerPlain: PolicyOutcome;
}

const KEYING_NAME: Record<'sdes' | 'dtls' | 'zrtp', string> = { sdes: 'SDES', dtls: 'DTLS-SRTP', zrtp: 'ZRTP' };

/** What a caller/callee pair of settings does to a call, for both kinds of caller offer. */
export function explainPolicy(caller: CallerStreamOption, callee: CalleeStreamOption): PolicyExplanation {
  const relayed = (encrypted: boolean): PolicyOutcome => ({
    mode: 'relay',
    path: encrypted ? 'caller ⇄ SRTP relayed untouched by the box ⇄ callee' : 'caller ⇄ plain RTP relayed by the box ⇄ callee',
    // The box can only tap media it can read.
    recording: !encrypted,
  });
  if (caller === 'forced_relay' || (caller === 'relay_or_decrypt' && callee === 'as_caller')) {
    return {
      summary: caller === 'forced_relay'
        ? 'Media is always relayed as the caller sends it; the callee\'s setting does not matter. Encrypted calls are fully private.'
        : 'The callee takes the media as the caller sends it, so the box relays it. Encrypted calls are fully private.',
      callerEncrypts: relayed(true),
      callerPlain: relayed(false),
    };
  }
  if (callee === 'as_caller' || callee === 'decrypted') {
    return {
      summary: 'The box decrypts the caller\'s media and sends the callee plain RTP; it holds the keys, so it can record.',
      callerEncrypts: { mode: 'bridge', path: 'caller ⇄ SRTP ⇄ box (decrypts) ⇄ plain RTP ⇄ callee', recording: true },
      callerPlain: { mode: 'relay', path: 'caller ⇄ plain RTP relayed by the box ⇄ callee', recording: true },
    };
  }
  const k = KEYING_NAME[callee];
  return {
    summary: `The box always encrypts toward the callee with ${k}, with keys of its own; the caller's leg keeps its own protection. The box holds all keys, so it can record.`,
    callerEncrypts: { mode: 'bridge', path: `caller ⇄ SRTP (caller's keys) ⇄ box ⇄ SRTP ${k} (new keys) ⇄ callee`, recording: true },
    callerPlain: { mode: 'bridge', path: `caller ⇄ plain RTP ⇄ box (encrypts) ⇄ SRTP ${k} ⇄ callee`, recording: true },
  };
}

/* ---- calls ---- */

/**
 * What the descriptions read of a leg: party, protection and suite. The rest
 * of a leg may come along in any form (a history line written by an older
 * version may name a transport this one does not), since it is not read.
 */
export type LegLike = Pick<LegView, 'party' | 'protection' | 'suite'>
  & { readonly [K in Exclude<keyof LegView, 'party' | 'protection' | 'suite'>]?: unknown };
/** What the descriptions read of a call: a live call (CallView) and a history line (CallRecordJson) both have it. */
export interface CallLike extends Pick<CallView, 'callee' | 'mode'> {
  readonly legs: { readonly a: LegLike; readonly b?: LegLike };
}

/** e.g. "1001 SDES AES_CM_128_HMAC_SHA1_80" or "1002 plain RTP". */
export function describeLeg(leg: LegLike): string {
  if (leg.protection === 'rtp') return `${leg.party} plain RTP`;
  const name = leg.protection === 'dtls' ? 'DTLS-SRTP' : leg.protection.toUpperCase();
  return `${leg.party} ${name}${leg.suite ? ` ${leg.suite}` : ''}`;
}

/** e.g. "1001 SDES AES_CM_128_HMAC_SHA1_80 -> box (bridged) -> 1002 plain RTP". */
export function describeCall(call: CallLike): string {
  const how = call.mode === 'relay' ? 'relayed' : 'bridged';
  const b = call.legs.b ? describeLeg(call.legs.b) : `${call.callee} (not answered)`;
  return `${describeLeg(call.legs.a)} -> box (${how}) -> ${b}`;
}

/**
 * What the box does with a call's media, in words that hold for its legs:
 * "fully private" only when it relays SRTP it cannot read, "bridged (decrypt
 * + re-encrypt)" only when both legs are encrypted.
 */
export function describeMode(call: CallLike): string {
  const a = call.legs.a.protection !== 'rtp';
  const b = call.legs.b ? call.legs.b.protection !== 'rtp' : undefined;
  if (call.mode === 'relay') {
    if (b === undefined) return 'relays the media untouched';
    return a && b ? 'fully private: SRTP relayed untouched' : a || b ? 'relays the media untouched' : 'relays plain RTP';
  }
  if (b === undefined) return a ? 'decrypts (callee not answered yet)' : 'bridges plain RTP';
  if (a && b) return 'bridged (decrypt + re-encrypt)';
  if (a) return 'decrypts to plain RTP toward the callee';
  if (b) return 'encrypts the caller\'s plain RTP toward the callee';
  return 'bridges plain RTP';
}

/** What the hold sentence reads of a call: who holds, who hears music, and the call's notes. */
export interface HoldLike {
  readonly mode: 'relay' | 'bridge';
  readonly legs: { readonly a: Pick<LegView, 'party' | 'held' | 'music'>; readonly b?: Pick<LegView, 'party' | 'held' | 'music'> };
  readonly notes?: readonly string[];
}

/**
 * The dashboard's sentence about hold on a live call, or undefined when
 * nobody holds and no hold happened: who holds and who hears the music, or
 * on a fully private (relayed, encrypted end to end) call why there is none.
 */
export function describeHold(call: HoldLike): string | undefined {
  const { a, b } = call.legs;
  for (const [held, holder] of [[a, b], [b, a]] as const) {
    if (held?.music) return `${holder?.party ?? 'the other side'} holds the call: ${held.party} hears the music on hold, encrypted with its own leg's keys when it has any.`;
  }
  const holder = a.held ? a : b?.held ? b : undefined;
  if (holder) return `${holder.party} holds the call: no music on hold.`;
  if (call.mode === 'relay' && (call.notes ?? []).some((n) => n.startsWith('on hold without music'))) {
    return 'No music on hold on this call: it is fully private (encrypted end to end), so the box has no keys to play music with; a hold passes through to the other phone.';
  }
  return undefined;
}
