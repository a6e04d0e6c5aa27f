import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { PIN_MAPS } from '../../board/index.js';
import { makeSysfsGpio } from './sysfs.js';

/*
 * The real driver (onoff) against a simulated sysfs tree: a child process in
 * its own mount namespace sees the tree as /sys/class/gpio, so onoff writes
 * plain files this test reads. Each LED pattern is checked on the value
 * files; the button is pressed by writing its value file; the fixture's clock
 * is fake and moved by this test, so nothing here waits on real time.
 */

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'onoff-sim.js');
const canUnshare = spawnSync('unshare', ['-m', 'true']).status === 0;
const PI5 = PIN_MAPS.find((m) => m.name === 'Raspberry Pi 5')!;
const BASE = 571;

t.test('onoff drives the simulated sysfs tree: every LED pattern on the value files, a long press restores factory settings', { skip: canUnshare ? false : 'needs unshare -m (root)' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-sysfs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const offsets = [...new Set(Object.values(PI5.leds).flatMap((c) => Object.values(c).flat()))];
  const lines = new Map<number, '0' | '1'>(offsets.map((o) => [BASE + o, '0']));
  lines.set(BASE + PI5.button.gpio, '1'); // active low: released
  const gpio = makeSysfsGpio(join(dir, 'class'), [{ base: 512, ngpio: 32, label: 'gpio-brcmstb@107d508500' }, { base: BASE, ngpio: 54, label: 'pinctrl-rp1' }], lines);
  const model = join(dir, 'model');
  writeFileSync(model, 'Raspberry Pi 5 Model B Rev 1.0\0');

  const child = spawn('unshare', ['-m', 'sh', '-c', `mount --bind "$1" /sys/class && exec "$2" "$3" "$4"`, 'sh', join(dir, 'class'), process.execPath, FIXTURE, model], { stdio: ['pipe', 'pipe', 'inherit'] });
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  t.teardown(() => { clearTimeout(killer); if (child.exitCode === null) child.kill('SIGKILL'); });
  const events: string[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    if (l === 'ok') waiters.shift()?.();
    else events.push(l);
  });
  const ready = new Promise<void>((r) => waiters.push(r));
  const send = (cmd: string): Promise<void> => new Promise((r) => { waiters.push(r); child.stdin!.write(`${cmd}\n`); });
  await ready;

  const value = (offset: number): string => readFileSync(join(gpio, `gpio${BASE + offset}`, 'value'), 'utf8').trim();
  const direction = (offset: number): string => readFileSync(join(gpio, `gpio${BASE + offset}`, 'direction'), 'utf8').trim();
  const lit = (): number[] => offsets.filter((o) => value(o) === '1').sort((a, b) => a - b);

  t.match(events[0], /^print board: gpio, Raspberry Pi 5 Model B Rev 1\.0 \(Raspberry Pi 5 pin map, pinctrl-rp1 base 571, onoff\)$/);
  for (const o of offsets) t.equal(direction(o), 'out', `GPIO ${o} (line ${BASE + o}) set as output`);

  const base = { phase: 'running', problem: null, registeredPhones: 1, activeCalls: 0, secureCalls: 0, registering: 0, updating: false, resetPending: false, identify: false };
  // [pattern, patch, lit at once, half period or null, lit after half a period]
  const rows: Array<[string, object, number[], number | null, number[]]> = [
    ['booting', { phase: 'booting' }, [17], 250, []],
    ['ready', {}, [17, 22], null, []],
    ['no phone registered', { registeredPhones: 0 }, [17, 22, 23], 1000, [17]],
    ['registering', { registering: 1 }, [17, 22], 150, [17]],
    ['call active', { activeCalls: 1 }, [17, 22, 24], null, []],
    ['every call secure', { activeCalls: 2, secureCalls: 2 }, [17, 22, 25], null, []],
    ['error', { problem: 'config broken' }, [13, 17, 22], 500, [17, 22]],
    ['update in progress', { updating: true }, [17, 27], 500, []],
    ['factory reset pending', { resetPending: true }, [13, 17, 23, 27], 100, []],
  ];
  for (const [name, patch, now, half, after] of rows) {
    await send(`state ${JSON.stringify({ ...base, ...patch })}`);
    t.same(lit(), now, `${name}: value files at once`);
    if (half !== null) {
      await send(`tick ${half}`);
      t.same(lit(), after, `${name}: value files after half a period`);
      await send(`tick ${half}`);
      t.same(lit(), now, `${name}: value files after a full period`);
    }
  }
  await send(`state ${JSON.stringify(base)}`);

  // A short press, then a long one: the finger is a write to the button's value file.
  const press = async (ms: number): Promise<void> => {
    writeFileSync(join(gpio, `gpio${BASE + PI5.button.gpio}`, 'value'), '0\n');
    await send(`tick ${ms}`);
    writeFileSync(join(gpio, `gpio${BASE + PI5.button.gpio}`, 'value'), '1\n');
    await send('tick 100');
  };
  t.equal(direction(PI5.button.gpio), 'in');
  events.length = 0;
  await press(400);
  t.same(events, ['event press', 'event release 400', 'event identify']);
  events.length = 0;
  await press(10_500);
  t.same(events, ['event press', 'event pending true', 'event release 10500', 'event pending false', 'event factory-reset']);
  await send('close');
  t.same(lit(), [], 'every LED dark after close');
  t.match(readFileSync(join(gpio, 'unexport'), 'utf8'), /\d+/, 'onoff unexported its lines');
});
