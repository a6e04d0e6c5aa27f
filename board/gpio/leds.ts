import type { Clock, TimerHandle } from '../../firmware/core/index.js';
import type { LedColor, LedName, LedState, Leds } from '../hal.js';
import { LED_NAMES } from '../hal.js';
import { MemoryLeds } from '../sim.js';
import type { GpioDriver, GpioLine, Level } from './pins.js';

type ColorLines = Partial<Record<LedColor, readonly number[]>>;

/** The lines to light for a colour: that colour's, or the LED's first colour when it has no such die. */
export function linesFor(map: ColorLines, color: LedColor | undefined): readonly number[] {
  if (color && map[color]) return map[color]!;
  const first = Object.values(map)[0];
  return first ?? [];
}

/**
 * LEDs on GPIO lines: the state lives in memory (what the page mirrors), and
 * each change sets the lines; a blink toggles them on the clock every
 * periodMs / 2.
 */
export class GpioLeds implements Leds {
  private readonly mem = new MemoryLeds();
  private readonly lines = new Map<number, GpioLine>();
  private readonly blinkers = new Map<LedName, TimerHandle>();

  constructor(
    private readonly map: Readonly<Record<LedName, ColorLines>>,
    private readonly toLine: (offset: number) => number,
    driver: GpioDriver,
    private readonly clock: Clock,
  ) {
    for (const led of LED_NAMES) {
      for (const off of new Set(Object.values(map[led]).flat())) {
        const line = toLine(off);
        if (!this.lines.has(line)) {
          const g = driver.output(line);
          g.write(0);
          this.lines.set(line, g);
        }
      }
    }
    this.mem.onChange((led, state) => this.drive(led, state));
  }

  set(led: LedName, state: LedState): void { this.mem.set(led, state); }
  get(led: LedName): LedState { return this.mem.get(led); }
  snapshot(): Readonly<Record<LedName, LedState>> { return this.mem.snapshot(); }
  onChange(listener: (led: LedName, state: LedState) => void): () => void { return this.mem.onChange(listener); }

  close(): void {
    for (const t of this.blinkers.values()) t.cancel();
    this.blinkers.clear();
    for (const g of this.lines.values()) {
      try { g.write(0); g.close(); } catch { /* releasing at exit: nothing left to do */ }
    }
    this.lines.clear();
  }

  private drive(led: LedName, state: LedState): void {
    this.blinkers.get(led)?.cancel();
    this.blinkers.delete(led);
    const all = new Set(Object.values(this.map[led]).flat().map(this.toLine));
    const lit = new Set(state.mode === 'off' ? [] : linesFor(this.map[led], state.color).map(this.toLine));
    const show = (on: boolean): void => {
      for (const l of all) this.lines.get(l)?.write((on && lit.has(l) ? 1 : 0) as Level);
    };
    show(state.mode !== 'off');
    if (state.mode === 'blink') {
      const half = Math.max(10, Math.floor(state.periodMs / 2));
      let on = true;
      const tick = (): void => {
        on = !on;
        show(on);
        this.blinkers.set(led, this.clock.setTimer(half, tick));
      };
      this.blinkers.set(led, this.clock.setTimer(half, tick));
    }
  }
}
