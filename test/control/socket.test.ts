import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlServer, MAX_REQUEST_BYTES, callControl, controlSocketPath, isAlive, type ControlHandler } from '../../firmware/control/index.js';
import { PbxError, isPbxError } from '../../firmware/core/index.js';

// Unix socket paths are short (about 100 bytes): keep the folder near the root of tmp.
const root = mkdtempSync(join(tmpdir(), 'pbx-ctl-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshPath = (): string => controlSocketPath(mkdtempSync(join(root, `${++n}-`)));

async function serve(t: { teardown(fn: () => unknown): void }, handler: ControlHandler, path = freshPath()): Promise<{ server: ControlServer; path: string }> {
  const server = new ControlServer(path, handler);
  await server.start();
  t.teardown(() => server.stop());
  return { server, path };
}

/** Write raw bytes on a fresh connection and collect reply lines until `count` arrived or the socket closed. */
function rawExchange(path: string, text: string, count: number): Promise<{ lines: string[]; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = createConnection(path);
    let buf = '';
    const lines: string[] = [];
    const finish = (closed: boolean): void => { sock.destroy(); resolve({ lines, closed }); };
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(text));
    sock.on('data', (c: string) => {
      buf += c;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) { lines.push(buf.slice(0, nl)); buf = buf.slice(nl + 1); }
      if (lines.length >= count) finish(false);
    });
    sock.on('close', () => finish(true));
    sock.on('error', () => finish(true));
  });
}

t.test('a request goes over the socket and its result comes back', async (t) => {
  const { path } = await serve(t, async (req) => ({ echoed: req.command, args: req.args }));
  t.same(await callControl(path, { command: 'account.list', args: { json: true } }), { echoed: 'account.list', args: { json: true } });
  t.equal(statSync(path).mode & 0o777, 0o600, 'only the owner may talk to the appliance');
  t.equal(await isAlive(path), true);
});

t.test('a PbxError keeps its code across the socket; other errors become invalid-state', async (t) => {
  const { path } = await serve(t, async (req) => {
    if (req.command === 'missing') throw new PbxError('not-found', 'no account 999');
    if (req.command === 'clash') throw new PbxError('conflict', 'account 100 exists');
    throw new TypeError('bug');
  });
  for (const [command, code, message] of [['missing', 'not-found', 'no account 999'], ['clash', 'conflict', 'account 100 exists'], ['other', 'invalid-state', 'bug']] as const) {
    const err = await callControl(path, { command, args: {} }).then(() => undefined, (e: unknown) => e);
    t.ok(isPbxError(err, code), `${command} -> ${code}`);
    t.equal(isPbxError(err) ? err.message : '', message);
  }
});

t.test('bad lines get a parse error reply and the connection keeps serving, in order', async (t) => {
  const { path } = await serve(t, async (req) => req.command);
  const { lines } = await rawExchange(path, 'not json\n{"args":{}}\n[1,2]\n{"command":"ok"}\n', 4);
  const replies = lines.map((l) => JSON.parse(l) as { ok: boolean; error?: { code: string }; result?: unknown });
  t.same(replies.map((r) => r.ok ? `ok:${String(r.result)}` : r.error?.code), ['parse', 'parse', 'parse', 'ok:ok']);
});

t.test('replies on one connection come in request order even when an earlier one is slower', async (t) => {
  const { path } = await serve(t, (req) => new Promise((resolve) => {
    if (req.command === 'slow') setTimeout(() => resolve('slow'), 30);
    else resolve('fast');
  }));
  const { lines } = await rawExchange(path, '{"command":"slow"}\n{"command":"fast"}\n', 2);
  t.same(lines.map((l) => (JSON.parse(l) as { result: string }).result), ['slow', 'fast']);
});

t.test('a result JSON cannot carry becomes an error reply, and the server lives on', async (t) => {
  const { path } = await serve(t, async (req) => (req.command === 'big' ? { n: 10n } : 'fine'));
  const err = await callControl(path, { command: 'big', args: {} }).then(() => undefined, (e: unknown) => e);
  t.ok(isPbxError(err, 'invalid-state'));
  t.equal(await callControl(path, { command: 'next', args: {} }), 'fine');
});

t.test('a line over the size limit is answered with a limit error, then the connection closes', async (t) => {
  const { path } = await serve(t, async () => 'x');
  // Two lines awaited: only one comes, so this returns when the server closes.
  const { lines, closed } = await rawExchange(path, 'x'.repeat(MAX_REQUEST_BYTES + 10), 2);
  t.equal(closed, true);
  t.equal(lines.length, 1);
  t.equal((JSON.parse(lines[0] ?? '{}') as { error?: { code?: string } }).error?.code, 'limit');
});

t.test('a stale socket file left by a killed appliance is replaced', async (t) => {
  const path = freshPath();
  // A process that listens on the path and dies without cleaning up, as after SIGKILL.
  const r = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  t.equal(r.signal, 'SIGKILL');
  t.equal(existsSync(path), true, 'the dead socket file is still there');
  t.equal(await isAlive(path), false, 'nobody answers on it');
  await serve(t, async () => 'alive', path);
  t.equal(await callControl(path, { command: 'x', args: {} }), 'alive');
});

t.test("a second server on a live socket is refused with 'conflict' and the first keeps serving", async (t) => {
  const { path } = await serve(t, async () => 'first');
  const second = new ControlServer(path, async () => 'second');
  const err = await second.start().then(() => undefined, (e: unknown) => e);
  t.ok(isPbxError(err, 'conflict'));
  t.equal(await callControl(path, { command: 'x', args: {} }), 'first');
});

t.test('stop removes the socket; callControl then fails with transport', async (t) => {
  const path = freshPath();
  const server = new ControlServer(path, async () => 'x');
  await server.start();
  await server.stop();
  await server.stop();
  t.equal(existsSync(path), false);
  t.equal(await isAlive(path), false);
  const err = await callControl(path, { command: 'x', args: {} }).then(() => undefined, (e: unknown) => e);
  t.ok(isPbxError(err, 'transport'));
});
