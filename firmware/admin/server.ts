import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance, type RouteHandlerMethod } from 'fastify';
import type { ConfigStore } from '../config/index.js';
import type { ControlRequest } from '../control/index.js';
import { refuseRenegotiation, tlsServerPolicy } from '../sip/transport/index.js';
import { Counters, cryptoRandom, systemClock, type Clock, type Logger, type LogBuffer, type Random } from '../core/index.js';
import { API_PREFIX, type LiveSource, type RouteInfo, registerApi } from './api.js';
import { checkCanonicalPath } from './canonical.js';
import { SessionStore } from './sessions.js';
import type { AccountDelayOptions } from './throttle.js';
import type { ProvisioningService } from '../provisioning/index.js';
import { addProvisionRoutes } from './provision.js';
import type { BackupService } from '../backup/index.js';
import { AuditLog, auditRoutes } from './audit.js';
import { backupRoutes } from './backup-routes.js';
import { logRoutes, qualityRoutes, recordingRoutes, type QualitySource } from './views-routes.js';
import { operationRoutes } from './operations-routes.js';
import type { RecordingStore } from '../recording/index.js';
import { attachSipWebSocket, phoneRoutes, PHONE_PATH, PHONE_PERMISSIONS, type PhoneDeps } from './phone.js';

/**
 * The admin web servers. HTTPS on the web port with the box's own certificate
 * (swapped in place when it renews) serves the page (built from webui/ into
 * dist/webui) and its JSON API; plain HTTP on the http port serves only what
 * a phone needs before it trusts the box (the CA certificate) and redirects
 * everything else to HTTPS.
 */

export interface TlsMaterial {
  readonly key: string;
  readonly cert: string;
}

export interface AdminServerOptions {
  readonly bind: string;
  readonly webPort: number;
  readonly httpPort: number;
  readonly tls: TlsMaterial;
  /** The CA certificate, PEM; read on each request so a new CA is served at once. */
  readonly caPem: () => string;
  readonly caDer: () => Buffer;
  readonly log: Logger;
  /** Holds the admin password hash and the one-time setup code. */
  readonly store: ConfigStore;
  /** Runs a `pbx` command (control/commands.ts) in the running appliance. */
  readonly execute: (req: ControlRequest) => Promise<unknown>;
  /** Fires when registrations, calls, LEDs or the config change. */
  readonly live: LiveSource;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly counters?: Counters;
  /** The built page; dist/webui by default. */
  readonly staticDir?: string;
  /** Overrides for tests. */
  readonly loginThrottle?: { readonly limit: number; readonly windowMs: number; readonly blockMs: number };
  readonly accountDelay?: AccountDelayOptions;
  readonly sessionIdleMs?: number;
  /**
   * The names and addresses the box answers to (lower case). The plain-HTTP
   * redirect keeps the Host the browser used only when it is one of these;
   * otherwise it sends the browser to `defaultHost`.
   */
  readonly selfHosts?: () => ReadonlySet<string>;
  /** Where redirects point when the Host header is not one of the box's names; the bind address by default. */
  readonly defaultHost?: string;
  /** Called as each route's handler starts, with the route's method and pattern (instrumentation for tests). */
  readonly onHandler?: (method: string, url: string) => void;
  /** Phones' files under /provision/ (issue 12; admin/provision.ts). */
  readonly provisioning?: ProvisioningService;
  /**
   * CAs a client certificate may chain to (the box's, uploaded vendor CAs):
   * when given, HTTPS asks for a client certificate but never requires one,
   * so a phone can authenticate its provisioning fetch with it.
   */
  readonly clientCa?: () => readonly string[];
  /** Backup and restore from the page (routes only when given). */
  readonly backups?: BackupService;
  /** The log view's lines (core LogBuffer): GET /api/logs and `log` events on the event stream. */
  readonly logs?: LogBuffer;
  /** Per-call media figures over time (status CallQuality): GET /api/calls/:id/quality. */
  readonly quality?: QualitySource;
  /** Recordings to play, download and delete from the page (issue 9). */
  readonly recordings?: RecordingStore;
  /** The browser phone: SIP over secure WebSocket on /sip and the page on /phone (admin/phone.ts). */
  readonly phone?: PhoneDeps;
}

/** Largest request body: a certificate chain and key fit easily. */
export const MAX_BODY_BYTES = 256 * 1024;

const CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "object-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CSP,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
};

export const DEFAULT_STATIC_DIR = fileURLToPath(new URL('../../webui/', import.meta.url));

/**
 * The request listener both servers use: a path that is not in canonical form
 * (canonical.ts) is refused with 404 before fastify routes it, so no hook,
 * guard or handler ever sees a second spelling of a path.
 */
function canonicalOnly(counters: Counters, handler: (req: IncomingMessage, res: ServerResponse) => void) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const verdict = checkCanonicalPath(req.url ?? '');
    if (verdict.ok) {
      handler(req, res);
      return;
    }
    counters.inc(`admin.reject.path.${verdict.reason}`);
    res.writeHead(404, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ error: 'not found' }));
  };
}

/** The host part of a Host header value, lower case, without port or IPv6 brackets. */
function hostName(header: string | undefined): string {
  const h = (header ?? '').trim().toLowerCase();
  const v6 = /^\[([0-9a-f:.]+)\](?::\d+)?$/.exec(h);
  if (v6) return v6[1]!;
  return h.replace(/:\d+$/, '');
}

function addCaRoutes(app: FastifyInstance, opts: AdminServerOptions): void {
  app.get('/ca.crt', async (_req, reply) =>
    reply.header('content-type', 'application/x-pem-file')
      .header('content-disposition', 'attachment; filename="pbx-ca.crt"').send(opts.caPem()));
  app.get('/ca.der', async (_req, reply) =>
    reply.header('content-type', 'application/x-x509-ca-cert')
      .header('content-disposition', 'attachment; filename="pbx-ca.der"').send(opts.caDer()));
}

export class AdminServer {
  private https: FastifyInstance | null = null;
  private http: FastifyInstance | null = null;
  private closeStreams: () => void = () => {};
  private closeSipWs: () => void = () => {};
  private readonly table: RouteInfo[] = [];
  readonly counters: Counters;
  webPort = 0;
  httpPort = 0;

  constructor(private readonly opts: AdminServerOptions) {
    this.counters = opts.counters ?? new Counters();
  }

  /** Every route of the HTTPS server (HEAD twins aside), from fastify's own table: the security tests walk it. */
  get routes(): readonly RouteInfo[] {
    return this.table;
  }

  async start(): Promise<{ webPort: number; httpPort: number }> {
    const { opts } = this;
    const clock = opts.clock ?? systemClock;
    const counters = this.counters;
    const https = Fastify({
      serverFactory: (handler) => {
        // The same TLS policy as SIP's 5061: TLS 1.2/1.3, ECDHE with AEAD, no renegotiation.
        const server = createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert, ...tlsServerPolicy(), ...this.clientAuth() }, canonicalOnly(counters, handler));
        server.on('secureConnection', (sock) => refuseRenegotiation(sock, () => counters.inc('admin.tls-renegotiation-refused')));
        return server;
      },
      logger: false,
      bodyLimit: MAX_BODY_BYTES,
      // Long-lived event streams must not hold up close().
      forceCloseConnections: true,
    }) as unknown as FastifyInstance;
    https.addHook('onSend', async (_req, reply) => { reply.headers(SECURITY_HEADERS); });
    // The phone page's document may use the microphone (its calls need it); nothing else may.
    if (opts.phone) https.addHook('onSend', async (req, reply) => { if (req.url === PHONE_PATH) reply.header('permissions-policy', PHONE_PERMISSIONS); });
    const probe = opts.onHandler;
    https.addHook('onRoute', (r) => {
      const api = r.prefix === API_PREFIX;
      for (const m of [r.method].flat()) {
        if (m !== 'HEAD') this.table.push({ method: m, url: r.url, api, public: !api || r.config?.public === true });
      }
    });
    if (probe) {
      https.addHook('onRoute', (r) => {
        const inner = r.handler;
        const method = [r.method].flat().join(',');
        r.handler = function (this: FastifyInstance, req, reply) {
          probe(method, r.url);
          return inner.call(this, req, reply);
        } as RouteHandlerMethod;
      });
    }
    await https.register(fastifyCookie);
    addCaRoutes(https, opts);
    addProvisionRoutes(https, opts.provisioning, true);
    const api = registerApi(https, {
      store: opts.store, execute: opts.execute, live: opts.live, clock, counters: this.counters, log: opts.log,
      sessions: new SessionStore(clock, opts.random ?? cryptoRandom, opts.sessionIdleMs),
      ...(opts.loginThrottle ? { loginThrottle: opts.loginThrottle } : {}),
      ...(opts.accountDelay ? { accountDelay: opts.accountDelay } : {}),
      // Route files inside the API (its session and CSRF checks apply), one line each.
      routes: [
        auditRoutes(new AuditLog(opts.store.dataDir, clock, opts.log)),
        ...(opts.backups ? [backupRoutes(opts.backups)] : []),
        ...(opts.logs ? [logRoutes(opts.logs)] : []),
        ...(opts.quality ? [qualityRoutes(opts.quality)] : []),
        ...(opts.recordings ? [recordingRoutes(opts.recordings, (command, args) => opts.execute({ command, args }))] : []),
        operationRoutes((command, args) => opts.execute({ command, args })),
      ],
      ...(opts.logs ? { logs: opts.logs } : {}),
    });
    this.closeStreams = api.closeStreams;
    const root = opts.staticDir ?? DEFAULT_STATIC_DIR;
    if (opts.phone) {
      phoneRoutes(https, opts.phone, { clock, random: opts.random ?? cryptoRandom, counters, log: opts.log, pageFile: existsSync(root) ? 'phone.html' : null });
      this.closeSipWs = attachSipWebSocket(https.server, opts.phone, counters, opts.log).close;
    }
    if (existsSync(root)) {
      await https.register(fastifyStatic, { root, prefix: '/', index: ['index.html'], cacheControl: false, dotfiles: 'deny' });
    } else {
      opts.log.warn({ root }, 'admin page not built; run npm run build');
      https.get('/', async (_req, reply) => reply.type('text/plain; charset=utf-8').send('The admin page is not built: run npm run build.\n'));
    }
    await https.listen({ host: opts.bind, port: opts.webPort });
    this.https = https;
    this.webPort = (https.server.address() as { port: number }).port;

    const http = Fastify({ serverFactory: (handler) => createHttpServer(canonicalOnly(counters, handler)), logger: false });
    addCaRoutes(http, opts);
    addProvisionRoutes(http, opts.provisioning, false);
    // The redirect names the box, never whatever Host the request claimed
    // (`Host: evil.example` must not send a phone or browser elsewhere).
    const fallback = opts.defaultHost ?? opts.bind;
    http.setNotFoundHandler(async (req, reply) => {
      const asked = hostName(req.headers.host);
      const own = opts.selfHosts?.() ?? new Set([opts.bind.toLowerCase()]);
      if (asked !== '' && !own.has(asked)) counters.inc('admin.redirect.foreign-host');
      const host = own.has(asked) ? asked : fallback;
      const target = `https://${host.includes(':') ? `[${host}]` : host}:${this.webPort}${req.url}`;
      return reply.code(301).header('location', target).send();
    });
    await http.listen({ host: opts.bind, port: opts.httpPort });
    this.http = http;
    this.httpPort = (http.server.address() as { port: number }).port;
    opts.log.info({ webPort: this.webPort, httpPort: this.httpPort }, 'admin web servers listening');
    return { webPort: this.webPort, httpPort: this.httpPort };
  }

  /** Swap the certificate without restarting (open connections keep theirs). */
  setTlsMaterial(tls: TlsMaterial): void {
    (this.https?.server as HttpsServer | undefined)?.setSecureContext({ key: tls.key, cert: tls.cert, ...tlsServerPolicy(), ...this.clientAuth() });
  }

  /** Ask for (never require) a client certificate, checked against clientCa; nothing when none is set. */
  private clientAuth(): { requestCert?: boolean; rejectUnauthorized?: boolean; ca?: string[] } {
    const cas = this.opts.clientCa?.();
    return cas && cas.length > 0 ? { requestCert: true, rejectUnauthorized: false, ca: [...cas] } : {};
  }

  async stop(): Promise<void> {
    const [a, b] = [this.https, this.http];
    this.https = null;
    this.http = null;
    this.closeStreams();
    this.closeSipWs();
    await Promise.all([a?.close(), b?.close()]);
  }
}
