/**
 * Provisioning file names, each vendor's own (what its phones ask for), and
 * the MAC address in them. Pure: a name in, what it asks for out.
 *
 *   Yealink      <mac>.cfg            (lower-case MAC; y000000000000.cfg is the common file)
 *   Polycom      <mac>.cfg            master config (sip.ld style) naming phone<mac>.cfg
 *                000000000000.cfg     the master every Polycom falls back to
 *                phone<mac>.cfg       the per-phone settings
 *   snom         snom<model>-<MAC>.htm (upper-case MAC; XML despite the suffix)
 *   Grandstream  cfg<mac>.xml         (gs_provision P-values)
 *   generic      baresip-<mac>.conf, linphone-<mac>.rc (a softphone's account and settings)
 *
 * Yealink and Polycom share `<mac>.cfg`: the phone's entry (or, for a phone
 * not yet assigned, its User-Agent) says which one is meant.
 */

export type VendorName = 'yealink' | 'polycom' | 'snom' | 'grandstream' | 'generic';
export const VENDORS: readonly VendorName[] = ['yealink', 'polycom', 'snom', 'grandstream', 'generic'];

export type FileKind =
  | { readonly kind: 'ca' }
  | { readonly kind: 'mac-cfg'; readonly mac: string }
  | { readonly kind: 'polycom-master' }
  | { readonly kind: 'polycom-phone'; readonly mac: string }
  | { readonly kind: 'snom'; readonly mac: string; readonly model: string }
  | { readonly kind: 'grandstream'; readonly mac: string }
  | { readonly kind: 'baresip'; readonly mac: string }
  | { readonly kind: 'linphone'; readonly mac: string };

/** Longest file name we look at; anything longer is not one of ours. */
export const MAX_FILE_NAME = 64;
export const CA_FILE = 'ca.crt';

/** "00:15:65:AA:BB:CC", "00-15-65-aa-bb-cc", "001565aabbcc" -> "001565aabbcc"; null if not a MAC. */
export function normalizeMac(text: string): string | null {
  const hex = text.trim().toLowerCase().replace(/[:.-]/g, '');
  return /^[0-9a-f]{12}$/.test(hex) ? hex : null;
}

/** What a requested name (the part after /provision/) asks for, or null for a name we do not serve. */
export function parseFileName(name: string): FileKind | null {
  if (name.length === 0 || name.length > MAX_FILE_NAME) return null;
  if (name === CA_FILE) return { kind: 'ca' };
  if (name === '000000000000.cfg') return { kind: 'polycom-master' };
  let m = /^([0-9a-f]{12})\.cfg$/i.exec(name);
  if (m) return { kind: 'mac-cfg', mac: m[1]!.toLowerCase() };
  m = /^phone([0-9a-f]{12})\.cfg$/i.exec(name);
  if (m) return { kind: 'polycom-phone', mac: m[1]!.toLowerCase() };
  m = /^snom([0-9a-z]{1,8})-([0-9a-f]{12})\.htm$/i.exec(name);
  if (m) return { kind: 'snom', model: m[1]!.toLowerCase(), mac: m[2]!.toLowerCase() };
  m = /^cfg([0-9a-f]{12})\.xml$/i.exec(name);
  if (m) return { kind: 'grandstream', mac: m[1]!.toLowerCase() };
  m = /^baresip-([0-9a-f]{12})\.conf$/i.exec(name);
  if (m) return { kind: 'baresip', mac: m[1]!.toLowerCase() };
  m = /^linphone-([0-9a-f]{12})\.rc$/i.exec(name);
  if (m) return { kind: 'linphone', mac: m[1]!.toLowerCase() };
  return null;
}

/** The vendor a file kind belongs to; null when the name alone does not say (`<mac>.cfg`). */
export function vendorOfKind(k: FileKind): VendorName | null {
  switch (k.kind) {
    case 'polycom-master': case 'polycom-phone': return 'polycom';
    case 'snom': return 'snom';
    case 'grandstream': return 'grandstream';
    case 'baresip': case 'linphone': return 'generic';
    default: return null;
  }
}

/** The main file a phone of this vendor fetches, for the page and the tests. */
export function mainFileName(vendor: VendorName, mac: string): string {
  switch (vendor) {
    case 'yealink': return `${mac}.cfg`;
    case 'polycom': return `phone${mac}.cfg`;
    case 'snom': return `snomd785-${mac.toUpperCase()}.htm`;
    case 'grandstream': return `cfg${mac}.xml`;
    case 'generic': return `baresip-${mac}.conf`;
  }
}

export interface UserAgentFacts {
  readonly vendor: VendorName | null;
  readonly model: string | null;
  readonly firmware: string | null;
  readonly mac: string | null;
}

/**
 * Vendor, model and firmware from a provisioning request's User-Agent, as
 * these phones write it, e.g. "Yealink SIP-T46S 66.86.0.15 00:15:65:aa:bb:cc",
 * "FileTransport PolycomVVX-VVX_450-UA/6.4.0.1", "Mozilla/4.0 (compatible; snomD785 10.1.33.33)",
 * "Grandstream Model HW GRP2614 SW 1.0.5.33 DevId 000b82aabbcc". Bounded and
 * tolerant: anything else gives nulls.
 */
export function parseUserAgent(ua: string | undefined): UserAgentFacts {
  const s = (ua ?? '').slice(0, 256);
  const mac = (() => {
    const m = /\b([0-9a-f]{2}(?::[0-9a-f]{2}){5}|[0-9a-f]{12})\b/i.exec(s);
    return m ? normalizeMac(m[1]!) : null;
  })();
  let m = /Yealink\s+(?:SIP-)?([A-Za-z0-9-]+)\s+([0-9.]+)/i.exec(s);
  if (m) return { vendor: 'yealink', model: m[1]!, firmware: m[2]!, mac };
  m = /Polycom([A-Za-z]+)-([A-Za-z0-9_]+)-UA\/([0-9.]+)/i.exec(s);
  if (m) return { vendor: 'polycom', model: m[2]!, firmware: m[3]!, mac };
  m = /snom([A-Za-z0-9]+)[-/ ]([0-9.]+)/i.exec(s);
  if (m) return { vendor: 'snom', model: m[1]!, firmware: m[2]!, mac };
  m = /Grandstream\s+Model\s+HW\s+([A-Za-z0-9]+)\s+SW\s+([0-9.]+)/i.exec(s);
  if (m) return { vendor: 'grandstream', model: m[1]!, firmware: m[2]!, mac };
  m = /^(baresip|linphone[a-z]*)[ /]v?([0-9.]+)/i.exec(s);
  if (m) return { vendor: 'generic', model: m[1]!, firmware: m[2]!, mac };
  return { vendor: null, model: null, firmware: null, mac };
}
