/**
 * Issue 20, password guessing and enumeration: per-account guessing windows
 * (10 a minute, 30 an hour, 100 a day) that refuse the guesser while a phone
 * with an authenticated connection from the same address keeps working;
 * nonces bound to the address they were issued to; and answers that do not
 * tell existing extensions from others. All on the injected clock.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { Counters, FakeClock, seededRandom, type Logger } from '../../firmware/core/index.js';
import { LocationService, Registrar, type AccountInfo, type RequestSource } from '../../firmware/pbx/index.js';
import {
  AuthThrottle, DigestServer, GuessGuard, authBlocks, digestAuthorization, ha1, DEFAULT_GUESS_WINDOWS, TRUSTED_SOURCE_MS,
} from '../../firmware/sip/digest/index.js';
import { getHeader, parseMessage, type SipRequest, type SipResponse } from '../../firmware/sip/message/index.js';
import { executeCommand } from '../../firmware/control/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigStore } from '../../firmware/config/index.js';
import { guessWindowsOf } from '../../firmware/sip/digest/index.js';

const REALM = 'pbx.local';
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const PASSWORDS: Record<string, string> = { 100: 'secret-100', 101: 'secret-101' };
const ATTACKER: RequestSource = { transport: 'udp', address: '192.0.2.10', port: 5070 };
/** The phone behind the same address (one NAT), on its own TLS connection. */
const PHONE: RequestSource = { transport: 'tls', address: '192.0.2.10', port: 40123, flowId: 'flow-7' };

function account(extension: string): AccountInfo {
  const pw = PASSWORDS[extension] ?? '';
  return { extension, ha1Md5: ha1('MD5', extension, REALM, pw), ha1Sha256: ha1('SHA-256', extension, REALM, pw), tlsOnly: false };
}

function logSink(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk: Buffer, _e, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } });
  const logger: Logger = pino({ level: 'info' }, sink);
  return { logger, lines };
}

function setup(opts: { throttleLimit?: number } = {}) {
  const clock = new FakeClock();
  const random = seededRandom(20);
  const counters = new Counters();
  const { logger, lines } = logSink();
  const location = new LocationService(clock);
  const throttle = new AuthThrottle({ clock, counters, limit: opts.throttleLimit ?? 1_000_000, windowMs: MINUTE, blockMs: 5 * MINUTE });
  const guesses = new GuessGuard({ clock, counters, log: logger });
  const digest = new DigestServer({ realm: REALM, secret: DigestServer.newSecret(random), clock, random, algorithms: ['MD5'] });
  const accounts = new Map([['100', account('100')], ['101', account('101')]]);
  let tags = 0;
  const registrar = new Registrar({
    clock, location, throttle, guesses, counters, log: logger,
    accounts: { get: (e) => accounts.get(e) },
    digest: () => digest,
    limits: () => ({ minExpires: 60, maxExpires: 3600, defaultExpires: 600 }),
    realm: () => REALM,
    isOurDomain: (h) => h === 'pbx.local',
    toTag: () => `tag${++tags}`,
  });
  return { clock, counters, location, throttle, guesses, digest, registrar, lines };
}

let calls = 0;
function request(user: string, cseq: number, authorization?: string, callId = `reg-${user}`): SipRequest {
  const lines = [
    'REGISTER sip:pbx.local SIP/2.0',
    `Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bK-guess-${++calls};rport`,
    'Max-Forwards: 70',
    `From: <sip:${user}@pbx.local>;tag=from1`,
    `To: <sip:${user}@pbx.local>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} REGISTER`,
    `Contact: <sip:${user}@192.0.2.10:5070>`,
    ...(authorization !== undefined ? [`Authorization: ${authorization}`] : []),
    'Content-Length: 0',
    '', '',
  ];
  const p = parseMessage(Buffer.from(lines.join('\r\n')));
  if (!p.ok || p.message.kind !== 'request') throw new Error('test request does not parse');
  return p.message;
}

/** Challenge, then answer it with `password`: what svcrack does for each guess. */
function attempt(registrar: Registrar, user: string, password: string, src: RequestSource, cseq = 1): { challenge: SipResponse; answer: SipResponse } {
  const challenge = registrar.handle(request(user, cseq, undefined, `c-${src.port}-${user}`), src);
  const header = getHeader(challenge, 'www-authenticate');
  if (header === undefined) return { challenge, answer: challenge };
  const authorization = digestAuthorization({ challenge: header, method: 'REGISTER', uri: 'sip:pbx.local', username: user, password, cnonce: `cn${cseq}` });
  return { challenge, answer: registrar.handle(request(user, cseq + 1, authorization, `c-${src.port}-${user}`), src) };
}

t.test('GuessGuard: 10 a minute, 30 an hour, 100 a day per account and source, on the injected clock', async (t) => {
  const clock = new FakeClock();
  const counters = new Counters();
  const { logger, lines } = logSink();
  const g = new GuessGuard({ clock, counters, log: logger });
  t.same(DEFAULT_GUESS_WINDOWS.map((w) => [w.limit, w.ms]), [[10, MINUTE], [30, HOUR], [100, DAY]], 'the defaults the issue names');
  for (let i = 0; i < 9; i++) { g.recordFailure('100', '192.0.2.10'); clock.advance(1000); }
  t.equal(g.refusal('100', '192.0.2.10'), undefined, '9 failures: still tried');
  g.recordFailure('100', '192.0.2.10');
  const lock = g.refusal('100', '192.0.2.10');
  t.match(lock, { extension: '100', scope: 'source', failures: 10, windowMs: MINUTE, until: clock.now() - 9000 + MINUTE });
  t.equal(g.refusal('101', '192.0.2.10'), undefined, 'another account from the same source is not refused');
  t.match(g.refusal('100', '198.51.100.1'), { scope: 'account' }, 'the account refuses untrusted sources too');
  g.recordSuccess('100', '203.0.113.5');
  t.equal(g.refusal('100', '203.0.113.5'), undefined, 'a source the account authenticated from is trusted: not refused by the account-wide lock');
  t.equal(counters.get('sip.guess.refused'), 2);
  t.equal(counters.get('sip.guess.lock.source'), 1);
  t.equal(counters.get('sip.guess.lock.account'), 1);
  const line = lines.find((l) => String(l.msg).includes('refuses this source'));
  t.match(line, { level: 40, extension: '100', source: '192.0.2.10', failures: 10, windowSec: 60 });
  t.notOk(JSON.stringify(lines).toLowerCase().includes('secret'), 'no password in any line');
  t.equal(g.secondsLeft(lock!), 51);

  // The minute window slides: once the oldest failure ages out, one more attempt.
  clock.advance(51_000);
  t.equal(g.refusal('100', '192.0.2.10'), undefined, 'after the window the account tries again');
  g.recordFailure('100', '192.0.2.10');
  t.ok(g.refusal('100', '192.0.2.10'), 'and the 11th failure in 60 s locks again');

  // Over a day a guesser gets at most 100 tries, however it paces them.
  const d = new GuessGuard({ clock: new FakeClock() });
  const dc = new FakeClock();
  const day = new GuessGuard({ clock: dc });
  let tried = 0;
  let hourTried = 0;
  let midday: unknown[] = [];
  for (let s = 0; s < DAY; s += 5000) {
    if (s === 12 * HOUR) midday = day.lockouts();
    if (day.refusal('100', '192.0.2.99') === undefined) {
      tried++;
      if (s < HOUR) hourTried++;
      day.recordFailure('100', '192.0.2.99');
    }
    dc.advance(5000);
  }
  t.equal(hourTried, 30, 'at most 30 in the first hour');
  t.equal(tried, 100, 'at most 100 in a day, attempting every 5 s');
  t.same(d.lockouts(), []);
  t.same(day.lockouts(), [], 'a day after the first failure the window has slid');
  t.match(midday, [{ extension: '100', scope: 'source', windowMs: DAY }, { extension: '100', scope: 'account', windowMs: DAY }]);
});

t.test('GuessGuard: an authenticated flow is never refused; unlock lifts what a source caused and is logged', async (t) => {
  const clock = new FakeClock();
  const { logger, lines } = logSink();
  const g = new GuessGuard({ clock, log: logger });
  g.recordSuccess('100', '192.0.2.10', 'flow-7');
  for (let i = 0; i < 10; i++) g.recordFailure('100', '192.0.2.10');
  t.ok(g.refusal('100', '192.0.2.10'), 'the guesser (no flow) is refused');
  t.ok(g.refusal('100', '192.0.2.10', 'flow-8'), 'so is another connection');
  t.equal(g.refusal('100', '192.0.2.10', 'flow-7'), undefined, 'the phone on its authenticated connection is not');
  t.ok(g.refusal('101', '192.0.2.10', 'flow-7') === undefined && g.isAuthenticatedFlow('flow-7', '100') && !g.isAuthenticatedFlow('flow-7', '101'));
  for (let i = 0; i < 10; i++) g.recordFailure('101', '198.51.100.7');
  t.equal(g.lockouts().length, 4, 'source and account locks of 100 and 101');
  t.equal(g.unlock('192.0.2.10', 'cli'), true);
  t.equal(g.refusal('100', '192.0.2.10'), undefined);
  t.equal(g.refusal('100', '203.0.113.1'), undefined, 'its share of the account-wide count is gone too');
  t.ok(g.refusal('101', '198.51.100.7'), 'other sources stay locked');
  t.equal(g.unlock('192.0.2.10'), false, 'nothing left to lift');
  t.match(lines.filter((l) => String(l.msg).includes('lockout lifted')), [{ level: 30, source: '192.0.2.10', by: 'cli' }, { level: 30, source: '192.0.2.10', by: 'cli' }]);
  t.throws(() => new GuessGuard({ clock, windows: [] }));
  t.throws(() => new GuessGuard({ clock, windows: [{ limit: 0, ms: 1 }] }));
  // Memory is bounded: many names from many sources keep at most maxTracked keys.
  const small = new GuessGuard({ clock, maxTracked: 50 });
  for (let i = 0; i < 1000; i++) small.recordFailure(`u${i}`, `10.0.${i >> 8}.${i & 255}`);
  t.ok(small.lockouts().length === 0);
  t.ok(TRUSTED_SOURCE_MS >= HOUR);
});

t.test('svcrack from one source: stopped at 10 guesses a minute, the right password then refused too; the TLS phone behind it keeps registering', async (t) => {
  const { registrar, clock, counters, location } = setup();
  // The real phone registered first over its TLS connection.
  t.equal(attempt(registrar, '100', PASSWORDS[100]!, PHONE).answer.status, 200);
  let saw = 0;
  for (let i = 0; i < 25; i++) {
    const { answer } = attempt(registrar, '100', `guess-${i}`, ATTACKER, 10 * i + 1);
    if (answer.status === 403 && answer.reason === 'Forbidden') saw++;
    clock.advance(1000);
  }
  t.equal(saw, 10, 'the box checked 10 guesses in the minute');
  const refused = attempt(registrar, '100', PASSWORDS[100]!, ATTACKER, 900).answer;
  t.equal(refused.status, 403);
  t.equal(refused.reason, 'Too Many Failed Attempts');
  t.match(getHeader(refused, 'retry-after') ?? '', /^\d+$/);
  t.ok(counters.get('register.guess-locked') >= 16);
  // The phone re-registers on its connection throughout.
  const again = attempt(registrar, '100', PASSWORDS[100]!, PHONE, 50).answer;
  t.equal(again.status, 200, 'the phone with a live authenticated TLS flow keeps working');
  t.equal(location.bindings('100').length, 1, 'its binding is kept');
  // Another account from the attacker's address is not refused.
  t.equal(attempt(registrar, '101', PASSWORDS[101]!, ATTACKER, 70).answer.status, 200);
  clock.advance(MINUTE);
  t.equal(attempt(registrar, '100', PASSWORDS[100]!, ATTACKER, 990).answer.status, 200, 'after the window the right password works from there again');
});

t.test('the source throttle does not block an established authenticated flow; blocks combine for pbx block list and lift together', async (t) => {
  const { registrar, throttle, guesses, clock } = setup({ throttleLimit: 10 });
  t.equal(attempt(registrar, '100', PASSWORDS[100]!, PHONE).answer.status, 200);
  for (let i = 0; i < 10; i++) attempt(registrar, '101', `guess-${i}`, ATTACKER, 10 * i + 1);
  t.ok(throttle.isBlocked(ATTACKER.address), 'the address is blocked for new attempts');
  t.equal(attempt(registrar, '100', PASSWORDS[100]!, ATTACKER, 500).challenge.status, 403, 'a new UDP request from it is refused');
  t.equal(attempt(registrar, '100', PASSWORDS[100]!, PHONE, 600).answer.status, 200, 'the authenticated TLS flow is not');
  const blocks = authBlocks(throttle, guesses);
  const ctx = { store: undefined as never, dataDir: '/nonexistent', clock, blocks };
  const list = await executeCommand(ctx, { command: 'block.list', args: {} });
  t.match(list, [
    { source: '192.0.2.10', extension: '101', failures: 10, scope: 'address' },
    { source: '192.0.2.10', extension: '101', failures: 10, scope: 'source' },
    { source: '192.0.2.10', extension: '101', failures: 10, scope: 'account' },
  ]);
  t.same(await executeCommand(ctx, { command: 'block.remove', args: { address: '192.0.2.10' } }), { removed: '192.0.2.10' });
  t.same(blocks.blocked(), []);
  t.equal(attempt(registrar, '101', PASSWORDS[101]!, ATTACKER, 700).answer.status, 200, 'after the unblock the account registers from there');
});

t.test('nonce bound to the address: a nonce fetched from one address is refused from another with stale=true, never counted', async (t) => {
  const { registrar, digest, guesses, counters } = setup();
  const challenge = registrar.handle(request('100', 1), ATTACKER);
  const header = getHeader(challenge, 'www-authenticate') ?? '';
  // A forger elsewhere uses that nonce with wrong passwords, as if it were the attacker's victim.
  const forged = { transport: 'udp' as const, address: '198.51.100.66', port: 5060 };
  for (let i = 0; i < 20; i++) {
    const authorization = digestAuthorization({ challenge: header, method: 'REGISTER', uri: 'sip:pbx.local', username: '100', password: `x${i}`, cnonce: `c${i}`, nc: i + 1 });
    const res = registrar.handle(request('100', 2 + i, authorization), forged);
    t.equal(res.status, 401);
    t.match(getHeader(res, 'www-authenticate') ?? '', /stale=true/);
  }
  t.equal(counters.get('register.auth-wrong-address'), 20);
  t.same(guesses.lockouts(), [], 'nothing counted against the account');
  // The right password with the moved nonce is not accepted either: a fresh nonce is needed.
  const right = digestAuthorization({ challenge: header, method: 'REGISTER', uri: 'sip:pbx.local', username: '100', password: PASSWORDS[100]!, cnonce: 'r' });
  t.equal(registrar.handle(request('100', 40, right), forged).status, 401);
  t.equal(registrar.handle(request('100', 41, right), ATTACKER).status, 200, 'from the address it was issued to, it works');
  // The verifier on its own: foreign nonces stay bad-nonce, moved ones are wrong-address.
  const v = digest.verify({ method: 'REGISTER', authorization: right.replace(/nonce="[^"]+"/, 'nonce="AAAA"'), address: ATTACKER.address }, () => undefined);
  t.match(v, { ok: false, reason: 'bad-nonce' });
  const w = digest.verify({ method: 'REGISTER', authorization: right, address: '::1' }, () => undefined);
  t.match(w, { ok: false, reason: 'wrong-address' });
});

/** A response with the per-message values (tags, branch, nonce) blanked, for comparing. */
function shape(res: SipResponse): string {
  return JSON.stringify({
    status: res.status, reason: res.reason,
    headers: res.headers.map((h) => [h.name.toLowerCase(), h.value
      .replace(/tag=[^;>\s]+/g, 'tag=*').replace(/branch=[^;\s]+/g, 'branch=*').replace(/nonce="[^"]+"/g, 'nonce="*"')
      .replace(/sip:(100|999)@/g, 'sip:EXT@').replace(/c-\d+-(100|999)/g, 'c-EXT').replace(/^\d+$/, 'N')]),
    body: res.body.length,
  });
}

t.test('enumeration: an existing and a non-existing extension get the same answers, lockout included', async (t) => {
  const { registrar, clock } = setup();
  const seq = (user: string): string[] => {
    const out: string[] = [];
    for (let i = 0; i < 12; i++) {
      const { challenge, answer } = attempt(registrar, user, `wrong-${i}`, { ...ATTACKER, port: 6000 }, 10 * i + 1);
      out.push(shape(challenge), shape(answer));
    }
    return out;
  };
  const known = seq('100');
  clock.advance(2 * MINUTE);
  const unknown = seq('999');
  t.same(unknown, known, 'status, reason and headers alike through 401, 403 and the lockout');
  t.match(known.slice(-2)[1], /Too Many Failed Attempts/, 'the sequence reached the lockout');
});

t.test('enumeration: no timing difference between a known and an unknown user (the same hashes run)', async (t) => {
  const random = seededRandom(3);
  const clock = new FakeClock();
  const digest = new DigestServer({ realm: REALM, secret: DigestServer.newSecret(random), clock, random, algorithms: ['MD5'] });
  // What the registrar does: a map lookup of the stored HA1, no hashing.
  const stored = new Map([['100', ha1('MD5', '100', REALM, 'pw')]]);
  const lookup = (u: string): string | undefined => stored.get(u);
  const header = digest.challenge({ address: '192.0.2.1' })[0]!;
  const auth = (user: string, i: number): string =>
    digestAuthorization({ challenge: header, method: 'REGISTER', uri: 'sip:pbx.local', username: user, password: 'wrong', cnonce: `c${i}`, nc: i + 1 });
  // Interleaved one by one (batches of one kind pick up allocation and GC
  // effects of their own), timed with the monotonic clock, medians compared.
  const one = (a: string): number => {
    const start = process.hrtime.bigint();
    digest.verify({ method: 'REGISTER', authorization: a, address: '192.0.2.1' }, lookup);
    return Number(process.hrtime.bigint() - start);
  };
  const k: number[] = [];
  const u: number[] = [];
  for (let i = 0; i < 3000; i++) {
    const a = auth('100', i);
    const b = auth('999', i);
    if (i % 2 === 0) { k.push(one(a)); u.push(one(b)); } else { u.push(one(b)); k.push(one(a)); }
  }
  const median = (xs: number[]): number => { const w = xs.slice(500).sort((x, y) => x - y); return w[Math.floor(w.length / 2)]!; };
  const ratio = median(u) / median(k);
  t.comment(`median verify: known ${(median(k) / 1000).toFixed(1)} us, unknown ${(median(u) / 1000).toFixed(1)} us, ratio ${ratio.toFixed(3)}`);
  t.ok(ratio > 0.8 && ratio < 1.25, `unknown/known time ratio ${ratio.toFixed(3)} within 20%`);
});

t.test('a flow authenticated as one account does not lift the address block for another account', async (t) => {
  const { registrar, throttle } = setup({ throttleLimit: 10 });
  t.equal(attempt(registrar, '100', PASSWORDS[100]!, PHONE).answer.status, 200, '100 logs in on its TLS flow');
  for (let i = 0; i < 10; i++) attempt(registrar, '101', `guess-${i}`, ATTACKER, 10 * i + 1);
  t.ok(throttle.isBlocked(PHONE.address), 'the shared address is blocked');
  const other = attempt(registrar, '101', PASSWORDS[101]!, PHONE, 900);
  t.equal(other.answer.status, 403, 'on 100\'s flow, an attempt at 101 is refused, even with 101\'s right password');
  t.equal(other.answer.reason, 'Blocked After Repeated Failures', 'by the address block');
  t.equal(attempt(registrar, '100', PASSWORDS[100]!, PHONE, 950).answer.status, 200, '100 itself still registers on its flow');
});

t.test('a user name longer than any account is refused before anything remembers it', async (t) => {
  const { registrar, counters, guesses } = setup();
  const long = 'x'.repeat(200);
  const challenge = registrar.handle(request('100', 1, undefined, 'long-name'), ATTACKER);
  const header = getHeader(challenge, 'www-authenticate')!;
  const authorization = digestAuthorization({ challenge: header, method: 'REGISTER', uri: 'sip:pbx.local', username: long, password: 'p', cnonce: 'cn' });
  const answer = registrar.handle(request('100', 2, authorization, 'long-name'), ATTACKER);
  t.equal(answer.status, 403, '403');
  t.equal(counters.get('register.auth-bad-username'), 1, 'counted as a malformed name');
  t.equal(guesses.refusal(long, ATTACKER.address, undefined), undefined, 'no window was opened for it');
  t.same(guesses.lockouts(), [], 'and nothing is listed');
});

t.test('GuessGuard follows a config change live: the store\'s new limits apply at the next attempt, failures already counted included', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-guess-live-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const clock = new FakeClock();
  const { logger, lines } = logSink();
  const store = await ConfigStore.open(dir, { log: logger, clock });
  const g = new GuessGuard({ clock, log: logger, windows: guessWindowsOf(() => store.data.sip) });
  t.same(g.windows.map((w) => [w.limit, w.ms]), [[10, MINUTE], [30, HOUR], [100, DAY]], 'the config\'s defaults at start');
  for (let i = 0; i < 4; i++) g.recordFailure('100', '192.0.2.10');
  t.equal(g.refusal('100', '192.0.2.10'), undefined, '4 failures under 10 a minute: tried');

  await store.update((d) => { d.sip.guessesPerMinute = 3; });
  t.match(g.refusal('100', '192.0.2.10'), { scope: 'source', failures: 4, windowMs: MINUTE }, 'after the change to 3 a minute the same 4 failures lock, without a restart');
  t.same(g.windows.map((w) => w.limit), [3, 30, 100]);
  t.ok(lines.some((l) => String(l.msg).includes('guessing windows changed')), 'the change is logged');

  await store.update((d) => { d.sip.guessesPerMinute = 20; d.sip.guessesPerHour = 40; });
  t.equal(g.refusal('100', '192.0.2.10'), undefined, 'raised again to 20 a minute: tried again');
  for (let i = 0; i < 35; i++) { g.recordFailure('100', '192.0.2.10'); clock.advance(MINUTE / 10); }
  t.equal(g.refusal('100', '192.0.2.10'), undefined, '39 failures in an hour (under 20 in any minute) pass 40 an hour');
  g.recordFailure('100', '192.0.2.10');
  t.match(g.refusal('100', '192.0.2.10'), { windowMs: HOUR, failures: 40 }, 'the 40th in the hour locks by the hour window the config now sets');

  // An invalid answer (the schema refuses one; a getter may still give it) keeps the windows in force, logged once.
  let limits = { guessesPerMinute: 5, guessesPerHour: 30, guessesPerDay: 100 };
  const h = new GuessGuard({ clock, log: logger, windows: guessWindowsOf(() => limits) });
  limits = { ...limits, guessesPerMinute: 0 };
  t.same(h.windows.map((w) => w.limit), [5, 30, 100], 'a zero limit is not taken');
  t.same(h.windows.map((w) => w.limit), [5, 30, 100]);
  t.equal(lines.filter((l) => String(l.msg).includes('invalid guessing windows')).length, 1, 'and logged once');
  t.throws(() => new GuessGuard({ clock, windows: () => [] }), /positive limit/, 'an invalid first answer is refused at start');
});
