import dgram from 'node:dgram';
import t from 'tap';
import { seededRandom } from '../../../firmware/core/index.js';
import type { SipResponse } from '../../../firmware/sip/message/index.js';
import { SipTransports, UDP_LARGE_THRESHOLD, type BoundPorts } from '../../../firmware/sip/transport/index.js';
import { Inbox, header, nextEvent, request, type Teardown } from './helpers.js';

async function setup(t: Teardown): Promise<{ ports: BoundPorts; tr: SipTransports; inbox: Inbox; port: number; client: dgram.Socket; clientPort: number; replies: () => Promise<string> }> {
  const tr = new SipTransports();
  const inbox = new Inbox(tr);
  const ports = await tr.start({ bind: '127.0.0.1', udpPort: 0, tcpPort: 0 });
  const client = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
  const queue: string[] = [];
  const waiters: ((s: string) => void)[] = [];
  client.on('message', (m) => {
    const w = waiters.shift();
    if (w) w(m.toString('latin1'));
    else queue.push(m.toString('latin1'));
  });
  t.teardown(async () => {
    client.close();
    await tr.stop();
  });
  return {
    ports,
    tr, inbox, port: ports.udp ?? 0, client, clientPort: client.address().port,
    replies: () => {
      const q = queue.shift();
      return q !== undefined ? Promise.resolve(q) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

const sendTo = (client: dgram.Socket, port: number, data: string | Buffer): void => {
  client.send(typeof data === 'string' ? Buffer.from(data) : data, port, '127.0.0.1');
};

t.test('RFC 3261 18.2.1 + RFC 3581: UDP request delivered with received and rport stamped', async (t) => {
  const { inbox, port, client, clientPort, ports } = await setup(t);
  t.equal(ports.udp, ports.tcp, 'UDP and TCP share the SIP port number when asked for port 0');
  sendTo(client, port, request({ via: 'SIP/2.0/UDP 192.0.2.99:5062;rport;branch=z9hG4bK-u1' }));
  const [msg, source] = await inbox.next();
  t.equal(msg.kind, 'request');
  t.equal(header(msg, 'via'), `SIP/2.0/UDP 192.0.2.99:5062;rport=${clientPort};branch=z9hG4bK-u1;received=127.0.0.1`);
  t.same(source, { transport: 'udp', address: '127.0.0.1', port: clientPort, local: { address: '127.0.0.1', port } });
  t.equal(source.flowId, undefined);
});

t.test('UDP send reaches the target; a datagram over the RFC 3261 18.1.1 size is still sent and counted', async (t) => {
  const { tr, client, clientPort, replies } = await setup(t);
  const small: SipResponse = {
    kind: 'response', status: 200, reason: 'OK',
    headers: [{ name: 'via', value: 'SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-s' }, { name: 'cseq', value: '1 OPTIONS' }],
    body: Buffer.alloc(0),
  };
  t.equal(tr.send(small, { transport: 'udp', address: '127.0.0.1', port: clientPort }), true);
  t.match(await replies(), /^SIP\/2\.0 200 OK\r\n/);
  t.equal(tr.counters.get('udp-large'), 0);
  const big: SipResponse = { ...small, body: Buffer.alloc(UDP_LARGE_THRESHOLD, 'x'), headers: [...small.headers, { name: 'content-type', value: 'text/plain' }] };
  t.equal(tr.send(big, { transport: 'udp', address: '127.0.0.1', port: clientPort }), true);
  const got = await replies();
  t.ok(got.length > UDP_LARGE_THRESHOLD);
  t.equal(tr.counters.get('udp-large'), 1);
  client.unref();
});

t.test('RFC 4475: garbage datagrams are counted, never crash; a salvageable one gets 400; service continues', async (t) => {
  const { tr, inbox, port, client, replies } = await setup(t);
  const rnd = seededRandom(4475);
  for (let i = 0; i < 200; i++) {
    const len = 1 + rnd.int(1400);
    const b = rnd.bytes(len);
    if (i % 3 === 0) b.write('INVITE sip:x SIP/2.0\r\nVia: ', 0, 'latin1');
    sendTo(client, port, b);
  }
  const bad400 = [
    'INVITE sip:bob@example.com SIP/2.0',
    'Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-bad',
    'From: <sip:a@example.com>;tag=1',
    'To: <sip:bob@example.com>',
    'Call-ID: bad-cl',
    'CSeq: 5 INVITE',
    'Content-Length: -3',
    '', '',
  ].join('\r\n');
  sendTo(client, port, bad400);
  sendTo(client, port, request({ callId: 'after-garbage' }));
  const [msg] = await inbox.next();
  t.equal(header(msg, 'call-id'), 'after-garbage', 'a good request after the garbage is served');
  let reply = await replies();
  while (!reply.includes('Call-ID: bad-cl')) reply = await replies();
  t.match(reply, /^SIP\/2\.0 400 Bad Request\r\n/);
  t.match(reply, /CSeq: 5 INVITE/);
  const rejected = Object.entries(tr.counters.snapshot()).filter(([k]) => k.startsWith('udp-msg-')).reduce((n, [, v]) => n + v, 0);
  t.ok(rejected >= 150, `rejections counted by reason (${rejected})`);
  t.ok(tr.counters.get('udp-bad-request-sent') >= 1);
});

t.test('CRLF keep-alives over UDP are ignored; a throwing listener is counted and does not stop the socket', async (t) => {
  const { tr, inbox, port, client } = await setup(t);
  const listener = tr.onMessage;
  let thrown = 0;
  tr.onMessage = () => {
    thrown++;
    throw new Error('bug above');
  };
  const counted = nextEvent(tr, 'listener-error');
  sendTo(client, port, '\r\n\r\n');
  sendTo(client, port, request({ callId: 'throws' }));
  await counted;
  t.equal(thrown, 1);
  t.equal(tr.counters.get('udp-keepalive'), 1);
  tr.onMessage = listener;
  sendTo(client, port, request({ callId: 'still-alive' }));
  const [msg] = await inbox.next();
  t.equal(header(msg, 'call-id'), 'still-alive');
});

t.test('RFC 3261 8.2.2.1 / RFC 4475 3.1.2.16: a request with another SIP version is answered 505', async (t) => {
  const { tr, port, client, replies } = await setup(t);
  sendTo(client, port, request({ callId: 'v7' }).replace('SIP/2.0\r\n', 'SIP/7.0\r\n'));
  const reply = await replies();
  t.match(reply, /^SIP\/2\.0 505 Version Not Supported\r\n/);
  t.match(reply, /Call-ID: v7\r\n/);
  t.match(reply, /To: <sip:pbx@example\.com>;tag=/);
  t.equal(tr.counters.get('udp-msg-version'), 1);
});
