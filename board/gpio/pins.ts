/**
 * One GPIO line as the board drives it: an output for an LED, an input for
 * the reset button. Numbers are global sysfs line numbers (chip base + offset,
 * see chips.ts). The production driver is onoff; tests use FakeGpio or run
 * onoff itself against a simulated sysfs tree in a mount namespace.
 */
export type Level = 0 | 1;

export interface GpioLine {
  write(value: Level): void;
  read(): Level;
  close(): void;
}

export interface GpioDriver {
  readonly name: string;
  output(line: number): GpioLine;
  input(line: number): GpioLine;
}

/** onoff's Gpio, loaded only when a GPIO board runs (its epoll addon is Linux-only). */
export async function onoffDriver(): Promise<GpioDriver> {
  const { Gpio } = await import('onoff');
  const open = (line: number, direction: 'out' | 'in'): GpioLine => {
    // 'none' edge: the button is sampled on the clock (button.ts), which is
    // also what debounces it, so no epoll interrupt is armed.
    const g = new Gpio(line, direction, 'none');
    return {
      write: (v) => g.writeSync(v),
      read: () => (g.readSync() === 1 ? 1 : 0),
      close: () => g.unexport(),
    };
  };
  return { name: 'onoff', output: (l) => open(l, 'out'), input: (l) => open(l, 'in') };
}

/** Lines in memory: what a unit test reads back and presses. */
export class FakeGpio implements GpioDriver {
  readonly name = 'fake';
  readonly levels = new Map<number, Level>();
  readonly directions = new Map<number, 'in' | 'out'>();
  /** Every write in order, as [line, value]. */
  readonly writes: Array<[number, Level]> = [];

  output(line: number): GpioLine { return this.open(line, 'out'); }
  input(line: number): GpioLine { return this.open(line, 'in'); }

  /** Drive an input line from outside, like a finger on the button. */
  set(line: number, v: Level): void { this.levels.set(line, v); }
  level(line: number): Level | undefined { return this.levels.get(line); }

  private open(line: number, dir: 'in' | 'out'): GpioLine {
    if (this.directions.has(line)) throw new Error(`line ${line} is already in use`);
    this.directions.set(line, dir);
    if (!this.levels.has(line)) this.levels.set(line, dir === 'out' ? 0 : 1);
    return {
      write: (v) => { this.levels.set(line, v); this.writes.push([line, v]); },
      read: () => this.levels.get(line) ?? 0,
      close: () => { this.directions.delete(line); },
    };
  }
}
