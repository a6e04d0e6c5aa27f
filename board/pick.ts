import { readFileSync } from 'node:fs';
import type { Clock } from '../firmware/core/index.js';
import type { Board } from './hal.js';
import { SimBoard } from './sim.js';
import { GpioBoard } from './gpio/board.js';
import { SYSFS_GPIO, readChips } from './gpio/chips.js';
import { PIN_MAPS, pinMapFor, type PinMap } from './gpio/models.js';
import { onoffDriver, type GpioDriver } from './gpio/pins.js';

export type BoardChoice = 'sim' | 'gpio' | 'auto';
export const BOARD_CHOICES: readonly BoardChoice[] = ['sim', 'gpio', 'auto'];
export const DEVICE_TREE_MODEL = '/proc/device-tree/model';

export interface PickOptions {
  readonly choice: BoardChoice;
  readonly clock: Clock;
  readonly print: (line: string) => void;
  /** Where the board says what it is (tests point it at a file of their own). */
  readonly modelPath?: string;
  readonly sysfsRoot?: string;
  readonly maps?: readonly PinMap[];
  /** onoff unless a test brings its own; onoff addresses /sys/class/gpio only. */
  readonly driver?: () => Promise<GpioDriver>;
}

export class BoardUnavailable extends Error {
  override readonly name = 'BoardUnavailable';
}

function readModel(path: string): string | null {
  try {
    return readFileSync(path, 'utf8').replace(/\0/g, '').trim() || null;
  } catch {
    return null;
  }
}

/**
 * The board to run on: `gpio` insists on a known model with its GPIO chip (and
 * fails with the reason), `sim` never touches hardware, `auto` takes the GPIO
 * board when the device tree names a known model and its chip is there, else
 * the sim board. Either way one console line says which board runs and why.
 */
export async function pickBoard(opts: PickOptions): Promise<Board> {
  const { choice, print, clock } = opts;
  if (choice === 'sim') {
    print('board: sim (--board sim)');
    return new SimBoard({ print });
  }
  const model = readModel(opts.modelPath ?? DEVICE_TREE_MODEL);
  const map = model ? pinMapFor(model, opts.maps ?? PIN_MAPS) : undefined;
  const chips = readChips(opts.sysfsRoot ?? SYSFS_GPIO);
  const chip = map ? chips.find((c) => map.chipLabels.includes(c.label)) : undefined;
  const why = !model ? 'no device-tree model' : !map ? `no pin map for "${model}"` : !chip ? `no GPIO chip labelled ${map.chipLabels.join('/')} in ${opts.sysfsRoot ?? SYSFS_GPIO}` : null;
  if (why !== null || !map || !model) {
    if (choice === 'gpio') throw new BoardUnavailable(`--board gpio: ${why}`);
    print(`board: sim (auto: ${why})`);
    return new SimBoard({ print });
  }
  let driver: GpioDriver;
  try {
    driver = await (opts.driver ?? onoffDriver)();
  } catch (e) {
    // onoff's epoll addon missing or built for another machine: the box still runs, on the sim board.
    const reason = `the GPIO driver did not load (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`;
    if (choice === 'gpio') throw new BoardUnavailable(`--board gpio: ${reason}`);
    print(`board: sim (auto: ${reason})`);
    return new SimBoard({ print });
  }
  const board = new GpioBoard(model, map, chips, driver, clock, print);
  print(`board: gpio, ${model} (${map.name} pin map, ${board.chip.label} base ${board.chip.base}, ${driver.name})`);
  return board;
}
