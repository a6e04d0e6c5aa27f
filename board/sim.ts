import type { Board, Console, LedName, LedState, Leds, ResetButton } from './hal.js';
import { LED_NAMES } from './hal.js';

function sameState(a: LedState, b: LedState): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function describeLed(state: LedState): string {
  switch (state.mode) {
    case 'off': return 'off';
    case 'on': return `on${state.color ? ` ${state.color}` : ''}`;
    case 'blink': return `blink ${state.periodMs}ms${state.color ? ` ${state.color}` : ''}`;
  }
}

/** LED state in memory with change listeners: the sim board's LEDs, and what the GPIO board drives its pins from. */
export class MemoryLeds implements Leds {
  private readonly state = new Map<LedName, LedState>(LED_NAMES.map((n) => [n, { mode: 'off' }]));
  private readonly listeners = new Set<(led: LedName, state: LedState) => void>();

  set(led: LedName, next: LedState): void {
    const prev = this.state.get(led);
    if (prev && sameState(prev, next)) return;
    this.state.set(led, next);
    for (const l of this.listeners) {
      try { l(led, next); } catch { /* a listener must not break the LED path */ }
    }
  }

  get(led: LedName): LedState {
    return this.state.get(led) ?? { mode: 'off' };
  }

  snapshot(): Readonly<Record<LedName, LedState>> {
    return Object.fromEntries(LED_NAMES.map((n) => [n, this.get(n)])) as Record<LedName, LedState>;
  }

  onChange(listener: (led: LedName, state: LedState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** A reset button a test (or the sim console) can press. */
export class SimResetButton implements ResetButton {
  private readonly listeners = new Set<(heldMs: number) => void>();
  private readonly pressListeners = new Set<() => void>();
  onPress(listener: () => void): () => void {
    this.pressListeners.add(listener);
    return () => this.pressListeners.delete(listener);
  }
  /** The button goes down and stays down until release(heldMs); press(heldMs) does both. */
  down(): void {
    for (const l of this.pressListeners) {
      try { l(); } catch { /* one listener must not stop the others */ }
    }
  }
  release(heldMs: number): void {
    for (const l of this.listeners) {
      try { l(heldMs); } catch { /* one listener must not stop the others (a factory reset among them) */ }
    }
  }
  onRelease(listener: (heldMs: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  press(heldMs: number): void {
    this.down();
    this.release(heldMs);
  }
}

/**
 * The simulated board: LEDs in memory, changes printed on the console so a
 * developer running `npm start` sees what the box's front panel would show.
 */
export class SimBoard implements Board {
  readonly model = 'sim';
  readonly leds: Leds = new MemoryLeds();
  readonly resetButton = new SimResetButton();
  readonly console: Console;

  constructor(opts: { print?: (line: string) => void; showLeds?: boolean } = {}) {
    const print = opts.print ?? ((line: string) => process.stdout.write(`${line}\n`));
    this.console = { print };
    if (opts.showLeds ?? true) {
      this.leds.onChange((led, state) => print(`[led] ${led}: ${describeLed(state)}`));
    }
  }

  async close(): Promise<void> {
    // nothing to release in memory
  }
}
