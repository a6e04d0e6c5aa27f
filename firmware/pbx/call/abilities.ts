import type { LearnedAbilities, OfferShape, PlanInput } from '../policy/index.js';

/**
 * What the box learns about the phones it calls. When a contact refuses an
 * offer (488, 415, 606) the box tries another shape of offer on it (bridged:
 * another protection or profile, within the policy); what it refused and the
 * shape that then got an answer are remembered per contact, so the next call
 * goes straight to it. A contact that took the first offer teaches nothing.
 * Memory only, bounded, forgotten at restart: a phone re-learns on its next
 * refusal, which costs one extra INVITE.
 */

/** Statuses by which a phone says "not this media" (RFC 3261 21.4.26, 21.4.16, 21.6.4). */
export const REFUSES_MEDIA: ReadonlySet<number> = new Set([488, 415, 606]);

/** How many shapes of offer the box tries on one contact in one call. */
export const MAX_ATTEMPTS = 3;

/** One branch's place in the tries on its contact. */
export interface Attempt {
  /** The memory key of the contact: callee and contact URI. */
  readonly key: string;
  readonly input: PlanInput;
  /** The shapes offered to this contact so far in this call, this branch's last. */
  readonly tried: readonly OfferShape[];
}

export class AbilityMemory {
  private readonly known = new Map<string, LearnedAbilities>();

  constructor(private readonly limit = 1_000) {}

  static keyOf(extension: string, contact: string): string {
    return `${extension} ${contact}`;
  }

  get(key: string): LearnedAbilities | undefined {
    return this.known.get(key);
  }

  /** The contact answered the last of `tried` after refusing the others. */
  learned(key: string, tried: readonly OfferShape[]): void {
    const worked = tried[tried.length - 1];
    if (!worked || tried.length < 2) return;
    const before = this.known.get(key)?.refused ?? [];
    const refused = [...before, ...tried.slice(0, -1)].filter((r, i, all) =>
      all.findIndex((x) => x.protection === r.protection && x.feedback === r.feedback) === i
      && !(r.protection === worked.protection && r.feedback === worked.feedback));
    this.known.delete(key);
    this.known.set(key, { refused, worked });
    while (this.known.size > this.limit) {
      const oldest = this.known.keys().next();
      if (oldest.done) break;
      this.known.delete(oldest.value);
    }
  }

  get size(): number {
    return this.known.size;
  }
}
