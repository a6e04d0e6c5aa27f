import { timingSafeEqual } from 'node:crypto';
import type { Clock, Random } from '../core/index.js';

/**
 * Admin sessions, kept in memory only: a restart logs everyone out, which is
 * the safe direction for a box with one admin. Each session carries its own
 * CSRF token, sent back by the page in a header on every change.
 */

/** A session ends after this long without a request... */
export const SESSION_IDLE_MS = 30 * 60 * 1000;
/** ...and this long after login, whatever happens. */
export const SESSION_MAX_MS = 12 * 60 * 60 * 1000;
/** Sessions held at once; past this the oldest is dropped. */
export const MAX_SESSIONS = 64;
/** Bits of entropy in session ids and CSRF tokens. */
export const TOKEN_BITS = 256;

export interface Session {
  readonly id: string;
  readonly csrfToken: string;
  readonly createdAt: number;
  lastSeen: number;
}

export class SessionStore {
  /** Insertion order is creation order, so the first entry is the oldest. */
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly idleMs = SESSION_IDLE_MS,
    private readonly maxMs = SESSION_MAX_MS,
  ) {}

  create(): Session {
    const now = this.clock.now();
    const s: Session = { id: this.random.token(TOKEN_BITS), csrfToken: this.random.token(TOKEN_BITS), createdAt: now, lastSeen: now };
    this.sessions.set(s.id, s);
    while (this.sessions.size > MAX_SESSIONS) {
      const oldest = this.sessions.keys().next();
      if (oldest.done === true) break;
      this.sessions.delete(oldest.value);
    }
    return s;
  }

  /** The live session with this id, refreshed; undefined if unknown or expired. */
  touch(id: string | undefined): Session | undefined {
    const s = this.peek(id);
    if (s) s.lastSeen = this.clock.now();
    return s;
  }

  /** Like touch() without refreshing the idle timer (long-lived event streams). */
  peek(id: string | undefined): Session | undefined {
    if (id === undefined) return undefined;
    const s = this.sessions.get(id);
    if (!s) return undefined;
    const now = this.clock.now();
    if (now - s.lastSeen >= this.idleMs || now - s.createdAt >= this.maxMs) {
      this.sessions.delete(id);
      return undefined;
    }
    return s;
  }

  destroy(id: string): void {
    this.sessions.delete(id);
  }

  /** Log everyone out (after a password change). */
  clear(): void {
    this.sessions.clear();
  }

  get size(): number {
    return this.sessions.size;
  }
}

/** Constant-time comparison of two tokens of possibly different lengths. */
export function tokensEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  if (x.length !== y.length) {
    timingSafeEqual(x, x); // spend comparable time either way
    return false;
  }
  return timingSafeEqual(x, y);
}
