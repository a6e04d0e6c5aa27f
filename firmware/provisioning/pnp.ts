import type { Counters, Logger, Random } from '../core/index.js';
import {
  createResponse, getHeader, parseNameAddr, parseUri, type SipRequest, type SipResponse,
} from '../sip/message/index.js';
import type { Target } from '../sip/transaction/index.js';

/**
 * SIP multicast plug-and-play (RFC 6080, as snom, Yealink and Polycom phones
 * do it): a phone without configuration sends SUBSCRIBE with `Event:
 * ua-profile` to 224.0.1.75:5060; the box accepts it and sends a NOTIFY whose
 * body (Content-Type: application/url) is the provisioning URL. The
 * subscription ends with that one NOTIFY (Subscription-State: terminated).
 * The URL is the plain-HTTP bootstrap: it carries the CA and the way to
 * HTTPS, never a secret, so answering anyone on the LAN costs nothing.
 */

export const PNP_GROUP = '224.0.1.75';
export const PNP_PORT = 5060;
export const UA_PROFILE = 'ua-profile';

/** The Event header's package, lower-cased, without parameters. */
function eventPackage(req: SipRequest): string | undefined {
  const v = getHeader(req, 'event');
  return v?.split(';')[0]?.trim().toLowerCase();
}

export function isUaProfileSubscribe(req: SipRequest): boolean {
  return req.method === 'SUBSCRIBE' && eventPackage(req) === UA_PROFILE;
}

export interface PnpAnswer {
  readonly response: SipResponse;
  readonly notify: SipRequest;
}

/**
 * The 200 to a ua-profile SUBSCRIBE and the NOTIFY that carries `url`, or
 * null for anything else. `contact` is the box's own Contact; `toTag` and
 * `fromTag` are fresh tokens (the dialog's tag on our side is the same in
 * both). Pure.
 */
export function pnpAnswer(req: SipRequest, url: string, o: { readonly toTag: string; readonly contact: string }): PnpAnswer | null {
  if (!isUaProfileSubscribe(req)) return null;
  const from = getHeader(req, 'from');
  const to = getHeader(req, 'to');
  const callId = getHeader(req, 'call-id');
  const contactHeader = getHeader(req, 'contact');
  if (from === undefined || to === undefined || callId === undefined) return null;
  let remote: string;
  try {
    remote = contactHeader !== undefined ? parseNameAddr(contactHeader).uri : parseNameAddr(from).uri;
    parseUri(remote);
  } catch {
    return null;
  }
  const response = createResponse(req, 200, 'OK', { toTag: o.toTag, headers: [{ name: 'expires', value: '0' }, { name: 'contact', value: `<${o.contact}>` }] });
  const event = getHeader(req, 'event') ?? UA_PROFILE;
  const body = Buffer.from(url, 'utf8');
  // The NOTIFY goes the other way in the dialog: our To-tag becomes its From-tag.
  const notify: SipRequest = {
    kind: 'request',
    method: 'NOTIFY',
    uri: remote,
    headers: [
      { name: 'max-forwards', value: '70' },
      { name: 'from', value: `${to};tag=${o.toTag}` },
      { name: 'to', value: from },
      { name: 'call-id', value: callId },
      { name: 'cseq', value: '1 NOTIFY' },
      { name: 'contact', value: `<${o.contact}>` },
      { name: 'event', value: event },
      { name: 'subscription-state', value: 'terminated;reason=timeout' },
      { name: 'content-type', value: 'application/url' },
      { name: 'content-length', value: String(body.length) },
    ],
    body,
  };
  return { response, notify };
}

export interface PnpResponderDeps {
  /** The URL phones are sent to (the plain-HTTP bootstrap under /provision/). */
  readonly url: () => string;
  readonly contact: string;
  readonly random: Random;
  readonly counters: Counters;
  readonly log: Logger;
  readonly enabled: () => boolean;
  /** Send a request in a client transaction (TransactionLayer.sendRequest). */
  readonly sendRequest: (req: SipRequest, target: Target) => void;
}

/** Answers ua-profile SUBSCRIBEs handed to it from the SIP request path. */
export class PnpResponder {
  constructor(private readonly d: PnpResponderDeps) {}

  /** True when it took the request (and answered it through `respond`). */
  onRequest(req: SipRequest, respond: (res: SipResponse) => void, source: Target): boolean {
    if (!isUaProfileSubscribe(req)) return false;
    const { d } = this;
    if (!d.enabled()) return false;
    const a = pnpAnswer(req, d.url(), { toTag: d.random.token(64), contact: d.contact });
    if (!a) {
      d.counters.inc('pnp.bad-subscribe');
      respond(createResponse(req, 400, 'Bad ua-profile SUBSCRIBE', { toTag: d.random.token(64) }));
      return true;
    }
    respond(a.response);
    // Back to where it came from: a multicast SUBSCRIBE's Contact may name a
    // port the phone listens on, but the source is what surely reaches it.
    try {
      d.sendRequest(a.notify, { transport: source.transport, address: source.address, port: source.port, ...(source.flowId ? { flowId: source.flowId } : {}) });
      d.counters.inc('pnp.notified');
      d.log.info({ source: `${source.address}:${source.port}`, ua: getHeader(req, 'user-agent')?.slice(0, 80) }, 'plug-and-play: sent the provisioning URL');
    } catch {
      d.counters.inc('pnp.notify-failed');
    }
    return true;
  }
}
