import type { CalleeStream, CallerStream } from '../../config/index.js';
import type { SdesSuiteName } from '../../keying/index.js';

/** How a leg's media is protected: plain RTP, or SRTP keyed by one of three key agreements. */
export type Protection = 'rtp' | 'sdes' | 'dtls' | 'zrtp';
export type KeyAgreement = Exclude<Protection, 'rtp'>;

/**
 * What an account's phone can do with media, from the account settings.
 * `supported` lists every protection the phone handles ('rtp' included when
 * it takes plain RTP at all). `required`, when not empty, narrows that to the
 * protections the account insists on: ['sdes'] for a phone that must never
 * fall back to plain RTP. A leg toward the phone only uses a protection that
 * passes both. For the caller, its offer already says what the phone does:
 * only `required` is checked there (an account that must encrypt may not
 * send a plain offer).
 */
export interface PhoneCaps {
  readonly supported: readonly Protection[];
  readonly required: readonly Protection[];
}

/** The two service policy options of the seed table, from a named policy. */
export interface PolicySettings {
  readonly callerStream: CallerStream;
  readonly calleeStream: CalleeStream;
}

/** What the caller's offer (its audio m-line) asks for. */
export interface OfferSummary {
  readonly protection: Protection;
  /** RTP/AVP with a=crypto (or a=zrtp-hash): the phone falls back to RTP if the answer has no keys. */
  readonly bestEffort: boolean;
  /** SDES suites offered that the box supports, in the caller's order; empty for other protections. */
  readonly suites: readonly SdesSuiteName[];
  /** The Request-URI is sips: (RFC 5630): every hop must be TLS, and the box insists on SRTP too. */
  readonly sips: boolean;
  /** The offer uses a feedback profile (RTP/AVPF, RTP/SAVPF: RFC 4585, RFC 5124); absent means no. */
  readonly feedback?: boolean;
}

export interface PartyInfo {
  readonly caps: PhoneCaps;
  /** The leg's SIP signalling runs inside TLS (tls or wss). */
  readonly legTls: boolean;
}

export interface PlanInput {
  /** The caller's account policy: callerStream always comes from here. */
  readonly callerPolicy: PolicySettings;
  /** The callee's account policy, when the callee is an account: calleeStream comes from here, else from callerPolicy. */
  readonly calleePolicy?: PolicySettings;
  readonly caller: PartyInfo;
  readonly callee: PartyInfo;
  readonly offer: OfferSummary;
  /** Key agreements the box can carry today; defaults to AVAILABLE_KEY_AGREEMENTS. */
  readonly available?: readonly KeyAgreement[];
}

export interface LegPlan {
  /** What travels on this leg's wire. */
  readonly protection: 'rtp' | 'srtp';
  readonly keyAgreement: KeyAgreement | 'none';
  /**
   * Who holds this leg's keys: 'box' when the box runs the key agreement
   * (its own a=crypto, it decrypts); 'end-to-end' when the phones' own
   * exchange passes through untouched and the box never sees the keys.
   */
  readonly keys: 'none' | 'box' | 'end-to-end';
  /**
   * Whether the box offers this leg a feedback profile (RTP/AVPF, RTP/SAVPF).
   * Absent: as the caller offered. Set when the callee's phone refused the
   * other profile and the box retries (retryPlan).
   */
  readonly feedback?: boolean;
}

/** The shape of one offer the box made toward a callee's contact: what it refused or took. */
export interface OfferShape {
  readonly protection: Protection;
  readonly feedback: boolean;
}

export interface MediaPlan {
  /** relay: packets pass untouched (fully private when encrypted); bridge: the box decrypts with one leg's keys, encrypts with the other's. */
  readonly mode: 'relay' | 'bridge';
  /** The caller's leg. */
  readonly legA: LegPlan;
  /** The callee's leg. */
  readonly legB: LegPlan;
  /** Possible only when the box sees clear media: never on an end-to-end encrypted relay. */
  readonly features: { readonly recording: boolean; readonly musicOnHold: boolean };
  /** One sentence for the call view and logs: why this plan. */
  readonly note: string;
}

export type RefusalCode =
  | 'sdes-needs-tls'
  | 'not-available'
  | 'no-common-suite'
  | 'callee-incapable'
  | 'caller-not-allowed'
  | 'sips-needs-tls'
  | 'sips-needs-srtp'
  /** The callee's phone refused the offers the policy allows (488, 415 or 606 to each). */
  | 'callee-refused';

/** The call fails: 488 Not Acceptable Here for media the policy cannot serve, 480 for the sips: rule. */
export interface PolicyRefusal {
  readonly status: 488 | 480;
  readonly code: RefusalCode;
  /** Clear text for the Warning/Reason header and the admin page. */
  readonly reason: string;
}
