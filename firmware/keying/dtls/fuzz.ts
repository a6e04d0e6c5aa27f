import { Counters, FakeClock, seededRandom, type Random } from '../../core/index.js';
import { generateCertificate, type DtlsCertificate } from './cert.js';
import { DTLS_COUNTER, DTLS_DROP_PREFIX, DtlsEndpoint, type DtlsPeer, type DtlsRole } from './endpoint.js';

export interface FuzzReport {
  readonly datagrams: number;
  /** Datagrams that moved no counter (must be 0). */
  readonly uncounted: number;
  /** Exceptions that escaped receive() (must be 0). */
  readonly thrown: number;
  /** The established endpoints are still established with their first keys after all of it. */
  readonly sessionsIntact: boolean;
  readonly drops: Readonly<Record<string, number>>;
  readonly ms: number;
}

const CLIENT: DtlsPeer = { address: '192.0.2.1', port: 40000 };
const SERVER: DtlsPeer = { address: '192.0.2.2', port: 50000 };

function counted(c: Counters): number {
  let n = 0;
  for (const [k, v] of Object.entries(c.snapshot())) {
    if (k.startsWith(DTLS_DROP_PREFIX) || k === DTLS_COUNTER.recordOk || k.startsWith('dtls-failed-')) n += v;
  }
  return n;
}

/** One mutation of a captured datagram: bit flips, truncation, length-field edits, insertions. */
export function mutate(d: Buffer, r: Random): Buffer {
  const b = Buffer.from(d);
  switch (r.int(6)) {
    case 0: {
      for (let i = 1 + r.int(3); i > 0; i--) b[r.int(b.length)]! ^= 1 << r.int(8);
      return b;
    }
    case 1:
      return b.subarray(0, r.int(b.length));
    case 2: {
      // Record length (bytes 11-12) or a handshake length / offset / fragment length (bytes 14-16, 19-21, 22-24).
      const at = [11, 12, 14, 15, 16, 19, 20, 21, 22, 23, 24][r.int(11)]!;
      if (at < b.length) b[at] = r.int(256);
      return b;
    }
    case 3: {
      const at = r.int(b.length + 1);
      return Buffer.concat([b.subarray(0, at), r.bytes(1 + r.int(8)), b.subarray(at)]);
    }
    case 4: {
      // Epoch and sequence number.
      const at = 3 + r.int(8);
      if (at < b.length) b[at] = r.int(256);
      return b;
    }
    default:
      return Buffer.concat([b, b.subarray(0, r.int(b.length))]);
  }
}

/**
 * Feeds `iterations` mutated datagrams (taken from a real handshake) into
 * four live endpoints: an established client and server, a server waiting
 * for a ClientHello and a client waiting for the server's flight (each
 * remade once it has failed). For the lead's bench (10^5) and the tests.
 */
export function fuzzDtlsEndpoint(iterations: number, seed = 1, certs?: { client: DtlsCertificate; server: DtlsCertificate }): FuzzReport {
  const clock = new FakeClock();
  const counters = new Counters();
  const rnd = seededRandom(seed);
  const client = certs?.client ?? generateCertificate({ random: rnd, now: clock.now() });
  const server = certs?.server ?? generateCertificate({ random: rnd, now: clock.now() });
  const fromClient: Buffer[] = [];
  const fromServer: Buffer[] = [];
  const make = (role: DtlsRole, sink: Buffer[], deliver: (d: Buffer) => void): DtlsEndpoint => new DtlsEndpoint({
    role, certificate: role === 'client' ? client : server,
    expectedFingerprint: role === 'client' ? server.fingerprint : client.fingerprint,
    clock, random: seededRandom(seed + (role === 'client' ? 7 : 13)), counters,
    send: (d) => {
      sink.push(d);
      deliver(d);
    },
  });
  let c: DtlsEndpoint | undefined;
  let s: DtlsEndpoint | undefined;
  c = make('client', fromClient, (d) => queueMicrotaskFree(() => s?.receive(d, CLIENT)));
  s = make('server', fromServer, (d) => queueMicrotaskFree(() => c?.receive(d, SERVER)));
  s.start();
  c.start();
  drainQueue();
  const keysBefore = c.connected?.srtp.localTx.masterKey;
  const freshServer = (): DtlsEndpoint => {
    const e = make('server', [], () => undefined);
    e.start();
    return e;
  };
  const freshClient = (): DtlsEndpoint => {
    const e = make('client', [], () => undefined);
    e.start();
    return e;
  };
  let waitingServer = freshServer();
  let waitingClient = freshClient();

  let uncounted = 0;
  let thrown = 0;
  const t0 = performance.now();
  const mr = seededRandom(seed * 31 + 5);
  for (let i = 0; i < iterations; i++) {
    const toServer = i % 2 === 0;
    const pool = toServer ? fromClient : fromServer;
    const d = mutate(pool[mr.int(pool.length)]!, mr);
    const target = i % 4 < 2 ? (toServer ? s : c) : (toServer ? waitingServer : waitingClient);
    const before = counted(counters);
    try {
      target.receive(d, toServer ? CLIENT : SERVER);
    } catch {
      thrown++;
    }
    if (counted(counters) === before) uncounted++;
    if (waitingServer.state !== 'server-wait-hello') waitingServer = freshServer();
    if (waitingClient.state === 'failed' || waitingClient.state === 'closed') waitingClient = freshClient();
  }
  const ms = performance.now() - t0;
  const drops = Object.fromEntries(Object.entries(counters.snapshot()).filter(([k]) => k.startsWith(DTLS_DROP_PREFIX) || k.startsWith('dtls-failed-')));
  const intact = c.state === 'established' && s.state === 'established' && keysBefore !== undefined
    && Buffer.compare(Buffer.from(c.connected!.srtp.localTx.masterKey), Buffer.from(keysBefore)) === 0;
  return { datagrams: iterations, uncounted, thrown, sessionsIntact: intact, drops, ms };
}

// A tiny synchronous queue so the in-memory pair does not recurse.
const queue: (() => void)[] = [];
function queueMicrotaskFree(fn: () => void): void {
  queue.push(fn);
}
function drainQueue(): void {
  for (let n = 0; queue.length > 0 && n < 10000; n++) queue.shift()!();
  queue.length = 0;
}
