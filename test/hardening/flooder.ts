/**
 * A UDP flood source for flood.test.ts, run as its own process so that the
 * test's legitimate phone keeps an event loop of its own:
 *   node flooder.js HOST PORT SECONDS [BIND]
 * sends, as fast as the kernel takes them, a rotation of junk datagrams
 * (random bytes, a truncated start line, a header block with no end) and
 * unauthenticated REGISTERs and OPTIONS with fresh branches and Call-IDs, for
 * SECONDS, then prints one JSON line {sent, seconds, perSecond} and exits.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';

const [host = '127.0.0.1', portArg = '5060', secondsArg = '10', bind = '127.0.0.1'] = process.argv.slice(2);
const port = Number(portArg);
const seconds = Number(secondsArg);
/** Datagrams handed to the kernel and not yet confirmed: enough to keep it busy, few enough to stay small. */
const IN_FLIGHT = 256;
/** Distinct datagrams prepared per kind (fresh identifiers without formatting one per send). */
const POOL = 512;

function sipRequest(method: 'REGISTER' | 'OPTIONS', i: number): Buffer {
  const id = randomBytes(8).toString('hex');
  const user = 100 + (i % 900);
  return Buffer.from([
    `${method} sip:${host}:${port} SIP/2.0`,
    `Via: SIP/2.0/UDP ${bind}:5070;branch=z9hG4bK${id}`,
    'Max-Forwards: 70',
    `From: <sip:${user}@${host}>;tag=${id.slice(0, 6)}`,
    `To: <sip:${user}@${host}>`,
    `Call-ID: flood-${id}@${bind}`,
    `CSeq: 1 ${method}`,
    `Contact: <sip:${user}@${bind}:5070>`,
    'Content-Length: 0',
    '', '',
  ].join('\r\n'));
}

const junk = (i: number): Buffer => {
  switch (i % 3) {
    case 0: return randomBytes(20 + (i % 1200));
    case 1: return Buffer.from(`INVITE sip:${'x'.repeat(i % 300)}`);
    default: return Buffer.from(`OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP ${bind}\r\nX: ${'y'.repeat(i % 500)}`);
  }
};

const pool: Buffer[] = [];
for (let i = 0; i < POOL; i++) pool.push(junk(i), sipRequest('REGISTER', i), sipRequest('OPTIONS', i));

const socket = createSocket('udp4');
socket.on('error', () => { /* ICMP errors while the box is busy: keep flooding */ });
socket.on('message', () => { /* answers are read and dropped */ });
socket.bind(0, bind, () => {
  const start = Date.now();
  const end = start + seconds * 1000;
  let sent = 0;
  let inFlight = 0;
  let next = 0;
  let finished = false;
  const pump = (): void => {
    while (inFlight < IN_FLIGHT && Date.now() < end) {
      inFlight++;
      const buf = pool[next++ % pool.length] ?? pool[0];
      socket.send(buf as Buffer, port, host, () => { inFlight--; sent++; if (inFlight < IN_FLIGHT / 2) setImmediate(pump); });
    }
    if (Date.now() >= end && !finished && inFlight === 0) {
      finished = true;
      const took = (Date.now() - start) / 1000;
      process.stdout.write(`${JSON.stringify({ sent, seconds: took, perSecond: Math.round(sent / took) })}\n`);
      socket.close();
    }
  };
  pump();
});
