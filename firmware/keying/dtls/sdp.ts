import type { Counters } from '../../core/index.js';
import type { Attribute, MediaDescription, SessionDescription } from '../../sdp/index.js';
import { formatFingerprint, parseFingerprint, type Fingerprint } from './cert.js';

/** a=setup (RFC 4145 4, as RFC 5763 5 uses it for DTLS-SRTP). */
export type DtlsSetup = 'active' | 'passive' | 'actpass' | 'holdconn';
const SETUPS: readonly DtlsSetup[] = ['active', 'passive', 'actpass', 'holdconn'];

export function parseSetup(value: string | null): DtlsSetup | undefined {
  const v = value?.trim().toLowerCase();
  return SETUPS.find((s) => s === v);
}

/** What one side's SDP says about DTLS-SRTP for one m-line. */
export interface DtlsMedia {
  /** Usable fingerprints, in SDP order (RFC 8122 5 allows several). */
  readonly fingerprints: readonly Fingerprint[];
  /** undefined when absent (RFC 4145 4: then 'active' is meant). */
  readonly setup: DtlsSetup | undefined;
}

export const DTLS_SDP_COUNTER_PREFIX = 'dtls-sdp-';

/**
 * Reads a=fingerprint and a=setup of an m-line. Lines that do not parse
 * (unknown hash, bad hex, wrong length) are skipped and counted; an
 * unknown a=setup value counts as absent.
 */
export function dtlsOfMedia(m: MediaDescription, counters?: Counters): DtlsMedia {
  const fingerprints: Fingerprint[] = [];
  let setup: DtlsSetup | undefined;
  for (const a of m.attributes) {
    const name = a.name.toLowerCase();
    if (name === 'fingerprint') {
      const f = a.value === null ? undefined : parseFingerprint(a.value);
      if (f) fingerprints.push(f);
      else counters?.inc(`${DTLS_SDP_COUNTER_PREFIX}bad-fingerprint`);
    } else if (name === 'setup' && setup === undefined) {
      setup = parseSetup(a.value);
      if (!setup) counters?.inc(`${DTLS_SDP_COUNTER_PREFIX}bad-setup`);
    }
  }
  return { fingerprints, setup };
}

/**
 * RFC 8122 5 and RFC 4145 4 let a=fingerprint and a=setup stand at session
 * level, applying to every m-line without its own. The m-line with the
 * session-level lines it inherits added: call this before handing a peer's
 * m-line to DtlsLeg.
 */
export function withSessionDtls(sd: SessionDescription, m: MediaDescription): MediaDescription {
  const has = (n: string): boolean => m.attributes.some((a) => a.name.toLowerCase() === n);
  const inherit = (n: string): Attribute[] => (has(n) ? [] : sd.attributes.filter((a) => a.name.toLowerCase() === n));
  const extra = [...inherit('fingerprint'), ...inherit('setup')];
  return extra.length === 0 ? m : { ...m, attributes: [...m.attributes, ...extra] };
}

export const fingerprintAttribute = (f: Fingerprint): Attribute => ({ name: 'fingerprint', value: formatFingerprint(f) });
export const setupAttribute = (s: DtlsSetup): Attribute => ({ name: 'setup', value: s });
