import { PbxError } from '../../core/index.js';
import type { LegSecurity } from '../../media/index.js';
import { isSecureProfile, mediaProfile, type MediaDescription } from '../../sdp/index.js';
import { PLAIN_SDP, type KeyingEvent, type KeyingEventOutcome, type KeyingSdp, type KeyingView, type LegKeying, type TakenOffer } from './keying.js';

/** RTP/AVP or RTP/AVPF as the m-line has it, else RTP/AVP: the plain transport to answer it with. */
export function plainProfile(m: MediaDescription | undefined): string {
  const p = m ? mediaProfile(m) : undefined;
  return p === 'RTP/AVP' || p === 'RTP/AVPF' ? p : 'RTP/AVP';
}

const RTP: LegSecurity = { kind: 'rtp' };

/**
 * A leg of plain RTP: no key line either way. A best-effort offer (RTP/AVP
 * with a=crypto) is answered without keys, so the phone falls back to RTP
 * (RFC 4568 5); an offer that insists on SRTP (an SAVP transport) cannot be
 * answered on this leg and is refused, rather than turned into clear media.
 */
export class PlainKeying implements LegKeying {
  readonly method = 'none' as const;
  readonly holder = 'none' as const;
  readonly events = [] as const;
  /** The phone's last offer, whose transport the box's answer echoes. */
  private lastOffer: MediaDescription | undefined;

  takeOffer(media: MediaDescription): TakenOffer {
    const p = mediaProfile(media);
    if (p !== undefined && isSecureProfile(p)) throw new PbxError('protocol', 'this leg is plain RTP: it cannot take an SRTP offer');
    this.lastOffer = media;
    return { rekey: false };
  }

  answer(_peer?: MediaDescription): KeyingSdp {
    return { profile: plainProfile(this.lastOffer), attributes: [] };
  }

  offer(_peer?: MediaDescription, _rekey?: boolean): KeyingSdp {
    return PLAIN_SDP;
  }

  takeAnswer(_media?: MediaDescription): undefined {
    return undefined;
  }

  security(): LegSecurity {
    return RTP;
  }

  rollback(): undefined {
    return undefined;
  }

  handle(_event?: KeyingEvent): KeyingEventOutcome {
    return {};
  }

  view(): KeyingView {
    return { protection: 'rtp' };
  }
}
