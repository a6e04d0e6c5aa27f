import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiErrorBody, CommandName, CommandReplies, LoggedOut, LogLine, SessionToken, SetupState, TollAlarmView } from '../api/index.js';
import { hashPassword, verifyPassword, type ConfigStore } from '../config/index.js';
import { CommandError, DEFAULT_CALL_HISTORY, MAX_CALL_HISTORY, type BlockRemoved, type BlockView, type ControlRequest } from '../control/index.js';
import { type Clock, type Counters, type ErrorCode, type Logger, type TimerHandle, isPbxError } from '../core/index.js';
import { AuthThrottle } from '../sip/digest/index.js';
import { type Session, SessionStore, tokensEqual } from './sessions.js';
import { filterHistory, historyCsv, parseHistoryFilter } from './history.js';
import { AccountDelay, type AccountDelayOptions } from './throttle.js';

/**
 * The JSON API under /api that the admin page uses. Every route needs a
 * session except the few marked public (first-run setup and login); every
 * request that is not a GET also needs the session's CSRF token in the
 * X-CSRF-Token header. The operations themselves are the `pbx` commands
 * (control/commands.ts), so the CLI and the page share one implementation.
 * What each route answers is a shape in firmware/api, the file the page
 * reads the replies with.
 */

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Reachable without a session (setup and login only). */
    public?: boolean;
  }
  interface FastifyRequest {
    adminSession: Session | null;
  }
}

export const SESSION_COOKIE = '__Host-pbx_session';
export const CSRF_HEADER = 'x-csrf-token';
/** Failed logins (or setup codes) from one address before it is blocked. */
export const LOGIN_FAIL_LIMIT = 5;
export const LOGIN_FAIL_WINDOW_MS = 15 * 60 * 1000;
export const LOGIN_BLOCK_MS = 15 * 60 * 1000;
/** Live updates are coalesced over this long, so a burst of REGISTERs is one event. */
export const LIVE_COALESCE_MS = 150;
/** A comment line keeps idle event streams open through proxies and finds dead sessions. */
export const LIVE_HEARTBEAT_MS = 15_000;
/** Bytes a live event stream may have waiting for a slow reader before it is closed. */
const LIVE_MAX_BUFFERED = 1_000_000;
export const MAX_EVENT_STREAMS = 32;

/** Changes the dashboard should hear about at once. */
export interface LiveSource {
  onChange(listener: () => void): () => void;
}

export interface ApiDeps {
  readonly store: ConfigStore;
  readonly execute: (req: ControlRequest) => Promise<unknown>;
  readonly live: LiveSource;
  readonly clock: Clock;
  readonly sessions: SessionStore;
  readonly counters: Counters;
  readonly log: Logger;
  readonly loginThrottle?: { readonly limit: number; readonly windowMs: number; readonly blockMs: number };
  /** Waits per admin credential across addresses (throttle.ts); defaults for production. */
  readonly accountDelay?: AccountDelayOptions;
  /** Log lines as they are written (core LogBuffer): an event stream opened with ?logs=1 carries them as `log` events. */
  readonly logs?: { onLine(fn: (line: LogLine) => void): () => void };
  /** More routes, registered inside the API plugin after its own (route files beside this one). */
  readonly routes?: ReadonlyArray<(app: FastifyInstance) => void>;
}

/** One route of the HTTPS server's table, as the security tests walk it. */
export interface RouteInfo {
  readonly method: string;
  readonly url: string;
  /** Inside the API plugin, so its session and CSRF hook runs first. */
  readonly api: boolean;
  /** Reachable without a session: outside the API (page, CA), or setup and login. */
  readonly public: boolean;
}

const STATUS_OF: Record<ErrorCode, number> = {
  parse: 400, limit: 400, protocol: 400, config: 400,
  auth: 401, 'not-found': 404, conflict: 409, 'invalid-state': 409, transport: 503,
};

type Body = Readonly<Record<string, unknown>>;

/** The secrets a guesser can try: the admin password and the first-run setup code. */
type Credential = 'admin' | 'setup';

function body(req: FastifyRequest): Body {
  const b = req.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw new CommandError('parse', 'the request body must be a JSON object');
  return b as Body;
}

function param(req: FastifyRequest, name: string): string {
  const v = (req.params as Record<string, unknown> | undefined)?.[name];
  if (typeof v !== 'string' || v === '') throw new CommandError('parse', `missing ${name}`, name);
  return v;
}

/** Only these fields of a body reach a command: nothing can smuggle other arguments in. */
function pick(b: Body, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) if (b[f] !== undefined) out[f] = b[f];
  return out;
}

function passwordField(b: Body, name: string): string {
  const v = b[name];
  if (typeof v !== 'string' || v === '') throw new CommandError('config', `${name} is required`, name);
  return v;
}

/** Where the API lives; every route under it is registered inside one plugin. */
export const API_PREFIX = '/api';

/** Registers the API as one encapsulated plugin under /api (loaded by fastify's ready() or listen()). */
export function registerApi(root: FastifyInstance, deps: ApiDeps): { closeStreams: () => void } {
  const streams = new Set<() => void>();
  root.decorateRequest('adminSession', null);
  void root.register(async (app) => { apiPlugin(app, deps, streams); }, { prefix: API_PREFIX });
  return { closeStreams: () => { for (const close of [...streams]) close(); } };
}

function apiPlugin(app: FastifyInstance, deps: ApiDeps, streams: Set<() => void>): void {
  const { store, execute, sessions, counters, log } = deps;
  const t = deps.loginThrottle;
  const throttle = new AuthThrottle({
    clock: deps.clock, limit: t?.limit ?? LOGIN_FAIL_LIMIT, windowMs: t?.windowMs ?? LOGIN_FAIL_WINDOW_MS, blockMs: t?.blockMs ?? LOGIN_BLOCK_MS,
  });
  const accountDelay = new AccountDelay(deps.clock, deps.accountDelay);


  // The one place a reply's type is asserted: `execute` runs executeCommand,
  // whose every case is checked against CommandReplies where it is built.
  const exec = <C extends CommandName>(command: C, args: Record<string, unknown> = {}): Promise<CommandReplies[C]> =>
    execute({ command, args }) as Promise<CommandReplies[C]>;

  const startSession = (reply: FastifyReply): SessionToken => {
    const s = sessions.create();
    void reply.setCookie(SESSION_COOKIE, s.id, { path: '/', httpOnly: true, secure: true, sameSite: 'strict' });
    return { csrfToken: s.csrfToken };
  };

  /**
   * Two throttles guard every password or setup-code check: one per source
   * address, one per credential across all addresses. Returns the 429 reply
   * when either says wait, or null when the attempt may be checked.
   */
  const refuseGuess = (reply: FastifyReply, ip: string, credential: Credential): FastifyReply | null => {
    if (throttle.isBlocked(ip)) {
      counters.inc('admin.login.throttled');
      return reply.code(429).header('retry-after', String(Math.ceil((t?.blockMs ?? LOGIN_BLOCK_MS) / 1000)))
        .send({ error: 'too many failed attempts from this address; try again later' } satisfies ApiErrorBody);
    }
    const wait = accountDelay.waitMs(credential);
    if (wait > 0) {
      counters.inc('admin.login.delayed');
      return reply.code(429).header('retry-after', String(Math.ceil(wait / 1000)))
        .send({ error: `too many failed attempts for this ${credential === 'setup' ? 'setup code' : 'account'}; try again in ${Math.ceil(wait / 1000)} s` } satisfies ApiErrorBody);
    }
    return null;
  };
  const guessFailed = (ip: string, credential: Credential): void => {
    throttle.recordFailure(ip);
    const before = accountDelay.waitMs(credential);
    accountDelay.recordFailure(credential);
    if (before === 0 && accountDelay.waitMs(credential) > 0) log.warn({ credential }, 'repeated failed admin logins: further attempts are delayed');
  };
  const guessSucceeded = (ip: string, credential: Credential): void => {
    throttle.recordSuccess(ip);
    accountDelay.recordSuccess(credential);
  };

  // Authentication and CSRF run before the body is even parsed. The hook
  // belongs to this plugin, so it guards exactly the routes registered in it,
  // as the router matched them: it never looks at the URL. (A check on the
  // raw URL's prefix once let `/%61pi/...` through while the router decoded
  // it to `/api/...`.) The servers also refuse non-canonical paths before
  // routing (canonical.ts).
  app.addHook('onRequest', async (req, reply) => {
    void reply.header('cache-control', 'no-store');
    const changes = req.method !== 'GET' && req.method !== 'HEAD';
    // A browser says where a request comes from; refuse changes from other sites
    // even before the SameSite cookie and CSRF token would.
    if (changes) {
      const origin = req.headers.origin;
      const site = req.headers['sec-fetch-site'];
      if ((origin !== undefined && origin !== `https://${req.headers.host ?? ''}`) || site === 'cross-site') {
        counters.inc('admin.reject.origin');
        return reply.code(403).send({ error: 'cross-site request refused' } satisfies ApiErrorBody);
      }
    }
    if (req.routeOptions.config?.public === true) return;
    const session = sessions.touch(req.cookies[SESSION_COOKIE]);
    if (!session) {
      counters.inc('admin.reject.unauthenticated');
      return reply.code(401).send({ error: 'log in first' } satisfies ApiErrorBody);
    }
    if (changes) {
      const token = req.headers[CSRF_HEADER];
      if (typeof token !== 'string' || !tokensEqual(token, session.csrfToken)) {
        counters.inc('admin.reject.csrf');
        return reply.code(403).send({ error: 'missing or wrong CSRF token; reload the page' } satisfies ApiErrorBody);
      }
    }
    req.adminSession = session;
  });

  app.setErrorHandler((err, req, reply) => {
    if (isPbxError(err)) {
      const field = err instanceof CommandError ? err.field : undefined;
      const problems = err instanceof CommandError ? err.problems : undefined;
      return reply.code(STATUS_OF[err.code]).send({ error: err.message, code: err.code, ...(field ? { field } : {}), ...(problems ? { problems } : {}) } satisfies ApiErrorBody);
    }
    const status = (err as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return reply.code(status).send({ error: err instanceof Error ? err.message : 'bad request' } satisfies ApiErrorBody);
    }
    counters.inc('admin.error.internal');
    log.error({ method: req.method, route: req.routeOptions?.url ?? '(no route)', err: err instanceof Error ? err.message : String(err) }, 'admin API error');
    return reply.code(500).send({ error: 'internal error' } satisfies ApiErrorBody);
  });

  /* ---- first run, login, logout ---- */

  app.get('/setup', { config: { public: true } }, async (req): Promise<SetupState> => ({
    needsSetup: store.data.admin.passwordHash === null,
    loggedIn: sessions.peek(req.cookies[SESSION_COOKIE]) !== undefined,
  }));

  app.post('/setup', { config: { public: true } }, async (req, reply) => {
    const ip = req.ip;
    const refused = refuseGuess(reply, ip, 'setup');
    if (refused) return refused;
    const b = body(req);
    const code = typeof b.setupCode === 'string' ? b.setupCode.trim().toUpperCase() : '';
    const password = passwordField(b, 'password');
    const stored = store.data.admin.setupCode;
    if (store.data.admin.passwordHash !== null || stored === null) {
      throw new CommandError('conflict', 'the admin password is already set; log in instead');
    }
    if (code === '' || !tokensEqual(code, stored)) {
      guessFailed(ip, 'setup');
      counters.inc('admin.setup.bad-code');
      throw new CommandError('auth', 'wrong setup code: use the code printed on the console', 'setupCode');
    }
    let hash: string;
    try {
      hash = await hashPassword(password);
    } catch (e) {
      if (isPbxError(e)) throw new CommandError('config', e.message, 'password');
      throw e;
    }
    await store.update((d) => {
      // Two browsers racing: the first one wins.
      if (d.admin.passwordHash !== null) throw new CommandError('conflict', 'the admin password is already set; log in instead');
      d.admin.passwordHash = hash;
      d.admin.setupCode = null;
    });
    guessSucceeded(ip, 'setup');
    log.info({ from: ip }, 'admin password set with the setup code');
    return startSession(reply);
  });

  app.post('/login', { config: { public: true } }, async (req, reply) => {
    const ip = req.ip;
    const refused = refuseGuess(reply, ip, 'admin');
    if (refused) return refused;
    const password = passwordField(body(req), 'password');
    const hash = store.data.admin.passwordHash;
    if (hash === null) throw new CommandError('invalid-state', 'no admin password yet: set one with the setup code');
    if (!(await verifyPassword(password, hash))) {
      guessFailed(ip, 'admin');
      counters.inc('admin.login.failed');
      log.warn({ from: ip }, 'admin login failed');
      throw new CommandError('auth', 'wrong password', 'password');
    }
    guessSucceeded(ip, 'admin');
    return startSession(reply);
  });

  app.get('/session', async (req): Promise<SessionToken> => {
    // The hook above refuses a request without a session before it gets here.
    if (!req.adminSession) throw new CommandError('auth', 'log in first');
    return { csrfToken: req.adminSession.csrfToken };
  });

  app.post('/logout', async (req, reply) => {
    if (req.adminSession) sessions.destroy(req.adminSession.id);
    void reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, secure: true, sameSite: 'strict' });
    return { loggedOut: true } satisfies LoggedOut;
  });

  app.post('/admin/password', async (req, reply) => {
    const ip = req.ip;
    const refused = refuseGuess(reply, ip, 'admin');
    if (refused) return refused;
    const b = body(req);
    const current = passwordField(b, 'current');
    const next = passwordField(b, 'password');
    const hash = store.data.admin.passwordHash;
    if (hash === null || !(await verifyPassword(current, hash))) {
      guessFailed(ip, 'admin');
      throw new CommandError('auth', 'the current password is wrong', 'current');
    }
    let newHash: string;
    try {
      newHash = await hashPassword(next);
    } catch (e) {
      if (isPbxError(e)) throw new CommandError('config', e.message, 'password');
      throw e;
    }
    await store.update((d) => { d.admin.passwordHash = newHash; });
    guessSucceeded(ip, 'admin');
    // Every other session was opened with the old password: end them.
    sessions.clear();
    return startSession(reply);
  });

  /* ---- status and live updates ---- */

  app.get('/status', async () => exec('status'));

  app.get('/events', async (req, reply) => {
    if (streams.size >= MAX_EVENT_STREAMS) return reply.code(503).send({ error: 'too many live views open' } satisfies ApiErrorBody);
    const sessionId = req.adminSession?.id;
    reply.hijack();
    const res: ServerResponse = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-accel-buffering': 'no',
    });
    let timer: TimerHandle | null = null;
    let heartbeat: TimerHandle | null = null;
    let open = true;
    const send = async (): Promise<void> => {
      timer = null;
      try {
        const status = await exec('status');
        if (open) res.write(`event: status\ndata: ${JSON.stringify(status)}\n\n`);
      } catch (e) {
        log.warn({ err: e instanceof Error ? e.message : String(e) }, 'live status failed');
      }
    };
    const schedule = (): void => {
      if (open && timer === null) timer = deps.clock.setTimer(LIVE_COALESCE_MS, () => void send());
    };
    const beat = (): void => {
      if (!open) return;
      // Streams do not refresh the idle timer, but end when the session does.
      if (!sessions.peek(sessionId)) {
        res.write('event: logout\ndata: {}\n\n');
        close();
        return;
      }
      res.write(': ping\n\n');
      heartbeat = deps.clock.setTimer(LIVE_HEARTBEAT_MS, beat);
    };
    const off = deps.live.onChange(schedule);
    const wantsLogs = (req.query as Record<string, unknown> | undefined)?.logs === '1';
    // Nothing in here logs: a line about writing a line would loop.
    const offLogs = wantsLogs && deps.logs ? deps.logs.onLine((line) => {
      if (!open) return;
      // A viewer that stopped reading would buffer every line: let it go, its page reconnects.
      if (res.writableLength > LIVE_MAX_BUFFERED) { close(); return; }
      res.write(`event: log\ndata: ${JSON.stringify(line)}\n\n`);
    }) : () => {};
    const close = (): void => {
      if (!open) return;
      open = false;
      off();
      offLogs();
      timer?.cancel();
      heartbeat?.cancel();
      streams.delete(close);
      res.end();
    };
    streams.add(close);
    res.on('close', close);
    heartbeat = deps.clock.setTimer(LIVE_HEARTBEAT_MS, beat);
    await send();
  });

  /* ---- extensions ---- */

  app.get('/accounts', async () => exec('account.list'));
  app.post('/accounts', async (req) => {
    const b = body(req);
    const args = pick(b, ['extension', 'password', 'name', 'policy', 'tlsOnly']);
    if (args.password === undefined || args.password === '') {
      delete args.password;
      args.generatePassword = true;
    }
    return exec('account.add', args);
  });
  app.patch('/accounts/:extension', async (req) =>
    exec('account.update', {
      ...pick(body(req), ['name', 'policy', 'tlsOnly']),
      // Media abilities, forwarding, do-not-disturb, call waiting, voicemail (issue 16's extensions page).
      ...pick(body(req), ['media', 'requireMedia', 'forwardAlways', 'forwardBusy', 'forwardNoAnswer', 'noAnswerSec', 'dnd', 'callWaiting', 'voicemail', 'voicemailPin']),
      extension: param(req, 'extension'),
    }));
  app.delete('/accounts/:extension', async (req) => exec('account.remove', { extension: param(req, 'extension') }));
  app.post('/accounts/:extension/password', async (req) =>
    exec('account.password', { ...pick(body(req), ['password']), extension: param(req, 'extension') }));

  /* ---- policies ---- */

  app.get('/policies', async () => exec('policy.list'));
  app.post('/policies', async (req) => exec('policy.add', pick(body(req), ['name', 'callerStream', 'calleeStream'])));
  app.put('/policies/:name', async (req) =>
    exec('policy.update', { ...pick(body(req), ['callerStream', 'calleeStream']), name: param(req, 'name') }));
  app.delete('/policies/:name', async (req) => exec('policy.remove', { name: param(req, 'name') }));

  /* ---- trunks (read-only here; `pbx trunk|route|did` change them) ---- */

  app.get('/trunks', async () => exec('trunk.list'));
  app.get('/routes', async () => exec('route.list'));
  app.get('/dids', async () => exec('did.list'));

  /* ---- certificates ---- */

  app.get('/certs', async () => exec('cert.info'));
  app.get('/certs/history', async () => exec('cert.history'));
  app.post('/certs/renew', async () => exec('cert.renew'));
  app.post('/certs/custom', async (req) => exec('cert.install', pick(body(req), ['certPem', 'chainPem', 'keyPem'])));

  /* ---- sources the SIP digest throttle blocks ---- */

  // block.* are not (yet) in CommandReplies: their views come from the control module.
  app.get('/blocks', async () => execute({ command: 'block.list', args: {} }) as Promise<readonly BlockView[]>);
  app.delete('/blocks/:address', async (req) =>
    execute({ command: 'block.remove', args: { address: param(req, 'address'), by: 'web' } }) as Promise<BlockRemoved>);

  /* ---- toll-fraud alarms (pbx/trunks/surge.ts) ---- */

  app.get('/alarms', async () => execute({ command: 'alarm.list', args: {} }) as Promise<readonly TollAlarmView[]>);
  app.delete('/alarms/:extension', async (req) =>
    execute({ command: 'alarm.clear', args: { extension: param(req, 'extension') } }) as Promise<{ cleared: string }>);

  /* ---- call history ---- */

  app.get('/calls/history', async (req) => {
    const q = (req.query ?? {}) as Record<string, unknown>;
    const raw = q.limit;
    let limit: number | undefined;
    if (raw !== undefined) {
      limit = Number(raw);
      if (typeof raw !== 'string' || !/^\d{1,6}$/.test(raw)) throw new CommandError('config', 'limit must be a whole number', 'limit');
    }
    const filter = parseHistoryFilter(q);
    if (Object.keys(filter).length === 0) return exec('calls.history', limit === undefined ? {} : { limit });
    // Filters look through all the history the box keeps, then the newest `limit` of what matches.
    const all = await exec('calls.history', { limit: MAX_CALL_HISTORY });
    return filterHistory(all, filter).slice(0, limit ?? DEFAULT_CALL_HISTORY);
  });
  app.get('/calls/history.csv', async (req, reply) => {
    const filter = parseHistoryFilter((req.query ?? {}) as Record<string, unknown>);
    const rows = filterHistory(await exec('calls.history', { limit: MAX_CALL_HISTORY }), filter);
    return reply.header('content-type', 'text/csv; charset=utf-8')
      .header('content-disposition', 'attachment; filename="call-history.csv"').send(historyCsv(rows));
  });

  /* ---- desk phones and device certificates (issue 12; control/phones.ts) ---- */

  const run = (command: string, args: Record<string, unknown> = {}): Promise<unknown> => execute({ command, args });
  app.get('/phones', async () => run('phone.list'));
  app.get('/phones/fetches', async () => run('phone.fetches'));
  app.post('/phones', async (req) => run('phone.assign', pick(body(req), ['mac', 'extension', 'vendor', 'passwordMode', 'fetchDigest'])));
  app.post('/phones/:mac/reset-once', async (req) => run('phone.reset-once', { mac: param(req, 'mac') }));
  app.post('/phones/:mac/window', async (req) => run('phone.window', { ...pick(body(req), ['minutes']), mac: param(req, 'mac') }));
  app.get('/phones/:mac/preview', async (req) => run('phone.preview', { mac: param(req, 'mac') }));
  app.delete('/phones/:mac', async (req) => run('phone.remove', { mac: param(req, 'mac') }));
  app.put('/accounts/:extension/tls-mode', async (req) => run('account.tls-mode', { ...pick(body(req), ['tlsMode']), extension: param(req, 'extension') }));
  app.get('/certs/devices', async () => run('cert.devices'));
  // The PKCS#12 and its one-time passphrase are in this one answer only (the page offers the file once).
  app.post('/certs/devices', async (req) => run('cert.issue-device', pick(body(req), ['extension', 'passphrase'])));
  app.delete('/certs/devices/:serial', async (req) => run('cert.revoke-device', { serial: param(req, 'serial') }));
  for (const add of deps.routes ?? []) add(app);

}
