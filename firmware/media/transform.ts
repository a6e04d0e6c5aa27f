/**
 * The per-leg packet transform slot, and the SRTP transform that fills it
 * when the box holds a leg's keys (SDES today; DTLS-SRTP and ZRTP later).
 *
 * On receive the engine calls `unprotect` after the clear RTP header and the
 * source check passed but before it commits any state (latching, statistics),
 * so a forged or replayed packet cannot move the latch. A latch move never
 * gives the receive context a fresh start: a packet the context has seen
 * stays a replay whichever address it comes from. On send it calls `protect` last,
 * after payload-type rewriting. Either returns the packet to carry on with (the
 * same buffer, a subarray of it, or a buffer the transform owns and reuses) or
 * a drop reason that the leg counts (e.g. 'srtp-auth', 'srtp-replay').
 */
import { SrtpSession, MAX_SRTP_PACKET, MAX_SRTP_TRAILER, type SrtpSessionOptions } from './srtp/index.js';

export type MediaKind = 'rtp' | 'rtcp';

export interface LegTransform {
  unprotect(kind: MediaKind, packet: Buffer): Buffer | string;
  protect(kind: MediaKind, packet: Buffer): Buffer | string;
}

/** SRTP keys for one leg: `rx` decrypts what the leg's phone sends, `tx` encrypts what the box sends it. */
export interface SrtpLegKeys {
  readonly rx: SrtpSessionOptions;
  readonly tx: SrtpSessionOptions;
}

/**
 * Sends are asynchronous: a protected packet must stay intact until the
 * socket took it, so protect writes into a ring of buffers rather than one.
 * Node tries a synchronous send first, so the ring is only a safety margin
 * for bursts.
 */
export const SRTP_OUT_RING = 16;
/**
 * After a rekey, packets the phone protected with its old key can still be in
 * flight (RFC 4568 7.1.4: the offerer keeps its old key until the answer
 * arrives). The old receive session stays as a fallback until the new key has
 * authenticated this many packets.
 */
export const REKEY_OVERLAP_PACKETS = 50;

/** How many replaced sessions a leg keeps per direction. */
export const RETIRED_SESSIONS = 4;

interface Retired {
  readonly opts: SrtpSessionOptions;
  readonly session: SrtpSession;
}

function retire(list: Retired[], opts: SrtpSessionOptions, session: SrtpSession): void {
  list.push({ opts, session });
  while (list.length > RETIRED_SESSIONS) list.shift();
}

function sameKey(a: SrtpSessionOptions, b: SrtpSessionOptions): boolean {
  const eq = (x: Uint8Array | undefined, y: Uint8Array | undefined): boolean =>
    x === undefined || y === undefined ? x === y : Buffer.from(x).equals(Buffer.from(y));
  return a.suite === b.suite && eq(a.masterKey, b.masterKey) && eq(a.masterSalt, b.masterSalt) && eq(a.mki, b.mki)
    && (a.kdr ?? 0) === (b.kdr ?? 0) && a.encryptRtcp === b.encryptRtcp && a.replayWindow === b.replayWindow;
}

/**
 * A leg whose SRTP the box terminates. Receive contexts (rollover counter,
 * replay window) live per SSRC inside SrtpSession, so a new SSRC starts at
 * ROC 0 on its own (RFC 3711 3.3.1). `rekey` follows a re-INVITE or UPDATE;
 * it never restarts a send context under an unchanged key, since that would
 * encrypt two packets with the same keystream.
 */
export class SrtpLeg implements LegTransform {
  private rxOpts: SrtpSessionOptions;
  private rx: SrtpSession;
  private prevRx: SrtpSession | undefined;
  private overlapLeft = 0;
  private txOpts: SrtpSessionOptions;
  private tx: SrtpSession;
  private readonly ring: Buffer[] = [];
  private slot = 0;
  /**
   * Sessions a rekey replaced, newest last, so a key that comes back (a
   * refused rekey rolled back, RFC 6337 3.2) comes back with its state: the
   * send side's rollover counter (a fresh session under a used key would
   * repeat keystream once the sequence had wrapped) and the receive side's
   * replay window.
   */
  private readonly retiredRx: Retired[] = [];
  private readonly retiredTx: Retired[] = [];

  constructor(keys: SrtpLegKeys) {
    this.rxOpts = keys.rx;
    this.txOpts = keys.tx;
    // Both constructors check the keys (PbxError 'config') before anything is kept.
    this.rx = new SrtpSession(keys.rx);
    this.tx = new SrtpSession(keys.tx);
    for (let i = 0; i < SRTP_OUT_RING; i++) this.ring.push(Buffer.alloc(MAX_SRTP_PACKET + MAX_SRTP_TRAILER));
  }

  /** The suite of what the box receives on this leg (what the phone chose or was given). */
  get suite(): string { return this.rx.suite.name; }

  /**
   * New keys from a new offer/answer. Under an unchanged receive key the
   * receive context stays, replay window and rollover counter included: a
   * fresh one would accept again every packet already seen (RFC 3711 3.3.2),
   * and a phone that restarted its index under the same key would be reusing
   * keystream anyway. A new SSRC still gets its own fresh context inside the
   * session (RFC 3711 3.3.1). Under a new key the old session stays as a
   * fallback for packets in flight, with its own replay state. The send
   * session is replaced only when its key changed.
   */
  rekey(keys: SrtpLegKeys): void {
    const rxSame = sameKey(keys.rx, this.rxOpts);
    const txSame = sameKey(keys.tx, this.txOpts);
    // Both sessions are found or built before anything changes (a bad key throws and changes nothing).
    const rxFound = rxSame ? -1 : this.retiredRx.findIndex((r) => sameKey(r.opts, keys.rx));
    const txFound = txSame ? -1 : this.retiredTx.findIndex((r) => sameKey(r.opts, keys.tx));
    const rx = rxSame ? this.rx : rxFound >= 0 ? this.retiredRx[rxFound]!.session : new SrtpSession(keys.rx);
    const tx = txSame ? this.tx : txFound >= 0 ? this.retiredTx[txFound]!.session : new SrtpSession(keys.tx);
    if (!rxSame) {
      if (rxFound >= 0) this.retiredRx.splice(rxFound, 1);
      retire(this.retiredRx, this.rxOpts, this.rx);
      this.prevRx = this.rx;
      this.overlapLeft = REKEY_OVERLAP_PACKETS;
    }
    if (!txSame) {
      if (txFound >= 0) this.retiredTx.splice(txFound, 1);
      retire(this.retiredTx, this.txOpts, this.tx);
    }
    this.rx = rx;
    this.rxOpts = keys.rx;
    this.tx = tx;
    this.txOpts = keys.tx;
  }

  unprotect(kind: MediaKind, packet: Buffer): Buffer | string {
    const r = kind === 'rtp' ? this.rx.unprotectRtp(packet) : this.rx.unprotectRtcp(packet);
    if (typeof r !== 'string') {
      if (this.prevRx && --this.overlapLeft <= 0) this.prevRx = undefined;
      return r;
    }
    const prev = this.prevRx;
    if (prev) {
      const p = kind === 'rtp' ? prev.unprotectRtp(packet) : prev.unprotectRtcp(packet);
      if (typeof p !== 'string') return p;
    }
    return r;
  }

  protect(kind: MediaKind, packet: Buffer): Buffer | string {
    const out = this.ring[this.slot]!;
    this.slot = (this.slot + 1) % SRTP_OUT_RING;
    return kind === 'rtp' ? this.tx.protectRtp(packet, out) : this.tx.protectRtcp(packet, out);
  }
}
