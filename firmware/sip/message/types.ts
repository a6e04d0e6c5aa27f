/**
 * SIP messages as plain, readonly data (RFC 3261 section 7). Parsing and
 * serialising are pure functions over bytes (parse.ts, serialize.ts); nothing
 * here has a lifetime.
 */

/** One header line as it arrived or will be sent. `name` is the canonical
 * long form in lower case ("via", "call-id", "content-length"): compact forms
 * (v, i, l, ...) are expanded by the parser. A header that arrived with several
 * comma-separated values stays one entry; splitting is the job of the typed
 * header parsers in headers.ts. */
export interface Header {
  readonly name: string;
  readonly value: string;
}

export interface SipRequest {
  readonly kind: 'request';
  readonly method: string;
  /** Request-URI exactly as on the start line (parse it with parseUri). */
  readonly uri: string;
  readonly headers: readonly Header[];
  readonly body: Buffer;
}

export interface SipResponse {
  readonly kind: 'response';
  readonly status: number;
  readonly reason: string;
  readonly headers: readonly Header[];
  readonly body: Buffer;
}

export type SipMessage = SipRequest | SipResponse;

/** URI parameters keep their order; a parameter without a value has value null. */
export interface UriParam {
  readonly name: string;
  readonly value: string | null;
}

/** A parsed sip:, sips: or tel: URI (RFC 3261 section 19.1). User and password
 * are unescaped; host is lower-cased, and an IPv6 reference keeps its brackets. */
export interface SipUri {
  readonly scheme: 'sip' | 'sips' | 'tel';
  readonly user?: string;
  readonly password?: string;
  readonly host: string;
  readonly port?: number;
  readonly params: readonly UriParam[];
  /** ?name=value headers of the URI, unescaped. */
  readonly headers: readonly UriParam[];
}

/** A top Via (RFC 3261 section 20.42). */
export interface Via {
  /** "UDP", "TCP", "TLS", "WS", "WSS" (upper case). */
  readonly transport: string;
  readonly host: string;
  readonly port?: number;
  readonly branch?: string;
  readonly received?: string;
  /** rport: undefined if absent, null if present without a value. */
  readonly rport?: number | null;
  readonly params: readonly UriParam[];
}

/** name-addr or addr-spec with header parameters (From, To, Contact, Route ...). */
export interface NameAddr {
  readonly displayName?: string;
  readonly uri: string;
  readonly params: readonly UriParam[];
}

export interface CSeq {
  readonly seq: number;
  readonly method: string;
}
