import type { SipUri } from '../message/index.js';

/**
 * Who the box is on the wire. Deciding whether a URI names the box compares
 * host AND port: a phone on this same machine (or behind the same address) at
 * another port is somebody else.
 */
export interface SelfAddresses {
  /** Lower-case host names and addresses (IPv6 without brackets). */
  readonly hosts: ReadonlySet<string>;
  readonly ports: { readonly udp: number; readonly tcp: number; readonly tls: number };
}

function bare(host: string): string {
  return host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
}

export function isSelfUri(uri: SipUri, self: SelfAddresses): boolean {
  if (uri.scheme === 'tel') return false;
  if (!self.hosts.has(bare(uri.host))) return false;
  const transport = uri.params.find((p) => p.name.toLowerCase() === 'transport')?.value?.toLowerCase();
  const secure = uri.scheme === 'sips' || transport === 'tls';
  // RFC 3263: without an explicit port, sip: means 5060 and sips: (or TLS) 5061.
  const port = uri.port ?? (secure ? 5061 : 5060);
  if (secure) return port === self.ports.tls;
  if (transport === 'tcp') return port === self.ports.tcp;
  if (transport === 'udp') return port === self.ports.udp;
  return port === self.ports.udp || port === self.ports.tcp;
}

/** Is this host (name or address, IPv6 with or without brackets) one of the box's? */
export function isSelfHost(host: string, self: SelfAddresses): boolean {
  return self.hosts.has(bare(host));
}
