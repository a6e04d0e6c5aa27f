import { connect, type Socket } from 'node:net';

/**
 * A tiny client for baresip's ctrl_tcp module. Both directions are
 * netstrings (`LEN:PAYLOAD,`, LEN in decimal bytes) carrying JSON: a request
 * `{"command","params","token"}`, a reply `{"response":true,"ok","data","token"}`,
 * and unsolicited `{"event":true,...}` objects, which baresip sends only to
 * the most recently connected control client (so callers poll `listcalls`).
 */

/** A netstring larger than this is a broken peer, not a reply. */
const MAX_NETSTRING_BYTES = 1 << 20;
const REPLY_TIMEOUT_MS = 5_000;

export interface CtrlReply { readonly ok: boolean; readonly data: string; readonly token?: string }
export interface CtrlEvent { readonly type?: string; readonly class?: string; readonly param?: string; readonly [k: string]: unknown }

/** Encode one netstring; the length counts bytes. */
export function netstring(payload: string): Buffer {
  const body = Buffer.from(payload, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length}:`), body, Buffer.from(',')]);
}

/** Split complete netstrings off the front of buf: the payloads and the unconsumed rest. */
export function parseNetstrings(buf: Buffer): { payloads: string[]; rest: Buffer } {
  const payloads: string[] = [];
  let at = 0;
  for (;;) {
    const colon = buf.indexOf(0x3a, at);
    if (colon < 0) break;
    const lenText = buf.subarray(at, colon).toString('latin1');
    if (!/^\d{1,8}$/.test(lenText)) throw new Error(`bad netstring length ${JSON.stringify(lenText.slice(0, 20))}`);
    const len = Number(lenText);
    if (len > MAX_NETSTRING_BYTES) throw new Error(`netstring of ${len} bytes`);
    const end = colon + 1 + len;
    if (buf.length < end + 1) break;
    if (buf[end] !== 0x2c) throw new Error('netstring without its trailing comma');
    payloads.push(buf.subarray(colon + 1, end).toString('utf8'));
    at = end + 1;
  }
  return { payloads, rest: buf.subarray(at) };
}

export class BaresipCtrl {
  readonly events: CtrlEvent[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private waiting = new Map<string, (r: CtrlReply) => void>();
  private seq = 0;
  private failure: Error | undefined;

  private constructor(private readonly sock: Socket) {
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('error', (e) => { this.failure = e; });
  }

  static async connect(port: number, host = '127.0.0.1'): Promise<BaresipCtrl> {
    const sock = connect({ port, host });
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
    });
    return new BaresipCtrl(sock);
  }

  /** Send one command and wait for the reply carrying our token. */
  async command(command: string, params = ''): Promise<CtrlReply> {
    if (this.failure) throw this.failure;
    const token = `t${++this.seq}`;
    const reply = new Promise<CtrlReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(token);
        reject(new Error(`baresip did not answer ${command} within ${REPLY_TIMEOUT_MS} ms`));
      }, REPLY_TIMEOUT_MS);
      this.waiting.set(token, (r) => { clearTimeout(timer); resolve(r); });
    });
    this.sock.write(netstring(JSON.stringify({ command, params, token })));
    return reply;
  }

  dial(uri: string): Promise<CtrlReply> { return this.command('dial', uri); }
  hangup(): Promise<CtrlReply> { return this.command('hangup'); }
  accept(): Promise<CtrlReply> { return this.command('accept'); }
  listcalls(): Promise<CtrlReply> { return this.command('listcalls'); }
  async quit(): Promise<void> { try { await this.command('quit'); } catch { /* it may close first */ } }

  close(): void { this.sock.destroy(); }

  private onData(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    let parsed: { payloads: string[]; rest: Buffer };
    try {
      parsed = parseNetstrings(this.buf);
    } catch (e) {
      this.failure = e as Error;
      this.sock.destroy();
      return;
    }
    this.buf = parsed.rest;
    for (const p of parsed.payloads) {
      const msg = JSON.parse(p) as { response?: boolean; event?: boolean; ok?: boolean; data?: string; token?: string };
      if (msg.response && msg.token !== undefined) {
        const w = this.waiting.get(msg.token);
        this.waiting.delete(msg.token);
        w?.({ ok: msg.ok === true, data: msg.data ?? '', token: msg.token });
      } else if (msg.event) {
        this.events.push(msg as CtrlEvent);
      }
    }
  }
}
