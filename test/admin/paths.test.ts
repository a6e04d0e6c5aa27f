import t from 'tap';
import { concrete, sessionCookie } from './client.js';
import { SETUP_CODE, startAdmin } from './fixture.js';

/*
 * The login bypass of issue 18: `/%61pi/accounts` reached the API handler
 * because the session check read the raw URL while the router matched the
 * decoded path. For every route in fastify's own table (so a route added
 * later is covered without editing this file), every odd spelling of its
 * path, with GET and with the route's own method, without a session and
 * with a session but no CSRF token, must never reach that route's handler.
 * The handler is instrumented (onHandler), so the check is "it never ran",
 * not only the status code.
 */

const ran = new Map<string, number>();
const key = (method: string, url: string): string => `${method} ${url}`;
const fx = await startAdmin({ onHandler: (method, url) => ran.set(key(method, url), (ran.get(key(method, url)) ?? 0) + 1) });
t.teardown(() => fx.stop());

const setup = await fx.call('POST', '/api/setup', { body: { setupCode: SETUP_CODE, password: 'correct horse battery' } });
const cookie = sessionCookie(setup);

/** Percent-encode one character as a browser never would. */
const enc = (c: string, lower = false): string => {
  const h = c.charCodeAt(0).toString(16).padStart(2, '0');
  return `%${lower ? h : h.toUpperCase()}`;
};

/** Other spellings of an absolute path: every one names the same route to a lax decoder or normaliser. */
export function spellings(path: string): string[] {
  const segs = path.slice(1).split('/');
  const first = segs[0]!;
  const rest = segs.slice(1).join('/');
  const tail = rest === '' ? '' : `/${rest}`;
  const last = segs[segs.length - 1]!;
  const before = segs.slice(0, -1).join('/');
  const out = [
    `/${enc(first[0]!)}${first.slice(1)}${tail}`, // %61pi
    `/${first.slice(0, -1)}${enc(first.at(-1)!)}${tail}`, // ap%69
    `/${[...first].map((c) => enc(c)).join('')}${tail}`, // %61%70%69
    `/${enc(first[0]!, true)}${first.slice(1)}${tail}`, // lower-case hex
    `/${first}/${[...rest].map((c, i) => (i === 0 && c !== '/' ? enc(c) : c)).join('')}`, // first letter of the second segment
    `/${before}/${last.slice(0, -1)}${enc(last.at(-1)!)}`, // last letter of the last segment
    `/${first.toUpperCase()}${tail}`, // mixed case
    `/${first[0]!.toUpperCase()}${first.slice(1)}${tail}`,
    `/${first}${tail.toUpperCase()}`,
    `/${path}`, // //api
    `/${first}/${tail}`, // /api//x
    `/.${path}`, // /./api
    `/${first}/.${tail}`,
    `/${first}/../${first}${tail}`, // /api/../api
    `/${first}/%2E%2E/${first}${tail}`,
    `/${first}/%2e${tail}`,
    `${path}/`, // trailing slash
    `${path}.`, // trailing dot
    `${path}./`,
    `${path}%2E`,
    `/${first};x=1${tail}`, // path parameters
    `${path};jsessionid=1`,
    `/${enc('%')}${enc(first[0]!).slice(1)}${first.slice(1)}${tail}`, // double-encoded: %2561
    `/${first}${enc('/')}${rest}`, // encoded slash
    `/${first}%2f${rest}`,
    `/${first}\\${rest}`, // backslash
    `/${first}${enc('\\')}${rest}`,
    `/${first}%00${tail}`, // NUL
    `/${first}/%C0%AF${rest}`, // overlong UTF-8 slash
    `/${first}%20${tail}`,
  ];
  return [...new Set(out)].filter((p) => p !== path);
}

t.test('the spellings cover what the issue names', async (t) => {
  const s = spellings('/api/accounts');
  for (const p of ['/%61pi/accounts', '/ap%69/accounts', '/%61%70%69/accounts', '/API/accounts', '//api/accounts', '/./api/accounts',
    '/api/../api/accounts', '/api/accounts/', '/api/accounts.', '/api;x=1/accounts', '/%2561pi/accounts']) {
    t.ok(s.includes(p), p);
  }
});

t.test('no route handler ever runs for an odd spelling, or without a session, or a change without the CSRF token', async (t) => {
  const routes = fx.admin.routes;
  t.ok(routes.length >= 24, `fastify's route table has ${routes.length} routes`);
  t.ok(routes.some((r) => r.url === '/ca.crt') && routes.some((r) => r.api), 'it lists the page routes and the API');
  let tried = 0;
  const statuses = new Map<number, number>();
  for (const r of routes) {
    const path = concrete(r.url.replace(/\*$/, 'index.html'));
    const candidates = [...(r.public ? [] : [path]), ...spellings(path)];
    for (const p of candidates) {
      for (const method of [...new Set(['GET', r.method])]) {
        for (const withSession of [false, true]) {
          // A session may read (GET) through the canonical spelling: that is the route working.
          if (withSession && p === path && method === 'GET') continue;
          const before = ran.get(key(r.method, r.url)) ?? 0;
          const reply = await fx.call(method, p, {
            ...(method !== 'GET' && method !== 'DELETE' ? { body: {} } : {}),
            ...(withSession ? { cookie } : {}),
          });
          tried++;
          statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
          const after = ran.get(key(r.method, r.url)) ?? 0;
          if (after !== before || ![401, 403, 404].includes(reply.status)) {
            t.fail(`${method} ${p} (${withSession ? 'session, no CSRF token' : 'no session'}) reached ${r.method} ${r.url}: ${reply.status}`);
          }
        }
      }
    }
  }
  t.ok(tried > 1500, `${tried} requests tried; statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  t.notOk(statuses.has(200), 'none answered 200');
  t.ok((fx.admin.counters.get('admin.reject.path.needless-escape') ?? 0) > 0, 'refused spellings are counted by reason');
});

t.test('the canonical paths still work with a session', async (t) => {
  const before = ran.get('GET /api/accounts') ?? 0;
  const r = await fx.call('GET', '/api/accounts', { cookie });
  t.equal(r.status, 200);
  t.equal(ran.get('GET /api/accounts'), before + 1, 'the handler ran once');
  const page = await fx.call('GET', '/');
  t.equal(page.status, 200, 'the page is served');
  const q = await fx.call('GET', '/api/calls/history?limit=5&x=%61', { cookie });
  t.equal(q.status, 200, 'the query string is the handler\'s to judge');
});
