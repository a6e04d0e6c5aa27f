import t from 'tap';
import { seededRandom } from '../../../firmware/core/index.js';
import { badRequestFor } from '../../../firmware/sip/transport/index.js';

const raw = (...lines: string[]): Buffer => Buffer.from(lines.join('\r\n'));

t.test('RFC 4475 3.1.2 style: a request with a broken header still gets 400 with the RFC 3261 8.2.6.2 headers', async (t) => {
  const r = badRequestFor(raw(
    'INVITE sip:bob@example.com SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK-neg',
    'Via: SIP/2.0/UDP 192.0.2.8;branch=z9hG4bK-two',
    'From: <sip:alice@example.com>;tag=f1',
    'To: <sip:bob@example.com>',
    'Call-ID: neg-cl@192.0.2.7',
    'CSeq: 10 INVITE',
    'Max-Forwards: 70',
    'Content-Length: -999',
    '',
    '',
  ), seededRandom(7));
  t.ok(r);
  if (!r) return;
  t.equal(r.status, 400);
  t.same(r.headers.map((h) => h.name), ['via', 'via', 'from', 'to', 'call-id', 'cseq']);
  t.equal(r.headers[0]?.value, 'SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK-neg');
  t.match(r.headers[3]?.value, /^<sip:bob@example\.com>;tag=[A-Za-z0-9_-]+$/, 'UAS adds a To tag');
  t.equal(r.headers[5]?.value, '10 INVITE');
  t.equal(r.body.length, 0);
});

t.test('compact forms, LF-only lines and folded headers are understood', async (t) => {
  const r = badRequestFor(Buffer.from(
    'OPTIONS sip:x SIP/2.0\nv: SIP/2.0/TCP h.example.com\n ;branch=z9hG4bKfold\ni: c1\nf: <sip:a@b>;tag=1\nt: <sip:x>;tag=known\nCSeq: 3 OPTIONS\n\nbody',
  ), seededRandom(1));
  t.ok(r);
  if (!r) return;
  t.same(r.headers.map((h) => [h.name, h.value]), [
    ['via', 'SIP/2.0/TCP h.example.com ;branch=z9hG4bKfold'],
    ['from', '<sip:a@b>;tag=1'],
    ['to', '<sip:x>;tag=known'],
    ['call-id', 'c1'],
    ['cseq', '3 OPTIONS'],
  ]);
});

t.test('no answer for ACK (RFC 3261 17.2.1), responses, or without Via and CSeq', async (t) => {
  const rnd = seededRandom(2);
  t.equal(badRequestFor(raw('ACK sip:x SIP/2.0', 'Via: SIP/2.0/UDP h', 'CSeq: 1 ACK', 'Content-Length: x', '', ''), rnd), undefined);
  t.equal(badRequestFor(raw('SIP/2.0 200 OK', 'Via: SIP/2.0/UDP h', 'CSeq: 1 INVITE', '', ''), rnd), undefined);
  t.equal(badRequestFor(raw('INVITE sip:x SIP/2.0', 'CSeq: 1 INVITE', '', ''), rnd), undefined);
  t.equal(badRequestFor(raw('INVITE sip:x SIP/2.0', 'Via: SIP/2.0/UDP h', '', ''), rnd), undefined);
  t.equal(badRequestFor(Buffer.from([0xff, 0x00, 0x13, 0x37]), rnd), undefined);
  t.equal(badRequestFor(Buffer.alloc(0), rnd), undefined);
});

t.test('control characters are never echoed back', async (t) => {
  const r = badRequestFor(raw('INFO sip:x SIP/2.0', 'Via: SIP/2.0/UDP h;branch=z9hG4bKc', 'Call-ID: a\x00b', 'CSeq: 1 INFO', '', ''), seededRandom(3));
  t.ok(r);
  t.notOk(r?.headers.some((h) => h.name === 'call-id'));
});

t.test('RFC 3261 8.2.2.1: the caller may ask for 505 when the version is not 2.0', async (t) => {
  const r = badRequestFor(raw('OPTIONS sip:x SIP/7.0', 'Via: SIP/7.0/UDP h;branch=z9hG4bKv', 'CSeq: 1 OPTIONS', '', ''), seededRandom(5), 505);
  t.equal(r?.status, 505);
  t.equal(r?.reason, 'Version Not Supported');
});
