import type { Clock, TimerHandle } from '../../firmware/core/index.js';
import type { ResetButton } from '../hal.js';
import type { GpioLine } from './pins.js';

/** How often the button line is sampled, and how many equal samples make a change. */
export const BUTTON_POLL_MS = 20;
export const BUTTON_STABLE_SAMPLES = 3;

/**
 * The reset button on an input line, sampled on the clock. A change counts
 * only after BUTTON_STABLE_SAMPLES equal samples in a row (60 ms), which is
 * the debounce: contact bounce of a few ms never reaches the listeners.
 * Sampling instead of an edge interrupt keeps one code path for the real
 * pin, a fake pin and a simulated sysfs file.
 */
export class PolledButton implements ResetButton {
  private readonly pressListeners = new Set<() => void>();
  private readonly releaseListeners = new Set<(heldMs: number) => void>();
  private pressed = false;
  private candidate = false;
  private streak = 0;
  private pressedAt = 0;
  private timer: TimerHandle | null = null;

  constructor(private readonly line: GpioLine, private readonly activeLow: boolean, private readonly clock: Clock) {
    this.timer = clock.setTimer(BUTTON_POLL_MS, () => this.sample());
  }

  onPress(listener: () => void): () => void {
    this.pressListeners.add(listener);
    return () => this.pressListeners.delete(listener);
  }

  onRelease(listener: (heldMs: number) => void): () => void {
    this.releaseListeners.add(listener);
    return () => this.releaseListeners.delete(listener);
  }

  get isPressed(): boolean { return this.pressed; }

  close(): void {
    this.timer?.cancel();
    this.timer = null;
    try { this.line.close(); } catch { /* released at exit */ }
  }

  private sample(): void {
    this.timer = this.clock.setTimer(BUTTON_POLL_MS, () => this.sample());
    let level: 0 | 1;
    try { level = this.line.read(); } catch { return; }
    const down = this.activeLow ? level === 0 : level === 1;
    if (down !== this.candidate) { this.candidate = down; this.streak = 1; } else this.streak++;
    if (this.streak < BUTTON_STABLE_SAMPLES || down === this.pressed) return;
    this.pressed = down;
    if (down) {
      this.pressedAt = this.clock.now();
      for (const l of this.pressListeners) { try { l(); } catch { /* one listener must not stop the others */ } }
    } else {
      const held = this.clock.now() - this.pressedAt;
      for (const l of this.releaseListeners) { try { l(held); } catch { /* one listener must not stop the others */ } }
    }
  }
}
