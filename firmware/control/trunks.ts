import type { DidView, RouteView, TollAlarmView, TrunkView } from '../api/index.js';
import { DidSchema, OutboundRouteSchema, TrunkSchema, type ConfigStore } from '../config/index.js';
import { PbxError } from '../core/index.js';
import { trunkView } from '../pbx/index.js';

/**
 * The trunk, route and DID commands behind `pbx trunk ...`, `pbx route add`
 * and `pbx did add` (and the web page). Checked against the config schema;
 * a route naming a trunk that does not exist, a trunk still used by a route
 * or DID, or a policy that does not exist are refused with the field named.
 */

export const TRUNK_COMMANDS = ['trunk.add', 'trunk.list', 'trunk.remove', 'route.add', 'route.list', 'route.remove', 'did.add', 'did.list', 'did.remove', 'alarm.list', 'alarm.clear'] as const;
export const TRUNK_READ_ONLY = ['trunk.list', 'route.list', 'did.list', 'alarm.list'] as const;

export interface TrunkCommandContext {
  readonly store: ConfigStore;
  /** A running appliance's trunks with their live state. */
  readonly trunks?: () => readonly TrunkView[];
  /** A running appliance's toll-fraud alarms (pbx/trunks/surge.ts); they live in its memory only. */
  readonly alarms?: {
    list(): readonly TollAlarmView[];
    clear(extension: string): boolean;
  };
}

class FieldError extends PbxError {
  constructor(code: PbxError['code'], message: string, readonly field?: string) {
    super(code, message);
  }
}

function text(a: Readonly<Record<string, unknown>>, name: string, required: boolean): string | undefined {
  const v = a[name];
  if (v === undefined || v === null) {
    if (required) throw new FieldError('config', `${name} is required`, name);
    return undefined;
  }
  if (typeof v !== 'string') throw new FieldError('config', `${name} must be text`, name);
  return v;
}

function issue(e: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): FieldError {
  const i = e.issues[0];
  const field = typeof i?.path[0] === 'string' ? i.path[0] : undefined;
  return new FieldError('config', `${field ?? 'value'}: ${i?.message ?? 'invalid'}`, field);
}

/** HOST[:PORT], [v6]:PORT, or a bare name or address. */
export function splitHostPort(v: string): { host: string; port: number | null } {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(v.trim());
  if (!m) throw new FieldError('config', `host must be HOST or HOST:PORT`, 'host');
  const port = m[2] !== undefined ? Number(m[2]) : null;
  if (port !== null && (port < 1 || port > 65535)) throw new FieldError('config', 'port must be 1-65535', 'host');
  return { host: m[1]!, port };
}

/** Run a trunk command; undefined when `command` is not one. */
export async function trunkCommand(ctx: TrunkCommandContext, command: string, a: Readonly<Record<string, unknown>>): Promise<unknown> {
  const { store } = ctx;
  switch (command) {
    case 'trunk.add': {
      const { host, port } = splitHostPort(text(a, 'host', true)!);
      const allow = text(a, 'allow', false)?.split(',').map((x) => x.trim()).filter((x) => x !== '') ?? [];
      const media = text(a, 'media', false)?.split(',').map((x) => x.trim()).filter((x) => x !== '');
      const r = TrunkSchema.safeParse({
        name: text(a, 'name', true), host, port, transport: text(a, 'transport', false) ?? 'udp',
        username: text(a, 'username', false) ?? null, password: text(a, 'password', false) ?? null,
        register: a.register === true, policy: text(a, 'policy', false), ca: text(a, 'ca', false) ?? null, allow,
        ...(media ? { media: { supported: media } } : {}),
        ...(a.sipsExempt === false ? { sipsExempt: false } : {}),
        ...(typeof a.maxCalls === 'number' ? { maxCalls: a.maxCalls } : {}),
        callerId: text(a, 'callerId', false) ?? null,
      });
      if (!r.success) throw issue(r.error);
      const t = r.data;
      if (t.register && (!t.username || !t.password)) throw new FieldError('config', 'a registering trunk needs --username and --password', 'register');
      if (t.ca !== null && !/-----BEGIN CERTIFICATE-----/.test(t.ca)) throw new FieldError('config', 'the CA file holds no PEM certificate', 'ca');
      await store.update((d) => {
        if (d.trunking.trunks.some((x) => x.name === t.name)) throw new FieldError('conflict', `trunk ${t.name} exists`, 'name');
        if (!d.policies.some((p) => p.name === t.policy)) throw new FieldError('config', `unknown policy ${t.policy}`, 'policy');
        d.trunking.trunks.push(t);
      });
      return trunkView(t);
    }
    case 'trunk.list': {
      const live = ctx.trunks?.();
      return live ?? store.data.trunking.trunks.map((t) => trunkView(t));
    }
    case 'trunk.remove': {
      const name = text(a, 'name', true)!;
      await store.update((d) => {
        if (!d.trunking.trunks.some((x) => x.name === name)) throw new FieldError('not-found', `trunk ${name} does not exist`, 'name');
        const routes = d.trunking.routes.filter((r) => r.trunks.includes(name)).map((r) => r.prefix);
        const dids = d.trunking.dids.filter((x) => x.trunk === name).map((x) => x.number);
        if (routes.length + dids.length > 0) {
          throw new FieldError('conflict', `trunk ${name} is used by ${[...routes.map((p) => `route ${p || '(any)'}`), ...dids.map((n) => `DID ${n}`)].slice(0, 5).join(', ')}`, 'name');
        }
        d.trunking.trunks = d.trunking.trunks.filter((x) => x.name !== name);
      });
      return { removed: name };
    }
    case 'route.add': {
      const trunks = text(a, 'trunk', true)!.split(',').map((x) => x.trim()).filter((x) => x !== '');
      const r = OutboundRouteSchema.safeParse({
        prefix: text(a, 'pattern', true), trunks,
        ...(a.strip !== undefined ? { strip: typeof a.strip === 'string' ? Number(a.strip) : a.strip } : {}),
        ...(a.prepend !== undefined ? { prepend: a.prepend } : {}),
        international: a.international === true, premium: a.premium === true,
        callerId: text(a, 'callerId', false) ?? null,
      });
      if (!r.success) throw issue(r.error);
      const route = r.data;
      await store.update((d) => {
        for (const t of route.trunks) if (!d.trunking.trunks.some((x) => x.name === t)) throw new FieldError('not-found', `trunk ${t} does not exist`, 'trunk');
        if (d.trunking.routes.some((x) => x.prefix === route.prefix)) throw new FieldError('conflict', `a route for ${route.prefix} exists`, 'pattern');
        d.trunking.routes.push(route);
      });
      return routeView(route);
    }
    case 'route.list':
      return store.data.trunking.routes.map(routeView);
    case 'route.remove': {
      const prefix = text(a, 'pattern', true)!;
      await store.update((d) => {
        if (!d.trunking.routes.some((x) => x.prefix === prefix)) throw new FieldError('not-found', `no route for ${prefix}`, 'pattern');
        d.trunking.routes = d.trunking.routes.filter((x) => x.prefix !== prefix);
      });
      return { removed: prefix };
    }
    case 'did.add': {
      const r = DidSchema.safeParse({ number: text(a, 'number', true), to: text(a, 'to', true), trunk: text(a, 'trunk', true) });
      if (!r.success) throw issue(r.error);
      const did = r.data;
      await store.update((d) => {
        if (!d.trunking.trunks.some((x) => x.name === did.trunk)) throw new FieldError('not-found', `trunk ${did.trunk} does not exist`, 'trunk');
        if (!d.accounts.some((x) => x.extension === did.to)) throw new FieldError('not-found', `extension ${did.to} does not exist`, 'to');
        if (d.trunking.dids.some((x) => x.number === did.number && x.trunk === did.trunk)) throw new FieldError('conflict', `DID ${did.number} exists on ${did.trunk}`, 'number');
        d.trunking.dids.push(did);
      });
      return { ...did } satisfies DidView;
    }
    case 'did.list':
      return store.data.trunking.dids.map((x): DidView => ({ number: x.number, to: x.to, trunk: x.trunk }));
    case 'did.remove': {
      const number = text(a, 'number', true)!;
      await store.update((d) => {
        if (!d.trunking.dids.some((x) => x.number === number)) throw new FieldError('not-found', `no DID ${number}`, 'number');
        d.trunking.dids = d.trunking.dids.filter((x) => x.number !== number);
      });
      return { removed: number };
    }
    case 'alarm.list':
      // No appliance, no alarms: they are kept in the running one's memory only.
      return [...(ctx.alarms?.list() ?? [])];
    case 'alarm.clear': {
      const extension = text(a, 'extension', true)!;
      if (!ctx.alarms) throw new PbxError('invalid-state', 'the appliance is not running; alarms live only in its memory');
      if (!ctx.alarms.clear(extension)) throw new FieldError('not-found', `no toll-fraud alarm for ${extension}`, 'extension');
      return { cleared: extension };
    }
    default:
      return undefined;
  }
}

function routeView(r: { prefix: string; trunks: readonly string[]; strip: number; prepend: string; international: boolean; premium: boolean }): RouteView {
  return { prefix: r.prefix, trunks: [...r.trunks], strip: r.strip, prepend: r.prepend, international: r.international, premium: r.premium };
}
