import t from 'tap';
import { Counters } from '../../../firmware/core/index.js';
import {
  fromTag, getCallId, getCSeq, getHeader, getHeaders, paramValue, parseAuthParams, parseContact, parseMaxForwards,
  parseMessage, parseNameAddr, parseNameAddrList, parseUri, parseVia, rejectStatus, toTag, topVia, uriEquals,
  type RejectReason, type SipMessage, type SipRequest, type SipResponse,
} from '../../../firmware/sip/message/index.js';
import { rfc4475 } from './fixtures/load.js';

function parsed(name: string): SipMessage {
  const r = parseMessage(rfc4475(name));
  if (!r.ok) throw new Error(`${name}: ${r.reason} ${r.error.message}`);
  return r.message;
}

function request(name: string): SipRequest {
  const m = parsed(name);
  if (m.kind !== 'request') throw new Error(`${name} is not a request`);
  return m;
}

function response(name: string): SipResponse {
  const m = parsed(name);
  if (m.kind !== 'response') throw new Error(`${name} is not a response`);
  return m;
}

function vias(m: SipMessage) {
  return getHeaders(m, 'via').flatMap((v) => parseVia(v));
}

t.test('RFC 4475 3.1.1.1 wsinv: short tortuous INVITE', async (t) => {
  const m = request('wsinv');
  t.equal(m.method, 'INVITE');
  t.equal(m.uri, 'sip:vivekg@chair-dnrc.example.com;unknownparam');
  const v = vias(m);
  t.equal(v.length, 3, 'one Via plus two in the compact v:');
  t.same(v.map((x) => [x.transport, x.host, x.branch]), [
    ['UDP', '192.0.2.2', '390skdjuw'],
    ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
    ['UDP', '192.168.255.111', 'z9hG4bK30239'],
  ]);
  t.equal(topVia(m).branch, '390skdjuw');
  const to = parseNameAddr(getHeader(m, 'to') ?? '');
  t.equal(to.uri, 'sip:vivekg@chair-dnrc.example.com');
  t.equal(toTag(m), '1918181833n');
  t.equal(parseNameAddr(getHeader(m, 'from') ?? '').displayName, 'J Rosenberg \\"');
  t.equal(fromTag(m), '98asjd8');
  t.equal(parseMaxForwards(getHeader(m, 'max-forwards') ?? ''), 68);
  t.same(getCSeq(m), { seq: 9, method: 'INVITE' });
  t.equal(getCallId(m), 'wsinv.ndaksdj@192.0.2.1');
  t.equal(getHeader(m, 's'), '', 'empty Subject through its compact form');
  t.equal(getHeader(m, 'NewFangledHeader'), 'newfangled value continued newfangled value');
  t.equal(getHeader(m, 'unknownheaderwithunusualvalue'), ';;,,;;,;');
  const contacts = parseNameAddrList(getHeader(m, 'contact') ?? '');
  t.equal(contacts.length, 1);
  t.equal(contacts[0]?.displayName, 'Quoted string ""');
  t.equal(contacts[0]?.uri, 'sip:jdrosen@example.com');
  t.same(contacts[0]?.params, [
    { name: 'newparam', value: 'newvalue' }, { name: 'secondparam', value: null }, { name: 'q', value: '0.33' },
  ]);
  const route = parseUri(parseNameAddr(getHeader(m, 'route') ?? '').uri);
  t.same(route.params.map((p) => p.name), ['lr', 'unknownwith', 'unknown-no-value']);
  t.equal(m.body.length, 150);
  t.equal(getHeader(m, 'content-type'), 'application/sdp');
});

t.test('RFC 4475 3.1.1.2 intmeth: wide range of valid characters', async (t) => {
  const m = request('intmeth');
  t.equal(m.method, "!interesting-Method0123456789_*+`.%indeed'~");
  const uri = parseUri(m.uri);
  t.equal(uri.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  t.equal(uri.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  t.equal(uri.host, 'example.com');
  t.equal(parseNameAddr(getHeader(m, 'to') ?? '').displayName, 'BEL:\x07 NUL:\x00 DEL:\x7f');
  const from = parseNameAddr(getHeader(m, 'from') ?? '');
  t.equal(from.displayName, "token1~` token2'+_ token3*%!.-");
  t.equal(fromTag(m), "_token~1'+`*%!-.");
  t.equal(getCallId(m), 'intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
  t.equal(getCSeq(m).method, m.method);
  t.equal(getHeader(m, "extensionHeader-!.%*+_`'~"), '\ufeff大停電', 'UTF-8 header value decoded');
});

t.test('RFC 4475 3.1.1.3 esc01: valid percent escapes', async (t) => {
  const m = request('esc01');
  const ruri = parseUri(m.uri);
  t.equal(ruri.user, 'sips:user@example.com');
  t.equal(ruri.host, 'example.net');
  t.equal(parseUri(parseNameAddr(getHeader(m, 'to') ?? '').uri).user, 'user');
  t.equal(parseUri(parseNameAddr(getHeader(m, 'from') ?? '').uri).user, 'I have spaces');
  t.equal(getCallId(m), 'esc01.239409asdfakjkn23onasd0-3234');
  const contact = parseUri(parseNameAddr(getHeader(m, 'contact') ?? '').uri);
  t.equal(contact.user, 'caller');
  t.same(contact.params, [{ name: 'lr', value: null }, { name: 'name', value: 'value%41' }]);
  t.ok(uriEquals(contact, 'sip:caller@host5.example.net;lr;name=value%2541'), 'equal to its unescaped form');
});

t.test('RFC 4475 3.1.1.4 escnull: escaped NULs in URIs', async (t) => {
  const m = request('escnull');
  t.equal(parseUri(parseNameAddr(getHeader(m, 'to') ?? '').uri).user, 'null-\0-null');
  const users = getHeaders(m, 'contact').map((c) => parseUri(parseNameAddr(c).uri).user);
  t.same(users, ['\0', '\0\0']);
  t.equal(m.body.length, 0);
});

t.test('RFC 4475 3.1.1.5 esc02: % that is not an escape', async (t) => {
  const m = request('esc02');
  t.equal(m.method, 'RE%47IST%45R', 'method is a token, never unescaped');
  t.equal(getCSeq(m).method, 'RE%47IST%45R');
  t.equal(parseNameAddr(getHeader(m, 'to') ?? '').displayName, '%Z%45');
  t.equal(getHeaders(m, 'contact').length, 2, 'C%6Fntact is another header, not Contact');
  t.equal(getHeader(m, 'c%6fntact'), '<sip:alias2@host2.example.com>');
  t.equal(topVia(m).branch, 'z9hG4bK209%fzsnel234');
});

t.test('RFC 4475 3.1.1.6 lwsdisp: no LWS between display name and <', async (t) => {
  const from = parseNameAddr(getHeader(request('lwsdisp'), 'from') ?? '');
  t.same(from, { displayName: 'caller', uri: 'sip:caller@example.com', params: [{ name: 'tag', value: '323' }] });
});

t.test('RFC 4475 3.1.1.7 longreq: long values', async (t) => {
  const m = request('longreq');
  const v = vias(m);
  t.equal(v.length, 34);
  t.equal(v[0]?.host, 'sip33.example.com');
  t.equal(v[33]?.received, '192.0.2.5');
  t.match(v[33]?.branch, /^verylong(long){40,}branchvalue$/);
  const to = parseNameAddr(getHeader(m, 'to') ?? '');
  t.match(to.displayName, /^I have a user name of (extreme){10} proportion$/);
  t.equal(parseUri(to.uri).port, 6000);
  t.equal(parseUri(to.uri).params.length, 3);
  t.match(fromTag(m), /^\d{150,}$/);
  t.equal(m.body.length, 150);
});

t.test('RFC 4475 3.1.1.8 dblreq: extra octets after Content-Length are ignored on UDP', async (t) => {
  const m = request('dblreq');
  t.equal(m.method, 'REGISTER');
  t.equal(m.body.length, 0);
  t.equal(getCallId(m), 'dblreq.0ha0isndaksdj99sdfafnl3lk233412');
});

t.test('RFC 4475 3.1.1.9 semiuri: semicolons in the user part', async (t) => {
  const m = request('semiuri');
  const uri = parseUri(m.uri);
  t.equal(uri.user, 'user;par=u@example.net');
  t.equal(uri.host, 'example.com');
  t.same(uri.params, []);
  t.same(getHeaders(m, 'accept'), [
    'application/sdp', 'application/pkcs7-mime', 'multipart/mixed', 'multipart/signed', 'message/sip', 'message/sipfrag',
  ]);
});

t.test('RFC 4475 3.1.1.10 transports: varied and unknown transports', async (t) => {
  t.same(vias(request('transports')).map((v) => v.transport), ['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']);
});

t.test('RFC 4475 3.1.1.11 mpart01: multipart body with binary parts', async (t) => {
  const raw = rfc4475('mpart01');
  const m = request('mpart01');
  t.equal(m.body.length, 553);
  t.ok(m.body.equals(raw.subarray(raw.length - 553)), 'body bytes exactly');
  t.equal(topVia(m).rport, null);
  t.equal(getHeader(m, 'y')?.length, 172, 'Identity through its compact name');
});

t.test('RFC 4475 3.1.1.12 unreason: UTF-8 reason phrase', async (t) => {
  const raw = rfc4475('unreason');
  const m = response('unreason');
  t.equal(m.status, 200);
  const line = raw.subarray(0, raw.indexOf('\r\n')).toString('utf8');
  t.equal(m.reason, line.slice('SIP/2.0 200 '.length));
  t.match(m.reason, /^= 2\*\*3 \* 5\*\*2 но сто/);
  t.equal(m.body.length, 154);
});

t.test('RFC 4475 3.1.1.13 noreason: empty reason phrase', async (t) => {
  const m = response('noreason');
  t.equal(m.status, 100);
  t.equal(m.reason, '');
});

t.test('RFC 4475 3.2 and 3.3: well-formed messages the parser must accept', async (t) => {
  t.equal(topVia(request('badbranch')).branch, 'z9hG4bK', 'badbranch: a bare magic cookie is still a token');
  t.equal(request('baddate').body.length, 150, 'baddate: Date is not checked by the parser (3.1.2.12 allows ignoring it)');
  t.equal(vias(response('bcast')).length, 2);
  t.same(getHeaders(request('bext01'), 'require'), ['nothingSupportsThis', 'nothingSupportsThisEither']);
  const novelsc = request('novelsc');
  t.equal(novelsc.uri, 'soap.beep://192.0.2.103:3002');
  t.throws(() => parseUri(novelsc.uri), { code: 'parse' }, 'unknown scheme left to the 416 decision');
  t.throws(() => parseUri(request('unkscm').uri), { code: 'parse' });
  const unksm2 = request('unksm2');
  t.equal(parseNameAddr(getHeader(unksm2, 'to') ?? '').uri, 'isbn:2983792873');
  t.equal(parseNameAddr(getHeader(unksm2, 'contact') ?? '').uri, 'name:John_Smith');
  t.equal(parseMaxForwards(getHeader(request('zeromf'), 'max-forwards') ?? ''), 0);
  const c1 = parseNameAddr(getHeader(request('cparam01'), 'contact') ?? '');
  t.same([c1.uri, c1.params], ['sip:+19725552222@gw1.example.net', [{ name: 'unknownparam', value: null }]],
    'cparam01: addr-spec parameters belong to the header');
  const c2 = parseNameAddr(getHeader(request('cparam02'), 'contact') ?? '');
  t.same([c2.uri, c2.params], ['sip:+19725552222@gw1.example.net;unknownparam', []], 'cparam02: inside <> they belong to the URI');
  const regescrt = parseContact(getHeader(request('regescrt'), 'm') ?? '');
  t.ok(!regescrt.wildcard && parseUri(regescrt.contacts[0]?.uri ?? '').headers[0]?.value === '<sip:sip.example.com>');
  t.equal(request('sdp01').body.length, 150);
  t.equal(request('invut').body.length, 40);
  const inv2543 = request('inv2543');
  t.equal(getHeader(inv2543, 'max-forwards'), undefined, 'RFC 2543 request without Max-Forwards is accepted (3.4.1)');
  t.equal(topVia(inv2543).branch, undefined);
  t.equal(inv2543.body.length, rfc4475('inv2543').length - rfc4475('inv2543').indexOf('\r\n\r\n') - 4, 'no Content-Length: rest of datagram');
  t.same(parseAuthParams(getHeader(request('regaut01'), 'authorization') ?? ''), {
    scheme: 'NoOneKnowsThisScheme', params: { 'opaque-data': 'here' },
  });
});

const invalid: [string, RejectReason, string][] = [
  ['badinv01', 'header-value', '3.1.2.1 empty Via and Contact parameters'],
  ['clerr', 'content-length', '3.1.2.2 Content-Length larger than the message'],
  ['ncl', 'content-length', '3.1.2.3 negative Content-Length'],
  ['scalar02', 'cseq', '3.1.2.4 CSeq beyond 32 bits'],
  ['scalarlg', 'cseq', '3.1.2.5 response with oversized scalars'],
  ['quotbal', 'header-value', '3.1.2.6 unterminated quoted display name'],
  ['ltgtruri', 'uri', '3.1.2.7 Request-URI in <>'],
  ['lwsruri', 'start-line', '3.1.2.8 whitespace in Request-URI'],
  ['lwsstart', 'start-line', '3.1.2.9 several SPs in the request line'],
  ['trws', 'start-line', '3.1.2.10 trailing SP after the version'],
  ['escruri', 'uri', '3.1.2.11 escaped headers in the Request-URI'],
  ['regbadct', 'header-value', '3.1.2.13 URI with ? outside <>'],
  ['badaspec', 'header-value', '3.1.2.14 spaces inside <>'],
  ['badvers', 'version', '3.1.2.16 SIP/7.0 (answered with 505)'],
  ['mismatch01', 'cseq', '3.1.2.17 CSeq method differs from the request method'],
  ['mismatch02', 'cseq', '3.1.2.18 unknown method with CSeq INVITE'],
  ['bigcode', 'start-line', '3.1.2.19 status code beyond three digits'],
  ['insuf', 'missing-header', '3.3.1 To, From, Call-ID and Max-Forwards missing'],
  ['mcl01', 'duplicate-header', '3.3.9 two different Content-Lengths'],
  ['multi01', 'duplicate-header', '3.3.8 repeated single-valued headers'],
];

t.test('RFC 4475 invalid messages are refused with the right reason', async (t) => {
  for (const [name, reason, what] of invalid) {
    const r = parseMessage(rfc4475(name));
    t.notOk(r.ok, `${name}: ${what}`);
    if (!r.ok) {
      t.equal(r.reason, reason, `${name} reason`);
      t.equal(r.error.code, 'parse', `${name} code`);
    }
  }
});

t.test('RFC 3261 21: the status a server answers a refused request with', async (t) => {
  const status = (name: string) => {
    const r = parseMessage(rfc4475(name));
    return r.ok ? 0 : rejectStatus(r.reason);
  };
  t.equal(status('badvers'), 505, '3.1.2.16: Version Not Supported');
  t.equal(status('insuf'), 400);
  t.equal(status('ltgtruri'), 400);
  const big = parseMessage(Buffer.alloc(70000, 'A'));
  t.equal(big.ok ? 0 : rejectStatus(big.reason), 513, 'Message Too Large');
});

t.test('RFC 4475 3.1.2.15 baddn: unquoted display name with a comma', async (t) => {
  const raw = rfc4475('baddn');
  // The archived message stops after its last header line; a datagram without
  // the empty line is refused as such, and with it for the display name.
  const asIs = parseMessage(raw);
  t.same(asIs.ok ? undefined : asIs.reason, 'headers');
  const fixed = parseMessage(Buffer.concat([raw, Buffer.from('\r\n')]));
  t.same(fixed.ok ? undefined : [fixed.reason, fixed.error.message], ['header-value', 'from: invalid character in display name']);
});

t.test('refusals carry offsets and bump a counter per reason', async (t) => {
  const counters = new Counters();
  const r = parseMessage(rfc4475('mismatch01'), counters);
  t.notOk(r.ok);
  if (!r.ok) t.equal(r.error.offset, rfc4475('mismatch01').indexOf('CSeq:'), 'offset of the CSeq line');
  parseMessage(rfc4475('clerr'), counters);
  parseMessage(rfc4475('ncl'), counters);
  parseMessage(rfc4475('wsinv'), counters);
  t.same(counters.snapshot(), { 'sip.parse.content-length': 2, 'sip.parse.cseq': 1 });
});

t.test('paramValue reads To/From parameters case-insensitively', async (t) => {
  const na = parseNameAddr('<sip:a@b>;TAG=x;lr');
  t.equal(paramValue(na.params, 'tag'), 'x');
  t.equal(paramValue(na.params, 'lr'), null);
  t.equal(paramValue(na.params, 'nope'), undefined);
});
