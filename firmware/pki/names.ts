import os from 'node:os';
import type { SanEntry } from '../api/index.js';
import { canonicalIp, ipToBytes } from './ip.js';

/** One subjectAltName entry (RFC 5280 4.2.1.6), decoded to text: the API's shape. */
export type { SanEntry } from '../api/index.js';

/** Who the box is on the network right now: what a server certificate must name. */
export interface HostIdentity {
  readonly hostname: string;
  /** Every local address, IPv4 and IPv6, as text. */
  readonly addresses: readonly string[];
}

/** The subset of os.networkInterfaces() we read. */
export type InterfaceTable = Readonly<Record<string, readonly { readonly address: string }[] | undefined>>;

/** Addresses every server certificate names whatever the interfaces say. */
const LOOPBACK_NAMES = ['localhost'] as const;
const LOOPBACK_ADDRESSES = ['127.0.0.1', '::1'] as const;
/** RFC 1035 2.3.4: a DNS name is at most 253 characters as text. */
const MAX_DNS_NAME = 253;

export function hostIdentityFrom(hostname: string, interfaces: InterfaceTable): HostIdentity {
  const addresses: string[] = [];
  for (const name of Object.keys(interfaces).sort()) {
    for (const info of interfaces[name] ?? []) {
      const ip = canonicalIp(info.address);
      if (ip && !addresses.includes(ip)) addresses.push(ip);
    }
  }
  return { hostname: hostname.trim().toLowerCase(), addresses };
}

/** The box's identity from the operating system. */
export function systemIdentity(): HostIdentity {
  return hostIdentityFrom(os.hostname(), os.networkInterfaces());
}

/**
 * The names a server certificate must carry: hostname, hostname.local (mDNS),
 * localhost, and each address both as an iPAddress and, as text, as a dNSName.
 * The second form is for clients (linphone) that compare a dialled address
 * against dNSName entries only; RFC 6125 6.2.1 clients use the iPAddress.
 */
export function serverAltNames(id: HostIdentity): SanEntry[] {
  const dns: string[] = [];
  const addDns = (n: string): void => {
    const v = n.toLowerCase();
    // dNSName is an IA5String: printable ASCII only.
    if (v && v.length <= MAX_DNS_NAME && /^[\x21-\x7e]+$/.test(v) && !dns.includes(v)) dns.push(v);
  };
  const ips: string[] = [];
  for (const a of [...LOOPBACK_ADDRESSES, ...id.addresses]) {
    const ip = canonicalIp(a);
    if (ip && !ips.includes(ip)) ips.push(ip);
  }

  const host = id.hostname.toLowerCase();
  if (host && canonicalIp(host) === null) {
    addDns(host);
    // mDNS (RFC 6762) answers for the first label under .local.
    const label = host.split('.')[0];
    if (label) addDns(`${label}.local`);
  }
  LOOPBACK_NAMES.forEach(addDns);
  for (const ip of ips) addDns(ip);

  return [...dns.map((value) => ({ type: 'dns' as const, value })), ...ips.map((value) => ({ type: 'ip' as const, value }))];
}

function sanKey(s: SanEntry): string {
  if (s.type === 'ip') {
    const b = ipToBytes(s.value);
    return b ? `ip:${b.toString('hex')}` : `ip?:${s.value}`;
  }
  // RFC 5280 7.2: DNS names compare case-insensitively.
  return `${s.type}:${s.type === 'dns' ? s.value.toLowerCase() : s.value}`;
}

/** Entries of `wanted` the certificate's `have` list lacks. */
export function missingNames(have: readonly SanEntry[], wanted: readonly SanEntry[]): SanEntry[] {
  const present = new Set(have.map(sanKey));
  return wanted.filter((w) => !present.has(sanKey(w)));
}
