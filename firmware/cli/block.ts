import { parseArgs } from 'node:util';
import type { ControlRequest } from '../control/index.js';

/**
 * `pbx block list [--json]` and `pbx block remove ADDRESS`: the sources the
 * digest throttle refuses, and lifting one. Blocks live in the running
 * appliance's memory, so these go over the control socket; `list` with no
 * appliance running shows none, `remove` needs it running.
 *
 * Kept apart from pbx.ts so it can be tested alone; pbx.ts dispatches
 * `block` here (see BLOCK_READ_ONLY / BLOCK_NEEDS_RUNNING for its sets).
 */

export const BLOCK_USAGE = `  pbx block list [--json]
  pbx block remove ADDRESS`;
/** Command names for pbx.ts's READ_ONLY and NEEDS_RUNNING sets. */
export const BLOCK_READ_ONLY = ['block.list'] as const;
export const BLOCK_NEEDS_RUNNING = ['block.remove'] as const;

export class BlockUsageError extends Error {}

interface BlockLine { source: string; extension: string | null; failures: number; until: string; secondsLeft: number }

export interface BlockIo {
  /** Runs one command against the appliance in dataDir (pbx.ts's command()). */
  readonly command: (dataDir: string, req: ControlRequest) => Promise<unknown>;
  readonly write: (text: string) => void;
}

function leftText(s: number): string {
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

export function formatBlocks(list: readonly BlockLine[]): string {
  if (list.length === 0) return 'no blocked sources\n';
  const rows = [['SOURCE', 'EXTENSION', 'FAILURES', 'UNTIL', 'LEFT'], ...list.map((b) => [
    b.source, b.extension ?? '-', String(b.failures), b.until, leftText(b.secondsLeft),
  ])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

/** `argv` is what follows `pbx block`; returns the exit code. */
export async function blockCommand(argv: readonly string[], io: BlockIo): Promise<number> {
  const [sub, ...rest] = argv;
  const parse = (options: Record<string, { type: 'string' | 'boolean' }>, positionals: number): { values: Record<string, string | boolean | undefined>; positionals: string[] } => {
    let r;
    try {
      r = parseArgs({ args: [...rest], options: { data: { type: 'string' }, ...options }, allowPositionals: true, strict: true });
    } catch (e) {
      throw new BlockUsageError(e instanceof Error ? e.message.split('\n')[0] ?? 'bad arguments' : 'bad arguments');
    }
    if (r.positionals.length !== positionals) {
      throw new BlockUsageError(r.positionals.length > positionals ? `unexpected argument: ${r.positionals[positionals]}` : 'missing argument');
    }
    return { values: r.values as Record<string, string | boolean | undefined>, positionals: r.positionals };
  };
  if (sub === 'list') {
    const { values } = parse({ json: { type: 'boolean' } }, 0);
    const list = await io.command(String(values.data ?? 'var'), { command: 'block.list', args: {} }) as BlockLine[];
    io.write(values.json ? `${JSON.stringify(list, null, 2)}\n` : formatBlocks(list));
    return 0;
  }
  if (sub === 'remove') {
    const { values, positionals } = parse({}, 1);
    const r = await io.command(String(values.data ?? 'var'), { command: 'block.remove', args: { address: positionals[0], by: 'cli' } }) as { removed: string };
    io.write(`unblocked ${r.removed}\n`);
    return 0;
  }
  throw new BlockUsageError(sub ? `unknown block command: ${sub}` : 'block needs a command: list, remove');
}
