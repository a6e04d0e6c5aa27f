import t from 'tap';
import {
  createResponse, fromTag, getCallId, getCSeq, getHeader, getHeaders, parseMessage, prependHeader, reasonPhrase,
  replaceHeader, serialize, toTag, topVia, withBody, withHeader, withoutHeader, type SipRequest,
} from '../../../firmware/sip/message/index.js';
import { crlf } from './fixtures/load.js';

function invite(extra: string[] = []): SipRequest {
  const r = parseMessage(crlf([
    'INVITE sip:bob@biloxi.example.com SIP/2.0',
    'Via: SIP/2.0/TLS proxy.example.com;branch=z9hG4bKnashds8, SIP/2.0/TLS 192.0.2.10:5061;branch=z9hG4bK74bf9;received=192.0.2.99',
    'v: SIP/2.0/UDP pc33.atlanta.example.com;rport=5066;branch=z9hG4bKnashds7',
    'Max-Forwards: 70', 'To: Bob <sip:bob@biloxi.example.com>', 'f: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774',
    'i: a84b4c76e66710@pc33.atlanta.example.com', 'CSeq: 314159 INVITE', 'Contact: <sip:alice@pc33.atlanta.example.com>',
    'WWW-Authenticate: Digest realm="a, b", nonce="x"', 'Date: Sat, 13 Nov 2010 23:29:00 GMT',
    'Supported: replaces, timer', 'Supported: outbound', 'Content-Length: 0', ...extra,
  ]));
  if (!r.ok || r.message.kind !== 'request') throw new Error('fixture does not parse');
  return r.message;
}

t.test('header accessors take any case and compact forms', async (t) => {
  const m = invite();
  t.equal(getHeader(m, 'I'), 'a84b4c76e66710@pc33.atlanta.example.com');
  t.equal(getHeader(m, 'CALL-ID'), getCallId(m));
  t.equal(getHeader(m, 'From'), getHeader(m, 'f'));
  t.equal(getHeader(m, 'x-missing'), undefined);
  t.same(getCSeq(m), { seq: 314159, method: 'INVITE' });
  t.equal(fromTag(m), '1928301774');
  t.equal(toTag(m), undefined);
});

t.test('RFC 3261 7.3.1: getHeaders splits list headers only', async (t) => {
  const m = invite();
  t.equal(getHeaders(m, 'via').length, 3, 'two Vias in one line and one in another');
  t.same(getHeaders(m, 'k'), ['replaces', 'timer', 'outbound']);
  t.same(getHeaders(m, 'www-authenticate'), ['Digest realm="a, b", nonce="x"'], 'challenges are never split');
  t.same(getHeaders(m, 'date'), ['Sat, 13 Nov 2010 23:29:00 GMT']);
  const top = topVia(m);
  t.same([top.transport, top.host, top.branch], ['TLS', 'proxy.example.com', 'z9hG4bKnashds8']);
  t.throws(() => topVia(withoutHeader(m, 'via')), { code: 'parse' });
  t.throws(() => getCallId(withoutHeader(m, 'call-id')), { code: 'parse' });
});

t.test('builders return new messages and leave the old one alone', async (t) => {
  const m = invite();
  const before = serialize(m);
  const appended = withHeader(m, 'X-Trace', '1');
  t.same(appended.headers.at(-1), { name: 'x-trace', value: '1' });
  const prepended = prependHeader(m, 'v', 'SIP/2.0/TLS pbx.local;branch=z9hG4bKpbx');
  t.equal(topVia(prepended).host, 'pbx.local');
  t.equal(getHeaders(withoutHeader(m, 'VIA'), 'via').length, 0);
  const replaced = replaceHeader(m, 'supported', 'path');
  t.same(getHeaders(replaced, 'supported'), ['path']);
  t.equal(replaced.headers.findIndex((h) => h.name === 'supported'), m.headers.findIndex((h) => h.name === 'supported'), 'kept in place');
  t.same(replaceHeader(m, 'expires', '60').headers.at(-1), { name: 'expires', value: '60' });
  const sdp = Buffer.from('v=0\r\n');
  const withSdp = withBody(m, sdp, 'application/sdp');
  t.equal(getHeader(withSdp, 'content-type'), 'application/sdp');
  t.equal(getHeader(withSdp, 'content-length'), undefined, 'Content-Length is left to serialize');
  t.match(serialize(withSdp).toString('utf8'), /\r\nContent-Length: 5\r\n\r\nv=0\r\n$/);
  t.equal(getHeader(withBody(withSdp, Buffer.alloc(0)), 'content-type'), undefined);
  sdp.write('X');
  t.equal(withSdp.body.toString(), 'v=0\r\n', 'body copied, not aliased');
  t.ok(serialize(m).equals(before), 'original untouched');
  t.throws(() => withHeader(m, 'Bad Name', 'x'), { code: 'protocol' });
});

t.test('RFC 3261 8.2.6: createResponse copies Via, From, To, Call-ID, CSeq', async (t) => {
  const req = invite(['Timestamp: 54']);
  const res = createResponse(req, 180, undefined, { toTag: 'as83kd9' });
  t.equal(res.reason, 'Ringing');
  t.same(res.headers.filter((h) => h.name === 'via'), req.headers.filter((h) => h.name === 'via'), 'Vias in order');
  t.equal(getHeader(res, 'from'), getHeader(req, 'from'));
  t.equal(getHeader(res, 'to'), 'Bob <sip:bob@biloxi.example.com>;tag=as83kd9');
  t.equal(toTag(res), 'as83kd9');
  t.equal(getCallId(res), getCallId(req));
  t.same(getCSeq(res), getCSeq(req));
  t.equal(getHeader(res, 'timestamp'), undefined, 'only a 100 echoes Timestamp');
  t.equal(getHeader(res, 'contact'), undefined);
  const trying = createResponse(req, 100);
  t.equal(getHeader(trying, 'timestamp'), '54', '8.2.6.1');
  t.equal(toTag(trying), undefined);

  const tagged = withHeader(withoutHeader(req, 'to'), 'to', '<sip:bob@biloxi.example.com>;tag=existing');
  t.equal(toTag(createResponse(tagged, 200, 'OK', { toTag: 'new' })), 'existing', 'an existing To tag is kept');

  const ok = createResponse(req, 200, 'Fine', {
    toTag: 'x', headers: [{ name: 'Contact', value: '<sip:pbx@192.0.2.1>' }], body: Buffer.from('v=0\r\n'), contentType: 'application/sdp',
  });
  const back = parseMessage(serialize(ok));
  t.ok(back.ok, 'the response parses');
  if (back.ok && back.message.kind === 'response') {
    t.same([back.message.status, back.message.reason], [200, 'Fine']);
    t.equal(getHeader(back.message, 'contact'), '<sip:pbx@192.0.2.1>');
    t.equal(back.message.body.toString(), 'v=0\r\n');
  }
  t.throws(() => createResponse(req, 99), { code: 'protocol' });
  t.throws(() => createResponse(req, 200, 'OK\r\nX: y'), { code: 'protocol' });
  t.throws(() => createResponse(req, 200, undefined, { toTag: 'a b' }), { code: 'protocol' });
});

t.test('reason phrases (RFC 3261 21)', async (t) => {
  t.equal(reasonPhrase(404), 'Not Found');
  t.equal(reasonPhrase(481), 'Call/Transaction Does Not Exist');
  t.equal(reasonPhrase(505), 'Version Not Supported');
  t.equal(reasonPhrase(499), 'Request Failure', 'unknown codes get their class name');
});
