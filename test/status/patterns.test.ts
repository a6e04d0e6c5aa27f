import t from 'tap';
import { SimBoard, type LedState } from '../../board/index.js';
import { StatusLeds, ledPattern, type ApplianceState, type LedPattern } from '../../firmware/status/index.js';

const OFF: LedState = { mode: 'off' };
const base: ApplianceState = { phase: 'running', problem: null, registeredPhones: 0, activeCalls: 0, secureCalls: 0 };

// The front panel, row by row: what the office sees for each appliance state.
const rows: Array<[string, Partial<ApplianceState>, LedPattern]> = [
  ['booting: power blinks green, nothing else', { phase: 'booting', registeredPhones: 3, problem: 'x' }, {
    power: { mode: 'blink', periodMs: 500, color: 'green' }, registration: OFF, call: OFF, error: OFF,
  }],
  ['stopping: power blinks amber fast', { phase: 'stopping', activeCalls: 2 }, {
    power: { mode: 'blink', periodMs: 250, color: 'amber' }, registration: OFF, call: OFF, error: OFF,
  }],
  ['running, no phone registered: registration blinks amber slowly', {}, {
    power: { mode: 'on', color: 'green' }, registration: { mode: 'blink', periodMs: 2000, color: 'amber' }, call: OFF, error: OFF,
  }],
  ['running, phones registered: registration on green', { registeredPhones: 2 }, {
    power: { mode: 'on', color: 'green' }, registration: { mode: 'on', color: 'green' }, call: OFF, error: OFF,
  }],
  ['calls, not all secure: call LED green', { registeredPhones: 2, activeCalls: 2, secureCalls: 1 }, {
    power: { mode: 'on', color: 'green' }, registration: { mode: 'on', color: 'green' }, call: { mode: 'on', color: 'green' }, error: OFF,
  }],
  ['calls, all secure: call LED blue', { registeredPhones: 2, activeCalls: 2, secureCalls: 2 }, {
    power: { mode: 'on', color: 'green' }, registration: { mode: 'on', color: 'green' }, call: { mode: 'on', color: 'blue' }, error: OFF,
  }],
  ['a problem: error blinks red, the rest still reports', { problem: 'config.json: broken', registeredPhones: 1 }, {
    power: { mode: 'on', color: 'green' }, registration: { mode: 'on', color: 'green' }, call: OFF, error: { mode: 'blink', periodMs: 1000, color: 'red' },
  }],
];

for (const [name, patch, want] of rows) {
  t.test(name, async (t) => {
    t.same(ledPattern({ ...base, ...patch }), want);
  });
}

t.test('StatusLeds drives the board and only changes what changed', async (t) => {
  const lines: string[] = [];
  const board = new SimBoard({ print: (l) => lines.push(l) });
  const leds = new StatusLeds(board.leds);
  t.same(board.leds.snapshot(), ledPattern({ ...base, phase: 'booting' }), 'boots in the booting pattern');
  lines.length = 0;
  leds.update({ phase: 'running' });
  t.same(lines, ['[led] power: on green', '[led] registration: blink 2000ms amber']);
  lines.length = 0;
  leds.update({ registeredPhones: 1 });
  leds.update({ registeredPhones: 4 });
  t.same(lines, ['[led] registration: on green'], 'a second phone does not re-announce the LED');
  t.equal(leds.current.registeredPhones, 4);
});
