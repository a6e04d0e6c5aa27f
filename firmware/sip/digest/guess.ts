import { type Clock, type Counters, type Logger, PbxError } from '../../core/index.js';

/**
 * Per-account password-guessing windows (issue 20). The source throttle
 * (throttle.ts) stops one address that fails often; this stops the slow
 * guesser that stays under it (9 a minute, forever) and the one that spreads
 * its guesses over many addresses:
 *
 * - failures are counted per (account, source) and per account over sliding
 *   windows, 10 a minute, 30 an hour and 100 a day by default;
 * - beyond a window's limit the account refuses every attempt from that
 *   source until enough of the window's failures age out; beyond the
 *   account-wide limit it refuses every untrusted source (one the account has
 *   not authenticated from within TRUSTED_SOURCE_MS);
 * - a connection (TCP, TLS, WebSocket) that authenticated as the account is
 *   never refused for it, so the phone behind the guesser's NAT keeps working.
 *
 * User names are counted whether or not the account exists, so the lockout
 * itself tells a scanner nothing about which extensions are real. Memory is
 * bounded: at most `maxTracked` keys, each with at most the largest limit of
 * failure times.
 */

export interface GuessWindow {
  /** Failures allowed within the window; the next attempt is refused. */
  readonly limit: number;
  readonly ms: number;
}

export const DEFAULT_GUESS_WINDOWS: readonly GuessWindow[] = [
  { limit: 10, ms: 60_000 },
  { limit: 30, ms: 3_600_000 },
  { limit: 100, ms: 86_400_000 },
];
/** A source an account authenticated from within this time is trusted for it (not refused by the account-wide lock). */
export const TRUSTED_SOURCE_MS = 86_400_000;
/** Keys (account and source, or account alone) whose failures are kept; the least recently failing go first. */
export const MAX_GUESS_TRACKED = 4_000;
/** Authenticated connections remembered; flow ids are never reused, so a closed one's entry is harmless. */
export const MAX_AUTHENTICATED_FLOWS = 20_000;
/** Sources remembered as trusted per account. */
export const MAX_TRUSTED_SOURCES = 20_000;

/** The key of the account-wide count. */
const ANY = '*';

export interface GuessGuardOptions {
  readonly clock: Clock;
  /**
   * The windows, or a getter read at every attempt so a config change applies
   * at once (failures already counted stay and are judged by the new limits).
   * A getter's invalid answer is logged and the windows in force are kept.
   */
  readonly windows?: readonly GuessWindow[] | (() => readonly GuessWindow[]);
  readonly maxTracked?: number;
  /** Bumped as sip.guess.lock, sip.guess.refused, sip.guess.unlock. */
  readonly counters?: Counters;
  /** Each lock and lift gets a line: extension, source, failures, until; never a password (none reaches the guard). */
  readonly log?: Logger;
}

export interface GuessLockout {
  readonly extension: string;
  /** The source refused; for an account-wide lock, the latest source that failed. */
  readonly address: string;
  /** 'source': this account from this source; 'account': this account from every untrusted source. */
  readonly scope: 'source' | 'account';
  /** Failures within the window that is over its limit. */
  readonly failures: number;
  /** The window that is over its limit, ms. */
  readonly windowMs: number;
  /** Clock time at which an attempt is taken again. */
  readonly until: number;
}

interface Failure {
  readonly at: number;
  readonly source: string;
}

function key(extension: string, source: string): string {
  return `${extension}\0${source}`;
}

function validWindows(windows: readonly GuessWindow[]): boolean {
  return windows.length > 0 && windows.every((w) => Number.isInteger(w.limit) && w.limit >= 1 && w.ms > 0);
}

export class GuessGuard {
  private readonly clock: Clock;
  private readonly source: (() => readonly GuessWindow[]) | undefined;
  /** The windows in force, and what the getter answered last (so an unchanged answer costs one comparison). */
  private windowsNow: readonly GuessWindow[] = [];
  private windowsKey = '';
  private lastAnswer: readonly GuessWindow[] | undefined;
  /** The last invalid answer logged, so it is logged once. */
  private refusedKey = '';
  private keepNow = 0;
  private longestNow = 0;
  private readonly maxTracked: number;
  private readonly counters: Counters | undefined;
  private readonly log: Logger | undefined;
  /** Failures per key, oldest first, at most `keep`; map order is recency. */
  private readonly failures = new Map<string, Failure[]>();
  /** flow id -> extensions authenticated on it. */
  private readonly flows = new Map<string, Set<string>>();
  /** key(extension, source) -> time of the latest success from there. */
  private readonly trusted = new Map<string, number>();

  constructor(opts: GuessGuardOptions) {
    this.clock = opts.clock;
    const w = opts.windows ?? DEFAULT_GUESS_WINDOWS;
    this.source = typeof w === 'function' ? w : undefined;
    const first = typeof w === 'function' ? w() : w;
    if (!validWindows(first)) throw new PbxError('config', 'guessing windows need a positive limit and length each');
    this.apply(first);
    this.lastAnswer = first;
    this.log = opts.log;
    this.maxTracked = Math.max(1, opts.maxTracked ?? MAX_GUESS_TRACKED);
    this.counters = opts.counters;
  }

  /** The windows in force now (read through the getter, if one was given). */
  get windows(): readonly GuessWindow[] {
    return this.refresh();
  }

  private refresh(): readonly GuessWindow[] {
    if (this.source === undefined) return this.windowsNow;
    const next = this.source();
    if (next === this.lastAnswer) return this.windowsNow;
    this.lastAnswer = next;
    if (this.keyOf(next) === this.windowsKey) return this.windowsNow;
    if (!validWindows(next)) {
      if (this.keyOf(next) !== this.refusedKey) {
        this.refusedKey = this.keyOf(next);
        this.log?.warn({ windows: next }, 'sip digest: invalid guessing windows ignored; the ones in force stay');
      }
      return this.windowsNow;
    }
    this.apply(next);
    this.log?.info({ windows: next.map((x) => ({ limit: x.limit, windowSec: Math.round(x.ms / 1000) })) }, 'sip digest: guessing windows changed');
    return this.windowsNow;
  }

  private keyOf(windows: readonly GuessWindow[]): string {
    return windows.map((x) => `${x.limit}/${x.ms}`).join(',');
  }

  private apply(windows: readonly GuessWindow[]): void {
    this.windowsNow = windows.map((x) => ({ limit: x.limit, ms: x.ms }));
    this.windowsKey = this.keyOf(windows);
    this.keepNow = Math.max(...windows.map((x) => x.limit));
    this.longestNow = Math.max(...windows.map((x) => x.ms));
  }

  /** Is this flow one the account authenticated on? */
  isAuthenticatedFlow(flowId: string | undefined, extension?: string): boolean {
    if (flowId === undefined) return false;
    const exts = this.flows.get(flowId);
    return exts !== undefined && (extension === undefined || exts.has(extension));
  }

  /**
   * Why an attempt at `extension` from `source` (on `flowId`) is refused
   * before any password work, or undefined when it may be tried. A refusal is
   * counted (sip.guess.refused) but is not itself a failure, so the windows
   * age out on time.
   */
  refusal(extension: string, source: string, flowId?: string): GuessLockout | undefined {
    if (this.isAuthenticatedFlow(flowId, extension)) return undefined;
    const now = this.clock.now();
    const own = this.lockOf(extension, source, 'source', now);
    const all = this.isTrusted(extension, source, now) ? undefined : this.lockOf(extension, ANY, 'account', now);
    const lock = own !== undefined && (all === undefined || own.until >= all.until) ? own : all;
    if (lock !== undefined) this.counters?.inc('sip.guess.refused');
    return lock;
  }

  /** A wrong password (or an unknown user: counted alike) for `extension` from `source`. */
  recordFailure(extension: string, source: string): void {
    const now = this.clock.now();
    this.refresh();
    const keep = this.keepNow;
    const longest = this.longestNow;
    const before = [this.lockOf(extension, source, 'source', now), this.lockOf(extension, ANY, 'account', now)];
    for (const k of [key(extension, source), key(extension, ANY)]) {
      const list = (this.failures.get(k) ?? []).filter((f) => now - f.at < longest);
      list.push({ at: now, source });
      if (list.length > keep) list.splice(0, list.length - keep);
      this.failures.delete(k);
      this.failures.set(k, list);
    }
    while (this.failures.size > this.maxTracked) {
      const first = this.failures.keys().next();
      if (first.done === true) break;
      this.failures.delete(first.value);
    }
    const after = [this.lockOf(extension, source, 'source', now), this.lockOf(extension, ANY, 'account', now)];
    after.forEach((lock, i) => {
      if (lock === undefined || before[i] !== undefined) return;
      this.counters?.inc(`sip.guess.lock.${lock.scope}`);
      this.log?.warn({
        extension, source, scope: lock.scope, failures: lock.failures, windowSec: Math.round(lock.windowMs / 1000), until: new Date(lock.until).toISOString(),
      }, lock.scope === 'source'
        ? 'sip digest: account refuses this source after repeated wrong passwords'
        : 'sip digest: account refuses untrusted sources after repeated wrong passwords');
    });
  }

  /** The right password: the source becomes trusted for the account, the flow (if any) authenticated. */
  recordSuccess(extension: string, source: string, flowId?: string): void {
    const now = this.clock.now();
    const k = key(extension, source);
    this.trusted.delete(k);
    this.trusted.set(k, now);
    while (this.trusted.size > MAX_TRUSTED_SOURCES) this.dropFirst(this.trusted);
    if (flowId !== undefined) {
      const exts = this.flows.get(flowId) ?? new Set<string>();
      exts.add(extension);
      this.flows.delete(flowId);
      this.flows.set(flowId, exts);
      while (this.flows.size > MAX_AUTHENTICATED_FLOWS) this.dropFirst(this.flows);
    }
  }

  /** Whole seconds until a lockout lifts (at least 1), for Retry-After. */
  secondsLeft(lock: GuessLockout): number {
    return Math.max(1, Math.ceil((lock.until - this.clock.now()) / 1000));
  }

  /** Lockouts in force, for `pbx status`, `pbx block list` and the page. */
  lockouts(): GuessLockout[] {
    const now = this.clock.now();
    const out: GuessLockout[] = [];
    for (const k of [...this.failures.keys()]) {
      const [extension = '', source = ''] = k.split('\0');
      const lock = source === ANY ? this.lockOf(extension, ANY, 'account', now) : this.lockOf(extension, source, 'source', now);
      if (lock !== undefined) out.push(lock);
    }
    return out;
  }

  /**
   * Lifts what `source` caused (`pbx block remove`, the page): its failures
   * for every account, including its share of account-wide counts. True when
   * a lockout in force was lifted.
   */
  unlock(source: string, by = 'admin'): boolean {
    const lifted = this.lockouts().filter((l) => l.address === source);
    for (const [k, list] of [...this.failures]) {
      const [, keySource] = k.split('\0');
      if (keySource === source) { this.failures.delete(k); continue; }
      if (keySource === ANY) {
        const kept = list.filter((f) => f.source !== source);
        if (kept.length === 0) this.failures.delete(k);
        else this.failures.set(k, kept);
      }
    }
    for (const l of lifted) {
      this.counters?.inc('sip.guess.unlock');
      this.log?.info({ extension: l.extension, source, scope: l.scope, failures: l.failures, by }, 'sip digest: account lockout lifted');
    }
    return lifted.length > 0;
  }

  private isTrusted(extension: string, source: string, now: number): boolean {
    const at = this.trusted.get(key(extension, source));
    return at !== undefined && now - at < TRUSTED_SOURCE_MS;
  }

  /** The lockout of one key: for each window over its limit, until enough failures age out; the latest wins. */
  private lockOf(extension: string, source: string, scope: GuessLockout['scope'], now: number): GuessLockout | undefined {
    const list = this.failures.get(key(extension, source));
    if (list === undefined) return undefined;
    let lock: GuessLockout | undefined;
    for (const w of this.windows) {
      const inWindow = list.filter((f) => now - f.at < w.ms);
      if (inWindow.length < w.limit) continue;
      // The attempt is taken again once inWindow.length - limit + 1 of these have aged out.
      const oldest = inWindow[inWindow.length - w.limit];
      const until = (oldest?.at ?? now) + w.ms;
      if (lock === undefined || until > lock.until) {
        const latest = inWindow[inWindow.length - 1]?.source ?? source;
        lock = { extension, address: scope === 'account' ? latest : source, scope, failures: inWindow.length, windowMs: w.ms, until };
      }
    }
    return lock;
  }

  private dropFirst<V>(map: Map<string, V>): void {
    const first = map.keys().next();
    if (first.done !== true) map.delete(first.value);
  }
}

/** The config's guessing limits (sip.guessesPerMinute/Hour/Day). */
export interface GuessLimits { readonly guessesPerMinute: number; readonly guessesPerHour: number; readonly guessesPerDay: number }

/**
 * A windows getter for GuessGuard that follows the config: `limits` is read at
 * every attempt (e.g. `() => store.data.sip`) and the windows are rebuilt only
 * when it answers with another object (the config is frozen and replaced on
 * every change).
 */
export function guessWindowsOf(limits: () => GuessLimits): () => readonly GuessWindow[] {
  let seen: GuessLimits | undefined;
  let windows: readonly GuessWindow[] = [];
  return () => {
    const l = limits();
    if (l !== seen) {
      seen = l;
      windows = [{ limit: l.guessesPerMinute, ms: 60_000 }, { limit: l.guessesPerHour, ms: 3_600_000 }, { limit: l.guessesPerDay, ms: 86_400_000 }];
    }
    return windows;
  };
}

/** A source block or an account lockout, as `pbx block list` and the page show them. */
export interface AuthBlock {
  readonly address: string;
  readonly until: number;
  readonly failures: number;
  readonly extension?: string;
  /** 'address': the whole source (throttle.ts); 'source': one account from it; 'account': one account from untrusted sources. */
  readonly scope: 'address' | 'source' | 'account';
}

/** The source throttle and the guessing windows as one list with one lift (BlockControl in control/commands.ts fits). */
export function authBlocks(
  throttle: { blocked(): readonly { address: string; until: number; failures: number; extension?: string }[]; unblock(address: string, by?: string): boolean },
  guard: GuessGuard,
): { blocked(): AuthBlock[]; unblock(address: string, by?: string): boolean } {
  return {
    blocked: () => [
      ...throttle.blocked().map((b): AuthBlock => ({ ...b, scope: 'address' })),
      ...guard.lockouts().map((l): AuthBlock => ({ address: l.address, until: l.until, failures: l.failures, extension: l.extension, scope: l.scope })),
    ],
    unblock: (address, by) => {
      const a = throttle.unblock(address, by);
      const b = guard.unlock(address, by);
      return a || b;
    },
  };
}
