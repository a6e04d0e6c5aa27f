import { sdesOfMedia, type SdesSuiteName } from '../../keying/index.js';
import { hasAttribute, mediaProfile, type MediaDescription } from '../../sdp/index.js';
import { DEFAULT_POLICY, type Policy } from '../../config/index.js';
import type { OfferSummary, PhoneCaps, PolicySettings } from './types.js';

/**
 * What the caller's audio m-line asks for, for the decision:
 * - UDP/TLS/RTP/SAVP(F): DTLS-SRTP (RFC 5764);
 * - RTP/SAVP(F): SDES, with the supported suites in the caller's order;
 * - RTP/AVP(F) with a=crypto: best-effort SDES (the phone falls back to RTP
 *   when the answer carries no a=crypto);
 * - RTP/AVP(F) with a=zrtp-hash: ZRTP (RFC 6189 8.1: ZRTP runs in the media
 *   path over a plain profile). Not best-effort: whether the phone insists on
 *   ZRTP is its own setting, and the SDP is the same either way (seen with
 *   linphone's media_encryption_mandatory=0 and =1). A phone that insists
 *   and gets a plain answer connects and hears nothing, so the box treats
 *   the offer as asking for ZRTP and refuses it plainly while it cannot carry it;
 * - anything else, or no audio: plain RTP.
 */
export function summarizeOffer(media: MediaDescription | undefined, sips: boolean): OfferSummary {
  const bare: OfferSummary = { protection: 'rtp', bestEffort: false, suites: [], sips };
  if (!media) return bare;
  const profile = mediaProfile(media);
  const plain: OfferSummary = { ...bare, ...(profile !== undefined && /F$/i.test(profile) ? { feedback: true } : {}) };
  if (profile === 'UDP/TLS/RTP/SAVP' || profile === 'UDP/TLS/RTP/SAVPF') return { ...plain, protection: 'dtls' };
  const sdes = sdesOfMedia(media);
  if (sdes.mode !== 'none') {
    const suites: SdesSuiteName[] = [];
    for (const l of sdes.lines) if (!suites.includes(l.suite)) suites.push(l.suite);
    return { ...plain, protection: 'sdes', bestEffort: sdes.mode === 'best-effort', suites };
  }
  if (hasAttribute(media.attributes, 'zrtp-hash')) return { ...plain, protection: 'zrtp' };
  return plain;
}

/** The box's defaults when the admin set nothing: relay when possible, the callee as the caller. */
export const DEFAULT_POLICY_SETTINGS: PolicySettings = { callerStream: 'relay_or_decrypt', calleeStream: 'as_caller' };

/**
 * A typical desk phone: plain RTP, and SDES when its signalling is TLS. Used
 * for accounts whose abilities the admin has not set, and for trunks.
 */
export const DEFAULT_PHONE_CAPS: PhoneCaps = { supported: ['rtp', 'sdes'], required: [] };

/**
 * The settings of the named policy (an account's `policy`); an unknown name
 * (config validation normally prevents it) falls back to the "default"
 * policy, then to the built-in defaults.
 */
export function policySettings(policies: readonly Pick<Policy, 'name' | 'callerStream' | 'calleeStream'>[], name: string): PolicySettings {
  const p = policies.find((x) => x.name === name) ?? policies.find((x) => x.name === DEFAULT_POLICY);
  return p ? { callerStream: p.callerStream, calleeStream: p.calleeStream } : DEFAULT_POLICY_SETTINGS;
}
