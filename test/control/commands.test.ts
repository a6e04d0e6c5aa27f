import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ConfigStore } from '../../firmware/config/index.js';
import { CommandError, GENERATED_PASSWORD_LENGTH, executeCommand, generatePassword } from '../../firmware/control/index.js';
import { isPbxError, seededRandom, silentLogger } from '../../firmware/core/index.js';
import { loadOrCreatePki } from '../../firmware/pki/index.js';
import { MAX_WAV_BYTES, writeWav } from '../../firmware/media/index.js';

/*
 * The commands the CLI, the control socket and the web API share, run here
 * as the CLI runs them with no appliance: on the config file and the PKI files.
 */

const root = mkdtempSync(join(tmpdir(), 'pbx-commands-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const dataDir = join(root, 'box');
const store = await ConfigStore.open(dataDir, { log: silentLogger });
const ctx = { store, dataDir, random: seededRandom(3) };
const run = (command: string, args: Record<string, unknown> = {}): Promise<unknown> => executeCommand(ctx, { command, args });

async function rejects(t: Test, p: Promise<unknown>, code: string, field?: string): Promise<void> {
  try {
    await p;
    t.fail('expected a rejection');
  } catch (e) {
    t.ok(isPbxError(e), 'a PbxError');
    if (isPbxError(e)) t.equal(e.code, code);
    if (field !== undefined) t.equal(e instanceof CommandError ? e.field : undefined, field, `names ${field}`);
  }
}

t.test('generated passwords use an unambiguous alphabet', async (t) => {
  const pw = generatePassword(seededRandom(1));
  t.equal(pw.length, GENERATED_PASSWORD_LENGTH);
  t.match(pw, /^[A-HJ-NP-Za-km-z2-9]+$/);
});

t.test('accounts: generated password, update, reset', async (t) => {
  await rejects(t, run('account.add', { extension: '1001' }), 'config', 'password');
  const added = await run('account.add', { extension: '1001', generatePassword: true }) as { password: string };
  t.match(added.password, /^[A-Za-z0-9]{12}$/);
  t.match(await run('account.update', { extension: '1001', name: 'Desk', tlsOnly: true }), { extension: '1001', name: 'Desk', tlsOnly: true, policy: 'default' });
  await rejects(t, run('account.update', { extension: '1001', policy: 'nope' }), 'not-found', 'policy');
  await rejects(t, run('account.update', { extension: '9999', name: 'x' }), 'not-found', 'extension');
  await rejects(t, run('account.update', { extension: '1001', tlsOnly: 'yes' }), 'config', 'tlsOnly');
  const before = store.data.accounts[0]!.ha1Sha256;
  t.same(await run('account.password', { extension: '1001', password: 'new-secret' }), { extension: '1001' }, 'a given password is not echoed');
  t.not(store.data.accounts[0]!.ha1Sha256, before);
  await rejects(t, run('account.password', { extension: '1001', password: 'abc' }), 'config', 'password');
});

t.test('policies: add, update, remove with the rules', async (t) => {
  t.same(await run('policy.add', { name: 'p1', callerStream: 'forced_relay' }), { name: 'p1', callerStream: 'forced_relay', calleeStream: 'as_caller' });
  await rejects(t, run('policy.add', { name: 'p1' }), 'conflict', 'name');
  await rejects(t, run('policy.add', { name: 'p2', calleeStream: 'srtp' }), 'config', 'calleeStream');
  t.same(await run('policy.update', { name: 'p1', calleeStream: 'dtls' }), { name: 'p1', callerStream: 'forced_relay', calleeStream: 'dtls' });
  await run('account.update', { extension: '1001', policy: 'p1' });
  await rejects(t, run('policy.remove', { name: 'p1' }), 'conflict', 'name');
  await rejects(t, run('policy.remove', { name: 'default' }), 'conflict', 'name');
  await run('account.update', { extension: '1001', policy: 'default' });
  t.same(await run('policy.remove', { name: 'p1' }), { removed: 'p1' });
  t.same((await run('policy.list') as Array<{ name: string }>).map((p) => p.name), ['default']);
});

t.test('certificates without a running appliance: read from the files; renewal needs the appliance', async (t) => {
  await rejects(t, run('cert.info'), 'not-found');
  const pki = await loadOrCreatePki(dataDir);
  const info = await run('cert.info') as { ca: { sha256: string }; server: { serial: string }; custom: boolean };
  t.equal(info.ca.sha256, pki.caInfo.sha256);
  t.equal(info.server.serial, pki.serverInfo.serial);
  t.equal(info.custom, false);
  t.match(await run('cert.history'), [{ reason: 'created', newSerial: pki.serverInfo.serial }]);
  await rejects(t, run('cert.renew'), 'invalid-state');
  await rejects(t, run('cert.install', { certPem: 'x', keyPem: 'y' }), 'invalid-state');
});

t.test('call history limit is checked', async (t) => {
  t.same(await run('calls.history'), []);
  await rejects(t, run('calls.history', { limit: 0 }), 'config', 'limit');
  await rejects(t, run('calls.history', { limit: 1.5 }), 'config', 'limit');
});

t.test('music on hold: moh.get says built-in until moh.set stores a WAV, from a path or from the page (base64)', async (t) => {
  t.same(await run('moh.get'), { playing: 'built-in' });
  const pcm = new Int16Array(8000 * 2).map((_, i) => Math.round(6000 * Math.sin(2 * Math.PI * 400 * i / 8000)));
  const wav = writeWav(1, 8000, pcm);
  const path = join(root, 'tune.wav');
  writeFileSync(path, wav);
  t.match(await run('moh.set', { path }), { seconds: 2, cut: false, source: { format: 'pcm', sampleRate: 8000, channels: 1 } });
  t.same(await run('moh.get'), { playing: 'uploaded', seconds: 2 });
  t.match(await run('moh.set', { wav: wav.toString('base64') }), { seconds: 2, source: { sampleRate: 8000 } }, 'base64 from the page');
  await rejects(t, run('moh.set', { wav: Buffer.from('plain text, no audio').toString('base64') }), 'config', 'file');
  await rejects(t, run('moh.set', { wav: '' }), 'config', 'file');
  await rejects(t, run('moh.set', { wav: 42 }), 'config', 'file');
  const big = Buffer.alloc(MAX_WAV_BYTES + 1).toString('base64');
  await rejects(t, run('moh.set', { wav: big }), 'limit', 'file');
  t.same(await run('moh.get'), { playing: 'uploaded', seconds: 2 }, 'refused uploads left the stored music alone');
  t.same(await run('moh.reset'), { playing: 'built-in', removed: true }, 'moh.reset removes the upload');
  t.same(await run('moh.get'), { playing: 'built-in' }, 'the built-in tune plays again');
  t.same(await run('moh.reset'), { playing: 'built-in', removed: false }, 'a second reset finds nothing to remove');
});
