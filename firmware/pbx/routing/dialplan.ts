/**
 * The dial plan as pure functions: which trunks carry a number an extension
 * dialled (outbound routes by prefix, ordered for failover, with strip and
 * prepend), whether the toll-fraud guards let it go, and which extension a
 * number arriving on a trunk (a DID) rings. Call control and pbx/trunks act
 * on what these return; nothing here has state or does I/O.
 */

/** An outbound route: numbers starting with `prefix` leave on `trunks`, tried in order. */
export interface OutboundRoute {
  readonly prefix: string;
  /** Trunk names, first choice first; the next is tried on 503, 408 or no answer. */
  readonly trunks: readonly string[];
  /** Digits taken off the front of the dialled number (the `9` of "9 for an outside line"). */
  readonly strip: number;
  /** Digits put in front after stripping (a country or area code). */
  readonly prepend: string;
  /** International numbers may use this route (off until enabled: toll fraud). */
  readonly international: boolean;
  /** Premium-rate numbers may use this route (off until enabled: toll fraud). */
  readonly premium: boolean;
  /** The caller ID the provider is shown for calls on this route; absent: the extension's own or the trunk's. */
  readonly callerId?: string;
}

/** What the toll-fraud guards know of numbers, after rewriting (the number the provider gets). */
export interface NumberPlan {
  /** Always allowed on every trunk and never blocked by a toll-fraud rule. */
  readonly emergency: readonly string[];
  /** Prefixes of international numbers ("00", "+", "011"). */
  readonly international: readonly string[];
  /** Prefixes of premium-rate numbers ("0900", "1900", "0137"...). */
  readonly premium: readonly string[];
}

/** A plan that suits most of Europe and North America; a box elsewhere sets its own. */
export const DEFAULT_NUMBER_PLAN: NumberPlan = {
  emergency: ['112', '911', '999', '110', '000'],
  international: ['00', '+', '011'],
  premium: ['0900', '0901', '0906', '0909', '0137', '0138', '1900', '1976', '118'],
};

/** What dialling rights an account has beyond the routes' own. */
export interface CallerRights {
  readonly extension: string;
  readonly international: boolean;
  readonly premium: boolean;
  /** The caller ID this extension shows outside, when set. */
  readonly callerId?: string;
}

export type NumberClass = 'emergency' | 'international' | 'premium' | 'national';

/** The longest-matching prefix list entry decides nothing here: any match puts the number in the class. */
export function classifyNumber(number: string, plan: NumberPlan = DEFAULT_NUMBER_PLAN): NumberClass {
  if (plan.emergency.includes(number)) return 'emergency';
  if (plan.international.some((p) => p !== '' && number.startsWith(p))) return 'international';
  if (plan.premium.some((p) => p !== '' && number.startsWith(p))) return 'premium';
  return 'national';
}

/** Digits (and a leading +) only: what a route may carry to a provider. */
export const DIALLABLE = /^\+?[0-9*#]{1,32}$/;

export type OutboundDecision =
  | {
    readonly kind: 'route';
    readonly route: OutboundRoute;
    /** The number as the provider gets it (stripped, prepended). */
    readonly number: string;
    readonly class: NumberClass;
    /** Trunks in the order to try them. */
    readonly trunks: readonly string[];
    /** The caller ID to send: the route's, else the extension's, else undefined (the trunk's default). */
    readonly callerId?: string;
  }
  | {
    readonly kind: 'refused';
    /** 'international' / 'premium': a toll-fraud guard; the caller gets 403. */
    readonly why: 'international' | 'premium';
    readonly number: string;
    readonly route: OutboundRoute;
  };

/** Rewrite a dialled number for a route: strip, then prepend. */
export function rewrite(dialled: string, route: Pick<OutboundRoute, 'strip' | 'prepend'>): string {
  return route.prepend + dialled.slice(Math.min(route.strip, dialled.length));
}

/**
 * The route for a dialled number: the longest prefix that matches (so `00`
 * beats `0`), undefined when none does (the number is not for a trunk). An
 * emergency number, dialled bare or through a route, always gets a route
 * when any exists: it is never refused for a right the caller lacks.
 */
export function routeOutbound(
  dialled: string, routes: readonly OutboundRoute[], caller: CallerRights, plan: NumberPlan = DEFAULT_NUMBER_PLAN,
): OutboundDecision | undefined {
  if (!DIALLABLE.test(dialled)) return undefined;
  const matching = routes.filter((r) => dialled.startsWith(r.prefix) && r.trunks.length > 0)
    .sort((x, y) => y.prefix.length - x.prefix.length);
  let route = matching[0];
  // A bare emergency number with no route of its own leaves on the first route there is.
  if (!route && plan.emergency.includes(dialled) && routes.some((r) => r.trunks.length > 0)) {
    route = { ...routes.find((r) => r.trunks.length > 0)!, strip: 0, prepend: '' };
  }
  if (!route) return undefined;
  let number = rewrite(dialled, route);
  // The number the caller dialled may be the emergency one before the route's rewriting (9-112 -> 112).
  let cls = classifyNumber(number, plan);
  if (cls !== 'emergency' && plan.emergency.includes(dialled)) { number = dialled; cls = 'emergency'; }
  if (cls === 'international' && !(route.international && caller.international)) return { kind: 'refused', why: 'international', number, route };
  if (cls === 'premium' && !(route.premium && caller.premium)) return { kind: 'refused', why: 'premium', number, route };
  const callerId = route.callerId ?? caller.callerId;
  return { kind: 'route', route, number, class: cls, trunks: route.trunks, ...(callerId !== undefined ? { callerId } : {}) };
}

/** A DID: a number the provider delivers on a trunk, and the extension it rings. */
export interface DidRoute {
  readonly number: string;
  readonly to: string;
  readonly trunk: string;
}

/** Normalise a number for comparison: the + and the digits, nothing else. */
function digits(n: string): string {
  return n.replace(/[^0-9+]/g, '');
}

/**
 * The extension for a call arriving on `trunk`: the DID whose number matches
 * one of the candidates (the Request-URI's user, then the To user: providers
 * differ in where they put it), compared as digits, with or without a
 * leading + or 00. Undefined when the trunk has no such DID.
 */
export function routeInbound(trunk: string, candidates: readonly (string | undefined)[], dids: readonly DidRoute[]): DidRoute | undefined {
  const forms = (n: string): string[] => {
    const d = digits(n);
    const bare = d.replace(/^\+/, '').replace(/^00/, '');
    return [d, bare];
  };
  for (const c of candidates) {
    if (!c) continue;
    const want = forms(c);
    const hit = dids.find((r) => r.trunk === trunk && forms(r.number).some((f) => f !== '' && want.includes(f)));
    if (hit) return hit;
  }
  return undefined;
}

/** Concurrent outbound call limits: per account and per trunk. */
export interface CallLimits {
  readonly perAccount: number;
  readonly perTrunk: (trunk: string) => number;
}

/**
 * The trunks of an ordered list that still have room, in order; an account
 * at its own limit gets none. Emergency calls pass both limits.
 */
export function trunksWithRoom(
  trunks: readonly string[], cls: NumberClass, active: { account: number; trunk: (name: string) => number }, limits: CallLimits,
): { trunks: readonly string[]; limited?: 'account' | 'trunk' } {
  if (cls === 'emergency') return { trunks };
  if (active.account >= limits.perAccount) return { trunks: [], limited: 'account' };
  const free = trunks.filter((t) => active.trunk(t) < limits.perTrunk(t));
  return free.length > 0 ? { trunks: free } : { trunks: [], limited: 'trunk' };
}
