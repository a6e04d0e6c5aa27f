import { getCSeq, getHeader, getHeaders, type SipRequest, type SipResponse } from '../../sip/message/index.js';
import { dialogAsUac, dialogRequest } from '../../sip/dialog/index.js';

/**
 * SIP extensions on the call path. The box supports no option tag as a UAS
 * today, so an INVITE that Requires one is refused with 420 and the tags in
 * Unsupported (RFC 3261 8.2.2.3), rather than served without it. Reliable
 * provisionals (RFC 3262, 100rel) end at the box: a callee that sends one
 * anyway gets its PRACK from the box, so it does not fail the call for want
 * of one, and the caller hears an ordinary 18x.
 */

/** Option tags the box honours when a phone Requires them: replaces (RFC 3891, features/replaces.ts). */
export const SUPPORTED_OPTION_TAGS: readonly string[] = ['replaces'];

/** The tags of the request's Require header the box does not support, lower-cased. */
export function unsupportedRequired(req: SipRequest): string[] {
  return getHeaders(req, 'require').map((t) => t.trim().toLowerCase()).filter((t) => t.length > 0 && !SUPPORTED_OPTION_TAGS.includes(t));
}

/** The RSeq of a reliable provisional (Require: 100rel with an RSeq, RFC 3262 3), else undefined. */
export function reliableSeq(res: SipResponse): number | undefined {
  if (res.status <= 100 || res.status >= 200) return undefined;
  if (!getHeaders(res, 'require').some((t) => t.trim().toLowerCase() === '100rel')) return undefined;
  const rseq = Number((getHeader(res, 'rseq') ?? '').trim());
  return Number.isInteger(rseq) && rseq >= 1 && rseq <= 2 ** 32 - 1 ? rseq : undefined;
}

/**
 * The PRACK for a reliable provisional to the box's INVITE (RFC 3262 7.2),
 * in the early dialog it made, with CSeq `seq`; undefined when the
 * provisional cannot make a dialog (no To tag or Contact).
 */
export function prackFor(invite: SipRequest, res: SipResponse, rseq: number, seq: number): SipRequest | undefined {
  let early;
  try { early = dialogAsUac(invite, res); } catch { return undefined; }
  const cseq = getCSeq(invite);
  return dialogRequest(early, 'PRACK', { cseq: seq, headers: [{ name: 'rack', value: `${rseq} ${cseq.seq} ${cseq.method}` }] }).request;
}
