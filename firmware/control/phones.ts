import type { DeviceCertIssued, DeviceCertView, PhoneAssigned, PhoneView, ProvisionFetch } from '../api/index.js';
import {
  PasswordModeSchema, PROVISION_REALM, TlsModeSchema, VendorSchema, digestHa1, setPassword, type ConfigStore, type Phone,
} from '../config/index.js';
import { PbxError, systemClock, type Clock, type Random } from '../core/index.js';
import type { ControlRequest } from './socket.js';

/**
 * The `phone.*` and device-certificate commands (issue 12), beside the others
 * in commands.ts, which hands them what it does not know itself. Phones are
 * config entries, so assign/reset/window work with the appliance stopped too;
 * what phones asked for and device certificates live in the running one.
 */

/** What a running appliance's provisioning service offers the commands. */
export interface ProvisioningControl {
  phones(): readonly PhoneView[];
  recentFetches(): readonly ProvisionFetch[];
  preview(mac: string): { file: string; body: string } | null;
  readonly dhcpOption: string;
  readonly httpsBase: string;
}

/** A running appliance's device certificates (pki DeviceCerts, with the account check). */
export interface DeviceCertControl {
  list(): readonly DeviceCertView[];
  issue(extension: string, passphrase?: string): Promise<DeviceCertIssued>;
  revoke(serial: string): Promise<DeviceCertView>;
}

export interface PhoneCommandContext {
  readonly store: ConfigStore;
  readonly random?: Random;
  readonly clock?: Clock;
  readonly provisioning?: ProvisioningControl;
  readonly devices?: DeviceCertControl;
  /** Makes a SIP password (commands.ts generatePassword). */
  readonly makePassword: () => string;
}

/** A window the admin opens lasts this long unless told otherwise, and at most the maximum. */
export const DEFAULT_WINDOW_MINUTES = 10;
export const MAX_WINDOW_MINUTES = 120;

export class PhoneCommandError extends PbxError {
  constructor(code: ConstructorParameters<typeof PbxError>[0], message: string, readonly field: string) {
    super(code, message);
  }
}

function macOf(v: unknown): string {
  if (typeof v !== 'string') throw new PhoneCommandError('config', 'mac is required', 'mac');
  const hex = v.trim().toLowerCase().replace(/[:.-]/g, '');
  if (!/^[0-9a-f]{12}$/.test(hex)) throw new PhoneCommandError('config', `${v} is not a MAC address (12 hex digits)`, 'mac');
  return hex;
}

function oneOf<T extends string>(v: unknown, name: string, options: readonly T[]): T | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || !(options as readonly string[]).includes(v)) {
    throw new PhoneCommandError('config', `${name} must be one of ${options.join(', ')}`, name);
  }
  return v as T;
}

function viewOf(ctx: PhoneCommandContext, mac: string): PhoneView {
  const live = ctx.provisioning?.phones().find((p) => p.mac === mac);
  if (live) return live;
  const p = ctx.store.data.phones.find((x) => x.mac === mac);
  if (!p) throw new PhoneCommandError('not-found', `no phone ${mac}`, 'mac');
  return offlineView(p);
}

function offlineView(p: Readonly<Phone>): PhoneView {
  return {
    mac: p.mac, extension: p.extension, vendor: p.vendor, passwordMode: p.passwordMode, passwordServed: p.passwordServed,
    hasFetchDigest: p.fetchHa1Md5 !== null, windowUntil: p.windowUntil, model: null, firmware: null, lastFetch: null, lastSource: null,
  };
}

function needs<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new PbxError('invalid-state', `the appliance is not running; ${what} needs it`);
  return v;
}

/** Runs a phone or device-certificate command; undefined when `req` is none of them. */
export async function phoneCommand(ctx: PhoneCommandContext, req: ControlRequest): Promise<unknown> {
  const a = req.args;
  const clock = ctx.clock ?? systemClock;
  switch (req.command) {
    case 'phone.assign': {
      const mac = macOf(a.mac);
      const extension = typeof a.extension === 'string' ? a.extension : '';
      const vendor = oneOf(a.vendor, 'vendor', VendorSchema.options);
      const mode = oneOf(a.passwordMode, 'passwordMode', PasswordModeSchema.options);
      const given = typeof a.sipPassword === 'string' && a.sipPassword !== '' ? a.sipPassword : undefined;
      const wantDigest = a.fetchDigest === true;
      let fetch: { user: string; password: string } | undefined;
      await ctx.store.update((d) => {
        if (!d.accounts.some((x) => x.extension === extension)) throw new PhoneCommandError('not-found', `extension ${extension} does not exist`, 'extension');
        const old = d.phones.find((p) => p.mac === mac);
        const passwordMode = mode ?? old?.passwordMode ?? 'once';
        // The box can only hand out a password it knows; it keeps HA1s only, so
        // a phone that is to receive one gets a fresh one (or the one given).
        let sipPassword = passwordMode === 'never' ? null : (given ?? (old?.extension === extension ? old.sipPassword : null));
        let next = d;
        if (passwordMode !== 'never' && (sipPassword === null || given !== undefined)) {
          sipPassword ??= ctx.makePassword();
          next = setPassword(d, extension, sipPassword);
        }
        if (wantDigest) fetch = { user: `prov-${mac}`, password: ctx.makePassword() + ctx.makePassword() };
        const entry: Phone = {
          mac, extension, vendor: vendor ?? old?.vendor ?? 'generic', passwordMode, sipPassword,
          passwordServed: old !== undefined && old.extension === extension && old.sipPassword === sipPassword ? old.passwordServed : false,
          fetchUser: fetch?.user ?? old?.fetchUser ?? null,
          fetchHa1Md5: fetch ? digestHa1('MD5', fetch.user, PROVISION_REALM, fetch.password) : old?.fetchHa1Md5 ?? null,
          fetchHa1Sha256: fetch ? digestHa1('SHA-256', fetch.user, PROVISION_REALM, fetch.password) : old?.fetchHa1Sha256 ?? null,
          windowUntil: old?.windowUntil ?? null,
          assignedAt: new Date(clock.now()).toISOString(),
        };
        next.phones = [...next.phones.filter((p) => p.mac !== mac), entry];
        return next;
      });
      const view = viewOf(ctx, mac);
      const done: PhoneAssigned = fetch ? { ...view, fetchUser: fetch.user, fetchPassword: fetch.password } : view;
      return done;
    }
    case 'phone.list':
      return ctx.provisioning?.phones() ?? ctx.store.data.phones.map(offlineView);
    case 'phone.reset-once': {
      const mac = macOf(a.mac);
      await ctx.store.update((d) => {
        const p = d.phones.find((x) => x.mac === mac);
        if (!p) throw new PhoneCommandError('not-found', `no phone ${mac}`, 'mac');
        p.passwordServed = false;
      });
      return viewOf(ctx, mac);
    }
    case 'phone.window': {
      const mac = macOf(a.mac);
      const minutes = a.minutes === undefined ? DEFAULT_WINDOW_MINUTES : a.minutes;
      if (typeof minutes !== 'number' || !Number.isInteger(minutes) || minutes < 0 || minutes > MAX_WINDOW_MINUTES) {
        throw new PhoneCommandError('config', `minutes must be a whole number from 0 to ${MAX_WINDOW_MINUTES}`, 'minutes');
      }
      await ctx.store.update((d) => {
        const p = d.phones.find((x) => x.mac === mac);
        if (!p) throw new PhoneCommandError('not-found', `no phone ${mac}`, 'mac');
        p.windowUntil = minutes === 0 ? null : new Date(clock.now() + minutes * 60_000).toISOString();
      });
      return viewOf(ctx, mac);
    }
    case 'phone.remove': {
      const mac = macOf(a.mac);
      await ctx.store.update((d) => {
        if (!d.phones.some((x) => x.mac === mac)) throw new PhoneCommandError('not-found', `no phone ${mac}`, 'mac');
        d.phones = d.phones.filter((x) => x.mac !== mac);
      });
      return { removed: mac };
    }
    case 'phone.preview': {
      const mac = macOf(a.mac);
      const r = needs(ctx.provisioning, 'the preview').preview(mac);
      if (!r) throw new PhoneCommandError('not-found', `no file for phone ${mac}`, 'mac');
      return r;
    }
    case 'phone.fetches': {
      const p = ctx.provisioning;
      return { dhcpOption: p?.dhcpOption ?? null, httpsBase: p?.httpsBase ?? null, fetches: p ? [...p.recentFetches()].reverse() : [] };
    }
    case 'account.tls-mode': {
      const extension = typeof a.extension === 'string' ? a.extension : '';
      const tlsMode = oneOf(a.tlsMode, 'tlsMode', TlsModeSchema.options);
      if (tlsMode === undefined) throw new PhoneCommandError('config', 'tlsMode is required', 'tlsMode');
      await ctx.store.update((d) => {
        const acct = d.accounts.find((x) => x.extension === extension);
        if (!acct) throw new PhoneCommandError('not-found', `extension ${extension} does not exist`, 'extension');
        acct.tlsMode = tlsMode;
      });
      return { extension, tlsMode };
    }
    case 'cert.devices':
      return ctx.devices?.list() ?? [];
    case 'cert.issue-device': {
      const extension = typeof a.extension === 'string' ? a.extension : '';
      if (!ctx.store.data.accounts.some((x) => x.extension === extension)) throw new PhoneCommandError('not-found', `extension ${extension} does not exist`, 'extension');
      const passphrase = typeof a.passphrase === 'string' ? a.passphrase : undefined;
      return needs(ctx.devices, 'issuing a device certificate').issue(extension, passphrase);
    }
    case 'cert.revoke-device': {
      if (typeof a.serial !== 'string' || !/^[0-9A-Fa-f:]{1,64}$/.test(a.serial)) throw new PhoneCommandError('config', 'serial must be hex', 'serial');
      return needs(ctx.devices, 'revoking a device certificate').revoke(a.serial);
    }
    default:
      return undefined;
  }
}

/** Commands that only look (the CLI runs them read-only offline). */
export const PHONE_READ_ONLY = ['phone.list', 'phone.fetches', 'cert.devices'] as const;
/** Commands only a running appliance can carry out. */
export const PHONE_NEEDS_RUNNING = ['phone.preview', 'cert.issue-device', 'cert.revoke-device'] as const;
