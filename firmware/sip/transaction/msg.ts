/**
 * The few message operations the transaction layer needs, in one place so the
 * rest of the folder does not care how the message module spells them.
 */
import type { CSeq, Header, SipMessage, SipRequest, SipResponse, Via } from '../message/types.js';
import { createResponse, fromTag, getCSeq, toTag, topVia } from '../message/index.js';

/** RFC 3261 8.1.1.7: branches of compliant elements start with this cookie. */
export const MAGIC_COOKIE = 'z9hG4bK';

export function viaOf(msg: SipMessage): Via | undefined {
  try {
    return topVia(msg) ?? undefined;
  } catch {
    return undefined;
  }
}

export function cseqOf(msg: SipMessage): CSeq | undefined {
  try {
    return getCSeq(msg) ?? undefined;
  } catch {
    return undefined;
  }
}

export function fromTagOf(msg: SipMessage): string | undefined {
  try {
    return fromTag(msg) ?? undefined;
  } catch {
    return undefined;
  }
}

export function toTagOf(msg: SipMessage): string | undefined {
  try {
    return toTag(msg) ?? undefined;
  } catch {
    return undefined;
  }
}

/** First header of that (lower-case, long-form) name, trimmed. */
export function headerValue(msg: SipMessage, name: string): string | undefined {
  return msg.headers.find((h) => h.name === name)?.value.trim();
}

export function headersNamed(msg: SipMessage, name: string): Header[] {
  return msg.headers.filter((h) => h.name === name);
}

export function hasMagicCookie(branch: string | undefined): branch is string {
  return branch !== undefined && branch.startsWith(MAGIC_COOKIE);
}

/** sent-by of a Via as a comparable string (host is case-insensitive). */
export function sentBy(via: Via): string {
  return `${via.host.toLowerCase()}:${via.port ?? ''}`;
}

export function trying(req: SipRequest): SipResponse {
  return createResponse(req, 100, 'Trying');
}

export function withTopVia(req: SipRequest, viaValue: string): SipRequest {
  return { ...req, headers: [{ name: 'via', value: viaValue }, ...req.headers] };
}

export const isProvisional = (status: number): boolean => status >= 100 && status <= 199;
export const isSuccess = (status: number): boolean => status >= 200 && status <= 299;
export const isFinal = (status: number): boolean => status >= 200 && status <= 699;
export const isValidStatus = (status: number): boolean => Number.isInteger(status) && status >= 100 && status <= 699;
