import net from 'node:net';
import t from 'tap';
import { FakeClock, seededRandom } from '../../../firmware/core/index.js';
import type { SipResponse } from '../../../firmware/sip/message/index.js';
import { SipTransports, type TransportOptions } from '../../../firmware/sip/transport/index.js';
import { Inbox, Reader, closed, okResponse, connectTcp, header, nextEvent, request, type Teardown } from './helpers.js';

async function setup(t: Teardown, opts: TransportOptions = {}): Promise<{ tr: SipTransports; inbox: Inbox; port: number }> {
  const tr = new SipTransports(opts);
  const inbox = new Inbox(tr);
  const ports = await tr.start({ bind: '127.0.0.1', tcpPort: 0 });
  t.teardown(() => tr.stop());
  return { tr, inbox, port: ports.tcp ?? 0 };
}

async function client(t: Teardown, port: number): Promise<net.Socket> {
  const s = await connectTcp(port);
  s.on('error', () => {}); // resets from the server are expected in some tests
  t.teardown(() => s.destroy());
  return s;
}

const ok = (callId: string): SipResponse => okResponse(callId, 'SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK-r');

t.test('RFC 3261 18.3: a stream split into tiny writes is framed exactly by Content-Length', async (t) => {
  const { inbox, port } = await setup(t);
  const c = await client(t, port);
  c.setNoDelay(true);
  const bodies = ['v=0\r\nhello', 'é-bytes: ünïcode'];
  const wire = Buffer.from(bodies.map((b, i) => request({ method: 'MESSAGE', callId: `split-${i}`, body: b })).join(''));
  for (let i = 0; i < wire.length; i += 7) c.write(wire.subarray(i, i + 7));
  for (const [i, body] of bodies.entries()) {
    const [msg, source] = await inbox.next();
    t.equal(header(msg, 'call-id'), `split-${i}`);
    t.equal(msg.body.toString('utf8'), body, 'body sliced by bytes');
    t.equal(source.transport, 'tcp');
    t.match(source.flowId, /^tcp:\d+$/);
  }
});

t.test('several messages in one write come out as several messages, in order', async (t) => {
  const { inbox, port } = await setup(t);
  const c = await client(t, port);
  c.write([1, 2, 3].map((n) => request({ callId: `batch-${n}`, cseq: n, body: n === 2 ? 'x'.repeat(10) : '' })).join(''));
  const got: string[] = [];
  for (let i = 0; i < 3; i++) {
    const [msg] = await inbox.next();
    got.push(header(msg, 'call-id') ?? '');
  }
  t.same(got, ['batch-1', 'batch-2', 'batch-3']);
  t.equal(inbox.pending, 0);
});

t.test('RFC 5626 4.4.1: a double-CRLF ping is answered with one CRLF; a lone CRLF is not', async (t) => {
  const { tr, inbox, port } = await setup(t);
  const c = await client(t, port);
  const reader = new Reader(c);
  c.write('\r\n\r\n');
  await reader.until('\r\n');
  t.equal(reader.text, '\r\n');
  reader.text = '';
  c.write('\r\n');
  c.write(request({ callId: 'after-pong' }));
  const [msg, source] = await inbox.next();
  t.equal(header(msg, 'call-id'), 'after-pong');
  // RFC 3261 18.2.2: the response goes back on the connection the request used.
  t.ok(tr.send(ok('after-pong'), { transport: 'tcp', address: '192.0.2.1', port: 9, flowId: source.flowId }));
  await reader.until('Call-ID: after-pong');
  t.match(reader.text, /^SIP\/2\.0 200 OK\r\n/, 'nothing was written for the lone CRLF');
});

t.test('an oversized header section drops the connection and is counted', async (t) => {
  const { tr, port } = await setup(t);
  const c = await client(t, port);
  c.write('OPTIONS sip:x SIP/2.0\r\n');
  const line = `X-Junk: ${'a'.repeat(1000)}\r\n`;
  for (let i = 0; i < 200 && !c.destroyed; i++) c.write(line);
  await closed(c);
  const snap = tr.counters.snapshot();
  t.equal(snap['tcp-frame-too-large'], 1, 'counted under its reason');
  t.equal(tr.flowCount, 0);
});

t.test('a hostile peer writing random bytes never crashes the server; a good client is served after', async (t) => {
  const { tr, inbox, port } = await setup(t);
  const rnd = seededRandom(0x5eed);
  const fragments = ['INVITE sip:x SIP/2.0\r\n', 'Content-Length: 99999999\r\n', '\r\n\r\n', 'Via: SIP/2.0/TCP [::1\r\n', 'l: -1\r\n\r\n', '\r\n'];
  for (let round = 0; round < 40; round++) {
    const c = await client(t, port);
    c.resume(); // drop whatever the server answers (pongs, 400s) so 'close' can fire
    const parts: Buffer[] = [];
    for (let i = 0, n = 1 + rnd.int(8); i < n; i++) {
      parts.push(rnd.int(2) === 0 ? rnd.bytes(1 + rnd.int(3000)) : Buffer.from(fragments[rnd.int(fragments.length)] ?? ''));
    }
    for (const p of parts) c.write(p);
    c.end();
    await closed(c);
  }
  const good = await client(t, port);
  good.write(request({ callId: 'survivor' }));
  const [msg] = await inbox.next();
  t.equal(header(msg, 'call-id'), 'survivor');
  const rejected = Object.entries(tr.counters.snapshot()).filter(([k]) => /^tcp-(frame|msg|buffer)/.test(k));
  t.ok(rejected.length > 0, 'rejections counted by reason');
});

t.test('onFlowClosed fires with the flowId when the peer hangs up', async (t) => {
  const { tr, inbox, port } = await setup(t);
  const c = await client(t, port);
  c.write(request());
  const [, source] = await inbox.next();
  const flowId = source.flowId ?? '';
  t.ok(tr.hasFlow(flowId));
  const gone = new Promise<string>((resolve) => { tr.onFlowClosed = resolve; });
  c.end();
  t.equal(await gone, flowId);
  t.notOk(tr.hasFlow(flowId));
  // RFC 3261 18.2.2: with the request's connection gone, a new one is tried
  // toward the given address (port 1 refuses it).
  const refused = nextEvent(tr, 'tcp-socket-error');
  t.ok(tr.send(ok('late'), { transport: 'tcp', address: '127.0.0.1', port: 1, flowId }), 'queued on a new connection');
  t.match((await refused).detail, /ECONNREFUSED/);
});

t.test('idle timeout (fake clock) closes quiet connections but not pinned ones', async (t) => {
  const clock = new FakeClock();
  const { tr, inbox, port } = await setup(t, { clock, idleTimeoutMs: 120_000 });
  const quiet = await client(t, port);
  const pinned = await client(t, port);
  quiet.write(request({ callId: 'q' }));
  pinned.write(request({ callId: 'p' }));
  const ids = new Map<string, string>();
  for (let i = 0; i < 2; i++) {
    const [msg, source] = await inbox.next();
    ids.set(header(msg, 'call-id') ?? '', source.flowId ?? '');
  }
  tr.setFlowPinned(ids.get('p') ?? '', true);
  clock.advance(119_999);
  t.ok(tr.hasFlow(ids.get('q') ?? ''), 'not yet idle');
  clock.advance(1);
  t.notOk(tr.hasFlow(ids.get('q') ?? ''), 'quiet flow closed at the timeout');
  t.ok(tr.hasFlow(ids.get('p') ?? ''), 'pinned flow kept');
  await closed(quiet);
  t.equal(tr.counters.get('idle-timeout'), 1);
  clock.advance(600_000);
  t.ok(tr.hasFlow(ids.get('p') ?? ''));
});

t.test('connections per source address are limited', async (t) => {
  const { tr, port } = await setup(t, { maxConnectionsPerAddress: 2 });
  const refused = nextEvent(tr, 'conn-limit-address');
  await client(t, port);
  await client(t, port);
  const third = await client(t, port);
  await refused;
  await closed(third);
  t.equal(tr.flowCount, 2);
  t.equal(tr.counters.get('conn-limit-address'), 1);
});

t.test('outgoing: opens a connection once and reuses it; replies on it are delivered with its flowId', async (t) => {
  const { tr, inbox } = await setup(t);
  const accepted: net.Socket[] = [];
  const peer = net.createServer((s) => accepted.push(s));
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of accepted) s.destroy();
    peer.close();
  });
  const peerPort = (peer.address() as net.AddressInfo).port;
  const target = { transport: 'tcp' as const, address: '127.0.0.1', port: peerPort };
  t.ok(tr.send(ok('out-1'), target));
  t.ok(tr.send(ok('out-2'), target));
  while (accepted.length === 0) await new Promise((r) => peer.once('connection', r));
  const sock = accepted[0];
  if (!sock) throw new Error('no connection');
  const reader = new Reader(sock);
  await reader.until('Call-ID: out-2');
  t.equal(accepted.length, 1, 'one connection for both messages');
  sock.write(request({ callId: 'from-peer', via: `SIP/2.0/TCP 127.0.0.1:${peerPort};branch=z9hG4bK-p` }));
  const [msg, source] = await inbox.next();
  t.equal(header(msg, 'call-id'), 'from-peer');
  t.equal(source.port, peerPort);
  t.match(source.flowId, /^tcp:/);
});

t.test('stop() closes listeners and connections, is idempotent, and send afterwards fails', async (t) => {
  const tr = new SipTransports();
  const ports = await tr.start({ bind: '127.0.0.1', tcpPort: 0, udpPort: 0 });
  const closedFlows: string[] = [];
  tr.onFlowClosed = (id) => closedFlows.push(id);
  const opened = nextEvent(tr, 'flow-opened');
  const c = await connectTcp(ports.tcp ?? 0);
  c.on('error', () => {});
  await opened;
  const first = tr.stop();
  const second = tr.stop();
  t.equal(first, second, 'same promise');
  await first;
  await closed(c);
  await tr.stop();
  t.equal(closedFlows.length, 1);
  t.notOk(tr.send(ok('x'), { transport: 'udp', address: '127.0.0.1', port: 9 }));
  const refused = await new Promise<string>((resolve) => {
    const s = net.connect(ports.tcp ?? 0, '127.0.0.1');
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? ''));
    s.on('connect', () => { s.destroy(); resolve('connected'); });
  });
  t.equal(refused, 'ECONNREFUSED');
  await t.rejects(tr.start({ bind: '127.0.0.1', tcpPort: 0 }), { code: 'invalid-state' });
});
