import { parseUri } from '../../sip/message/index.js';
import type { Target, TransportKind } from '../../sip/transaction/index.js';

/**
 * Routing as a pure function: who to ring for a callee, from what the
 * location service knows and the account's static contact. Trunks, ring
 * groups, pickup, park and conference rooms plug in here as further kinds of
 * target; call control only forks to what this returns.
 */

/** A registered contact as routing needs it (the location service's binding, structurally). */
export interface ContactBinding {
  readonly transport: TransportKind;
  readonly source: { readonly address: string; readonly port: number };
  readonly flowId?: string;
  readonly contact: string;
}

export interface RouteTarget {
  /** Where the INVITE goes: the flow the phone registered on, or the static contact's host. */
  readonly target: Target;
  /** The Request-URI of the INVITE. */
  readonly contact: string;
  readonly kind: 'registered' | 'static';
}

export interface Route {
  readonly targets: readonly RouteTarget[];
  /** What could not be used, for the log (a static contact that is not a URI). */
  readonly problems: readonly string[];
}

export interface RoutableCallee {
  readonly extension: string;
  readonly staticContact: string | null;
}

function transportOf(t: string): TransportKind {
  return t === 'tcp' || t === 'tls' || t === 'ws' || t === 'wss' ? t : 'udp';
}

/** The targets for a callee: its registered contacts (each over its own flow), then its static contact. */
export function routeCallee(callee: RoutableCallee, bindings: readonly ContactBinding[]): Route {
  const targets: RouteTarget[] = bindings.map((b) => ({
    target: { transport: b.transport, address: b.source.address, port: b.source.port, ...(b.flowId ? { flowId: b.flowId } : {}) },
    contact: b.contact,
    kind: 'registered',
  }));
  const problems: string[] = [];
  if (callee.staticContact) {
    try {
      const u = parseUri(callee.staticContact);
      // RFC 3263 4.1 in short: an explicit transport parameter, else TLS for sips:, else UDP.
      const param = u.params.find((p) => p.name.toLowerCase() === 'transport')?.value?.toLowerCase();
      const transport = transportOf(param ?? (u.scheme === 'sips' ? 'tls' : 'udp'));
      targets.push({
        target: { transport, address: u.host.replace(/^\[|\]$/g, ''), port: u.port ?? (transport === 'tls' ? 5061 : 5060) },
        contact: callee.staticContact,
        kind: 'static',
      });
    } catch {
      problems.push(`the static contact of ${callee.extension} is not a valid URI`);
    }
  }
  return { targets, problems };
}

export {
  DEFAULT_NUMBER_PLAN, DIALLABLE, classifyNumber, rewrite, routeOutbound, routeInbound, trunksWithRoom,
  type OutboundRoute, type NumberPlan, type CallerRights, type NumberClass, type OutboundDecision, type DidRoute, type CallLimits,
} from './dialplan.js';
