import { hostname } from 'node:os';
import type { SystemSettings, SystemSettingsSaved } from '../api/index.js';
import { SipSchema, NetworkSchema, ProvisioningSchema, type ConfigStore } from '../config/index.js';
import { CommandError } from './commands.js';

/**
 * `system.get` and `system.set` (the page's System settings, issue 16): the
 * box-wide settings the box really uses, each with when a change applies.
 * The SIP domain is the digest realm: it applies at once, but every SIP
 * password is hashed with it, so changing it needs `realmConfirm` and then
 * every password must be set again. Ports and the RTP range are read when
 * the services start: a change needs a restart. Time zone and NTP server go
 * to the phones in their provisioning files, from their next fetch. The host
 * name is the operating system's (the image sets it): shown, not changed.
 */

const PORT_KEYS = ['sipPort', 'tlsPort', 'webPort', 'httpPort'] as const;
type PortKey = (typeof PORT_KEYS)[number];
const PORT_NAMES: Record<PortKey, string> = { sipPort: 'SIP port (UDP and TCP)', tlsPort: 'SIP TLS port', webPort: 'HTTPS port of this page', httpPort: 'HTTP port (provisioning)' };

export function systemSettings(store: ConfigStore): SystemSettings {
  const c = store.data;
  return {
    hostname: hostname(), realm: c.sip.realm, timeZone: c.provisioning.timeZone, ntpServer: c.provisioning.ntpServer,
    sipPort: c.network.sipPort, tlsPort: c.network.tlsPort, webPort: c.network.webPort, httpPort: c.network.httpPort,
    rtpMin: c.network.rtpPorts.min, rtpMax: c.network.rtpPorts.max,
  };
}

function portArg(a: Readonly<Record<string, unknown>>, key: string, name: string): number | undefined {
  const v = a[key];
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) throw new CommandError('config', `${name} must be a whole number from 1 to 65535`, key);
  return n;
}

function validTimeZone(tz: string): boolean {
  try { new Intl.DateTimeFormat('en', { timeZone: tz }); return true; } catch { return false; }
}

export async function systemCommand(store: ConfigStore, command: string, a: Readonly<Record<string, unknown>>): Promise<SystemSettings | SystemSettingsSaved> {
  if (command === 'system.get') return systemSettings(store);
  const before = systemSettings(store);
  const text = (key: string): string | undefined => {
    const v = a[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new CommandError('config', `${key} must be text`, key);
    return v.trim();
  };
  const realm = text('realm');
  const timeZone = text('timeZone');
  const ntpServer = text('ntpServer');
  if (realm !== undefined && !SipSchema.shape.realm.safeParse(realm).success) {
    throw new CommandError('config', 'the SIP domain must be 1-128 letters, digits, "." or "-" (a name like pbx.example.com)', 'realm');
  }
  if (realm !== undefined && realm !== before.realm && a.realmConfirm !== true) {
    throw new CommandError('conflict', 'changing the SIP domain makes every SIP password invalid (they are stored hashed with it): confirm it, then set each extension\'s password again', 'realm');
  }
  if (timeZone !== undefined && (!ProvisioningSchema.shape.timeZone.safeParse(timeZone).success || timeZone === '' || !validTimeZone(timeZone))) {
    throw new CommandError('config', `${timeZone || 'an empty name'} is not a time zone: use a name like Europe/London or UTC`, 'timeZone');
  }
  if (ntpServer !== undefined && (ntpServer === '' || !ProvisioningSchema.shape.ntpServer.safeParse(ntpServer).success)) {
    throw new CommandError('config', 'the NTP server must be a host name or an address, like pool.ntp.org', 'ntpServer');
  }
  const ports: Partial<Record<PortKey, number>> = {};
  for (const k of PORT_KEYS) { const p = portArg(a, k, PORT_NAMES[k]); if (p !== undefined) ports[k] = p; }
  const rtpMin = portArg(a, 'rtpMin', 'the lowest RTP port') ?? before.rtpMin;
  const rtpMax = portArg(a, 'rtpMax', 'the highest RTP port') ?? before.rtpMax;
  if (rtpMax - rtpMin < 100) throw new CommandError('config', `the RTP range ${rtpMin}-${rtpMax} is too small: give at least 100 ports (each call uses 2 to 4)`, 'rtpMax');
  const after = { ...before, ...ports };
  const used = new Map<number, string>();
  for (const k of PORT_KEYS) {
    const p = after[k];
    const other = used.get(p);
    if (other) throw new CommandError('config', `${PORT_NAMES[k]} and ${other} cannot both be ${p}`, k);
    used.set(p, PORT_NAMES[k]);
    if (p >= rtpMin && p <= rtpMax) throw new CommandError('config', `${PORT_NAMES[k]} ${p} lies inside the RTP range ${rtpMin}-${rtpMax}`, k);
  }
  await store.update((d) => {
    if (realm !== undefined) d.sip.realm = realm;
    if (timeZone !== undefined) d.provisioning.timeZone = timeZone;
    if (ntpServer !== undefined) d.provisioning.ntpServer = ntpServer;
    for (const k of PORT_KEYS) if (ports[k] !== undefined) d.network[k] = ports[k];
    d.network.rtpPorts = NetworkSchema.shape.rtpPorts.parse({ min: rtpMin, max: rtpMax });
  });
  const now = systemSettings(store);
  const restartNeeded = [...PORT_KEYS.filter((k) => now[k] !== before[k]).map((k) => PORT_NAMES[k]),
    ...(now.rtpMin !== before.rtpMin || now.rtpMax !== before.rtpMax ? ['RTP range'] : [])];
  return { settings: now, restartNeeded, passwordsInvalid: now.realm !== before.realm };
}
