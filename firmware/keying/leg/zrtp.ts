import { PbxError, type Random } from '../../core/index.js';
import type { LegSecurity } from '../../media/index.js';
import { attributeValues, isSecureProfile, mediaProfile, type Attribute, type MediaDescription } from '../../sdp/index.js';
import type { KeyingEvent, KeyingEventOutcome, KeyingSdp, KeyingView, LegKeying, TakenOffer, ZrtpView } from './keying.js';
import { plainProfile } from './plain.js';

/** What writes our a=zrtp-hash: the box's ZRTP identity (keying/zrtp ZrtpBox). */
export interface ZrtpHelloSource {
  /** The a=zrtp-hash value ("1.10 <hex>") of the Hello the engine will send for this H0. */
  helloHash(h0: Uint8Array, mitm: boolean): string;
}

/** The longest a=zrtp-hash value taken from a phone ("1.10 " and 64 hex digits, with room). */
const MAX_ZRTP_HASH_VALUE = 100;

/** The phone's a=zrtp-hash on its m-line (RFC 6189 8.1), if any; PbxError 'protocol' when it cannot be one. */
function peerHash(media: MediaDescription): string | undefined {
  const v = attributeValues(media.attributes, 'zrtp-hash');
  if (v.length === 0) return undefined;
  const value = (v[0] ?? '').trim();
  if (value.length === 0 || value.length > MAX_ZRTP_HASH_VALUE) throw new PbxError('protocol', 'a=zrtp-hash is malformed');
  return value;
}

/** ZRTP runs over a plain RTP profile (RFC 6189 8.1); an SAVP m-line keys elsewhere. */
function needPlainProfile(media: MediaDescription): void {
  const p = mediaProfile(media);
  if (p !== undefined && isSecureProfile(p)) throw new PbxError('protocol', 'this leg is ZRTP: the m-line must be RTP/AVP(F)');
}

export interface ZrtpLegOptions {
  readonly hello: ZrtpHelloSource;
  readonly random: Random;
  /** The box is a trusted MiTM toward this phone (RFC 6189 7.3): the M flag in our Hello. Default true: the box is a PBX. */
  readonly mitm?: boolean;
  /** Ask the phone to enroll the box as its trusted PBX (RFC 6189 7.3.1). */
  readonly enroll?: boolean;
}

/**
 * ZRTP (RFC 6189) on a leg the box keys: our SDP carries a=zrtp-hash of the
 * Hello the engine will send on the leg (made from an H0 this object draws
 * once, so every SDP of the leg announces the same Hello), and the phone's
 * a=zrtp-hash goes to the engine, which refuses a Hello that does not match
 * it. The keys come from the exchange in the media path: the engine installs
 * them itself and reports 'keying-done' with the SAS ('sas'), which this
 * object keeps for the views. Until then the engine holds the leg closed
 * ('srtp-pending' inside the engine).
 */
export class ZrtpLeg implements LegKeying {
  readonly method = 'zrtp' as const;
  readonly holder = 'box' as const;
  readonly events = ['keying-done', 'keying-failed', 'sas'] as const;
  private readonly h0: Buffer;
  private readonly mitm: boolean;
  private hash: string | undefined;
  private peer: string | undefined;
  private lastOffer: MediaDescription | undefined;
  private done = false;
  private suite: string | undefined;
  private zrtp: ZrtpView | undefined;

  constructor(private readonly o: ZrtpLegOptions) {
    this.h0 = o.random.bytes(32);
    this.mitm = o.mitm !== false;
  }

  /** The a=zrtp-hash value of our Hello on this leg. */
  get helloHash(): string {
    this.hash ??= this.o.hello.helloHash(this.h0, this.mitm);
    return this.hash;
  }

  private sdp(profile: string): KeyingSdp {
    const attributes: Attribute[] = [{ name: 'zrtp-hash', value: this.helloHash }];
    return { profile, attributes };
  }

  private takePeer(media: MediaDescription): boolean {
    needPlainProfile(media);
    const h = peerHash(media);
    // RFC 6189 8.1: a hash once given belongs to the Hello in use; a new one (a new Hello) is taken, none keeps the old.
    if (h === undefined || h === this.peer) return false;
    this.peer = h;
    return true;
  }

  takeOffer(media: MediaDescription): TakenOffer {
    const changed = this.takePeer(media);
    this.lastOffer = media;
    return { rekey: false, ...(changed && this.done ? { security: this.security() } : {}) };
  }

  answer(_peer?: MediaDescription): KeyingSdp {
    return this.sdp(plainProfile(this.lastOffer));
  }

  offer(peer: MediaDescription | undefined, _rekey?: boolean): KeyingSdp {
    // The exchange in force keeps its keys across re-offers: ZRTP rekeys in the media path, not in SDP.
    return this.sdp(plainProfile(this.lastOffer ?? peer));
  }

  takeAnswer(media: MediaDescription): LegSecurity | undefined {
    return this.takePeer(media) ? this.security() : undefined;
  }

  security(): LegSecurity {
    return {
      kind: 'zrtp',
      zrtp: { h0: this.h0, mitm: this.mitm, ...(this.peer !== undefined ? { peerHelloHash: this.peer } : {}), ...(this.o.enroll ? { enroll: true } : {}) },
    };
  }

  rollback(): undefined {
    return undefined;
  }

  handle(event: KeyingEvent): KeyingEventOutcome {
    switch (event.type) {
      case 'keying-failed': return { failed: event.reason };
      case 'keying-done':
        this.done = true;
        if (event.suite !== undefined) this.suite = event.suite;
        return {};
      case 'sas':
        this.zrtp = {
          sas: event.sas, sasVerified: event.verified,
          ...(event.cache !== undefined ? { cache: event.cache } : {}),
          ...(event.algorithms !== undefined ? { algorithms: event.algorithms } : {}),
          ...(event.peerVerified !== undefined ? { peerVerified: event.peerVerified } : {}),
          ...(event.enrolled !== undefined ? { enrolled: event.enrolled } : {}),
        };
        return {};
    }
  }

  view(): KeyingView {
    return { protection: 'zrtp', keys: 'box', ...(this.suite ? { suite: this.suite } : {}), ...(this.zrtp ? { zrtp: this.zrtp } : {}) };
  }
}

/**
 * One leg of an end-to-end ZRTP relay: the two phones run ZRTP with each
 * other through the box, which forwards their ZRTP packets and then their
 * SRTP untouched ('srtp-relay') and never has a key. Each phone's
 * a=zrtp-hash is carried to the other verbatim, so each checks the Hello it
 * gets against what the other's SDP said (RFC 6189 8.1): the box cannot
 * swap a Hello unseen. The phones show each other's SAS; the box has none.
 */
export class ZrtpRelayLeg implements LegKeying {
  readonly method = 'zrtp' as const;
  readonly holder = 'end-to-end' as const;
  readonly events = [] as const;
  private lastOffer: MediaDescription | undefined;
  private answered = false;

  takeOffer(media: MediaDescription): TakenOffer {
    needPlainProfile(media);
    peerHash(media);
    this.lastOffer = media;
    return { rekey: false };
  }

  /** The other phone's hash line, verbatim; a relay needs one (the other phone runs ZRTP). */
  private lines(peer: MediaDescription | undefined): Attribute[] {
    const h = peer ? peerHash(peer) : undefined;
    if (h === undefined) throw new PbxError('protocol', 'end-to-end ZRTP: the other phone gave no a=zrtp-hash');
    return [{ name: 'zrtp-hash', value: h }];
  }

  answer(peer: MediaDescription | undefined): KeyingSdp {
    const attributes = this.lines(peer);
    this.answered = true;
    return { profile: plainProfile(this.lastOffer ?? peer), attributes };
  }

  offer(peer: MediaDescription | undefined, _rekey?: boolean): KeyingSdp {
    return { profile: plainProfile(peer), attributes: this.lines(peer) };
  }

  takeAnswer(media: MediaDescription): undefined {
    needPlainProfile(media);
    if (peerHash(media) === undefined) throw new PbxError('protocol', 'end-to-end ZRTP: the answer has no a=zrtp-hash');
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
    return { protection: 'zrtp', keys: 'end-to-end' };
  }
}
