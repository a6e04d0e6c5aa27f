/**
 * rtpengine's "ng" control protocol, as the media bench drives it: a cookie,
 * a space and a bencoded dictionary per UDP datagram, answered with the same
 * cookie and a bencoded dictionary ("result": "ok" plus "sdp" for offer and
 * answer). Bencode: i<n>e, <len>:<bytes>, l...e, d...e with sorted keys.
 */
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';

export type Bencode = string | number | Buffer | readonly Bencode[] | { readonly [k: string]: Bencode };

export function bencode(v: Bencode): Buffer {
  if (typeof v === 'number') return Buffer.from(`i${Math.trunc(v)}e`);
  if (typeof v === 'string') v = Buffer.from(v);
  if (Buffer.isBuffer(v)) return Buffer.concat([Buffer.from(`${v.length}:`), v]);
  if (Array.isArray(v)) return Buffer.concat([Buffer.from('l'), ...v.map(bencode), Buffer.from('e')]);
  const o = v as { readonly [k: string]: Bencode };
  const keys = Object.keys(o).sort();
  return Buffer.concat([Buffer.from('d'), ...keys.flatMap((k) => [bencode(k), bencode(o[k]!)]), Buffer.from('e')]);
}

/** Decode one value at `at`; strings come back as text (latin1, so SDP bytes survive). Throws on malformed input. */
export function bdecode(b: Buffer, at = 0): { value: Bencode; next: number } {
  const c = b[at];
  if (c === undefined) throw new Error('bencode: truncated');
  if (c === 0x69) { // i
    const end = b.indexOf(0x65, at);
    if (end < 0) throw new Error('bencode: bad integer');
    return { value: Number(b.toString('latin1', at + 1, end)), next: end + 1 };
  }
  if (c === 0x6c || c === 0x64) { // l, d
    const items: Bencode[] = [];
    let p = at + 1;
    while (b[p] !== 0x65) {
      if (p >= b.length) throw new Error('bencode: truncated list');
      const r = bdecode(b, p);
      items.push(r.value);
      p = r.next;
    }
    if (c === 0x6c) return { value: items, next: p + 1 };
    const o: Record<string, Bencode> = {};
    for (let i = 0; i + 1 < items.length; i += 2) o[String(items[i])] = items[i + 1]!;
    return { value: o, next: p + 1 };
  }
  const colon = b.indexOf(0x3a, at);
  const len = Number(b.toString('latin1', at, colon));
  if (colon < 0 || !Number.isInteger(len) || len < 0 || colon + 1 + len > b.length) throw new Error('bencode: bad string');
  return { value: b.toString('latin1', colon + 1, colon + 1 + len), next: colon + 1 + len };
}

const NG_TIMEOUT_MS = 5_000;

export class NgClient {
  private readonly sock: Socket = createSocket('udp4');
  private readonly waiting = new Map<string, (r: Record<string, Bencode>) => void>();

  constructor(private readonly port: number, private readonly host = '127.0.0.1') {
    this.sock.on('message', (m) => {
      const sp = m.indexOf(0x20);
      const cookie = m.toString('latin1', 0, sp);
      const w = this.waiting.get(cookie);
      if (!w) return;
      this.waiting.delete(cookie);
      try { w(bdecode(m, sp + 1).value as Record<string, Bencode>); } catch { w({ result: 'error', 'error-reason': 'undecodable reply' }); }
    });
  }

  /** One command; resolves with the reply dictionary (throws on a timeout or a result that is not ok). */
  async command(dict: Record<string, Bencode>): Promise<Record<string, Bencode>> {
    const cookie = randomBytes(6).toString('hex');
    const reply = await new Promise<Record<string, Bencode>>((resolve, reject) => {
      const timer = setTimeout(() => { this.waiting.delete(cookie); reject(new Error(`rtpengine gave no answer to ${String(dict.command)}`)); }, NG_TIMEOUT_MS);
      this.waiting.set(cookie, (r) => { clearTimeout(timer); resolve(r); });
      this.sock.send(Buffer.concat([Buffer.from(`${cookie} `), bencode(dict)]), this.port, this.host);
    });
    if (reply.result !== 'ok' && dict.command !== 'ping') throw new Error(`rtpengine ${String(dict.command)}: ${String(reply['error-reason'] ?? reply.result)}`);
    return reply;
  }

  close(): void {
    try { this.sock.close(); } catch { /* closed */ }
  }
}
