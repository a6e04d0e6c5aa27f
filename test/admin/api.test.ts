import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { LIVE_COALESCE_MS, SESSION_IDLE_MS } from '../../firmware/admin/index.js';
import { CALLS_FILE } from '../../firmware/control/index.js';
import { loadOrCreatePki } from '../../firmware/pki/index.js';
import { concrete, plainGet, sessionCookie, type Reply, type RequestOptions } from './client.js';
import { SETUP_CODE, startAdmin } from './fixture.js';

/*
 * The admin API over real HTTPS: first-run setup with the console's setup
 * code, sessions (HttpOnly, Secure, SameSite=Strict cookies), CSRF on every
 * change, login throttling, and the operations the page uses. The route
 * checks walk the server's own route table, so a route added later is
 * covered without touching this file.
 */

const fx = await startAdmin({ loginThrottle: { limit: 3, windowMs: 60_000, blockMs: 120_000 } });
t.teardown(() => fx.stop());
const { root, dataDir, store, pki, clock, admin, webPort, httpPort, trusted, listeners, call } = fx;
const ca = pki.caCertPem;
const PASSWORD = 'correct horse battery';

/** Every reply of the run, to check no secret ever leaves the API. */
const seen: Reply[] = [];
const api = async (method: string, path: string, o: RequestOptions = {}): Promise<Reply> => {
  const r = await call(method, path, o);
  seen.push(r);
  return r;
};

let cookie = '';
let csrf = '';

t.test('first run: no default password; the setup code sets one once', async (t) => {
  const s = await api('GET', '/api/setup');
  t.same(s.json, { needsSetup: true, loggedIn: false });
  t.equal((await api('POST', '/api/login', { body: { password: 'anything-at-all' } })).status, 409, 'no login before a password exists');

  const wrong = await api('POST', '/api/setup', { body: { setupCode: 'WRONG000', password: PASSWORD } });
  t.equal(wrong.status, 401, 'a wrong setup code is refused');
  t.equal(wrong.json.field, 'setupCode');
  const short = await api('POST', '/api/setup', { body: { setupCode: SETUP_CODE, password: 'short' } });
  t.equal(short.status, 400, 'a short password is refused');
  t.equal(short.json.field, 'password');
  t.equal(store.data.admin.passwordHash, null, 'nothing set yet');

  const ok = await api('POST', '/api/setup', { body: { setupCode: SETUP_CODE.toLowerCase(), password: PASSWORD } });
  t.equal(ok.status, 200, 'the right code (any case) sets the password');
  const set = (ok.headers['set-cookie'] ?? [])[0] ?? '';
  t.match(set, /^__Host-pbx_session=[A-Za-z0-9_-]{40,};/, 'a __Host- session cookie with a long random id');
  for (const attr of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/']) t.ok(set.includes(attr), `cookie has ${attr}`);
  t.match(store.data.admin.passwordHash, /^scrypt\$/, 'stored as an scrypt hash');
  t.equal(store.data.admin.setupCode, null, 'the setup code is used up');
  cookie = sessionCookie(ok);
  csrf = String(ok.json.csrfToken);
  t.ok(csrf.length >= 40, 'a CSRF token comes with the session');

  const again = await api('POST', '/api/setup', { body: { setupCode: SETUP_CODE, password: 'another password' } });
  t.equal(again.status, 409, 'setup cannot run twice');
  t.same((await api('GET', '/api/setup', { cookie })).json, { needsSetup: false, loggedIn: true });
});

t.test('every /api route refuses an unauthenticated request (401) and a change without the CSRF token (403)', async (t) => {
  const routes = admin.routes.filter((r) => r.api);
  const publicOnes = routes.filter((r) => r.public).map((r) => `${r.method} ${r.url}`).sort();
  // The firmware result is read with its unguessable ticket: the uploading session ends when the box switches firmware.
  t.same(publicOnes, ['GET /api/firmware/result/:ticket', 'GET /api/setup', 'POST /api/login', 'POST /api/setup'], 'only setup, login and a firmware ticket are public in the API');
  t.ok(routes.length >= 20, `the route table lists the API (${routes.length} routes)`);
  t.ok(admin.routes.filter((r) => !r.api).every((r) => !r.url.startsWith('/api')), 'every /api route sits inside the guarded plugin');

  for (const r of routes.filter((x) => !x.public)) {
    const url = concrete(r.url);
    const hasBody = r.method !== 'GET' && r.method !== 'DELETE';
    const body = hasBody ? { body: {} } : {};
    const anon = await api(r.method, url, body);
    t.equal(anon.status, 401, `${r.method} ${r.url} without a session -> 401`);
    const forged = await api(r.method, url, { ...body, cookie: '__Host-pbx_session=made-up-session-id-0000000000000000000000' });
    t.equal(forged.status, 401, `${r.method} ${r.url} with an unknown session -> 401`);
    if (r.method === 'GET') continue;
    const noToken = await api(r.method, url, { ...body, cookie });
    t.equal(noToken.status, 403, `${r.method} ${r.url} without X-CSRF-Token -> 403`);
    const badToken = await api(r.method, url, { ...body, cookie, csrf: `${csrf.slice(0, -2)}xx` });
    t.equal(badToken.status, 403, `${r.method} ${r.url} with a wrong X-CSRF-Token -> 403`);
    const crossSite = await api(r.method, url, { ...body, cookie, csrf, headers: { origin: 'https://evil.example' } });
    t.equal(crossSite.status, 403, `${r.method} ${r.url} from another origin -> 403`);
  }
});

t.test('security headers: CSP, no framing, no sniffing', async (t) => {
  const page = await api('GET', '/');
  t.equal(page.status, 200);
  t.match(page.text, /<script type="module" src="\/app\.js">/, 'the built page is served');
  const csp = String(page.headers['content-security-policy']);
  t.match(csp, /default-src 'self'/);
  t.match(csp, /frame-ancestors 'none'/);
  t.notMatch(csp, /unsafe-inline|unsafe-eval/, 'no inline script or eval allowed');
  t.equal(page.headers['x-frame-options'], 'DENY');
  t.equal(page.headers['x-content-type-options'], 'nosniff');
  const apiReply = await api('GET', '/api/status', { cookie });
  t.equal(apiReply.headers['cache-control'], 'no-store', 'API replies are not cached');
});

t.test('plain HTTP serves the CA and redirects everything else to HTTPS', async (t) => {
  const pem = await plainGet(httpPort, '/ca.crt');
  t.equal(pem.status, 200);
  t.equal(pem.body.toString('utf8'), pki.caCertPem);
  const der = await plainGet(httpPort, '/ca.der');
  t.same(der.body, pki.caDer());
  const redirect = await plainGet(httpPort, '/api/status');
  t.equal(redirect.status, 301);
  t.equal(redirect.headers.location, `https://127.0.0.1:${webPort}/api/status`);
});

t.test('extensions: add (generated password shown once), edit, reset password, remove; bad input is a 400 naming the field', async (t) => {
  const w = { cookie, csrf };
  const bad = [
    [{ extension: 'has space', password: 'secret-1' }, 'extension'],
    [{ extension: '1001', password: '123' }, 'password'],
    [{ extension: '1001', password: 'secret-1', tlsOnly: 'yes' }, 'tlsOnly'],
    [{ extension: 1001, password: 'secret-1' }, 'extension'],
    [{ extension: '1001', password: 'secret-1', name: 'a\u0001b' }, 'name'],
  ] as const;
  for (const [body, field] of bad) {
    const r = await api('POST', '/api/accounts', { ...w, body });
    t.equal(r.status, 400, `${JSON.stringify(body)} -> 400`);
    t.equal(r.json.field, field, `error names ${field}`);
  }
  const unknownPolicy = await api('POST', '/api/accounts', { ...w, body: { extension: '1001', password: 'secret-1', policy: 'nope' } });
  t.equal(unknownPolicy.status, 404);
  t.equal(unknownPolicy.json.field, 'policy');
  t.equal((await api('POST', '/api/accounts', { ...w, rawBody: '{"extension":' })).status, 400, 'malformed JSON -> 400');
  t.equal((await api('POST', '/api/accounts', { ...w, rawBody: '[1,2]' })).status, 400, 'a JSON array -> 400');
  t.equal(store.data.accounts.length, 0, 'nothing was added by bad requests');

  const added = await api('POST', '/api/accounts', { ...w, body: { extension: '1001', name: 'Reception' } });
  t.equal(added.status, 200);
  t.match(added.json, { extension: '1001', name: 'Reception', policy: 'default', tlsOnly: false });
  t.match(String(added.json.password), /^[A-Za-z0-9]{12}$/, 'a generated password is returned once');
  const list = await api('GET', '/api/accounts', { cookie });
  t.notOk(list.text.includes(String(added.json.password)), 'the password is not listed');
  t.equal((await api('POST', '/api/accounts', { ...w, body: { extension: '1001', password: 'secret-1' } })).status, 409, 'duplicate -> 409');

  const ha1Before = store.data.accounts[0]!.ha1Md5;
  const reset = await api('POST', '/api/accounts/1001/password', { ...w, body: {} });
  t.match(String(reset.json.password), /^[A-Za-z0-9]{12}$/);
  t.not(store.data.accounts[0]!.ha1Md5, ha1Before, 'the digest hash changed');
  t.equal((await api('POST', '/api/accounts/9999/password', { ...w, body: {} })).status, 404);

  const patched = await api('PATCH', '/api/accounts/1001', { ...w, body: { name: 'Front desk', tlsOnly: true } });
  t.match(patched.json, { extension: '1001', name: 'Front desk', tlsOnly: true });
  t.equal((await api('PATCH', '/api/accounts/1001', { ...w, body: { policy: 'nope' } })).json.field, 'policy');

  t.equal((await api('POST', '/api/accounts', { ...w, body: { extension: '1002', password: 'secret-2' } })).status, 200);
  t.equal((await api('DELETE', '/api/accounts/1002', { ...w })).status, 200);
  t.equal((await api('DELETE', '/api/accounts/1002', { ...w })).status, 404);
  t.same(store.data.accounts.map((a) => a.extension), ['1001']);
});

t.test('policies: create, assign, edit; the default and used ones cannot be removed', async (t) => {
  const w = { cookie, csrf };
  const bad = await api('POST', '/api/policies', { ...w, body: { name: 'secure', callerStream: 'always', calleeStream: 'sdes' } });
  t.equal(bad.status, 400);
  t.equal(bad.json.field, 'callerStream');
  t.equal((await api('POST', '/api/policies', { ...w, body: { name: 'bad name!' } })).json.field, 'name');
  const created = await api('POST', '/api/policies', { ...w, body: { name: 'secure', callerStream: 'decrypt', calleeStream: 'sdes' } });
  t.same(created.json, { name: 'secure', callerStream: 'decrypt', calleeStream: 'sdes' });
  t.equal((await api('POST', '/api/policies', { ...w, body: { name: 'secure' } })).status, 409);
  t.equal((await api('PATCH', '/api/accounts/1001', { ...w, body: { policy: 'secure' } })).json.policy, 'secure');
  const edited = await api('PUT', '/api/policies/secure', { ...w, body: { calleeStream: 'zrtp' } });
  t.same(edited.json, { name: 'secure', callerStream: 'decrypt', calleeStream: 'zrtp' });
  const listed = await api('GET', '/api/policies', { cookie });
  t.same(listed.json, [{ name: 'default', callerStream: 'relay_or_decrypt', calleeStream: 'as_caller', accounts: 0 }, { name: 'secure', callerStream: 'decrypt', calleeStream: 'zrtp', accounts: 1 }]);
  t.equal((await api('DELETE', '/api/policies/secure', w)).status, 409, 'in use');
  t.equal((await api('DELETE', '/api/policies/default', w)).status, 409, 'default');
});

t.test('certificates: facts without keys, renew now, custom upload validated', async (t) => {
  const w = { cookie, csrf };
  const info = await api('GET', '/api/certs', { cookie });
  t.equal((info.json.server as { serial: string }).serial, pki.serverInfo.serial);
  t.equal(info.json.custom, false);
  const oldSerial = pki.serverInfo.serial;
  const renewed = await api('POST', '/api/certs/renew', { ...w, body: {} });
  t.equal(renewed.status, 200);
  t.not((renewed.json.server as { serial: string }).serial, oldSerial, 'a new certificate');
  const history = await api('GET', '/api/certs/history', { cookie });
  t.match((history.json as unknown as Array<{ reason: string }>)[0], { reason: 'manual', oldSerial }, 'newest first, reason manual');

  // A certificate from another CA (as an office CA would issue), with a key that is not its own.
  const other = await loadOrCreatePki(join(root, 'office-ca'), { identity: () => pki.currentIdentity() });
  const otherKey = readFileSync(other.paths.serverKey, 'utf8');
  trusted.push(other.caCertPem);
  const strayKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const wrong = await api('POST', '/api/certs/custom', { ...w, body: { certPem: other.serverCertPem, chainPem: other.caCertPem, keyPem: strayKey } });
  t.equal(wrong.status, 400, 'a wrong key is refused');
  t.equal(wrong.json.field, 'keyPem');
  t.match(wrong.json.problems, [{ code: 'key-mismatch' }]);
  const noChain = await api('POST', '/api/certs/custom', { ...w, body: { certPem: other.serverCertPem, keyPem: otherKey } });
  t.equal(noChain.status, 400, 'an incomplete chain is refused');
  t.equal(noChain.json.field, 'chainPem');
  t.equal((await api('POST', '/api/certs/custom', { ...w, body: { certPem: 'junk', keyPem: 'junk' } })).json.field, 'certPem');

  const good = await api('POST', '/api/certs/custom', { ...w, body: { certPem: other.serverCertPem, chainPem: other.caCertPem, keyPem: otherKey } });
  t.equal(good.status, 200, good.json.error ?? 'installed');
  t.equal((await api('GET', '/api/certs', { cookie })).json.custom, true);
  const sock = tls.connect({ host: '127.0.0.1', port: webPort, ca: other.caCertPem });
  await new Promise<void>((resolve, reject) => { sock.once('secureConnect', resolve); sock.once('error', reject); });
  t.equal(sock.getPeerX509Certificate()?.serialNumber.toUpperCase(), other.serverInfo.serial.toUpperCase(), 'HTTPS now presents the uploaded certificate');
  sock.destroy();
  const reopened = await loadOrCreatePki(dataDir);
  t.equal(reopened.serverInfo.serial, other.serverInfo.serial, 'after a restart the uploaded certificate is still used');
  t.equal(reopened.chainPem, other.serverCertPem + other.caCertPem, 'with its chain');
  t.match((await api('GET', '/api/certs/history', { cookie })).json, [{ reason: 'custom', newSerial: other.serverInfo.serial }]);

  const back = await call('POST', '/api/certs/renew', { ...w, body: {} }); // the box's own again
  t.equal(back.status, 200);
  t.equal((await api('GET', '/api/certs', { cookie })).json.custom, false, 'renewal returns to the box\'s own certificate');
  const reopenedAgain = await loadOrCreatePki(dataDir);
  t.equal(reopenedAgain.serverInfo.serial, pki.serverInfo.serial, 'and stays with it after a restart');
});

t.test('call history: newest first, torn lines skipped, limit checked', async (t) => {
  t.same((await api('GET', '/api/calls/history', { cookie })).json, [], 'no file yet: empty');
  const rec = (id: string) => JSON.stringify({ id, caller: '1001', callee: '1002', startedAt: 1, endedAt: 2, endReason: 'bye', legs: { a: { party: '1001', transport: 'udp', protection: 'rtp' } }, mode: 'relay' });
  writeFileSync(join(dataDir, CALLS_FILE), `${rec('c1')}\nnot json\n${rec('c2')}\n[1]\n${rec('c3')}\n{"id":`);
  const all = await api('GET', '/api/calls/history', { cookie });
  t.same((all.json as unknown as Array<{ id: string }>).map((r) => r.id), ['c3', 'c2', 'c1']);
  const two = await api('GET', '/api/calls/history?limit=2', { cookie });
  t.same((two.json as unknown as Array<{ id: string }>).map((r) => r.id), ['c3', 'c2']);
  t.equal((await api('GET', '/api/calls/history?limit=abc', { cookie })).status, 400);
  t.equal((await api('GET', '/api/calls/history?limit=0', { cookie })).status, 400);
});

t.test('live updates: the event stream sends the status, then again after a change', async (t) => {
  const events: string[] = [];
  const sock = tls.connect({ host: '127.0.0.1', port: webPort, ca });
  await new Promise<void>((resolve, reject) => { sock.once('secureConnect', resolve); sock.once('error', reject); });
  let buf = '';
  const waitFor = (n: number): Promise<void> => new Promise((resolve) => {
    const check = (): void => {
      const parts = buf.split('\n\n');
      for (const p of parts.slice(events.length, -1)) events.push(p);
      if (events.length >= n) { sock.off('data', onData); resolve(); }
    };
    const onData = (d: Buffer): void => { buf += d.toString('utf8'); check(); };
    sock.on('data', onData);
    check();
  });
  sock.write(`GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${cookie}\r\n\r\n`);
  await waitFor(1);
  t.match(events[0], /^HTTP\/1\.1 200[\s\S]*text\/event-stream[\s\S]*event: status\ndata: \{/, 'first the current status');
  for (const fn of listeners) fn();
  for (const fn of listeners) fn();
  clock.advance(LIVE_COALESCE_MS);
  await waitFor(2);
  t.match(events[1], /event: status\ndata: \{.*"accounts":1/, 'a change pushes a fresh status');
  sock.destroy();
});

t.test('logout ends the session; idle sessions expire', async (t) => {
  const login = await api('POST', '/api/login', { body: { password: PASSWORD } });
  t.equal(login.status, 200);
  const c2 = sessionCookie(login);
  const t2 = String(login.json.csrfToken);
  t.equal((await api('GET', '/api/session', { cookie: c2 })).json.csrfToken, t2, 'a reload gets the token back');
  const out = await api('POST', '/api/logout', { cookie: c2, csrf: t2, body: {} });
  t.equal(out.status, 200);
  t.match(String((out.headers['set-cookie'] ?? [])[0]), /__Host-pbx_session=;/, 'the cookie is cleared');
  t.equal((await api('GET', '/api/status', { cookie: c2 })).status, 401, 'the old cookie no longer works');

  t.equal((await api('GET', '/api/status', { cookie })).status, 200, 'the other session is live');
  clock.advance(SESSION_IDLE_MS);
  t.equal((await api('GET', '/api/status', { cookie })).status, 401, 'idle too long: logged out');
});

t.test('login throttling engages after repeated failures and lifts later', async (t) => {
  for (let i = 0; i < 3; i++) {
    const r = await api('POST', '/api/login', { body: { password: `wrong-${i}-password` } });
    t.equal(r.status, 401, `failure ${i + 1} -> 401`);
    t.equal(r.json.field, 'password');
  }
  const blocked = await api('POST', '/api/login', { body: { password: PASSWORD } });
  t.equal(blocked.status, 429, 'blocked, even with the right password');
  t.ok(Number(blocked.headers['retry-after']) > 0, 'Retry-After says when to come back');
  t.equal(admin.counters.get('admin.login.throttled'), 1);
  clock.advance(120_000);
  const after = await api('POST', '/api/login', { body: { password: PASSWORD } });
  t.equal(after.status, 200, 'the block lifts after its time');
});

t.test('no reply ever carried a secret or a 500', async (t) => {
  const all = seen.map((r) => r.text).join('\n');
  t.notOk(all.includes(SETUP_CODE), 'no setup code');
  t.notOk(/PRIVATE KEY/.test(all), 'no private key');
  t.notOk(/"ha1(Md5|Sha256)"|scrypt\$/.test(all), 'no HA1 field and no password hash');
  for (const a of store.data.accounts) t.notOk(all.includes(a.ha1Md5) || all.includes(a.ha1Sha256), `no HA1 value of ${a.extension}`);
  t.same(seen.filter((r) => r.status >= 500).map((r) => r.text), [], 'no 5xx');
});
