import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  FakeGpio, GpioBoard, PIN_MAPS, PolledButton, RESET_LONG_MS, ResetController, SimBoard,
  headerChip, lineOf, linesFor, parsePinMap, pickBoard, pinMapFor, readChips,
} from '../../board/index.js';
import { FakeClock } from '../../firmware/core/index.js';
import { StatusLeds, type ApplianceState } from '../../firmware/status/index.js';
import { makeSysfsGpio } from './sysfs.js';

const PI5 = PIN_MAPS.find((m) => m.name === 'Raspberry Pi 5')!;
const PI4 = PIN_MAPS.find((m) => m.name === 'Raspberry Pi 4')!;

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'pbx-gpio-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

t.test('chip base and label come from sysfs, not a constant (Pi 5 on a 6.6 kernel: pinctrl-rp1 at 571)', async (t) => {
  const dir = tmp(t);
  const root = makeSysfsGpio(dir, [
    { base: 512, ngpio: 32, label: 'gpio-brcmstb@107d508500' },
    { base: 571, ngpio: 54, label: 'pinctrl-rp1' },
  ], new Map());
  writeFileSync(join(root, 'gpiochip9'), 'not a folder');
  const chips = readChips(root);
  t.same(chips.map((c) => [c.base, c.label, c.ngpio]), [[512, 'gpio-brcmstb@107d508500', 32], [571, 'pinctrl-rp1', 54]]);
  const chip = headerChip(chips, PI5.chipLabels);
  t.equal(lineOf(chip, 17), 588);
  t.throws(() => lineOf(chip, 54), { name: 'RangeError' });
  t.throws(() => headerChip(chips, PI4.chipLabels), { name: 'ChipNotFound' });
  t.same(readChips(join(dir, 'nowhere')), [], 'no sysfs gpio: no chips');
});

t.test('pin maps: the device-tree model picks the map; unknown boards get none; bad JSON is refused', async (t) => {
  t.equal(pinMapFor('Raspberry Pi 5 Model B Rev 1.0\0')?.name, 'Raspberry Pi 5');
  t.equal(pinMapFor('Raspberry Pi 4 Model B Rev 1.4')?.name, 'Raspberry Pi 4');
  t.equal(pinMapFor('Raspberry Pi Compute Module 4 Rev 1.0')?.name, 'Raspberry Pi 4');
  t.equal(pinMapFor('Raspberry Pi 3 Model B Plus Rev 1.3'), undefined);
  t.throws(() => parsePinMap({ ...PI4, button: { gpio: -1, activeLow: true } }));
  t.throws(() => parsePinMap({ ...PI4, leds: { ...PI4.leds, error: {} } }));
  t.throws(() => parsePinMap({ ...PI4, extra: 1 }));
  t.same(linesFor({ green: [1], red: [2], amber: [1, 2] }, 'amber'), [1, 2]);
  t.same(linesFor({ red: [7] }, 'green'), [7], 'a single-colour LED lights for any colour');
});

/** Which Pi 4 header GPIOs are high, per LED, after the status shows `patch`. */
function fakeBoard(): { board: GpioBoard; gpio: FakeGpio; clock: FakeClock; lit: () => Record<string, number[]> } {
  const gpio = new FakeGpio();
  const clock = new FakeClock();
  const board = new GpioBoard('Raspberry Pi 4 Model B Rev 1.4', PI4, [{ name: 'gpiochip512', base: 512, ngpio: 58, label: 'pinctrl-bcm2711' }], gpio, clock, () => {});
  const lit = (): Record<string, number[]> => Object.fromEntries(Object.entries(PI4.leds).map(([led, colors]) => [
    led, [...new Set(Object.values(colors).flat())].filter((o) => gpio.level(512 + o) === 1).sort((a, b) => a - b),
  ]));
  return { board, gpio, clock, lit };
}

const base: ApplianceState = { phase: 'running', problem: null, registeredPhones: 1, activeCalls: 0, secureCalls: 0 };
// Pattern -> the header GPIOs lit right away, and (for blinks) after half a period.
const patterns: Array<[string, Partial<ApplianceState>, Record<string, number[]>, number | null, Record<string, number[]> | null]> = [
  ['booting: power green blinks', { phase: 'booting' }, { power: [17], registration: [], call: [], error: [] }, 250, { power: [], registration: [], call: [], error: [] }],
  ['ready: power green, registration green', {}, { power: [17], registration: [22], call: [], error: [] }, null, null],
  ['no phone registered: registration amber (both dies) blinks slowly', { registeredPhones: 0 }, { power: [17], registration: [22, 23], call: [], error: [] }, 1000, { power: [17], registration: [], call: [], error: [] }],
  ['registering: registration green blinks fast', { registering: 1 }, { power: [17], registration: [22], call: [], error: [] }, 150, { power: [17], registration: [], call: [], error: [] }],
  ['call active, not all secure: call green', { activeCalls: 2, secureCalls: 1 }, { power: [17], registration: [22], call: [24], error: [] }, null, null],
  ['every call secure: call blue', { activeCalls: 2, secureCalls: 2 }, { power: [17], registration: [22], call: [25], error: [] }, null, null],
  ['error: error red blinks', { problem: 'config broken' }, { power: [17], registration: [22], call: [], error: [13] }, 500, { power: [17], registration: [22], call: [], error: [] }],
  ['update in progress: power amber blinks', { updating: true }, { power: [17, 27], registration: [], call: [], error: [] }, 500, { power: [], registration: [], call: [], error: [] }],
  ['factory reset pending: power amber, registration red and error red blink fast', { resetPending: true }, { power: [17, 27], registration: [23], call: [], error: [13] }, 100, { power: [], registration: [], call: [], error: [] }],
  ['identify (short press): power green blinks fast', { identify: true }, { power: [17], registration: [22], call: [], error: [] }, 75, { power: [], registration: [22], call: [], error: [] }],
];

t.test('GPIO LEDs on fake pins: each pattern lights the pin map\'s lines, and blinks toggle on the clock', async (t) => {
  for (const [name, patch, now, half, after] of patterns) {
    const { board, clock, lit } = fakeBoard();
    const status = new StatusLeds(board.leds);
    status.update({ ...base, ...patch });
    t.same(lit(), now, `${name}: at once`);
    if (half !== null) {
      clock.advance(half - 1);
      t.same(lit(), now, `${name}: unchanged just before half a period`);
      clock.advance(1);
      t.same(lit(), after, `${name}: after half a period`);
      clock.advance(half);
      t.same(lit(), now, `${name}: back after a full period`);
    } else {
      clock.advance(5000);
      t.same(lit(), now, `${name}: steady`);
    }
    await board.close();
    t.same(lit(), { power: [], registration: [], call: [], error: [] }, `${name}: all dark after close`);
  }
});

t.test('a blink stops when the LED changes: no stray toggles after', async (t) => {
  const { board, clock, gpio } = fakeBoard();
  board.leds.set('error', { mode: 'blink', periodMs: 200, color: 'red' });
  clock.advance(1000);
  board.leds.set('error', { mode: 'off' });
  const writes = gpio.writes.length;
  clock.advance(5000);
  t.equal(gpio.writes.length, writes, 'nothing written once the LED is off');
  t.equal(gpio.level(512 + 13), 0);
  await board.close();
});

t.test('button on a fake pin: bounces never count, a stable press does (debounce), held time measured', async (t) => {
  const gpio = new FakeGpio();
  const clock = new FakeClock();
  const line = gpio.input(100);
  gpio.set(100, 1);
  const button = new PolledButton(line, true, clock);
  const seen: string[] = [];
  button.onPress(() => seen.push('press'));
  button.onRelease((ms) => seen.push(`release ${ms}`));
  // Contact bounce: the level flips at every sample for 200 ms.
  for (let i = 0; i < 10; i++) { gpio.set(100, (i % 2) as 0 | 1); clock.advance(20); }
  gpio.set(100, 1);
  clock.advance(200);
  t.same(seen, [], 'bounce alone is no press');
  gpio.set(100, 0);
  clock.advance(59);
  t.same(seen, [], 'not yet stable');
  clock.advance(1);
  t.same(seen, ['press']);
  clock.advance(1940);
  gpio.set(100, 1);
  clock.advance(60);
  t.same(seen, ['press', 'release 2000']);
  button.close();
  t.equal(clock.timerCount, 0, 'no sampling after close');
});

t.test('reset controller on the fake pin: short press identifies, 5 s warns, 7 s does nothing, 10 s resets', async (t) => {
  const { board, gpio, clock } = fakeBoard();
  const events: string[] = [];
  new ResetController(board.resetButton, clock, {
    identify: () => events.push('identify'), pending: (on) => events.push(`pending ${on}`), factoryReset: () => events.push('reset'),
  });
  const hold = (ms: number): void => { gpio.set(512 + 6, 0); clock.advance(ms); gpio.set(512 + 6, 1); clock.advance(100); };
  hold(300);
  t.same(events.splice(0), ['identify']);
  hold(7000);
  t.same(events.splice(0), ['pending true', 'pending false'], 'warned, then let go before 10 s: nothing');
  gpio.set(512 + 6, 0);
  clock.advance(5100);
  t.same(events, ['pending true'], 'the warning shows while still held');
  clock.advance(RESET_LONG_MS - 5000);
  gpio.set(512 + 6, 1);
  clock.advance(100);
  t.same(events, ['pending true', 'pending false', 'reset']);
  await board.close();
});

t.test('board pick: sim on request, sim when auto finds no known board, gpio insists, gpio when auto finds a Pi 5', async (t) => {
  const dir = tmp(t);
  const clock = new FakeClock();
  const lines: string[] = [];
  const print = (l: string): void => { lines.push(l); };
  const model = join(dir, 'model');
  const sysfsRoot = makeSysfsGpio(dir, [{ base: 571, ngpio: 54, label: 'pinctrl-rp1' }], new Map());
  const driver = async (): Promise<FakeGpio> => new FakeGpio();

  t.ok(await pickBoard({ choice: 'sim', clock, print }) instanceof SimBoard);
  t.ok(await pickBoard({ choice: 'auto', clock, print, modelPath: model, sysfsRoot, driver }) instanceof SimBoard);
  writeFileSync(model, 'Raspberry Pi 3 Model B Rev 1.2\0');
  t.ok(await pickBoard({ choice: 'auto', clock, print, modelPath: model, sysfsRoot, driver }) instanceof SimBoard);
  await t.rejects(pickBoard({ choice: 'gpio', clock, print, modelPath: model, sysfsRoot, driver }), { name: 'BoardUnavailable' });
  writeFileSync(model, 'Raspberry Pi 5 Model B Rev 1.0\0');
  await t.rejects(pickBoard({ choice: 'gpio', clock, print, modelPath: model, sysfsRoot: join(dir, 'none'), driver }), { name: 'BoardUnavailable' }, 'a Pi 5 without its chip');
  const b = await pickBoard({ choice: 'auto', clock, print, modelPath: model, sysfsRoot, driver });
  t.ok(b instanceof GpioBoard);
  t.equal(b.model, 'Raspberry Pi 5 Model B Rev 1.0');
  await b.close();
  t.same(lines, [
    'board: sim (--board sim)',
    'board: sim (auto: no device-tree model)',
    'board: sim (auto: no pin map for "Raspberry Pi 3 Model B Rev 1.2")',
    'board: gpio, Raspberry Pi 5 Model B Rev 1.0 (Raspberry Pi 5 pin map, pinctrl-rp1 base 571, fake)',
  ]);
});
