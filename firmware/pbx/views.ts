/**
 * What call control shows of a call to the CLI, the web page and the call
 * records: plain data, no secrets (never a key).
 */

export type MediaProtection = 'rtp' | 'sdes' | 'dtls' | 'zrtp';

export interface LegView {
  /** The account on this leg, or the remote URI for a static contact or trunk. */
  readonly party: string;
  /** Signalling transport of this leg. */
  readonly transport: 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';
  readonly address?: string;
  /** Media protection on this leg: plain RTP or the key agreement used. */
  readonly protection: MediaProtection;
  /** SRTP suite on this leg, e.g. AES_CM_128_HMAC_SHA1_80; absent for plain RTP. */
  readonly suite?: string;
  /** Who holds this leg's keys: the box (it decrypts), or the phones alone (relayed end to end). */
  readonly keys?: 'box' | 'end-to-end';
  readonly codec?: string;
}

export interface CallView {
  readonly id: string;
  readonly caller: string;
  readonly callee: string;
  readonly state: 'routing' | 'ringing' | 'answered' | 'ending';
  readonly startedAt: number;
  readonly answeredAt?: number;
  readonly legs: { readonly a: LegView; readonly b?: LegView };
  /** relay: encrypted media passes untouched (fully private); bridge: the box decrypts and re-encrypts. */
  readonly mode: 'relay' | 'bridge';
  /** Whether the box holds the keys, so recording and music on hold are possible. */
  readonly recordingPossible: boolean;
  /** Why the media is protected as it is (the media policy's decision), once decided. */
  readonly policyNote?: string;
}
