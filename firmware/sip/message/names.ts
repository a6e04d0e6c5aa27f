/** Header names: compact forms, canonical spelling, and which ones hold lists. */

/** RFC 3261 7.3.3 and later RFCs: compact form -> long name (lower case). */
// Maps, not plain objects: a header named "constructor" or "__proto__" must
// not find Object.prototype's members.
const COMPACT: ReadonlyMap<string, string> = new Map(Object.entries({
  i: 'call-id', m: 'contact', e: 'content-encoding', l: 'content-length', c: 'content-type',
  f: 'from', s: 'subject', k: 'supported', t: 'to', v: 'via', o: 'event', r: 'refer-to',
  b: 'referred-by', x: 'session-expires', u: 'allow-events', y: 'identity', a: 'accept-contact',
  j: 'reject-contact', d: 'request-disposition',
}));

/** Lower-cases a header name and expands a compact form. */
export function normalizeHeaderName(name: string): string {
  const lower = name.toLowerCase();
  return COMPACT.get(lower) ?? lower;
}

/** Spellings that plain capitalisation would get wrong. */
const CANONICAL: ReadonlyMap<string, string> = new Map(Object.entries({
  'call-id': 'Call-ID', cseq: 'CSeq', 'www-authenticate': 'WWW-Authenticate', 'mime-version': 'MIME-Version',
  rack: 'RAck', rseq: 'RSeq', 'sip-etag': 'SIP-ETag', 'sip-if-match': 'SIP-If-Match', 'p-asserted-identity': 'P-Asserted-Identity',
  'p-preferred-identity': 'P-Preferred-Identity', 'p-associated-uri': 'P-Associated-URI', 'p-called-party-id': 'P-Called-Party-ID',
  'p-charging-vector': 'P-Charging-Vector', 'p-access-network-info': 'P-Access-Network-Info', 'in-reply-to': 'In-Reply-To',
  'identity-info': 'Identity-Info', 'alert-info': 'Alert-Info', 'call-info': 'Call-Info', 'error-info': 'Error-Info',
}));

/** The canonical spelling used on the wire ("call-id" -> "Call-ID", "x-foo" -> "X-Foo"). */
export function canonicalHeaderName(name: string): string {
  const lower = normalizeHeaderName(name);
  return CANONICAL.get(lower) ?? lower.replace(/(^|-)([a-z])/g, (_m, sep: string, ch: string) => sep + ch.toUpperCase());
}

/** Headers whose grammar is a comma-separated list (RFC 3261 7.3.1); others must never be split. */
const LIST_HEADERS = new Set([
  'via', 'contact', 'route', 'record-route', 'allow', 'supported', 'require', 'proxy-require', 'unsupported',
  'accept', 'accept-encoding', 'accept-language', 'allow-events', 'content-encoding', 'content-language',
  'in-reply-to', 'alert-info', 'call-info', 'error-info', 'warning', 'path', 'service-route',
  'p-asserted-identity', 'p-preferred-identity', 'p-associated-uri', 'accept-contact', 'reject-contact',
  'request-disposition', 'security-client', 'security-server', 'security-verify', 'reason',
]);

export function isListHeader(name: string): boolean {
  return LIST_HEADERS.has(normalizeHeaderName(name));
}

/** Headers a message may carry at most once (RFC 3261 7.3.1, RFC 4475 3.3.8 and 3.3.9). */
export const SINGLE_HEADERS: readonly string[] = [
  'to', 'from', 'call-id', 'cseq', 'max-forwards', 'content-length', 'content-type',
];
