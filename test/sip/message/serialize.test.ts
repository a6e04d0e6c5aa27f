import t from 'tap';
import {
  getHeader, parseMessage, serialize, withBody, withHeader, type SipMessage, type SipRequest,
} from '../../../firmware/sip/message/index.js';
import { crlf, rfc4475 } from './fixtures/load.js';
import { rfc5118 } from './fixtures/rfc5118.js';

const VALID = [
  'wsinv', 'intmeth', 'esc01', 'escnull', 'esc02', 'lwsdisp', 'longreq', 'dblreq', 'semiuri', 'transports', 'mpart01',
  'unreason', 'noreason', 'badbranch', 'baddate', 'bcast', 'bext01', 'novelsc', 'unkscm', 'unksm2', 'zeromf', 'cparam01',
  'cparam02', 'regescrt', 'sdp01', 'invut', 'inv2543', 'regaut01',
];

function parse(buf: Buffer): SipMessage {
  const r = parseMessage(buf);
  if (!r.ok) throw new Error(`${r.reason}: ${r.error.message}`);
  return r.message;
}

t.test('parse -> serialize -> parse gives the same message (RFC 4475 and RFC 5118 fixtures)', async (t) => {
  const all: [string, Buffer][] = [
    ...VALID.map((n): [string, Buffer] => [n, rfc4475(n)]),
    ...Object.entries(rfc5118).filter(([n]) => n !== 'ipv6Bad'),
  ];
  for (const [name, raw] of all) {
    const first = parse(raw);
    const bytes = serialize(first);
    const second = parse(bytes);
    if (getHeader(first, 'content-length') !== undefined) {
      t.same(second, first, `${name}: same message`);
    } else {
      t.same(second.headers.slice(0, -1), first.headers, `${name}: same headers, Content-Length added last`);
      t.equal(getHeader(second, 'content-length'), String(first.body.length));
    }
    t.ok(second.body.equals(first.body), `${name}: same body bytes`);
    t.ok(serialize(second).equals(bytes), `${name}: serialising is stable`);
  }
});

t.test('canonical header names on the wire', async (t) => {
  const text = serialize(parse(rfc4475('wsinv'))).toString('utf8');
  for (const line of ['\r\nTo: ', '\r\nFrom: ', '\r\nMax-Forwards: 0068\r\n', '\r\nCall-ID: ', '\r\nCSeq: 0009 INVITE\r\n',
    '\r\nVia: SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw\r\n', '\r\nSubject: \r\n', '\r\nVia: SIP  / 2.0  / TCP', '\r\nContact: "Quoted',
    '\r\nContent-Length: 150\r\n']) {
    t.ok(text.includes(line), JSON.stringify(line));
  }
  const auth = withHeader(parse(rfc4475('regaut01')), 'www-authenticate', 'Digest realm="x"');
  t.match(serialize(auth).toString('utf8'), /\r\nWWW-Authenticate: Digest realm="x"\r\n/);
});

t.test('RFC 3261 20.14: Content-Length counts bytes of a multi-byte UTF-8 body', async (t) => {
  const text = 'Grüße ☎ 你好 🎉\r\n';
  t.not(Buffer.byteLength(text), text.length, 'the body has multi-byte characters');
  const req = parse(crlf(['MESSAGE sip:bob@example.com SIP/2.0', 'Via: SIP/2.0/TCP a.example.com;branch=z9hG4bK1',
    'From: <sip:alice@example.com>;tag=1', 'To: <sip:bob@example.com>', 'Call-ID: utf8', 'CSeq: 1 MESSAGE', 'Max-Forwards: 70',
    `Content-Length: ${Buffer.byteLength(text)}`, 'Content-Type: text/plain;charset=utf-8'], text));
  t.equal(req.body.toString('utf8'), text);
  const wrongCount = crlf(['MESSAGE sip:bob@example.com SIP/2.0', 'Via: SIP/2.0/TCP a;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1',
    'To: <sip:b@b>', 'Call-ID: c', 'CSeq: 1 MESSAGE', `Content-Length: ${text.length}`], text);
  const truncated = parse(wrongCount);
  t.ok(truncated.body.length < Buffer.byteLength(text), 'a character count takes too few bytes');
  const out = serialize(withBody(req, Buffer.from(text), 'text/plain'));
  t.match(out.toString('utf8'), new RegExp(`\\r\\nContent-Length: ${Buffer.byteLength(text)}\\r\\n`));
  t.equal(parse(out).body.toString('utf8'), text);
});

t.test('serialize rewrites a wrong Content-Length in place and adds a missing one', async (t) => {
  const base: SipRequest = {
    kind: 'request', method: 'OPTIONS', uri: 'sip:a@b', body: Buffer.from('abc'),
    headers: [{ name: 'via', value: 'SIP/2.0/UDP h;branch=z9hG4bK1' }, { name: 'content-length', value: '999' },
      { name: 'call-id', value: 'x' }, { name: 'content-length', value: '7' }],
  };
  t.equal(serialize(base).toString('utf8'), 'OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 3\r\nCall-ID: x\r\n\r\nabc');
  const none = { ...base, headers: [], body: Buffer.alloc(0) };
  t.equal(serialize(none).toString('utf8'), 'OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n');
});

t.test('serialize refuses values that would break lines on the wire', async (t) => {
  const ok: SipRequest = { kind: 'request', method: 'OPTIONS', uri: 'sip:a@b', headers: [], body: Buffer.alloc(0) };
  t.throws(() => serialize({ ...ok, headers: [{ name: 'subject', value: 'x\r\nVia: evil' }] }), { code: 'protocol' });
  t.throws(() => serialize({ ...ok, headers: [{ name: 'bad name', value: 'x' }] }), { code: 'protocol' });
  t.throws(() => serialize({ ...ok, method: 'OPT IONS' }), { code: 'protocol' });
  t.throws(() => serialize({ ...ok, uri: 'sip:a@b SIP/2.0\r\nX:' }), { code: 'protocol' });
  t.throws(() => serialize({ kind: 'response', status: 1000, reason: 'x', headers: [], body: Buffer.alloc(0) }), { code: 'protocol' });
  t.throws(() => serialize({ kind: 'response', status: 200, reason: 'OK\r\nX: y', headers: [], body: Buffer.alloc(0) }), { code: 'protocol' });
  t.throws(() => withHeader(ok, 'subject', 'a\nb'), { code: 'protocol' });
});

t.test('header names that are Object.prototype members round-trip (found by review)', async (t) => {
  const raw = 'OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nConstructor: x\r\n__proto__: y\r\ntoString: z\r\nContent-Length: 0\r\n\r\n';
  const p = parseMessage(Buffer.from(raw));
  t.ok(p.ok);
  if (!p.ok) return;
  const out = serialize(p.message).toString();
  t.match(out, /\r\nConstructor: x\r\n/);
  t.match(out, /\r\n__proto__: y\r\n/);
  t.match(out, /\r\nTostring: z\r\n/);
});
