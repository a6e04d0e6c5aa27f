import { type Clock, Counters, type Logger, type TimerHandle, silentLogger } from '../core/index.js';
import { DAY_MS } from './issue.js';
import { type HostIdentity, missingNames, serverAltNames } from './names.js';
import type { Pki, RenewalRecord, RenewReason, TlsMaterial } from './store.js';

export const DEFAULT_RENEW_BEFORE_DAYS = 30;
export const CHECK_INTERVAL_MS = DAY_MS;

export interface CertRenewerOptions {
  readonly pki: Pki;
  readonly clock: Clock;
  /** Renew when fewer than this many days of validity remain. */
  readonly renewBeforeDays?: number;
  /** Defaults to the identity source the Pki was loaded with. */
  readonly identity?: () => HostIdentity;
  readonly logger?: Logger;
  readonly counters?: Counters;
}

export type RenewOutcome = { readonly renewed: false } | { readonly renewed: true; readonly record: RenewalRecord };

export type RenewListener = (material: TlsMaterial) => void;

/**
 * Keeps the server certificate fresh: daily, and on demand, it checks the
 * remaining validity and whether the names still cover the box, and on renewal
 * hands the new material to listeners (TLS servers call setSecureContext, so
 * established connections carry on with the old certificate).
 */
export class CertRenewer {
  private readonly pki: Pki;
  private readonly clock: Clock;
  private readonly renewBeforeMs: number;
  private readonly identity: () => HostIdentity;
  private readonly logger: Logger;
  readonly counters: Counters;
  private readonly listeners = new Set<RenewListener>();
  private timer: TimerHandle | null = null;
  private inflight: Promise<RenewOutcome> | null = null;

  constructor(opts: CertRenewerOptions) {
    const days = opts.renewBeforeDays ?? DEFAULT_RENEW_BEFORE_DAYS;
    if (!(days >= 0)) throw new RangeError('renewBeforeDays must be a non-negative number');
    this.pki = opts.pki;
    this.clock = opts.clock;
    this.renewBeforeMs = days * DAY_MS;
    this.identity = opts.identity ?? (() => opts.pki.currentIdentity());
    this.logger = opts.logger ?? silentLogger;
    this.counters = opts.counters ?? new Counters();
  }

  /** Register a listener; the returned function removes it. */
  onRenew(fn: RenewListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Why the certificate should be renewed now, or null. Pure given the clock and identity. */
  dueReason(): RenewReason | null {
    const now = this.clock.now();
    const info = this.pki.serverInfo;
    if (Date.parse(info.notBefore) > now) return 'not-yet-valid';
    if (Date.parse(info.notAfter) - now <= this.renewBeforeMs) return 'expiring';
    // An uploaded certificate names the box as its issuer chose (no CA issues
    // "DNS:127.0.0.1"): only expiry makes us replace it with our own.
    if (!this.pki.isCustom && missingNames(info.sans, serverAltNames(this.identity())).length > 0) return 'names-changed';
    return null;
  }

  /**
   * Renew if due. The decision is taken synchronously at the call; a renewal
   * already under way is shared rather than doubled.
   */
  check(): Promise<RenewOutcome> {
    if (this.inflight) return this.inflight;
    const reason = this.dueReason();
    if (reason === null) return Promise.resolve({ renewed: false });
    return this.launch(reason);
  }

  /** The admin's "renew now": always issues, after any renewal under way. */
  renewNow(reason: RenewReason = 'manual'): Promise<RenewOutcome> {
    return this.launch(reason);
  }

  /** Check at once, then every day. */
  start(): void {
    if (this.timer) return;
    this.tick();
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = null;
  }

  /** Resolves when no renewal is under way (shutdown, tests). */
  async settled(): Promise<void> {
    while (this.inflight) await this.inflight.catch(() => undefined);
  }

  private tick(): void {
    // Re-arm before checking so one failed check never stops the schedule.
    this.timer = this.clock.setTimer(CHECK_INTERVAL_MS, () => this.tick());
    this.check().catch(() => undefined); // launch() has logged and counted it
  }

  private launch(reason: RenewReason): Promise<RenewOutcome> {
    const run = (async (): Promise<RenewOutcome> => {
      try {
        const record = await this.pki.renewServer(reason);
        this.counters.inc(`pki.renewed.${reason}`);
        this.notify();
        return { renewed: true, record };
      } catch (e) {
        this.counters.inc('pki.renew_failed');
        this.logger.error({ reason, err: e instanceof Error ? e.message : String(e) }, 'certificate renewal failed; will retry at the next check');
        throw e;
      }
    })();
    // Pki.renewServer queues overlapping renewals; track the latest one.
    this.inflight = run;
    const clear = (): void => {
      if (this.inflight === run) this.inflight = null;
    };
    run.then(clear, clear);
    return run;
  }

  private notify(): void {
    const material = this.pki.tlsMaterial();
    for (const fn of this.listeners) {
      try {
        fn(material);
      } catch (e) {
        // A listener that throws must not keep the others from the new certificate.
        this.counters.inc('pki.listener_error');
        this.logger.error({ err: e instanceof Error ? e.message : String(e) }, 'certificate renewal listener failed');
      }
    }
  }
}
