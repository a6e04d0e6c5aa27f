import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { SlotStore, createBundle, readTree, type PayloadFile } from '../../firmware/update/index.js';
import { treeDigest } from './tree.js';

/*
 * The whole update flow on directory slots on this machine, with the real
 * firmware: the supervisor (pbx boot) runs slot a; `pbx update` installs a
 * signed bundle of this very build into slot b, the supervisor switches,
 * checks its health and commits it; a broken bundle is switched to, fails its
 * health check and is rolled back on its own; a bad signature and a changed
 * file are refused with nothing written to the inactive slot. The data folder
 * (an account) survives every step.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const PBX = join(ROOT, 'dist/firmware/cli/pbx.js');

function pbx(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [PBX, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

async function until<T>(what: string, fn: () => T | undefined | null | false, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const cmdline = (pid: number): string => { try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' '); } catch { return ''; } };
const runPid = (data: string): number | null => { try { return (JSON.parse(readFileSync(join(data, 'run.json'), 'utf8')) as { pid: number }).pid; } catch { return null; } };

t.test('update flow: verify, install, switch, health check, commit; a broken bundle rolls back; bad ones are refused unwritten', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-flow-'));
  const root = join(dir, 'opt');
  const data = join(dir, 'data');
  const keys = join(dir, 'keys');
  let sup: ChildProcess | undefined;
  t.teardown(() => { if (sup && sup.exitCode === null) sup.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }); });

  // Slots find their packages the way Node does, up the tree: one node_modules above the slot root.
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const vendor = generateKeyPairSync('ed25519');
  const stranger = generateKeyPairSync('ed25519');
  mkdirSync(keys);
  writeFileSync(join(keys, 'vendor.pub'), vendor.publicKey.export({ type: 'spki', format: 'pem' }));

  const firmware: PayloadFile[] = [
    ...readTree(join(ROOT, 'dist'), (rel) => !rel.endsWith('.map') && !rel.startsWith('test')).map((f) => ({ ...f, path: `dist/${f.path}` })),
    { path: 'package.json', mode: 0o644, data: readFileSync(join(ROOT, 'package.json')) },
  ];
  // Slot a: this build as version 0.1.0, as the image installs it.
  SlotStore.init(root);
  for (const f of firmware) { mkdirSync(dirname(join(root, 'a', f.path)), { recursive: true }); writeFileSync(join(root, 'a', f.path), f.data, { mode: f.mode }); }
  writeFileSync(join(root, 'a', 'manifest.json'), JSON.stringify({ version: '0.1.0' }));
  mkdirSync(join(root, 'b'));

  const bundle = (name: string, version: string, files = firmware, key = vendor.privateKey): string => {
    const p = join(dir, name);
    writeFileSync(p, createBundle({ version, files, privateKey: key }));
    return p;
  };

  sup = spawn(process.execPath, [join(root, 'a/dist/firmware/cli/pbx.js'), 'boot', '--slots', root, '--data', data, '--health-timeout', '45', '--',
    '--bind', '127.0.0.1', '--sip-port', '0', '--tls-port', '0', '--web-port', '0', '--http-port', '0', '--board', 'sim'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  sup.stdout!.on('data', (d: Buffer) => { log += `${Date.now() % 1000000} ${d.toString()}`; });
  sup.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
  const first = await until('slot a to boot', () => runPid(data));
  t.match(cmdline(first), `${root}/a/dist/`, 'slot a runs');
  const added = pbx(['account', 'add', '201', '--password', 'flow-secret-201', '--data', data]);
  t.equal(added.code, 0, added.err);

  // A good bundle: installed into b, switched to, healthy, committed.
  const up = pbx(['update', bundle('good.pbxfw', '0.2.0'), '--slots', root, '--keys', keys]);
  t.equal(up.code, 0, `${up.out}${up.err}`);
  t.match(up.out, /installed 0\.2\.0 into slot b \(running 0\.1\.0\)/);
  t.match(up.out, /updated to 0\.2\.0: healthy after \d+ ms/);
  const second = await until('slot b to run', () => { const p = runPid(data); return p !== first && p; });
  t.match(cmdline(second), `${root}/b/dist/`, 'slot b runs now');
  t.same(new SlotStore(root).read().committed, 'b');
  t.match(pbx(['account', 'list', '--data', data]).out, /^201\t/m, 'the account survived the update');

  // A broken bundle (its firmware dies at start): switched to, fails its health check, rolled back.
  const broken = firmware.map((f) => (f.path === 'dist/firmware/main.js' ? { ...f, data: Buffer.from('throw new Error("broken firmware");\n') } : f));
  const bad = pbx(['update', bundle('broken.pbxfw', '0.3.0', broken), '--slots', root, '--keys', keys]);
  t.equal(bad.code, 1, 'pbx update exits non-zero');
  t.match(bad.err, /0\.3\.0 was rolled back: it exited before it was healthy/);
  const third = await until('slot b to run again', () => { const p = runPid(data); return p !== second && p && cmdline(p).includes(`${root}/b/`) && p; });
  t.ok(third, 'slot b runs again after the rollback');
  const state = new SlotStore(root).read();
  t.same([state.committed, state.trial, state.last?.outcome, state.last?.version], ['b', null, 'rolled-back', '0.3.0']);
  t.match(pbx(['account', 'list', '--data', data]).out, /^201\t/m, 'the account survived the rollback');
  t.match(log, /update: slot a failed its health check/);

  // Refused: nothing is written to the inactive slot (a), the state stays.
  const before = treeDigest(root, (n) => n === 'supervisor.pid');
  const stranger1 = pbx(['update', bundle('stranger.pbxfw', '0.4.0', firmware, stranger.privateKey), '--slots', root, '--keys', keys]);
  t.equal(stranger1.code, 1);
  t.match(stranger1.err, /pbx: the manifest is not signed by a trusted vendor key/);
  const changed = bundle('changed.pbxfw', '0.4.0');
  const raw = readFileSync(changed);
  // Change one file inside the archive while keeping the signed manifest: rebuild with an edited payload.
  const { readTar, writeTar } = await import('../../firmware/update/index.js');
  const { gunzipSync, gzipSync } = await import('node:zlib');
  const entries = readTar(gunzipSync(raw), 100_000).map((e) => ({ ...e, data: Buffer.from(e.data) }));
  const victim = entries.find((e) => e.path === 'payload/dist/firmware/main.js')!;
  victim.data = Buffer.concat([victim.data, Buffer.from('\n// changed\n')]);
  writeFileSync(changed, gzipSync(writeTar(entries)));
  const changed1 = pbx(['update', changed, '--slots', root, '--keys', keys]);
  t.equal(changed1.code, 1);
  t.match(changed1.err, /pbx: dist\/firmware\/main\.js differs from the signed manifest/);
  const down = pbx(['update', bundle('old.pbxfw', '0.1.5'), '--slots', root, '--keys', keys]);
  t.equal(down.code, 1);
  t.match(down.err, /older than the running 0\.2\.0 \(use --force/);
  t.equal(treeDigest(root, (n) => n === 'supervisor.pid'), before, 'slots and state unchanged by the three refusals');
  t.notOk(existsSync(join(root, '.incoming-a')));
  t.equal(runPid(data), third, 'the running firmware was never disturbed');

  if (process.env.FLOW_LOG) process.stderr.write(log);
  sup.kill("SIGTERM");
  const code = await new Promise<number | null>((r) => sup!.once('exit', (c) => r(c)));
  t.equal(code, 0, 'the supervisor stops cleanly on SIGTERM');
  t.notOk(cmdline(third), 'and its firmware with it');
});
