import type { Counters } from '../../core/index.js';
import type { TapSink } from '../../media/index.js';

/**
 * Key presses a phone sends to a call the box answers itself (voicemail,
 * the mailbox, the auto-attendant): RFC 4733 telephone-events in the RTP
 * stream (read from an engine tap, after decryption), or SIP INFO for phones
 * that send it (application/dtmf-relay, application/dtmf). Both parsers are
 * pure and return a typed rejection; the sink counts every rejection under
 * `dtmf.bad.<reason>` and never throws.
 */

export type Digit = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9' | '*' | '#';

/**
 * An RFC 4733 2.3 event payload (4 bytes after the RTP header):
 *
 *   0                   1                   2                   3
 *  +---------------+-+-+-----------+-------------------------------+
 *  |     event     |E|R|  volume   |           duration            |
 *  +---------------+-+-+-----------+-------------------------------+
 */
export interface DtmfEvent {
  readonly digit: Digit;
  /** The RTP timestamp: every packet of one key press carries the same one (RFC 4733 2.5.1.1). */
  readonly timestamp: number;
  readonly end: boolean;
  readonly duration: number;
}

export type DtmfReject = 'short' | 'version' | 'not-event' | 'not-digit' | 'padding';

export type DtmfParse = { readonly ok: true; readonly event: DtmfEvent } | { readonly ok: false; readonly reason: DtmfReject };

const DIGITS: readonly Digit[] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'];

/** The digit of an RFC 4733 3.2 event code (0-9, 10 = *, 11 = #); undefined for A-D, flash and the rest. */
export function digitOfEvent(code: number): Digit | undefined {
  return DIGITS[code];
}

/** Read a telephone-event from a decrypted RTP packet whose payload type is `eventPt`. */
export function parseDtmfRtp(rtp: Uint8Array, eventPt: number): DtmfParse {
  if (rtp.length < 12) return { ok: false, reason: 'short' };
  if (rtp[0]! >> 6 !== 2) return { ok: false, reason: 'version' };
  if ((rtp[1]! & 0x7f) !== eventPt) return { ok: false, reason: 'not-event' };
  let off = 12 + 4 * (rtp[0]! & 0x0f);
  if (rtp[0]! & 0x10) {
    if (rtp.length < off + 4) return { ok: false, reason: 'short' };
    off += 4 + 4 * ((rtp[off + 2]! << 8) | rtp[off + 3]!);
  }
  let end = rtp.length;
  if (rtp[0]! & 0x20) {
    const pad = rtp[rtp.length - 1]!;
    if (pad === 0 || off + pad > rtp.length) return { ok: false, reason: 'padding' };
    end -= pad;
  }
  if (end - off < 4) return { ok: false, reason: 'short' };
  const digit = digitOfEvent(rtp[off]!);
  if (!digit) return { ok: false, reason: 'not-digit' };
  const timestamp = ((rtp[4]! << 24) | (rtp[5]! << 16) | (rtp[6]! << 8) | rtp[7]!) >>> 0;
  return { ok: true, event: { digit, timestamp, end: (rtp[off + 1]! & 0x80) !== 0, duration: (rtp[off + 2]! << 8) | rtp[off + 3]! } };
}

/** The longest INFO body read for DTMF: a key press is a few bytes. */
export const MAX_INFO_DTMF_BODY = 256;

export type InfoReject = 'too-long' | 'no-signal' | 'not-digit' | 'content-type';
export type InfoParse = { readonly ok: true; readonly digit: Digit } | { readonly ok: false; readonly reason: InfoReject };

/**
 * The digit of a DTMF INFO: application/dtmf-relay (`Signal=5` and
 * `Duration=160` lines, the de-facto format) or application/dtmf (the digit
 * alone). Anything else is a typed rejection.
 */
export function parseInfoDtmf(contentType: string | undefined, body: Uint8Array): InfoParse {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/dtmf-relay' && type !== 'application/dtmf') return { ok: false, reason: 'content-type' };
  if (body.length > MAX_INFO_DTMF_BODY) return { ok: false, reason: 'too-long' };
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('latin1');
  let value: string | undefined;
  if (type === 'application/dtmf') value = text.trim();
  else {
    for (const line of text.split(/\r?\n/)) {
      const m = /^\s*signal\s*=\s*(\S+)\s*$/i.exec(line);
      if (m) { value = m[1]; break; }
    }
  }
  if (value === undefined || value.length === 0) return { ok: false, reason: 'no-signal' };
  // A digit, * or #, or the event codes 10 and 11 some phones send for them.
  const digit = value === '10' ? '*' : value === '11' ? '#' : DIGITS.find((d) => d === value);
  if (!digit) return { ok: false, reason: 'not-digit' };
  return { ok: true, digit };
}

/**
 * A TapSink that turns one leg's telephone-events into key presses: a new
 * RTP timestamp is a new press (the retransmitted end packets of the same
 * press share it). What does not parse is counted, never thrown.
 */
export class DtmfSink implements TapSink {
  private lastTs: number | undefined;

  constructor(
    private readonly leg: string,
    private readonly eventPt: number,
    private readonly counters: Counters,
    private readonly onDigit: (digit: Digit) => void,
  ) {}

  packet(leg: string, rtp: Uint8Array, _arrivedAt: number, opaque: boolean): void {
    if (leg !== this.leg || opaque) return;
    if (rtp.length >= 2 && (rtp[1]! & 0x7f) !== this.eventPt) return; // audio: not ours to read
    const r = parseDtmfRtp(rtp, this.eventPt);
    if (!r.ok) { this.counters.inc(`dtmf.bad.${r.reason}`); return; }
    if (r.event.timestamp === this.lastTs) return;
    this.lastTs = r.event.timestamp;
    this.counters.inc('dtmf.rtp');
    try { this.onDigit(r.event.digit); } catch { this.counters.inc('dtmf.listener-error'); }
  }

  close(): void {
    this.lastTs = undefined;
  }
}
