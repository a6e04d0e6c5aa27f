import { parseArgs } from 'node:util';
import type { ControlRequest } from '../control/index.js';

/**
 * Call-feature settings on the command line: the forwarding, do-not-disturb,
 * pickup-group and call-waiting options of `pbx account set`, and
 * `pbx group add|list|remove` for ring groups. Kept apart from pbx.ts so it
 * can be tested alone; pbx.ts merges ACCOUNT_FEATURE_OPTIONS into its
 * `account set` and dispatches `group` here.
 */

export const ACCOUNT_FEATURE_USAGE = `                    [--forward-always EXT | --forward-busy EXT | --forward-noanswer EXT [--noanswer-sec N] | --no-forward]
                    [--dnd | --no-dnd] [--pickup-group NAME | --no-pickup-group] [--call-waiting | --no-call-waiting]
                    [--voicemail on|off] [--pin DIGITS]   voicemail (on by default; *97 opens the mailbox with the PIN)`;

export const GROUP_USAGE = `  pbx group add EXT --members A,B[,C] [--order parallel|sequential] [--ring-sec N] [--no-answer-to EXT] [--name NAME]
  pbx group list [--json]
  pbx group remove EXT`;

export const GROUP_READ_ONLY = ['group.list'] as const;

export class FeatureUsageError extends Error {}

/** The options `pbx account set` takes for call features (node:util parseArgs form). */
export const ACCOUNT_FEATURE_OPTIONS = {
  'forward-always': { type: 'string' }, 'forward-busy': { type: 'string' }, 'forward-noanswer': { type: 'string' },
  'noanswer-sec': { type: 'string' }, 'no-forward': { type: 'boolean' },
  dnd: { type: 'boolean' }, 'no-dnd': { type: 'boolean' },
  'pickup-group': { type: 'string' }, 'no-pickup-group': { type: 'boolean' },
  'call-waiting': { type: 'boolean' }, 'no-call-waiting': { type: 'boolean' },
  voicemail: { type: 'string' }, pin: { type: 'string' },
} as const;

type Values = Record<string, string | boolean | undefined>;

function pair(values: Values, on: string, off: string): boolean | undefined {
  if (values[on] && values[off]) throw new FeatureUsageError(`--${on} and --${off} exclude each other`);
  return values[on] ? true : values[off] ? false : undefined;
}

/** The account.update arguments for the call-feature options given; {} when none. */
export function accountFeatureArgs(values: Values): Record<string, unknown> {
  const forwards = ['forward-always', 'forward-busy', 'forward-noanswer'].filter((k) => values[k] !== undefined);
  if (values['no-forward'] && forwards.length) throw new FeatureUsageError(`--no-forward and --${forwards[0]} exclude each other`);
  const sec = values['noanswer-sec'];
  if (sec !== undefined && (typeof sec !== 'string' || !/^\d{1,3}$/.test(sec))) throw new FeatureUsageError('--noanswer-sec must be a number of seconds (5-120)');
  const dnd = pair(values, 'dnd', 'no-dnd');
  const waiting = pair(values, 'call-waiting', 'no-call-waiting');
  if (values['pickup-group'] !== undefined && values['no-pickup-group']) throw new FeatureUsageError('--pickup-group and --no-pickup-group exclude each other');
  return {
    ...(values['forward-always'] !== undefined ? { forwardAlways: values['forward-always'] } : {}),
    ...(values['forward-busy'] !== undefined ? { forwardBusy: values['forward-busy'] } : {}),
    ...(values['forward-noanswer'] !== undefined ? { forwardNoAnswer: values['forward-noanswer'] } : {}),
    ...(sec !== undefined ? { noAnswerSec: Number(sec) } : {}),
    ...(values['no-forward'] ? { noForward: true } : {}),
    ...(dnd !== undefined ? { dnd } : {}),
    ...(waiting !== undefined ? { callWaiting: waiting } : {}),
    ...(values['pickup-group'] !== undefined ? { pickupGroup: values['pickup-group'] } : values['no-pickup-group'] ? { pickupGroup: '' } : {}),
    ...voicemailArgs(values),
  };
}

/** --voicemail on|off and --pin N (issue 15). */
function voicemailArgs(values: Values): Record<string, unknown> {
  const vm = values.voicemail;
  if (vm !== undefined && vm !== 'on' && vm !== 'off') throw new FeatureUsageError('--voicemail is on or off');
  const pin = values.pin;
  if (pin !== undefined && (typeof pin !== 'string' || !/^[0-9]{4,12}$/.test(pin))) throw new FeatureUsageError('--pin is 4 to 12 digits');
  return { ...(vm !== undefined ? { voicemail: vm === 'on' } : {}), ...(pin !== undefined ? { voicemailPin: pin } : {}) };
}

interface AccountFeatures {
  extension: string;
  forward: { always: string | null; busy: string | null; noAnswer: string | null; noAnswerSec: number };
  dnd: boolean; pickupGroup: string | null; callWaiting: boolean;
}

/** One line saying what an account's calls do now, for `pbx account set`. */
export function describeAccountFeatures(a: AccountFeatures): string {
  const parts: string[] = [];
  if (a.forward.always) parts.push(`forward always to ${a.forward.always}`);
  if (a.forward.busy) parts.push(`forward on busy to ${a.forward.busy}`);
  if (a.forward.noAnswer) parts.push(`forward after ${a.forward.noAnswerSec} s without answer to ${a.forward.noAnswer}`);
  if (a.dnd) parts.push('do not disturb');
  if (!a.callWaiting) parts.push('no call waiting');
  if (a.pickupGroup) parts.push(`pickup group ${a.pickupGroup}`);
  return parts.length ? parts.join(', ') : 'rings its phones (no forwarding, no do-not-disturb)';
}

interface GroupLine { extension: string; name: string; members: string[]; order: string; memberRingSec: number; noAnswerTo: string | null }

export function formatGroups(list: readonly GroupLine[]): string {
  if (list.length === 0) return 'no ring groups\n';
  return list.map((g) => `${g.extension}\t${g.name || '-'}\t${g.members.join(',')}\t${g.order}${g.order === 'sequential' ? ` (${g.memberRingSec} s each)` : ''}\tno answer: ${g.noAnswerTo ?? '480 No Answer'}\n`).join('');
}

export interface FeatureIo {
  readonly command: (dataDir: string, req: ControlRequest) => Promise<unknown>;
  readonly write: (text: string) => void;
}

/** `argv` is what follows `pbx group`; returns the exit code. */
export async function groupCommand(argv: readonly string[], io: FeatureIo): Promise<number> {
  const [sub, ...rest] = argv;
  const parse = (options: Record<string, { type: 'string' | 'boolean' }>, positionals: number): { values: Values; positionals: string[] } => {
    let r;
    try {
      r = parseArgs({ args: [...rest], options: { data: { type: 'string' }, ...options }, allowPositionals: true, strict: true });
    } catch (e) {
      const msg = e instanceof Error ? e.message.split('\n')[0] ?? '' : '';
      const unknown = /Unknown option '([^']+)'/.exec(msg);
      throw new FeatureUsageError(unknown ? `unknown option ${unknown[1]}` : 'bad arguments');
    }
    if (r.positionals.length !== positionals) {
      throw new FeatureUsageError(r.positionals.length > positionals ? `unexpected argument: ${r.positionals[positionals]}` : 'missing the group\'s extension');
    }
    return { values: r.values as Values, positionals: r.positionals };
  };
  if (sub === 'add') {
    const { values, positionals } = parse({ members: { type: 'string' }, order: { type: 'string' }, 'ring-sec': { type: 'string' }, 'no-answer-to': { type: 'string' }, name: { type: 'string' } }, 1);
    if (typeof values.members !== 'string') throw new FeatureUsageError('group add needs --members A,B[,C]');
    const ringSec = values['ring-sec'];
    if (ringSec !== undefined && (typeof ringSec !== 'string' || !/^\d{1,3}$/.test(ringSec))) throw new FeatureUsageError('--ring-sec must be a number of seconds (5-120)');
    const g = await io.command(String(values.data ?? 'var'), {
      command: 'group.add',
      args: {
        extension: positionals[0], members: values.members,
        ...(values.order !== undefined ? { order: values.order } : {}),
        ...(ringSec !== undefined ? { ringSec: Number(ringSec) } : {}),
        ...(values['no-answer-to'] !== undefined ? { noAnswerTo: values['no-answer-to'] } : {}),
        ...(values.name !== undefined ? { name: values.name } : {}),
      },
    }) as GroupLine;
    io.write(`ring group ${g.extension}: rings ${g.members.join(', ')} ${g.order === 'parallel' ? 'at once' : 'one after the other'}\n`);
    return 0;
  }
  if (sub === 'list') {
    const { values } = parse({ json: { type: 'boolean' } }, 0);
    const list = await io.command(String(values.data ?? 'var'), { command: 'group.list', args: {} }) as GroupLine[];
    io.write(values.json ? `${JSON.stringify(list, null, 2)}\n` : formatGroups(list));
    return 0;
  }
  if (sub === 'remove') {
    const { values, positionals } = parse({}, 1);
    await io.command(String(values.data ?? 'var'), { command: 'group.remove', args: { extension: positionals[0] } });
    io.write(`removed ring group ${positionals[0]}\n`);
    return 0;
  }
  throw new FeatureUsageError(sub ? `unknown group command: ${sub}` : 'group needs a command: add, list, remove');
}
