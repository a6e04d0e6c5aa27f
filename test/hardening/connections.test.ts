/**
 * Issue 20, connection limits of the SIP stream transports, on real loopback
 * sockets with a fake clock: connections counted from their accept (a TLS one
 * before its handshake) per address and in total; a connection closed when it
 * completes no message in time (slowloris), holds a partial message too long,
 * sends too many messages a second, or stays idle without a registration on
 * it; partial-message bytes capped over all connections. Each rejection is
 * counted and logged.
 */
import net from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { FakeClock } from '../../firmware/core/index.js';
import type { SipResponse } from '../../firmware/sip/message/index.js';
import {
  DEFAULT_IDLE_TIMEOUT_MS, FIRST_MESSAGE_TIMEOUT_MS, PARTIAL_MESSAGE_TIMEOUT_MS, SipTransports, TLS_HANDSHAKE_TIMEOUT_MS,
  type TransportOptions,
} from '../../firmware/sip/transport/index.js';
import { Inbox, Reader, closed, connectTcp, request, selfSigned, type Teardown } from '../sip/transport/helpers.js';

const cert = selfSigned('pbx.test', '0b');

/** Waits (bounded) for something the server does in reaction to socket I/O. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

interface Setup { tr: SipTransports; inbox: Inbox; clock: FakeClock; tcp: number; tls: number; logs: string[] }

async function setup(t: Teardown, opts: TransportOptions = {}): Promise<Setup> {
  const clock = new FakeClock();
  const logs: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { logs.push(chunk.toString('utf8')); done(); } });
  const tr = new SipTransports({ clock, log: pino({ level: 'info' }, sink), ...opts });
  const inbox = new Inbox(tr);
  const ports = await tr.start({ bind: '127.0.0.1', tcpPort: 0, tlsPort: 0, tls: { key: cert.key, cert: cert.cert } });
  t.teardown(() => tr.stop());
  return { tr, inbox, clock, tcp: ports.tcp ?? 0, tls: ports.tls ?? 0, logs };
}

async function client(t: Teardown, port: number): Promise<net.Socket> {
  const s = await connectTcp(port);
  s.on('error', () => {});
  // Flowing, so that 'close' comes even when the server wrote something no one reads.
  s.resume();
  t.teardown(() => s.destroy());
  return s;
}

const isOpen = (s: net.Socket): boolean => !s.destroyed && !s.readableEnded;

/** Connects and waits until the server has counted the connection. */
async function accepted(t: Teardown, tr: SipTransports, port: number): Promise<net.Socket> {
  const before = tr.connectionCount;
  const s = await client(t, port);
  await until(() => tr.connectionCount > before || s.readableEnded || s.destroyed, 'the accept');
  return s;
}

function registerOk(callId: string, contactExpires: number): SipResponse {
  return {
    kind: 'response', status: 200, reason: 'OK',
    headers: [
      { name: 'via', value: 'SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK-reg' },
      { name: 'call-id', value: callId },
      { name: 'cseq', value: '1 REGISTER' },
      { name: 'contact', value: `<sip:100@127.0.0.1:5062;transport=tcp>;expires=${contactExpires}` },
    ],
    body: Buffer.alloc(0),
  };
}

t.test('slowloris: a connection that completes no SIP message is closed at FIRST_MESSAGE_TIMEOUT_MS', async (t) => {
  const { tr, inbox, clock, tcp, logs } = await setup(t);
  const silent = await accepted(t, tr, tcp);
  const pinger = await accepted(t, tr, tcp);
  const talker = await accepted(t, tr, tcp);
  // RFC 5626 keep-alives are activity but not a message: they do not end the wait.
  const pong = new Reader(pinger);
  pinger.write('\r\n\r\n');
  await pong.until('\r\n');
  talker.write(request({ via: 'SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK-s1' }));
  await inbox.next();
  clock.advance(FIRST_MESSAGE_TIMEOUT_MS - 1);
  t.ok(isOpen(silent) && isOpen(pinger), 'open just before the limit');
  clock.advance(1);
  await closed(silent);
  await closed(pinger);
  t.equal(tr.counters.get('first-message-timeout'), 2);
  t.ok(isOpen(talker), 'a connection that sent a message stays');
  t.equal(tr.connectionCount, 1);
  t.match(logs.join(''), /first-message-timeout/, 'logged');
});

t.test('a partial message held longer than PARTIAL_MESSAGE_TIMEOUT_MS closes the connection; progress restarts the wait', async (t) => {
  const { tr, inbox, clock, tcp } = await setup(t);
  const slow = await accepted(t, tr, tcp);
  const steady = await accepted(t, tr, tcp);
  const whole = request({ via: 'SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK-p1', callId: 'p1' });
  // steady: a complete message, then the first half of the next one.
  steady.write(whole + whole.slice(0, 40));
  await inbox.next();
  slow.write('OPTIONS sip:pbx@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 1');
  await until(() => tr.bufferedBytes >= 40 + 50, 'partial bytes held');
  clock.advance(PARTIAL_MESSAGE_TIMEOUT_MS - 1000);
  steady.write(whole.slice(40) + whole.slice(0, 10));
  await inbox.next();
  clock.advance(1000);
  await closed(slow);
  t.equal(tr.counters.get('partial-timeout'), 1);
  t.ok(isOpen(steady), 'its partial message began only 1 s ago');
  clock.advance(PARTIAL_MESSAGE_TIMEOUT_MS);
  await closed(steady);
  t.equal(tr.counters.get('partial-timeout'), 2);
  await until(() => tr.bufferedBytes === 0, 'buffers released');
});

t.test('idle: closed after idleTimeoutMs without a message or keep-alive; keep-alives keep it (RFC 5626 4.4.1)', async (t) => {
  const { tr, inbox, clock, tcp } = await setup(t);
  const quiet = await accepted(t, tr, tcp);
  const alive = await accepted(t, tr, tcp);
  quiet.write(request({ via: 'SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK-i1', callId: 'i1' }));
  alive.write(request({ via: 'SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK-i2', callId: 'i2' }));
  await inbox.next();
  await inbox.next();
  const pongs = new Reader(alive);
  for (let i = 1; i <= 4; i++) {
    clock.advance(DEFAULT_IDLE_TIMEOUT_MS / 2);
    alive.write('\r\n\r\n');
    await until(() => pongs.text.length >= i * 2, 'pong');
  }
  await closed(quiet);
  t.equal(tr.counters.get('idle-timeout'), 1);
  t.ok(isOpen(alive), 'a phone sending keep-alives stays past twice the idle time');
});

t.test('a flow the box sent a REGISTER 2xx on is kept until the binding expires; isFlowInUse keeps one too', async (t) => {
  const { tr, inbox, clock, tcp } = await setup(t);
  const phone = await accepted(t, tr, tcp);
  const other = await accepted(t, tr, tcp);
  const plain = await accepted(t, tr, tcp);
  phone.write(request({ method: 'REGISTER', via: 'SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK-reg', callId: 'r1' }));
  other.write(request({ via: 'SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK-o', callId: 'o1' }));
  plain.write(request({ via: 'SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK-q', callId: 'q1' }));
  const flows = new Map<string, string>();
  for (let i = 0; i < 3; i++) {
    const [msg, src] = await inbox.next();
    flows.set(msg.headers.find((h) => h.name === 'call-id')?.value ?? '', src.flowId ?? '');
  }
  const phoneFlow = flows.get('r1') ?? '';
  t.ok(tr.send(registerOk('r1', 900), { transport: 'tcp', address: '127.0.0.1', port: phone.localPort ?? 0, flowId: phoneFlow }));
  tr.isFlowInUse = (id) => id === flows.get('o1');
  clock.advance(DEFAULT_IDLE_TIMEOUT_MS);
  await closed(plain);
  t.ok(tr.hasFlow(phoneFlow), 'registered flow kept past the idle time');
  t.ok(tr.hasFlow(flows.get('o1') ?? ''), 'flow the location service vouches for kept');
  clock.advance(900_000);
  await closed(phone);
  t.notOk(tr.hasFlow(phoneFlow), 'closed once the binding has expired');
  t.ok(tr.hasFlow(flows.get('o1') ?? ''));
  t.equal(tr.counters.get('idle-timeout'), 2);
});

t.test('TLS: a connection still in its handshake counts against the per-address limit and is closed on the clock', async (t) => {
  const { tr, clock, tls, logs } = await setup(t, { maxConnectionsPerAddress: 2 });
  const a = await accepted(t, tr, tls);
  const b = await accepted(t, tr, tls);
  t.equal(tr.connectionCount, 2, 'counted from the TCP accept, before any handshake');
  const c = await client(t, tls);
  await closed(c);
  t.equal(tr.counters.get('conn-limit-address'), 1, 'the third is closed at accept');
  const d = await client(t, tls);
  await closed(d);
  t.equal(tr.counters.get('conn-limit-address'), 2);
  t.equal(logs.filter((l) => l.includes('conn-limit-address')).length, 1, 'one log line per LIMIT_LOG_EVERY_MS');
  clock.advance(TLS_HANDSHAKE_TIMEOUT_MS);
  await closed(a);
  await closed(b);
  t.equal(tr.counters.get('tls-handshake-timeout'), 2);
  await until(() => tr.connectionCount === 0, 'counts given back');
  const e = await accepted(t, tr, tls);
  t.ok(isOpen(e), 'room again after the timeouts');
});

t.test('TLS: the first-message wait counts from the TCP accept, across the handshake', async (t) => {
  const { tr, clock, tls: port } = await setup(t);
  const { connect } = await import('node:tls');
  const s = await new Promise<import('node:tls').TLSSocket>((resolve, reject) => {
    const c = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => resolve(c));
    c.once('error', reject);
  });
  s.on('error', () => {});
  s.resume();
  t.teardown(() => s.destroy());
  await until(() => tr.flowCount === 1, 'the TLS flow');
  clock.advance(TLS_HANDSHAKE_TIMEOUT_MS);
  t.ok(isOpen(s), 'a finished handshake is not timed out');
  clock.advance(FIRST_MESSAGE_TIMEOUT_MS - TLS_HANDSHAKE_TIMEOUT_MS);
  await closed(s);
  t.equal(tr.counters.get('first-message-timeout'), 1);
  t.equal(tr.counters.get('tls-handshake-timeout'), 0);
});

t.test('total connections are limited across addresses and transports', async (t) => {
  const { tr, tcp, tls } = await setup(t, { maxConnections: 3 });
  await accepted(t, tr, tcp);
  await accepted(t, tr, tls);
  await accepted(t, tr, tcp);
  const over = await client(t, tls);
  await closed(over);
  const over2 = await client(t, tcp);
  await closed(over2);
  t.equal(tr.counters.get('conn-limit-total'), 2);
  t.equal(tr.connectionCount, 3);
});

t.test('messages per connection per second are capped; the flood connection is closed, others served', async (t) => {
  const { tr, inbox, clock, tcp } = await setup(t, { maxMessagesPerSecond: 5 });
  const ok = await accepted(t, tr, tcp);
  const flood = await accepted(t, tr, tcp);
  const five = Array.from({ length: 5 }, (_, i) => request({ via: `SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK-ok${i}`, callId: `ok${i}` })).join('');
  ok.write(five);
  for (let i = 0; i < 5; i++) await inbox.next();
  clock.advance(1000);
  ok.write(five);
  for (let i = 0; i < 5; i++) await inbox.next();
  flood.write(Array.from({ length: 8 }, (_, i) => request({ via: `SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK-f${i}`, callId: `f${i}` })).join(''));
  await closed(flood);
  t.equal(tr.counters.get('msg-rate-limit'), 1);
  t.equal(inbox.pending, 5, 'the flood delivered only its first five');
  t.ok(isOpen(ok), '5 a second in two windows is within the cap');
});

t.test('partial-message bytes are capped over all connections', async (t) => {
  const { tr, tcp } = await setup(t, { streamBufferTotalLimit: 1000 });
  const a = await accepted(t, tr, tcp);
  const b = await accepted(t, tr, tcp);
  a.write(`OPTIONS sip:x SIP/2.0\r\nX: ${'a'.repeat(600)}`);
  await until(() => tr.bufferedBytes > 600, 'a held');
  b.write(`OPTIONS sip:x SIP/2.0\r\nX: ${'b'.repeat(600)}`);
  await closed(b);
  t.equal(tr.counters.get('buffer-total-limit'), 1);
  t.ok(isOpen(a));
  t.ok(tr.bufferedBytes > 600 && tr.bufferedBytes <= 1000, 'only the first one\'s bytes are held');
});

t.test('limits are validated', async (t) => {
  t.throws(() => new SipTransports({ maxMessagesPerSecond: 0 }), { code: 'config' });
  t.throws(() => new SipTransports({ firstMessageTimeoutMs: -1 }), { code: 'config' });
  t.throws(() => new SipTransports({ streamBufferTotalLimit: Number.NaN }), { code: 'config' });
});
