/**
 * The recording feature's pure parts: the in-call feature code read from
 * RFC 4733 telephone-events on a tap, the stronger of two parties' modes,
 * the recording tone; and the room and record commands of the control layer.
 */
import t from 'tap';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeatureCodeSink, RECORD_TONE_HZ, recordTone, strongerMode } from '../../firmware/pbx/features/index.js';
import { ConfigStore } from '../../firmware/config/index.js';
import { executeCommand } from '../../firmware/control/index.js';
import { silentLogger } from '../../firmware/core/index.js';

const TE = 101;

/** An RFC 4733 event packet: 12-byte header, then event, E|R|volume, duration. */
function event(digit: number, ts: number, seq: number, end = false, pt = TE, csrc = 0): Uint8Array {
  const b = new Uint8Array(12 + 4 * csrc + 4);
  b[0] = 0x80 | csrc; b[1] = pt;
  b[2] = seq >> 8; b[3] = seq & 0xff;
  b[4] = ts >>> 24; b[5] = (ts >> 16) & 0xff; b[6] = (ts >> 8) & 0xff; b[7] = ts & 0xff;
  const at = 12 + 4 * csrc;
  b[at] = digit; b[at + 1] = end ? 0x80 | 10 : 10; b[at + 2] = 0; b[at + 3] = 160;
  return b;
}

/** A key press as phones send it: three packets sharing one timestamp (RFC 4733 2.5.1), the last ones marked end. */
function press(sink: FeatureCodeSink, leg: string, digit: number, ts: number, at: number): void {
  for (let i = 0; i < 3; i++) sink.packet(leg, event(digit, ts, ts / 160 + i, i > 0), at + i * 20, false);
}

t.test('the feature code *1 (RFC 4733 events 10 then 1) toggles once per press, per leg, within the gap', async (t) => {
  const codes: string[] = [];
  const sink = new FeatureCodeSink(new Map([['a', TE], ['b', 96]]), (leg, code) => codes.push(`${leg}:${code}`));
  press(sink, 'a', 10, 1600, 0);
  press(sink, 'a', 1, 3200, 500);
  t.same(codes, ['a:*1'], '* then 1 on leg a: one code, though each press came as three packets');
  press(sink, 'a', 1, 4800, 1000);
  t.same(codes, ['a:*1'], 'a second 1 alone is nothing');
  press(sink, 'a', 10, 6400, 2000);
  press(sink, 'a', 1, 8000, 6000);
  t.same(codes, ['a:*1'], 'the 1 came more than 3 s after the *: nothing');
  press(sink, 'b', 10, 1600, 7000);
  press(sink, 'b', 1, 3200, 7100);
  t.same(codes, ['a:*1'], 'leg b\'s events under leg a\'s payload type are not its events');
  sink.packet('b', event(10, 1600, 1, false, 96), 7200, false);
  sink.packet('b', event(1, 3200, 2, false, 96, 2), 7300, false);
  t.same(codes, ['a:*1', 'b:*1'], 'leg b under its own number, with CSRCs before the payload');
  sink.packet('a', event(10, 9600, 9), 8000, true);
  sink.packet('a', event(1, 11200, 10), 8100, true);
  t.same(codes.length, 2, 'opaque (still encrypted) packets are never read');
});

t.test('hostile packets: never a throw', async (t) => {
  const codes: string[] = [];
  const random = new FeatureCodeSink(new Map([['a', TE]]), () => {});
  const sink = new FeatureCodeSink(new Map([['a', TE]]), (_l, c) => codes.push(c));
  fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), fc.integer({ min: 0, max: 1e6 }), (b, at) => {
    random.packet('a', b, at, false);
    return true;
  }), { numRuns: 2000 });
  // An extension header that claims more than the packet holds.
  const ext = event(10, 1, 1);
  const long = new Uint8Array(20);
  long.set(ext.subarray(0, 12));
  long[0] = 0x90; long[12] = 0xbe; long[13] = 0xde; long[14] = 0xff; long[15] = 0xff;
  t.doesNotThrow(() => sink.packet('a', long, 0, false), 'an extension longer than the packet is ignored');
  t.same(codes, [], 'and gives no code');
});

t.test('modes: always over on-demand over never, whichever party has it', async (t) => {
  t.equal(strongerMode('never', 'always'), 'always');
  t.equal(strongerMode('on-demand', 'never'), 'on-demand');
  t.equal(strongerMode('on-demand', 'always'), 'always');
  t.equal(strongerMode('never', 'never'), 'never');
});

t.test('the recording tone: 440 ms of 1400 Hz, faded, below full scale', async (t) => {
  const s = recordTone();
  t.equal(s.length, 3520);
  t.equal(s[0], 0, 'starts from silence');
  t.ok(Math.max(...s) < 8000 && Math.max(...s) > 5000, 'a modest level');
  // Zero crossings: 2 per cycle.
  let crossings = 0;
  for (let i = 1; i < s.length; i++) if ((s[i - 1]! < 0) !== (s[i]! < 0)) crossings++;
  t.ok(Math.abs(crossings / 2 / 0.44 - RECORD_TONE_HZ) < 20, `about ${RECORD_TONE_HZ} Hz (${(crossings / 2 / 0.44).toFixed(0)})`);
});

t.test('room and record commands: validation, clashes, offline list', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-rec-cmd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = await ConfigStore.open(dir, { log: silentLogger });
  const run = (command: string, args: Record<string, unknown> = {}) => executeCommand({ store, dataDir: dir }, { command, args });
  await run('account.add', { extension: '100', password: 'secret-100-x' });
  t.same(await run('room.add', { extension: '800', max: 5 }), { extension: '800', pin: false, max: 5 });
  t.same(await run('room.add', { extension: '801', pin: '1234' }), { extension: '801', pin: true, max: 8 }, 'default max 8; the PIN is never shown');
  await t.rejects(run('room.add', { extension: '800' }), { code: 'conflict' }, 'a room twice');
  await t.rejects(run('room.add', { extension: '100' }), { code: 'conflict', message: /is an account/ });
  await t.rejects(run('room.add', { extension: '802', max: 1 }), { code: 'config', message: /max/ });
  await t.rejects(run('room.add', { extension: '802', pin: '12a' }), { code: 'config', message: /pin/ });
  await t.rejects(run('account.add', { extension: '800', password: 'secret-800-x' }), 'an account cannot take a room\'s extension');
  t.same((await run('room.list') as Array<{ extension: string }>).map((r) => r.extension), ['800', '801']);
  t.same(await run('room.remove', { extension: '801' }), { removed: '801' });
  await t.rejects(run('room.remove', { extension: '801' }), { code: 'not-found' });

  t.match(await run('account.update', { extension: '100', record: 'on-demand' }), { record: 'on-demand' });
  await t.rejects(run('account.update', { extension: '100', record: 'sometimes' }), { code: 'config', message: /record must be one of always, on-demand, never/ });
  t.match(await run('policy.add', { name: 'rec', record: 'always' }), { name: 'rec', record: 'always' });
  await t.rejects(run('policy.add', { name: 'bad', record: 'yes' }), { code: 'config', message: /record must be one of/ });

  t.same(await run('recording.list'), [], 'offline, no recordings folder: an empty list, nothing created');
  await t.rejects(run('recording.export', { id: '00', out: 'relative.wav' }), { code: 'config', message: /absolute/ });
  await t.rejects(run('recording.toggle', { call: 'x' }), { code: 'invalid-state' }, 'on demand needs a running box');
});
