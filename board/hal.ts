/**
 * The board as the firmware sees it: LEDs, the reset button and the console.
 * The simulated board (sim.ts) implements it in memory; the GPIO board (onoff)
 * and the serial console (serialport) implement the same interfaces later.
 */

// What an LED is doing is also what `pbx status` and the page's LED mirror
// show, so the shapes live in the dependency-free API file; the HAL drives them.
import type { LedColor, LedName, LedState } from '../firmware/api/index.js';

export type { LedColor, LedName, LedState };

export interface Leds {
  set(led: LedName, state: LedState): void;
  get(led: LedName): LedState;
  /** Every LED, for the web page's LED mirror and `pbx status`. */
  snapshot(): Readonly<Record<LedName, LedState>>;
  onChange(listener: (led: LedName, state: LedState) => void): () => void;
}

export interface ResetButton {
  /** Called when the button goes down (debounced), so a long press can show itself while held. */
  onPress(listener: () => void): () => void;
  /** Called with how long the button was held, when it is released. */
  onRelease(listener: (heldMs: number) => void): () => void;
}

export interface Console {
  /** Print a line for a person at the console. */
  print(line: string): void;
}

export interface Board {
  readonly model: string;
  readonly leds: Leds;
  readonly resetButton: ResetButton;
  readonly console: Console;
  close(): Promise<void>;
}

export const LED_NAMES: readonly LedName[] = ['power', 'registration', 'call', 'error'];
