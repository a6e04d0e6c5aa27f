import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Low } from 'lowdb';
import type { ConfigHealth } from '../api/index.js';
import { type Clock, type Logger, PbxError, isPbxError, systemClock } from '../core/index.js';
import { CONFIG_FILE_MODE, DurableJsonFile, keepAside, removeStaleTemps } from './durable-file.js';
import { migrate } from './migrations.js';
import { type Config, ConfigSchema, CURRENT_SCHEMA_VERSION, defaultConfig, formatIssues } from './schema.js';

export const CONFIG_FILE = 'config.json';
export const LAST_GOOD_SUFFIX = '.last-good';

export type DeepReadonly<T> = T extends readonly (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

export type ReadonlyConfig = DeepReadonly<Config>;

/** What the board's error LED and the admin page show about the config file: the API's shape. */
export type { ConfigHealth } from '../api/index.js';

export interface ConfigStoreOptions {
  readonly log: Logger;
  readonly clock?: Clock;
  /**
   * Look, don't touch: load and report health, but never migrate, repair,
   * move a broken file aside or write (for read-only commands such as
   * `pbx status`, so that looking never hides a problem from the appliance).
   */
  readonly readOnly?: boolean;
}

export type ConfigListener = (config: ReadonlyConfig) => void;
export type ConfigMutation = (draft: Config) => void | Config | Promise<void | Config>;

export interface DecodedConfig {
  readonly config: Config;
  /** The schemaVersion the file was written in. */
  readonly fromVersion: number;
}

/** Raw JSON -> migrated and validated config, or PbxError 'config' naming each bad path. */
export function decodeConfig(raw: unknown, now: number): DecodedConfig {
  const { data, fromVersion } = migrate(raw, { now });
  const r = ConfigSchema.safeParse(data);
  if (!r.success) throw new PbxError('config', formatIssues(r.error.issues));
  return { config: r.data, fromVersion };
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}

/**
 * The appliance's configuration: DATA/config.json, held in memory as a frozen
 * value, changed only through update(), which validates and writes durably,
 * one update at a time. A copy of the last file that was known good is kept
 * beside it; a file that fails to parse or validate is moved aside (never
 * overwritten) and the store boots from that copy, or from defaults.
 */
export class ConfigStore {
  private readonly db: Low<Config>;
  private readonly lastGood: DurableJsonFile<Config>;
  private readonly listeners = new Set<ConfigListener>();
  private queue: Promise<void> = Promise.resolve();
  private lastFromVersion = CURRENT_SCHEMA_VERSION;
  private currentHealth: ConfigHealth = { ok: true };

  private constructor(
    readonly dataDir: string,
    private readonly log: Logger,
    private readonly clock: Clock,
    readonly readOnly: boolean,
  ) {
    const main = new DurableJsonFile<Config>(join(dataDir, CONFIG_FILE), (raw) => {
      const d = decodeConfig(raw, this.clock.now());
      this.lastFromVersion = d.fromVersion;
      return d.config;
    });
    this.db = new Low<Config>(main, deepFreeze(defaultConfig()));
    this.lastGood = new DurableJsonFile<Config>(join(dataDir, CONFIG_FILE + LAST_GOOD_SUFFIX), (raw) => decodeConfig(raw, this.clock.now()).config);
  }

  static async open(dataDir: string, opts: ConfigStoreOptions): Promise<ConfigStore> {
    const store = new ConfigStore(dataDir, opts.log, opts.clock ?? systemClock, opts.readOnly ?? false);
    if (store.readOnly) {
      await store.peek();
      return store;
    }
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const stale = await removeStaleTemps(dataDir, [CONFIG_FILE, CONFIG_FILE + LAST_GOOD_SUFFIX]);
    if (stale.length > 0) store.log.warn({ stale }, 'removed temp files left by an interrupted config write');
    await store.load(true);
    return store;
  }

  get path(): string {
    return join(this.dataDir, CONFIG_FILE);
  }

  get lastGoodPath(): string {
    return this.lastGood.path;
  }

  /** The current configuration; frozen, so change it only through update(). */
  get data(): ReadonlyConfig {
    return this.db.data;
  }

  get health(): ConfigHealth {
    return this.currentHealth;
  }

  /**
   * Apply `fn` to a copy of the config (it may mutate the draft or return a
   * replacement), validate the result, write it durably, then refresh the
   * last-good copy. An invalid result throws PbxError 'config' and nothing is
   * written. Updates run one at a time in call order.
   */
  update(fn: ConfigMutation): Promise<ReadonlyConfig> {
    if (this.readOnly) return Promise.reject(new PbxError('invalid-state', 'the config was opened read-only'));
    return this.enqueue(async () => {
      const draft = structuredClone(this.db.data) as Config;
      const returned = await fn(draft);
      const r = ConfigSchema.safeParse(returned ?? draft);
      if (!r.success) throw new PbxError('config', formatIssues(r.error.issues));
      await this.commit(r.data);
      return this.db.data;
    });
  }

  /**
   * Re-read config.json, e.g. after the CLI changed it while the appliance
   * runs. A bad file is moved aside and replaced by the config in memory.
   */
  reload(): Promise<ConfigHealth> {
    return this.enqueue(async () => {
      await this.load(false);
      return this.currentHealth;
    });
  }

  /** Called after every successful update or reload; returns an unsubscribe function. */
  onChange(listener: ConfigListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private enqueue<R>(job: () => Promise<R>): Promise<R> {
    const run = this.queue.then(job);
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Write main then last-good; memory changes only once main is on disk. */
  private async commit(next: Config): Promise<void> {
    const prev = this.db.data;
    this.db.data = next;
    try {
      await this.db.write();
    } catch (e) {
      this.db.data = prev;
      throw e;
    }
    await this.writeLastGood(next);
    this.publish(next);
  }

  private async writeLastGood(cfg: Config): Promise<void> {
    try {
      await this.lastGood.write(cfg);
    } catch (e) {
      // config.json already holds the change, so the update stands.
      this.log.error({ err: e }, 'could not refresh the last-good config copy');
    }
  }

  private publish(next: Config): void {
    this.db.data = deepFreeze(next);
    for (const l of this.listeners) {
      try {
        l(this.db.data);
      } catch (e) {
        this.log.error({ err: e }, 'config change listener threw');
      }
    }
  }

  private stamp(): string {
    return new Date(this.clock.now()).toISOString().replace(/[:.]/g, '-');
  }

  /** Read-only load: what the file says, or the last good copy (or defaults) in memory, and why. */
  private async peek(): Promise<void> {
    try {
      const loaded = await this.db.adapter.read();
      if (loaded) { this.db.data = deepFreeze(loaded); return; }
      const lastGood = await this.lastGood.read().catch(() => null);
      if (lastGood) this.db.data = deepFreeze(lastGood);
    } catch (e) {
      if (!isPbxError(e)) throw e;
      const lastGood = await this.lastGood.read().catch(() => null);
      if (lastGood) this.db.data = deepFreeze(lastGood);
      this.currentHealth = { ok: false, problem: `${CONFIG_FILE}: ${e.message}`, brokenCopy: this.path };
    }
  }

  private async load(boot: boolean): Promise<void> {
    let loaded: Config | null = null;
    let problem: string | null = null;
    try {
      loaded = await this.db.adapter.read();
    } catch (e) {
      if (!isPbxError(e)) throw e;
      problem = `${CONFIG_FILE}: ${e.message}`;
    }

    if (loaded) {
      if (this.lastFromVersion < CURRENT_SCHEMA_VERSION) {
        this.log.info({ from: this.lastFromVersion, to: CURRENT_SCHEMA_VERSION }, 'migrated config.json to the current schema');
        this.db.data = loaded;
        await this.db.write();
      } else {
        await chmod(this.path, CONFIG_FILE_MODE);
      }
      await this.writeLastGood(loaded);
      this.currentHealth = { ok: true };
      this.publish(loaded);
      return;
    }

    if (problem === null) {
      // No config.json: first boot, or the file was deleted by hand.
      const fallback = boot ? await this.readLastGood() : this.db.data;
      if (fallback) this.log.warn('config.json was missing; restored it from the last good copy');
      else this.log.info('first boot: writing the default configuration');
      await this.commit(structuredClone(fallback ?? defaultConfig()) as Config);
      return;
    }

    const brokenCopy = await keepAside(this.path, this.stamp());
    const fallback = boot ? await this.readLastGood() : this.db.data;
    this.log.error(
      { problem, brokenCopy, using: fallback ? 'last-good' : 'defaults' },
      'config.json is invalid; kept it aside and booted from the last good copy',
    );
    this.currentHealth = { ok: false, problem, brokenCopy };
    await this.commit(structuredClone(fallback ?? defaultConfig()) as Config);
  }

  /** The last-good copy, or null when it is missing or itself bad (then kept aside too). */
  private async readLastGood(): Promise<Config | null> {
    try {
      return await this.lastGood.read();
    } catch (e) {
      if (!isPbxError(e)) throw e;
      const kept = await keepAside(this.lastGood.path, this.stamp());
      this.log.error({ problem: e.message, brokenCopy: kept }, 'the last-good config copy is invalid too; using defaults');
      return null;
    }
  }
}
