import type { Leds } from '../../board/index.js';
import { LED_NAMES } from '../../board/index.js';
import { type ApplianceState, ledPattern } from './patterns.js';

export { type ApplianceState, type LedPattern, ledPattern } from './patterns.js';

/** Keeps the LEDs in step with the appliance state. */
export class StatusLeds {
  private state: ApplianceState = { phase: 'booting', problem: null, registeredPhones: 0, activeCalls: 0, secureCalls: 0 };

  constructor(private readonly leds: Leds) {
    this.apply();
  }

  update(patch: Partial<ApplianceState>): void {
    this.state = { ...this.state, ...patch };
    this.apply();
  }

  get current(): ApplianceState {
    return this.state;
  }

  private apply(): void {
    const p = ledPattern(this.state);
    for (const n of LED_NAMES) this.leds.set(n, p[n]);
  }
}
export { secureCallCount } from './secure.js';
export { CallQuality, CALL_SESSION_PREFIX, MAX_SAMPLES_PER_CALL, MAX_CALLS_KEPT, streamsOf } from './quality.js';
