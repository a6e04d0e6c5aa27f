import fc from 'fast-check';
import t from 'tap';
import type { SipRequest } from '../../../firmware/sip/message/index.js';
import { normalizeAddress, stampVia } from '../../../firmware/sip/transport/index.js';

const req = (...vias: string[]): SipRequest => ({
  kind: 'request',
  method: 'INVITE',
  uri: 'sip:bob@example.com',
  headers: [
    { name: 'max-forwards', value: '70' },
    ...vias.map((value) => ({ name: 'via', value })),
    { name: 'call-id', value: 'x' },
  ],
  body: Buffer.alloc(0),
});

const topVia = (r: SipRequest): string | undefined => r.headers.find((h) => h.name === 'via')?.value;

function stamped(value: string, addr: string, port: number): string | undefined {
  const r = stampVia(req(value), addr, port);
  if (!r.ok) return `error:${r.reason}`;
  return topVia(r.request);
}

t.test('RFC 3261 18.2.1: received added when sent-by host differs from the source', async (t) => {
  t.equal(
    stamped('SIP/2.0/UDP bobspc.biloxi.com:5060;branch=z9hG4bK776asdhds', '192.0.2.4', 5060),
    'SIP/2.0/UDP bobspc.biloxi.com:5060;branch=z9hG4bK776asdhds;received=192.0.2.4',
  );
});

t.test('RFC 3261 18.2.1: request returned unchanged when sent-by is the source address', async (t) => {
  const r = req('SIP/2.0/TCP 192.0.2.4:5060;branch=z9hG4bKa');
  const out = stampVia(r, '192.0.2.4', 40000);
  t.ok(out.ok);
  if (out.ok) t.equal(out.request, r, 'same object, no copy');
});

t.test('RFC 3581 4: empty rport filled and received added even when host matches', async (t) => {
  t.equal(
    stamped('SIP/2.0/UDP 10.1.1.1:4540;rport;branch=z9hG4bKkjshdyff', '10.1.1.1', 9988),
    'SIP/2.0/UDP 10.1.1.1:4540;rport=9988;branch=z9hG4bKkjshdyff;received=10.1.1.1',
  );
  t.equal(
    stamped('SIP/2.0/UDP 10.1.1.1:4540;branch=z9hG4bKkjshdyff;rport', '192.0.2.1', 9988),
    'SIP/2.0/UDP 10.1.1.1:4540;branch=z9hG4bKkjshdyff;rport=9988;received=192.0.2.1',
  );
});

t.test('only the first via-parm of the first Via header changes; a forged received is replaced', async (t) => {
  const r = stampVia(
    req('SIP/2.0/UDP a.example.com;branch=z9hG4bK1;received=6.6.6.6 , SIP/2.0/UDP b.example.com;branch=z9hG4bK2', 'SIP/2.0/UDP c.example.com'),
    '192.0.2.9',
    5060,
  );
  t.ok(r.ok);
  if (!r.ok) return;
  const vias = r.request.headers.filter((h) => h.name === 'via').map((h) => h.value);
  t.same(vias, [
    'SIP/2.0/UDP a.example.com;branch=z9hG4bK1;received=192.0.2.9, SIP/2.0/UDP b.example.com;branch=z9hG4bK2',
    'SIP/2.0/UDP c.example.com',
  ]);
  t.equal(r.request.headers[0]?.name, 'max-forwards', 'header order kept');
});

t.test('RFC 5118: IPv6 sent-by compared in canonical form; received has no brackets', async (t) => {
  t.equal(
    stamped('SIP/2.0/UDP [2001:db8:0::1]:5060;branch=z9hG4bKv6', '2001:db8::1', 5060),
    'SIP/2.0/UDP [2001:db8:0::1]:5060;branch=z9hG4bKv6',
  );
  t.equal(
    stamped('SIP/2.0/UDP [2001:db8::1];branch=z9hG4bKv6;rport', '2001:db8::2', 7000),
    'SIP/2.0/UDP [2001:db8::1];branch=z9hG4bKv6;rport=7000;received=2001:db8::2',
  );
  t.equal(normalizeAddress('::ffff:192.0.2.1'), '192.0.2.1', 'v4-mapped source');
  t.equal(normalizeAddress('[2001:DB8:0:0::1]'), '2001:db8::1');
});

t.test('a quoted parameter with ; and , does not confuse the split', async (t) => {
  t.equal(
    stamped('SIP/2.0/UDP h.example.com;x="a;b,c";branch=z9hG4bK3', '192.0.2.1', 5060),
    'SIP/2.0/UDP h.example.com;x="a;b,c";branch=z9hG4bK3;received=192.0.2.1',
  );
});

t.test('no Via or an unusable Via is reported, not thrown', async (t) => {
  const none: SipRequest = { ...req(), headers: [] };
  t.same(stampVia(none, '192.0.2.1', 5060), { ok: false, reason: 'no-via' });
  t.same(stampVia(req('garbage'), '192.0.2.1', 5060), { ok: false, reason: 'bad-via' });
  t.same(stampVia(req('SIP/2.0/UDP'), '192.0.2.1', 5060), { ok: false, reason: 'bad-via' });
  t.same(stampVia(req('SIP/2.0/UDP [::1'), '192.0.2.1', 5060), { ok: false, reason: 'bad-via' });
  t.same(stampVia(req('SIP/2.0/UDP h;bad param'), '192.0.2.1', 5060), { ok: false, reason: 'bad-via' });
});

t.test('property: stampVia never throws and keeps every other header as is', async (t) => {
  fc.assert(fc.property(fc.string({ maxLength: 200 }), fc.ipV4(), fc.integer({ min: 1, max: 65535 }), (value, addr, port) => {
    const r = stampVia(req(value, 'SIP/2.0/UDP second'), addr, port);
    if (!r.ok) return r.reason === 'bad-via';
    const vias = r.request.headers.filter((h) => h.name === 'via');
    return vias.length === 2 && vias[1]?.value === 'SIP/2.0/UDP second' && r.request.headers.length === 4;
  }));
  t.pass('held for all generated inputs');
});
