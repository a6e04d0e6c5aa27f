/**
 * Server-side stamping of the top Via (RFC 3261 section 18.2.1, RFC 3581
 * section 4). Pure: takes a request and the packet's source, returns a new
 * request whose top Via records where the request really came from, so the
 * response can find its way back through NATs.
 */
import { isIPv6 } from 'node:net';
import type { Header, SipRequest } from '../message/index.js';

export type StampResult =
  | { readonly ok: true; readonly request: SipRequest }
  | { readonly ok: false; readonly reason: 'no-via' | 'bad-via' };

/** Token characters (RFC 3261 section 25.1). */
const TOKEN = /^[A-Za-z0-9.!%*_+`'~-]+$/;
const SENT_PROTOCOL = /^\s*SIP\s*\/\s*2\.0\s*\/\s*([A-Za-z0-9.!%*_+`'~-]+)\s+(\S(?:.*\S)?)\s*$/i;

/** "::ffff:192.0.2.1" (an IPv4 peer on a dual-stack socket) -> "192.0.2.1". */
export function normalizeAddress(address: string): string {
  const a = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped?.[1] !== undefined) return mapped[1];
  if (isIPv6(a)) {
    // The URL parser prints IPv6 in its canonical compressed form.
    return new URL(`http://[${a}]/`).hostname.slice(1, -1);
  }
  return a.toLowerCase();
}

/** Index of the first character outside quotes and brackets equal to `ch`, or -1. */
function indexOutside(s: string, ch: string, from = 0): number {
  let quoted = false;
  let bracket = false;
  for (let i = from; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '[') bracket = true;
    else if (c === ']') bracket = false;
    else if (c === ch && !bracket) return i;
  }
  return -1;
}

function splitOutside(s: string, ch: string): string[] {
  const parts: string[] = [];
  let start = 0;
  for (;;) {
    const i = indexOutside(s, ch, start);
    if (i < 0) break;
    parts.push(s.slice(start, i));
    start = i + 1;
  }
  parts.push(s.slice(start));
  return parts;
}

/** Host part of a sent-by ("host", "host:port", "[v6]", "[v6]:port"), or undefined. */
function sentByHost(sentBy: string): string | undefined {
  if (sentBy.startsWith('[')) {
    const end = sentBy.indexOf(']');
    if (end < 0) return undefined;
    const rest = sentBy.slice(end + 1).trim();
    if (rest !== '' && !/^:\s*\d{1,5}$/.test(rest)) return undefined;
    return sentBy.slice(1, end);
  }
  const m = /^([^\s:]+)(?:\s*:\s*\d{1,5})?$/.exec(sentBy);
  return m?.[1];
}

/**
 * RFC 3261 18.2.1: when the top Via's sent-by host is not the packet's source
 * address, add `received` with the source address. RFC 3581 section 4: when
 * `rport` is present without a value, fill it with the source port, and then
 * add `received` even if it would equal the sent-by host.
 */
export function stampVia(req: SipRequest, sourceAddress: string, sourcePort: number): StampResult {
  const idx = req.headers.findIndex((h) => h.name === 'via');
  const header = idx < 0 ? undefined : req.headers[idx];
  if (header === undefined) return { ok: false, reason: 'no-via' };

  const comma = indexOutside(header.value, ',');
  const first = comma < 0 ? header.value : header.value.slice(0, comma);
  const rest = comma < 0 ? '' : header.value.slice(comma);

  const [protocolPart, ...paramParts] = splitOutside(first, ';');
  const m = SENT_PROTOCOL.exec(protocolPart ?? '');
  const host = m?.[2] === undefined ? undefined : sentByHost(m[2]);
  if (m === null || host === undefined || host === '') return { ok: false, reason: 'bad-via' };

  const source = normalizeAddress(sourceAddress);
  let rportWanted = false;
  const kept: string[] = [];
  for (const raw of paramParts) {
    const p = raw.trim();
    const eq = p.indexOf('=');
    const name = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
    if (!TOKEN.test(name)) return { ok: false, reason: 'bad-via' };
    if (name === 'received') continue; // replaced below with what we saw
    if (name === 'rport' && eq < 0) {
      rportWanted = true;
      kept.push(`rport=${sourcePort}`);
      continue;
    }
    kept.push(p);
  }

  const differs = normalizeAddress(host) !== source;
  if (!differs && !rportWanted && kept.length === paramParts.length) {
    return { ok: true, request: req };
  }
  if (differs || rportWanted) kept.push(`received=${source}`);

  const value = [(protocolPart ?? '').trim(), ...kept].join(';') + rest;
  const headers: Header[] = req.headers.map((h, i) => (i === idx ? { name: h.name, value } : h));
  return { ok: true, request: { ...req, headers } };
}
