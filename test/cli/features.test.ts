/**
 * `pbx account set` forwarding / DND / pickup-group / call-waiting options and
 * `pbx group add|list|remove`, run as an admin runs them (the compiled CLI on
 * a data folder, no appliance running), with the config file checked after.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_FILE } from '../../firmware/config/index.js';
import { accountFeatureArgs, FeatureUsageError } from '../../firmware/cli/features.js';

const PBX = fileURLToPath(new URL('../../firmware/cli/pbx.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'pbx-cli-features-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const data = join(root, 'var');

interface Run { code: number; stdout: string; stderr: string }
function pbx(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PBX, ...args, '--data', data], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err && typeof err.code === 'number' ? err.code : err ? -1 : 0, stdout, stderr });
    });
  });
}
const config = (): { accounts: Array<Record<string, unknown>>; groups: Array<Record<string, unknown>> } =>
  JSON.parse(readFileSync(join(data, CONFIG_FILE), 'utf8'));

t.test('the option parser: pairs that exclude each other, numbers, clearing', async (t) => {
  t.same(accountFeatureArgs({ 'forward-busy': '102', 'noanswer-sec': '15' }), { forwardBusy: '102', noAnswerSec: 15 });
  t.same(accountFeatureArgs({ 'no-forward': true, dnd: true }), { noForward: true, dnd: true });
  t.same(accountFeatureArgs({ 'no-pickup-group': true, 'no-call-waiting': true }), { pickupGroup: '', callWaiting: false });
  t.throws(() => accountFeatureArgs({ dnd: true, 'no-dnd': true }), new FeatureUsageError('--dnd and --no-dnd exclude each other'));
  t.throws(() => accountFeatureArgs({ 'no-forward': true, 'forward-always': '1' }), /exclude each other/);
  t.throws(() => accountFeatureArgs({ 'noanswer-sec': 'soon' }), /seconds/);
  t.same(accountFeatureArgs({}), {});
});

t.test('forwarding, DND and ring groups from the CLI land in the config; bad targets are refused in words', async (t) => {
  for (const ext of ['1001', '1002', '1003']) t.equal((await pbx('account', 'add', ext, '--password', `secret-${ext}`)).code, 0);
  let r = await pbx('account', 'set', '1001', '--forward-busy', '1002', '--forward-noanswer', '1003', '--noanswer-sec', '15');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /forward on busy to 1002, forward after 15 s without answer to 1003/);
  t.same(config().accounts[0]!.forward, { always: null, busy: '1002', noAnswer: '1003', noAnswerSec: 15 });

  r = await pbx('account', 'set', '1001', '--forward-always', '1001');
  t.equal(r.code, 1);
  t.match(r.stderr, /cannot forward to itself/);
  r = await pbx('account', 'set', '1001', '--forward-always', '4711');
  t.match(r.stderr, /4711 is neither an extension nor a ring group/);

  r = await pbx('account', 'set', '1002', '--dnd', '--pickup-group', 'sales', '--no-call-waiting');
  t.equal(r.code, 0, r.stderr);
  const a2 = config().accounts[1]!;
  t.same([a2.dnd, a2.pickupGroup, a2.callWaiting], [true, 'sales', false]);
  r = await pbx('account', 'set', '1001', '--no-forward');
  t.same(config().accounts[0]!.forward, { always: null, busy: null, noAnswer: null, noAnswerSec: 15 });

  r = await pbx('group', 'add', '600', '--members', '1001,1002', '--order', 'sequential', '--ring-sec', '10', '--no-answer-to', '1003');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /ring group 600: rings 1001, 1002 one after the other/);
  t.same(config().groups, [{ extension: '600', name: '', members: ['1001', '1002'], order: 'sequential', memberRingSec: 10, noAnswerTo: '1003' }]);
  r = await pbx('account', 'set', '1003', '--forward-always', '600');
  t.equal(r.code, 0, 'a ring group is a forward target');
  t.match((await pbx('group', 'add', '1001', '--members', '1002')).stderr, /already an extension or a ring group/);
  t.match((await pbx('group', 'add', '601', '--members', '1002,9999')).stderr, /member 9999 is not an extension/);
  t.match((await pbx('group', 'add', '601', '--members', '1002', '--order', 'random')).stderr, /parallel .* or sequential/);
  r = await pbx('group', 'list', '--json');
  t.equal(JSON.parse(r.stdout).length, 1);
  t.equal((await pbx('group', 'remove', '600')).code, 0);
  t.same(config().groups, []);
});
