import type { Clock, TimerHandle } from '../core/index.js';
import { getHeaders, type SipRequest } from '../sip/message/index.js';
import { parseContacts } from './contact.js';

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
  /**
   * The connection the phone registered on or last talked on (TCP/TLS), the
   * only way to reach it (RFC 5626 5.3). Absent on a stream transport means
   * the connection closed: the binding is unreachable until the phone talks
   * to the box again (see followFlow).
   */
  readonly flowId?: string;
  readonly userAgent?: string;
  readonly registeredAt: number;
  /** RFC 5626 4.1 / RFC 5627: the phone's +sip.instance URN, which names it across contacts and connections. */
  readonly instance?: string;
  /** RFC 5626 4.2: the reg-id beside the instance; (instance, reg-id) names one flow of the phone. */
  readonly regId?: number;
}

/** Where an authenticated request came from, as followFlow needs it. */
export interface FlowSource {
  readonly transport: TransportName;
  readonly address: string;
  readonly port: number;
  readonly flowId?: string;
}

/**
 * Can the box send this binding a request now? Over UDP it writes to the
 * source address. On a stream transport only the phone's own connection
 * works: a phone that registered from an ephemeral port (or said ":-2") does
 * not listen, and one that cannot accept TLS (baresip) would fail a fresh
 * connection after a 32 s transaction timeout anyway. So a closed flow is
 * unreachable rather than "try a new connection".
 */
export function isReachable(b: Binding): boolean {
  return b.transport === 'udp' || b.flowId !== undefined;
}

/**
 * The binding's key (RFC 5627 section 7.1 and RFC 5626 section 6): the
 * instance (with its reg-id) when both sides carry one, else the contact URI.
 * A phone that re-registers from a new connection with a new contact then
 * replaces its old binding instead of leaving a dead twin behind.
 */
export function sameBinding(
  a: Pick<Binding, 'contact' | 'instance' | 'regId'>, b: Pick<Binding, 'contact' | 'instance' | 'regId'>,
  sameContact: (a: string, b: string) => boolean,
): boolean {
  if (a.instance !== undefined && b.instance !== undefined) return a.instance === b.instance && a.regId === b.regId;
  return sameContact(a.contact, b.contact);
}

/** The +sip.instance of a request's first Contact that has one (INVITE, SUBSCRIBE ... carry it too). */
export function requestInstance(req: SipRequest): string | undefined {
  let contacts;
  try { contacts = parseContacts(getHeaders(req, 'contact').filter((v) => v.trim() !== '*')); } catch { return undefined; }
  return contacts.find((c) => c.instance !== undefined)?.instance;
}

export interface BindingPersistence {
  load(): Binding[];
  /** Write these bindings (a file store may do it in the background). */
  save(bindings: readonly Binding[]): void;
  /** Resolves once every save so far is on disk. */
  flush?(): Promise<void>;
}

/** How long after a change the bindings are written: a burst of REGISTERs costs one write. */
const SAVE_DELAY_MS = 500;
/** How often expired bindings are swept out (they are also ignored on every read). */
const SWEEP_MS = 5_000;

export class LocationService {
  private readonly byExt = new Map<string, Binding[]>();
  /**
   * Which accounts have a binding on each connection: a closed flow (and the
   * idle check of every flow) then costs the bindings on it, not every
   * binding of the box. When a switch reboots, a thousand flows close at once.
   */
  private readonly byFlow = new Map<string, Set<string>>();
  private saveTimer: TimerHandle | null = null;
  private sweepTimer: TimerHandle | null = null;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly clock: Clock, private readonly persistence?: BindingPersistence) {
    const now = clock.now();
    for (const b of persistence?.load() ?? []) {
      if (b.expiresAt > now) this.put(b);
    }
  }

  /**
   * The bindings of one account the box can reach now: what call routing
   * forks to. A binding whose connection is gone is left out, so a call to a
   * phone that is only unreachable fails at once (480) instead of after a
   * transaction timeout; it comes back the moment the phone talks again.
   */
  lookup(extension: string): Binding[] {
    return this.bindings(extension).filter(isReachable);
  }

  /** Every current (unexpired) binding of one account, reachable or not: what the registrar counts and lists. */
  bindings(extension: string): Binding[] {
    const now = this.clock.now();
    return (this.byExt.get(extension) ?? []).filter((b) => b.expiresAt > now);
  }

  all(): Binding[] {
    const now = this.clock.now();
    return [...this.byExt.values()].flat().filter((b) => b.expiresAt > now);
  }

  /** Number of accounts with at least one unexpired binding. */
  registeredAccounts(): number {
    return [...this.byExt.keys()].filter((e) => this.bindings(e).length > 0).length;
  }

  /** Number of unexpired bindings the box cannot reach now (their connection closed). */
  unreachableCount(): number {
    return this.all().filter((b) => !isReachable(b)).length;
  }

  /** Insert or replace the binding with the same key (sameBinding: instance and reg-id, else contact). */
  upsert(b: Binding, sameContact: (a: string, b: string) => boolean): void {
    const list = (this.byExt.get(b.extension) ?? []).filter((x) => !sameBinding(x, b, sameContact));
    list.push(b);
    this.setList(b.extension, list);
    this.changed();
  }

  remove(extension: string, contact: string, sameContact: (a: string, b: string) => boolean): void {
    const list = this.byExt.get(extension);
    if (!list) return;
    const rest = list.filter((x) => !sameContact(x.contact, contact));
    this.setList(extension, rest);
    this.changed();
  }

  /** Remove the bindings of one account that match `which`. */
  removeWhere(extension: string, which: (b: Binding) => boolean): void {
    const list = this.byExt.get(extension);
    if (!list) return;
    const rest = list.filter((x) => !which(x));
    if (rest.length === list.length) return;
    this.setList(extension, rest);
    this.changed();
  }

  removeAll(extension: string): void {
    if (!this.byExt.has(extension)) return;
    this.setList(extension, []);
    this.changed();
  }

  /** Forget the flow of bindings whose connection closed; the binding itself stays until it expires. */
  flowClosed(flowId: string): void {
    const exts = this.byFlow.get(flowId);
    if (!exts) return;
    for (const ext of [...exts]) {
      const list = this.byExt.get(ext) ?? [];
      this.setList(ext, list.map((b) => {
        if (b.flowId !== flowId) return b;
        const { flowId: _gone, ...rest } = b;
        return rest;
      }));
    }
    this.changed();
  }

  /** Whether an unexpired binding is reached over this connection (the idle timeout spares it, RFC 5626). */
  flowInUse(flowId: string): boolean {
    const exts = this.byFlow.get(flowId);
    if (!exts) return false;
    const now = this.clock.now();
    for (const ext of exts) {
      if ((this.byExt.get(ext) ?? []).some((b) => b.flowId === flowId && b.expiresAt > now)) return true;
    }
    return false;
  }

  /**
   * An authenticated request of `extension` arrived over `src`: the phone is
   * alive on that connection, so its bindings there follow it (RFC 5626
   * section 5.3 in spirit: the flow a phone last used is how to reach it).
   * After a restart of the box, or a phone's reconnect, a binding then
   * becomes reachable on the phone's first request on the new connection,
   * not only at its next REGISTER.
   *
   * Which bindings move, on the same stream transport only (a TLS binding
   * never moves to plain TCP):
   *  - those with the request's +sip.instance: the phone named itself and
   *    digest proved the account, so even a live older flow gives way;
   *  - those with no live flow whose source address is the request's: the
   *    same account on the same host. A binding with a live flow stays, since
   *    it may be a second phone of the account on that host.
   * Returns how many bindings moved.
   */
  followFlow(extension: string, src: FlowSource, instance?: string): number {
    const flowId = src.flowId;
    if (src.transport === 'udp' || flowId === undefined) return 0;
    const list = this.byExt.get(extension);
    if (!list) return 0;
    const now = this.clock.now();
    let moved = 0;
    const next = list.map((b) => {
      if (b.expiresAt <= now || b.transport !== src.transport || b.flowId === flowId) return b;
      const byInstance = instance !== undefined && b.instance === instance;
      const byAddress = b.flowId === undefined && b.source.address === src.address;
      if (!byInstance && !byAddress) return b;
      moved++;
      const follows: Binding = { ...b, flowId, source: { address: src.address, port: src.port } };
      return follows;
    });
    if (moved > 0) {
      this.setList(extension, next);
      this.changed();
    }
    return moved;
  }

  /** followFlow for a request: reads the instance from its Contact. */
  requestAuthenticated(extension: string, req: SipRequest, src: FlowSource): number {
    if (src.transport === 'udp' || src.flowId === undefined) return 0;
    return this.followFlow(extension, src, requestInstance(req));
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
        this.setList(ext, live);
      }
    }
    if (removed) this.changed();
  }

  /** Write pending changes now and stop timers; resolves once they are on disk. */
  async stop(): Promise<void> {
    this.sweepTimer?.cancel();
    this.sweepTimer = null;
    if (this.saveTimer) {
      this.saveTimer.cancel();
      this.saveTimer = null;
      this.persistence?.save(this.all());
    }
    await this.persistence?.flush?.();
  }

  private put(b: Binding): void {
    this.setList(b.extension, [...(this.byExt.get(b.extension) ?? []), b]);
  }

  /** The one way an account's bindings change: keeps byFlow in step (an empty list removes the account). */
  private setList(ext: string, list: Binding[]): void {
    for (const b of this.byExt.get(ext) ?? []) {
      if (b.flowId === undefined) continue;
      const exts = this.byFlow.get(b.flowId);
      exts?.delete(ext);
      if (exts?.size === 0) this.byFlow.delete(b.flowId);
    }
    if (list.length === 0) {
      this.byExt.delete(ext);
      return;
    }
    this.byExt.set(ext, list);
    for (const b of list) {
      if (b.flowId === undefined) continue;
      let exts = this.byFlow.get(b.flowId);
      if (!exts) this.byFlow.set(b.flowId, exts = new Set());
      exts.add(ext);
    }
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
