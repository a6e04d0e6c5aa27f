import type { Clock, Counters, Logger, Random, TimerHandle } from '../../core/index.js';
import { digestAuthorization } from '../../sip/digest/index.js';
import {
  getHeader, getHeaders, paramValue, parseContact, uriEquals, type Header, type SipRequest, type SipResponse,
} from '../../sip/message/index.js';
import type { ClientTransactionUser, Target } from '../../sip/transaction/index.js';

/**
 * The box as a user agent registering to a provider (RFC 3261 10.2): one
 * REGISTER binding the trunk's contact, answered challenges (digest, RFC
 * 3261 22.2), a refresh before the binding expires, and when it fails a
 * retry with exponential backoff and jitter (so a provider that restarts is
 * not hit by every box at once), moving to the next resolved server on a
 * timeout or transport error. A 403 or 404, or credentials refused, is a
 * configuration error: reported, and tried again only after a long pause.
 */

export type RegistrationState = 'idle' | 'registering' | 'registered' | 'retrying' | 'config-error' | 'stopped';

/** First retry after this; doubled per failure up to BACKOFF_MAX_MS. */
export const BACKOFF_BASE_MS = 2_000;
export const BACKOFF_MAX_MS = 300_000;
/** A configuration error is tried again only this long after (a corrected password at the provider). */
export const CONFIG_ERROR_RETRY_MS = 3_600_000;
/** Refresh this long before the granted expiry, at most; never earlier than half the lifetime. */
export const REFRESH_MARGIN_S = 30;
export const DEFAULT_REGISTER_EXPIRES_S = 600;

export interface RegistrationConfig {
  readonly trunk: string;
  /** The provider's domain: the Request-URI sip:DOMAIN and the AOR's host. */
  readonly domain: string;
  readonly username: string;
  readonly password: string;
  /** Digest user name when it differs from the AOR's user (authorization user). */
  readonly authUser?: string;
  readonly expires?: number;
}

export interface RegistrationDeps {
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  readonly counters: Counters;
  /** Send a request in a new client transaction (the transaction layer's sendRequest). */
  send(req: SipRequest, target: Target, user: ClientTransactionUser): void;
  /** The servers to try, in order (pbx/trunks resolve.ts); re-asked on every attempt after a failure. */
  targets(): Promise<readonly Target[]>;
  /** The Contact URI the box registers on a target. */
  contact(target: Target): string;
  /** State changes, for the views and the LED. */
  onChange?(): void;
}

export interface RegistrationStatus {
  readonly state: RegistrationState;
  readonly lastError?: string;
  /** When the binding expires at the provider (ms epoch), while registered. */
  readonly expiresAt?: number;
  /** When the next REGISTER goes (refresh or retry). */
  readonly nextAt?: number;
  /** The server the box is registered with or trying. */
  readonly server?: string;
  readonly failures: number;
}

/** Full jitter over the upper half: failure n waits a random time in [d/2, d), d = base * 2^n capped. */
export function backoffDelay(failures: number, random: Random): number {
  const d = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(failures, 20));
  return Math.floor(d / 2) + random.int(Math.max(1, Math.ceil(d / 2)));
}

/** When to refresh a binding granted for `expires` seconds: a margin before expiry, never before half of it. */
export function refreshDelay(expiresS: number): number {
  return Math.max(1, Math.max(expiresS / 2, expiresS - REFRESH_MARGIN_S)) * 1000;
}

export class RegistrationClient {
  private stateValue: RegistrationState = 'idle';
  private lastError?: string;
  private expiresAt?: number;
  private nextAt?: number;
  private timer?: TimerHandle;
  private failures = 0;
  private cseq = 0;
  private readonly callId: string;
  private readonly fromTag: string;
  private targetIndex = 0;
  private targetList: readonly Target[] = [];
  private expires: number;
  /** Each attempt's generation: a response to an older attempt (a stop or restart since) is ignored. */
  private generation = 0;

  constructor(private readonly cfg: RegistrationConfig, private readonly deps: RegistrationDeps) {
    this.callId = `${deps.random.token(96)}@securepbx`;
    this.fromTag = deps.random.token(64);
    this.expires = cfg.expires ?? DEFAULT_REGISTER_EXPIRES_S;
  }

  get state(): RegistrationState {
    return this.stateValue;
  }

  status(): RegistrationStatus {
    const server = this.targetList[this.targetIndex];
    return {
      state: this.stateValue, failures: this.failures,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      ...(this.expiresAt !== undefined && this.stateValue === 'registered' ? { expiresAt: this.expiresAt } : {}),
      ...(this.nextAt !== undefined ? { nextAt: this.nextAt } : {}),
      ...(server ? { server: `${server.transport}:${server.address}:${server.port}` } : {}),
    };
  }

  start(): void {
    if (this.stateValue !== 'idle' && this.stateValue !== 'stopped') return;
    this.move('registering');
    void this.attempt(true);
  }

  /** The provider came back (keep-alive answered again): register now rather than wait out the backoff. */
  nudge(): void {
    if (this.stateValue !== 'retrying') return;
    this.timer?.cancel();
    this.move('registering');
    void this.attempt(false);
  }

  /** Stop refreshing; with `unregister`, a REGISTER with Expires 0 goes to the server first. */
  stop(unregister = false): void {
    this.timer?.cancel();
    this.generation++;
    const wasRegistered = this.stateValue === 'registered';
    this.move('stopped');
    const target = this.targetList[this.targetIndex];
    if (unregister && wasRegistered && target) {
      try { this.deps.send(this.request(target, 0, []), target, { onResponse: () => {} }); } catch { /* going anyway */ }
    }
  }

  private move(to: RegistrationState): void {
    if (this.stateValue === to) return;
    this.stateValue = to;
    try { this.deps.onChange?.(); } catch { /* a view must not break registration */ }
  }

  private schedule(ms: number, fn: () => void): void {
    this.timer?.cancel();
    this.nextAt = this.deps.clock.now() + ms;
    this.timer = this.deps.clock.setTimer(ms, fn);
  }

  private async attempt(resolve: boolean): Promise<void> {
    const gen = ++this.generation;
    if (resolve || this.targetList.length === 0) {
      let list: readonly Target[] = [];
      try { list = await this.deps.targets(); } catch { list = []; }
      if (gen !== this.generation) return;
      this.targetList = list;
      this.targetIndex = 0;
    }
    const target = this.targetList[this.targetIndex];
    if (!target) { this.failed('the provider\'s domain resolves to no server', false); return; }
    this.send(gen, target, []);
  }

  private request(target: Target, expires: number, auth: readonly Header[]): SipRequest {
    const { domain, username } = this.cfg;
    const aor = `sip:${username}@${domain}`;
    const headers: Header[] = [
      { name: 'max-forwards', value: '70' },
      { name: 'from', value: `<${aor}>;tag=${this.fromTag}` },
      { name: 'to', value: `<${aor}>` },
      { name: 'call-id', value: this.callId },
      { name: 'cseq', value: `${++this.cseq} REGISTER` },
      { name: 'contact', value: `<${this.deps.contact(target)}>` },
      { name: 'expires', value: String(expires) },
      { name: 'user-agent', value: 'securepbx' },
      ...auth,
    ];
    return { kind: 'request', method: 'REGISTER', uri: `sip:${domain}`, headers, body: Buffer.alloc(0) };
  }

  private send(gen: number, target: Target, auth: readonly Header[], authed = false): void {
    const req = this.request(target, this.expires, auth);
    this.deps.counters.inc('trunk.register.sent');
    const user: ClientTransactionUser = {
      onResponse: (res) => { if (gen === this.generation) this.onResponse(gen, target, req, res, authed); },
      onTimeout: () => { if (gen === this.generation) this.unreachable(gen, 'no answer from the provider'); },
      onTransportError: (e) => { if (gen === this.generation) this.unreachable(gen, `transport error: ${e.message}`); },
    };
    try { this.deps.send(req, target, user); } catch (e) {
      this.unreachable(gen, `cannot send: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private onResponse(gen: number, target: Target, req: SipRequest, res: SipResponse, authed: boolean): void {
    if (res.status < 200) return;
    if (res.status < 300) { this.registered(target, req, res); return; }
    if (res.status === 401 || res.status === 407) {
      const header = res.status === 401 ? 'www-authenticate' : 'proxy-authenticate';
      const challenge = getHeader(res, header);
      // A second challenge for credentials just sent, not marked stale, means they are wrong (RFC 3261 22.2, RFC 7616 3.3).
      const stale = challenge !== undefined && /stale\s*=\s*"?true"?/i.test(challenge);
      if (!challenge || (authed && !stale)) { this.configError(`the provider refused the credentials (${res.status})`); return; }
      let value: string;
      try {
        value = digestAuthorization({
          challenge, method: 'REGISTER', uri: req.uri, username: this.cfg.authUser ?? this.cfg.username, password: this.cfg.password, random: this.deps.random,
        });
      } catch (e) {
        this.configError(`cannot answer the provider's challenge: ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
      this.deps.counters.inc('trunk.register.challenged');
      this.send(gen, target, [{ name: res.status === 401 ? 'authorization' : 'proxy-authorization', value }], true);
      return;
    }
    if (res.status === 423) {
      // Interval Too Brief (RFC 3261 10.2.8): ask again with the provider's minimum.
      const min = Number(getHeader(res, 'min-expires'));
      if (Number.isInteger(min) && min > this.expires && min <= 86400) {
        this.expires = min;
        this.send(gen, target, []);
        return;
      }
    }
    if (res.status === 403 || res.status === 404) {
      this.configError(`the provider answered ${res.status} ${res.reason}: check the user name and domain`);
      return;
    }
    const retryAfter = Number(getHeader(res, 'retry-after')?.split(/[;(\s]/)[0]);
    this.failed(`the provider answered ${res.status} ${res.reason}`, res.status === 503 || res.status === 408,
      Number.isInteger(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, 3600) * 1000 : undefined);
  }

  private registered(target: Target, req: SipRequest, res: SipResponse): void {
    // The granted lifetime: our contact's expires parameter, else Expires, else what we asked (10.2.4).
    const ours = this.deps.contact(target);
    let granted: number | undefined;
    for (const v of getHeaders(res, 'contact')) {
      try {
        const c = parseContact(v);
        if (c.wildcard) continue;
        for (const item of c.contacts) {
          if (!sameUri(item.uri, ours)) continue;
          const e = Number(paramValue(item.params, 'expires'));
          if (Number.isInteger(e) && e >= 0) granted = e;
        }
      } catch { /* a contact we cannot read is not ours */ }
    }
    if (granted === undefined) {
      const e = Number(getHeader(res, 'expires'));
      granted = Number.isInteger(e) && e >= 0 ? e : Number(getHeader(req, 'expires'));
    }
    if (!Number.isFinite(granted) || granted <= 0) { this.failed('the provider granted no lifetime', false); return; }
    const firstTime = this.stateValue !== 'registered';
    this.failures = 0;
    this.lastError = undefined;
    this.expiresAt = this.deps.clock.now() + granted * 1000;
    this.deps.counters.inc('trunk.register.ok');
    if (firstTime) this.deps.log.info({ trunk: this.cfg.trunk, server: `${target.address}:${target.port}`, expires: granted }, 'trunk registered');
    this.move('registered');
    // A refresh keeps the state 'registered': the binding is good until it fails.
    this.schedule(refreshDelay(granted), () => { void this.attempt(false); });
  }

  private unreachable(gen: number, why: string): void {
    if (gen !== this.generation) return;
    this.failed(why, true);
  }

  /** A failure worth retrying: the next server now if there is one, else wait out the backoff and resolve again. */
  private failed(why: string, tryNext: boolean, after?: number): void {
    this.deps.counters.inc('trunk.register.failed');
    this.lastError = why;
    if (tryNext && this.targetIndex + 1 < this.targetList.length) {
      this.targetIndex++;
      this.deps.log.warn({ trunk: this.cfg.trunk, err: why }, 'trunk registration failed: trying the next server');
      const gen = ++this.generation;
      this.send(gen, this.targetList[this.targetIndex]!, []);
      return;
    }
    const delay = after ?? backoffDelay(this.failures, this.deps.random);
    this.failures++;
    this.deps.log.warn({ trunk: this.cfg.trunk, err: why, retryInMs: delay }, 'trunk registration failed');
    this.move('retrying');
    this.schedule(delay, () => { this.move('registering'); void this.attempt(true); });
  }

  private configError(why: string): void {
    this.deps.counters.inc('trunk.register.config-error');
    this.lastError = why;
    this.failures++;
    this.deps.log.error({ trunk: this.cfg.trunk, err: why }, 'trunk registration refused: a configuration error');
    this.move('config-error');
    this.schedule(CONFIG_ERROR_RETRY_MS, () => { this.move('registering'); void this.attempt(true); });
  }
}

function sameUri(a: string, b: string): boolean {
  try { return uriEquals(a, b); } catch { return a === b; }
}
