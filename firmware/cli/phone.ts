import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { DeviceCertIssued, DeviceCertView, PhoneAssigned, PhoneView } from '../api/index.js';
import type { ControlRequest } from '../control/index.js';

/**
 * `pbx phone assign|list|reset-once|window|remove` and `pbx cert
 * issue-device|revoke-device|devices` (issue 12). Kept apart from pbx.ts
 * like block.ts; pbx.ts dispatches here.
 */

export const PHONE_USAGE = `  pbx phone assign MAC EXT [--vendor yealink|polycom|snom|grandstream|generic] [--password-mode never|once|always]
                      [--sip-password P] [--fetch-digest]
  pbx phone list [--json]
  pbx phone reset-once MAC
  pbx phone window MAC [--minutes N]     a fetch from anywhere counts as authenticated, once, for N minutes
  pbx phone remove MAC
  pbx cert issue-device EXT --out FILE.p12 [--passphrase P]
  pbx cert revoke-device SERIAL
  pbx cert devices [--json]`;

export class PhoneUsageError extends Error {}

export interface PhoneIo {
  readonly command: (dataDir: string, req: ControlRequest) => Promise<unknown>;
  readonly write: (text: string) => void;
}

type Values = Record<string, string | boolean | undefined>;

function parse(rest: readonly string[], options: Record<string, { type: 'string' | 'boolean' }>, positionals: number): { values: Values; positionals: string[] } {
  let r;
  try {
    r = parseArgs({ args: [...rest], options: { data: { type: 'string' }, ...options }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new PhoneUsageError(e instanceof Error ? e.message.split('\n')[0] ?? 'bad arguments' : 'bad arguments');
  }
  if (r.positionals.length !== positionals) {
    throw new PhoneUsageError(r.positionals.length > positionals ? `unexpected argument: ${r.positionals[positionals]}` : 'missing argument');
  }
  return { values: r.values as Values, positionals: r.positionals };
}

const dataOf = (v: Values): string => String(v.data ?? 'var');

export function formatPhones(list: readonly PhoneView[]): string {
  if (list.length === 0) return 'no phones\n';
  const rows = [['MAC', 'EXT', 'VENDOR', 'MODEL', 'FIRMWARE', 'PASSWORD', 'LAST FETCH'], ...list.map((p) => [
    p.mac, p.extension ?? '-', p.vendor ?? '-', p.model ?? '-', p.firmware ?? '-',
    p.passwordMode === null ? '-' : `${p.passwordMode}${p.passwordMode === 'once' ? (p.passwordServed ? ' (fetched)' : ' (not yet)') : ''}`,
    p.lastFetch ?? 'never',
  ])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

/** `argv` is what follows `pbx phone`. */
export async function phoneCli(argv: readonly string[], io: PhoneIo): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'assign': {
      const { values, positionals } = parse(rest, {
        vendor: { type: 'string' }, 'password-mode': { type: 'string' }, 'sip-password': { type: 'string' }, 'fetch-digest': { type: 'boolean' },
      }, 2);
      const r = await io.command(dataOf(values), {
        command: 'phone.assign',
        args: {
          mac: positionals[0], extension: positionals[1], vendor: values.vendor, passwordMode: values['password-mode'],
          sipPassword: values['sip-password'], fetchDigest: values['fetch-digest'] === true,
        },
      }) as PhoneAssigned;
      io.write(`phone ${r.mac} -> ${r.extension} (${r.vendor}, password ${r.passwordMode})\n`);
      if (r.fetchUser !== undefined && r.fetchPassword !== undefined) {
        io.write(`provisioning login for the phone (shown once): user ${r.fetchUser} password ${r.fetchPassword}\n`);
      }
      return 0;
    }
    case 'list': {
      const { values } = parse(rest, { json: { type: 'boolean' } }, 0);
      const list = await io.command(dataOf(values), { command: 'phone.list', args: {} }) as PhoneView[];
      io.write(values.json ? `${JSON.stringify(list, null, 2)}\n` : formatPhones(list));
      return 0;
    }
    case 'reset-once': {
      const { values, positionals } = parse(rest, {}, 1);
      const r = await io.command(dataOf(values), { command: 'phone.reset-once', args: { mac: positionals[0] } }) as PhoneView;
      io.write(`phone ${r.mac}: its next authenticated fetch carries the password again\n`);
      return 0;
    }
    case 'window': {
      const { values, positionals } = parse(rest, { minutes: { type: 'string' } }, 1);
      const minutes = values.minutes === undefined ? undefined : Number(values.minutes);
      const r = await io.command(dataOf(values), { command: 'phone.window', args: { mac: positionals[0], ...(minutes === undefined ? {} : { minutes }) } }) as PhoneView;
      io.write(r.windowUntil ? `phone ${r.mac}: window open until ${r.windowUntil}\n` : `phone ${r.mac}: window closed\n`);
      return 0;
    }
    case 'remove': {
      const { values, positionals } = parse(rest, {}, 1);
      await io.command(dataOf(values), { command: 'phone.remove', args: { mac: positionals[0] } });
      io.write(`removed phone ${positionals[0]}\n`);
      return 0;
    }
    default:
      throw new PhoneUsageError(sub ? `unknown phone command: ${sub}` : 'phone needs a command: assign, list, reset-once, window, remove');
  }
}

/** `pbx cert issue-device|revoke-device|devices`; undefined for other cert subcommands. */
export async function deviceCertCli(sub: string | undefined, rest: readonly string[], io: PhoneIo): Promise<number | undefined> {
  if (sub === 'issue-device') {
    const { values, positionals } = parse(rest, { out: { type: 'string' }, passphrase: { type: 'string' } }, 1);
    if (typeof values.out !== 'string') throw new PhoneUsageError('cert issue-device needs --out FILE.p12');
    const r = await io.command(dataOf(values), {
      command: 'cert.issue-device', args: { extension: positionals[0], ...(typeof values.passphrase === 'string' ? { passphrase: values.passphrase } : {}) },
    }) as DeviceCertIssued;
    writeFileSync(values.out, Buffer.from(r.p12Base64, 'base64'), { mode: 0o600 });
    io.write(`device certificate for ${r.extension}: serial ${r.serial}, SHA-256 ${r.sha256}, expires ${r.notAfter}\n`);
    io.write(`written to ${values.out}${typeof values.passphrase === 'string' ? '' : `; passphrase (shown once): ${r.passphrase}`}\n`);
    return 0;
  }
  if (sub === 'revoke-device') {
    const { values, positionals } = parse(rest, {}, 1);
    const r = await io.command(dataOf(values), { command: 'cert.revoke-device', args: { serial: positionals[0] } }) as DeviceCertView;
    io.write(`revoked device certificate ${r.serial} of ${r.extension} at ${r.revokedAt ?? '?'}; its connections are closed\n`);
    return 0;
  }
  if (sub === 'devices') {
    const { values } = parse(rest, { json: { type: 'boolean' } }, 0);
    const list = await io.command(dataOf(values), { command: 'cert.devices', args: {} }) as DeviceCertView[];
    if (values.json) io.write(`${JSON.stringify(list, null, 2)}\n`);
    else if (list.length === 0) io.write('no device certificates\n');
    else for (const d of list) io.write(`${d.serial}\t${d.extension}\texpires ${d.notAfter}${d.revokedAt ? `\trevoked ${d.revokedAt}` : ''}\n`);
    return 0;
  }
  return undefined;
}
