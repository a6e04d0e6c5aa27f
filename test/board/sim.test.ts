import t from 'tap';
import { LED_NAMES, SimBoard, describeLed } from '../../board/index.js';

t.test('SimBoard starts with every LED off and prints nothing until one changes', async (t) => {
  const lines: string[] = [];
  const board = new SimBoard({ print: (l) => lines.push(l) });
  t.equal(board.model, 'sim');
  t.same(Object.keys(board.leds.snapshot()), [...LED_NAMES]);
  for (const n of LED_NAMES) t.same(board.leds.get(n), { mode: 'off' });
  t.same(lines, []);
});

t.test('each LED change is printed once; setting the same state again is silent', async (t) => {
  const lines: string[] = [];
  const board = new SimBoard({ print: (l) => lines.push(l) });
  board.leds.set('power', { mode: 'on', color: 'green' });
  board.leds.set('power', { mode: 'on', color: 'green' });
  board.leds.set('error', { mode: 'blink', periodMs: 1000, color: 'red' });
  board.leds.set('error', { mode: 'blink', periodMs: 1000, color: 'red' });
  board.leds.set('error', { mode: 'blink', periodMs: 500, color: 'red' });
  board.leds.set('power', { mode: 'off' });
  t.same(lines, [
    '[led] power: on green',
    '[led] error: blink 1000ms red',
    '[led] error: blink 500ms red',
    '[led] power: off',
  ]);
  t.same(board.leds.snapshot().error, { mode: 'blink', periodMs: 500, color: 'red' });
});

t.test('showLeds false keeps the console quiet but the state still changes', async (t) => {
  const lines: string[] = [];
  const board = new SimBoard({ print: (l) => lines.push(l), showLeds: false });
  board.leds.set('call', { mode: 'on', color: 'blue' });
  t.same(lines, []);
  t.same(board.leds.get('call'), { mode: 'on', color: 'blue' });
  board.console.print('hello');
  t.same(lines, ['hello'], 'the console still prints');
});

t.test('LED listeners: unsubscribe works, a throwing listener does not break the LED path', async (t) => {
  const board = new SimBoard({ print: () => {} });
  const seen: string[] = [];
  board.leds.onChange(() => { throw new Error('boom'); });
  const off = board.leds.onChange((led, s) => seen.push(`${led}=${describeLed(s)}`));
  t.doesNotThrow(() => board.leds.set('registration', { mode: 'on' }));
  off();
  board.leds.set('registration', { mode: 'off' });
  t.same(seen, ['registration=on']);
  t.same(board.leds.get('registration'), { mode: 'off' });
});

t.test('reset button: every listener hears how long it was held; unsubscribe; a throwing listener spares the rest', async (t) => {
  const board = new SimBoard({ print: () => {} });
  const a: number[] = [];
  const b: number[] = [];
  board.resetButton.onRelease(() => { throw new Error('listener bug'); });
  const offA = board.resetButton.onRelease((ms) => a.push(ms));
  board.resetButton.onRelease((ms) => b.push(ms));
  t.doesNotThrow(() => board.resetButton.press(120));
  offA();
  board.resetButton.press(10_000);
  t.same(a, [120]);
  t.same(b, [120, 10_000], 'a long press reaches the factory-reset listener');
  await board.close();
});

t.test('describeLed', async (t) => {
  t.equal(describeLed({ mode: 'off' }), 'off');
  t.equal(describeLed({ mode: 'on' }), 'on');
  t.equal(describeLed({ mode: 'blink', periodMs: 250, color: 'amber' }), 'blink 250ms amber');
});
