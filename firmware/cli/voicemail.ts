import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ControlRequest } from '../control/index.js';

/**
 * `pbx voicemail list EXT [--json]` and `pbx attendant add|list|remove`
 * (issue 15); pbx.ts dispatches `voicemail` and `attendant` here.
 */

export const VOICEMAIL_USAGE = `  pbx voicemail list EXT [--json]    the mailbox's messages: id, caller, time, length, new or saved
  pbx attendant add EXT [--greeting FILE.wav] --digit 1=EXT [--digit 2=EXT ...] [--timeout-to EXT] [--timeout-sec N]
  pbx attendant list [--json]
  pbx attendant remove EXT`;
export const VOICEMAIL_READ_ONLY = ['voicemail.list', 'attendant.list'] as const;

export class VoicemailUsageError extends Error {}

export interface VoicemailIo {
  readonly command: (dataDir: string, req: ControlRequest) => Promise<unknown>;
  readonly write: (text: string) => void;
}

interface Msg { id: string; caller: string; at: string; durationMs: number; isNew: boolean }
interface Att { extension: string; digits: Record<string, string>; timeoutTo: string | null; timeoutSec: number }

export async function voicemailCli(cmd: 'voicemail' | 'attendant', argv: readonly string[], io: VoicemailIo): Promise<number> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: [...rest], allowPositionals: true, strict: true,
    options: {
      data: { type: 'string' }, json: { type: 'boolean' }, greeting: { type: 'string' }, digit: { type: 'string', multiple: true },
      'timeout-to': { type: 'string' }, 'timeout-sec': { type: 'string' },
    },
  });
  const data = String(values.data ?? 'var');
  if (cmd === 'voicemail') {
    if (sub !== 'list' || positionals.length !== 1) throw new VoicemailUsageError('usage: pbx voicemail list EXT [--json]');
    const list = await io.command(data, { command: 'voicemail.list', args: { extension: positionals[0] } }) as Msg[];
    if (values.json) io.write(`${JSON.stringify(list, null, 2)}\n`);
    else if (list.length === 0) io.write(`no messages for ${positionals[0]}\n`);
    else for (const m of list) io.write(`${m.id}\t${m.at}\tfrom ${m.caller}\t${(m.durationMs / 1000).toFixed(1)}s\t${m.isNew ? 'new' : 'saved'}\n`);
    return 0;
  }
  if (sub === 'list') {
    const list = await io.command(data, { command: 'attendant.list', args: {} }) as Att[];
    if (values.json) io.write(`${JSON.stringify(list, null, 2)}\n`);
    else if (list.length === 0) io.write('no attendants\n');
    else for (const x of list) io.write(`${x.extension}\t${Object.entries(x.digits).map(([d, t]) => `${d}=${t}`).join(' ')}\ttimeout ${x.timeoutSec}s -> ${x.timeoutTo ?? 'hang up'}\n`);
    return 0;
  }
  if (sub === 'remove' && positionals.length === 1) {
    await io.command(data, { command: 'attendant.remove', args: { extension: positionals[0] } });
    io.write(`removed attendant ${positionals[0]}\n`);
    return 0;
  }
  if (sub === 'add' && positionals.length === 1) {
    const digits: Record<string, string> = {};
    for (const d of values.digit ?? []) {
      const m = /^([0-9*#])=(\S+)$/.exec(d);
      if (!m) throw new VoicemailUsageError(`--digit ${d}: expected DIGIT=EXT`);
      digits[m[1]!] = m[2]!;
    }
    const r = await io.command(data, {
      command: 'attendant.add',
      args: {
        extension: positionals[0], digits,
        ...(values.greeting ? { greeting: resolve(values.greeting) } : {}),
        ...(values['timeout-to'] ? { timeoutTo: values['timeout-to'] } : {}),
        ...(values['timeout-sec'] ? { timeoutSec: values['timeout-sec'] } : {}),
      },
    }) as Att & { greetingSeconds?: number };
    io.write(`attendant ${r.extension}: ${Object.entries(r.digits).map(([d, t]) => `${d}=${t}`).join(' ')}; timeout ${r.timeoutSec}s -> ${r.timeoutTo ?? 'hang up'}${r.greetingSeconds ? `; greeting ${r.greetingSeconds.toFixed(1)} s` : ''}\n`);
    return 0;
  }
  throw new VoicemailUsageError('usage: pbx attendant add EXT --digit D=EXT ... | list | remove EXT');
}
