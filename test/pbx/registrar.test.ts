import t from 'tap';
import { Counters, FakeClock, seededRandom, silentLogger } from '../../firmware/core/index.js';
import {
  LocationService, MAX_CONTACTS_PER_ACCOUNT, Registrar, type AccountInfo, type RegistrarLimits, type RequestSource,
} from '../../firmware/pbx/index.js';
import { AuthThrottle, DigestServer, DEFAULT_NONCE_LIFETIME_MS, digestAuthorization, ha1 } from '../../firmware/sip/digest/index.js';
import { getHeader, getHeaders, parseMessage, type SipRequest, type SipResponse } from '../../firmware/sip/message/index.js';

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

function setup() {
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
    limits: () => LIMITS,
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
    const m = /^<([^>]+)>;expires=(\d+)$/.exec(v);
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
