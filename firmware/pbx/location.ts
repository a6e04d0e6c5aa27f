import type { Clock, TimerHandle } from '../core/index.js';

/**
 * The location service (RFC 3261 section 10): which contacts each account is
 * reachable at, until when, and over which flow. Bindings are plain data; the
 * store persists them so they survive a restart of the appliance until they
 * expire.
 */

export type TransportName = 'udp' | 'tcp' | 'tls' | 'ws' | 'wss';

export interface Binding {
  readonly extension: string;
  /** The Contact URI as the phone sent it (GRUU and other parameters kept). */
  readonly contact: string;
  /** Absolute expiry, ms since epoch. */
  readonly expiresAt: number;
  readonly callId: string;
  readonly cseq: number;
  readonly transport: TransportName;
  /** Where the REGISTER came from: requests to the phone go back there. */
  readonly source: { readonly address: string; readonly port: number };
  /** The connection it registered on (TCP/TLS), reused to reach the phone (RFC 5626 style). */
  readonly flowId?: string;
  readonly userAgent?: string;
  readonly registeredAt: number;
}

export interface BindingPersistence {
  load(): Binding[];
  save(bindings: readonly Binding[]): void;
}

/** How long after a change the bindings are written: a burst of REGISTERs costs one write. */
const SAVE_DELAY_MS = 500;
/** How often expired bindings are swept out (they are also ignored on every read). */
const SWEEP_MS = 5_000;

export class LocationService {
  private readonly byExt = new Map<string, Binding[]>();
  private saveTimer: TimerHandle | null = null;
  private sweepTimer: TimerHandle | null = null;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly clock: Clock, private readonly persistence?: BindingPersistence) {
    const now = clock.now();
    for (const b of persistence?.load() ?? []) {
      if (b.expiresAt > now) this.put(b);
    }
  }

  /** Current (unexpired) bindings of one account. */
  lookup(extension: string): Binding[] {
    const now = this.clock.now();
    return (this.byExt.get(extension) ?? []).filter((b) => b.expiresAt > now);
  }

  all(): Binding[] {
    const now = this.clock.now();
    return [...this.byExt.values()].flat().filter((b) => b.expiresAt > now);
  }

  /** Number of accounts with at least one live binding. */
  registeredAccounts(): number {
    return [...this.byExt.keys()].filter((e) => this.lookup(e).length > 0).length;
  }

  /** Insert or replace the binding for (extension, contact key). */
  upsert(b: Binding, sameContact: (a: string, b: string) => boolean): void {
    const list = (this.byExt.get(b.extension) ?? []).filter((x) => !sameContact(x.contact, b.contact));
    list.push(b);
    this.byExt.set(b.extension, list);
    this.changed();
  }

  remove(extension: string, contact: string, sameContact: (a: string, b: string) => boolean): void {
    const list = this.byExt.get(extension);
    if (!list) return;
    const rest = list.filter((x) => !sameContact(x.contact, contact));
    if (rest.length) this.byExt.set(extension, rest); else this.byExt.delete(extension);
    this.changed();
  }

  removeAll(extension: string): void {
    if (this.byExt.delete(extension)) this.changed();
  }

  /** Forget the flow of bindings whose connection closed; the binding itself stays until it expires. */
  flowClosed(flowId: string): void {
    let touched = false;
    for (const [ext, list] of this.byExt) {
      const next = list.map((b) => {
        if (b.flowId !== flowId) return b;
        touched = true;
        const { flowId: _gone, ...rest } = b;
        return rest;
      });
      this.byExt.set(ext, next);
    }
    if (touched) this.changed();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Start sweeping expired bindings so listeners (LEDs, status) hear of expiry. */
  start(): void {
    const tick = (): void => {
      this.sweep();
      this.sweepTimer = this.clock.setTimer(SWEEP_MS, tick);
    };
    this.sweepTimer = this.clock.setTimer(SWEEP_MS, tick);
  }

  sweep(): void {
    const now = this.clock.now();
    let removed = false;
    for (const [ext, list] of this.byExt) {
      const live = list.filter((b) => b.expiresAt > now);
      if (live.length !== list.length) {
        removed = true;
        if (live.length) this.byExt.set(ext, live); else this.byExt.delete(ext);
      }
    }
    if (removed) this.changed();
  }

  /** Write pending changes now and stop timers. */
  stop(): void {
    this.sweepTimer?.cancel();
    this.sweepTimer = null;
    if (this.saveTimer) {
      this.saveTimer.cancel();
      this.saveTimer = null;
      this.persistence?.save(this.all());
    }
  }

  private put(b: Binding): void {
    const list = this.byExt.get(b.extension) ?? [];
    list.push(b);
    this.byExt.set(b.extension, list);
  }

  private changed(): void {
    for (const l of this.listeners) {
      try { l(); } catch { /* listeners must not break registration */ }
    }
    if (this.persistence && !this.saveTimer) {
      this.saveTimer = this.clock.setTimer(SAVE_DELAY_MS, () => {
        this.saveTimer = null;
        this.persistence?.save(this.all());
      });
    }
  }
}
