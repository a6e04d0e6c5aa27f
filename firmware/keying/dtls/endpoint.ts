import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { Clock, Counters, Random, TimerHandle } from '../../core/index.js';
import { fingerprintMatches, peerPublicKey, type DtlsCertificate, type Fingerprint } from './cert.js';
import {
  CIPHER_SUITE_NAMES, DEFAULT_SRTP_PROFILES, GROUPS, SIGNATURE_SCHEMES, SRTP_EXPORTER_LABEL,
  ephemeralKey, exportKeyingMaterial, exportLength, extendedMasterSecret, finishedData, groupByCode, keyTypeOf, recordKeys,
  schemeByCode, schemeKeyType, signWith, splitSrtpKeys, srtpProfileByCode, srtpProfileByName, suiteByCode, suiteByName,
  transcriptHash, verifyWith,
  type CipherSuite, type CipherSuiteName, type DtlsSrtpKeys, type EphemeralKey, type GroupName, type SignatureSchemeName,
  type SrtpProfile, type SrtpProfileName,
} from './crypto.js';
import {
  AlertDescription, ExtensionType, HANDSHAKE_HEADER, HandshakeType, Reassembler, findExtension, fragmentMessage,
  parseAlert, parseCertificate, parseCertificateRequest, parseCertificateVerify, parseClientHello, parseClientKeyExchange,
  parseHandshakeFragments, parseHelloVerifyRequest, parsePointFormats, parseRenegotiationInfo, parseServerHello,
  parseServerKeyExchange, parseU16ListExtension, parseUseSrtp, serializeAlert, serializeCertificate, serializeCertificateRequest,
  serializeCertificateVerify, serializeClientHello, serializeClientKeyExchange, serializeFragment, serializeHelloVerifyRequest,
  serializeServerHello, serializeServerKeyExchange, serializeU16ListExtension, serializeUseSrtp, serverKeyParams, transcriptBytes,
  type ClientHello, type Extension, type HandshakeFragment, type HandshakeMessage,
} from './handshake.js';
import {
  COOKIE_LIFETIME_MS, DEFAULT_MTU, INITIAL_RETRANSMIT_MS, MAX_DATAGRAM, MAX_EARLY_RECORDS, MAX_RETRANSMITS, MAX_RETRANSMIT_MS, MIN_MTU, MIN_REPEAT_RETRANSMIT_MS,
} from './limits.js';
import {
  AEAD_OVERHEAD, ContentType, DTLS10, DTLS12, RECORD_HEADER, ReplayWindow, parseRecords, protectFragment, serializeRecord,
  unprotectFragment, type AeadKeys, type DtlsRecord,
} from './record.js';

export interface DtlsPeer {
  readonly address: string;
  readonly port: number;
}

export type DtlsRole = 'client' | 'server';

/** Why a handshake failed; stable codes for tests and views (the message is for logs, and carries no secret). */
export type DtlsFailureCode =
  | 'timeout' | 'bad-certificate' | 'bad-signature' | 'bad-finished' | 'no-srtp' | 'no-extended-master-secret'
  | 'no-common-suite' | 'no-common-group' | 'no-common-signature' | 'bad-version' | 'bad-key-share' | 'unexpected-message'
  | 'bad-parameter' | 'peer-alert' | 'internal';

export interface DtlsFailure {
  readonly code: DtlsFailureCode;
  readonly message: string;
}

export interface DtlsConnected {
  readonly role: DtlsRole;
  readonly peer: DtlsPeer;
  readonly suite: CipherSuiteName;
  readonly group: GroupName;
  readonly profile: SrtpProfileName;
  /** The fingerprint the peer's certificate was checked against (the one from its SDP). */
  readonly peerFingerprint: Fingerprint;
  /** SRTP keys per RFC 5764 4.2, as the media engine's SrtpSession takes them. Never log them. */
  readonly srtp: DtlsSrtpKeys;
}

export interface DtlsEndpointOptions {
  readonly role: DtlsRole;
  readonly certificate: DtlsCertificate;
  /** From the peer's SDP a=fingerprint (RFC 8122); the only check made on its certificate. */
  readonly expectedFingerprint: Fingerprint;
  /** SRTP profiles we accept, most preferred first (default DEFAULT_SRTP_PROFILES). */
  readonly srtpProfiles?: readonly SrtpProfileName[];
  /** Cipher suites, most preferred first (default all four; a server uses those matching its key). */
  readonly cipherSuites?: readonly CipherSuiteName[];
  /** ECDHE groups, most preferred first (default x25519, secp256r1). */
  readonly groups?: readonly GroupName[];
  readonly clock: Clock;
  readonly random: Random;
  readonly counters: Counters;
  /** Datagrams out. `to` is the latched peer, the source of a ClientHello being answered with a cookie, or undefined for a client before any answer (send to the SDP's address). */
  readonly send: (datagram: Buffer, to: DtlsPeer | undefined) => void;
  /** Largest datagram we send (default DEFAULT_MTU); handshake messages are fragmented to fit. */
  readonly mtu?: number;
  readonly onConnected?: (c: DtlsConnected) => void;
  readonly onFailed?: (f: DtlsFailure) => void;
  /** The peer closed the association (close_notify). */
  readonly onClosed?: () => void;
}

export type DtlsState =
  | 'new' | 'client-wait-hello' | 'client-wait-server-done' | 'client-wait-finished'
  | 'server-wait-hello' | 'server-wait-client-flight' | 'established' | 'failed' | 'closed';

/** Counter names: every datagram ends in one of these (a record taken, or a drop reason). */
export const DTLS_COUNTER = {
  recordOk: 'dtls-record-ok',
  helloVerifySent: 'dtls-hello-verify-sent',
  retransmit: 'dtls-retransmit',
  connected: 'dtls-connected',
} as const;
export type DtlsDrop =
  | 'too-big' | 'closed' | 'foreign-source' | 'malformed-record' | 'malformed-handshake' | 'epoch' | 'bad-mac' | 'replay' | 'old'
  | 'early-overflow' | 'not-hello' | 'fragmented-hello' | 'bad-cookie' | 'malformed-hello' | 'hs-old' | 'hs-ahead' | 'hs-inconsistent'
  | 'hs-fragments' | 'wrong-epoch' | 'client-hello-refused' | 'renegotiation' | 'ccs' | 'alert' | 'application-data';
export const DTLS_DROP_PREFIX = 'dtls-drop-';

interface FlightItem {
  readonly epoch: 0 | 1;
  /** A handshake message, or undefined for ChangeCipherSpec. */
  readonly msg?: HandshakeMessage;
}

const FAILURE_ALERT: Readonly<Record<DtlsFailureCode, number | undefined>> = {
  'timeout': undefined, 'bad-certificate': AlertDescription.badCertificate, 'bad-signature': AlertDescription.decryptError,
  'bad-finished': AlertDescription.decryptError, 'no-srtp': AlertDescription.handshakeFailure,
  'no-extended-master-secret': AlertDescription.handshakeFailure, 'no-common-suite': AlertDescription.handshakeFailure,
  'no-common-group': AlertDescription.handshakeFailure, 'no-common-signature': AlertDescription.handshakeFailure,
  'bad-version': AlertDescription.protocolVersion, 'bad-key-share': AlertDescription.illegalParameter,
  'unexpected-message': AlertDescription.unexpectedMessage, 'bad-parameter': AlertDescription.illegalParameter,
  'peer-alert': undefined, 'internal': AlertDescription.internalError,
};

/** A typed failure thrown inside the handshake code and caught in receive(); never leaves the endpoint. */
class Fail extends Error {
  constructor(readonly code: DtlsFailureCode, message: string) {
    super(message);
  }
}
const need = (cond: boolean, code: DtlsFailureCode, message: string): void => {
  if (!cond) throw new Fail(code, message);
};
function must<T>(r: { ok: true; value: T } | { ok: false; error: Error }, what: string): T {
  if (!r.ok) throw new Fail('bad-parameter', `${what}: ${r.error.message}`);
  return r.value;
}

const CERT_TYPE = { rsa: 1, ecdsa: 64 } as const;
const SCSV_RENEGOTIATION = 0x00ff;
const samePeer = (a: DtlsPeer, b: DtlsPeer): boolean => a.address === b.address && a.port === b.port;
const constantEqual = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b);

/**
 * One end of a DTLS 1.2 association (RFC 6347) that keys SRTP (RFC 5764),
 * for one media leg. Strict by design: ECDHE with AES-GCM only, mutual
 * certificates checked against the SDP fingerprint, extended master secret
 * and use_srtp required, no resumption, no renegotiation.
 *
 * Datagrams come in through receive() and go out through the injected
 * send(); time is the injected clock's. receive() never throws: every
 * datagram either yields a taken record ('dtls-record-ok') or a drop
 * counted under DTLS_DROP_PREFIX + reason; a broken handshake sends a fatal
 * alert and ends in onFailed.
 */
export class DtlsEndpoint {
  private st: DtlsState = 'new';
  private expected: Fingerprint;
  private readonly mtu: number;
  private readonly profiles: readonly SrtpProfile[];
  private readonly suites: readonly CipherSuite[];
  private readonly groups: readonly GroupName[];
  private readonly schemes: readonly SignatureSchemeName[];

  // Per-handshake state (reset by restart()).
  private peer: DtlsPeer | undefined;
  private reasm = new Reassembler();
  private windows: [ReplayWindow, ReplayWindow] = [new ReplayWindow(), new ReplayWindow()];
  private writeSeq: [number, number] = [0, 0];
  private sendSeq = 0;
  private transcript: Buffer[] = [];
  private clientRandom: Buffer = Buffer.alloc(0);
  private serverRandom: Buffer = Buffer.alloc(0);
  private clientHello: ClientHello | undefined;
  private suite: CipherSuite | undefined;
  private profile: SrtpProfile | undefined;
  private group: GroupName | undefined;
  private ephemeral: EphemeralKey | undefined;
  private peerKey: KeyObject | undefined;
  private peerCertSchemes: readonly SignatureSchemeName[] = [];
  private peerEcdhPublic: Buffer | undefined;
  private master: Buffer | undefined;
  private readKeys: AeadKeys | undefined;
  private writeKeys: AeadKeys | undefined;
  private peerCcs = false;
  private earlyRecords: DtlsRecord[] = [];
  private renegotiationInfo = false;
  private helloVerified = false;
  /** Expected message types of the peer's current flight, in order. */
  private expect: number[] = [];
  private flight: FlightItem[] = [];
  /** message_seq of the last message of the peer's flight that our current flight answers. */
  private peerFlightEnd = -1;
  private timer: TimerHandle | undefined;
  private timeoutMs = INITIAL_RETRANSMIT_MS;
  private retransmits = 0;
  private result: DtlsConnected | undefined;

  // Server cookie secrets (RFC 6347 4.2.1): the current one and the one before, rotated on the clock.
  private cookieSecret: Buffer;
  private previousCookieSecret: Buffer | undefined;
  private cookieSince: number;

  constructor(private readonly o: DtlsEndpointOptions) {
    this.expected = o.expectedFingerprint;
    this.mtu = Math.max(MIN_MTU, Math.min(MAX_DATAGRAM, o.mtu ?? DEFAULT_MTU));
    this.profiles = (o.srtpProfiles ?? DEFAULT_SRTP_PROFILES).map(srtpProfileByName);
    const suites = (o.cipherSuites ?? CIPHER_SUITE_NAMES).map(suiteByName);
    this.suites = o.role === 'server' ? suites.filter((s) => s.auth === o.certificate.keyType) : suites;
    this.groups = o.groups ?? ['x25519', 'secp256r1'];
    this.schemes = ['ecdsa_secp256r1_sha256', 'rsa_pss_rsae_sha256', 'rsa_pkcs1_sha256'];
    this.cookieSecret = o.random.bytes(32);
    this.cookieSince = o.clock.now();
  }

  get state(): DtlsState {
    return this.st;
  }
  /** The address the endpoint latched (the peer of the handshake), if any. */
  get remote(): DtlsPeer | undefined {
    return this.peer;
  }
  /** The outcome once established. */
  get connected(): DtlsConnected | undefined {
    return this.result;
  }

  /** Begin: a client sends its ClientHello; a server waits for one. */
  start(): void {
    if (this.st !== 'new') return;
    if (this.o.role === 'server') {
      this.st = 'server-wait-hello';
      return;
    }
    this.st = 'client-wait-hello';
    this.clientRandom = this.o.random.bytes(32);
    this.clientHello = this.buildClientHello(Buffer.alloc(0));
    this.expect = [HandshakeType.serverHello];
    const ch = this.ownMessage(HandshakeType.clientHello, serializeClientHello(this.clientHello));
    this.addTranscript(ch);
    this.sendFlight([{ epoch: 0, msg: ch }], true);
  }

  /**
   * A new handshake for a new offer (a new peer fingerprint, RFC 8842 5.5):
   * everything of the old association is dropped, the peer is unlatched,
   * and the endpoint starts again in its role.
   */
  restart(expectedFingerprint: Fingerprint): void {
    this.stopTimer();
    this.expected = expectedFingerprint;
    this.peer = undefined;
    this.reasm = new Reassembler();
    this.windows = [new ReplayWindow(), new ReplayWindow()];
    this.writeSeq = [0, 0];
    this.sendSeq = 0;
    this.transcript = [];
    this.clientHello = undefined;
    this.suite = this.profile = this.group = this.ephemeral = this.peerKey = this.peerEcdhPublic = undefined;
    this.master = this.readKeys = this.writeKeys = this.result = undefined;
    this.peerCertSchemes = [];
    this.peerCcs = false;
    this.earlyRecords = [];
    this.renegotiationInfo = false;
    this.helloVerified = false;
    this.expect = [];
    this.flight = [];
    this.peerFlightEnd = -1;
    this.timeoutMs = INITIAL_RETRANSMIT_MS;
    this.retransmits = 0;
    this.st = 'new';
    this.start();
  }

  /** Ends the association: close_notify when established; idempotent. */
  close(): void {
    if (this.st === 'closed') return;
    if (this.st === 'established') this.sendAlert(1, AlertDescription.closeNotify);
    this.stopTimer();
    this.st = 'closed';
  }

  /** One datagram from the media port (RFC 7983: first byte 20..63). Never throws. */
  receive(datagram: Buffer, from: DtlsPeer): void {
    try {
      this.receiveUnsafe(datagram, from);
    } catch (e) {
      if (e instanceof Fail) this.fail(e.code, e.message);
      else this.fail('internal', e instanceof Error ? e.message : 'internal error');
    }
  }

  // ----------------------------------------------------------- receive

  private ended(): boolean {
    return this.st === 'failed' || this.st === 'closed';
  }

  private drops = 0;
  private drop(reason: DtlsDrop): void {
    this.drops++;
    this.o.counters.inc(DTLS_DROP_PREFIX + reason);
  }

  private receiveUnsafe(datagram: Buffer, from: DtlsPeer): void {
    if (this.st === 'failed' || this.st === 'closed' || this.st === 'new') return this.drop('closed');
    if (datagram.length > MAX_DATAGRAM) return this.drop('too-big');
    if (datagram.length === 0) return this.drop('malformed-record');
    if (this.peer && !samePeer(this.peer, from)) return this.drop('foreign-source');
    const parsed = parseRecords(datagram);
    if (!parsed.ok) return this.drop('malformed-record');
    if (this.st === 'server-wait-hello') return this.statelessHello(parsed.value, from);
    for (const rec of parsed.value) {
      if (this.ended()) return this.drop('closed');
      this.record(rec, from);
      // Messages are taken as soon as complete, so keys derived from one record read the next.
      this.drain();
    }
  }

  /** One record from the latched peer (or, for a client before the ServerHello, from anywhere). */
  private record(rec: DtlsRecord, from: DtlsPeer): void {
    if (rec.epoch > 1) return this.drop('epoch');
    const w = this.windows[rec.epoch as 0 | 1];
    const seen = w.check(rec.seq);
    if (seen !== 'ok') return this.drop(seen);
    let plain = rec.fragment;
    if (rec.epoch === 1) {
      if (!this.readKeys) {
        if (this.st === 'established' || this.earlyRecords.length >= MAX_EARLY_RECORDS) return this.drop('early-overflow');
        this.earlyRecords.push(rec);
        return this.o.counters.inc(DTLS_COUNTER.recordOk);
      }
      const p = unprotectFragment(this.readKeys, rec);
      if (!p) return this.drop('bad-mac');
      plain = p;
    }
    // Only a record that authenticated (or, in epoch 0, parsed) moves the window.
    const before = this.drops;
    this.content(rec, plain, from);
    if (this.drops === before) {
      w.mark(rec.seq);
      this.o.counters.inc(DTLS_COUNTER.recordOk);
    }
  }

  private content(rec: DtlsRecord, plain: Buffer, from: DtlsPeer): void {
    switch (rec.type) {
      case ContentType.handshake: {
        const frags = parseHandshakeFragments(plain);
        if (!frags.ok) return this.drop('malformed-handshake');
        for (const f of frags.value) this.fragment(f, rec.epoch, from);
        return;
      }
      case ContentType.changeCipherSpec:
        if (plain.length !== 1 || plain[0] !== 1 || rec.epoch !== 0) return this.drop('ccs');
        if (this.st === 'client-wait-finished' || this.st === 'client-wait-server-done' || this.st === 'server-wait-client-flight') {
          this.peerCcs = true;
          return;
        }
        return this.drop('ccs');
      case ContentType.alert: {
        const a = parseAlert(plain);
        if (!a.ok) return this.drop('alert');
        // Once keyed, an alert in the clear could come from anyone on the path: only protected ones count.
        if (this.st === 'established' && rec.epoch === 0) return this.drop('alert');
        if (a.value.description === AlertDescription.closeNotify) {
          this.stopTimer();
          this.st = 'closed';
          this.notify(() => this.o.onClosed?.());
          return;
        }
        if (a.value.level === 2) throw new Fail('peer-alert', `peer sent fatal alert ${a.value.description}`);
        return;
      }
      default:
        return this.drop('application-data');
    }
  }

  private fragment(f: HandshakeFragment, epoch: number, from: DtlsPeer): void {
    if (this.st === 'established') {
      if (f.msgType === HandshakeType.clientHello) return this.drop('client-hello-refused');
      // Only the server ends the handshake with an untimed flight, sent again when the client repeats its own.
      if (this.o.role === 'server' && f.messageSeq === this.peerFlightEnd) return this.retransmitOnPeerRepeat();
      return this.drop(f.messageSeq < this.reasm.expected ? 'hs-old' : 'renegotiation');
    }
    if (f.msgType === HandshakeType.helloRequest) return this.drop('renegotiation');
    // Finished is the one handshake message under the new keys (RFC 5246 7.4.9).
    if ((f.msgType === HandshakeType.finished) !== (epoch === 1)) return this.drop('wrong-epoch');
    if (f.messageSeq < this.reasm.expected) {
      if (f.messageSeq === this.peerFlightEnd) return this.retransmitOnPeerRepeat();
      return this.drop('hs-old');
    }
    const r = this.reasm.add(f);
    if (r) return this.drop(r.slice(5) as DtlsDrop);
    // A client latches the peer whose ServerHello it takes (see handle()); record it here to check later datagrams.
    if (!this.peer && this.o.role === 'client' && f.msgType === HandshakeType.serverHello) this.pendingFrom = from;
  }
  private pendingFrom: DtlsPeer | undefined;
  private lastRepeatAt = -Infinity;

  /** RFC 6347 4.2.4: the peer repeating its last flight means ours was lost; send it again at once. */
  private retransmitOnPeerRepeat(): void {
    const now = this.o.clock.now();
    if (this.flight.length === 0 || now - this.lastRepeatAt < MIN_REPEAT_RETRANSMIT_MS) return this.drop('hs-old');
    this.lastRepeatAt = now;
    this.o.counters.inc(DTLS_COUNTER.retransmit);
    this.transmit();
  }

  /** Processes complete messages in order. */
  private drain(): void {
    for (;;) {
      if (this.st === 'failed' || this.st === 'closed' || this.st === 'established') return;
      if (this.reasm.peekType() === HandshakeType.finished && !this.peerCcs) return;
      const m = this.reasm.next();
      if (!m) return;
      const want = this.expect.shift();
      need(want === m.msgType || (want === HandshakeType.serverHello && m.msgType === HandshakeType.helloVerifyRequest),
        'unexpected-message', `handshake message ${m.msgType} where ${want ?? 'none'} was expected`);
      this.handle(m);
    }
  }

  private handle(m: HandshakeMessage): void {
    switch (m.msgType) {
      case HandshakeType.helloVerifyRequest: return this.onHelloVerify(m);
      case HandshakeType.serverHello: return this.onServerHello(m);
      case HandshakeType.certificate: return this.onCertificate(m);
      case HandshakeType.serverKeyExchange: return this.onServerKeyExchange(m);
      case HandshakeType.certificateRequest: return this.onCertificateRequest(m);
      case HandshakeType.serverHelloDone: return this.onServerHelloDone(m);
      case HandshakeType.clientKeyExchange: return this.onClientKeyExchange(m);
      case HandshakeType.certificateVerify: return this.onCertificateVerify(m);
      case HandshakeType.finished: return this.onFinished(m);
      default: throw new Fail('unexpected-message', `handshake message ${m.msgType}`);
    }
  }

  // ------------------------------------------------------------- client

  private buildClientHello(cookie: Buffer): ClientHello {
    const ext: Extension[] = [
      { type: ExtensionType.useSrtp, data: serializeUseSrtp({ profiles: this.profiles.map((p) => p.code), mki: Buffer.alloc(0) }) },
      { type: ExtensionType.extendedMasterSecret, data: Buffer.alloc(0) },
      { type: ExtensionType.supportedGroups, data: serializeU16ListExtension(this.groups.map((g) => GROUPS[g])) },
      { type: ExtensionType.ecPointFormats, data: Buffer.from([1, 0]) },
      { type: ExtensionType.signatureAlgorithms, data: serializeU16ListExtension(this.schemes.map((s) => SIGNATURE_SCHEMES[s])) },
      { type: ExtensionType.renegotiationInfo, data: Buffer.from([0]) },
    ];
    return {
      version: DTLS12, random: this.clientRandom, sessionId: Buffer.alloc(0), cookie,
      cipherSuites: this.suites.map((s) => s.code), compressionMethods: [0], extensions: ext,
    };
  }

  private onHelloVerify(m: HandshakeMessage): void {
    need(this.o.role === 'client' && !this.helloVerified, 'unexpected-message', 'a second HelloVerifyRequest');
    const hv = must(parseHelloVerifyRequest(m.body), 'HelloVerifyRequest');
    need(hv.version === DTLS10 || hv.version === DTLS12, 'bad-version', 'HelloVerifyRequest version');
    need(hv.cookie.length > 0, 'bad-parameter', 'empty cookie');
    this.helloVerified = true;
    // The HelloVerifyRequest echoed our record number; the stateful server numbers its records afresh.
    this.windows[0] = new ReplayWindow();
    // RFC 6347 4.2.6: neither the first ClientHello nor the HelloVerifyRequest enters the transcript.
    this.transcript = [];
    this.clientHello = this.buildClientHello(hv.cookie);
    this.expect = [HandshakeType.serverHello];
    this.peerFlightEnd = m.messageSeq;
    const ch = this.ownMessage(HandshakeType.clientHello, serializeClientHello(this.clientHello));
    this.addTranscript(ch);
    this.sendFlight([{ epoch: 0, msg: ch }], true);
  }

  private onServerHello(m: HandshakeMessage): void {
    const sh = must(parseServerHello(m.body), 'ServerHello');
    need(sh.version === DTLS12, 'bad-version', `server chose version ${sh.version.toString(16)}`);
    const suite = suiteByCode(sh.cipherSuite);
    need(suite !== undefined && this.suites.includes(suite), 'no-common-suite', 'server chose a suite we did not offer');
    need(sh.compressionMethod === 0, 'bad-parameter', 'compression');
    const offered = new Set<number>([ExtensionType.useSrtp, ExtensionType.extendedMasterSecret, ExtensionType.ecPointFormats, ExtensionType.renegotiationInfo]);
    for (const x of sh.extensions) need(offered.has(x.type), 'bad-parameter', `unsolicited extension ${x.type}`);
    need(findExtension(sh.extensions, ExtensionType.extendedMasterSecret)?.data.length === 0, 'no-extended-master-secret',
      'server did not agree to the extended master secret (RFC 7627)');
    const srtp = findExtension(sh.extensions, ExtensionType.useSrtp);
    need(srtp !== undefined, 'no-srtp', 'server did not agree to use_srtp');
    const u = must(parseUseSrtp(srtp!.data), 'use_srtp');
    const profile = u.profiles.length === 1 ? srtpProfileByCode(u.profiles[0]!) : undefined;
    need(profile !== undefined && this.profiles.includes(profile) && u.mki.length === 0, 'no-srtp', 'server chose an SRTP profile we did not offer');
    const reneg = findExtension(sh.extensions, ExtensionType.renegotiationInfo);
    if (reneg) need(must(parseRenegotiationInfo(reneg.data), 'renegotiation_info').length === 0, 'bad-parameter', 'renegotiation_info');
    const pf = findExtension(sh.extensions, ExtensionType.ecPointFormats);
    if (pf) need(must(parsePointFormats(pf.data), 'ec_point_formats').includes(0), 'bad-parameter', 'ec_point_formats');
    this.peer ??= this.pendingFrom;
    this.suite = suite;
    this.profile = profile;
    this.serverRandom = sh.random;
    this.st = 'client-wait-server-done';
    this.expect = [HandshakeType.certificate, HandshakeType.serverKeyExchange, HandshakeType.certificateRequest, HandshakeType.serverHelloDone];
    this.addTranscript(m);
  }

  private checkPeerCertificate(m: HandshakeMessage, wantType: 'ecdsa' | 'rsa' | undefined): void {
    const certs = must(parseCertificate(m.body), 'Certificate');
    need(certs.length > 0, 'bad-certificate', 'peer sent no certificate');
    need(fingerprintMatches(certs[0]!, this.expected), 'bad-certificate', 'peer certificate does not match the SDP fingerprint');
    const key = peerPublicKey(certs[0]!);
    need(key !== undefined, 'bad-certificate', 'peer certificate key is not ECDSA P-256 or RSA 2048+');
    need(wantType === undefined || keyTypeOf(key!) === wantType, 'bad-certificate', 'peer certificate key does not fit the suite');
    this.peerKey = key;
    this.addTranscript(m);
  }

  private onCertificate(m: HandshakeMessage): void {
    this.checkPeerCertificate(m, this.o.role === 'client' ? this.suite!.auth : undefined);
  }

  private onServerKeyExchange(m: HandshakeMessage): void {
    const ske = must(parseServerKeyExchange(m.body), 'ServerKeyExchange');
    const group = groupByCode(ske.namedCurve);
    need(group !== undefined && this.groups.includes(group), 'no-common-group', 'server chose a group we did not offer');
    const scheme = schemeByCode(ske.signatureScheme);
    need(scheme !== undefined && this.schemes.includes(scheme), 'no-common-signature', 'server signed with a scheme we did not offer');
    const signed = Buffer.concat([this.clientRandom, this.serverRandom, ske.params]);
    need(verifyWith(scheme!, this.peerKey!, signed, ske.signature), 'bad-signature', 'ServerKeyExchange signature does not verify');
    this.group = group;
    this.peerEcdhPublic = ske.publicKey;
    this.addTranscript(m);
  }

  private onCertificateRequest(m: HandshakeMessage): void {
    const cr = must(parseCertificateRequest(m.body), 'CertificateRequest');
    const mine = this.o.certificate.keyType;
    need(cr.certificateTypes.includes(CERT_TYPE[mine]), 'no-common-signature', 'server does not take our certificate type');
    const schemes = cr.signatureSchemes.map(schemeByCode).filter((s): s is SignatureSchemeName => s !== undefined);
    need(schemes.some((s) => schemeKeyType(s) === mine), 'no-common-signature', 'server takes no signature scheme for our key');
    this.peerCertSchemes = schemes;
    this.addTranscript(m);
  }

  private onServerHelloDone(m: HandshakeMessage): void {
    need(m.body.length === 0, 'bad-parameter', 'ServerHelloDone with a body');
    this.addTranscript(m);
    this.ephemeral = ephemeralKey(this.group!, this.o.random);
    const pre = this.ephemeral.agree(this.peerEcdhPublic!);
    need(pre !== undefined, 'bad-key-share', 'server ECDHE share is not a valid point');
    const cert = this.ownMessage(HandshakeType.certificate, serializeCertificate([this.o.certificate.der]));
    this.addTranscript(cert);
    const cke = this.ownMessage(HandshakeType.clientKeyExchange, serializeClientKeyExchange(this.ephemeral.publicKey));
    this.addTranscript(cke);
    this.deriveKeys(pre!);
    const mine = this.o.certificate.keyType;
    const scheme = this.schemes.find((s) => schemeKeyType(s) === mine && this.peerCertSchemes.includes(s))!;
    const cv = this.ownMessage(HandshakeType.certificateVerify, serializeCertificateVerify({
      scheme: SIGNATURE_SCHEMES[scheme], signature: signWith(scheme, this.o.certificate.privateKey, Buffer.concat(this.transcript)),
    }));
    this.addTranscript(cv);
    const fin = this.ownMessage(HandshakeType.finished, finishedData(this.suite!, this.master!, 'client finished', Buffer.concat(this.transcript)));
    this.addTranscript(fin);
    this.st = 'client-wait-finished';
    this.expect = [HandshakeType.finished];
    this.peerFlightEnd = m.messageSeq;
    this.sendFlight([{ epoch: 0, msg: cert }, { epoch: 0, msg: cke }, { epoch: 0, msg: cv }, { epoch: 0 }, { epoch: 1, msg: fin }], true);
  }

  // ------------------------------------------------------------- server

  private cookieFor(from: DtlsPeer, ch: ClientHello, secret: Buffer): Buffer {
    const bare = serializeClientHello({ ...ch, cookie: Buffer.alloc(0) });
    return createHmac('sha256', secret).update(`${from.address}|${from.port}|`).update(bare).digest();
  }

  /**
   * A server before any valid ClientHello keeps no per-client state
   * (RFC 6347 4.2.1): a hello without a valid cookie gets a
   * HelloVerifyRequest to its source; one with a valid cookie latches its
   * source as the peer and starts the handshake.
   */
  private statelessHello(records: readonly DtlsRecord[], from: DtlsPeer): void {
    const now = this.o.clock.now();
    if (now - this.cookieSince > COOKIE_LIFETIME_MS) {
      this.previousCookieSecret = this.cookieSecret;
      this.cookieSecret = this.o.random.bytes(32);
      this.cookieSince = now;
    }
    const rec = records[0]!;
    if (records.length !== 1 || rec.type !== ContentType.handshake || rec.epoch !== 0) return this.drop('not-hello');
    const frags = parseHandshakeFragments(rec.fragment);
    if (!frags.ok) return this.drop('malformed-handshake');
    const f = frags.value[0];
    if (frags.value.length !== 1 || !f || f.msgType !== HandshakeType.clientHello) return this.drop('not-hello');
    if (f.fragmentOffset !== 0 || f.body.length !== f.length) return this.drop('fragmented-hello');
    const p = parseClientHello(f.body);
    if (!p.ok) return this.drop('malformed-hello');
    const ch = p.value;
    const valid = ch.cookie.length > 0 && [this.cookieSecret, this.previousCookieSecret].some((s) => s && constantEqual(ch.cookie, this.cookieFor(from, ch, s)));
    if (!valid) {
      if (ch.cookie.length > 0) this.drop('bad-cookie');
      else this.o.counters.inc(DTLS_COUNTER.recordOk);
      const hv = serializeHelloVerifyRequest({ version: DTLS10, cookie: this.cookieFor(from, ch, this.cookieSecret) });
      const frag = serializeFragment({ msgType: HandshakeType.helloVerifyRequest, length: hv.length, messageSeq: f.messageSeq, fragmentOffset: 0, body: hv });
      this.o.counters.inc(DTLS_COUNTER.helloVerifySent);
      this.o.send(serializeRecord({ type: ContentType.handshake, version: DTLS10, epoch: 0, seq: rec.seq, fragment: frag }), from);
      return;
    }
    this.o.counters.inc(DTLS_COUNTER.recordOk);
    this.peer = from;
    this.windows[0].mark(rec.seq);
    // Our records continue from the ClientHello's number, as the HelloVerifyRequest used it (RFC 6347 4.2.1).
    this.writeSeq[0] = rec.seq;
    this.reasm.reset(f.messageSeq + 1);
    this.sendSeq = f.messageSeq;
    this.clientHello = ch;
    this.onClientHello({ msgType: HandshakeType.clientHello, messageSeq: f.messageSeq, body: f.body });
  }

  private onClientHello(m: HandshakeMessage): void {
    const ch = this.clientHello!;
    this.clientRandom = ch.random;
    this.addTranscript(m);
    // DTLS versions count down: 0xfefd (1.2) is newer than 0xfeff (1.0).
    need(ch.version <= DTLS12, 'bad-version', 'client offers no DTLS 1.2');
    need(ch.compressionMethods.includes(0), 'bad-parameter', 'no null compression');
    const suite = this.suites.find((s) => ch.cipherSuites.includes(s.code));
    need(suite !== undefined, 'no-common-suite', 'no cipher suite in common');
    const ems = findExtension(ch.extensions, ExtensionType.extendedMasterSecret);
    need(ems !== undefined && ems.data.length === 0, 'no-extended-master-secret', 'client did not offer the extended master secret (RFC 7627)');
    const srtp = findExtension(ch.extensions, ExtensionType.useSrtp);
    need(srtp !== undefined, 'no-srtp', 'client did not offer use_srtp');
    const u = must(parseUseSrtp(srtp!.data), 'use_srtp');
    const profile = this.profiles.find((p) => u.profiles.includes(p.code));
    need(profile !== undefined && u.mki.length === 0, 'no-srtp', 'no SRTP profile in common');
    const ge = findExtension(ch.extensions, ExtensionType.supportedGroups);
    const groups = ge ? must(parseU16ListExtension(ge.data), 'supported_groups') : [];
    const group = this.groups.find((g) => groups.includes(GROUPS[g]));
    need(group !== undefined, 'no-common-group', 'no ECDHE group in common');
    const pf = findExtension(ch.extensions, ExtensionType.ecPointFormats);
    if (pf) need(must(parsePointFormats(pf.data), 'ec_point_formats').includes(0), 'bad-parameter', 'ec_point_formats');
    const se = findExtension(ch.extensions, ExtensionType.signatureAlgorithms);
    const offered = se ? must(parseU16ListExtension(se.data), 'signature_algorithms') : [];
    const mine = this.o.certificate.keyType;
    const scheme = this.schemes.find((s) => schemeKeyType(s) === mine && offered.includes(SIGNATURE_SCHEMES[s]));
    need(scheme !== undefined, 'no-common-signature', 'no signature scheme for our key');
    const reneg = findExtension(ch.extensions, ExtensionType.renegotiationInfo);
    if (reneg) need(must(parseRenegotiationInfo(reneg.data), 'renegotiation_info').length === 0, 'bad-parameter', 'renegotiation_info');
    this.renegotiationInfo = reneg !== undefined || ch.cipherSuites.includes(SCSV_RENEGOTIATION);
    this.suite = suite;
    this.profile = profile;
    this.group = group;
    this.serverRandom = this.o.random.bytes(32);

    const ext: Extension[] = [
      { type: ExtensionType.useSrtp, data: serializeUseSrtp({ profiles: [profile!.code], mki: Buffer.alloc(0) }) },
      { type: ExtensionType.extendedMasterSecret, data: Buffer.alloc(0) },
      ...(this.renegotiationInfo ? [{ type: ExtensionType.renegotiationInfo, data: Buffer.from([0]) }] : []),
      ...(pf ? [{ type: ExtensionType.ecPointFormats, data: Buffer.from([1, 0]) }] : []),
    ];
    const sh = this.ownMessage(HandshakeType.serverHello, serializeServerHello({
      version: DTLS12, random: this.serverRandom, sessionId: Buffer.alloc(0), cipherSuite: suite!.code, compressionMethod: 0, extensions: ext,
    }));
    this.addTranscript(sh);
    const cert = this.ownMessage(HandshakeType.certificate, serializeCertificate([this.o.certificate.der]));
    this.addTranscript(cert);
    this.ephemeral = ephemeralKey(group!, this.o.random);
    const params = serverKeyParams(GROUPS[group!], this.ephemeral.publicKey);
    const sig = signWith(scheme!, this.o.certificate.privateKey, Buffer.concat([this.clientRandom, this.serverRandom, params]));
    const ske = this.ownMessage(HandshakeType.serverKeyExchange, serializeServerKeyExchange(params, SIGNATURE_SCHEMES[scheme!], sig));
    this.addTranscript(ske);
    // DTLS-SRTP is mutual (RFC 5763 5): the server always asks for the client's certificate.
    const cr = this.ownMessage(HandshakeType.certificateRequest, serializeCertificateRequest({
      certificateTypes: [CERT_TYPE.ecdsa, CERT_TYPE.rsa], signatureSchemes: this.schemes.map((s) => SIGNATURE_SCHEMES[s]),
    }));
    this.addTranscript(cr);
    const done = this.ownMessage(HandshakeType.serverHelloDone, Buffer.alloc(0));
    this.addTranscript(done);
    this.st = 'server-wait-client-flight';
    this.expect = [HandshakeType.certificate, HandshakeType.clientKeyExchange, HandshakeType.certificateVerify, HandshakeType.finished];
    this.peerFlightEnd = m.messageSeq;
    this.sendFlight([sh, cert, ske, cr, done].map((msg) => ({ epoch: 0 as const, msg })), true);
  }

  private onClientKeyExchange(m: HandshakeMessage): void {
    const point = must(parseClientKeyExchange(m.body), 'ClientKeyExchange');
    const pre = this.ephemeral!.agree(point);
    need(pre !== undefined, 'bad-key-share', 'client ECDHE share is not a valid point');
    this.addTranscript(m);
    this.deriveKeys(pre!);
  }

  private onCertificateVerify(m: HandshakeMessage): void {
    const cv = must(parseCertificateVerify(m.body), 'CertificateVerify');
    const scheme = schemeByCode(cv.scheme);
    need(scheme !== undefined && this.schemes.includes(scheme), 'no-common-signature', 'CertificateVerify with a scheme we did not ask for');
    need(verifyWith(scheme!, this.peerKey!, Buffer.concat(this.transcript), cv.signature), 'bad-signature', 'CertificateVerify signature does not verify');
    this.addTranscript(m);
  }

  private onFinished(m: HandshakeMessage): void {
    const client = this.o.role === 'server';
    const want = finishedData(this.suite!, this.master!, client ? 'client finished' : 'server finished', Buffer.concat(this.transcript));
    need(constantEqual(m.body, want), 'bad-finished', 'Finished does not verify');
    this.addTranscript(m);
    this.peerFlightEnd = m.messageSeq;
    if (client) {
      const fin = this.ownMessage(HandshakeType.finished, finishedData(this.suite!, this.master!, 'server finished', Buffer.concat(this.transcript)));
      // The final flight has no timer: it is sent again when the client repeats its flight (RFC 6347 4.2.4).
      this.sendFlight([{ epoch: 0 }, { epoch: 1, msg: fin }], false);
    } else {
      this.stopTimer();
    }
    this.established();
  }

  // ------------------------------------------------------------ common

  private deriveKeys(pre: Buffer): void {
    const suite = this.suite!;
    this.master = extendedMasterSecret(suite.hash, pre, transcriptHash(suite, Buffer.concat(this.transcript)));
    const keys = recordKeys(suite, this.master, this.clientRandom, this.serverRandom);
    const client = this.o.role === 'client';
    this.writeKeys = client ? keys.client : keys.server;
    this.readKeys = client ? keys.server : keys.client;
    const early = this.earlyRecords;
    this.earlyRecords = [];
    // Records of the next epoch that overtook their keys are read now (they counted as taken when held).
    for (const rec of early) {
      const p = unprotectFragment(this.readKeys, rec);
      if (!p) {
        this.drop('bad-mac');
        continue;
      }
      if (this.windows[1].check(rec.seq) !== 'ok') {
        this.drop('replay');
        continue;
      }
      this.windows[1].mark(rec.seq);
      if (rec.type === ContentType.handshake) {
        const frags = parseHandshakeFragments(p);
        if (frags.ok) for (const f of frags.value) this.fragment(f, 1, this.peer!);
      }
    }
  }

  private established(): void {
    const suite = this.suite!;
    const profile = this.profile!;
    const material = exportKeyingMaterial(suite, this.master!, SRTP_EXPORTER_LABEL, this.clientRandom, this.serverRandom, exportLength(profile));
    this.result = {
      role: this.o.role, peer: this.peer!, suite: suite.name, group: this.group!, profile: profile.name,
      peerFingerprint: this.expected, srtp: splitSrtpKeys(profile, material, this.o.role),
    };
    this.ephemeral = undefined;
    this.transcript = [];
    this.st = 'established';
    this.o.counters.inc(DTLS_COUNTER.connected);
    this.notify(() => this.o.onConnected?.(this.result!));
  }

  private ownMessage(msgType: HandshakeMessage['msgType'], body: Buffer): HandshakeMessage {
    return { msgType, messageSeq: this.sendSeq++, body };
  }

  private addTranscript(m: HandshakeMessage): void {
    this.transcript.push(transcriptBytes(m));
  }

  private sendFlight(items: FlightItem[], timed: boolean): void {
    this.stopTimer();
    this.flight = items;
    this.timeoutMs = INITIAL_RETRANSMIT_MS;
    this.retransmits = 0;
    this.transmit();
    if (timed) this.armTimer();
  }

  private armTimer(): void {
    this.timer = this.o.clock.setTimer(this.timeoutMs, () => {
      this.timer = undefined;
      if (this.st === 'established' || this.st === 'failed' || this.st === 'closed') return;
      if (this.retransmits >= MAX_RETRANSMITS) {
        this.fail('timeout', `no answer after ${this.retransmits} retransmissions`);
        return;
      }
      this.retransmits++;
      // RFC 6347 4.2.4.1: double the timer on each expiry, up to 60 s.
      this.timeoutMs = Math.min(MAX_RETRANSMIT_MS, this.timeoutMs * 2);
      this.o.counters.inc(DTLS_COUNTER.retransmit);
      this.transmit();
      this.armTimer();
    });
  }

  private stopTimer(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Sends the current flight, fragmenting to the MTU and packing records into datagrams; fresh record numbers each time. */
  private transmit(): void {
    const records: Buffer[] = [];
    for (const it of this.flight) {
      if (!it.msg) {
        records.push(this.protect(ContentType.changeCipherSpec, it.epoch, Buffer.from([1])));
        continue;
      }
      const room = this.mtu - RECORD_HEADER - HANDSHAKE_HEADER - (it.epoch === 1 ? AEAD_OVERHEAD : 0);
      for (const f of fragmentMessage(it.msg, room)) records.push(this.protect(ContentType.handshake, it.epoch, serializeFragment(f)));
    }
    let dgram: Buffer[] = [];
    let size = 0;
    for (const r of records) {
      if (size > 0 && size + r.length > this.mtu) {
        this.o.send(Buffer.concat(dgram), this.peer);
        dgram = [];
        size = 0;
      }
      dgram.push(r);
      size += r.length;
    }
    if (size > 0) this.o.send(Buffer.concat(dgram), this.peer);
  }

  private protect(type: number, epoch: 0 | 1, plain: Buffer): Buffer {
    const seq = this.writeSeq[epoch]++;
    const fragment = epoch === 1 ? protectFragment(this.writeKeys!, type, DTLS12, 1, seq, plain) : plain;
    return serializeRecord({ type: type as DtlsRecord['type'], version: DTLS12, epoch, seq, fragment });
  }

  private sendAlert(level: 1 | 2, description: number): void {
    if (!this.peer && this.o.role === 'server') return;
    const epoch: 0 | 1 = this.writeKeys && (this.st === 'established' || this.st === 'client-wait-finished') ? 1 : 0;
    try {
      this.o.send(this.protect(ContentType.alert, epoch, serializeAlert({ level, description })), this.peer);
    } catch {
      // The owner's send failing must not turn a failure into an exception.
    }
  }

  /** The owner's callbacks run after our state is settled; one that throws is counted and changes nothing here. */
  private notify(fn: () => void): void {
    try {
      fn();
    } catch {
      this.o.counters.inc('dtls-listener-error');
    }
  }

  private fail(code: DtlsFailureCode, message: string): void {
    if (this.st === 'failed' || this.st === 'closed') return;
    const alert = FAILURE_ALERT[code];
    if (alert !== undefined) this.sendAlert(2, alert);
    this.stopTimer();
    this.st = 'failed';
    this.ephemeral = undefined;
    this.o.counters.inc(`dtls-failed-${code}`);
    this.notify(() => this.o.onFailed?.({ code, message }));
  }
}
