/**
 * Issue 20, unbounded input on the control socket and the CLI: files are read
 * with a size cap ("FILE is larger than N MB", even for /dev/zero); the
 * control socket answers an oversized request with a 'limit' error and closes
 * instead of buffering on; the CLI notices at once when the appliance closes
 * the connection mid-request; `pbx account list | true` exits quietly.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import {
  ControlServer, MAX_INPUT_FILE_BYTES, callControl, controlSocketPath, readFileLimited,
} from '../../firmware/control/index.js';
import { Counters, isPbxError } from '../../firmware/core/index.js';

const PBX = fileURLToPath(new URL('../../firmware/cli/pbx.js', import.meta.url));
const CHILD_TIMEOUT_MS = 20_000;

const root = mkdtempSync(join(tmpdir(), 'pbx-hard-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => mkdtempSync(join(root, `${++n}-`));

interface Run { code: number | null; signal: string | null; stdout: string; stderr: string; ms: number }

/** Runs the CLI, killed by its PID past CHILD_TIMEOUT_MS; `closeStdout` shuts the read end at once (a `| true`). */
function pbx(args: string[], opts: { closeStdout?: boolean } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [PBX, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    if (opts.closeStdout) child.stdout.destroy();
    else child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => { if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL'); }, CHILD_TIMEOUT_MS);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr, ms: Date.now() - started }); });
  });
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

t.test('readFileLimited: a file at the cap reads; one byte more, /dev/zero, a folder and a missing file are refused', async (t) => {
  const dir = fresh();
  const at = join(dir, 'at.csv');
  writeFileSync(at, Buffer.alloc(MAX_INPUT_FILE_BYTES, 0x61));
  t.equal(readFileLimited(at).length, MAX_INPUT_FILE_BYTES);
  const over = join(dir, 'over.csv');
  writeFileSync(over, Buffer.alloc(MAX_INPUT_FILE_BYTES + 1, 0x61));
  const e1 = caught(() => readFileLimited(over));
  t.ok(isPbxError(e1, 'limit'));
  t.match((e1 as Error).message, `${over} is larger than 1 MB`);
  const e2 = caught(() => readFileLimited('/dev/zero'));
  t.ok(isPbxError(e2, 'limit'), '/dev/zero: stopped at the cap');
  t.ok(isPbxError(caught(() => readFileLimited('/dev/zero', 10)), 'limit'));
  t.equal(readFileLimited('/dev/null'), '', 'a device with an end reads to its end');
  t.ok(isPbxError(caught(() => readFileLimited(dir)), 'not-found'));
  t.ok(isPbxError(caught(() => readFileLimited(join(dir, 'missing'))), 'not-found'));
});

t.test('pbx account import /dev/zero: "is larger than 1 MB", exit 1, quickly and without a stack trace', async (t) => {
  const data = join(fresh(), 'var');
  const r = await pbx(['account', 'import', '/dev/zero', '--data', data]);
  t.equal(r.code, 1);
  t.equal(r.stderr, 'pbx: /dev/zero is larger than 1 MB\n');
  t.ok(r.ms < CHILD_TIMEOUT_MS, 'not killed');
});

t.test('pbx account list | true: exits 0 on EPIPE, nothing on stderr', async (t) => {
  const data = join(fresh(), 'var');
  mkdirSync(data, { recursive: true });
  const add = await pbx(['account', 'add', '100', '--password', 'Secret-100-pw', '--data', data]);
  t.equal(add.code, 0, add.stderr);
  const r = await pbx(['account', 'list', '--data', data], { closeStdout: true });
  t.equal(r.signal, null);
  t.equal(r.code, 0);
  t.equal(r.stderr, '', 'no stack trace');
});

t.test('control socket: an oversized request is answered with a limit error and the connection closed; earlier lines are answered', async (t) => {
  const counters = new Counters();
  const path = controlSocketPath(fresh());
  const server = new ControlServer(path, async (req) => ({ echo: req.command }), { maxRequestBytes: 1000, counters });
  await server.start();
  t.teardown(() => server.stop());
  const reply = await new Promise<{ text: string; closed: boolean }>((resolve) => {
    const sock = createConnection(path);
    let text = '';
    sock.on('connect', () => {
      sock.write(`${JSON.stringify({ command: 'first', args: {} })}\n`);
      // More than the cap, and no newline: the server must not wait for one.
      sock.write('x'.repeat(4000));
    });
    sock.on('data', (d: Buffer) => { text += d.toString(); });
    sock.on('close', () => resolve({ text, closed: true }));
    sock.on('error', () => {});
  });
  const lines = reply.text.trim().split('\n').map((l) => JSON.parse(l) as { ok: boolean; result?: unknown; error?: { code: string; message: string } });
  t.same(lines[0], { ok: true, result: { echo: 'first' } });
  t.equal(lines[1]?.ok, false);
  t.equal(lines[1]?.error?.code, 'limit');
  t.match(lines[1]?.error?.message, /larger than 1000 bytes/);
  t.ok(reply.closed);
  t.equal(counters.get('control.request-too-large'), 1);
  // The CLI side sees the limit as an error with that code, not as ECONNRESET.
  const err = await callControl(path, { command: 'big', args: { csv: 'y'.repeat(5000) } }).then(() => undefined, (e: unknown) => e);
  t.ok(isPbxError(err, 'limit'), 'callControl rejects with the limit error');
  // A request within the cap after a refused one, on a new connection, is served.
  t.same(await callControl(path, { command: 'small', args: {} }), { echo: 'small' });
});

t.test('callControl: an appliance that dies mid-request is noticed at once, not at the 30 s timer', async (t) => {
  const path = controlSocketPath(fresh());
  const dying = createServer((s) => s.once('data', () => s.destroy()));
  await new Promise<void>((resolve) => dying.listen(path, resolve));
  t.teardown(() => new Promise<void>((resolve) => dying.close(() => resolve())));
  const started = Date.now();
  const err = await callControl(path, { command: 'account.list', args: {} }).then(() => undefined, (e: unknown) => e);
  t.ok(isPbxError(err, 'transport'));
  t.match((err as Error).message, /closed the connection before answering|failed before it answered/);
  t.ok(Date.now() - started < 5000, 'well before the 30 s timer');
  // A reply cut off after some bytes is also a closed connection, not a hang.
  const half = controlSocketPath(fresh());
  const cut = createServer((s) => s.once('data', () => s.end('{"ok":tr')));
  await new Promise<void>((resolve) => cut.listen(half, resolve));
  t.teardown(() => new Promise<void>((resolve) => cut.close(() => resolve())));
  const err2 = await callControl(half, { command: 'x', args: {} }).then(() => undefined, (e: unknown) => e);
  t.ok(isPbxError(err2, 'transport'));
  t.match((err2 as Error).message, /closed the connection before answering/);
});

t.test('callControl: a reply over the cap is refused', async (t) => {
  const path = controlSocketPath(fresh());
  const big = createServer((s) => s.once('data', () => s.write(`{"ok":true,"result":"${'z'.repeat(5000)}"}\n`)));
  await new Promise<void>((resolve) => big.listen(path, resolve));
  t.teardown(() => new Promise<void>((resolve) => big.close(() => resolve())));
  const err = await callControl(path, { command: 'x', args: {} }, 5000, 1000).then(() => undefined, (e: unknown) => e);
  t.ok(isPbxError(err, 'transport'));
  t.match((err as Error).message, /larger than 1000 bytes/);
});
