/**
 * The media bench's load generator (a child process of media.ts, talking
 * over IPC with 'advanced' serialisation). It plays the phones: one UDP
 * socket per phone on 127.0.0.1, each sending one G.711 stream (20 ms,
 * 160-byte payload, 50 packets/s) protected with SRTP under its own key to
 * the relay, and receiving its peer's stream back from the relay, which it
 * authenticates and decrypts under the key the relay sends with.
 *
 * Every packet's payload starts with the sender's phone index and packet
 * number, so a receiver counts only genuine packets of its own peer: a packet
 * that fails authentication, a replay, or one from another stream is counted
 * apart, never as received. Loss is 1 - received / sent over all phones.
 *
 * Pacing: phone i sends in 1 ms slot i % 20, so the streams spread over each
 * 20 ms instead of bursting together; a late event loop catches up (and the
 * worst lateness is reported, so a run whose generator could not keep the
 * pace says so).
 *
 * IPC: {op:'bind', phones} -> {op:'bound', ports}; {op:'start', streams,
 * seconds} -> {op:'done', ...LoadResult}; {op:'exit'}.
 */
import { createSocket, type Socket } from 'node:dgram';
import { SrtpSession, type SrtpSessionOptions } from '../../firmware/media/srtp/index.js';

export interface LoadStream {
  /** Index of the phone (its socket) in this generator. */
  readonly phone: number;
  /** Global index of this phone (written in the payload) and of the peer whose packets it must receive. */
  readonly id: number;
  readonly peerId: number;
  /** Where the relay listens for this phone. */
  readonly to: { readonly address: string; readonly port: number };
  /** Protects what the phone sends; authenticates what it receives. */
  readonly tx: SrtpSessionOptions;
  readonly rx: SrtpSessionOptions;
}

export interface LoadResult {
  readonly sent: number;
  /** Packets the generator skipped because it fell more than MAX_BURST packets behind (not in `sent`). */
  readonly skipped: number;
  readonly received: number;
  readonly authFailed: number;
  /** Rejected by the replay window: a duplicate the relay sent. */
  readonly replayed: number;
  readonly wrongStream: number;
  readonly other: number;
  readonly sendErrors: number;
  /** How late the generator's worst slot was sent, ms (pacing held if small). */
  readonly maxLagMs: number;
  /** When sending started and ended (Date.now()), for the parent's CPU window. */
  readonly startedAt: number;
  readonly endedAt: number;
}

export type LoadCommand =
  | { readonly op: 'bind'; readonly phones: number }
  | { readonly op: 'start'; readonly streams: readonly LoadStream[]; readonly seconds: number; readonly drainMs: number }
  | { readonly op: 'exit' };

export const PACKET_MS = 20;
export const PACKETS_PER_SECOND = 1000 / PACKET_MS;
const PAYLOAD = 160;
const HEADER = 12;
/** Enough for a late event loop's catch-up burst of one phone (a send may still be queued in libuv). */
const RING = 64;
/** At most this many packets of one phone at once when catching up. */
const MAX_BURST = 10;
const QUIET_MS = 500;

interface Phone {
  readonly sock: Socket;
  stream?: LoadStream;
  tx?: SrtpSession;
  rx?: SrtpSession;
  ssrc: number;
  seq: number;
  ts: number;
  readonly plain: Buffer;
  /** Sends may complete later: each protected packet gets its own buffer of a small ring. */
  readonly ring: Buffer[];
  slot: number;
}

const phones: Phone[] = [];
let counts = { received: 0, authFailed: 0, replayed: 0, wrongStream: 0, other: 0, sendErrors: 0 };

function send(cmd: unknown): void {
  process.send?.(cmd);
}

function onMessage(p: Phone, msg: Buffer): void {
  const rx = p.rx;
  if (!rx || msg.length < HEADER || (msg[0]! & 0xc0) !== 0x80 || (msg[1]! & 0x7f) > 34) {
    counts.other++;
    return;
  }
  const r = rx.unprotectRtp(msg);
  if (typeof r === 'string') {
    if (r === 'srtp-replay' || r === 'srtp-old') counts.replayed++;
    else counts.authFailed++;
    return;
  }
  if (r.length < HEADER + 4 || r.readUInt32BE(HEADER) !== p.stream!.peerId) {
    counts.wrongStream++;
    return;
  }
  counts.received++;
}

async function bind(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const sock = createSocket({ type: 'udp4', recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
    const phone: Phone = { sock, ssrc: 0, seq: 0, ts: 0, plain: Buffer.alloc(HEADER + PAYLOAD, 0xff), ring: Array.from({ length: RING }, () => Buffer.alloc(HEADER + PAYLOAD + 64)), slot: 0 };
    sock.on('message', (m) => onMessage(phone, m));
    sock.on('error', () => { counts.sendErrors++; });
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    phones.push(phone);
    ports.push(sock.address().port);
  }
  return ports;
}

function packet(p: Phone, n: number): Buffer {
  const b = p.plain;
  b[0] = 0x80;
  b[1] = n === 0 ? 0x80 : 0x00; // PCMU, marker on the first
  b.writeUInt16BE(p.seq, 2);
  b.writeUInt32BE(p.ts >>> 0, 4);
  b.writeUInt32BE(p.ssrc, 8);
  b.writeUInt32BE(p.stream!.id, HEADER);
  b.writeUInt32BE(n, HEADER + 4);
  p.seq = (p.seq + 1) & 0xffff;
  p.ts = (p.ts + PAYLOAD) >>> 0;
  return b;
}

async function run(streams: readonly LoadStream[], seconds: number, drainMs: number): Promise<LoadResult> {
  counts = { received: 0, authFailed: 0, replayed: 0, wrongStream: 0, other: 0, sendErrors: 0 };
  const slots: Phone[][] = Array.from({ length: PACKET_MS }, () => []);
  for (const s of streams) {
    const p = phones[s.phone]!;
    p.stream = s;
    p.tx = new SrtpSession(s.tx);
    p.rx = new SrtpSession(s.rx);
    p.ssrc = (0x10000000 + s.id * 7919) >>> 0;
    p.seq = s.id & 0xffff;
    p.ts = s.id * 1000;
    slots[s.phone % PACKET_MS]!.push(p);
  }
  const total = Math.round(seconds * PACKETS_PER_SECOND);
  const slotSent = new Array<number>(PACKET_MS).fill(0);
  let sent = 0;
  let maxLag = 0;
  let skipped = 0;
  const onSent = (err: Error | null): void => { if (err) counts.sendErrors++; };
  const start = performance.now();
  const startedAt = Date.now();
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const elapsed = performance.now() - start;
      let done = true;
      for (let s = 0; s < PACKET_MS; s++) {
        const due = elapsed < s ? 0 : Math.min(total, Math.floor((elapsed - s) / PACKET_MS) + 1);
        // Far behind (a starved event loop): skip ahead rather than burst more than the ring holds.
        if (due - slotSent[s]! > MAX_BURST) {
          skipped += (due - MAX_BURST - slotSent[s]!) * slots[s]!.length;
          slotSent[s] = due - MAX_BURST;
        }
        while (slotSent[s]! < due) {
          const n = slotSent[s]!;
          const lag = elapsed - (s + n * PACKET_MS);
          if (lag > maxLag) maxLag = lag;
          for (const p of slots[s]!) {
            const out = p.tx!.protectRtp(packet(p, n), p.ring[p.slot = (p.slot + 1) % RING]);
            if (typeof out === 'string') { counts.sendErrors++; continue; }
            p.sock.send(out, p.stream!.to.port, p.stream!.to.address, onSent);
            sent++;
          }
          slotSent[s] = n + 1;
        }
        if (slotSent[s]! < total) done = false;
      }
      if (done) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  const endedAt = Date.now();
  // Drain: a relay that fell behind still delivers; wait until nothing arrived for QUIET_MS (at most drainMs).
  const drainEnd = Date.now() + drainMs;
  let last = -1;
  while (Date.now() < drainEnd && counts.received + counts.authFailed + counts.replayed !== last) {
    last = counts.received + counts.authFailed + counts.replayed;
    await new Promise((r) => setTimeout(r, QUIET_MS));
  }
  return { sent, skipped, ...counts, maxLagMs: Math.round(maxLag * 10) / 10, startedAt, endedAt };
}

process.on('message', (cmd: LoadCommand) => {
  if (cmd.op === 'bind') void bind(cmd.phones).then((ports) => send({ op: 'bound', ports }));
  else if (cmd.op === 'start') void run(cmd.streams, cmd.seconds, cmd.drainMs).then((r) => send({ op: 'done', ...r }));
  else if (cmd.op === 'exit') {
    for (const p of phones) p.sock.close();
    process.exit(0);
  }
});
send({ op: 'hello' });
