import { parseArgs } from 'node:util';
import type { ControlRequest } from '../control/index.js';
import type { DidView, RouteView, TollAlarmView, TrunkView } from '../api/index.js';

/**
 * `pbx trunk add|list|remove`, `pbx route add|list|remove`, `pbx did
 * add|list|remove` (control/trunks.ts carries them out). Kept apart from
 * pbx.ts, which dispatches `trunk`, `route` and `did` here.
 */

export const TRUNK_USAGE = `  pbx trunk add NAME --host HOST[:PORT] --transport udp|tcp|tls [--username U --password P] [--register]
                     [--policy NAME] [--ca FILE] [--allow ADDR,...] [--media rtp,sdes] [--max-calls N] [--caller-id NUM]
  pbx trunk list [--json]
  pbx trunk remove NAME
  pbx route add PATTERN --trunk NAME[,NAME2] [--strip N] [--prepend DIGITS] [--international] [--premium]
  pbx route list [--json] | remove PATTERN
  pbx did add NUMBER --to EXT --trunk NAME
  pbx did list [--json] | remove NUMBER
  pbx alarm list [--json]            toll-fraud alarms: accounts whose outbound calls jumped
  pbx alarm clear EXT                 the admin has looked: the alarm and the error LED go`;

export class TrunkUsageError extends Error {}

export interface TrunkIo {
  readonly command: (dataDir: string, req: ControlRequest) => Promise<unknown>;
  readonly write: (text: string) => void;
  /** Reads the --ca file (pbx.ts's size-limited reader). */
  readonly readFile: (path: string) => string;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

export function formatTrunks(list: readonly TrunkView[]): string {
  if (list.length === 0) return 'no trunks\n';
  return table([['NAME', 'HOST', 'TRANSPORT', 'REGISTER', 'STATE', 'LIVENESS', 'CALLS', 'LAST ERROR'], ...list.map((t) => [
    t.name, t.port !== null ? `${t.host}:${t.port}` : t.host, t.transport, t.register ? 'yes' : 'no (IP)',
    t.live?.registration ?? '-', t.live?.liveness ?? '-', t.live ? String(t.live.activeCalls) : '-', t.live?.lastError ?? '',
  ])]);
}

/** `argv` is what follows `pbx trunk|route|did`; returns the exit code. */
export async function trunkCommand(kind: 'trunk' | 'route' | 'did' | 'alarm', argv: readonly string[], io: TrunkIo): Promise<number> {
  const [sub, ...rest] = argv;
  const parse = (options: Record<string, { type: 'string' | 'boolean' }>, positionals: number): { values: Record<string, string | boolean | undefined>; positionals: string[] } => {
    let r;
    try {
      r = parseArgs({ args: [...rest], options: { data: { type: 'string' }, ...options }, allowPositionals: true, strict: true });
    } catch (e) {
      throw new TrunkUsageError(e instanceof Error ? e.message.split('\n')[0] ?? 'bad arguments' : 'bad arguments');
    }
    if (r.positionals.length !== positionals) {
      throw new TrunkUsageError(r.positionals.length > positionals ? `unexpected argument: ${r.positionals[positionals]}` : 'missing argument');
    }
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  };
  const run = (values: Record<string, unknown>, command: string, args: Record<string, unknown>): Promise<unknown> =>
    io.command(String(values.data ?? 'var'), { command, args });
  const json = (v: unknown): void => io.write(`${JSON.stringify(v, null, 2)}\n`);
  const str = (v: string | boolean | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

  if (kind === 'trunk' && sub === 'add') {
    const { values, positionals } = parse({
      host: { type: 'string' }, transport: { type: 'string' }, username: { type: 'string' }, password: { type: 'string' },
      register: { type: 'boolean' }, policy: { type: 'string' }, ca: { type: 'string' }, allow: { type: 'string' },
      media: { type: 'string' }, 'max-calls': { type: 'string' }, 'caller-id': { type: 'string' },
    }, 1);
    if (typeof values.host !== 'string') throw new TrunkUsageError('trunk add needs --host HOST[:PORT]');
    if (typeof values.transport !== 'string' || !['udp', 'tcp', 'tls'].includes(values.transport)) throw new TrunkUsageError('trunk add needs --transport udp|tcp|tls');
    if ((values.username === undefined) !== (values.password === undefined)) throw new TrunkUsageError('--username and --password go together');
    const maxCalls = str(values['max-calls']);
    if (maxCalls !== undefined && !/^\d{1,4}$/.test(maxCalls)) throw new TrunkUsageError('--max-calls must be a number');
    const t = await run(values, 'trunk.add', {
      name: positionals[0], host: values.host, transport: values.transport,
      ...(str(values.username) ? { username: values.username, password: values.password } : {}),
      register: values.register === true,
      ...(str(values.policy) ? { policy: values.policy } : {}),
      ...(str(values.ca) ? { ca: io.readFile(values.ca as string) } : {}),
      ...(str(values.allow) ? { allow: values.allow } : {}),
      ...(str(values.media) ? { media: values.media } : {}),
      ...(maxCalls !== undefined ? { maxCalls: Number(maxCalls) } : {}),
      ...(str(values['caller-id']) ? { callerId: values['caller-id'] } : {}),
    }) as TrunkView;
    io.write(`trunk ${t.name} added (${t.transport} ${t.host}${t.port !== null ? `:${t.port}` : ''}${t.register ? ', registers' : ', IP-authenticated'})\n`);
    return 0;
  }
  if (sub === 'list') {
    const { values } = parse({ json: { type: 'boolean' } }, 0);
    const list = await run(values, `${kind}.list`, {});
    if (values.json) { json(list); return 0; }
    if (kind === 'trunk') io.write(formatTrunks(list as TrunkView[]));
    else if (kind === 'alarm') {
      const l = list as TollAlarmView[];
      io.write(l.length === 0 ? 'no toll-fraud alarms\n' : table([['EXTENSION', 'CALLS', 'WITHIN', 'RAISED', 'LAST NUMBER'],
        ...l.map((x) => [x.extension, String(x.calls), `${x.windowMinutes} min`, x.raisedAt, x.lastNumber])]));
    }
    else if (kind === 'route') {
      const l = list as RouteView[];
      io.write(l.length === 0 ? 'no routes\n' : table([['PATTERN', 'TRUNKS', 'STRIP', 'PREPEND', 'INTERNATIONAL', 'PREMIUM'],
        ...l.map((r) => [r.prefix || '(any)', r.trunks.join(','), String(r.strip), r.prepend, r.international ? 'yes' : 'no', r.premium ? 'yes' : 'no'])]));
    } else {
      const l = list as DidView[];
      io.write(l.length === 0 ? 'no DIDs\n' : table([['NUMBER', 'TO', 'TRUNK'], ...l.map((x) => [x.number, x.to, x.trunk])]));
    }
    return 0;
  }
  if (sub === 'remove') {
    const { values, positionals } = parse({}, 1);
    const key = kind === 'trunk' ? 'name' : kind === 'route' ? 'pattern' : 'number';
    const r = await run(values, `${kind}.remove`, { [key]: positionals[0] }) as { removed: string };
    io.write(`${kind} ${r.removed} removed\n`);
    return 0;
  }
  if (kind === 'alarm' && sub === 'clear') {
    const { values, positionals } = parse({}, 1);
    await run(values, 'alarm.clear', { extension: positionals[0] });
    io.write(`toll-fraud alarm for ${positionals[0]} cleared\n`);
    return 0;
  }
  if (kind === 'route' && sub === 'add') {
    const { values, positionals } = parse({
      trunk: { type: 'string' }, strip: { type: 'string' }, prepend: { type: 'string' },
      international: { type: 'boolean' }, premium: { type: 'boolean' }, 'caller-id': { type: 'string' },
    }, 1);
    if (typeof values.trunk !== 'string') throw new TrunkUsageError('route add needs --trunk NAME[,NAME2]');
    const strip = str(values.strip);
    if (strip !== undefined && !/^\d{1,2}$/.test(strip)) throw new TrunkUsageError('--strip must be a number');
    const r = await run(values, 'route.add', {
      pattern: positionals[0], trunk: values.trunk,
      ...(strip !== undefined ? { strip: Number(strip) } : {}),
      ...(str(values.prepend) !== undefined ? { prepend: values.prepend } : {}),
      international: values.international === true, premium: values.premium === true,
      ...(str(values['caller-id']) ? { callerId: values['caller-id'] } : {}),
    }) as RouteView;
    io.write(`route ${r.prefix || '(any)'} -> ${r.trunks.join(', then ')} added\n`);
    return 0;
  }
  if (kind === 'did' && sub === 'add') {
    const { values, positionals } = parse({ to: { type: 'string' }, trunk: { type: 'string' } }, 1);
    if (typeof values.to !== 'string' || typeof values.trunk !== 'string') throw new TrunkUsageError('did add needs --to EXT --trunk NAME');
    const r = await run(values, 'did.add', { number: positionals[0], to: values.to, trunk: values.trunk }) as DidView;
    io.write(`DID ${r.number} on ${r.trunk} rings ${r.to}\n`);
    return 0;
  }
  throw new TrunkUsageError(sub ? `unknown ${kind} command: ${sub}` : `${kind} needs a command`);
}
