import { Counters, FakeClock, seededRandom } from '../../../firmware/core/index.js';
import {
  DtlsEndpoint, generateCertificate,
  type CipherSuiteName, type DtlsCertificate, type DtlsConnected, type DtlsEndpointOptions, type DtlsFailure, type DtlsPeer,
  type GroupName, type SrtpProfileName,
} from '../../../firmware/keying/index.js';

export const CLIENT_ADDR: DtlsPeer = { address: '192.0.2.10', port: 40000 };
export const SERVER_ADDR: DtlsPeer = { address: '192.0.2.20', port: 50000 };

const certCache = new Map<string, DtlsCertificate>();
/** Certificates are slow to make (RSA): a few per test file, by name. */
export function cert(name: string, keyType: 'ecdsa' | 'rsa' = 'ecdsa'): DtlsCertificate {
  const k = `${name}/${keyType}`;
  let c = certCache.get(k);
  if (!c) {
    c = generateCertificate({ random: seededRandom(certCache.size + 3), now: Date.UTC(2026, 0, 1), keyType, commonName: name });
    certCache.set(k, c);
  }
  return c;
}

export interface Wire {
  readonly from: 'client' | 'server';
  readonly datagram: Buffer;
  readonly index: number;
}

export interface PairOptions {
  readonly clientCert?: DtlsCertificate;
  readonly serverCert?: DtlsCertificate;
  /** What each side expects of the other (defaults: the other's real fingerprint). */
  readonly clientExpects?: DtlsCertificate['fingerprint'];
  readonly serverExpects?: DtlsCertificate['fingerprint'];
  readonly clientProfiles?: readonly SrtpProfileName[];
  readonly serverProfiles?: readonly SrtpProfileName[];
  readonly clientSuites?: readonly CipherSuiteName[];
  readonly clientGroups?: readonly GroupName[];
  readonly serverGroups?: readonly GroupName[];
  readonly mtu?: number;
  /** Decides each datagram's fate: deliver (possibly transformed / several times), or drop. */
  readonly filter?: (w: Wire) => readonly Buffer[];
  readonly seed?: number;
}

/** Two of our endpoints over an in-memory datagram pair, on one FakeClock. */
export class Pair {
  readonly clock = new FakeClock();
  readonly counters = { client: new Counters(), server: new Counters() };
  readonly client: DtlsEndpoint;
  readonly server: DtlsEndpoint;
  readonly connected: { client?: DtlsConnected; server?: DtlsConnected } = {};
  readonly failed: { client?: DtlsFailure; server?: DtlsFailure } = {};
  readonly log: Wire[] = [];
  /** Datagrams in flight, delivered by run(). */
  queue: { to: 'client' | 'server'; d: Buffer }[] = [];
  private n = 0;

  constructor(readonly o: PairOptions = {}) {
    const cc = o.clientCert ?? cert('client');
    const sc = o.serverCert ?? cert('server');
    const seed = o.seed ?? 1;
    const base = (role: 'client' | 'server'): DtlsEndpointOptions => ({
      role, certificate: role === 'client' ? cc : sc,
      expectedFingerprint: role === 'client' ? o.clientExpects ?? sc.fingerprint : o.serverExpects ?? cc.fingerprint,
      clock: this.clock, random: seededRandom(seed * 17 + (role === 'client' ? 1 : 2)), counters: this.counters[role],
      ...(o.mtu ? { mtu: o.mtu } : {}),
      ...(role === 'client' ? { srtpProfiles: o.clientProfiles, cipherSuites: o.clientSuites, groups: o.clientGroups } : { srtpProfiles: o.serverProfiles, groups: o.serverGroups }),
      send: (d) => this.sent(role, d),
      onConnected: (c) => { this.connected[role] = c; },
      onFailed: (f) => { this.failed[role] = f; },
    });
    this.client = new DtlsEndpoint(base('client'));
    this.server = new DtlsEndpoint(base('server'));
  }

  private sent(from: 'client' | 'server', datagram: Buffer): void {
    const w = { from, datagram, index: this.n++ };
    this.log.push(w);
    const out = this.o.filter ? this.o.filter(w) : [datagram];
    for (const d of out) this.queue.push({ to: from === 'client' ? 'server' : 'client', d });
  }

  /** Delivers queued datagrams until none is left (bounded). */
  run(): void {
    for (let i = 0; this.queue.length > 0 && i < 10000; i++) {
      const { to, d } = this.queue.shift()!;
      if (to === 'server') this.server.receive(d, CLIENT_ADDR);
      else this.client.receive(d, SERVER_ADDR);
    }
  }

  /** Starts both and runs the handshake, advancing the clock through retransmissions, up to `ms`. */
  handshake(ms = 130_000): void {
    this.server.start();
    this.client.start();
    this.run();
    for (let t = 0; t < ms && !(this.connected.client && this.connected.server) && !this.failed.client && !this.failed.server; t += 250) {
      this.clock.advance(250);
      this.run();
    }
  }
}
