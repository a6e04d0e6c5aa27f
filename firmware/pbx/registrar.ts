import type { Clock } from '../core/index.js';
import {
  createResponse, getCSeq, getCallId, getHeader, getHeaders, parseNameAddr, parseNameAddrList, parseUri,
  paramValue, uriEquals, type SipRequest, type SipResponse, type SipUri,
} from '../sip/message/index.js';
import { authenticate, type AuthDeps, type RequestSource } from './auth.js';
import type { Binding, LocationService } from './location.js';

/**
 * The registrar (RFC 3261 section 10.3): authenticates a REGISTER with digest,
 * applies the account's rules, and updates the location service.
 */

export interface RegistrarLimits {
  readonly minExpires: number;
  readonly maxExpires: number;
  readonly defaultExpires: number;
}

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

const sameContact = (a: string, b: string): boolean => {
  try { return uriEquals(parseUri(a), parseUri(b)); } catch { return a === b; }
};

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

    // Step 6 (wildcard): "Contact: *" with Expires: 0 removes every binding, and must stand alone.
    if (contactValues.some((v) => v.trim() === '*')) {
      if (contactValues.length !== 1 || headerExpires !== 0) return reply(400, 'Wildcard Contact Needs Expires 0 And No Other Contact');
      d.location.removeAll(extension);
      d.log.info({ extension }, 'unregistered all contacts');
      return reply(200, 'OK');
    }

    let contacts;
    try { contacts = contactValues.flatMap((v) => parseNameAddrList(v)); } catch {
      d.counters.inc('register.bad-contact');
      return reply(400, 'Bad Contact Header');
    }

    const updates: Array<{ contact: string; expires: number }> = [];
    for (const c of contacts) {
      const p = paramValue(c.params, 'expires');
      let expires = p !== undefined && p !== null && /^\d+$/.test(p) ? Number(p) : headerExpires ?? limits.defaultExpires;
      if (expires !== 0 && expires < limits.minExpires) {
        d.counters.inc('register.too-brief');
        return reply(423, 'Interval Too Brief', [{ name: 'min-expires', value: String(limits.minExpires) }]);
      }
      expires = Math.min(expires, limits.maxExpires);
      try { parseUri(c.uri); } catch { return reply(400, 'Bad Contact URI'); }
      updates.push({ contact: c.uri, expires });
    }

    // A bounded number of contacts per account: one phone must not be able to
    // make every REGISTER (and every call's fork) arbitrarily expensive.
    const current = d.location.lookup(extension);
    const added = updates.filter((u) => u.expires > 0 && !current.some((b) => sameContact(b.contact, u.contact))).length;
    const removed = updates.filter((u) => u.expires === 0 && current.some((b) => sameContact(b.contact, u.contact))).length;
    if (added > 0 && current.length - removed + added > MAX_CONTACTS_PER_ACCOUNT) {
      d.counters.inc('register.too-many-contacts');
      return reply(403, `Too Many Contacts (at most ${MAX_CONTACTS_PER_ACCOUNT})`);
    }

    for (const u of updates) {
      const existing = current.find((b) => sameContact(b.contact, u.contact));
      // Step 7: within one Call-ID only a higher CSeq may change a binding; an
      // older or repeated one (a late retransmission) must not undo a newer one.
      if (existing && existing.callId === callId && existing.cseq >= cseq) continue;
      if (u.expires === 0) {
        d.location.remove(extension, u.contact, sameContact);
        continue;
      }
      const binding: Binding = {
        extension,
        contact: u.contact,
        expiresAt: now + u.expires * 1000,
        callId,
        cseq,
        transport: src.transport,
        source: { address: src.address, port: src.port },
        ...(src.flowId !== undefined && src.transport !== 'udp' ? { flowId: src.flowId } : {}),
        ...(getHeader(req, 'user-agent') !== undefined ? { userAgent: getHeader(req, 'user-agent') } : {}),
        registeredAt: existing?.registeredAt ?? now,
      };
      d.location.upsert(binding, sameContact);
      if (!existing) d.log.info({ extension, contact: u.contact, transport: src.transport, source: `${src.address}:${src.port}`, expires: u.expires }, 'registered');
    }
    d.counters.inc('register.ok');

    // The 200 lists every current binding with its remaining time (10.3 step 8).
    const headers = d.location.lookup(extension).map((b) => ({
      name: 'contact',
      value: `<${b.contact}>;expires=${Math.max(0, Math.round((b.expiresAt - now) / 1000))}`,
    }));
    headers.push({ name: 'date', value: new Date(now).toUTCString() });
    return reply(200, 'OK', headers);
  }
}
