import { readFileSync } from 'node:fs';
import {
  addAccount, importAccountsCsv, listAccounts, removeAccount, type AccountView, type ConfigStore,
} from '../config/index.js';
import { PbxError } from '../core/index.js';
import { caPath } from '../pki/index.js';
import type { ControlRequest } from './socket.js';

/**
 * The operations behind `pbx ...` (and later the serial console and the web
 * API). One implementation: the CLI runs them directly on the config file when
 * no appliance is running, or sends them over the control socket to the
 * running appliance, which runs the very same function on its own store.
 */

export interface CommandContext {
  readonly store: ConfigStore;
  readonly dataDir: string;
  /** A running appliance's live status; absent when the CLI runs on its own. */
  readonly liveStatus?: () => unknown;
  /** Called after accounts changed, so a running appliance can drop bindings of removed ones. */
  readonly accountsChanged?: () => void;
}

function str(args: Readonly<Record<string, unknown>>, name: string, required: true): string;
function str(args: Readonly<Record<string, unknown>>, name: string, required: false): string | undefined;
function str(args: Readonly<Record<string, unknown>>, name: string, required: boolean): string | undefined {
  const v = args[name];
  if (v === undefined || v === null) {
    if (required) throw new PbxError('config', `missing ${name}`);
    return undefined;
  }
  if (typeof v !== 'string') throw new PbxError('config', `${name} must be a string`);
  return v;
}

export interface StatusReport {
  readonly running: boolean;
  readonly accounts: number;
  readonly configHealth: ConfigStore['health'];
  readonly [key: string]: unknown;
}

export async function executeCommand(ctx: CommandContext, req: ControlRequest): Promise<unknown> {
  const { store } = ctx;
  const a = req.args;
  switch (req.command) {
    case 'account.add': {
      const extension = str(a, 'extension', true);
      await store.update((d) => addAccount(d, {
        extension,
        password: str(a, 'password', true),
        ...(str(a, 'name', false) !== undefined ? { name: str(a, 'name', false) } : {}),
        ...(str(a, 'policy', false) !== undefined ? { policy: str(a, 'policy', false) } : {}),
        ...(a.tlsOnly === true ? { tlsOnly: true } : {}),
        ...(str(a, 'contact', false) !== undefined ? { staticContact: str(a, 'contact', false) } : {}),
      }));
      ctx.accountsChanged?.();
      return listAccounts(store.data).find((x) => x.extension === extension);
    }
    case 'account.import': {
      const csv = str(a, 'csv', true);
      let count = 0;
      await store.update((d) => {
        const r = importAccountsCsv(d, csv);
        count = r.added.length;
        return r.config;
      });
      ctx.accountsChanged?.();
      return { imported: count };
    }
    case 'account.list':
      return listAccounts(store.data) satisfies AccountView[];
    case 'account.remove': {
      const extension = str(a, 'extension', true);
      await store.update((d) => removeAccount(d, extension));
      ctx.accountsChanged?.();
      return { removed: extension };
    }
    case 'status': {
      const base = { accounts: store.data.accounts.length, configHealth: store.health };
      if (ctx.liveStatus) return { running: true, ...base, ...(ctx.liveStatus() as object) };
      return { running: false, ...base, registrations: persistedRegistrations(ctx.dataDir) };
    }
    case 'cert.ca':
      return { path: caPath(ctx.dataDir) };
    default:
      throw new PbxError('not-found', `unknown command ${req.command}`);
  }
}

/** Bindings a stopped appliance will restore, read straight from its file. */
function persistedRegistrations(dataDir: string): unknown[] {
  try {
    const raw = JSON.parse(readFileSync(`${dataDir}/registrations.json`, 'utf8')) as { bindings?: Array<{ expiresAt?: number }> };
    return (raw.bindings ?? []).filter((b) => typeof b.expiresAt === 'number' && b.expiresAt > Date.now());
  } catch {
    return [];
  }
}
