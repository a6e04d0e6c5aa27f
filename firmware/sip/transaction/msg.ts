/**
 * What only the transaction layer needs on top of the message module: the
 * magic cookie, reading headers without throwing, the keys transactions are
 * matched by (RFC 3261 17.1.3, 17.2.3), and status classes.
 */
import type { CSeq, SipMessage, SipRequest, Via } from '../message/index.js';
import { getHeader } from '../message/index.js';

/** RFC 3261 8.1.1.7: branches of compliant elements start with this cookie. */
export const MAGIC_COOKIE = 'z9hG4bK';

/**
 * Runs one of the message module's readers (topVia, getCSeq, fromTag ...),
 * turning "missing or malformed" into undefined: the layer must never throw
 * on what the network sent, it counts and drops instead.
 */
export function tryRead<T>(read: (msg: SipMessage) => T | undefined, msg: SipMessage): T | undefined {
  try {
    return read(msg);
  } catch {
    return undefined;
  }
}

export function hasMagicCookie(branch: string | undefined): branch is string {
  return branch !== undefined && branch.startsWith(MAGIC_COOKIE);
}

/** sent-by of a Via as a comparable string (host is case-insensitive). */
function sentBy(via: Via): string {
  return `${via.host.toLowerCase()}:${via.port ?? ''}`;
}

/** 17.1.3: a response matches the client transaction of its top branch and CSeq method. */
export function clientKey(branch: string, method: string): string {
  return `${branch}\u0000${method}`;
}

/** 17.2.3 with the magic cookie: branch, sent-by and method, an ACK counting as its INVITE. */
export function serverKey(branch: string, via: Via, method: string): string {
  return `${branch}\u0000${sentBy(via)}\u0000${method === 'ACK' ? 'INVITE' : method}`;
}

/** RFC 2543 peers (no cookie): candidates share Call-ID and CSeq number; the rest is compared one by one. */
export function legacyKey(req: SipRequest, cseq: CSeq): string {
  return `${getHeader(req, 'call-id')?.trim() ?? ''}\u0000${cseq.seq}`;
}

/** The top Via as RFC 2543 matching compares it. */
export function viaKey(via: Via): string {
  return `${via.transport.toUpperCase()}\u0000${sentBy(via)}\u0000${via.branch ?? ''}`;
}

export const isProvisional = (status: number): boolean => status >= 100 && status <= 199;
export const isSuccess = (status: number): boolean => status >= 200 && status <= 299;
export const isValidStatus = (status: number): boolean => Number.isInteger(status) && status >= 100 && status <= 699;
