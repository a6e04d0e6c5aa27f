import type { Counters, Logger } from '../core/index.js';
import { createResponse, getHeader, type SipRequest, type SipResponse } from '../sip/message/index.js';
import { parseAuthParams, type AuthThrottle, type DigestServer, type GuessGuard } from '../sip/digest/index.js';
import type { TransportName } from './location.js';

/**
 * Digest authentication of a request from a phone (RFC 3261 22), shared by the
 * registrar and call control, with the toll-fraud throttle in front of it.
 */

export interface AccountInfo {
  readonly extension: string;
  readonly ha1Md5: string;
  readonly ha1Sha256: string;
  readonly tlsOnly: boolean;
  /** Issue 12: 'mutual' means a request counts only over TLS with a certificate bound to the account. */
  readonly tlsMode?: 'encrypt' | 'server' | 'mutual';
}

export interface AccountDirectory {
  get(extension: string): AccountInfo | undefined;
}

export interface RequestSource {
  readonly transport: TransportName;
  readonly address: string;
  readonly port: number;
  readonly flowId?: string;
}

export interface AuthDeps {
  readonly accounts: AccountDirectory;
  /** The current digest verifier (rebuilt when the realm or algorithms change). */
  readonly digest: () => DigestServer;
  readonly throttle: AuthThrottle;
  /** Issue 20: per-account guessing windows; absent, only the source throttle guards. */
  readonly guesses?: GuessGuard;
  readonly counters: Counters;
  readonly log: Logger;
  readonly toTag: () => string;
  /**
   * Told of every authenticated request, so the phone's bindings follow it to
   * the connection it uses now (LocationService.requestAuthenticated): after
   * a restart of the box a phone is reachable again from its first request,
   * not its next REGISTER. The registrar's and call control's deps already
   * carry the location service under this name.
   */
  /**
   * Mutual TLS (issue 12): does the connection this request came on carry a
   * client certificate bound to the extension (issued for it by the box, not
   * revoked)? Absent: no account in mutual mode can authenticate.
   */
  readonly certBinds?: (extension: string, src: RequestSource) => boolean;
  readonly location?: { requestAuthenticated(extension: string, req: SipRequest, src: RequestSource): number };
}

export type AuthOutcome =
  | { readonly ok: true; readonly account: AccountInfo }
  | { readonly ok: false; readonly response: SipResponse };

/** Longer than any extension or trunk user name (they are at most 64 characters). */
const MAX_USERNAME = 64;

/** Authenticate req; on failure the outcome carries the response to send (401 challenge or 403). */
export function authenticate(d: AuthDeps, req: SipRequest, src: RequestSource): AuthOutcome {
  const what = req.method.toLowerCase();
  const reply = (status: number, reason: string, headers: { name: string; value: string }[] = []): AuthOutcome =>
    ({ ok: false, response: createResponse(req, status, reason, { toTag: d.toTag(), headers }) });

  // The nonce is bound to the address the challenge goes to.
  const challenge = (stale = false): AuthOutcome =>
    reply(401, 'Unauthorized', d.digest().challenge({ stale, address: src.address }).map((value) => ({ name: 'www-authenticate', value })));
  const authorization = getHeader(req, 'authorization');
  // The extension tried (never the password): the username of the Authorization header.
  const parsedAuth = authorization ? parseAuthParams(authorization) : undefined;
  const tried = parsedAuth?.ok ? parsedAuth.params.get('username') : undefined;
  // A source that failed too often is refused before any work, except on a
  // connection that has already authenticated as this very account (issue 20:
  // never block an established authenticated TCP/TLS flow; the guesser beside
  // it, or one password used to try the other accounts, is refused).
  if (d.throttle.isBlocked(src.address) && !(d.guesses?.isAuthenticatedFlow(src.flowId, tried) ?? false)) {
    d.counters.inc(`${what}.blocked`);
    return reply(403, 'Blocked After Repeated Failures');
  }
  // No account has a name this long: refused before it is remembered anywhere
  // (the guessing windows key on it, and would hold whatever size it came in).
  if (tried !== undefined && tried.length > MAX_USERNAME) {
    d.counters.inc(`${what}.auth-bad-username`);
    d.throttle.recordFailure(src.address);
    return reply(403, 'Forbidden');
  }
  if (!authorization) {
    d.counters.inc(`${what}.challenged`);
    return challenge();
  }
  // Issue 20: an account past its guessing window refuses this source before
  // any password work, known and unknown names alike.
  const lock = tried === undefined ? undefined : d.guesses?.refusal(tried, src.address, src.flowId);
  if (lock !== undefined) {
    d.counters.inc(`${what}.guess-locked`);
    return reply(403, 'Too Many Failed Attempts', [{ name: 'retry-after', value: String(d.guesses?.secondsLeft(lock) ?? 1) }]);
  }
  const result = d.digest().verify({ method: req.method, authorization, address: src.address }, (user, alg) => {
    const acct = d.accounts.get(user);
    if (!acct) return undefined;
    return alg === 'SHA-256' ? acct.ha1Sha256 : acct.ha1Md5;
  });
  if (!result.ok) {
    d.counters.inc(`${what}.auth-${result.reason}`);
    if (result.reason === 'stale' || result.reason === 'wrong-address') return challenge(true);
    if (result.reason === 'bad-nonce' || result.reason === 'missing') return challenge();
    d.throttle.recordFailure(src.address, tried);
    // Only a password actually tried counts against the account's windows.
    if (tried !== undefined && (result.reason === 'wrong-password' || result.reason === 'unknown-user')) d.guesses?.recordFailure(tried, src.address);
    d.log.warn({ method: req.method, source: `${src.address}:${src.port}`, transport: src.transport, reason: result.reason }, 'authentication failed');
    // The same answer for an unknown user and a wrong password, so a scanner learns nothing.
    return reply(403, 'Forbidden');
  }
  d.throttle.recordSuccess(src.address);
  d.guesses?.recordSuccess(result.username, src.address, src.transport === 'udp' ? undefined : src.flowId);
  const account = d.accounts.get(result.username);
  if (!account) return reply(403, 'Forbidden');
  // With mutual TLS a stolen password alone does nothing (seed 002's toll-fraud point):
  // the right digest over a connection without the account's certificate is refused.
  if (account.tlsMode === 'mutual' && !(src.transport === 'tls' && src.flowId !== undefined && (d.certBinds?.(account.extension, src) ?? false))) {
    d.counters.inc(`${what}.cert-not-bound`);
    d.log.warn({ method: req.method, extension: account.extension, source: `${src.address}:${src.port}`, transport: src.transport },
      'refused: account needs mutual TLS with its own certificate');
    return reply(403, 'Certificate Not Bound To This Account');
  }
  try {
    const moved = d.location?.requestAuthenticated(account.extension, req, src) ?? 0;
    if (moved > 0) {
      d.counters.inc(`${what}.flow-followed`, moved);
      d.log.info({ extension: account.extension, method: req.method, transport: src.transport, source: `${src.address}:${src.port}`, bindings: moved },
        'bindings moved to the connection the phone uses now');
    }
  } catch {
    // Moving a flow is an improvement, never a reason to refuse the request.
    d.counters.inc('auth.flow-follow-error');
  }
  return { ok: true, account };
}
