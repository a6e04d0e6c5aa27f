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
}

export type LedPattern = Readonly<Record<LedName, LedState>>;

const OFF: LedState = { mode: 'off' };

export function ledPattern(s: ApplianceState): LedPattern {
  if (s.phase === 'booting') {
    return { power: { mode: 'blink', periodMs: 500, color: 'green' }, registration: OFF, call: OFF, error: OFF };
  }
  if (s.phase === 'stopping') {
    return { power: { mode: 'blink', periodMs: 250, color: 'amber' }, registration: OFF, call: OFF, error: OFF };
  }
  return {
    power: { mode: 'on', color: 'green' },
    // No phone registered: the registration LED blinks slowly so the office sees it at a glance.
    registration: s.registeredPhones > 0 ? { mode: 'on', color: 'green' } : { mode: 'blink', periodMs: 2000, color: 'amber' },
    call: s.activeCalls === 0 ? OFF
      : s.secureCalls === s.activeCalls ? { mode: 'on', color: 'blue' } : { mode: 'on', color: 'green' },
    error: s.problem ? { mode: 'blink', periodMs: 1000, color: 'red' } : OFF,
  };
}
