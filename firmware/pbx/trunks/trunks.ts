import type { Clock, Counters, Logger, Random, TimerHandle } from '../../core/index.js';
import type { DeepReadonly, Trunk, Trunking } from '../../config/index.js';
import type { TrunkView } from '../../api/index.js';
import { createResponse, getHeader, parseNameAddr, parseUri, type Header, type SipRequest } from '../../sip/message/index.js';
import type { ClientTransactionUser, InviteServerTransaction, Target } from '../../sip/transaction/index.js';
import type { OutboundTls } from '../../sip/transport/index.js';
import type { Call, CalleeAccount, CallFailure, EndReason } from '../call/index.js';
import { DEFAULT_PHONE_CAPS, type PhoneCaps } from '../policy/index.js';
import { routeInbound, routeOutbound, trunksWithRoom, type NumberPlan } from '../routing/index.js';
import { KeepAlive, type Liveness } from './keepalive.js';
import { RegistrationClient } from './register.js';
import { DEFAULT_PORT, resolveTrunk, type DnsResolver, type ResolvedTarget } from './resolve.js';
import { OutboundWatch, type TollAlarm } from './surge.js';

/**
 * The trunks of the box as live objects: per trunk its resolved servers
 * (RFC 3263, refreshed), its registration when it registers, its OPTIONS
 * keep-alive, and its calls in progress. Two doors into call control: the
 * outbound destination (a number an extension dialled that a route carries)
 * and the inbound hook (an INVITE from a trunk's server or allow list, routed
 * by its DID). The rules themselves are pure and live in pbx/routing.
 */

/** The new INVITE as call control shows it to a destination (b2bua IncomingCall, structurally). */
export interface TrunkIncoming {
  readonly req: SipRequest;
  readonly tx: InviteServerTransaction;
  readonly source: Target;
  readonly caller: string;
  readonly dialled: string;
}

/** What the trunks need of call control (B2bua fits). */
export interface TrunkDialer {
  ring(incoming: TrunkIncoming, callees: readonly CalleeAccount[], opts?: { readonly shownAs?: { readonly extension: string; readonly name: string }; readonly inOrder?: boolean }): Call;
  refuse(incoming: TrunkIncoming, answer: CallFailure, why: EndReason, headers?: Header[]): void;
}

export interface TrunksDeps {
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  readonly counters: Counters;
  readonly dns: DnsResolver;
  /** The transaction layer's sendRequest. */
  send(req: SipRequest, target: Target, user: ClientTransactionUser): void;
  /** The box's Contact URI on a target (main's contactFor). */
  contactFor(target: Target): string;
  readonly config: () => DeepReadonly<Trunking>;
  /** An account by extension (not a trunk): DIDs ring these; a dialled extension is never routed out. */
  readonly account: (extension: string) => CalleeAccount | undefined;
  /** The box's own certificate for mutual TLS toward another box. */
  readonly clientCert?: () => { key: string | Buffer; cert: string | Buffer } | undefined;
  readonly onChange?: () => void;
  /** An account's outbound calls jumped (surge.ts): the appliance shows it on the LED and the page. */
  readonly onAlarm?: (alarm: TollAlarm) => void;
}

/** Servers are looked up again this often (and after a registration fails). */
export const RESOLVE_EVERY_MS = 300_000;
/**
 * The call's caller on an inbound trunk call: the number, "~", the trunk. A
 * character valid in a SIP user part (it goes in the From toward the phone)
 * that no extension has (EXTENSION_PATTERN) and no route dials (DIALLABLE).
 */
export const TRUNK_CALLER_SEPARATOR = '~';

class TrunkRuntime {
  targets: readonly ResolvedTarget[] = [];
  registration?: RegistrationClient;
  keepalive?: KeepAlive;
  resolveTimer?: TimerHandle;
  active = 0;
  stopped = false;

  constructor(readonly cfg: DeepReadonly<Trunk>) {}

  get domain(): string {
    return this.cfg.host.replace(/^\[|\]$/g, '');
  }
}

function caps(c: DeepReadonly<Trunk>['media']): PhoneCaps {
  return { supported: [...c.supported], required: [...c.required] };
}

export class Trunks {
  private readonly byName = new Map<string, TrunkRuntime>();
  private readonly perAccount = new Map<string, number>();
  private configKey = '';
  private readonly watch: OutboundWatch;

  constructor(private readonly deps: TrunksDeps) {
    this.watch = new OutboundWatch(deps.clock, () => {
      const a = deps.config().alarm;
      return { calls: a.calls, windowMs: a.windowMinutes * 60_000 };
    });
  }

  /** Raised toll-fraud alarms, until the admin clears them. */
  alarms(): TollAlarm[] {
    return this.watch.alarms();
  }

  clearAlarm(extension: string): boolean {
    const had = this.watch.clear(extension);
    if (had) this.deps.log.info({ extension }, 'toll-fraud alarm cleared');
    return had;
  }

  /** Start (or bring in line with the config after a change) every trunk. */
  reload(): void {
    const wanted = this.deps.config().trunks;
    const key = JSON.stringify(wanted);
    if (key === this.configKey) return;
    this.configKey = key;
    for (const [name, rt] of this.byName) {
      const now = wanted.find((t) => t.name === name);
      if (!now || JSON.stringify(now) !== JSON.stringify(rt.cfg)) { this.stopOne(rt, true); this.byName.delete(name); }
    }
    for (const t of wanted) if (!this.byName.has(t.name)) this.startOne(t);
    this.changed();
  }

  stop(): void {
    for (const rt of this.byName.values()) this.stopOne(rt, true);
    this.byName.clear();
    this.configKey = '';
  }

  private changed(): void {
    try { this.deps.onChange?.(); } catch { /* views only */ }
  }

  private startOne(cfg: DeepReadonly<Trunk>): void {
    const d = this.deps;
    const rt = new TrunkRuntime(cfg);
    this.byName.set(cfg.name, rt);
    const resolve = async (): Promise<readonly ResolvedTarget[]> => {
      const list = await resolveTrunk({ host: cfg.host, transport: cfg.transport, ...(cfg.port !== null ? { port: cfg.port } : {}) }, d.dns, d.random);
      if (!rt.stopped && list.length > 0) rt.targets = list;
      return rt.targets;
    };
    const again = (): void => {
      if (rt.stopped) return;
      void resolve().finally(() => { if (!rt.stopped) rt.resolveTimer = d.clock.setTimer(RESOLVE_EVERY_MS, again); });
    };
    again();
    if (cfg.register && cfg.username && cfg.password) {
      rt.registration = new RegistrationClient(
        { trunk: cfg.name, domain: rt.domain, username: cfg.username, password: cfg.password },
        {
          clock: d.clock, random: d.random, log: d.log, counters: d.counters, send: d.send,
          targets: resolve, contact: (t) => this.contact(rt, t), onChange: () => this.changed(),
        },
      );
      rt.registration.start();
    }
    rt.keepalive = new KeepAlive({
      clock: d.clock, counters: d.counters, send: d.send,
      target: () => rt.targets[0],
      options: (t) => this.options(rt, t),
      onChange: (state: Liveness) => {
        d.log[state === 'down' ? 'warn' : 'info']({ trunk: cfg.name, state, err: rt.keepalive?.lastError }, state === 'down' ? 'trunk down: it stopped answering OPTIONS' : 'trunk answering');
        // The provider is back: register now rather than wait out the backoff.
        if (state === 'up') rt.registration?.nudge();
        this.changed();
      },
    });
    rt.keepalive.start();
  }

  private stopOne(rt: TrunkRuntime, unregister: boolean): void {
    rt.stopped = true;
    rt.resolveTimer?.cancel();
    rt.keepalive?.stop();
    rt.registration?.stop(unregister);
  }

  /** The Contact the box registers and calls with: its own, with the trunk's user so the provider's INVITEs name it. */
  private contact(rt: TrunkRuntime, t: Target): string {
    const own = this.deps.contactFor(t);
    const user = rt.cfg.username ?? 'securepbx';
    return own.replace(/^(sips?:)[^@]*@/, `$1${user}@`);
  }

  private options(rt: TrunkRuntime, t: Target): SipRequest {
    const r = this.deps.random;
    const own = this.contact(rt, t);
    const headers: Header[] = [
      { name: 'max-forwards', value: '70' },
      { name: 'from', value: `<${own.replace(/;.*$/, '')}>;tag=${r.token(64)}` },
      { name: 'to', value: `<sip:${rt.domain}>` },
      { name: 'call-id', value: `${r.token(96)}@securepbx` },
      { name: 'cseq', value: '1 OPTIONS' },
      { name: 'contact', value: `<${own}>` },
      { name: 'accept', value: 'application/sdp' },
    ];
    return { kind: 'request', method: 'OPTIONS', uri: `sip:${rt.domain}${rt.cfg.port !== null ? `:${rt.cfg.port}` : ''}`, headers, body: Buffer.alloc(0) };
  }

  /** The live state of every trunk, in config order, for `pbx trunk list` and the trunks view. */
  views(): TrunkView[] {
    return this.deps.config().trunks.map((t) => {
      const rt = this.byName.get(t.name);
      const reg = rt?.registration?.status();
      const lastError = reg?.lastError ?? rt?.keepalive?.lastError;
      return {
        ...trunkView(t),
        ...(rt ? {
          live: {
            registration: reg?.state ?? 'off',
            liveness: rt.keepalive?.state ?? 'unknown',
            ...(lastError !== undefined ? { lastError } : {}),
            ...(reg?.expiresAt !== undefined ? { registeredUntil: new Date(reg.expiresAt).toISOString() } : {}),
            servers: rt.targets.map((s) => `${s.transport}:${s.address}:${s.port}`),
            activeCalls: rt.active,
          },
        } : {}),
      };
    });
  }

  /** How SipTransports checks a TLS connection it opens: a trunk's server gets the trunk's CA (or the system store) and name. */
  tlsFor(target: Target): OutboundTls | undefined {
    for (const rt of this.byName.values()) {
      if (rt.cfg.transport !== 'tls') continue;
      const hit = rt.targets.find((s) => s.address === target.address && s.port === target.port);
      if (!hit) continue;
      const client = this.deps.clientCert?.();
      return { servername: hit.serverName, ...(rt.cfg.ca ? { ca: rt.cfg.ca } : {}), ...(client ? { client } : {}) };
    }
    return undefined;
  }

  /**
   * The trunk an INVITE came from: one of its servers (address and port, as
   * a registered or keep-alive flow answers from), or its allow list (an
   * address, or address:port) for an IP-authenticated trunk.
   */
  recognise(source: Target): TrunkRuntime | undefined {
    const addr = source.address.replace(/^\[|\]$/g, '').toLowerCase();
    for (const rt of this.byName.values()) {
      if (rt.targets.some((s) => s.address.toLowerCase() === addr && s.port === source.port)) return rt;
      if (rt.cfg.allow.some((a) => a.toLowerCase() === addr || a.toLowerCase() === `${addr}:${source.port}`)) return rt;
    }
    return undefined;
  }

  /** The caller of an inbound call as call control knows it ("NUMBER~TRUNK"): the trunk's policy and media abilities. */
  callerAccount(caller: string): CalleeAccount | undefined {
    const at = caller.lastIndexOf(TRUNK_CALLER_SEPARATOR);
    if (at < 0) return undefined;
    const rt = this.byName.get(caller.slice(at + 1));
    if (!rt) return undefined;
    // staticContact null: dialling this name can never reach the trunk (outbound goes through the dial plan only).
    return { extension: caller, name: rt.cfg.name, staticContact: null, tlsOnly: false, policy: rt.cfg.policy, media: caps(rt.cfg.media) };
  }

  /** The inbound door: an INVITE from a trunk rings the extension of its DID; true when it was a trunk's. */
  inbound(req: SipRequest, tx: InviteServerTransaction, source: Target, dialer: TrunkDialer): boolean {
    const rt = this.recognise(source);
    if (!rt) return false;
    const d = this.deps;
    let ruser: string | undefined;
    let touser: string | undefined;
    let fromUser = 'anonymous';
    try { ruser = parseUri(req.uri).user; } catch { /* none */ }
    try { touser = parseUri(parseNameAddr(getHeader(req, 'to') ?? '').uri).user; } catch { /* none */ }
    try { fromUser = parseUri(parseNameAddr(getHeader(req, 'from') ?? '').uri).user?.replace(/[^0-9A-Za-z+*#._-]/g, '').slice(0, 32) || 'anonymous'; } catch { /* none */ }
    const caller = `${fromUser}${TRUNK_CALLER_SEPARATOR}${rt.cfg.name}`;
    const incoming: TrunkIncoming = { req, tx, source, caller, dialled: ruser ?? touser ?? '' };
    try { tx.respond(createResponse(req, 100, 'Trying')); } catch { /* gone */ }
    const did = routeInbound(rt.cfg.name, [ruser, touser], d.config().dids);
    const callee = did ? d.account(did.to) : undefined;
    d.counters.inc('trunk.inbound');
    if (!did || !callee) {
      d.counters.inc('trunk.inbound.no-did');
      d.log.info({ trunk: rt.cfg.name, dialled: ruser ?? touser ?? '', caller }, did ? 'inbound call for a DID whose extension is gone: 404' : 'inbound call for a number with no DID: 404');
      dialer.refuse(incoming, 'not-found', 'not-found');
      return true;
    }
    d.log.info({ trunk: rt.cfg.name, did: did.number, to: did.to, caller }, 'inbound trunk call');
    this.track(dialer.ring({ ...incoming, dialled: did.number }, [callee]), rt, undefined);
    return true;
  }

  /**
   * The outbound door, asked after the accounts (an extension is never
   * routed out): a number a route carries leaves on its trunks in order; a
   * toll-fraud guard answers 403 and logs; limits answer 503.
   */
  outbound(incoming: TrunkIncoming, dialer: TrunkDialer): boolean {
    const d = this.deps;
    // Never from a trunk (trunk to trunk is the classic toll fraud), never an account's extension.
    if (incoming.caller.includes(TRUNK_CALLER_SEPARATOR) || d.account(incoming.dialled)) return false;
    const c = d.config();
    const plan: NumberPlan = { emergency: c.emergency, international: c.international, premium: c.premium };
    const rights = c.rights.find((r) => r.extension === incoming.caller);
    const decision = routeOutbound(incoming.dialled, c.routes.map((r) => ({
      prefix: r.prefix, trunks: r.trunks, strip: r.strip, prepend: r.prepend, international: r.international, premium: r.premium,
      ...(r.callerId !== null ? { callerId: r.callerId } : {}),
    })), {
      extension: incoming.caller, international: rights?.international ?? false, premium: rights?.premium ?? false,
      ...(rights?.callerId ? { callerId: rights.callerId } : {}),
    }, plan);
    if (!decision) return false;
    const alarm = this.watch.record(incoming.caller, decision.number);
    if (alarm) {
      d.counters.inc('trunk.alarm.raised');
      d.log.warn({ extension: alarm.extension, calls: alarm.calls, minutes: alarm.windowMinutes, number: alarm.lastNumber },
        `toll-fraud alarm: ${alarm.extension} tried ${alarm.calls} outbound calls within ${alarm.windowMinutes} minutes`);
      try { d.onAlarm?.(alarm); } catch { /* views only */ }
    }
    if (decision.kind === 'refused') {
      d.counters.inc(`trunk.toll-fraud.${decision.why}`);
      d.log.warn({ caller: incoming.caller, dialled: incoming.dialled, number: decision.number, guard: decision.why },
        `outbound call refused: ${decision.why} numbers are not enabled for this extension and route`);
      dialer.refuse(incoming, 'forbidden', 'rejected', [{ name: 'warning', value: `399 securepbx "${decision.why} calls are not enabled"` }]);
      return true;
    }
    const emergency = decision.class === 'emergency';
    // A trunk that is down is skipped, unless nothing else is left (an emergency call tries every trunk).
    const known = decision.trunks.map((n) => this.byName.get(n)).filter((x): x is TrunkRuntime => x !== undefined);
    const up = known.filter((rt) => rt.keepalive?.state !== 'down' && rt.registration?.state !== 'config-error');
    const candidates = emergency ? [...up, ...known.filter((x) => !up.includes(x))] : up;
    const room = trunksWithRoom(candidates.map((x) => x.cfg.name), decision.class, {
      account: this.perAccount.get(incoming.caller) ?? 0,
      trunk: (n) => this.byName.get(n)?.active ?? 0,
    }, { perAccount: c.maxCallsPerAccount, perTrunk: (n) => this.byName.get(n)?.cfg.maxCalls ?? 0 });
    const chosen = room.trunks.map((n) => this.byName.get(n)!).filter((rt) => rt.targets.length > 0 || emergency);
    if (chosen.length === 0) {
      d.counters.inc(room.limited ? `trunk.limit.${room.limited}` : 'trunk.unavailable');
      d.log.warn({ caller: incoming.caller, number: decision.number, limited: room.limited ?? 'no trunk up' },
        room.limited ? `outbound call refused: the ${room.limited} is at its concurrent call limit` : 'outbound call: no trunk of the route is up');
      dialer.refuse(incoming, room.limited ? 'forbidden' : 'unreachable', room.limited ? 'rejected' : 'unavailable');
      return true;
    }
    const callees = chosen.map((rt): CalleeAccount => this.calleeFor(rt, decision.number, decision.callerId));
    d.counters.inc(emergency ? 'trunk.outbound.emergency' : 'trunk.outbound');
    d.log.info({ caller: incoming.caller, number: decision.number, trunks: chosen.map((x) => x.cfg.name), class: decision.class }, 'outbound trunk call');
    this.track(dialer.ring(incoming, callees, { shownAs: { extension: decision.number, name: chosen[0]!.cfg.name }, inOrder: true }), chosen[0]!, incoming.caller);
    return true;
  }

  private calleeFor(rt: TrunkRuntime, number: string, callerId: string | undefined): CalleeAccount {
    const t = rt.cfg;
    const targets = rt.targets.length > 0 ? rt.targets
      : [{ transport: t.transport, address: rt.domain, port: t.port ?? DEFAULT_PORT[t.transport], serverName: rt.domain }];
    const uri = `sip:${number}@${rt.domain}${t.port !== null ? `:${t.port}` : ''}${t.transport === 'udp' ? '' : `;transport=${t.transport}`}`;
    return {
      extension: number, name: t.name, staticContact: uri, tlsOnly: false, policy: t.policy, media: caps(t.media ?? DEFAULT_PHONE_CAPS),
      trunk: {
        name: t.name, targets: targets.map(({ transport, address, port }) => ({ transport, address, port })),
        fromUser: callerId ?? t.callerId ?? t.username ?? 'anonymous', domain: rt.domain, sipsExempt: t.sipsExempt,
      },
    };
  }

  /** Count a call against its trunk and (outbound) its account until it closes. */
  private track(call: Call, rt: TrunkRuntime, account: string | undefined): void {
    rt.active++;
    if (account !== undefined) this.perAccount.set(account, (this.perAccount.get(account) ?? 0) + 1);
    this.changed();
    call.on('closed', () => {
      rt.active = Math.max(0, rt.active - 1);
      if (account !== undefined) {
        const n = (this.perAccount.get(account) ?? 1) - 1;
        if (n <= 0) this.perAccount.delete(account); else this.perAccount.set(account, n);
      }
      this.changed();
    });
  }
}

/** A trunk's config as it may be shown: no password, the CA as a yes/no. */
export function trunkView(t: DeepReadonly<Trunk>): TrunkView {
  return {
    name: t.name, host: t.host, port: t.port, transport: t.transport, username: t.username, register: t.register, policy: t.policy,
    customCa: t.ca !== null, sipsExempt: t.sipsExempt, maxCalls: t.maxCalls,
  };
}
