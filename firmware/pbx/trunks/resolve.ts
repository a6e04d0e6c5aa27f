import { isIP } from 'node:net';
import type { Random } from '../../core/index.js';
import type { Target } from '../../sip/transaction/index.js';

/**
 * Locating a provider's SIP servers (RFC 3263 4): NAPTR for the domain
 * (which transports, which SRV names), SRV for each (which hosts and ports,
 * by priority, weighted within one), then A/AAAA. The result is the ordered
 * list of targets to try: the first for every request, the next when one
 * times out or its connection fails. The resolver is injected, so tests
 * give it records and no DNS is asked.
 */

export type TrunkTransport = 'udp' | 'tcp' | 'tls';

export interface NaptrRecord {
  readonly order: number;
  readonly preference: number;
  readonly flags: string;
  readonly service: string;
  readonly replacement: string;
}

export interface SrvRecord {
  readonly priority: number;
  readonly weight: number;
  readonly port: number;
  readonly name: string;
}

/** The DNS questions resolution asks. A name with no records gives []; a failure may throw (treated as no records). */
export interface DnsResolver {
  naptr(name: string): Promise<readonly NaptrRecord[]>;
  srv(name: string): Promise<readonly SrvRecord[]>;
  /** A and AAAA addresses of a host name. */
  addresses(name: string): Promise<readonly string[]>;
}

/** NAPTR service field per transport (RFC 3263 4.1, RFC 3261 registrations). */
const NAPTR_SERVICE: Record<TrunkTransport, string> = { udp: 'SIP+D2U', tcp: 'SIP+D2T', tls: 'SIPS+D2T' };
const SRV_PREFIX: Record<TrunkTransport, string> = { udp: '_sip._udp.', tcp: '_sip._tcp.', tls: '_sips._tcp.' };
export const DEFAULT_PORT: Record<TrunkTransport, number> = { udp: 5060, tcp: 5060, tls: 5061 };
/** At most this many targets come out of one resolution (a provider's zone cannot make the box try hundreds). */
export const MAX_TARGETS = 16;

export interface TrunkAddress {
  readonly host: string;
  /** An explicit port: no NAPTR or SRV then, only the host's addresses (RFC 3263 4.2). */
  readonly port?: number;
  readonly transport: TrunkTransport;
}

/** A target and the name it came from (for TLS, the name the provider's certificate must carry: RFC 5922 4). */
export interface ResolvedTarget extends Target {
  readonly transport: TrunkTransport;
  readonly serverName: string;
}

async function quiet<T>(p: Promise<readonly T[]>): Promise<readonly T[]> {
  try { return await p; } catch { return []; }
}

/**
 * RFC 2782's order within one priority: a running sum of weights, a random
 * number up to it, the first record whose sum reaches it goes next.
 */
export function orderSrv(records: readonly SrvRecord[], random: Random): SrvRecord[] {
  const byPriority = new Map<number, SrvRecord[]>();
  for (const r of records) {
    // "." as the target means the service is decidedly not offered (RFC 2782).
    if (r.name === '.' || r.name === '') continue;
    const list = byPriority.get(r.priority) ?? [];
    list.push(r);
    byPriority.set(r.priority, list);
  }
  const out: SrvRecord[] = [];
  for (const p of [...byPriority.keys()].sort((a, b) => a - b)) {
    // Zero weights first, so they have a small chance of being picked early (RFC 2782).
    const left = byPriority.get(p)!.sort((a, b) => a.weight - b.weight);
    while (left.length > 0) {
      const total = left.reduce((s, r) => s + r.weight, 0);
      const pick = total === 0 ? 0 : random.int(total + 1);
      let sum = 0;
      let i = left.findIndex((r) => (sum += r.weight) >= pick);
      if (i < 0) i = left.length - 1;
      out.push(left.splice(i, 1)[0]!);
    }
  }
  return out;
}

/** Resolve a trunk's address to the ordered targets to try. */
export async function resolveTrunk(addr: TrunkAddress, dns: DnsResolver, random: Random): Promise<ResolvedTarget[]> {
  const { host, transport } = addr;
  const bare = host.replace(/^\[|\]$/g, '');
  const out: ResolvedTarget[] = [];
  const push = (address: string, port: number, serverName: string): void => {
    if (out.length >= MAX_TARGETS) return;
    if (out.some((t) => t.address === address && t.port === port)) return;
    out.push({ transport, address, port, serverName });
  };
  // A numeric address, or a name with an explicit port: only the address itself (4.2).
  if (isIP(bare) !== 0) { push(bare, addr.port ?? DEFAULT_PORT[transport], bare); return out; }
  if (addr.port !== undefined) {
    for (const a of await quiet(dns.addresses(bare))) push(a, addr.port, bare);
    return out;
  }
  // NAPTR, kept to the trunk's configured transport (the admin chose it: the box does not downgrade).
  const naptr = (await quiet(dns.naptr(bare)))
    .filter((n) => n.flags.toLowerCase() === 's' && n.service.toUpperCase() === NAPTR_SERVICE[transport])
    .sort((a, b) => a.order - b.order || a.preference - b.preference);
  const srvNames = naptr.length > 0 ? naptr.map((n) => n.replacement) : [SRV_PREFIX[transport] + bare];
  for (const name of srvNames) {
    for (const s of orderSrv(await quiet(dns.srv(name)), random)) {
      for (const a of await quiet(dns.addresses(s.name))) push(a, s.port, bare);
    }
  }
  if (out.length > 0) return out;
  // No SRV: the host's own addresses on the transport's default port (4.2).
  for (const a of await quiet(dns.addresses(bare))) push(a, DEFAULT_PORT[transport], bare);
  return out;
}

/** The system's DNS behind the DnsResolver seam (node:dns/promises). */
export async function systemResolver(): Promise<DnsResolver> {
  const dns = await import('node:dns/promises');
  return {
    naptr: async (n) => (await dns.resolveNaptr(n)).map((r) => ({ order: r.order, preference: r.preference, flags: r.flags, service: r.service, replacement: r.replacement })),
    srv: async (n) => (await dns.resolveSrv(n)).map((r) => ({ priority: r.priority, weight: r.weight, port: r.port, name: r.name })),
    addresses: async (n) => (await dns.lookup(n, { all: true })).map((r) => r.address),
  };
}
