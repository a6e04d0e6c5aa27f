import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { PbxError, isPbxError, type Counters, type ErrorCode, type Logger } from '../core/index.js';

/**
 * The control socket: a unix socket in the data folder through which the `pbx`
 * CLI (and later the serial console) asks a running appliance to do things, so
 * a change applies at once without a restart. One JSON request per line, one
 * JSON reply per line.
 */

export const CONTROL_SOCKET = 'control.sock';
/**
 * Bytes one request line may hold: room for the largest import the CLI
 * sends (MAX_INPUT_FILE_BYTES, escaped into JSON), far below what would
 * strain the box. A longer line is answered with a 'limit' error and the
 * connection closed.
 */
export const MAX_REQUEST_BYTES = 8 * 1024 * 1024;
/** Bytes of reply the CLI accepts (an account list of thousands is well under 1 MB). */
export const MAX_REPLY_BYTES = 32 * 1024 * 1024;
/** How long the CLI waits for an answer. */
export const CONTROL_TIMEOUT_MS = 30_000;

export interface ControlServerOptions {
  readonly maxRequestBytes?: number;
  /** Bumped as control.request-too-large. */
  readonly counters?: Counters;
  readonly log?: Logger;
}

export interface ControlRequest {
  readonly command: string;
  readonly args: Readonly<Record<string, unknown>>;
}

export type ControlReply =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly error: { readonly code: ErrorCode; readonly message: string } };

export type ControlHandler = (req: ControlRequest) => Promise<unknown>;

export function controlSocketPath(dataDir: string): string {
  return join(dataDir, CONTROL_SOCKET);
}

export class ControlServer {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  private readonly maxRequestBytes: number;

  constructor(private readonly path: string, private readonly handler: ControlHandler, private readonly opts: ControlServerOptions = {}) {
    this.maxRequestBytes = opts.maxRequestBytes ?? MAX_REQUEST_BYTES;
  }

  async start(): Promise<void> {
    // A socket file left by a process that died is stale: nobody answers on it.
    if (existsSync(this.path)) {
      if (await isAlive(this.path)) throw new PbxError('conflict', `another appliance is running on ${this.path}`);
      unlinkSync(this.path);
    }
    const server = createServer((sock) => this.serve(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => { server.off('error', reject); resolve(); });
    });
    chmodSync(this.path, 0o600);
    this.server = server;
  }

  private serve(sock: Socket): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    const reader = new LineReader(this.maxRequestBytes);
    // Replies carry no request id, so several lines on one connection are
    // answered one at a time, in the order they came.
    let queue: Promise<void> = Promise.resolve();
    sock.on('data', (chunk: Buffer) => {
      const { lines, tooLong } = reader.push(chunk);
      for (const line of lines) {
        queue = queue.then(async () => {
          const text = encodeReply(await this.answer(line));
          if (!sock.destroyed) sock.write(`${text}\n`);
        });
      }
      if (!tooLong) return;
      // Answer what came before, then say why, then close: never buffer on.
      this.opts.counters?.inc('control.request-too-large');
      this.opts.log?.warn({ limit: this.maxRequestBytes }, 'control request too large; connection closed');
      const mb = this.maxRequestBytes / (1024 * 1024);
      const message = `the request is larger than ${Number.isInteger(mb) ? `${mb} MB` : `${this.maxRequestBytes} bytes`}, the most the appliance accepts`;
      queue = queue.then(() => {
        if (!sock.destroyed) sock.end(`${encodeReply({ ok: false, error: { code: 'limit', message } })}\n`);
      });
    });
  }

  private async answer(line: string): Promise<ControlReply> {
    let req: ControlRequest;
    try {
      const v = JSON.parse(line) as unknown;
      if (!v || typeof v !== 'object' || typeof (v as { command?: unknown }).command !== 'string') throw new Error('no command');
      const args = (v as { args?: unknown }).args;
      req = { command: (v as { command: string }).command, args: args && typeof args === 'object' ? args as Record<string, unknown> : {} };
    } catch {
      return { ok: false, error: { code: 'parse', message: 'control request is not valid JSON with a command' } };
    }
    try {
      return { ok: true, result: await this.handler(req) };
    } catch (e) {
      if (isPbxError(e)) return { ok: false, error: { code: e.code, message: e.message } };
      return { ok: false, error: { code: 'invalid-state', message: e instanceof Error ? e.message : String(e) } };
    }
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    try { unlinkSync(this.path); } catch { /* already gone */ }
  }
}

/**
 * Splits a byte stream into newline-terminated lines of at most `max` bytes
 * (the newline not counted). Bytes, not characters: the cap is on memory, and
 * a multi-byte character split across chunks is joined before decoding. Once
 * a line is too long the reader says so and yields nothing more.
 */
export class LineReader {
  private parts: Buffer[] = [];
  private held = 0;
  private failed = false;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): { lines: string[]; tooLong: boolean } {
    const lines: string[] = [];
    if (this.failed) return { lines, tooLong: false };
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      if (this.held + end - start > this.max) {
        this.failed = true;
        this.parts = [];
        this.held = 0;
        return { lines, tooLong: true };
      }
      if (nl < 0) break;
      this.parts.push(chunk.subarray(start, nl));
      lines.push(Buffer.concat(this.parts).toString('utf8'));
      this.parts = [];
      this.held = 0;
      start = nl + 1;
    }
    if (start < chunk.length) {
      // Copied: a few held bytes must not pin the whole chunk.
      this.parts.push(Buffer.from(chunk.subarray(start)));
      this.held += chunk.length - start;
    }
    return { lines, tooLong: false };
  }
}

/** A result JSON cannot carry (a cycle, a BigInt) becomes an error reply, never an unhandled rejection. */
function encodeReply(reply: ControlReply): string {
  try {
    return JSON.stringify(reply);
  } catch {
    return JSON.stringify({ ok: false, error: { code: 'invalid-state', message: 'the result cannot be encoded as JSON' } });
  }
}

/** True if an appliance answers on the socket. */
export function isAlive(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    if (!existsSync(path)) { resolve(false); return; }
    const sock = createConnection(path);
    const timer = setTimeout(() => { sock.destroy(); resolve(false); }, timeoutMs);
    sock.once('connect', () => { clearTimeout(timer); sock.destroy(); resolve(true); });
    sock.once('error', () => { clearTimeout(timer); resolve(false); });
  });
}

/**
 * Send one request to a running appliance; throws PbxError('transport') if
 * none answers, and at once (not at the timeout) when the appliance closes the
 * connection before its reply is complete, e.g. because it stopped or died.
 */
export function callControl(path: string, req: ControlRequest, timeoutMs = CONTROL_TIMEOUT_MS, maxReplyBytes = MAX_REPLY_BYTES): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    const parts: Buffer[] = [];
    let held = 0;
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const fail = (message: string): void => settle(() => { sock.destroy(); reject(new PbxError('transport', message)); });
    const timer = setTimeout(() => fail('the appliance did not answer in time'), timeoutMs);
    sock.once('connect', () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on('data', (chunk: Buffer) => {
      if (settled) return;
      const nl = chunk.indexOf(0x0a);
      const take = nl < 0 ? chunk : chunk.subarray(0, nl);
      held += take.length;
      if (held > maxReplyBytes) { fail(`the appliance's reply is larger than ${maxReplyBytes} bytes`); return; }
      parts.push(take);
      if (nl < 0) return;
      settle(() => {
        sock.end();
        let reply: ControlReply;
        try { reply = JSON.parse(Buffer.concat(parts).toString('utf8')) as ControlReply; } catch {
          reject(new PbxError('transport', 'the appliance sent a reply that is not JSON'));
          return;
        }
        if (reply.ok) resolve(reply.result);
        else reject(new PbxError(reply.error.code, reply.error.message));
      });
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') fail(`cannot reach the appliance: ${e.message}`);
      else fail(`the connection to the appliance failed before it answered (${e.code ?? e.message}); it may have stopped`);
    });
    sock.once('close', () => fail('the appliance closed the connection before answering; it may have stopped or restarted'));
  });
}
