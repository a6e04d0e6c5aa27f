import t from 'tap';
import fc from 'fast-check';
import { Counters, FakeClock, seededRandom } from '../../../firmware/core/index.js';
import {
  DigestServer, digestAuthorization, ha1, type DigestAlgorithm, type DigestFailure, type Ha1Lookup,
} from '../../../firmware/sip/digest/index.js';

const REALM = 'pbx.example.test';
const USERS: Record<string, string> = { alice: 'correct horse', 'a"b\\c': 'odd name' };

const lookup: Ha1Lookup = (username, algorithm) => {
  const pw = Object.hasOwn(USERS, username) ? USERS[username] : undefined;
  return pw === undefined ? undefined : ha1(algorithm, username, REALM, pw);
};

function setup(opts: { algorithms?: DigestAlgorithm[]; allowRfc2069?: boolean; maxTrackedNonces?: number; seed?: number } = {}) {
  const clock = new FakeClock();
  const random = seededRandom(opts.seed ?? 7);
  const counters = new Counters();
  const server = new DigestServer({ realm: REALM, secret: DigestServer.newSecret(random), clock, random, counters, ...opts });
  return { clock, random, counters, server };
}

function answer(challenge: string, over: { username?: string; password?: string; nc?: number; method?: string } = {}): string {
  return digestAuthorization({
    challenge,
    method: over.method ?? 'REGISTER',
    uri: 'sip:pbx.example.test',
    username: over.username ?? 'alice',
    password: over.password ?? USERS.alice ?? '',
    nc: over.nc ?? 1,
    cnonce: 'cn0nce',
  });
}

function first(list: string[]): string {
  const v = list[0];
  if (v === undefined) throw new Error('no challenge');
  return v;
}

function nonceOf(header: string): string {
  const m = /nonce="([^"]*)"/.exec(header);
  if (m?.[1] === undefined) throw new Error('no nonce');
  return m[1];
}

t.test('RFC 8760 section 2.4: one challenge per algorithm, SHA-256 first', async (t) => {
  const { server } = setup();
  const list = server.challenge();
  t.equal(list.length, 2);
  t.match(list[0], /^Digest realm="pbx\.example\.test", nonce="[A-Za-z0-9_-]{54}", opaque="[A-Za-z0-9_-]+", algorithm=SHA-256, qop="auth"$/);
  t.match(list[1], /algorithm=MD5, qop="auth"$/);
  t.notMatch(list[0], 'stale');
  t.match(first(server.challenge({ stale: true })), /, stale=true$/, 'stale=true when asked (RFC 3261 section 22.4)');
  t.not(nonceOf(first(server.challenge())), nonceOf(first(server.challenge())), 'fresh nonce each time');
  const md5only = setup({ algorithms: ['MD5'] }).server.challenge();
  t.equal(md5only.length, 1);
  t.match(md5only[0], 'algorithm=MD5');
});

t.test('round trip: challenge -> client authorization -> verify, both algorithms', async (t) => {
  const { server, counters } = setup();
  const [sha, md5] = server.challenge();
  for (const [name, ch, alg] of [['SHA-256', sha, 'SHA-256'], ['MD5', md5, 'MD5']] as const) {
    if (ch === undefined) throw new Error('missing');
    t.same(server.verify({ method: 'REGISTER', authorization: answer(ch) }, lookup), { ok: true, username: 'alice', algorithm: alg }, name);
  }
  t.equal(counters.get('sip.digest.ok'), 2);
  const odd = answer(first(server.challenge()), { username: 'a"b\\c', password: 'odd name' });
  t.match(odd, 'username="a\\"b\\\\c"', 'quoted-pair escapes in the username');
  t.same(server.verify({ method: 'REGISTER', authorization: odd }, lookup), { ok: true, username: 'a"b\\c', algorithm: 'SHA-256' });
});

t.test('parameter names are case-insensitive; absent algorithm means MD5', async (t) => {
  const { server } = setup();
  const auth = answer(first(server.challenge()))
    .replace('username=', 'UserName=')
    .replace('nonce=', 'Nonce=');
  t.ok(server.verify({ method: 'REGISTER', authorization: auth }, lookup).ok);
  const md5 = answer(server.challenge()[1] ?? '').replace(', algorithm=MD5', '');
  t.same(server.verify({ method: 'REGISTER', authorization: md5 }, lookup), { ok: true, username: 'alice', algorithm: 'MD5' });
});

function reason(r: ReturnType<DigestServer['verify']>): DigestFailure | 'ok' {
  return r.ok ? 'ok' : r.reason;
}

t.test('wrong password, unknown user, other method', async (t) => {
  const { server, counters } = setup();
  const ch = first(server.challenge());
  t.equal(reason(server.verify({ method: 'REGISTER', authorization: answer(ch, { password: 'wrong' }) }, lookup)), 'wrong-password');
  t.equal(reason(server.verify({ method: 'REGISTER', authorization: answer(ch, { username: 'mallory', nc: 2 }) }, lookup)), 'unknown-user');
  t.equal(reason(server.verify({ method: 'INVITE', authorization: answer(ch, { nc: 3 }) }, lookup)), 'wrong-password', 'HA2 binds the method');
  t.equal(counters.get('sip.digest.reject.wrong-password'), 2);
  t.equal(counters.get('sip.digest.reject.unknown-user'), 1);
  const r = server.verify({ method: 'REGISTER', authorization: answer(ch, { password: 'wrong', nc: 4 }) }, lookup);
  t.same(r, { ok: false, reason: 'wrong-password', username: 'alice' });
});

t.test('tampered nonce and a nonce from another box are bad-nonce', async (t) => {
  const { server, clock } = setup();
  const ch = first(server.challenge());
  const nonce = nonceOf(ch);
  const flipped = nonce.slice(0, 20) + (nonce[20] === 'A' ? 'B' : 'A') + nonce.slice(21);
  t.equal(reason(server.verify({ method: 'REGISTER', authorization: answer(ch.replace(nonce, flipped)) }, lookup)), 'bad-nonce');
  // The last character carries two spare bits: a different spelling of the same bytes is refused.
  const last = nonce.slice(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const sibling = alphabet[alphabet.indexOf(last) ^ 1] ?? 'A';
  t.equal(reason(server.verify({ method: 'REGISTER', authorization: answer(ch.replace(nonce, nonce.slice(0, -1) + sibling)) }, lookup)), 'bad-nonce', 'non-canonical base64url');
  t.equal(reason(server.verify({ method: 'REGISTER', authorization: answer(ch.replace(nonce, 'dcd98b7102dd2f0e8b11d0f600bfb0c093')) }, lookup)), 'bad-nonce');

  const random = seededRandom(99);
  const other = new DigestServer({ realm: REALM, secret: DigestServer.newSecret(random), clock, random });
  t.equal(reason(server.verify({ method: 'REGISTER', authorization: answer(first(other.challenge())) }, lookup)), 'bad-nonce', 'other secret');
  const chOther = first(other.challenge()).replace(/opaque="[^"]*"/, /opaque="[^"]*"/.exec(ch)?.[0] ?? '');
  t.equal(reason(server.verify({ method: 'REGISTER', authorization: answer(chOther) }, lookup)), 'bad-nonce', 'other secret, our opaque');
  const wrongOpaque = ch.replace(/opaque="[^"]*"/, 'opaque="abc"');
  t.equal(reason(server.verify({ method: 'REGISTER', authorization: answer(wrongOpaque) }, lookup)), 'bad-nonce', 'foreign opaque');
});

t.test('RFC 3261 section 22.4: expired nonce with the right password is stale', async (t) => {
  const { server, clock } = setup();
  const ch = first(server.challenge());
  clock.advance(299_000);
  t.ok(server.verify({ method: 'REGISTER', authorization: answer(ch) }, lookup).ok, 'within lifetime');
  clock.advance(2_000);
  t.equal(reason(server.verify({ method: 'REGISTER', authorization: answer(ch, { nc: 2 }) }, lookup)), 'stale');
  t.equal(reason(server.verify({ method: 'REGISTER', authorization: answer(ch, { nc: 3, password: 'nope' }) }, lookup)), 'wrong-password', 'stale only for correct credentials');
  const fresh = first(server.challenge({ stale: true }));
  t.ok(server.verify({ method: 'REGISTER', authorization: answer(fresh) }, lookup).ok, 'fresh nonce works');
});

t.test('RFC 7616 section 3.4: nonce-count must strictly increase', async (t) => {
  const { server, counters } = setup();
  const ch = first(server.challenge());
  const v = (nc: number): string => reason(server.verify({ method: 'REGISTER', authorization: answer(ch, { nc }) }, lookup));
  t.equal(v(1), 'ok');
  t.equal(v(1), 'replay', 'same request again');
  t.equal(v(2), 'ok');
  t.equal(v(5), 'ok', 'gaps allowed');
  t.equal(v(3), 'replay', 'going back');
  t.equal(v(5), 'replay');
  t.equal(v(6), 'ok');
  t.equal(counters.get('sip.digest.reject.replay'), 3);
  // Another nonce has its own count.
  t.equal(reason(server.verify({ method: 'REGISTER', authorization: answer(first(server.challenge()), { nc: 1 }) }, lookup)), 'ok');
  t.equal(server.trackedNonces, 2);
});

t.test('an evicted nonce cannot be replayed: it becomes stale', async (t) => {
  const { server, clock } = setup({ maxTrackedNonces: 2 });
  const chs = [1, 2, 3].map(() => { clock.advance(10); return first(server.challenge()); });
  for (const ch of chs) t.ok(server.verify({ method: 'REGISTER', authorization: answer(ch) }, lookup).ok);
  t.equal(server.trackedNonces, 2, 'bounded');
  const oldest = chs[0] ?? '';
  t.equal(reason(server.verify({ method: 'REGISTER', authorization: answer(oldest) }, lookup)), 'stale', 'replay of evicted nonce refused');
  t.equal(reason(server.verify({ method: 'REGISTER', authorization: answer(chs[2] ?? '', { nc: 2 }) }, lookup)), 'ok', 'tracked nonce goes on');
});

t.test('realm mismatch and unsupported algorithms', async (t) => {
  const { server } = setup({ algorithms: ['SHA-256'] });
  const ch = first(server.challenge());
  t.equal(reason(server.verify({ method: 'REGISTER', authorization: answer(ch.replace(REALM, 'elsewhere.test')) }, lookup)), 'realm-mismatch');
  t.equal(reason(server.verify({ method: 'REGISTER', authorization: answer(ch.replace('SHA-256', 'MD5')) }, lookup)), 'unsupported-algorithm', 'MD5 not offered');
  const sess = answer(ch).replace('algorithm=SHA-256', 'algorithm=SHA-256-sess');
  t.equal(reason(server.verify({ method: 'REGISTER', authorization: sess }, lookup)), 'unsupported-algorithm');
});

t.test('missing and malformed credentials', async (t) => {
  const { server, counters } = setup();
  const ok = answer(first(server.challenge()));
  const v = (authorization: string | undefined): string => reason(server.verify({ method: 'REGISTER', authorization }, lookup));
  t.equal(v(undefined), 'missing');
  t.equal(v('  '), 'missing');
  for (const bad of [
    'Basic YWxpY2U6cGFzcw==',
    'Digest',
    ok.replace(/, response="[0-9a-f]*"/, ''),
    ok.replace(/username="alice", /, ''),
    ok.replace('qop=auth', 'qop=auth-int'),
    ok.replace(/, qop=auth, nc=00000001, cnonce="cn0nce"/, ''),
    ok.replace('nc=00000001', 'nc=1'),
    ok.replace(/response="([0-9a-f]*)"/, 'response="$1ab"'),
    ok.replace(/response="[0-9a-f]{4}/, 'response="zzzz'),
    `${ok}, nc=00000002`,
    ok.replace('Digest ', 'Digest  ,username="x" '),
  ]) {
    t.equal(v(bad), 'malformed', bad.slice(0, 60));
  }
  t.ok(counters.get('sip.digest.reject.malformed') >= 11);
});

t.test('RFC 2069 form (no qop) only when allowed', async (t) => {
  const strict = setup();
  const lax = setup({ allowRfc2069: true });
  for (const [s, want] of [[strict, 'malformed'], [lax, 'ok']] as const) {
    const ch = first(s.server.challenge()).replace(', qop="auth"', '');
    const auth = answer(ch);
    t.notMatch(auth, 'qop=');
    t.equal(reason(s.server.verify({ method: 'REGISTER', authorization: auth }, lookup)), want);
  }
});

t.test('constructor refuses weak configuration', async (t) => {
  const clock = new FakeClock();
  const random = seededRandom(3);
  const base = { realm: REALM, secret: DigestServer.newSecret(random), clock, random };
  t.throws(() => new DigestServer({ ...base, secret: Buffer.alloc(8) }), { code: 'config' });
  t.throws(() => new DigestServer({ ...base, realm: 'a\r\nb' }), { code: 'config' });
  t.throws(() => new DigestServer({ ...base, algorithms: [] }), { code: 'config' });
  t.throws(() => new DigestServer({ ...base, nonceLifetimeMs: 0 }), { code: 'config' });
});

const REASONS = new Set(['malformed', 'unknown-user', 'wrong-password', 'stale', 'bad-nonce', 'replay', 'realm-mismatch', 'unsupported-algorithm', 'missing']);

t.test('hostile Authorization values never throw (property)', async (t) => {
  const { server } = setup();
  const valid = answer(first(server.challenge()));
  const piece = fc.constantFrom('Digest', ' ', ',', '=', '"', '\\', '\r\n', '\t', 'username', 'realm', 'nonce', 'uri', 'response',
    'qop=auth', 'nc=00000001', 'algorithm=MD5', 'algorithm=SHA-256', `"${REALM}"`, 'cnonce="x"', 'alice');
  const arb = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 400 }),
    fc.array(piece, { maxLength: 40 }).map((a) => a.join('')),
    // Single-character mutations of a valid header.
    fc.tuple(fc.nat({ max: valid.length - 1 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 2 }))
      .map(([i, c]) => valid.slice(0, i) + c + valid.slice(i + 1)),
  );
  fc.assert(fc.property(arb, (authorization) => {
    const r = server.verify({ method: 'REGISTER', authorization }, lookup);
    return r.ok ? authorization !== '' : REASONS.has(r.reason);
  }), { numRuns: 2000 });
  t.pass('no exception');
});
