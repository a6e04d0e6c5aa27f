import type { Clock, Counters, Logger, Random } from '../../core/index.js';
import type { CallView } from '../../api/index.js';
import type { Fingerprint } from '../../keying/index.js';
import type { Target, TransactionLayer } from '../../sip/transaction/index.js';
import type { ZrtpHelloSource } from '../../keying/index.js';
import type { CallKeysOptions, MediaControl } from '../media/index.js';
import type { PhoneCaps, PolicySettings } from '../policy/index.js';
import type { ContactBinding } from '../routing/index.js';

/**
 * What the call layer stands on: the clock, randomness, the SIP transaction
 * layer and the media engine's message seam, all injected. These types live
 * here, not in the B2BUA entry point, so nothing under the entry point ever
 * imports it back (ARCHITECTURE.md, the call model).
 */

export type { MediaControl };

/** A leg's name within its call and its media session: "a" toward the caller, "b" toward the callee; features add more. */
export type LegId = string;

export interface CalleeAccount {
  readonly extension: string;
  readonly name: string;
  readonly staticContact: string | null;
  readonly tlsOnly: boolean;
  /** The account's named media policy (config policies); "default" when absent. */
  readonly policy?: string;
  /** What the account's phone can do with media; DEFAULT_PHONE_CAPS when absent. */
  readonly media?: PhoneCaps;
  /** Forwarding (the config's account.forward); absent: none. */
  readonly forward?: {
    readonly always: string | null;
    readonly busy: string | null;
    readonly noAnswer: string | null;
    readonly noAnswerSec: number;
  };
  readonly dnd?: boolean;
  readonly pickupGroup?: string | null;
  readonly callWaiting?: boolean;
  /** Set when the callee is a trunk (pbx/trunks): where its INVITE goes and how it presents the call. */
  readonly trunk?: TrunkLeg;
}

/** A leg toward a trunk: not an account, so no location lookup; the servers in order, the identity the provider is shown. */
export interface TrunkLeg {
  readonly name: string;
  /** The trunk's servers in order (RFC 3263), the Request-URI's host being the provider's domain. */
  readonly targets: readonly Target[];
  /** The From user (caller ID) and host the provider is shown. */
  readonly fromUser: string;
  readonly domain: string;
  /** sips: end-to-end enforcement does not apply on this leg (shown in the call's notes). */
  readonly sipsExempt: boolean;
}

/** A named policy as the config holds it. */
export interface NamedPolicy extends PolicySettings {
  readonly name: string;
}

export interface CallDeps {
  readonly clock: Clock;
  readonly random: Random;
  /** The box's DTLS certificate fingerprint (our a=fingerprint); without it no leg the box keys speaks DTLS-SRTP. */
  readonly dtlsFingerprint?: Fingerprint;
  readonly transactions: TransactionLayer;
  readonly media: MediaControl;
  readonly counters: Counters;
  readonly log: Logger;
  /** host[:port] and transport-specific Contact for the box on a leg. */
  readonly contactFor: (target: Target) => string;
}

/** What setting a call up needs besides: where the callee is, its account, the policies, how long to ring. */
export interface SetupDeps extends CallDeps {
  readonly location: { lookup(extension: string): readonly ContactBinding[] };
  readonly callee: (extension: string) => CalleeAccount | undefined;
  readonly noAnswerMs: () => number;
  /** The named media policies; without them every account gets the built-in defaults. */
  readonly policies?: () => readonly NamedPolicy[];
  /** The box's ZRTP identity (keying ZrtpBox): ZRTP legs the box terminates write their a=zrtp-hash from it. */
  readonly zrtp?: ZrtpHelloSource;
}

/** Why a call ended, as its record keeps it. */
export type EndReason = 'bye-caller' | 'bye-callee' | 'cancelled' | 'busy' | 'no-answer' | 'rejected' | 'not-found' | 'unavailable'
  | 'media-timeout' | 'codec-mismatch' | 'failed' | 'timeout' | 'media-policy'
  /** Its parties were joined to another call (an attended transfer): the transferor's legs ended. */
  | 'transferred'
  /** Nobody answered (or the callee was busy) and forwarding or a ring group took the call elsewhere. */
  | 'forwarded'
  /** The admin ended it from the page or `pbx call hangup`. */
  | 'admin';

/** A call as the views list it. */
export type { CallView };

/**
 * Call control runs from socket and timer callbacks that cannot await: a
 * rejected promise there would be unhandled and end the process, so each one
 * is caught, counted and logged here instead.
 */
export function guard(d: Pick<CallDeps, 'counters' | 'log'>, p: Promise<unknown>, what: string): void {
  p.catch((e: unknown) => {
    d.counters.inc('call.internal-error');
    d.log.error({ what, err: e instanceof Error ? e.message : String(e) }, 'call control step failed');
  });
}

/**
 * What every CallKeys and LegKeying the box makes needs: randomness,
 * counters, and the box's ZRTP and DTLS identities, so a leg keyed by a
 * feature (pickup, transfer, park) can speak any key agreement a call's
 * setup can. `tls` says whether each leg's SIP runs inside TLS.
 */
export function keysOptions(d: Pick<CallDeps, 'random' | 'counters' | 'dtlsFingerprint'> & { readonly zrtp?: ZrtpHelloSource }, tls: CallKeysOptions['tls']): CallKeysOptions {
  return {
    random: d.random, counters: d.counters, tls,
    ...(d.zrtp ? { zrtp: d.zrtp } : {}),
    ...(d.dtlsFingerprint ? { dtlsFingerprint: d.dtlsFingerprint } : {}),
  };
}
