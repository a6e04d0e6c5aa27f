import { PbxError, type Counters, type Random } from '../../core/index.js';
import type { IceLiteSpec, LegSecurity } from '../../media/index.js';
import { mediaProfile, type Attribute, type MediaDescription } from '../../sdp/index.js';
import type { KeyingEvent, KeyingEventOutcome, KeyingSdp, KeyingView, LegKeying, TakenOffer } from '../leg/index.js';
import type { Fingerprint } from './cert.js';
import { DEFAULT_SRTP_PROFILES, type SrtpProfileName } from './crypto.js';
import type { DtlsConnected, DtlsRole } from './endpoint.js';
import { dtlsOfMedia, fingerprintAttribute, setupAttribute, type DtlsSetup } from './sdp.js';

export interface DtlsLegOptions {
  /** The box's certificate fingerprint, for our a=fingerprint. */
  readonly fingerprint: Fingerprint;
  readonly srtpProfiles?: readonly SrtpProfileName[];
  readonly counters?: Counters;
  /**
   * With it the leg speaks ICE-lite (RFC 8445 2.5) too: our SDP carries
   * a=ice-lite and fresh a=ice-ufrag/a=ice-pwd, and toward a phone whose
   * SDP has ICE credentials (a browser) the engine answers only checks
   * under them.
   */
  readonly random?: Random;
}

/** RFC 8839 5.4: ufrag at least 24 bits of randomness, pwd at least 128 bits, from the ice-char set. */
function iceToken(random: Random, chars: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const b = random.bytes(chars);
  let out = '';
  for (let i = 0; i < chars; i++) out += alphabet[b[i]! & 63];
  return out;
}

const attributeValue = (m: MediaDescription, name: string): string | undefined => {
  const a = m.attributes.find((x) => x.name.toLowerCase() === name);
  return a?.value === null || a?.value === undefined ? undefined : a.value.trim();
};

/**
 * What the DtlsEndpoint on this leg must be. `generation` changes whenever
 * role or peer fingerprint changes: the owner then creates the endpoint
 * (generation 1) or calls restart(expectedFingerprint) on it.
 */
export interface DtlsLegEndpoint {
  readonly role: DtlsRole;
  readonly expectedFingerprint: Fingerprint;
  readonly srtpProfiles: readonly SrtpProfileName[];
  readonly generation: number;
}

interface Association {
  readonly role: DtlsRole;
  readonly fingerprint: Fingerprint;
}

const sameFingerprint = (a: Fingerprint, b: Fingerprint): boolean => a.algorithm === b.algorithm && a.value === b.value;
const DTLS_PROFILES = ['UDP/TLS/RTP/SAVP', 'UDP/TLS/RTP/SAVPF'];
const ROLE_FOR_ANSWER: Readonly<Record<Exclude<DtlsSetup, 'holdconn'>, DtlsRole>> = {
  // The phone offered: its setup decides ours (RFC 5763 5; RFC 8842 5.3: we answer actpass with active).
  actpass: 'client', active: 'server', passive: 'client',
};

function peerDtls(media: MediaDescription, counters: Counters | undefined): { fingerprint: Fingerprint; setup: Exclude<DtlsSetup, 'holdconn'> | undefined } {
  const p = mediaProfile(media);
  if (!p || !DTLS_PROFILES.includes(p)) throw new PbxError('protocol', 'this leg is DTLS-SRTP: the m-line is not UDP/TLS/RTP/SAVP(F)');
  const d = dtlsOfMedia(media, counters);
  // Strongest usable hash first; each is checked against the certificate in constant time later.
  const order = ['sha-512', 'sha-384', 'sha-256'];
  const fingerprint = [...d.fingerprints].sort((a, b) => order.indexOf(a.algorithm) - order.indexOf(b.algorithm))[0];
  if (!fingerprint) throw new PbxError('protocol', 'no usable a=fingerprint (RFC 8122)');
  if (d.setup === 'holdconn') throw new PbxError('protocol', 'a=setup:holdconn: no DTLS association');
  const setup = d.setup;
  return { fingerprint, setup };
}

/**
 * DTLS-SRTP (RFC 5763, RFC 5764, RFC 8842) on a leg the box keys: our SDP
 * carries the box's certificate fingerprint and a=setup; the phone's gives
 * its fingerprint and, with its setup, who is the DTLS client. The keys
 * come from the handshake in the media path: until the owner hands the
 * endpoint's result to deliver() and the engine's 'keying-done' event
 * comes through handle(), the leg is 'srtp-pending'.
 */
export class DtlsLeg implements LegKeying {
  readonly method = 'dtls' as const;
  readonly holder = 'box' as const;
  readonly events = ['keying-done', 'keying-failed'] as const;
  private current: Association | undefined;
  private pending: Association | undefined;
  private generation = 0;
  private profile: string | undefined;
  /** Our last offer was actpass: the answer's setup decides our role. */
  private offeredActpass = false;
  private delivered: DtlsConnected | undefined;
  private keys: DtlsConnected | undefined;
  /** The engine reported the handshake of the association in force done, with this SRTP profile. */
  private doneProfile: string | undefined;
  /** Our ICE credentials (with `random`), the phone's ufrag when its SDP gave one. */
  private ice: { ufrag: string; pwd: string } | undefined;
  private peerUfrag: string | undefined;
  private pendingUfrag: string | undefined;

  constructor(private readonly o: DtlsLegOptions) {
    if (o.random) this.ice = { ufrag: iceToken(o.random, 8), pwd: iceToken(o.random, 24) };
  }

  /** What our SDP says about ICE: lite, our credentials (the candidate line is written with the port, pbx/media). */
  private iceAttributes(): Attribute[] {
    const i = this.ice;
    return i ? [{ name: 'ice-lite', value: null }, { name: 'ice-ufrag', value: i.ufrag }, { name: 'ice-pwd', value: i.pwd }] : [];
  }

  /**
   * A new ufrag from the phone is an ICE restart (RFC 8445 9): we answer
   * with fresh credentials too.
   */
  private takeIce(media: MediaDescription): void {
    const u = attributeValue(media, 'ice-ufrag');
    this.pendingUfrag = u;
    if (u !== undefined && this.peerUfrag !== undefined && u !== this.peerUfrag && this.o.random) {
      this.ice = { ufrag: iceToken(this.o.random, 8), pwd: iceToken(this.o.random, 24) };
    }
  }

  private iceSpec(): IceLiteSpec | undefined {
    const i = this.ice;
    if (!i || this.peerUfrag === undefined) return undefined;
    return { localUfrag: i.ufrag, localPwd: i.pwd, remoteUfrag: this.peerUfrag };
  }

  /** The endpoint this leg needs now, once a round settled the peer's fingerprint and the roles. */
  endpoint(): DtlsLegEndpoint | undefined {
    const a = this.current;
    return a && {
      role: a.role, expectedFingerprint: a.fingerprint, srtpProfiles: this.o.srtpProfiles ?? DEFAULT_SRTP_PROFILES, generation: this.generation,
    };
  }

  /**
   * The endpoint's onConnected result. Taken only when it is for the
   * association in force (same role, same peer fingerprint); a late result
   * of a replaced one is counted and ignored.
   */
  deliver(result: DtlsConnected): boolean {
    const a = this.current;
    if (!a || a.role !== result.role || !sameFingerprint(a.fingerprint, result.peerFingerprint)) {
      this.o.counters?.inc('dtls-leg-stale-result');
      return false;
    }
    this.delivered = result;
    return true;
  }

  takeOffer(media: MediaDescription): TakenOffer {
    const d = peerDtls(media, this.o.counters);
    const role = ROLE_FOR_ANSWER[d.setup ?? 'active'];
    this.pending = { role, fingerprint: d.fingerprint };
    this.profile = mediaProfile(media);
    this.takeIce(media);
    const changed = !this.current || !sameFingerprint(this.current.fingerprint, d.fingerprint) || this.current.role !== role;
    return { rekey: changed, ...(this.keys || this.doneProfile ? {} : { security: { kind: 'srtp-pending' as const } }) };
  }

  answer(_peer?: MediaDescription): KeyingSdp {
    const p = this.pending;
    if (!p) throw new PbxError('invalid-state', 'DTLS: an answer without an offer');
    const before = this.engineState();
    this.settle(p);
    this.pending = undefined;
    this.peerUfrag = this.pendingUfrag;
    const security = this.changedSecurity(before);
    return {
      profile: this.profile ?? 'UDP/TLS/RTP/SAVP',
      attributes: [fingerprintAttribute(this.o.fingerprint), setupAttribute(p.role === 'client' ? 'active' : 'passive'), ...this.iceAttributes()],
      rtcpMux: true,
      ...(security ? { security } : {}),
    };
  }

  offer(peer: MediaDescription | undefined, rekey: boolean): KeyingSdp {
    this.pending = undefined;
    // RFC 8842 5.5: a re-offer that keeps the association repeats the role; a new association starts from actpass.
    const keep = this.current && !rekey;
    this.offeredActpass = !keep;
    const setup: DtlsSetup = keep ? (this.current!.role === 'client' ? 'active' : 'passive') : 'actpass';
    this.profile ??= peer && /F$/i.test(peer.protocol) ? 'UDP/TLS/RTP/SAVPF' : 'UDP/TLS/RTP/SAVP';
    return { profile: this.profile, attributes: [fingerprintAttribute(this.o.fingerprint), setupAttribute(setup), ...this.iceAttributes()] };
  }

  takeAnswer(media: MediaDescription): LegSecurity | undefined {
    const d = peerDtls(media, this.o.counters);
    const setup = d.setup ?? 'active';
    if (setup === 'actpass') throw new PbxError('protocol', 'an answer must not say a=setup:actpass (RFC 5763 5)');
    const role: DtlsRole = setup === 'active' ? 'server' : 'client';
    if (!this.offeredActpass && this.current && this.current.role !== role) {
      throw new PbxError('protocol', 'the answer swaps the DTLS roles of the association it keeps');
    }
    const before = this.engineState();
    this.settle({ role, fingerprint: d.fingerprint });
    this.peerUfrag = attributeValue(media, 'ice-ufrag');
    return this.changedSecurity(before);
  }

  /** What the engine's DTLS spec for this leg depends on: the association and both sides' ICE credentials. */
  private engineState(): string {
    return `${this.generation} ${this.ice?.ufrag ?? ''} ${this.ice?.pwd ?? ''} ${this.peerUfrag ?? ''}`;
  }

  /**
   * The engine security after a round settled, when the round changed what
   * the engine runs (a new association: a DTLS restart; new ICE credentials:
   * an ICE restart). Only the round's end knows it (the answer names the
   * roles), so the owner applies it then; before, a re-offer of a live call
   * got a new fingerprint and new ICE credentials in the SDP while the engine
   * kept the old handshake and answered only the old checks.
   */
  private changedSecurity(before: string): LegSecurity | undefined {
    return !this.keys && this.engineState() !== before ? this.security() : undefined;
  }

  private settle(a: Association): void {
    const c = this.current;
    if (c && c.role === a.role && sameFingerprint(c.fingerprint, a.fingerprint)) return;
    this.current = a;
    this.generation++;
    this.delivered = undefined;
  }

  /**
   * Keys held here (an owner that ran the endpoint itself and delivered its
   * result) are given as 'srtp'; otherwise the engine runs the handshake:
   * 'dtls' with the association in force, 'srtp-pending' before one settled.
   */
  security(): LegSecurity {
    if (this.keys) return { kind: 'srtp', rx: this.keys.srtp.localRx, tx: this.keys.srtp.localTx };
    const a = this.current;
    if (!a) return { kind: 'srtp-pending' };
    const ice = this.iceSpec();
    return {
      kind: 'dtls',
      dtls: {
        role: a.role, fingerprint: { algorithm: a.fingerprint.algorithm, value: a.fingerprint.value }, association: this.generation,
        ...(this.o.srtpProfiles ? { profiles: [...this.o.srtpProfiles] } : {}),
        ...(ice ? { ice } : {}),
      },
    };
  }

  rollback(): undefined {
    this.pending = undefined;
    return undefined;
  }

  /**
   * The engine's events. When the engine ran the handshake (security()
   * gave it 'dtls'), it installed the keys itself: 'keying-done' only
   * records the profile for the views. When an owner delivered a result,
   * keying-done turns it into the leg's keys.
   */
  handle(event: KeyingEvent): KeyingEventOutcome {
    if (event.type === 'keying-failed') return { failed: event.reason };
    if (event.type !== 'keying-done') return {};
    const r = this.delivered;
    if (r) {
      this.keys = r;
      return { security: this.security() };
    }
    if (!this.current) return { failed: 'DTLS: keying-done before any association was agreed' };
    this.doneProfile = event.suite ?? 'dtls';
    return {};
  }

  view(): KeyingView {
    const suite = this.keys?.profile ?? this.doneProfile;
    return { protection: 'dtls', keys: 'box', ...(suite ? { suite } : {}) };
  }
}
