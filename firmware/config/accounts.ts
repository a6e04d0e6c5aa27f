import type { AccountView } from '../api/index.js';
import { PbxError, isPbxError } from '../core/index.js';
import { parseCsv } from './csv.js';
import { digestHa1 } from './digest.js';
import { type Account, AccountSchema, type Config, type MediaProtectionName as MediaProtection, DEFAULT_POLICY, EXTENSION_PATTERN, formatIssues, MAX_ACCOUNTS } from './schema.js';
import type { ReadonlyConfig } from './store.js';

/**
 * Account operations over config data, shared by the CLI and the web API.
 * Each returns a new Config and leaves its input alone, so it can be used
 * directly as a store mutation: `store.update((d) => addAccount(d, {...}))`.
 */
// Six characters: short enough for a desk phone keypad, and the limit the toll-fraud throttle
// makes safe against online guessing; the web UI will nudge admins to longer ones.
export const MIN_SIP_PASSWORD_LENGTH = 6;
export const MAX_SIP_PASSWORD_LENGTH = 128;

export interface NewAccount {
  readonly extension: string;
  readonly password: string;
  readonly name?: string;
  readonly policy?: string;
  readonly tlsOnly?: boolean;
  readonly staticContact?: string | null;
  /** The phone's media abilities (defaults: plain RTP and SDES, nothing required). */
  readonly media?: { readonly supported: readonly MediaProtection[]; readonly required: readonly MediaProtection[] };
}

/** What may be shown about an account: never its HA1s. The API's shape, built here. */
export type { AccountView } from '../api/index.js';

// Control characters have no place in a password a phone's keypad can type,
// and a newline would break the CSV and console round trip.
const CONTROL = /[\u0000-\u001f\u007f]/;

function checkPassword(pw: string): void {
  if (pw.length < MIN_SIP_PASSWORD_LENGTH) {
    throw new PbxError('config', `password must have at least ${MIN_SIP_PASSWORD_LENGTH} characters`);
  }
  if (pw.length > MAX_SIP_PASSWORD_LENGTH) {
    throw new PbxError('config', `password must have at most ${MAX_SIP_PASSWORD_LENGTH} characters`);
  }
  if (CONTROL.test(pw)) throw new PbxError('config', 'password must not contain control characters');
}

function clone(cfg: ReadonlyConfig): Config {
  return structuredClone(cfg) as Config;
}

function hashes(extension: string, realm: string, password: string): Pick<Account, 'ha1Md5' | 'ha1Sha256'> {
  return {
    ha1Md5: digestHa1('MD5', extension, realm, password),
    ha1Sha256: digestHa1('SHA-256', extension, realm, password),
  };
}

export function addAccount(cfg: ReadonlyConfig, input: NewAccount, now: number = Date.now()): Config {
  const next = clone(cfg);
  insertAccount(next, input, now);
  return next;
}

/** Validate `input` against `cfg` and append it to cfg.accounts in place. */
function insertAccount(cfg: Config, input: NewAccount, now: number): Account {
  const { extension } = input;
  if (!EXTENSION_PATTERN.test(extension)) {
    throw new PbxError('config', `extension ${JSON.stringify(extension)} must be 1-32 letters, digits, '.', '_' or '-'`);
  }
  checkPassword(input.password);
  const name = input.name ?? '';
  if (CONTROL.test(name)) throw new PbxError('config', 'name must not contain control characters');
  // SIP user parts compare case-sensitively (RFC 3261 section 19.1.4), so "Bob" and "bob" differ.
  if (cfg.accounts.some((a) => a.extension === extension)) {
    throw new PbxError('conflict', `extension ${extension} already exists`);
  }
  const policy = input.policy ?? DEFAULT_POLICY;
  if (!cfg.policies.some((p) => p.name === policy)) throw new PbxError('not-found', `policy ${policy} does not exist`);
  if (cfg.accounts.length >= MAX_ACCOUNTS) throw new PbxError('limit', `at most ${MAX_ACCOUNTS} accounts`);

  const candidate = {
    extension,
    name,
    ...hashes(extension, cfg.sip.realm, input.password),
    policy,
    tlsOnly: input.tlsOnly ?? false,
    staticContact: input.staticContact ?? null,
    ...(input.media ? { media: { supported: [...input.media.supported], required: [...input.media.required] } } : {}),
    createdAt: new Date(now).toISOString(),
  };
  const r = AccountSchema.safeParse(candidate);
  if (!r.success) throw new PbxError('config', formatIssues(r.error.issues));
  cfg.accounts.push(r.data);
  return r.data;
}

export function removeAccount(cfg: ReadonlyConfig, extension: string): Config {
  if (!cfg.accounts.some((a) => a.extension === extension)) {
    throw new PbxError('not-found', `extension ${extension} does not exist`);
  }
  const next = clone(cfg);
  next.accounts = next.accounts.filter((a) => a.extension !== extension);
  return next;
}

export function setPassword(cfg: ReadonlyConfig, extension: string, password: string): Config {
  checkPassword(password);
  const next = clone(cfg);
  const acct = next.accounts.find((a) => a.extension === extension);
  if (!acct) throw new PbxError('not-found', `extension ${extension} does not exist`);
  Object.assign(acct, hashes(extension, next.sip.realm, password));
  return next;
}

export function toAccountView(a: DeepReadonlyAccount): AccountView {
  return {
    extension: a.extension,
    name: a.name,
    policy: a.policy,
    tlsOnly: a.tlsOnly,
    staticContact: a.staticContact,
    createdAt: a.createdAt,
    ...(a.record ? { record: a.record } : {}),
    tlsMode: a.tlsMode,
    forward: { ...a.forward },
    dnd: a.dnd,
    pickupGroup: a.pickupGroup,
    callWaiting: a.callWaiting,
    media: { supported: [...a.media.supported], required: [...a.media.required] },
    voicemail: { enabled: a.voicemail?.enabled ?? true, pin: (a.voicemail?.pinHash ?? null) !== null },
  };
}

type DeepReadonlyAccount = ReadonlyConfig['accounts'][number];

export function listAccounts(cfg: ReadonlyConfig): AccountView[] {
  return cfg.accounts.map(toAccountView);
}

export interface CsvImportResult {
  readonly config: Config;
  readonly added: readonly AccountView[];
}

const CSV_COLUMNS = ['extension', 'password', 'name', 'policy'] as const;
type CsvColumn = (typeof CSV_COLUMNS)[number];

/**
 * Import accounts from CSV (columns extension,password,name,policy; name and
 * policy optional). A first row made only of column names is a header and
 * may reorder the columns. All or nothing: the first bad row throws a PbxError
 * whose message starts with its line number, and cfg is left as it was.
 * Duplicates within the file count as duplicates.
 */
export function importAccountsCsv(cfg: ReadonlyConfig, csvText: string, now: number = Date.now()): CsvImportResult {
  const records = parseCsv(csvText);
  let columns: readonly CsvColumn[] = CSV_COLUMNS;
  let rows = records;
  const first = records[0];
  // Issue 20: a mistyped header (extension,password,colour) must not become an
  // account named "extension". A first row that starts with a column name, or
  // names two of them, is a header, and every field of it must be one.
  const isColumn = (f: string): boolean => CSV_COLUMNS.some((c) => c === f.trim().toLowerCase());
  if (first && (first.fields.every(isColumn) || isColumn(first.fields[0] ?? '') || first.fields.filter(isColumn).length >= 2)) {
    columns = headerColumns(first.line, first.fields);
    rows = records.slice(1);
  }
  const next = clone(cfg);
  const added: AccountView[] = [];
  for (const row of rows) {
    try {
      if (row.fields.length < 2 || row.fields.length > columns.length) {
        throw new PbxError('config', `expected 2 to ${columns.length} fields, got ${row.fields.length}`);
      }
      const get = (c: CsvColumn): string | undefined => {
        const idx = columns.indexOf(c);
        return idx >= 0 ? row.fields[idx] : undefined;
      };
      const policy = get('policy')?.trim();
      const acct = insertAccount(
        next,
        {
          extension: (get('extension') ?? '').trim(),
          password: get('password') ?? '',
          name: get('name')?.trim() ?? '',
          ...(policy ? { policy } : {}),
        },
        now,
      );
      added.push(toAccountView(acct));
    } catch (e) {
      if (isPbxError(e)) throw new PbxError(e.code, `line ${row.line}: ${e.message}`);
      throw e;
    }
  }
  return { config: next, added };
}

function headerColumns(line: number, fields: readonly string[]): CsvColumn[] {
  const cols: CsvColumn[] = [];
  for (const f of fields) {
    const known = CSV_COLUMNS.find((k) => k === f.trim().toLowerCase());
    if (!known) throw new PbxError('config', `line ${line}: unknown column ${JSON.stringify(f)} in the header (the columns are ${CSV_COLUMNS.join(', ')})`);
    if (cols.includes(known)) throw new PbxError('config', `line ${line}: column ${known} appears twice`);
    cols.push(known);
  }
  for (const need of ['extension', 'password'] as const) {
    if (!cols.includes(need)) throw new PbxError('config', `line ${line}: the header has no ${need} column`);
  }
  return cols;
}
