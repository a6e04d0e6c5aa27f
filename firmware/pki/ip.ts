import { isIPv4, isIPv6 } from 'node:net';

/**
 * IP addresses as the iPAddress GeneralName carries them: 4 octets for IPv4,
 * 16 for IPv6, network byte order (RFC 5280 4.2.1.6). Our own parser, because a
 * SAN must hold exactly the bytes a client compares against, including the
 * IPv4-embedded IPv6 forms (::ffff:a.b.c.d) that node-forge does not read.
 */
export function ipToBytes(text: string): Buffer | null {
  // A zone index (fe80::1%eth0) only scopes the address locally; it is not
  // part of the address a certificate can name.
  const addr = text.includes('%') ? text.slice(0, text.indexOf('%')) : text;
  if (isIPv4(addr)) return Buffer.from(addr.split('.').map(Number));
  if (!isIPv6(addr)) return null;

  let head = addr;
  let tail4: Buffer | null = null;
  const lastColon = addr.lastIndexOf(':');
  if (addr.slice(lastColon + 1).includes('.')) {
    tail4 = Buffer.from(addr.slice(lastColon + 1).split('.').map(Number));
    head = addr.slice(0, lastColon + 1) + '0:0';
  }
  const halves = head.split('::');
  const left = halves[0] ? halves[0].split(':') : [];
  const right = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - left.length - right.length;
  const groups = [...left, ...new Array<string>(halves.length > 1 ? missing : 0).fill('0'), ...right];
  if (groups.length !== 8) return null;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  if (tail4) tail4.copy(out, 12);
  return out;
}

/** Text form of a 4- or 16-byte address; IPv6 in the RFC 5952 canonical form. */
export function ipFromBytes(b: Uint8Array): string | null {
  if (b.length === 4) return Array.from(b).join('.');
  if (b.length !== 16) return null;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  // RFC 5952 4.2: compress the longest run of two or more zero groups, the
  // first one if two runs tie; 4.3: lower case, no leading zeros.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** The canonical text of an address, or null when it is not one. */
export function canonicalIp(text: string): string | null {
  const b = ipToBytes(text);
  return b ? ipFromBytes(b) : null;
}
