import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { PbxError, isPbxError, type ErrorCode } from '../core/index.js';

/**
 * The control socket: a unix socket in the data folder through which the `pbx`
 * CLI (and later the serial console) asks a running appliance to do things, so
 * a change applies at once without a restart. One JSON request per line, one
 * JSON reply per line.
 */

export const CONTROL_SOCKET = 'control.sock';
const MAX_LINE = 1024 * 1024;

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

  constructor(private readonly path: string, private readonly handler: ControlHandler) {}

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
    let buf = '';
    // Replies carry no request id, so several lines on one connection are
    // answered one at a time, in the order they came.
    let queue: Promise<void> = Promise.resolve();
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_LINE) { sock.destroy(); return; }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        queue = queue.then(async () => {
          const text = encodeReply(await this.answer(line));
          if (!sock.destroyed) sock.write(`${text}\n`);
        });
      }
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

/** Send one request to a running appliance; throws PbxError('transport') if none answers. */
export function callControl(path: string, req: ControlRequest, timeoutMs = 30_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new PbxError('transport', 'the appliance did not answer in time')); }, timeoutMs);
    sock.setEncoding('utf8');
    sock.once('connect', () => sock.write(`${JSON.stringify(req)}\n`));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      let reply: ControlReply;
      try { reply = JSON.parse(buf.slice(0, nl)) as ControlReply; } catch {
        reject(new PbxError('transport', 'the appliance sent a reply that is not JSON'));
        return;
      }
      if (reply.ok) resolve(reply.result);
      else reject(new PbxError(reply.error.code, reply.error.message));
    });
    sock.once('error', (e) => { clearTimeout(timer); reject(new PbxError('transport', `cannot reach the appliance: ${e.message}`)); });
  });
}
