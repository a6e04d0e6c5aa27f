import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { RecordingExported, RecordingListEntry, RecordingToggled, RoomView } from '../api/index.js';
import type { ControlRequest } from '../control/index.js';

/**
 * `pbx recording list [--json]`, `pbx recording export ID --out FILE`,
 * `pbx recording start|stop CALL` and `pbx room add|list|remove` (issue 9).
 * pbx.ts dispatches `recording` and `room` here; list and export also work
 * with no appliance running (they read DATA/recordings), start and stop
 * need it (only a live call can be recorded).
 */

export const RECORDING_USAGE = `  pbx recording list [--json]        id, start, parties, duration, kind (decoded | encrypted-capture)
  pbx recording export ID --out FILE  the decrypted WAV (or the pcap of an encrypted capture)
  pbx recording start|stop CALL       record a live call on demand (its accounts' mode is on-demand or always)
  pbx room add EXT [--pin N] [--max N]
  pbx room list [--json]
  pbx room remove EXT`;
export const RECORDING_READ_ONLY = ['recording.list', 'recording.export', 'room.list'] as const;
export const RECORDING_NEEDS_RUNNING = ['recording.toggle'] as const;

export class RecordingUsageError extends Error {}

export interface RecordingIo {
  readonly command: (dataDir: string, req: ControlRequest) => Promise<unknown>;
  readonly write: (text: string) => void;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

export function formatRecordings(list: readonly RecordingListEntry[]): string {
  if (list.length === 0) return 'no recordings\n';
  const rows = [['ID', 'START', 'PARTIES', 'DURATION', 'KIND', 'STATE'], ...list.map((r) => [
    r.id, r.start, r.parties.join(','), seconds(r.durationMs), r.kind, r.state,
  ])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((x) => x[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

type Options = Record<string, { type: 'string' | 'boolean' }>;

function parser(rest: readonly string[]) {
  return (options: Options, positionals: number): { values: Record<string, string | boolean | undefined>; positionals: string[] } => {
    let r;
    try {
      r = parseArgs({ args: [...rest], options: { data: { type: 'string' }, ...options }, allowPositionals: true, strict: true });
    } catch (e) {
      throw new RecordingUsageError(e instanceof Error ? e.message.split('\n')[0] ?? 'bad arguments' : 'bad arguments');
    }
    if (r.positionals.length !== positionals) {
      throw new RecordingUsageError(r.positionals.length > positionals ? `unexpected argument: ${r.positionals[positionals]}` : 'missing argument');
    }
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  };
}

/** `argv` is what follows `pbx recording`; returns the exit code. */
export async function recordingCommand(argv: readonly string[], io: RecordingIo): Promise<number> {
  const [sub, ...rest] = argv;
  const parse = parser(rest);
  if (sub === 'list') {
    const { values } = parse({ json: { type: 'boolean' } }, 0);
    const list = await io.command(String(values.data ?? 'var'), { command: 'recording.list', args: {} }) as RecordingListEntry[];
    io.write(values.json ? `${JSON.stringify(list, null, 2)}\n` : formatRecordings(list));
    return 0;
  }
  if (sub === 'export') {
    const { values, positionals } = parse({ out: { type: 'string' } }, 1);
    if (typeof values.out !== 'string') throw new RecordingUsageError('recording export needs --out FILE');
    const r = await io.command(String(values.data ?? 'var'), {
      command: 'recording.export', args: { id: positionals[0], out: resolve(values.out) },
    }) as RecordingExported;
    io.write(`wrote ${r.out} (${r.bytes} bytes, ${r.kind === 'decoded' ? 'WAV' : 'pcap of the encrypted packets'})\n`);
    return 0;
  }
  if (sub === 'start' || sub === 'stop') {
    const { values, positionals } = parse({}, 1);
    const r = await io.command(String(values.data ?? 'var'), {
      command: 'recording.toggle', args: { call: positionals[0], on: sub === 'start' },
    }) as RecordingToggled;
    io.write(r.recording ? `recording call ${r.call} as ${r.id}\n` : `call ${r.call} is not recorded\n`);
    return 0;
  }
  throw new RecordingUsageError(sub ? `unknown recording command: ${sub}` : 'recording needs a command: list, export, start, stop');
}

/** `argv` is what follows `pbx room`. */
export async function roomCommand(argv: readonly string[], io: RecordingIo): Promise<number> {
  const [sub, ...rest] = argv;
  const parse = parser(rest);
  if (sub === 'add') {
    const { values, positionals } = parse({ pin: { type: 'string' }, max: { type: 'string' } }, 1);
    if (values.max !== undefined && !/^\d{1,3}$/.test(String(values.max))) throw new RecordingUsageError('--max must be a number');
    const r = await io.command(String(values.data ?? 'var'), {
      command: 'room.add', args: { extension: positionals[0], pin: values.pin, ...(values.max !== undefined ? { max: Number(values.max) } : {}) },
    }) as RoomView;
    io.write(`added room ${r.extension} (up to ${r.max} participants${r.pin ? ', PIN' : ''})\n`);
    return 0;
  }
  if (sub === 'list') {
    const { values } = parse({ json: { type: 'boolean' } }, 0);
    const list = await io.command(String(values.data ?? 'var'), { command: 'room.list', args: {} }) as RoomView[];
    if (values.json) io.write(`${JSON.stringify(list, null, 2)}\n`);
    else if (list.length === 0) io.write('no rooms\n');
    else for (const r of list) io.write(`${r.extension}\tmax=${r.max}${r.pin ? '\tpin' : ''}\n`);
    return 0;
  }
  if (sub === 'remove') {
    const { values, positionals } = parse({}, 1);
    await io.command(String(values.data ?? 'var'), { command: 'room.remove', args: { extension: positionals[0] } });
    io.write(`removed room ${positionals[0]}\n`);
    return 0;
  }
  throw new RecordingUsageError(sub ? `unknown room command: ${sub}` : 'room needs a command: add, list, remove');
}
