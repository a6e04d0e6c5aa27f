/**
 * A session description (RFC 4566) as plain readonly data. Attributes stay an
 * ordered list of raw name/value pairs so that later layers (SDES a=crypto,
 * DTLS a=fingerprint/a=setup, a=zrtp-hash) read and write them without a
 * change here; typed views over them live in attributes.ts.
 */

/** A property attribute (`a=rtcp-mux`) has value null; a value attribute (`a=ptime:20`) its text after the colon. */
export interface Attribute {
  readonly name: string;
  readonly value: string | null;
}

/** o= (RFC 4566 5.2). Session id and version are decimal strings: they may exceed 2^53. */
export interface Origin {
  readonly username: string;
  readonly sessionId: string;
  readonly sessionVersion: string;
  readonly netType: string;
  readonly addrType: string;
  readonly address: string;
}

/** c= (RFC 4566 5.7); ttl and count only for multicast (`224.2.1.1/127/3`). */
export interface Connection {
  readonly netType: string;
  readonly addrType: string;
  readonly address: string;
  readonly ttl?: number;
  readonly count?: number;
}

/** b=<type>:<kbps or bps> (RFC 4566 5.8, RFC 3556 for RS/RR). */
export interface Bandwidth {
  readonly type: string;
  readonly value: number;
}

/** t= with the r= lines that follow it (RFC 4566 5.9, 5.10); times are NTP seconds, 0 means unbounded. */
export interface Timing {
  readonly start: number;
  readonly stop: number;
  readonly repeats: readonly string[];
}

export interface MediaDescription {
  /** audio, video, text, application, message, or anything the peer sent. */
  readonly type: string;
  /** 0 means the stream is rejected or disabled (RFC 3264 5.1, 6). */
  readonly port: number;
  readonly portCount?: number;
  /** The transport, e.g. one of the MediaProfile values; kept as sent for other transports. */
  readonly protocol: string;
  /** For RTP profiles, payload type numbers as decimal strings, in the sender's order of preference. */
  readonly formats: readonly string[];
  /** i= */
  readonly title?: string;
  readonly connection?: Connection;
  readonly bandwidths: readonly Bandwidth[];
  /** k= (obsolete, kept only so it survives a round trip). */
  readonly key?: string;
  readonly attributes: readonly Attribute[];
}

export interface SessionDescription {
  readonly version: 0;
  readonly origin: Origin;
  /** s=; a blank name is held as a single space, as RFC 4566 5.3 asks senders to write it. */
  readonly sessionName: string;
  readonly information?: string;
  readonly uri?: string;
  readonly emails: readonly string[];
  readonly phones: readonly string[];
  readonly connection?: Connection;
  readonly bandwidths: readonly Bandwidth[];
  readonly timings: readonly Timing[];
  /** z= kept raw. */
  readonly timeZones?: string;
  readonly key?: string;
  readonly attributes: readonly Attribute[];
  readonly media: readonly MediaDescription[];
}

/** The RTP transport profiles the box knows; SAVP variants carry SRTP (RFC 3711), UDP/TLS ones key it by DTLS (RFC 5764). */
export type MediaProfile =
  | 'RTP/AVP'
  | 'RTP/AVPF'
  | 'RTP/SAVP'
  | 'RTP/SAVPF'
  | 'UDP/TLS/RTP/SAVP'
  | 'UDP/TLS/RTP/SAVPF';

export const MEDIA_PROFILES: readonly MediaProfile[] = [
  'RTP/AVP', 'RTP/AVPF', 'RTP/SAVP', 'RTP/SAVPF', 'UDP/TLS/RTP/SAVP', 'UDP/TLS/RTP/SAVPF',
];

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>] (RFC 4566 6). */
export interface RtpMap {
  readonly pt: number;
  readonly encoding: string;
  readonly clockRate: number;
  readonly channels?: number;
}

/** a=fmtp:<pt> <params>; the parameters stay a string, their syntax belongs to each payload format. */
export interface Fmtp {
  readonly pt: number;
  readonly params: string;
}

/** a=rtcp:<port> [<nettype> <addrtype> <address>] (RFC 3605). */
export interface RtcpAttribute {
  readonly port: number;
  readonly netType?: string;
  readonly addrType?: string;
  readonly address?: string;
}

/** One codec of an m-line, whether named by a=rtpmap or by a static payload type (RFC 3551). */
export interface Codec {
  readonly pt: number;
  readonly encoding: string;
  readonly clockRate: number;
  /** Audio channels; 1 when not given. */
  readonly channels: number;
  readonly fmtp?: string;
}
