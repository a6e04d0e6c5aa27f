import { PbxError, isPbxError } from '../../core/index.js';

/**
 * The one catalogue from what went wrong in call control to the SIP response
 * the phone gets, and the end reason the call record keeps. Call control
 * throws or returns a `CallFailure` name; no catch site picks a status of its
 * own, so the same fault always gets the same answer (RFC 3261 21).
 */

export interface FailureEntry {
  readonly status: number;
  readonly reason: string;
}

export const FAILURES = {
  /** A request the box cannot parse or that breaks SIP's rules (RFC 3261 21.4.1). */
  'bad-request': { status: 400, reason: 'Bad Request' },
  /** An INVITE without the From tag or Contact a dialog needs (8.1.1.8, 12.1.1). */
  'missing-contact': { status: 400, reason: 'Missing Contact Or From Tag' },
  'bad-sdp': { status: 400, reason: 'Bad SDP' },
  'forbidden': { status: 403, reason: 'Forbidden' },
  'not-found': { status: 404, reason: 'Not Found' },
  /** Nobody to ring: no registered or static contact (21.4.18). */
  'unavailable': { status: 480, reason: 'Temporarily Unavailable' },
  'no-answer': { status: 480, reason: 'No Answer' },
  /** A request for a dialog or transaction the box does not have (21.4.19). */
  'no-dialog': { status: 481, reason: 'Call/Transaction Does Not Exist' },
  'busy': { status: 486, reason: 'Busy Here' },
  'cancelled': { status: 487, reason: 'Request Terminated' },
  /** Media the box cannot carry: no audio, no common codec, the policy says no (RFC 3264 6). */
  'not-acceptable': { status: 488, reason: 'Not Acceptable Here' },
  'no-common-codec': { status: 488, reason: 'No Common Codec' },
  /** A body the box cannot negotiate with (RFC 3261 21.4.13): the response names what it accepts. */
  'unsupported-body': { status: 415, reason: 'Unsupported Media Type' },
  /** An offer while one is pending on the leg (RFC 3261 14.1, RFC 3311 5.2). */
  'glare': { status: 491, reason: 'Request Pending' },
  /** A fault of the box itself. */
  'internal': { status: 500, reason: 'Server Internal Error' },
  'cseq-out-of-order': { status: 500, reason: 'CSeq Out Of Order' },
  /** A passing shortage (no free media ports): the phone may retry (21.5.4). */
  'media-ports': { status: 503, reason: 'Media Ports Exhausted' },
  'unreachable': { status: 503, reason: 'Service Unavailable' },
  'timeout': { status: 408, reason: 'Request Timeout' },
  /** A request the box will not carry out, with its reason in a Warning (a transfer of a fully private call). */
  'declined': { status: 603, reason: 'Decline' },
} as const satisfies Record<string, FailureEntry>;

export type CallFailure = keyof typeof FAILURES;

/** A failure of call control with its catalogue name; the message is for the log. */
export class CallError extends PbxError {
  constructor(readonly failure: CallFailure, message: string) {
    super(FAILURE_CODE[failure], message);
  }
}

/** The core error code each failure carries, so generic handlers still read it right. */
const FAILURE_CODE: Record<CallFailure, PbxError['code']> = {
  'bad-request': 'parse', 'missing-contact': 'protocol', 'bad-sdp': 'parse', forbidden: 'auth', 'not-found': 'not-found',
  unavailable: 'not-found', 'no-answer': 'not-found', 'no-dialog': 'not-found', busy: 'conflict', cancelled: 'invalid-state',
  'not-acceptable': 'protocol', 'no-common-codec': 'protocol', 'unsupported-body': 'protocol', glare: 'invalid-state', internal: 'invalid-state',
  'cseq-out-of-order': 'protocol', 'media-ports': 'limit', unreachable: 'transport', timeout: 'transport', declined: 'invalid-state',
};

/**
 * The catalogue entry for anything call control caught: a CallError names
 * its own; a core error maps by code (a parse error is the peer's fault, a
 * limit a passing shortage, a protocol error media or rules the box cannot
 * follow); anything else is the box's own fault.
 */
export function failureOf(e: unknown): CallFailure {
  if (e instanceof CallError) return e.failure;
  if (isPbxError(e)) {
    switch (e.code) {
      case 'parse': return 'bad-request';
      case 'limit': return 'media-ports';
      case 'protocol': return 'not-acceptable';
      case 'invalid-state': return 'glare';
      case 'transport': return 'unreachable';
      case 'auth': return 'forbidden';
      case 'not-found': return 'not-found';
      case 'config':
      case 'conflict': return 'internal';
    }
  }
  return 'internal';
}

export function responseOf(failure: CallFailure): FailureEntry {
  return FAILURES[failure];
}
