import { timingSafeEqual } from 'node:crypto';
import { type Clock, type Counters, type Random, PbxError } from '../../core/index.js';
import { formatAuthParams } from '../message/index.js';
import { parseAuthParams, isQuotable } from './params.js';
import { type DigestAlgorithm, DIGEST_ALGORITHMS, HEX_LENGTH, algorithmFromToken, digestHash, digestResponse } from './hash.js';
import { checkNonceFor, mintNonce, opaqueFor } from './nonce.js';

/** RFC 7616 section 5.5 leaves the nonce lifetime to the server; five minutes. */
export const DEFAULT_NONCE_LIFETIME_MS = 300_000;
/** Nonces whose highest nonce-count we remember; older ones are evicted. */
export const MAX_TRACKED_NONCES = 10_000;
/** Bytes of the box-bound HMAC key. */
export const SECRET_BYTES = 32;
const MIN_SECRET_BYTES = 16;
/** A nonce claiming to come from further in the future than this is not ours. */
const NONCE_FUTURE_SKEW_MS = 5_000;
/** Expired replay entries dropped per insertion, so pruning stays cheap. */
const PRUNE_PER_INSERT = 8;

export type DigestFailure =
  | 'malformed'
  | 'unknown-user'
  | 'wrong-password'
  | 'stale'
  | 'bad-nonce'
  /** A nonce of ours issued to another address (issue 20): re-challenge with stale=true, not a guess. */
  | 'wrong-address'
  | 'replay'
  | 'realm-mismatch'
  | 'unsupported-algorithm'
  | 'missing';

export type DigestVerifyResult =
  | { readonly ok: true; readonly username: string; readonly algorithm: DigestAlgorithm }
  /** username is set when the header got far enough to name one, for logs. */
  | { readonly ok: false; readonly reason: DigestFailure; readonly username?: string };

export interface DigestRequest {
  readonly method: string;
  /** The Authorization or Proxy-Authorization header value; undefined if absent. */
  readonly authorization: string | undefined;
  /** The address the request came from; its nonce must have been issued to it. '' when unknown. */
  readonly address?: string;
}

/** HA1 for a user under an algorithm, as hex, or undefined if there is no such user. */
export type Ha1Lookup = (username: string, algorithm: DigestAlgorithm) => string | undefined;

export interface DigestServerOptions {
  readonly realm: string;
  /** HMAC key binding nonces to this box; make it with DigestServer.newSecret(). */
  readonly secret: Buffer;
  readonly clock: Clock;
  readonly random: Random;
  readonly nonceLifetimeMs?: number;
  /** Offered algorithms, most preferred first. */
  readonly algorithms?: readonly DigestAlgorithm[];
  /** Accept credentials without qop (RFC 2069 form). Off by default: no nonce-count, no replay check. */
  readonly allowRfc2069?: boolean;
  readonly maxTrackedNonces?: number;
  /** Bumped as sip.digest.ok and sip.digest.reject.<reason>. */
  readonly counters?: Counters;
}

interface NonceUse {
  nc: number;
  readonly issuedAt: number;
}

/** RFC 3261 25.1 / RFC 7616 3.3: these challenge values are quoted-strings; algorithm and stale are tokens. */
const CHALLENGE_QUOTED = ['realm', 'nonce', 'opaque', 'qop'];
const NC_RE = /^[0-9a-fA-F]{8}$/;
const HEX_RE = /^[0-9a-fA-F]+$/;

/**
 * Server side of SIP digest authentication (RFC 3261 section 22, RFC 8760).
 * Nonces carry their own proof of origin, so the only state is the highest
 * nonce-count seen per nonce, for replay detection (RFC 7616 section 3.4).
 */
export class DigestServer {
  readonly realm: string;
  private readonly secret: Buffer;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly lifetimeMs: number;
  private readonly algorithms: readonly DigestAlgorithm[];
  private readonly allowRfc2069: boolean;
  private readonly maxTracked: number;
  private readonly counters: Counters | undefined;
  private readonly opaque: string;
  /** Insertion order doubles as recency: an update moves the entry to the end. */
  private readonly uses = new Map<string, NonceUse>();
  /** Newest issue time among evicted entries; an untracked nonce at or before it may be a replay. */
  private evictedUpTo = -1;

  static newSecret(random: Random): Buffer {
    return random.bytes(SECRET_BYTES);
  }

  constructor(opts: DigestServerOptions) {
    if (opts.realm === '' || !isQuotable(opts.realm)) throw new PbxError('config', 'digest realm is empty or has control characters');
    if (opts.secret.length < MIN_SECRET_BYTES) throw new PbxError('config', 'digest secret is too short');
    const algorithms = opts.algorithms ?? DIGEST_ALGORITHMS;
    if (algorithms.length === 0 || algorithms.some((a) => !DIGEST_ALGORITHMS.includes(a)) || new Set(algorithms).size !== algorithms.length) {
      throw new PbxError('config', 'digest algorithms must be a non-empty list of SHA-256 and MD5');
    }
    const lifetime = opts.nonceLifetimeMs ?? DEFAULT_NONCE_LIFETIME_MS;
    if (!(lifetime > 0)) throw new PbxError('config', 'nonce lifetime must be positive');
    this.realm = opts.realm;
    this.secret = Buffer.from(opts.secret);
    this.clock = opts.clock;
    this.random = opts.random;
    this.lifetimeMs = lifetime;
    this.algorithms = [...algorithms];
    this.allowRfc2069 = opts.allowRfc2069 ?? false;
    this.maxTracked = Math.max(1, opts.maxTrackedNonces ?? MAX_TRACKED_NONCES);
    this.counters = opts.counters;
    this.opaque = opaqueFor(this.secret, this.realm);
  }

  /**
   * WWW-Authenticate (or Proxy-Authenticate) values, one per offered algorithm
   * in order of preference, as RFC 8760 section 2.4 asks. Each gets its own
   * fresh nonce, so a nonce's count belongs to one algorithm.
   */
  challenge(opts: { stale?: boolean; address?: string } = {}): string[] {
    return this.algorithms.map((algorithm) => {
      const nonce = mintNonce(this.secret, this.realm, this.clock.now(), this.random.bytes(8), opts.address ?? '');
      const params: Record<string, string> = { realm: this.realm, nonce, opaque: this.opaque, algorithm, qop: 'auth' };
      if (opts.stale === true) params.stale = 'true';
      return formatAuthParams('Digest', params, CHALLENGE_QUOTED);
    });
  }

  verify(request: DigestRequest, lookupHa1: Ha1Lookup): DigestVerifyResult {
    const result = this.check(request, lookupHa1);
    this.counters?.inc(result.ok ? 'sip.digest.ok' : `sip.digest.reject.${result.reason}`);
    return result;
  }

  private check(request: DigestRequest, lookupHa1: Ha1Lookup): DigestVerifyResult {
    const header = request.authorization;
    if (header === undefined || header.trim() === '') return { ok: false, reason: 'missing' };
    const parsed = parseAuthParams(header);
    if (!parsed.ok || parsed.scheme.toLowerCase() !== 'digest') return { ok: false, reason: 'malformed' };
    const p = parsed.params;
    const username = p.get('username');
    const realm = p.get('realm');
    const nonce = p.get('nonce');
    const uri = p.get('uri');
    const response = p.get('response');
    if (username === undefined || realm === undefined || nonce === undefined || uri === undefined || response === undefined) {
      return { ok: false, reason: 'malformed' };
    }
    const fail = (reason: DigestFailure): DigestVerifyResult => ({ ok: false, reason, username });

    // qop=auth is what we offer; without qop only the RFC 2069 form, if allowed.
    const qop = p.get('qop');
    const nc = p.get('nc');
    const cnonce = p.get('cnonce');
    if (qop !== undefined) {
      if (qop.toLowerCase() !== 'auth' || nc === undefined || !NC_RE.test(nc) || cnonce === undefined || cnonce === '') return fail('malformed');
    } else if (!this.allowRfc2069 || nc !== undefined || cnonce !== undefined) {
      return fail('malformed');
    }

    const algorithm = algorithmFromToken(p.get('algorithm'));
    if (algorithm === undefined || !this.algorithms.includes(algorithm)) return fail('unsupported-algorithm');
    if (response.length !== HEX_LENGTH[algorithm] || !HEX_RE.test(response)) return fail('malformed');
    if (realm !== this.realm) return fail('realm-mismatch');

    const nonceCheck = checkNonceFor(this.secret, this.realm, nonce, request.address ?? '');
    const now = this.clock.now();
    if (!nonceCheck.ok && nonceCheck.reason === 'foreign') return fail('bad-nonce');
    const issuedAt = nonceCheck.issuedAt ?? Number.POSITIVE_INFINITY;
    if (issuedAt > now + NONCE_FUTURE_SKEW_MS) return fail('bad-nonce');
    const opaque = p.get('opaque');
    // The client must echo opaque (RFC 3261 section 22.4); some drop it, which
    // costs nothing since the nonce carries the proof, but a wrong one is foreign.
    if (opaque !== undefined && opaque !== this.opaque) return fail('bad-nonce');

    // Issued to another address: answered before any password work, whoever
    // the user is, so it tells nothing about the account or the password.
    if (!nonceCheck.ok) return fail('wrong-address');

    const stored = lookupHa1(username, algorithm);
    // Known and unknown users cost the same hashes (issue 20: no timing
    // difference tells who exists): the stand-in HA1 is made either way.
    const standIn = digestHash(algorithm, `${username}:${this.realm}`);
    const expected = digestResponse({
      algorithm,
      ha1: stored ?? standIn,
      nonce,
      method: request.method,
      uri,
      ...(qop !== undefined ? { qop: 'auth' as const, nc, cnonce } : {}),
    });
    const match = timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(response.toLowerCase(), 'latin1'));
    if (stored === undefined) return fail('unknown-user');
    if (!match) return fail('wrong-password');

    // Only a client that knows the password learns its nonce went stale
    // (RFC 3261 section 22.4 / RFC 7616 section 3.3: stale=true).
    if (now - issuedAt > this.lifetimeMs) return fail('stale');
    if (nc !== undefined && !this.acceptCount(nonce, issuedAt, parseInt(nc, 16), now)) {
      // An evicted nonce cannot be told from a replayed one; ask for a fresh one.
      return fail(this.uses.has(nonce) ? 'replay' : 'stale');
    }
    return { ok: true, username, algorithm };
  }

  /** RFC 7616 section 3.4: the nonce-count must grow with each use of a nonce. */
  private acceptCount(nonce: string, issuedAt: number, nc: number, now: number): boolean {
    const use = this.uses.get(nonce);
    if (use !== undefined) {
      if (nc <= use.nc) return false;
      this.uses.delete(nonce);
      use.nc = nc;
      this.uses.set(nonce, use);
      return true;
    }
    if (issuedAt <= this.evictedUpTo) return false;
    this.uses.set(nonce, { nc, issuedAt });
    this.prune(now);
    return true;
  }

  private prune(now: number): void {
    let looked = 0;
    for (const [nonce, use] of this.uses) {
      if (looked++ >= PRUNE_PER_INSERT) break;
      // Past its lifetime a nonce is answered with stale before the count matters.
      if (now - use.issuedAt > this.lifetimeMs) this.uses.delete(nonce);
    }
    while (this.uses.size > this.maxTracked) {
      const first = this.uses.entries().next();
      if (first.done === true) break;
      const [nonce, use] = first.value;
      this.uses.delete(nonce);
      this.evictedUpTo = Math.max(this.evictedUpTo, use.issuedAt);
      this.counters?.inc('sip.digest.nonce-evicted');
    }
  }

  /** How many nonces are tracked for replay detection (for status pages). */
  get trackedNonces(): number {
    return this.uses.size;
  }
}
