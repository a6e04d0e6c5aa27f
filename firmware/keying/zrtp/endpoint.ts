/**
 * One ZRTP endpoint per media leg (RFC 6189 4): the Hello exchange, DH-mode
 * key agreement with either role (whoever commits, contention settled by
 * hvi, 4.2), the hash chain checks of every message (9), the Confirm
 * exchange with the cache flags, the retained-secret cache update (4.6.1),
 * the retransmission timers T1/T2 (6) on the injected Clock, and SASrelay
 * for the trusted-MiTM case (7.3). It speaks through `send` and is fed by
 * `receive`; nothing it is handed can make it throw: every drop is a counter.
 *
 * States (one transition function, `move`):
 *
 *   idle -start-> discovery -(Hello+HelloACK, we commit)-> committed -DHPart1-> sentDhPart2 -Confirm1-> sentConfirm2 -Conf2ACK-> secure
 *                 discovery -Commit-> sentDhPart1 -DHPart2-> sentConfirm1 -Confirm2-> secure
 *                 committed -Commit with higher hvi-> sentDhPart1 (contention lost)
 *   any -error/timeout/close-> failed | closed
 */
import type { Clock, Counters, Random, TimerHandle } from '../../core/index.js';
import type { SrtpSessionOptions } from '../../media/srtp/index.js';
import type { ZrtpCache, ZrtpCacheEntry } from './cache.js';
import {
  AUTH_TAG_TYPES, CIPHER_TYPES, KEY_AGREEMENT_TYPES, MANDATORY, PV_BYTES, SAS_TYPES, cfb, computeS0, deriveKeys, equalBytes,
  generateKeyPair, hash, hashChain, mac64, pbxSecretOf, renderSas, secretId, srtpSuiteOf,
  type AuthTagType, type CipherType, type DerivedKeys, type HashChain, type KeyAgreementType, type KeyPair, type SasType,
} from './crypto.js';
import {
  CFB_IV_BYTES, MAC_BYTES, ZRTP_ERROR, ZRTP_VERSION, parseConfirmPlain, parsePacket, parseSasRelayPlain, serializeConfirmPlain,
  serializeMessage, serializePacket, serializeSasRelayPlain,
  type CommitMessage, type DhPartMessage, type EncryptedMessage, type HelloMessage, type ZrtpMessage, type ZrtpMessageType,
} from './packet.js';

/** RFC 6189 6: T1 for Hello, T2 for Commit, DHPart2, Confirm2, Error, SASrelay. */
export const T1_INITIAL_MS = 50;
export const T1_CAP_MS = 200;
export const T1_MAX_TRIES = 20;
export const T2_INITIAL_MS = 150;
export const T2_CAP_MS = 1200;
export const T2_MAX_TRIES = 10;
/** RFC 6189 4.9: the cache expiration interval meaning "forever". */
export const CACHE_FOREVER = 0xffffffff;

export interface ZrtpSupported {
  readonly ciphers?: readonly CipherType[];
  readonly authTags?: readonly AuthTagType[];
  readonly keyAgreements?: readonly KeyAgreementType[];
  readonly sasTypes?: readonly SasType[];
}

export const DEFAULT_SUPPORTED: Required<ZrtpSupported> = {
  ciphers: ['AES3', 'AES1'], authTags: ['HS80', 'HS32'], keyAgreements: ['EC25', 'DH3k'], sasTypes: ['B32', 'B256'],
};

export type CacheMatch = 'match' | 'mismatch' | 'none';

export interface ZrtpSecure {
  readonly srtp: { readonly tx: SrtpSessionOptions; readonly rx: SrtpSessionOptions };
  readonly sas: string;
  readonly sasType: SasType;
  readonly cipher: CipherType;
  readonly authTag: AuthTagType;
  readonly keyAgreement: KeyAgreementType;
  readonly cacheMatch: CacheMatch;
  readonly peerZid: Buffer;
  /** The SAS verified flag as we hold it after this exchange (cleared on a mismatch). */
  readonly sasVerified: boolean;
  /** The peer's V flag from its Confirm. */
  readonly peerSasVerified: boolean;
  /** The peer's Hello had the M flag (a trusted MiTM, RFC 6189 7.3). */
  readonly peerIsPbx: boolean;
  /** Both sides hold the same pbxsecret: the enrollment of 7.3.1 is in force for this peer. */
  readonly pbxEnrolled: boolean;
  readonly role: 'initiator' | 'responder';
}

export interface ZrtpSasRelayed {
  readonly sas: string;
  readonly sasType: SasType;
  readonly sasVerified: boolean;
}

export interface ZrtpEndpointOptions {
  readonly zid: Buffer;
  readonly clock: Clock;
  readonly random: Random;
  readonly cache: ZrtpCache;
  readonly counters: Counters;
  readonly send: (packet: Buffer) => void;
  /** Set the M flag in our Hello: the box acts as a trusted MiTM (PBX). */
  readonly mitm?: boolean;
  /** 16 characters at most (RFC 6189 5.2). */
  readonly clientId: string;
  readonly supported?: ZrtpSupported;
  /** Whether this endpoint commits once it may (default true); false waits for the peer's Commit. */
  readonly commit?: boolean;
  /** As a PBX: ask the peer to enroll (the E flag, RFC 6189 7.3.1). */
  readonly enroll?: boolean;
  /** As an endpoint: accept a PBX's enrollment request (the user agreed). */
  readonly acceptEnrollment?: boolean;
  /** Our cache expiration interval in seconds (RFC 6189 4.9); default forever. */
  readonly cacheExpiration?: number;
  /** The peer's a=zrtp-hash value from its SDP, when it gave one. */
  readonly peerHelloHash?: string;
  readonly ssrc?: number;
  /**
   * The hash chain's seed H0 (32 bytes), when the Hello must be known before
   * the endpoint exists (the leg's SDP carries its a=zrtp-hash, see
   * helloOf); drawn from `random` otherwise.
   */
  readonly h0?: Buffer;
  readonly onSecure?: (s: ZrtpSecure) => void;
  readonly onFailed?: (reason: string) => void;
  readonly onSasRelay?: (r: ZrtpSasRelayed) => void;
}

type State =
  | 'idle' | 'discovery' | 'committed' | 'sentDhPart1' | 'sentDhPart2' | 'sentConfirm1' | 'sentConfirm2'
  | 'secure' | 'failed' | 'closed';

const NEXT: Readonly<Record<State, readonly State[]>> = {
  idle: ['discovery', 'closed', 'failed'],
  discovery: ['committed', 'sentDhPart1', 'failed', 'closed'],
  committed: ['sentDhPart2', 'sentDhPart1', 'failed', 'closed'],
  sentDhPart1: ['sentConfirm1', 'failed', 'closed'],
  sentDhPart2: ['sentConfirm2', 'failed', 'closed'],
  sentConfirm1: ['secure', 'failed', 'closed'],
  sentConfirm2: ['secure', 'failed', 'closed'],
  secure: ['failed', 'closed'],
  failed: ['closed'],
  closed: [],
};

/** SHA-256 of a Hello message (preamble to MAC), hex: the value of a=zrtp-hash after the version (RFC 6189 8.1). */
export function zrtpHashOfHello(helloMessageBytes: Uint8Array): string {
  return hash(helloMessageBytes).toString('hex');
}

/** What fixes a Hello's bytes: our ZID, the chain seed, the client id, the M flag and the algorithm lists. */
export interface HelloIdentity {
  readonly zid: Buffer;
  readonly h0: Buffer;
  readonly clientId: string;
  readonly mitm?: boolean;
  readonly supported?: ZrtpSupported;
}

/**
 * Our Hello message (RFC 6189 5.2) and its hash chain, a pure function of
 * its identity: the SDP writer computes the a=zrtp-hash from the same
 * identity the media path's endpoint is later made with.
 */
export function helloOf(id: HelloIdentity): { readonly hello: Buffer; readonly chain: HashChain; readonly zrtpHash: string } {
  if (id.h0.length !== 32) throw new RangeError('H0 is 32 bytes');
  const supported = { ...DEFAULT_SUPPORTED, ...(id.supported ?? {}) };
  const chain = hashChain(Buffer.from(id.h0));
  const msg: HelloMessage = {
    type: 'Hello', version: ZRTP_VERSION, clientId: id.clientId.slice(0, 16).padEnd(16, ' '), h3: chain.h3, zid: id.zid,
    signature: false, mitm: id.mitm === true, passive: false,
    hashes: ['S256'], ciphers: supported.ciphers, authTags: supported.authTags,
    keyAgreements: supported.keyAgreements, sasTypes: supported.sasTypes, mac: ZERO_MAC,
  };
  const hello = withMac(serializeMessage(msg), chain.h2);
  return { hello, chain, zrtpHash: `${ZRTP_VERSION} ${zrtpHashOfHello(hello)}` };
}

const ZRTP_HASH_ATTR = /^(\S{1,8}) ([0-9a-fA-F]{64})$/;

/** Check an a=zrtp-hash value ("1.10 <64 hex>") against a received Hello message. */
export function checkZrtpHash(attributeValue: string, helloMessageBytes: Uint8Array): boolean {
  const m = ZRTP_HASH_ATTR.exec(attributeValue.trim());
  if (!m || m[1] !== ZRTP_VERSION) return false;
  return equalBytes(Buffer.from((m[2] as string).toLowerCase(), 'hex'), hash(helloMessageBytes));
}

/** Fill the trailing 8-byte MAC of a serialized message, keyed with `key`, over all bytes before it. */
function withMac(bytes: Buffer, key: Buffer): Buffer {
  mac64(key, bytes.subarray(0, bytes.length - MAC_BYTES)).copy(bytes, bytes.length - MAC_BYTES);
  return bytes;
}
function macOk(bytes: Buffer, key: Buffer): boolean {
  return equalBytes(mac64(key, bytes.subarray(0, bytes.length - MAC_BYTES)), bytes.subarray(bytes.length - MAC_BYTES));
}

const ZERO_MAC = Buffer.alloc(MAC_BYTES);

interface Retransmit {
  message: Buffer;
  tries: number;
  interval: number;
  readonly cap: number;
  readonly max: number;
  timer: TimerHandle | undefined;
}

interface Received {
  readonly message: ZrtpMessage;
  readonly bytes: Buffer;
}

interface Negotiated {
  readonly cipher: CipherType;
  readonly authTag: AuthTagType;
  readonly keyAgreement: KeyAgreementType;
  readonly sasType: SasType;
}

export class ZrtpEndpoint {
  private state: State = 'idle';
  private readonly chain: HashChain;
  private readonly hello: Buffer;
  private readonly supported: Required<ZrtpSupported>;
  private readonly ssrc: number;
  private sequence: number;
  private peerHelloHash: string | undefined;

  private peerHello: Received | undefined;
  private helloAcked = false;
  private helloTimer: Retransmit | undefined;
  private t2: Retransmit | undefined;

  private role: 'initiator' | 'responder' | undefined;
  private negotiated: Negotiated | undefined;
  private keyPair: KeyPair | undefined;
  private ourCommit: Buffer | undefined;
  private ourCommitHvi: Buffer | undefined;
  private ourDhPart: Buffer | undefined;
  private peerCommit: Received | undefined;
  private peerDhPart: Received | undefined;
  private keys: DerivedKeys | undefined;
  private lastResponse: Buffer | undefined;
  private lastTrigger: Buffer | undefined;
  private cacheEntry: ZrtpCacheEntry | undefined;
  private cacheMatch: CacheMatch = 'none';
  private matchedPbx = false;
  private peerConfirm: { readonly verified: boolean; readonly enroll: boolean; readonly expiration: number } | undefined;
  private sasVerified = false;
  private pendingRs1: { readonly rs1: Buffer; readonly rs2?: Buffer; readonly expiresAt?: number } | undefined;
  private secureInfo: ZrtpSecure | undefined;

  constructor(private readonly o: ZrtpEndpointOptions) {
    if (o.zid.length !== 12) throw new RangeError('a ZID is 12 bytes');
    this.supported = { ...DEFAULT_SUPPORTED, ...(o.supported ?? {}) };
    const made = helloOf({ ...o, h0: o.h0 ?? o.random.bytes(32) });
    this.chain = made.chain;
    this.hello = made.hello;
    this.ssrc = o.ssrc ?? o.random.int(0x100000000);
    this.sequence = o.random.int(0x10000);
    this.peerHelloHash = o.peerHelloHash;
  }

  /** Our Hello message bytes (for a=zrtp-hash in our SDP). */
  get helloMessage(): Buffer { return Buffer.from(this.hello); }
  /** The a=zrtp-hash value for our SDP: "1.10 <hex>". */
  get zrtpHash(): string { return `${ZRTP_VERSION} ${zrtpHashOfHello(this.hello)}`; }
  get currentState(): string { return this.state; }
  get secure(): ZrtpSecure | undefined { return this.secureInfo; }

  /** The peer's a=zrtp-hash arrived in its SDP after we were made. */
  setPeerHelloHash(value: string): void {
    this.peerHelloHash = value;
    // The Hello may have come first (media before the answer's SDP): check it now.
    if (this.peerHello && !checkZrtpHash(value, this.peerHello.bytes)) {
      this.count('bad-zrtp-hash');
      this.fail('bad-zrtp-hash', true, ZRTP_ERROR.malformed);
    }
  }

  start(): void {
    if (this.state !== 'idle') return;
    this.move('discovery');
    this.helloTimer = this.retransmit(this.hello, T1_INITIAL_MS, T1_CAP_MS, T1_MAX_TRIES);
  }

  close(): void {
    if (this.state === 'closed') return;
    this.stopTimers();
    this.keyPair = undefined;
    this.move('closed');
  }

  /**
   * The user compared the SAS (RFC 6189 7.1). Stores the flag for this peer;
   * after a cache mismatch this is also when the new rs1 is written (4.6.1.1).
   */
  setSasVerified(verified: boolean): void {
    this.sasVerified = verified;
    const peerZid = this.peerZid();
    if (!peerZid || this.state !== 'secure') return;
    const now = this.o.cache.get(peerZid);
    if (this.pendingRs1 && verified) {
      this.o.cache.put(peerZid, { ...(now ?? {}), ...this.pendingRs1, verified: true });
      this.pendingRs1 = undefined;
    } else if (now) {
      this.o.cache.put(peerZid, { ...now, verified });
    }
  }

  /**
   * As a trusted MiTM: relay the other leg's sashash to this peer
   * (RFC 6189 5.13, 7.3). Only toward a peer enrolled with us (its pbxsecret
   * matched ours in this exchange); otherwise returns false and sends nothing.
   */
  sendSasRelay(relay: { readonly sasHash: Buffer; readonly sasType: SasType; readonly sasVerified: boolean }): boolean {
    if (this.state !== 'secure' || !this.keys || !this.negotiated || this.o.mitm !== true || !this.matchedPbx) return false;
    if (relay.sasHash.length !== 32) return false;
    const k = this.keys;
    const initiator = this.role === 'initiator';
    const iv = this.o.random.bytes(CFB_IV_BYTES);
    const plain = serializeSasRelayPlain({ sasVerified: relay.sasVerified, allowClear: false, disclosure: false, renderingScheme: relay.sasType, sasHash: relay.sasHash });
    const enc = cfb(this.negotiated.cipher, initiator ? k.zrtpKeyI : k.zrtpKeyR, iv, plain, true);
    const mac = mac64(initiator ? k.macKeyI : k.macKeyR, enc);
    const msg = serializeMessage({ type: 'SASrelay', mac, iv, encrypted: enc });
    this.stopT2();
    this.t2 = this.retransmit(msg, T2_INITIAL_MS, T2_CAP_MS, T2_MAX_TRIES, () => { this.count('relay-timeout'); });
    return true;
  }

  /** A packet from the media port that isZrtpPacket() recognised. Never throws. */
  receive(packet: Buffer): void {
    try {
      this.handle(packet);
    } catch {
      // A fault of ours must not unwind the media socket's stack; it is counted and the packet dropped.
      this.count('internal');
    }
  }

  private handle(packet: Buffer): void {
    if (this.state === 'closed' || this.state === 'failed') { this.count('closed'); return; }
    const p = parsePacket(packet);
    if (!p.ok) { this.count(p.reason); return; }
    this.o.counters.inc(`zrtp.rx.${p.message.type}`);
    const rx: Received = { message: p.message, bytes: p.messageBytes };
    const m = p.message;
    switch (m.type) {
      case 'Hello': return this.onHello(m, rx);
      case 'HelloACK': return this.onHelloAck();
      case 'Commit': return this.onCommit(m, rx);
      case 'DHPart1': return this.onDhPart1(m, rx);
      case 'DHPart2': return this.onDhPart2(m, rx);
      case 'Confirm1': return this.onConfirm1(m as EncryptedMessage);
      case 'Confirm2': return this.onConfirm2(m as EncryptedMessage, rx);
      case 'Conf2ACK': return this.onConf2Ack();
      case 'Error': {
        this.sendMessage(serializeMessage({ type: 'ErrorACK' }));
        return this.fail(`peer-error-0x${m.code.toString(16)}`, false);
      }
      case 'ErrorACK': { this.count('unexpected-errorack'); return; }
      case 'GoClear': {
        // We never go clear (RFC 6189 4.7.2: our Confirm says A=0): the media stays SRTP.
        this.count('goclear-refused');
        return;
      }
      case 'ClearACK': { this.count('unexpected-clearack'); return; }
      case 'SASrelay': return this.onSasRelay(m as EncryptedMessage, rx);
      case 'RelayACK': {
        if (this.t2 && this.state === 'secure') { this.stopT2(); return; }
        this.count('out-of-order');
        return;
      }
      case 'Ping': {
        this.sendMessage(serializeMessage({
          type: 'PingACK', version: ZRTP_VERSION, endpointHash: this.o.zid.subarray(0, 8), receivedHash: m.endpointHash, ssrc: p.ssrc,
        }));
        return;
      }
      case 'PingACK': { this.count('unexpected-pingack'); return; }
    }
  }

  // ---- Hello ----

  private onHello(m: HelloMessage, rx: Received): void {
    if (this.peerHello) {
      if (rx.bytes.equals(this.peerHello.bytes)) {
        this.count('duplicate');
        this.sendMessage(serializeMessage({ type: 'HelloACK' }));
      } else {
        this.count('hello-changed');
      }
      return;
    }
    if (m.version !== ZRTP_VERSION) { this.count('version'); return; }
    if (m.zid.equals(this.o.zid)) { this.count('equal-zid'); this.sendError(ZRTP_ERROR.equalZids); return; }
    if (this.peerHelloHash !== undefined && !checkZrtpHash(this.peerHelloHash, rx.bytes)) {
      // RFC 6189 8.1: the Hello does not match what the signalling said: possible MiTM.
      this.count('bad-zrtp-hash');
      return;
    }
    this.peerHello = rx;
    this.sendMessage(serializeMessage({ type: 'HelloACK' }));
    this.maybeCommit();
  }

  private onHelloAck(): void {
    if (this.helloAcked) { this.count('duplicate'); return; }
    if (this.state === 'idle') { this.count('out-of-order'); return; }
    this.helloAcked = true;
    this.stopHello();
    this.maybeCommit();
  }

  private peerHelloMsg(): HelloMessage | undefined {
    return this.peerHello?.message as HelloMessage | undefined;
  }

  private peerZid(): Buffer | undefined {
    return this.peerHelloMsg()?.zid;
  }

  /** The first of our preferences the peer offers too (its list plus the mandatory ones, RFC 6189 5.1.x). */
  private negotiate(peer: HelloMessage): Negotiated | undefined {
    const pick = <T extends string>(ours: readonly T[], theirs: readonly string[], mandatory: readonly string[]): T | undefined =>
      ours.find((x) => theirs.includes(x) || mandatory.includes(x));
    const cipher = pick(this.supported.ciphers, peer.ciphers, [MANDATORY.cipher]);
    const authTag = pick(this.supported.authTags, peer.authTags, MANDATORY.authTags);
    const keyAgreement = pick(this.supported.keyAgreements, peer.keyAgreements, [MANDATORY.keyAgreement]);
    const sasType = pick(this.supported.sasTypes, peer.sasTypes, [MANDATORY.sas]);
    const hashOk = peer.hashes.length === 0 || peer.hashes.includes('S256');
    if (!cipher || !authTag || !keyAgreement || !sasType || !hashOk) return undefined;
    return { cipher, authTag, keyAgreement, sasType };
  }

  private maybeCommit(): void {
    if (this.state !== 'discovery' || !this.peerHello || !this.helloAcked || this.o.commit === false) return;
    const peer = this.peerHelloMsg() as HelloMessage;
    const n = this.negotiate(peer);
    if (!n) { this.count('no-common-algorithm'); this.sendError(ZRTP_ERROR.helloMismatch); return; }
    this.negotiated = n;
    this.keyPair = generateKeyPair(n.keyAgreement, this.o.random);
    this.role = 'initiator';
    this.cacheEntry = this.usableCache(peer.zid);
    this.ourDhPart = this.buildDhPart('DHPart2');
    const hvi = hash(this.ourDhPart, this.peerHello.bytes);
    this.ourCommitHvi = hvi;
    const commit: CommitMessage = {
      type: 'Commit', h2: this.chain.h2, zid: this.o.zid, hash: 'S256', cipher: n.cipher, authTag: n.authTag,
      keyAgreement: n.keyAgreement, sasType: n.sasType, hvi, mac: ZERO_MAC,
    };
    this.ourCommit = withMac(serializeMessage(commit), this.chain.h1);
    this.move('committed');
    this.t2 = this.retransmit(this.ourCommit, T2_INITIAL_MS, T2_CAP_MS, T2_MAX_TRIES);
  }

  private usableCache(peerZid: Buffer): ZrtpCacheEntry | undefined {
    const e = this.o.cache.get(peerZid);
    if (!e) return undefined;
    if (e.expiresAt !== undefined && e.expiresAt <= this.o.clock.now()) {
      const { rs1: _a, rs2: _b, expiresAt: _c, ...rest } = e;
      return rest;
    }
    return e;
  }

  private buildDhPart(type: 'DHPart1' | 'DHPart2'): Buffer {
    const role = type === 'DHPart2' ? 'initiator' : 'responder';
    const id = (s: Buffer | undefined): Buffer => (s ? secretId(s, role) : this.o.random.bytes(8));
    const e = this.cacheEntry;
    const msg: DhPartMessage = {
      type, h1: this.chain.h1, rs1Id: id(e?.rs1), rs2Id: id(e?.rs2), auxSecretId: this.o.random.bytes(8), pbxSecretId: id(e?.pbxSecret),
      pv: (this.keyPair as KeyPair).pv, mac: ZERO_MAC,
    };
    return withMac(serializeMessage(msg), this.chain.h0);
  }

  // ---- Commit (responder side, and contention) ----

  private onCommit(m: CommitMessage, rx: Received): void {
    if (this.peerCommit) {
      if (rx.bytes.equals(this.peerCommit.bytes)) {
        this.count('duplicate');
        if (this.lastResponse && this.lastTrigger?.equals(rx.bytes)) this.sendMessage(this.lastResponse);
      } else {
        this.count('out-of-order');
      }
      return;
    }
    if (this.state !== 'discovery' && this.state !== 'committed') { this.count('out-of-order'); return; }
    const peer = this.peerHelloMsg();
    if (!peer) { this.count('out-of-order'); return; }
    // RFC 6189 9: H2 must hash to the Hello's H3, and with H2 the Hello's MAC can now be checked.
    if (!equalBytes(hash(m.h2), peer.h3) || !m.zid.equals(peer.zid)) { this.count('bad-hash-chain'); return; }
    if (!macOk((this.peerHello as Received).bytes, m.h2)) { this.count('bad-mac'); return this.fail('hello-mac', true, ZRTP_ERROR.malformed); }
    if (this.state === 'committed') {
      // RFC 6189 4.2: both committed; the larger hvi is the initiator.
      if (Buffer.compare(m.hvi, this.ourCommitHvi as Buffer) <= 0) { this.count('contention-won'); return; }
      this.count('contention-lost');
      this.stopT2();
      this.ourCommit = undefined;
      this.ourDhPart = undefined;
    }
    const n = this.acceptCommitChoice(m);
    if (!n) return;
    this.stopHello();
    this.negotiated = n;
    this.role = 'responder';
    if (this.keyPair?.type !== n.keyAgreement) this.keyPair = generateKeyPair(n.keyAgreement, this.o.random);
    this.cacheEntry = this.usableCache(peer.zid);
    this.peerCommit = rx;
    this.ourDhPart = this.buildDhPart('DHPart1');
    this.move('sentDhPart1');
    this.respond(rx.bytes, this.ourDhPart);
  }

  private acceptCommitChoice(m: CommitMessage): Negotiated | undefined {
    const s = this.supported;
    const err = (code: number, why: string): undefined => { this.count(why); this.sendError(code); return undefined; };
    if (m.hash !== 'S256') return err(ZRTP_ERROR.hashUnsupported, 'unsupported-hash');
    if (!(CIPHER_TYPES as readonly string[]).includes(m.cipher) || !s.ciphers.includes(m.cipher as CipherType)) return err(ZRTP_ERROR.cipherUnsupported, 'unsupported-cipher');
    if (!(AUTH_TAG_TYPES as readonly string[]).includes(m.authTag) || !s.authTags.includes(m.authTag as AuthTagType)) return err(ZRTP_ERROR.authTagUnsupported, 'unsupported-auth-tag');
    if (!(KEY_AGREEMENT_TYPES as readonly string[]).includes(m.keyAgreement) || !s.keyAgreements.includes(m.keyAgreement as KeyAgreementType)) {
      return err(ZRTP_ERROR.keyAgreementUnsupported, 'unsupported-key-agreement');
    }
    if (!(SAS_TYPES as readonly string[]).includes(m.sasType) || !s.sasTypes.includes(m.sasType as SasType)) return err(ZRTP_ERROR.sasUnsupported, 'unsupported-sas');
    return { cipher: m.cipher as CipherType, authTag: m.authTag as AuthTagType, keyAgreement: m.keyAgreement as KeyAgreementType, sasType: m.sasType as SasType };
  }

  // ---- DHPart1 (initiator) ----

  private onDhPart1(m: DhPartMessage, rx: Received): void {
    if (this.state !== 'committed') { this.count(this.peerDhPart?.bytes.equals(rx.bytes) ? 'duplicate' : 'out-of-order'); return; }
    const peer = this.peerHelloMsg() as HelloMessage;
    const h2 = hash(m.h1);
    if (!equalBytes(hash(h2), peer.h3)) { this.count('bad-hash-chain'); return; }
    if (!macOk((this.peerHello as Received).bytes, h2)) { this.count('bad-mac'); return this.fail('hello-mac', true, ZRTP_ERROR.malformed); }
    const n = this.negotiated as Negotiated;
    if (m.pv.length !== PV_BYTES[n.keyAgreement]) { this.count('bad-pv'); return this.fail('bad-pv', true, ZRTP_ERROR.badPublicValue); }
    const dh = (this.keyPair as KeyPair).agree(m.pv);
    if (!dh) { this.count('bad-pv'); return this.fail('bad-pv', true, ZRTP_ERROR.badPublicValue); }
    this.peerDhPart = rx;
    this.stopT2();
    const totalHash = hash((this.peerHello as Received).bytes, this.ourCommit as Buffer, rx.bytes, this.ourDhPart as Buffer);
    this.computeKeys(dh, m, totalHash);
    this.move('sentDhPart2');
    this.t2 = this.retransmit(this.ourDhPart as Buffer, T2_INITIAL_MS, T2_CAP_MS, T2_MAX_TRIES);
  }

  // ---- DHPart2 (responder) ----

  private onDhPart2(m: DhPartMessage, rx: Received): void {
    if (this.state !== 'sentDhPart1') {
      if (this.peerDhPart?.bytes.equals(rx.bytes)) {
        this.count('duplicate');
        if (this.lastResponse && this.lastTrigger?.equals(rx.bytes)) this.sendMessage(this.lastResponse);
      } else {
        this.count('out-of-order');
      }
      return;
    }
    const commit = (this.peerCommit as Received).message as CommitMessage;
    if (!equalBytes(hash(m.h1), commit.h2)) { this.count('bad-hash-chain'); return; }
    // H1 keys the Commit's MAC (RFC 6189 9).
    if (!macOk((this.peerCommit as Received).bytes, m.h1)) { this.count('bad-mac'); return this.fail('commit-mac', true, ZRTP_ERROR.malformed); }
    if (!equalBytes(hash(rx.bytes, this.hello), commit.hvi)) { this.count('bad-hvi'); return this.fail('bad-hvi', true, ZRTP_ERROR.badHvi); }
    const n = this.negotiated as Negotiated;
    if (m.pv.length !== PV_BYTES[n.keyAgreement]) { this.count('bad-pv'); return this.fail('bad-pv', true, ZRTP_ERROR.badPublicValue); }
    const dh = (this.keyPair as KeyPair).agree(m.pv);
    if (!dh) { this.count('bad-pv'); return this.fail('bad-pv', true, ZRTP_ERROR.badPublicValue); }
    this.peerDhPart = rx;
    const totalHash = hash(this.hello, (this.peerCommit as Received).bytes, this.ourDhPart as Buffer, rx.bytes);
    this.computeKeys(dh, m, totalHash);
    this.move('sentConfirm1');
    this.respond(rx.bytes, this.buildConfirm('Confirm1'));
  }

  /**
   * Shared secret determination (RFC 6189 4.3.1): our rs1, then our rs2, is
   * checked against the peer's rs1ID and rs2ID. Having a secret for the peer
   * and no match is a cache mismatch: the V flag is cleared and the cache is
   * not updated until the user verifies the SAS again (4.6.1.1).
   */
  private computeKeys(dh: Buffer, peerPart: DhPartMessage, totalHash: Buffer): void {
    const peerRole = this.role === 'initiator' ? 'responder' : 'initiator';
    const e = this.cacheEntry;
    const matches = (s: Buffer | undefined): boolean =>
      s !== undefined && (equalBytes(secretId(s, peerRole), peerPart.rs1Id) || equalBytes(secretId(s, peerRole), peerPart.rs2Id));
    let s1: Buffer | undefined;
    if (matches(e?.rs1)) s1 = e?.rs1;
    else if (matches(e?.rs2)) s1 = e?.rs2;
    const hadSecret = e?.rs1 !== undefined || e?.rs2 !== undefined;
    this.cacheMatch = s1 ? 'match' : hadSecret ? 'mismatch' : 'none';
    const s3 = e?.pbxSecret && equalBytes(secretId(e.pbxSecret, peerRole), peerPart.pbxSecretId) ? e.pbxSecret : undefined;
    this.matchedPbx = s3 !== undefined;
    this.sasVerified = this.cacheMatch === 'match' && e?.verified === true;
    const peerZid = this.peerZid() as Buffer;
    const zidI = this.role === 'initiator' ? this.o.zid : peerZid;
    const zidR = this.role === 'initiator' ? peerZid : this.o.zid;
    const s0 = computeS0({ dhResult: dh, zidI, zidR, totalHash, ...(s1 ? { s1 } : {}), ...(s3 ? { s3 } : {}) });
    this.keys = deriveKeys(s0, zidI, zidR, totalHash, (this.negotiated as Negotiated).cipher);
    this.keyPair = undefined;
    if (this.cacheMatch === 'mismatch') this.count('cache-mismatch');
  }

  private buildConfirm(type: 'Confirm1' | 'Confirm2'): Buffer {
    const k = this.keys as DerivedKeys;
    const mine = type === 'Confirm2'; // Confirm2 is the initiator's
    const iv = this.o.random.bytes(CFB_IV_BYTES);
    const plain = serializeConfirmPlain({
      h0: this.chain.h0, enroll: this.o.mitm === true && this.o.enroll === true, sasVerified: this.sasVerified,
      allowClear: false, disclosure: false, cacheExpiration: this.o.cacheExpiration ?? CACHE_FOREVER,
    });
    const enc = cfb((this.negotiated as Negotiated).cipher, mine ? k.zrtpKeyI : k.zrtpKeyR, iv, plain, true);
    return serializeMessage({ type, mac: mac64(mine ? k.macKeyI : k.macKeyR, enc), iv, encrypted: enc });
  }

  /** Check a Confirm from the peer: its MAC, then (decrypted) its H0 against the peer's DHPart, whose MAC H0 keys. */
  private openConfirm(m: EncryptedMessage): ReturnType<typeof parseConfirmPlain> {
    const k = this.keys as DerivedKeys;
    const fromInitiator = m.type === 'Confirm2';
    if (!equalBytes(mac64(fromInitiator ? k.macKeyI : k.macKeyR, m.encrypted), m.mac)) { this.count('bad-confirm-mac'); return undefined; }
    const plain = parseConfirmPlain(cfb((this.negotiated as Negotiated).cipher, fromInitiator ? k.zrtpKeyI : k.zrtpKeyR, m.iv, m.encrypted, false));
    if (!plain) { this.count('bad-field'); return undefined; }
    const part = (this.peerDhPart as Received);
    if (!equalBytes(hash(plain.h0), (part.message as DhPartMessage).h1)) { this.count('bad-hash-chain'); return undefined; }
    if (!macOk(part.bytes, plain.h0)) { this.count('bad-mac'); return undefined; }
    return plain;
  }

  // ---- Confirm1 (initiator) ----

  private onConfirm1(m: EncryptedMessage): void {
    if (this.state !== 'sentDhPart2') { this.count(this.state === 'sentConfirm2' || this.state === 'secure' ? 'duplicate' : 'out-of-order'); return; }
    const plain = this.openConfirm(m);
    if (!plain) return;
    this.peerConfirm = { verified: plain.sasVerified, enroll: plain.enroll, expiration: plain.cacheExpiration };
    this.stopT2();
    this.move('sentConfirm2');
    this.t2 = this.retransmit(this.buildConfirm('Confirm2'), T2_INITIAL_MS, T2_CAP_MS, T2_MAX_TRIES);
  }

  // ---- Confirm2 (responder) ----

  private onConfirm2(m: EncryptedMessage, rx: Received): void {
    if (this.state === 'secure' && this.role === 'responder') {
      if (this.lastTrigger?.equals(rx.bytes) && this.lastResponse) { this.count('duplicate'); this.sendMessage(this.lastResponse); return; }
      this.count('out-of-order');
      return;
    }
    if (this.state !== 'sentConfirm1') { this.count('out-of-order'); return; }
    const plain = this.openConfirm(m);
    if (!plain) return;
    this.peerConfirm = { verified: plain.sasVerified, enroll: plain.enroll, expiration: plain.cacheExpiration };
    this.respond(rx.bytes, serializeMessage({ type: 'Conf2ACK' }));
    this.goSecure();
  }

  private onConf2Ack(): void {
    if (this.state !== 'sentConfirm2') { this.count(this.state === 'secure' ? 'duplicate' : 'out-of-order'); return; }
    this.stopT2();
    this.goSecure();
  }

  private goSecure(): void {
    const k = this.keys as DerivedKeys;
    const n = this.negotiated as Negotiated;
    const peer = this.peerHelloMsg() as HelloMessage;
    const pc = this.peerConfirm as { verified: boolean; enroll: boolean; expiration: number };
    this.move('secure');
    this.updateCache(k, peer, pc);
    const suite = srtpSuiteOf(n.cipher, n.authTag);
    const initiator = this.role === 'initiator';
    const i: SrtpSessionOptions = { suite, masterKey: k.srtpKeyI, masterSalt: k.srtpSaltI };
    const r: SrtpSessionOptions = { suite, masterKey: k.srtpKeyR, masterSalt: k.srtpSaltR };
    this.secureInfo = {
      srtp: initiator ? { tx: i, rx: r } : { tx: r, rx: i },
      sas: renderSas(n.sasType, k.sasHash), sasType: n.sasType, cipher: n.cipher, authTag: n.authTag, keyAgreement: n.keyAgreement,
      cacheMatch: this.cacheMatch, peerZid: Buffer.from(peer.zid), sasVerified: this.sasVerified, peerSasVerified: pc.verified,
      peerIsPbx: peer.mitm, pbxEnrolled: this.matchedPbx, role: this.role as 'initiator' | 'responder',
    };
    this.o.counters.inc('zrtp.secure');
    this.o.onSecure?.(this.secureInfo);
  }

  /** RFC 6189 4.6.1 and 4.9: rs2 = rs1, rs1 = the new one, expiring at the shorter of the two intervals. */
  private updateCache(k: DerivedKeys, peer: HelloMessage, pc: { verified: boolean; enroll: boolean; expiration: number }): void {
    const ours = this.o.cacheExpiration ?? CACHE_FOREVER;
    const interval = Math.min(ours, pc.expiration);
    const old = this.o.cache.get(peer.zid);
    const zidI = this.role === 'initiator' ? this.o.zid : peer.zid;
    const zidR = this.role === 'initiator' ? peer.zid : this.o.zid;
    let pbxSecret = old?.pbxSecret;
    // RFC 6189 7.3.1: a PBX asking for enrollment, and a user who agreed, both keep pbxsecret.
    const enrolling = (this.o.mitm === true && this.o.enroll === true) || (peer.mitm && pc.enroll && this.o.acceptEnrollment === true);
    if (enrolling) pbxSecret = pbxSecretOf(k.zrtpSess, zidI, zidR);
    const base: ZrtpCacheEntry = { verified: this.sasVerified, ...(pbxSecret ? { pbxSecret } : {}) };
    if (interval === 0) {
      // A zero interval: keep no retained secret for this peer (RFC 6189 4.9).
      this.o.cache.put(peer.zid, base);
      return;
    }
    const expiresAt = interval === CACHE_FOREVER ? undefined : this.o.clock.now() + interval * 1000;
    const next = { rs1: k.newRs1, ...(old?.rs1 ? { rs2: old.rs1 } : {}), ...(expiresAt !== undefined ? { expiresAt } : {}) };
    if (this.cacheMatch === 'mismatch') {
      this.pendingRs1 = next;
      if (old) this.o.cache.put(peer.zid, { ...old, verified: false, ...(pbxSecret ? { pbxSecret } : {}) });
      return;
    }
    this.o.cache.put(peer.zid, { ...base, ...next });
  }

  // ---- SASrelay (as the endpoint of a trusted MiTM) ----

  private onSasRelay(m: EncryptedMessage, rx: Received): void {
    if (this.state !== 'secure' || !this.keys || !this.negotiated) { this.count('out-of-order'); return; }
    const k = this.keys;
    const fromInitiator = this.role !== 'initiator';
    if (!equalBytes(mac64(fromInitiator ? k.macKeyI : k.macKeyR, m.encrypted), m.mac)) { this.count('bad-relay-mac'); return; }
    const plain = parseSasRelayPlain(cfb(this.negotiated.cipher, fromInitiator ? k.zrtpKeyI : k.zrtpKeyR, m.iv, m.encrypted, false));
    if (!plain) { this.count('bad-field'); return; }
    this.sendMessage(serializeMessage({ type: 'RelayACK' }));
    if (this.lastTrigger?.equals(rx.bytes)) { this.count('duplicate'); return; }
    this.lastTrigger = rx.bytes;
    const peer = this.peerHelloMsg() as HelloMessage;
    // RFC 6189 7.3: only a peer that says it is a MiTM and is enrolled with us may relay a SAS.
    if (!peer.mitm || !this.matchedPbx) { this.count('untrusted-relay'); return; }
    const scheme = plain.renderingScheme as SasType;
    if (!(SAS_TYPES as readonly string[]).includes(scheme)) { this.count('unsupported-sas'); return; }
    this.o.onSasRelay?.({ sas: renderSas(scheme, plain.sasHash), sasType: scheme, sasVerified: plain.sasVerified });
  }

  // ---- sending, timers, state ----

  private respond(trigger: Buffer, response: Buffer): void {
    this.lastTrigger = trigger;
    this.lastResponse = response;
    this.sendMessage(response);
  }

  private sendMessage(message: Buffer): void {
    const packet = serializePacket(this.sequence, this.ssrc, message);
    this.sequence = (this.sequence + 1) & 0xffff;
    this.o.send(packet);
  }

  private retransmit(message: Buffer, initial: number, cap: number, max: number, onGiveUp?: () => void): Retransmit {
    const r: Retransmit = { message, tries: 1, interval: initial, cap, max, timer: undefined };
    const arm = (): void => {
      r.timer = this.o.clock.setTimer(r.interval, () => {
        r.timer = undefined;
        if (this.state === 'closed' || this.state === 'failed') return;
        if (r.tries >= r.max) {
          if (onGiveUp) onGiveUp();
          else this.fail('timeout', true, ZRTP_ERROR.timeout);
          return;
        }
        r.tries++;
        r.interval = Math.min(r.interval * 2, r.cap);
        this.o.counters.inc('zrtp.retransmit');
        this.sendMessage(r.message);
        arm();
      });
    };
    this.sendMessage(message);
    arm();
    return r;
  }

  private stopHello(): void { this.helloTimer?.timer?.cancel(); this.helloTimer = undefined; }
  private stopT2(): void { this.t2?.timer?.cancel(); this.t2 = undefined; }
  private stopTimers(): void { this.stopHello(); this.stopT2(); }

  /** An Error (RFC 6189 5.9) ends the exchange; it is sent once, since we stop at once either way. */
  private sendError(code: number): void {
    this.fail(`error-0x${code.toString(16)}`, true, code);
  }

  private fail(reason: string, tellPeer: boolean, code?: number): void {
    if (this.state === 'failed' || this.state === 'closed') return;
    if (tellPeer && code !== undefined) {
      this.stopTimers();
      this.sendMessage(serializeMessage({ type: 'Error', code }));
    } else {
      this.stopHello();
    }
    this.keyPair = undefined;
    this.move('failed');
    this.o.counters.inc('zrtp.failed');
    this.o.onFailed?.(reason);
  }

  private move(to: State): void {
    if (!NEXT[this.state].includes(to)) throw new Error(`zrtp: illegal move ${this.state} -> ${to}`);
    this.state = to;
  }

  private count(reason: string): void {
    this.o.counters.inc(`zrtp.drop.${reason}`);
  }
}

export type { ZrtpMessageType };
