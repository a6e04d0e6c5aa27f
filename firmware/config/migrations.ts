import { PbxError } from '../core/index.js';
import { digestHa1 } from './digest.js';
import { CURRENT_SCHEMA_VERSION, DEFAULT_REALM } from './schema.js';

/**
 * Upgrades of raw config files, applied in order before validation. Each step
 * takes the plain JSON of version `from` and returns the JSON of `from + 1`.
 * Version 0 is a file from before `schemaVersion` existed.
 */
export interface MigrationContext {
  /** Milliseconds since the epoch, for fields a migration has to invent. */
  readonly now: number;
}

type Json = Record<string, unknown>;

export interface Migration {
  readonly from: number;
  readonly describe: string;
  up(data: Json, ctx: MigrationContext): Json;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const MIGRATIONS: readonly Migration[] = [
  {
    from: 0,
    describe: 'store digest HA1s instead of cleartext SIP passwords; add schemaVersion',
    up(data, ctx) {
      const sip = isObject(data.sip) ? data.sip : {};
      const realm = typeof sip.realm === 'string' ? sip.realm : DEFAULT_REALM;
      const accounts = Array.isArray(data.accounts)
        ? data.accounts.map((a: unknown) => {
            if (!isObject(a)) return a;
            const { password, ...rest } = a;
            const out: Json = { ...rest };
            if (typeof password === 'string' && typeof a.extension === 'string') {
              out.ha1Md5 = digestHa1('MD5', a.extension, realm, password);
              out.ha1Sha256 = digestHa1('SHA-256', a.extension, realm, password);
            } else if (password !== undefined) {
              out.password = password; // leave it for validation to report
            }
            if (out.createdAt === undefined) out.createdAt = new Date(ctx.now).toISOString();
            return out;
          })
        : data.accounts;
      const out: Json = { ...data, schemaVersion: 1 };
      if (accounts !== undefined) out.accounts = accounts;
      return out;
    },
  },
];

export interface MigrationResult {
  readonly data: unknown;
  /** The version the file was written in; equal to CURRENT_SCHEMA_VERSION if nothing ran. */
  readonly fromVersion: number;
}

/** The file's declared version; a file without one is version 0. */
export function fileVersion(raw: unknown): number {
  if (!isObject(raw)) throw new PbxError('config', '(root): the config must be a JSON object');
  const v = raw.schemaVersion;
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new PbxError('config', `schemaVersion: must be a non-negative integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Bring raw JSON up to the current version. A file newer than this firmware is
 * an error: quietly reading it as an older version would drop what it means.
 */
export function migrate(raw: unknown, ctx: MigrationContext, migrations: readonly Migration[] = MIGRATIONS): MigrationResult {
  const fromVersion = fileVersion(raw);
  if (fromVersion > CURRENT_SCHEMA_VERSION) {
    throw new PbxError(
      'config',
      `schemaVersion: the file is version ${fromVersion}, newer than this firmware understands (${CURRENT_SCHEMA_VERSION}); it will not be downgraded`,
    );
  }
  let data = structuredClone(raw) as Json;
  for (let v = fromVersion; v < CURRENT_SCHEMA_VERSION; v++) {
    const step = migrations.find((m) => m.from === v);
    if (!step) throw new PbxError('config', `no migration from schemaVersion ${v}`);
    data = step.up(data, ctx);
    if (fileVersion(data) !== v + 1) throw new PbxError('config', `migration from ${v} did not produce version ${v + 1}`);
  }
  return { data, fromVersion };
}
