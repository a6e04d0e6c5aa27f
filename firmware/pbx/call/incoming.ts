import type { SipRequest } from '../../sip/message/index.js';
import type { InviteServerTransaction, Target } from '../../sip/transaction/index.js';
import type { Call } from './call.js';

/** A new INVITE the box has authenticated, before it is a call: what a destination is shown. */
export interface IncomingCall {
  readonly req: SipRequest;
  readonly tx: InviteServerTransaction;
  readonly source: Target;
  /** The authenticated caller's extension. */
  readonly caller: string;
  /** What was dialled: the Request-URI's user part. */
  readonly dialled: string;
}

/** How B2bua.ring rings (see there). */
export interface RingOptions {
  readonly shownAs?: { readonly extension: string; readonly name: string };
  /** How long the phones ring before the call is unanswered; default: the box's no-answer time. */
  readonly ringMs?: number;
  readonly onUnanswered?: (why: 'busy' | 'no-answer' | 'unavailable') => boolean;
  /** An unanswered call this one takes over from. */
  readonly replaces?: Call;
  /** Ring the callees one at a time, the next on 503, 408 or no answer (a trunk's servers, then the next trunk). */
  readonly inOrder?: boolean;
}

/**
 * A kind of destination beside the accounts' extensions: feature codes,
 * pickup, park, ring groups, conference rooms, trunks' outbound routes.
 * Destinations are asked in the order they were added, before the accounts;
 * the first that takes the call owns its answer from then on.
 */
export interface Destination {
  readonly name: string;
  /** Take the call (and answer it, now or later), or return false to let the next one try. */
  take(incoming: IncomingCall): boolean;
}

