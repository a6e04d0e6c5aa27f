/**
 * Issue 20, "let the admin see (extension, source, count, time left) and lift
 * a block from the page and `pbx block`; each block and unblock is logged":
 * the digest throttle's blocks through the control commands, the CLI's
 * `block` command and the admin API's /api/blocks.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { AdminServer, type LiveSource } from '../../firmware/admin/index.js';
import { BlockUsageError, blockCommand, formatBlocks } from '../../firmware/cli/block.js';
import { ConfigStore } from '../../firmware/config/index.js';
import { executeCommand, type CommandContext } from '../../firmware/control/index.js';
import { Counters, FakeClock, isPbxError, silentLogger } from '../../firmware/core/index.js';
import { loadOrCreatePki } from '../../firmware/pki/index.js';
import { AuthThrottle } from '../../firmware/sip/digest/index.js';
import { request, sessionCookie } from '../admin/client.js';

const root = mkdtempSync(join(tmpdir(), 'pbx-blocks-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => mkdtempSync(join(root, `${++n}-`));

function throttleWithLog(clock: FakeClock): { throttle: AuthThrottle; logs: Array<Record<string, unknown>>; counters: Counters } {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk: Buffer, _e, done) { logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } });
  const counters = new Counters();
  const throttle = new AuthThrottle({ clock, counters, limit: 3, windowMs: 60_000, blockMs: 300_000, log: pino({ level: 'info' }, sink), name: 'sip digest' });
  return { throttle, logs, counters };
}

async function context(clock: FakeClock, throttle?: AuthThrottle): Promise<CommandContext> {
  const dataDir = fresh();
  const store = await ConfigStore.open(dataDir, { log: silentLogger });
  return { store, dataDir, clock, ...(throttle ? { blocks: throttle } : {}) };
}

const caught = (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e);

t.test('throttle: a block names the extension, is logged; unblock lifts it, forgets the failures, is logged; expiry too', async (t) => {
  const clock = new FakeClock();
  const { throttle, logs, counters } = throttleWithLog(clock);
  throttle.recordFailure('192.0.2.7', '100');
  throttle.recordFailure('192.0.2.7', '101');
  throttle.recordFailure('192.0.2.7');
  t.ok(throttle.isBlocked('192.0.2.7'));
  t.same(throttle.blocked(), [{ address: '192.0.2.7', until: clock.now() + 300_000, failures: 3, extension: '101' }], 'the latest named extension');
  const blockLine = logs.find((l) => String(l.msg).includes('source blocked'));
  t.match(blockLine, { level: 40, source: '192.0.2.7', extension: '101', failures: 3 });
  t.equal(throttle.unblock('192.0.2.7', 'cli'), true);
  t.notOk(throttle.isBlocked('192.0.2.7'));
  t.match(logs.find((l) => String(l.msg).includes('block lifted')), { level: 30, source: '192.0.2.7', by: 'cli' });
  throttle.recordFailure('192.0.2.7', '100');
  t.notOk(throttle.isBlocked('192.0.2.7'), 'the failures before the lift no longer count');
  t.equal(throttle.unblock('192.0.2.7'), false, 'nothing to lift');
  t.equal(throttle.unblock('198.51.100.1'), false);
  for (let i = 0; i < 3; i++) throttle.recordFailure('198.51.100.1', '200');
  clock.advance(300_000);
  t.same(throttle.blocked(), []);
  t.ok(logs.some((l) => String(l.msg).includes('block expired') && l.source === '198.51.100.1'), 'expiry logged');
  t.same([counters.get('sip.auth-throttle.block'), counters.get('sip.auth-throttle.unblock'), counters.get('sip.auth-throttle.expired')], [2, 1, 1]);
  t.notOk(JSON.stringify(logs).includes('password'), 'no secret in the lines');
});

t.test('block.list / block.remove commands: the view, errors by code, offline behaviour', async (t) => {
  const clock = new FakeClock();
  const { throttle } = throttleWithLog(clock);
  const ctx = await context(clock, throttle);
  for (let i = 0; i < 3; i++) throttle.recordFailure('192.0.2.9', '105');
  for (let i = 0; i < 3; i++) throttle.recordFailure('2001:db8::5');
  clock.advance(61_000);
  t.same(await executeCommand(ctx, { command: 'block.list', args: {} }), [
    { source: '192.0.2.9', extension: '105', failures: 3, until: new Date(clock.now() - 61_000 + 300_000).toISOString(), secondsLeft: 239 },
    { source: '2001:db8::5', extension: null, failures: 3, until: new Date(clock.now() - 61_000 + 300_000).toISOString(), secondsLeft: 239 },
  ]);
  t.same(await executeCommand(ctx, { command: 'block.remove', args: { address: '[2001:DB8::5]' } }), { removed: '2001:db8::5' });
  t.ok(isPbxError(await caught(executeCommand(ctx, { command: 'block.remove', args: { address: '2001:db8::5' } })), 'not-found'));
  t.ok(isPbxError(await caught(executeCommand(ctx, { command: 'block.remove', args: { address: 'not an address' } })), 'config'));
  t.ok(isPbxError(await caught(executeCommand(ctx, { command: 'block.remove', args: {} })), 'config'));
  const offline = await context(clock);
  t.same(await executeCommand(offline, { command: 'block.list', args: {} }), [], 'no appliance, no blocks');
  t.ok(isPbxError(await caught(executeCommand(offline, { command: 'block.remove', args: { address: '192.0.2.9' } })), 'invalid-state'));
});

t.test('pbx block list [--json] and pbx block remove ADDRESS', async (t) => {
  const clock = new FakeClock();
  const { throttle } = throttleWithLog(clock);
  const ctx = await context(clock, throttle);
  for (let i = 0; i < 3; i++) throttle.recordFailure('192.0.2.10', '110');
  let out = '';
  const dirs: string[] = [];
  const io = {
    command: (dataDir: string, req: Parameters<typeof executeCommand>[1]) => { dirs.push(dataDir); return executeCommand(ctx, req); },
    write: (s: string) => { out += s; },
  };
  t.equal(await blockCommand(['list', '--data', '/some/dir'], io), 0);
  t.same(dirs, ['/some/dir']);
  t.match(out, /^SOURCE\s+EXTENSION\s+FAILURES\s+UNTIL\s+LEFT\n192\.0\.2\.10\s+110\s+3\s+\S+Z\s+5m00s\n$/);
  out = '';
  await blockCommand(['list', '--json'], io);
  t.same(JSON.parse(out), [{ source: '192.0.2.10', extension: '110', failures: 3, until: new Date(clock.now() + 300_000).toISOString(), secondsLeft: 300 }]);
  out = '';
  t.equal(await blockCommand(['remove', '192.0.2.10'], io), 0);
  t.equal(out, 'unblocked 192.0.2.10\n');
  t.notOk(throttle.isBlocked('192.0.2.10'));
  out = '';
  await blockCommand(['list'], io);
  t.equal(out, 'no blocked sources\n');
  t.ok(isPbxError(await caught(blockCommand(['remove', '192.0.2.10'], io)), 'not-found'));
  for (const bad of [[], ['frob'], ['remove'], ['list', 'extra'], ['list', '--bogus']]) {
    t.ok((await caught(blockCommand(bad, io))) instanceof BlockUsageError, `usage: ${bad.join(' ')}`);
  }
  t.equal(formatBlocks([{ source: '::1', extension: null, failures: 12, until: 'x', secondsLeft: 3700 }]).split('\n')[1], '::1     -          12        x      1h01m');
});

t.test('admin API: GET /api/blocks and DELETE /api/blocks/:address (session and CSRF like every change)', async (t) => {
  const clock = new FakeClock(Date.now());
  const { throttle } = throttleWithLog(clock);
  const dataDir = join(fresh(), 'box');
  const store = await ConfigStore.open(dataDir, { log: silentLogger });
  await store.update((d) => { d.admin.setupCode = 'ABCD2345'; });
  const pki = await loadOrCreatePki(dataDir);
  const live: LiveSource = { onChange: () => () => {} };
  const admin = new AdminServer({
    bind: '127.0.0.1', webPort: 0, httpPort: 0, tls: pki.tlsMaterial(), caPem: () => pki.caCertPem, caDer: () => pki.caDer(),
    log: silentLogger, store, clock, live,
    execute: (req) => executeCommand({ store, dataDir, clock, blocks: throttle }, req),
  });
  const { webPort } = await admin.start();
  t.teardown(() => admin.stop());
  const call = (method: string, path: string, o: Parameters<typeof request>[4] = {}): ReturnType<typeof request> => request(webPort, [pki.caCertPem], method, path, o);
  const setup = await call('POST', '/api/setup', { body: { setupCode: 'ABCD2345', password: 'correct horse battery' } });
  t.equal(setup.status, 200);
  const cookie = sessionCookie(setup);
  const csrf = String(setup.json.csrfToken);
  t.equal((await call('GET', '/api/blocks')).status, 401, 'needs a session');
  for (let i = 0; i < 3; i++) throttle.recordFailure('192.0.2.44', '144');
  const list = await call('GET', '/api/blocks', { cookie });
  t.equal(list.status, 200);
  t.match(JSON.parse(list.text), [{ source: '192.0.2.44', extension: '144', failures: 3, secondsLeft: 300 }]);
  t.equal((await call('DELETE', '/api/blocks/192.0.2.44', { cookie })).status, 403, 'no CSRF token, no change');
  t.ok(throttle.isBlocked('192.0.2.44'));
  const del = await call('DELETE', '/api/blocks/192.0.2.44', { cookie, csrf });
  t.equal(del.status, 200);
  t.same(del.json, { removed: '192.0.2.44' });
  t.notOk(throttle.isBlocked('192.0.2.44'));
  t.equal((await call('DELETE', '/api/blocks/192.0.2.44', { cookie, csrf })).status, 404);
  t.same(JSON.parse((await call('GET', '/api/blocks', { cookie })).text), []);
});
