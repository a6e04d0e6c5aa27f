import type { LedName, LedState } from '../../board/index.js';

/**
 * What the appliance is doing, reduced to what its LEDs show. The mapping is a
 * pure function so that it can be tested row by row and mirrored in the web UI.
 */
export interface ApplianceState {
  readonly phase: 'booting' | 'running' | 'stopping';
  /** A problem the admin must see (config fell back to last good, a service failed). */
  readonly problem: string | null;
  readonly registeredPhones: number;
  readonly activeCalls: number;
  readonly secureCalls: number;
  /** Phones with a registration under way (challenged, not yet bound). */
  readonly registering?: number;
  /** A firmware update is being verified or installed. */
  readonly updating?: boolean;
  /** The reset button has been held long enough to warn of a factory reset. */
  readonly resetPending?: boolean;
  /** A short press of the reset button: the box shows where it is. */
  readonly identify?: boolean;
}

export type LedPattern = Readonly<Record<LedName, LedState>>;

const OFF: LedState = { mode: 'off' };

export function ledPattern(s: ApplianceState): LedPattern {
  // Holding the reset button outranks everything: the office must see what letting go will do.
  if (s.resetPending) {
    const fast: LedState = { mode: 'blink', periodMs: 200, color: 'red' };
    return { power: { mode: 'blink', periodMs: 200, color: 'amber' }, registration: fast, call: OFF, error: fast };
  }
  if (s.updating) {
    return { power: { mode: 'blink', periodMs: 1000, color: 'amber' }, registration: OFF, call: OFF, error: OFF };
  }
  if (s.phase === 'booting') {
    return { power: { mode: 'blink', periodMs: 500, color: 'green' }, registration: OFF, call: OFF, error: OFF };
  }
  if (s.phase === 'stopping') {
    return { power: { mode: 'blink', periodMs: 250, color: 'amber' }, registration: OFF, call: OFF, error: OFF };
  }
  return {
    power: s.identify ? { mode: 'blink', periodMs: 150, color: 'green' } : { mode: 'on', color: 'green' },
    // No phone registered: the registration LED blinks slowly so the office sees it at a glance;
    // a registration under way blinks it fast green until the phone is bound.
    registration: (s.registering ?? 0) > 0 ? { mode: 'blink', periodMs: 300, color: 'green' }
      : s.registeredPhones > 0 ? { mode: 'on', color: 'green' } : { mode: 'blink', periodMs: 2000, color: 'amber' },
    call: s.activeCalls === 0 ? OFF
      : s.secureCalls === s.activeCalls ? { mode: 'on', color: 'blue' } : { mode: 'on', color: 'green' },
    error: s.problem ? { mode: 'blink', periodMs: 1000, color: 'red' } : OFF,
  };
}
