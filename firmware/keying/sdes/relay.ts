import { PbxError } from '../../core/index.js';
import type { LegSecurity } from '../../media/index.js';
import { attributeValues, mediaProfile, type Attribute, type MediaDescription } from '../../sdp/index.js';
import { PLAIN_SDP, type KeyingEvent, type KeyingEventOutcome, type KeyingSdp, type KeyingView, type LegKeying, type TakenOffer } from '../leg/index.js';
import { PlainKeying } from '../leg/index.js';
import { parseCryptoLine } from './crypto.js';
import { sdesOfMedia, type SdesMode } from './negotiate.js';

const rawCrypto = (m: MediaDescription): Attribute[] => attributeValues(m.attributes, 'crypto').map((value) => ({ name: 'crypto', value }));
const profileOf = (m: MediaDescription): string => mediaProfile(m) ?? m.protocol;

/**
 * One leg of an end-to-end SDES relay: the phones' own a=crypto lines pass
 * between the legs verbatim, the box holds no key and the engine passes SRTP
 * untouched ('srtp-relay'). The box's offer toward this leg carries the other
 * phone's lines and transport; its answer carries the other phone's answer
 * lines. The lines still go only toward a TLS leg.
 *
 * A best-effort offer (RTP/AVP with a=crypto) answered without a=crypto in
 * the first exchange makes the leg plain RTP for the rest of the call
 * (RFC 4568 5); an SRTP offer answered without keys is refused, and once the
 * leg is SRTP no later exchange may drop the keys.
 */
export class SdesRelayLeg implements LegKeying {
  readonly method = 'sdes' as const;
  readonly holder = 'end-to-end' as const;
  readonly events = [] as const;
  /** Set once the first exchange ended without keys: the leg is plain from then on. */
  private plain: PlainKeying | undefined;
  /** Offer/answer rounds begun on this leg; a fallback to plain is possible only in the first. */
  private rounds = 0;
  private keyed = false;
  private suite: string | undefined;
  /** The SDES mode of the last offer on this leg, whoever made it. */
  private offeredMode: SdesMode = 'none';
  private lastOffer: MediaDescription | undefined;

  constructor(private readonly o: { readonly tls: boolean }) {}

  takeOffer(media: MediaDescription): TakenOffer {
    if (this.plain) return this.plain.takeOffer(media);
    if (this.keyed && rawCrypto(media).length === 0) throw new PbxError('protocol', 'an end-to-end SRTP leg cannot be re-offered without keys');
    this.rounds++;
    this.offeredMode = sdesOfMedia(media).mode;
    this.lastOffer = media;
    return { rekey: false };
  }

  answer(peer: MediaDescription | undefined): KeyingSdp {
    if (this.plain) return this.plain.answer();
    const lines = peer ? rawCrypto(peer) : [];
    if (!this.settle(lines)) return this.plain!.answer();
    return { profile: this.lastOffer ? profileOf(this.lastOffer) : peer ? profileOf(peer) : PLAIN_SDP.profile, attributes: this.toward(lines) };
  }

  offer(peer: MediaDescription | undefined, _rekey?: boolean): KeyingSdp {
    if (this.plain) return this.plain.offer();
    if (!peer) return PLAIN_SDP;
    this.rounds++;
    this.offeredMode = sdesOfMedia(peer).mode;
    return { profile: profileOf(peer), attributes: this.toward(rawCrypto(peer)) };
  }

  takeAnswer(media: MediaDescription): undefined {
    if (this.plain) return undefined;
    this.settle(rawCrypto(media));
    return undefined;
  }

  /** The answer of an exchange on this leg carries `lines`: keyed, or fallen back to plain (false), or refused. */
  private settle(lines: readonly Attribute[]): boolean {
    if (lines.length === 0) {
      if (this.keyed || this.rounds > 1) throw new PbxError('protocol', 'the answer drops the keys of an end-to-end SRTP leg');
      if (this.offeredMode !== 'best-effort') throw new PbxError('protocol', 'the answer to an SRTP offer has no a=crypto line');
      this.plain = new PlainKeying();
      if (this.lastOffer) this.plain.takeOffer(this.lastOffer);
      return false;
    }
    const parsed = parseCryptoLine(lines[0]!.value ?? '');
    this.suite = parsed.ok ? parsed.crypto.suite : undefined;
    this.keyed = true;
    return true;
  }

  /** Lines passed through verbatim, still only toward a TLS leg. */
  private toward(lines: Attribute[]): Attribute[] {
    if (lines.length > 0 && !this.o.tls) throw new PbxError('protocol', 'SDES keys are only sent over TLS signalling');
    return lines;
  }

  security(): LegSecurity {
    if (this.plain) return { kind: 'rtp' };
    return this.keyed ? { kind: 'srtp-relay' } : { kind: 'srtp-pending' };
  }

  rollback(): undefined {
    return undefined;
  }

  handle(_event?: KeyingEvent): KeyingEventOutcome {
    return {};
  }

  view(): KeyingView {
    if (this.plain) return { protection: 'rtp' };
    return { protection: 'sdes', keys: 'end-to-end', ...(this.suite ? { suite: this.suite } : {}) };
  }
}
