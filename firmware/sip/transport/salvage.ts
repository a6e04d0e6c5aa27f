/**
 * Best-effort 400 for a request the parser rejected. RFC 4475 expects an
 * element to answer a malformed request with 400 when it can still tell
 * where the answer goes and which transaction it belongs to; RFC 3261
 * 8.2.6.2 says which headers the response copies. Pure: raw bytes in, a
 * response (or nothing) out.
 */
import type { Random } from '../../core/index.js';
import { type Header, type SipResponse, normalizeHeaderName, reasonPhrase } from '../message/index.js';

/** Only this much of a bad message is looked at. */
export const SALVAGE_SCAN_LIMIT = 16 * 1024;
/** A copied header longer than this is not worth reflecting back. */
export const SALVAGE_HEADER_LIMIT = 2048;
/** At most this many Via values are copied. */
export const SALVAGE_MAX_VIAS = 32;

/** Headers a response copies from its request (long names; compact forms are expanded first). */
const COPIED: ReadonlySet<string> = new Set(['via', 'from', 'to', 'call-id', 'cseq']);

const METHOD = /^([A-Za-z0-9.!%*_+`'~-]+) /;
// Printable characters and tabs only: nothing odd is echoed back.
const SAFE_VALUE = /^[\t\x20-\x7e\u0080-\uffff]*$/;

/**
 * Builds "400 Bad Request" (or 505 when the caller found a SIP version other
 * than 2.0) for the malformed request in `raw`, or returns
 * undefined when it is not a request, is an ACK (never answered, RFC 3261
 * 17.2.1), or lacks the Via and CSeq a client needs to match the answer
 * (RFC 3261 17.1.3).
 */
export function badRequestFor(raw: Buffer, random: Random, status: 400 | 505 = 400): SipResponse | undefined {
  const text = raw.subarray(0, SALVAGE_SCAN_LIMIT).toString('utf8');
  const end = /\r?\n\r?\n/.exec(text);
  const head = end === null ? text : text.slice(0, end.index);
  const lines: string[] = [];
  for (const line of head.split(/\r?\n/)) {
    // Folded continuation lines belong to the header above (RFC 3261 7.3.1).
    if ((line.startsWith(' ') || line.startsWith('\t')) && lines.length > 1) {
      lines[lines.length - 1] += ' ' + line.trim();
    } else {
      lines.push(line);
    }
  }
  const startLine = lines[0] ?? '';
  const method = METHOD.exec(startLine)?.[1];
  if (method === undefined || method === 'ACK' || startLine.startsWith('SIP/')) return undefined;

  const found = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = normalizeHeaderName(line.slice(0, colon).trim());
    const value = line.slice(colon + 1).trim();
    if (!COPIED.has(name) || value === '' || value.length > SALVAGE_HEADER_LIMIT || !SAFE_VALUE.test(value)) continue;
    const list = found.get(name) ?? [];
    list.push(value);
    found.set(name, list);
  }
  const vias = (found.get('via') ?? []).slice(0, SALVAGE_MAX_VIAS);
  const cseq = found.get('cseq')?.[0];
  if (vias.length === 0 || cseq === undefined) return undefined;

  const headers: Header[] = vias.map((value) => ({ name: 'via', value }));
  const from = found.get('from')?.[0];
  if (from !== undefined) headers.push({ name: 'from', value: from });
  const to = found.get('to')?.[0];
  if (to !== undefined) {
    // The UAS adds a To tag when the request had none (RFC 3261 8.2.6.2).
    const tagged = /;\s*tag\s*=/i.test(to) ? to : `${to};tag=${random.token(64)}`;
    headers.push({ name: 'to', value: tagged });
  }
  const callId = found.get('call-id')?.[0];
  if (callId !== undefined) headers.push({ name: 'call-id', value: callId });
  headers.push({ name: 'cseq', value: cseq }); // serialize() adds Content-Length
  return { kind: 'response', status, reason: reasonPhrase(status), headers, body: Buffer.alloc(0) };
}
