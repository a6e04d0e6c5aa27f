import type { Clock } from '../../firmware/core/index.js';
import type { Board, Console } from '../hal.js';
import { PolledButton } from './button.js';
import { type GpioChip, headerChip, lineOf } from './chips.js';
import { GpioLeds } from './leds.js';
import type { PinMap } from './models.js';
import type { GpioDriver } from './pins.js';

/** The real front panel: LEDs and the reset button on the header GPIOs of a known board model. */
export class GpioBoard implements Board {
  readonly leds: GpioLeds;
  readonly resetButton: PolledButton;
  readonly console: Console;
  readonly chip: GpioChip;

  constructor(
    readonly model: string,
    readonly pins: PinMap,
    chips: readonly GpioChip[],
    driver: GpioDriver,
    clock: Clock,
    print: (line: string) => void,
  ) {
    const chip = headerChip(chips, pins.chipLabels);
    this.chip = chip;
    this.console = { print };
    this.leds = new GpioLeds(pins.leds, (off) => lineOf(chip, off), driver, clock);
    this.resetButton = new PolledButton(driver.input(lineOf(chip, pins.button.gpio)), pins.button.activeLow, clock);
  }

  async close(): Promise<void> {
    this.resetButton.close();
    this.leds.close();
  }
}
