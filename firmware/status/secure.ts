import type { CallView, LegView } from '../api/index.js';

/** A leg whose media is SRTP (by whatever key agreement), not plain RTP. */
function secureLeg(leg: LegView): boolean {
  return leg.protection !== 'rtp';
}

/**
 * Calls whose every leg is encrypted: the number behind the "every call
 * secure" LED. A call still routing has only its caller's leg; it counts when
 * that leg is, and the callee's leg is judged once it exists.
 */
export function secureCallCount(calls: readonly CallView[]): number {
  let n = 0;
  for (const c of calls) if (secureLeg(c.legs.a) && (!c.legs.b || secureLeg(c.legs.b))) n++;
  return n;
}
