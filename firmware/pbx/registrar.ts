import type { Clock } from '../core/index.js';
import {
  createResponse, getCSeq, getCallId, getHeader, getHeaders, parseNameAddr, parseUri,
  paramValue, type SipRequest, type SipResponse, type SipUri,
} from '../sip/message/index.js';
import { authenticate, type AuthDeps, type RequestSource } from './auth.js';
import { parseContacts, sameContact, type ContactEntry } from './contact.js';
import { sameBinding, type Binding, type LocationService } from './location.js';

/**
 * The registrar (RFC 3261 section 10.3): authenticates a REGISTER with digest,
 * applies the account's rules, and updates the location service.
 */

export interface RegistrarLimits {
  readonly minExpires: number;
  readonly maxExpires: number;
  readonly defaultExpires: number;
  /** Longest interval granted on TCP/TLS (never below minExpires); DEFAULT_STREAM_MAX_EXPIRES when absent. */
  readonly streamMaxExpires?: number;
  /** RFC 5626 Flow-Timer offered to outbound phones on TCP/TLS, seconds; DEFAULT_FLOW_TIMER_S when absent. */
  readonly flowTimerSec?: number;
}

/**
 * Five minutes: after a restart of the box, a phone that sends nothing but
 * REGISTERs is reachable again within this time.
 */
export const DEFAULT_STREAM_MAX_EXPIRES = 300;
/**
 * RFC 5626 5.4 suggests 120 s for connections; half that finds a dead box
 * (or a dead NAT binding) in about a minute for 4 bytes each way.
 */
export const DEFAULT_FLOW_TIMER_S = 60;

export interface RegistrarDeps extends AuthDeps {
  readonly clock: Clock;
  readonly location: LocationService;
  readonly limits: () => RegistrarLimits;
  readonly realm: () => string;
  /** Is this host one of the box's names or addresses (or the realm)? */
  readonly isOurDomain: (host: string) => boolean;
}

/** Contacts one account may have registered at once (desk phone, softphones, a mobile...). */
export const MAX_CONTACTS_PER_ACCOUNT = 10;

/** The option tags of Supported or Require, lower-cased. */
function optionTags(req: SipRequest, header: 'supported' | 'require'): string[] {
  return getHeaders(req, header).map((t) => t.trim().toLowerCase()).filter((t) => t.length > 0);
}

export class Registrar {
  constructor(private readonly d: RegistrarDeps) {}

  handle(req: SipRequest, src: RequestSource): SipResponse {
    const { d } = this;
    const reply = (status: number, reason?: string, headers: { name: string; value: string }[] = []): SipResponse =>
      createResponse(req, status, reason, { toTag: d.toTag(), headers });

    // Step 1: the Request-URI must name this registrar's domain (the box or its realm).
    // A REGISTER's Request-URI names a domain, not a listening port: phones
    // commonly send "REGISTER sip:box" to a non-default port, so only the host counts here.
    let ruri: SipUri;
    try { ruri = parseUri(req.uri); } catch {
      d.counters.inc('register.bad-uri');
      return reply(400, 'Bad Request-URI');
    }
    if (ruri.scheme === 'tel' || !(d.isOurDomain(ruri.host) || ruri.host === d.realm().toLowerCase())) {
      d.counters.inc('register.foreign-domain');
      return reply(403, 'Not Our Domain');
    }

    // Step 5: authentication (with the toll-fraud throttle in front).
    const auth = authenticate(d, req, src);
    if (!auth.ok) return auth.response;
    const account = auth.account;

    // Step 6: the authenticated user may only register its own address-of-record.
    let toUser: string | undefined;
    try { toUser = parseUri(parseNameAddr(getHeader(req, 'to') ?? '').uri).user; } catch { return reply(400, 'Bad To Header'); }
    if (toUser !== account.extension) {
      d.counters.inc('register.to-mismatch');
      return reply(403, 'Authenticated User Does Not Match To');
    }

    if (account.tlsOnly && src.transport !== 'tls' && src.transport !== 'wss') {
      d.counters.inc('register.tls-required');
      d.log.warn({ extension: account.extension, transport: src.transport }, 'REGISTER refused: account is TLS only');
      return reply(403, 'TLS Required For This Account');
    }

    return this.applyBindings(req, src, account.extension, reply);
  }

  private applyBindings(
    req: SipRequest, src: RequestSource, extension: string,
    reply: (status: number, reason?: string, headers?: { name: string; value: string }[]) => SipResponse,
  ): SipResponse {
    const { d } = this;
    const limits = d.limits();
    const now = d.clock.now();
    const callId = getCallId(req);
    const cseq = getCSeq(req).seq;
    const expiresHeader = getHeader(req, 'expires');
    const headerExpires = expiresHeader !== undefined && /^\s*\d+\s*$/.test(expiresHeader) ? Number(expiresHeader) : undefined;
    const contactValues = getHeaders(req, 'contact');
    // A connection (TCP, TLS, WebSocket) is how the box reaches the phone again (RFC 5626 5.3).
    const stream = src.transport !== 'udp' && src.flowId !== undefined;

    // Step 6 (wildcard): "Contact: *" with Expires: 0 removes every binding, and must stand alone.
    if (contactValues.some((v) => v.trim() === '*')) {
      if (contactValues.length !== 1 || headerExpires !== 0) return reply(400, 'Wildcard Contact Needs Expires 0 And No Other Contact');
      d.location.removeAll(extension);
      d.log.info({ extension }, 'unregistered all contacts');
      return reply(200, 'OK');
    }

    let contacts: ContactEntry[];
    try { contacts = parseContacts(contactValues); } catch {
      d.counters.inc('register.bad-contact');
      return reply(400, 'Bad Contact Header');
    }
    // RFC 5626 section 6: each flow is registered on its own, so one REGISTER carries at most one reg-id.
    if (contacts.filter((c) => c.regId !== undefined).length > 1) {
      d.counters.inc('register.multiple-reg-id');
      return reply(400, 'Only One Contact With reg-id Per REGISTER');
    }

    const streamCap = Math.min(limits.maxExpires, Math.max(limits.minExpires, limits.streamMaxExpires ?? DEFAULT_STREAM_MAX_EXPIRES));
    const updates: Array<{ contact: string; expires: number; instance?: string; regId?: number }> = [];
    for (const c of contacts) {
      // ":-2" says the phone does not listen. On a connection that costs
      // nothing: requests go back over it. Over UDP the box would have to send
      // to that port, so the contact is refused.
      if (c.dontBind && !stream) {
        d.counters.inc('register.dont-bind-without-connection');
        return reply(400, 'Contact Port -2 Needs A Connection (TCP or TLS)');
      }
      const p = paramValue(c.params, 'expires');
      let expires = p !== undefined && p !== null && /^\d+$/.test(p) ? Number(p) : headerExpires ?? limits.defaultExpires;
      if (expires !== 0 && expires < limits.minExpires) {
        d.counters.inc('register.too-brief');
        return reply(423, 'Interval Too Brief', [{ name: 'min-expires', value: String(limits.minExpires) }]);
      }
      expires = Math.min(expires, limits.maxExpires);
      // A binding on a connection lives only as long as the connection; when
      // the box restarts, the phone's next REGISTER is what brings it back if
      // it sends nothing else. A short interval bounds that wait; on the
      // phone's open connection a refresh costs no handshake, and a new one
      // resumes its TLS session. The granted value goes back in the 200.
      if (stream && expires > streamCap) {
        expires = streamCap;
        d.counters.inc('register.stream-expires-shortened');
      }
      updates.push({
        contact: c.uri, expires,
        ...(c.instance === undefined ? {} : { instance: c.instance }),
        ...(c.regId === undefined ? {} : { regId: c.regId }),
      });
    }

    // A bounded number of contacts per account: one phone must not be able to
    // make every REGISTER (and every call's fork) arbitrarily expensive.
    const current = d.location.bindings(extension);
    const known = (u: (typeof updates)[number]): boolean => current.some((b) => sameBinding(b, u, sameContact));
    const added = updates.filter((u) => u.expires > 0 && !known(u)).length;
    const removed = updates.filter((u) => u.expires === 0 && known(u)).length;
    if (added > 0 && current.length - removed + added > MAX_CONTACTS_PER_ACCOUNT) {
      d.counters.inc('register.too-many-contacts');
      return reply(403, `Too Many Contacts (at most ${MAX_CONTACTS_PER_ACCOUNT})`);
    }

    for (const u of updates) {
      const existing = current.find((b) => sameBinding(b, u, sameContact));
      // Step 7: within one Call-ID only a higher CSeq may change a binding; an
      // older or repeated one (a late retransmission) must not undo a newer one.
      if (existing && existing.callId === callId && existing.cseq >= cseq) continue;
      if (u.expires === 0) {
        d.location.removeWhere(extension, (b) => sameBinding(b, u, sameContact));
        continue;
      }
      const userAgent = getHeader(req, 'user-agent');
      const binding: Binding = {
        extension,
        contact: u.contact,
        expiresAt: now + u.expires * 1000,
        callId,
        cseq,
        transport: src.transport,
        source: { address: src.address, port: src.port },
        ...(stream ? { flowId: src.flowId } : {}),
        ...(userAgent !== undefined ? { userAgent } : {}),
        registeredAt: existing?.registeredAt ?? now,
        ...(u.instance === undefined ? {} : { instance: u.instance }),
        ...(u.regId === undefined ? {} : { regId: u.regId }),
      };
      d.location.upsert(binding, sameContact);
      if (!existing) d.log.info({ extension, contact: u.contact, transport: src.transport, source: `${src.address}:${src.port}`, expires: u.expires }, 'registered');
    }
    d.counters.inc('register.ok');

    // The 200 lists every current binding with its remaining time (10.3 step 8),
    // and names the phone's instance and reg-id beside its own (RFC 5626 section 6).
    const headers = d.location.bindings(extension).map((b) => ({
      name: 'contact',
      value: `<${b.contact}>;expires=${Math.max(0, Math.round((b.expiresAt - now) / 1000))}`
        + (b.instance === undefined ? '' : `;+sip.instance="<${b.instance}>"`)
        + (b.regId === undefined ? '' : `;reg-id=${b.regId}`),
    }));
    // RFC 5626 sections 6 and 5.4: a phone that asked for outbound (Supported:
    // outbound, +sip.instance and reg-id) over a connection gets Require:
    // outbound, so it knows this flow is the one the box uses, and Flow-Timer,
    // the keep-alive interval: a CRLFCRLF ping (answered CRLF by the
    // transport) at 80-100% of it tells the phone within that time that its
    // connection died, e.g. when the box restarted, and it reconnects and
    // re-registers at once. Over UDP the keep-alive would be STUN on the SIP
    // port, which the box does not answer, so outbound is not offered there.
    const wantsOutbound = stream && optionTags(req, 'supported').includes('outbound')
      && contacts.some((c) => c.regId !== undefined && c.instance !== undefined);
    if (wantsOutbound) {
      headers.push({ name: 'require', value: 'outbound' });
      headers.push({ name: 'flow-timer', value: String(limits.flowTimerSec ?? DEFAULT_FLOW_TIMER_S) });
      d.counters.inc('register.outbound');
    }
    headers.push({ name: 'date', value: new Date(now).toUTCString() });
    return reply(200, 'OK', headers);
  }
}
