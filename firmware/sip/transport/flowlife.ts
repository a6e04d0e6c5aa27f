/**
 * How long a connection must be kept for the registration it carries. A phone
 * behind NAT can only be reached over the connection it registered on
 * (RFC 5626 section 3.3), so the idle timeout must spare such a flow until the
 * binding expires. The transport learns this from what it sends: a 2xx to a
 * REGISTER lists the bindings in force with their lifetimes (RFC 3261 10.3
 * step 8), so the longest lifetime in it keeps the flow the 2xx went out on.
 * The list names every binding of the address-of-record, not only this
 * flow's, so a flow may be kept a little longer than its own binding; it is
 * never closed too early.
 */
import { getCSeq, getHeader, getHeaders, parseContact, type SipMessage } from '../message/index.js';

/** RFC 3261 10.2.1.1: no expires parameter and no Expires header means 3600 s. */
export const DEFAULT_REGISTRATION_S = 3600;
/** Bounds a hostile or broken Expires; no registrar grants more than a day here. */
export const MAX_KEPT_REGISTRATION_S = 86_400;

function seconds(v: string | null | undefined): number | undefined {
  if (v === undefined || v === null || !/^\d{1,10}$/.test(v.trim())) return undefined;
  return Number(v.trim());
}

/**
 * For a 2xx to a REGISTER: the longest binding lifetime it reports in ms
 * (0 when it lists none: the phone removed its bindings). undefined for any
 * other message, or one whose headers do not parse.
 */
export function registrationLifetimeMs(msg: SipMessage): number | undefined {
  if (msg.kind !== 'response' || msg.status < 200 || msg.status > 299) return undefined;
  try {
    if (getCSeq(msg).method !== 'REGISTER') return undefined;
    const fallback = seconds(getHeader(msg, 'expires')) ?? DEFAULT_REGISTRATION_S;
    let longest = 0;
    for (const value of getHeaders(msg, 'contact')) {
      const c = parseContact(value);
      if (c.wildcard) continue;
      for (const n of c.contacts) {
        const p = n.params.find((x) => x.name.toLowerCase() === 'expires');
        longest = Math.max(longest, seconds(p?.value) ?? fallback);
      }
    }
    return Math.min(longest, MAX_KEPT_REGISTRATION_S) * 1000;
  } catch {
    return undefined;
  }
}
