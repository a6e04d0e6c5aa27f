import t from 'tap';
import { Counters, FakeClock, seededRandom, silentLogger } from '../../firmware/core/index.js';
import {
  DEFAULT_FLOW_TIMER_S, DEFAULT_STREAM_MAX_EXPIRES, LocationService, MAX_CONTACTS_PER_ACCOUNT, Registrar, isReachable, sameContact, withoutDontBind,
  type AccountInfo, type RegistrarLimits, type RequestSource,
} from '../../firmware/pbx/index.js';
import { AuthThrottle, DigestServer, DEFAULT_NONCE_LIFETIME_MS, digestAuthorization, ha1 } from '../../firmware/sip/digest/index.js';
import { getHeader, getHeaders, parseMessage, parseNameAddrList, type SipRequest, type SipResponse } from '../../firmware/sip/message/index.js';

const REALM = 'pbx.local';
const LIMITS: RegistrarLimits = { minExpires: 60, maxExpires: 3600, defaultExpires: 600 };
const FAIL_LIMIT = 3;
const PASSWORDS: Record<string, string> = { 100: 'secret-100', 101: 'secret-101', 102: 'secret-102' };
const UDP: RequestSource = { transport: 'udp', address: '192.0.2.10', port: 5060 };
const TLS: RequestSource = { transport: 'tls', address: '192.0.2.10', port: 40123, flowId: 'flow-7' };

function account(extension: string, tlsOnly = false): AccountInfo {
  const pw = PASSWORDS[extension] ?? '';
  return { extension, ha1Md5: ha1('MD5', extension, REALM, pw), ha1Sha256: ha1('SHA-256', extension, REALM, pw), tlsOnly };
}

function setup(limits: RegistrarLimits = LIMITS) {
  const clock = new FakeClock();
  const random = seededRandom(11);
  const counters = new Counters();
  const location = new LocationService(clock);
  const throttle = new AuthThrottle({ clock, counters, limit: FAIL_LIMIT, windowMs: 60_000, blockMs: 300_000 });
  const digest = new DigestServer({ realm: REALM, secret: DigestServer.newSecret(random), clock, random, algorithms: ['MD5'] });
  const accounts = new Map([['100', account('100')], ['101', account('101')], ['102', account('102', true)]]);
  let tags = 0;
  const registrar = new Registrar({
    clock, location, throttle, counters, log: silentLogger,
    accounts: { get: (e) => accounts.get(e) },
    digest: () => digest,
    limits: () => limits,
    realm: () => REALM,
    isOurDomain: (h) => h === '192.0.2.1' || h === 'pbx.local',
    toTag: () => `tag${++tags}`,
  });
  return { clock, counters, location, throttle, registrar };
}

interface Reg {
  user?: string;
  toUser?: string;
  ruri?: string;
  contacts?: string[];
  expires?: number;
  cseq?: number;
  callId?: string;
  authorization?: string;
  /** Further header lines (Supported, User-Agent ...). */
  extra?: string[];
}

function request(r: Reg = {}): SipRequest {
  const user = r.user ?? '100';
  const lines = [
    `REGISTER ${r.ruri ?? 'sip:pbx.local'} SIP/2.0`,
    'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-reg-test;rport',
    'Max-Forwards: 70',
    `From: <sip:${user}@pbx.local>;tag=from1`,
    `To: <sip:${r.toUser ?? user}@pbx.local>`,
    `Call-ID: ${r.callId ?? 'reg-call-1'}`,
    `CSeq: ${r.cseq ?? 1} REGISTER`,
    ...(r.contacts ?? [`<sip:${user}@192.0.2.10:5060>`]).map((c) => `Contact: ${c}`),
    ...(r.expires !== undefined ? [`Expires: ${r.expires}`] : []),
    ...(r.authorization !== undefined ? [`Authorization: ${r.authorization}`] : []),
    ...(r.extra ?? []),
    'Content-Length: 0',
    '', '',
  ];
  const p = parseMessage(Buffer.from(lines.join('\r\n')));
  if (!p.ok) throw new Error(`test request does not parse: ${p.error.message}`);
  if (p.message.kind !== 'request') throw new Error('not a request');
  return p.message;
}

function challengeOf(res: SipResponse): string {
  const c = getHeader(res, 'www-authenticate');
  if (c === undefined) throw new Error(`no WWW-Authenticate in ${res.status}`);
  return c;
}

/** The usual two steps: unauthenticated REGISTER, 401, REGISTER with credentials (CSeq + 1). */
function registerWithAuth(registrar: Registrar, r: Reg & { password?: string; username?: string } = {}, src: RequestSource = UDP): SipResponse {
  const cseq = r.cseq ?? 1;
  const first = registrar.handle(request({ ...r, cseq }), src);
  if (first.status !== 401) return first;
  const authorization = digestAuthorization({
    challenge: challengeOf(first), method: 'REGISTER', uri: r.ruri ?? 'sip:pbx.local',
    username: r.username ?? r.user ?? '100', password: r.password ?? PASSWORDS[r.user ?? '100'] ?? '', cnonce: 'c1',
  });
  return registrar.handle(request({ ...r, cseq: cseq + 1, authorization }), src);
}

function contactExpires(res: SipResponse): Map<string, number> {
  const out = new Map<string, number>();
  for (const v of getHeaders(res, 'contact')) {
    const m = /^<([^>]+)>;expires=(\d+)(?:;|$)/.exec(v);
    if (m?.[1] !== undefined) out.set(m[1], Number(m[2]));
  }
  return out;
}

t.test('RFC 3261 10.3 step 5 / 22.2: no Authorization -> 401 with a Digest challenge, nothing bound', async (t) => {
  const { registrar, location } = setup();
  const res = registrar.handle(request(), UDP);
  t.equal(res.status, 401);
  t.match(challengeOf(res), /^Digest realm="pbx\.local", nonce="[^"]+".*qop="auth"/);
  t.match(getHeader(res, 'to') ?? '', /;tag=/, 'RFC 3261 8.2.6.2: the response To carries a tag');
  t.same(location.all(), []);
});

t.test('RFC 3261 10.3 steps 5-8: correct digest -> 200 listing the Contact with its expires', async (t) => {
  const { registrar, location } = setup();
  const res = registerWithAuth(registrar, { expires: 300 });
  t.equal(res.status, 200);
  t.same([...contactExpires(res)], [['sip:100@192.0.2.10:5060', 300]]);
  t.ok(getHeader(res, 'date'), '200 carries Date (10.3 step 8)');
  const [b] = location.lookup('100');
  t.equal(b?.transport, 'udp');
  t.same(b?.source, { address: '192.0.2.10', port: 5060 });
  t.equal(b?.flowId, undefined, 'UDP has no flow');
});

t.test('wrong password -> 403 and the throttle counts it; blocked source refused even with the right password', async (t) => {
  const { registrar, throttle, counters } = setup();
  for (let i = 0; i < FAIL_LIMIT; i++) {
    const res = registerWithAuth(registrar, { password: 'guess-wrong', cseq: 10 * i + 1 });
    t.equal(res.status, 403, `attempt ${i + 1} refused`);
    t.equal(res.reason, 'Forbidden');
  }
  t.equal(counters.get('register.auth-wrong-password'), FAIL_LIMIT);
  t.equal(throttle.isBlocked(UDP.address), true);
  t.same(throttle.blocked().map((b) => b.address), [UDP.address]);

  const good = registerWithAuth(registrar, { cseq: 100 });
  t.equal(good.status, 403);
  t.match(good.reason, /^Blocked/);
  t.equal(counters.get('register.blocked'), 1);
  const other = registerWithAuth(registrar, { cseq: 200 }, { ...UDP, address: '192.0.2.99' });
  t.equal(other.status, 200, 'another source is not affected');
});

t.test('failures below the limit are forgiven by a success', async (t) => {
  const { registrar, throttle } = setup();
  for (let i = 0; i < FAIL_LIMIT - 1; i++) registerWithAuth(registrar, { password: 'nope-nope', cseq: 10 * i + 1 });
  t.equal(registerWithAuth(registrar, { cseq: 50 }).status, 200);
  registerWithAuth(registrar, { password: 'nope-nope', cseq: 60 });
  t.equal(throttle.isBlocked(UDP.address), false, 'count restarted after the success');
});

t.test('unknown user -> 403, indistinguishable from a wrong password, and counted', async (t) => {
  const { registrar, counters } = setup();
  const res = registerWithAuth(registrar, { user: '999', password: 'whatever1' });
  t.equal(res.status, 403);
  t.equal(res.reason, 'Forbidden');
  t.equal(counters.get('register.auth-unknown-user'), 1);
});

t.test('RFC 3261 10.3 step 7: expires below the minimum -> 423 with Min-Expires; nothing bound', async (t) => {
  const { registrar, location } = setup();
  const res = registerWithAuth(registrar, { expires: 30 });
  t.equal(res.status, 423);
  t.equal(getHeader(res, 'min-expires'), '60');
  t.same(location.all(), []);
  const viaParam = registerWithAuth(registrar, { contacts: ['<sip:100@192.0.2.10:5060>;expires=59'], cseq: 10 });
  t.equal(viaParam.status, 423, 'the Contact expires parameter counts too');
});

t.test('RFC 3261 10.3 step 7: expires above the maximum is shortened, not refused', async (t) => {
  const { registrar, location, clock } = setup();
  const res = registerWithAuth(registrar, { expires: 86_400 });
  t.equal(res.status, 200);
  t.equal(contactExpires(res).get('sip:100@192.0.2.10:5060'), 3600);
  t.equal(location.lookup('100')[0]?.expiresAt, clock.now() + 3_600_000);
});

t.test('no Expires anywhere -> the default interval', async (t) => {
  const { registrar } = setup();
  const res = registerWithAuth(registrar);
  t.equal(contactExpires(res).get('sip:100@192.0.2.10:5060'), 600);
});

t.test('several contacts per account; expires=0 on one removes only it (RFC 3261 10.2.2)', async (t) => {
  const { registrar, location } = setup();
  const res = registerWithAuth(registrar, {
    contacts: ['<sip:100@192.0.2.10:5060>;expires=120', '<sip:100@192.0.2.20:5062>', '<sip:100@192.0.2.30:5064>'],
    expires: 900,
  });
  t.equal(res.status, 200);
  t.same(Object.fromEntries(contactExpires(res)), {
    'sip:100@192.0.2.10:5060': 120, 'sip:100@192.0.2.20:5062': 900, 'sip:100@192.0.2.30:5064': 900,
  }, 'the Contact parameter beats the Expires header');
  const del = registerWithAuth(registrar, { contacts: ['<sip:100@192.0.2.20:5062>;expires=0'], cseq: 10 });
  t.equal(del.status, 200);
  t.same([...contactExpires(del).keys()].sort(), ['sip:100@192.0.2.10:5060', 'sip:100@192.0.2.30:5064']);
  t.equal(location.lookup('100').length, 2);
});

t.test('RFC 3261 10.2.4 / 10.3 step 6: Contact * with Expires 0 removes every binding', async (t) => {
  const { registrar, location } = setup();
  registerWithAuth(registrar, { contacts: ['<sip:100@192.0.2.10:5060>', '<sip:100@192.0.2.20:5062>'] });
  registerWithAuth(registrar, { user: '101', callId: 'other' });
  t.equal(location.lookup('100').length, 2);
  const res = registerWithAuth(registrar, { contacts: ['*'], expires: 0, cseq: 10 });
  t.equal(res.status, 200);
  t.same(getHeaders(res, 'contact'), [], 'no binding left to list');
  t.same(location.lookup('100'), []);
  t.equal(location.lookup('101').length, 1, 'only the authenticated account is cleared');
});

t.test('RFC 3261 10.3 step 6: * with another contact, or with a nonzero or missing Expires -> 400', async (t) => {
  const { registrar, location } = setup();
  registerWithAuth(registrar);
  t.equal(registerWithAuth(registrar, { contacts: ['*', '<sip:100@192.0.2.20>'], expires: 0, cseq: 10 }).status, 400);
  t.equal(registerWithAuth(registrar, { contacts: ['*'], expires: 3600, cseq: 20 }).status, 400);
  t.equal(registerWithAuth(registrar, { contacts: ['*'], cseq: 30 }).status, 400);
  t.equal(location.lookup('100').length, 1, 'the binding survived all three');
});

t.test('a REGISTER without Contact is a query: 200 lists the current bindings (RFC 3261 10.2.3)', async (t) => {
  const { registrar } = setup();
  registerWithAuth(registrar);
  const q = registerWithAuth(registrar, { contacts: [], cseq: 10 });
  t.equal(q.status, 200);
  t.same([...contactExpires(q).keys()], ['sip:100@192.0.2.10:5060']);
});

t.test('RFC 3261 10.3 step 7: an older CSeq of the same Call-ID does not undo a newer binding', async (t) => {
  const { registrar, location } = setup();
  registerWithAuth(registrar, { cseq: 10, expires: 600 });
  const late = registerWithAuth(registrar, { cseq: 4, expires: 0, contacts: ['<sip:100@192.0.2.10:5060>;expires=0'] });
  t.not(late.status, 401);
  t.equal(location.lookup('100').length, 1, 'stale removal ignored');
  t.equal(location.lookup('100')[0]?.cseq, 11);
  // Same Call-ID and the same CSeq again (a late retransmission after the
  // transaction ended): "higher" is required, so equal must not apply either.
  registerWithAuth(registrar, { cseq: 10, contacts: ['<sip:100@192.0.2.10:5060>;expires=0'] });
  t.equal(location.lookup('100').length, 1, 'equal CSeq ignored');
  registerWithAuth(registrar, { cseq: 11, contacts: ['<sip:100@192.0.2.10:5060>;expires=0'] });
  t.same(location.lookup('100'), [], 'a higher CSeq removes it');
});

t.test('RFC 3261 10.3 step 7: another Call-ID updates the binding whatever its CSeq', async (t) => {
  const { registrar, location } = setup();
  registerWithAuth(registrar, { cseq: 50, expires: 600 });
  t.equal(registerWithAuth(registrar, { cseq: 1, callId: 'rebooted-phone', expires: 120 }).status, 200);
  const [b] = location.lookup('100');
  t.equal(b?.callId, 'rebooted-phone');
  t.equal(location.lookup('100').length, 1);
});

t.test('RFC 3261 10.3 step 6 (authorisation): To naming another user than the authenticated one -> 403', async (t) => {
  const { registrar, location, counters } = setup();
  const res = registerWithAuth(registrar, { user: '100', toUser: '101' });
  t.equal(res.status, 403);
  t.equal(counters.get('register.to-mismatch'), 1);
  t.same(location.all(), []);
});

t.test('TLS-only account: over UDP -> 403 saying TLS is required; over TLS -> 200 with the flow kept', async (t) => {
  const { registrar, location, throttle } = setup();
  const udp = registerWithAuth(registrar, { user: '102' }, UDP);
  t.equal(udp.status, 403);
  t.match(udp.reason, /TLS/);
  t.same(location.all(), []);
  t.equal(throttle.isBlocked(UDP.address), false, 'a policy refusal is not a password failure');
  const tls = registerWithAuth(registrar, { user: '102', cseq: 10, contacts: ['<sip:102@192.0.2.10:40123;transport=tls>'] }, TLS);
  t.equal(tls.status, 200);
  const [b] = location.lookup('102');
  t.equal(b?.transport, 'tls');
  t.equal(b?.flowId, 'flow-7', 'RFC 5626 style: the connection is remembered for requests to the phone');
});

t.test('RFC 3261 10.3 step 1: a Request-URI of a foreign domain -> 403, before any challenge', async (t) => {
  const { registrar, counters } = setup();
  const res = registrar.handle(request({ ruri: 'sip:example.com' }), UDP);
  t.equal(res.status, 403);
  t.equal(counters.get('register.foreign-domain'), 1);
  t.equal(registrar.handle(request({ ruri: 'sip:192.0.2.1:5070' }), UDP).status, 401, 'our address at any port is ours');
});

t.test('RFC 3261 22.4 / RFC 7616 3.3: credentials on an expired nonce -> 401 with stale=true, not 403', async (t) => {
  const { registrar, clock, throttle } = setup();
  const first = registrar.handle(request(), UDP);
  const authorization = digestAuthorization({
    challenge: challengeOf(first), method: 'REGISTER', uri: 'sip:pbx.local', username: '100', password: PASSWORDS['100'] ?? '', cnonce: 'c1',
  });
  clock.advance(DEFAULT_NONCE_LIFETIME_MS + 1_000);
  const res = registrar.handle(request({ cseq: 2, authorization }), UDP);
  t.equal(res.status, 401);
  t.match(challengeOf(res), /stale=true/);
  t.equal(throttle.isBlocked(UDP.address), false);
  const retry = digestAuthorization({
    challenge: challengeOf(res), method: 'REGISTER', uri: 'sip:pbx.local', username: '100', password: PASSWORDS['100'] ?? '', cnonce: 'c2',
  });
  t.equal(registrar.handle(request({ cseq: 3, authorization: retry }), UDP).status, 200, 'the fresh nonce works');
});

t.test('RFC 7616 3.4: replaying the same credentials (same nc) is not accepted', async (t) => {
  const { registrar } = setup();
  const first = registrar.handle(request(), UDP);
  const authorization = digestAuthorization({
    challenge: challengeOf(first), method: 'REGISTER', uri: 'sip:pbx.local', username: '100', password: PASSWORDS['100'] ?? '', cnonce: 'c1',
  });
  t.equal(registrar.handle(request({ cseq: 2, authorization }), UDP).status, 200);
  t.not(registrar.handle(request({ cseq: 3, authorization }), UDP).status, 200);
});

t.test('contacts per account are bounded: the 11th new contact -> 403, refreshing or removing still works', async (t) => {
  const { registrar, location } = setup();
  const contacts = Array.from({ length: MAX_CONTACTS_PER_ACCOUNT }, (_, i) => `<sip:100@192.0.2.${20 + i}:5060>`);
  t.equal(registerWithAuth(registrar, { contacts }).status, 200);
  t.equal(location.lookup('100').length, MAX_CONTACTS_PER_ACCOUNT);
  const more = registerWithAuth(registrar, { contacts: ['<sip:100@192.0.2.99:5060>'], callId: 'reg-call-2' });
  t.equal(more.status, 403);
  t.match(more.reason, /Too Many Contacts/);
  t.equal(location.lookup('100').length, MAX_CONTACTS_PER_ACCOUNT, 'nothing added');
  t.equal(registerWithAuth(registrar, { contacts: [contacts[0]!], callId: 'reg-call-3' }).status, 200, 'refreshing a known contact is fine');
  const swap = registerWithAuth(registrar, { contacts: [`${contacts[1]!};expires=0`, '<sip:100@192.0.2.99:5060>'], callId: 'reg-call-4' });
  t.equal(swap.status, 200, 'removing one and adding one in the same REGISTER fits');
  t.equal(location.lookup('100').length, MAX_CONTACTS_PER_ACCOUNT);
});

const TCP: RequestSource = { transport: 'tcp', address: '192.0.2.10', port: 40200, flowId: 'tcp:3' };
const LINPHONE_CONTACT = '<sip:100@127.0.0.1:-2;transport=tls>;+sip.instance="<urn:uuid:e6bfbdc1-bcdb-0039-8797-41ca9e845d3c>"';
const OUTBOUND_CONTACT = '<sip:100@192.0.2.10:40123;transport=tls;ob>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-00000000000a>";reg-id=1';

t.test('don\'t-bind contact (liblinphone port -2) on TLS -> 200; the binding is the flow and the contact is echoed as sent', async (t) => {
  const { registrar, location } = setup();
  const res = registerWithAuth(registrar, { contacts: [LINPHONE_CONTACT], expires: 300 }, TLS);
  t.equal(res.status, 200);
  t.same(getHeaders(res, 'contact'), ['<sip:100@127.0.0.1:-2;transport=tls>;expires=300;+sip.instance="<urn:uuid:e6bfbdc1-bcdb-0039-8797-41ca9e845d3c>"']);
  const [b] = location.lookup('100');
  t.match(b, { contact: 'sip:100@127.0.0.1:-2;transport=tls', flowId: 'flow-7', instance: 'urn:uuid:e6bfbdc1-bcdb-0039-8797-41ca9e845d3c' });
  t.same(b?.source, { address: TLS.address, port: TLS.port }, 'requests go to the connection, never to port -2');
  const again = registerWithAuth(registrar, { contacts: [LINPHONE_CONTACT], expires: 300, cseq: 10 }, TLS);
  t.equal(again.status, 200, 'a refresh matches the same binding');
  t.equal(location.bindings('100').length, 1);
  const del = registerWithAuth(registrar, { contacts: ['<sip:100@127.0.0.1:-2;transport=tls>;expires=0'], cseq: 20 }, TLS);
  t.equal(del.status, 200);
  t.same(location.bindings('100'), [], 'and removing it by the same :-2 contact works');
});

t.test('don\'t-bind contact over UDP -> 400: the box would need that port; counted', async (t) => {
  const { registrar, location, counters } = setup();
  const res = registerWithAuth(registrar, { contacts: ['<sip:100@127.0.0.1:-2>'] }, UDP);
  t.equal(res.status, 400);
  t.match(res.reason, /-2/);
  t.equal(counters.get('register.dont-bind-without-connection'), 1);
  t.same(location.all(), []);
});

t.test('the tolerance is narrow: the message parser lets port -2 through in Contact only; -3, -2 elsewhere, or a -2 dialog contact still fail', async (t) => {
  const msg = (contact: string, to = '<sip:100@pbx.local>'): boolean => parseMessage(Buffer.from([
    'REGISTER sip:pbx.local SIP/2.0', 'Via: SIP/2.0/TLS 127.0.0.1;branch=z9hG4bK1', 'From: <sip:100@pbx.local>;tag=1', `To: ${to}`,
    'Call-ID: c1', 'CSeq: 1 REGISTER', `Contact: ${contact}`, 'Content-Length: 0', '', '',
  ].join('\r\n'))).ok;
  t.equal(msg('<sip:100@127.0.0.1:-2;transport=tls>'), true, 'liblinphone\'s don\'t-bind contact parses');
  t.equal(msg('<sip:100@127.0.0.1:-3;transport=tls>'), false, '-3 is still a bad port');
  t.equal(msg('<sip:100@127.0.0.1:-2x>'), false, 'and so is -2 followed by anything but a delimiter');
  t.equal(msg('<sip:100@127.0.0.1>', '<sip:100@pbx.local:-2>'), false, 'only Contact is tolerant, To is not');
  t.throws(() => parseNameAddrList('<sip:100@127.0.0.1:-2;transport=tls>'), 'the strict header parser (dialogs use it) still refuses it');
  t.same(withoutDontBind('sip:a@[2001:db8::1]:-2;transport=tls'), { uri: 'sip:a@[2001:db8::1];transport=tls', dontBind: true }, 'IPv6 hosts too');
  t.ok(sameContact('sip:a@h:-2;transport=tls', 'sip:a@H:-2;transport=TLS'), 'compared per RFC 3261 19.1.4 with the port read as absent');
  t.notOk(sameContact('sip:a@h:-2;transport=tls', 'sip:a@h;transport=tls'), 'but a don\'t-bind contact is not the same as a portless one');
});

t.test('TCP/TLS bindings get a shorter expiry: 3600 asked -> 300 granted in the 200 and in the binding; UDP unchanged', async (t) => {
  const { registrar, location, clock, counters } = setup();
  const tls = registerWithAuth(registrar, { contacts: ['<sip:100@192.0.2.10:40123;transport=tls>'], expires: 3600 }, TLS);
  t.equal(contactExpires(tls).get('sip:100@192.0.2.10:40123;transport=tls'), DEFAULT_STREAM_MAX_EXPIRES);
  t.equal(DEFAULT_STREAM_MAX_EXPIRES, 300);
  t.equal(counters.get('register.stream-expires-shortened'), 1);
  const tcp = registerWithAuth(registrar, { user: '101', contacts: ['<sip:101@192.0.2.10:40200;transport=tcp>'], expires: 3600, callId: 'c-tcp' }, TCP);
  t.equal(contactExpires(tcp).get('sip:101@192.0.2.10:40200;transport=tcp'), 300, 'TCP too');
  const udp = registerWithAuth(registrar, { user: '101', expires: 3600, callId: 'c-udp', contacts: ['<sip:101@192.0.2.10:5060>'] }, UDP);
  t.equal(contactExpires(udp).get('sip:101@192.0.2.10:5060'), 3600, 'UDP keeps the asked interval');
  const short = registerWithAuth(registrar, { contacts: ['<sip:100@192.0.2.10:40123;transport=tls>'], expires: 120, cseq: 10 }, TLS);
  t.equal(contactExpires(short).get('sip:100@192.0.2.10:40123;transport=tls'), 120, 'a shorter ask is granted as is');
  clock.advance(120_000);
  t.same(location.bindings('100'), [], 'the fake clock proves the granted interval is the real one');
});

t.test('streamMaxExpires is configurable and never below minExpires', async (t) => {
  const low = setup({ ...LIMITS, streamMaxExpires: 30 });
  const res = registerWithAuth(low.registrar, { contacts: ['<sip:100@192.0.2.10:40123;transport=tls>'], expires: 3600 }, TLS);
  t.equal(contactExpires(res).get('sip:100@192.0.2.10:40123;transport=tls'), LIMITS.minExpires);
  const high = setup({ ...LIMITS, streamMaxExpires: 1800 });
  const r2 = registerWithAuth(high.registrar, { contacts: ['<sip:100@192.0.2.10:40123;transport=tls>'], expires: 3600 }, TLS);
  t.equal(contactExpires(r2).get('sip:100@192.0.2.10:40123;transport=tls'), 1800);
});

t.test('RFC 5626 sections 5.4 and 6: outbound over TLS -> Require: outbound and Flow-Timer; not without Supported, not on UDP', async (t) => {
  const { registrar, counters, location } = setup({ ...LIMITS, flowTimerSec: 45 });
  const res = registerWithAuth(registrar, { contacts: [OUTBOUND_CONTACT], extra: ['Supported: path, outbound'] }, TLS);
  t.equal(res.status, 200);
  t.equal(getHeader(res, 'require'), 'outbound');
  t.equal(getHeader(res, 'flow-timer'), '45');
  t.match(getHeaders(res, 'contact')[0], /;\+sip\.instance="<urn:uuid:00000000-0000-0000-0000-00000000000a>";reg-id=1$/, 'instance and reg-id echoed');
  t.equal(counters.get('register.outbound'), 1);
  t.match(location.lookup('100')[0], { instance: 'urn:uuid:00000000-0000-0000-0000-00000000000a', regId: 1 });

  const noSupported = registerWithAuth(registrar, { contacts: [OUTBOUND_CONTACT], cseq: 10 }, TLS);
  t.equal(getHeader(noSupported, 'require'), undefined, 'Require only when the phone said Supported: outbound');
  const noRegId = registerWithAuth(registrar, { contacts: [LINPHONE_CONTACT], cseq: 20, extra: ['Supported: replaces, outbound, gruu'] }, TLS);
  t.equal(getHeader(noRegId, 'require'), undefined, 'linphone\'s instance without reg-id is not an outbound registration');
  const udp = registerWithAuth(setup().registrar, { contacts: ['<sip:100@192.0.2.10:5060>;+sip.instance="<urn:uuid:b>";reg-id=1'], extra: ['Supported: outbound'] }, UDP);
  t.equal(udp.status, 200);
  t.equal(getHeader(udp, 'require'), undefined, 'no outbound over UDP: the box does not answer STUN keep-alives there');
  t.equal(getHeader(udp, 'flow-timer'), undefined);
  t.equal(DEFAULT_FLOW_TIMER_S, 60);
});

t.test('RFC 5626 section 6: two contacts with reg-id in one REGISTER -> 400', async (t) => {
  const { registrar, counters } = setup();
  const res = registerWithAuth(registrar, {
    contacts: [OUTBOUND_CONTACT, '<sip:100@192.0.2.10:40124;transport=tls>;+sip.instance="<urn:uuid:c>";reg-id=2'],
  }, TLS);
  t.equal(res.status, 400);
  t.equal(counters.get('register.multiple-reg-id'), 1);
});

t.test('the same instance re-registering from a new connection and contact replaces its binding (no dead twin)', async (t) => {
  const { registrar, location } = setup();
  registerWithAuth(registrar, { contacts: [OUTBOUND_CONTACT], extra: ['Supported: outbound'] }, TLS);
  const moved = OUTBOUND_CONTACT.replace('40123', '40999');
  const res = registerWithAuth(registrar, { contacts: [moved], callId: 'after-reconnect', extra: ['Supported: outbound'] },
    { transport: 'tls', address: '192.0.2.10', port: 40999, flowId: 'flow-8' });
  t.equal(res.status, 200);
  t.same(location.bindings('100').map((b) => [b.contact, b.flowId]), [['sip:100@192.0.2.10:40999;transport=tls;ob', 'flow-8']]);
  t.equal(getHeaders(res, 'contact').length, 1, 'the 200 lists one binding');
});

t.test('any authenticated request on a new connection moves the phone\'s dead binding to it (same account, same host)', async (t) => {
  const { registrar, location } = setup();
  registerWithAuth(registrar, { contacts: ['<sip:100@192.0.2.10:40123;transport=tls>'] }, TLS);
  location.flowClosed('flow-7');
  t.same(location.lookup('100'), [], 'unreachable once its connection closed');
  t.equal(isReachable(location.bindings('100')[0]!), false);
  // Here a REGISTER query (no Contact) on a new connection; call control's INVITE goes through the same authenticate().
  const q = registerWithAuth(registrar, { contacts: [], callId: 'query' }, { transport: 'tls', address: '192.0.2.10', port: 41000, flowId: 'flow-9' });
  t.equal(q.status, 200);
  t.match(location.lookup('100')[0], { flowId: 'flow-9', source: { port: 41000 } }, 'reachable again on the new flow');
});

t.test('an unauthenticated request never moves a binding', async (t) => {
  const { registrar, location } = setup();
  registerWithAuth(registrar, { contacts: [OUTBOUND_CONTACT] }, TLS);
  location.flowClosed('flow-7');
  const res = registrar.handle(request({ contacts: [OUTBOUND_CONTACT], cseq: 50 }), { transport: 'tls', address: '192.0.2.10', port: 42000, flowId: 'flow-10' });
  t.equal(res.status, 401);
  t.same(location.lookup('100'), [], 'still unreachable: a challenge is not proof');
});
