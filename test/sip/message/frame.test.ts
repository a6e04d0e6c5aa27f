import t from 'tap';
import { Counters } from '../../../firmware/core/index.js';
import {
  frameStream, isCrlfKeepalive, MAX_BODY_BYTES, MAX_HEADER_SECTION_BYTES, MAX_START_LINE_BYTES, parseMessage,
} from '../../../firmware/sip/message/index.js';
import { crlf } from './fixtures/load.js';

function options(body = '', cl: string | null = String(Buffer.byteLength(body))): Buffer {
  return crlf(['OPTIONS sip:a@b SIP/2.0', 'Via: SIP/2.0/TCP h;branch=z9hG4bK1', 'From: <sip:a@b>;tag=1', 'To: <sip:a@b>',
    'Call-ID: f', 'CSeq: 1 OPTIONS', ...(cl === null ? [] : [`l: ${cl}`])], body);
}

t.test('RFC 3261 18.3: Content-Length marks the end of a message on a stream', async (t) => {
  const one = options('héllo');
  t.same(frameStream(one), { kind: 'message', length: one.length });
  const two = Buffer.concat([one, options()]);
  t.same(frameStream(two), { kind: 'message', length: one.length });
  t.same(frameStream(two.subarray(one.length)), { kind: 'message', length: options().length });
  t.same(frameStream(one.subarray(0, one.length - 1)), { kind: 'more', need: one.length }, 'body incomplete');
  t.same(frameStream(one.subarray(0, 40)), { kind: 'more', scanned: 37 }, 'headers incomplete');
  const end = one.indexOf('\r\n\r\n');
  t.same(frameStream(one.subarray(0, end + 2), { scanFrom: 37 }), { kind: 'more', scanned: end - 1 }, 'resumes the search');
  t.same(frameStream(one, { scanFrom: end - 1 }), { kind: 'message', length: one.length }, 'finds an end split across reads');
  t.same(frameStream(Buffer.alloc(0)), { kind: 'more' });
  const parsed = parseMessage(one.subarray(0, one.length));
  t.ok(parsed.ok && parsed.message.body.toString() === 'héllo');
});

t.test('RFC 5626 4.4.1: CRLF keep-alives', async (t) => {
  const msg = options();
  t.same(frameStream(Buffer.from('\r\n\r\n')), { kind: 'keepalive', length: 4 }, 'ping');
  t.same(frameStream(Buffer.concat([Buffer.from('\r\n\r\n'), msg])), { kind: 'keepalive', length: 4 });
  t.same(frameStream(Buffer.concat([Buffer.from('\r\n'), msg])), { kind: 'keepalive', length: 2 }, 'pong before a message');
  t.same(frameStream(Buffer.from('\r\n')), { kind: 'more' }, 'may be half a ping');
  t.same(frameStream(Buffer.from('\r\n\r')), { kind: 'more' });
  t.same(frameStream(Buffer.from('\r')), { kind: 'more' });
  t.same(frameStream(Buffer.from('\r\n'), { awaitingPong: true }), { kind: 'keepalive', length: 2 }, 'pong when one is due');
  const bare = frameStream(Buffer.from('\n\r\n'));
  t.equal(bare.kind, 'error');
  t.equal(frameStream(Buffer.from('\r\r\n')).kind, 'error');
  t.ok(isCrlfKeepalive(Buffer.from('\r\n\r\n')), 'a datagram of CRLFs is a keep-alive');
  t.ok(isCrlfKeepalive(Buffer.from('\r\n')));
  t.notOk(isCrlfKeepalive(Buffer.from('\r\n\r')));
  t.notOk(isCrlfKeepalive(Buffer.alloc(0)));
  t.notOk(isCrlfKeepalive(Buffer.from('\r\nOPTIONS')));
});

t.test('binary junk at a SIP port is refused at once, not buffered', async (t) => {
  const tls = frameStream(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
  t.same(tls.kind === 'error' ? [tls.reason, tls.error.offset] : tls, ['start-line', 0], 'a TLS ClientHello');
  const nul = frameStream(Buffer.from('OPTIONS sip:a@b\0'));
  t.same(nul.kind === 'error' ? [nul.reason, nul.error.offset] : nul, ['start-line', 15]);
  t.same(frameStream(Buffer.from('OPTIONS sip:a@b SIP/2.0\r')).kind, 'more', 'a CR waiting for its LF');
  t.same(frameStream(Buffer.from('SIP/2.0 200 Grüße\r\nVia: x')).kind, 'more', 'UTF-8 reason phrase is fine');
});

t.test('framing errors and limits', async (t) => {
  const counters = new Counters();
  const noLength = frameStream(options('', null), { counters });
  t.same(noLength.kind === 'error' ? [noLength.reason, noLength.error.code] : noLength, ['content-length', 'parse'],
    'Content-Length is mandatory on streams');
  const neg = frameStream(options('', '-1'), { counters });
  t.same(neg.kind === 'error' ? neg.reason : neg, 'content-length');
  const dup = frameStream(crlf(['OPTIONS sip:a@b SIP/2.0', 'Content-Length: 0', 'l: 5']), { counters });
  t.same(dup.kind === 'error' ? dup.reason : dup, 'duplicate-header');
  const big = frameStream(options('', String(MAX_BODY_BYTES + 1)), { counters });
  t.same(big.kind === 'error' ? [big.reason, big.error.code] : big, ['too-large', 'limit']);

  const endless = Buffer.concat([Buffer.from('OPTIONS sip:a@b SIP/2.0\r\n'), Buffer.alloc(MAX_HEADER_SECTION_BYTES, 'X-A: b\r\n')]);
  const longHead = frameStream(endless, { counters });
  t.same(longHead.kind === 'error' ? [longHead.reason, longHead.error.code] : longHead, ['too-large', 'limit'],
    'a header section that never ends is refused, not buffered');
  t.same(frameStream(endless.subarray(0, MAX_HEADER_SECTION_BYTES - 100)).kind, 'more', 'under the limit it waits');
  const resumed = frameStream(endless, { scanFrom: MAX_HEADER_SECTION_BYTES - 100, counters });
  t.same(resumed.kind === 'error' ? resumed.reason : resumed, 'too-large', 'also when resuming');
  const longLine = frameStream(Buffer.alloc(MAX_START_LINE_BYTES + 1, 'A'), { counters });
  t.same(longLine.kind === 'error' ? longLine.reason : longLine, 'too-large', 'start line without CRLF');
  t.same(frameStream(Buffer.alloc(MAX_START_LINE_BYTES, 'A')).kind, 'more');
  const badLine = frameStream(Buffer.from('OPTIONS sip:a@b SIP/2.0\r\nX: a\nb\r\n\r\n'), { counters });
  t.same(badLine.kind === 'error' ? badLine.reason : badLine, 'headers', 'bare LF in headers');
  t.same(counters.snapshot(), {
    'sip.parse.content-length': 2, 'sip.parse.duplicate-header': 1, 'sip.parse.headers': 1, 'sip.parse.too-large': 4,
  });
});
