import { PbxError, type Counters } from '../../core/index.js';
import type { LegSecurity } from '../../media/index.js';
import { mediaProfile, type Attribute, type MediaDescription } from '../../sdp/index.js';
import type { KeyingEvent, KeyingEventOutcome, KeyingSdp, KeyingView, LegKeying, TakenOffer } from '../leg/index.js';
import { dtlsOfMedia } from './sdp.js';

const DTLS_PROFILES = ['UDP/TLS/RTP/SAVP', 'UDP/TLS/RTP/SAVPF'];

/** The m-line's a=fingerprint and a=setup lines, verbatim; PbxError 'protocol' when it is no DTLS-SRTP m-line. */
function dtlsLines(m: MediaDescription, counters: Counters | undefined): Attribute[] {
  const p = mediaProfile(m);
  if (!p || !DTLS_PROFILES.includes(p)) throw new PbxError('protocol', 'end-to-end DTLS-SRTP: the m-line is not UDP/TLS/RTP/SAVP(F)');
  if (dtlsOfMedia(m, counters).fingerprints.length === 0) throw new PbxError('protocol', 'end-to-end DTLS-SRTP: no usable a=fingerprint');
  return m.attributes.filter((a) => a.name.toLowerCase() === 'fingerprint' || a.name.toLowerCase() === 'setup').map((a) => ({ name: a.name, value: a.value }));
}

/**
 * One leg of an end-to-end DTLS-SRTP relay (forced_relay, or a relay the
 * policy chose): the phones run DTLS with each other through the box, which
 * forwards the records and then the SRTP untouched ('srtp-relay') and never
 * has a key. Each phone's a=fingerprint and a=setup reach the other
 * verbatim, so each checks the other's certificate (RFC 5763 5): the box
 * cannot put itself in between unseen. ICE lines are not carried (the box
 * writes its own addresses), so this serves phones without ICE.
 */
export class DtlsRelayLeg implements LegKeying {
  readonly method = 'dtls' as const;
  readonly holder = 'end-to-end' as const;
  readonly events = [] as const;
  private lastOffer: MediaDescription | undefined;
  private answered = false;

  constructor(private readonly o: { readonly counters?: Counters } = {}) {}

  takeOffer(media: MediaDescription): TakenOffer {
    dtlsLines(media, this.o.counters);
    this.lastOffer = media;
    return { rekey: false };
  }

  answer(peer: MediaDescription | undefined): KeyingSdp {
    if (!peer) throw new PbxError('protocol', 'end-to-end DTLS-SRTP: the other phone gave no answer');
    const attributes = dtlsLines(peer, this.o.counters);
    this.answered = true;
    return { profile: mediaProfile(this.lastOffer ?? peer) ?? peer.protocol, attributes };
  }

  offer(peer: MediaDescription | undefined, _rekey?: boolean): KeyingSdp {
    if (!peer) throw new PbxError('protocol', 'end-to-end DTLS-SRTP: nothing to relay');
    return { profile: mediaProfile(peer) ?? peer.protocol, attributes: dtlsLines(peer, this.o.counters) };
  }

  takeAnswer(media: MediaDescription): undefined {
    dtlsLines(media, this.o.counters);
    this.answered = true;
    return undefined;
  }

  security(): LegSecurity {
    return this.answered ? { kind: 'srtp-relay' } : { kind: 'srtp-pending' };
  }

  rollback(): undefined {
    return undefined;
  }

  handle(_event?: KeyingEvent): KeyingEventOutcome {
    return {};
  }

  view(): KeyingView {
    return { protection: 'dtls', keys: 'end-to-end' };
  }
}
