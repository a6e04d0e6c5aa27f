import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { CallView } from '../api/index.js';
import type { Clock, Counters, Logger, Random } from '../core/index.js';
import type { SipWebSocket } from '../sip/transport/index.js';
import { SessionStore } from './sessions.js';

/**
 * The browser phone's side of the admin HTTPS server (issue 10):
 *
 * - `/sip`: SIP over secure WebSocket (RFC 7118). The upgrade must name the
 *   "sip" subprotocol (RFC 7118 4.1) and, from a browser, come from a page of
 *   this very origin; the upgraded socket goes to the SIP transports, where
 *   it is a flow like a TLS connection (digest auth, the digest throttle and
 *   the connection limits all apply there). It rides the HTTPS server, so it
 *   has the admin certificate, and a renewed one for every new connection.
 * - `/phone`: the phone page. Its user logs in with the extension's own SIP
 *   password (never the admin's), checked against the account's digest hash
 *   under the same per-address throttle as SIP; the phone session it gets
 *   shows that extension's calls only, with each leg's protection.
 */

export const SIP_WS_PATH = '/sip';
export const PHONE_PATH = '/phone';
export const PHONE_API = '/phone/api';
export const PHONE_COOKIE = 'pbx_phone';
/** Largest WebSocket message: one SIP message, the same cap as a stream transport's buffer. */
export const SIP_WS_MAX_MESSAGE = 128 * 1024;
/** Phone sessions held at once (one per browser tab logged in). */
export const PHONE_SESSION_IDLE_MS = 12 * 60 * 60 * 1000;

export type PhoneLogin = 'ok' | 'wrong' | 'blocked';

export interface PhoneDeps {
  /** Checks an extension's SIP password, counting failures against the address like a failed REGISTER. */
  readonly checkPassword: (extension: string, password: string, address: string) => Promise<PhoneLogin>;
  /** The live calls with this extension on a leg. */
  readonly calls: (extension: string) => readonly CallView[];
  /** Hands an upgraded SIP WebSocket to the SIP transports; false when refused there. */
  readonly sipWebSocket: (conn: SipWebSocket) => boolean;
}

/** The phone page's document: the admin page's headers, but the microphone allowed for this origin. */
export const PHONE_PERMISSIONS = 'camera=(), microphone=(self), geolocation=()';

interface PhoneSession { readonly extension: string }

function hostPort(header: string | undefined): string {
  return (header ?? '').trim().toLowerCase();
}

/** Same origin: an Origin header, when there is one, names https and the Host the request was sent to. */
export function sameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true;
  return origin.toLowerCase() === `https://${hostPort(host)}`;
}

/** The `ws` socket behind the transports' narrow interface. */
function adapt(ws: WebSocket, req: IncomingMessage): SipWebSocket {
  const sock = req.socket;
  return {
    remoteAddress: sock.remoteAddress ?? '',
    remotePort: sock.remotePort ?? 0,
    localAddress: sock.localAddress ?? '',
    localPort: sock.localPort ?? 0,
    get bufferedAmount() { return ws.bufferedAmount; },
    get open() { return ws.readyState === ws.OPEN; },
    send: (data) => { ws.send(data, { binary: typeof data !== 'string' }); },
    terminate: () => { ws.terminate(); },
    onMessage: (fn) => {
      ws.on('message', (data: RawData) => {
        fn(Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data));
      });
    },
    onClose: (fn) => { ws.once('close', fn); },
  };
}

/**
 * Upgrades on the HTTPS server: only `/sip`, only with the "sip" subprotocol,
 * only from this origin; anything else gets a plain HTTP error and a close.
 */
export function attachSipWebSocket(server: { on(event: 'upgrade', fn: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): unknown },
  deps: PhoneDeps, counters: Counters, log: Logger): { close(): void } {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: SIP_WS_MAX_MESSAGE,
    perMessageDeflate: false,
    clientTracking: true,
    handleProtocols: (protocols) => (protocols.has('sip') ? 'sip' : false),
  });
  const refuse = (socket: Duplex, status: number, text: string, reason: string): void => {
    counters.inc(`admin.ws.${reason}`);
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    socket.destroy();
  };
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    if (req.url !== SIP_WS_PATH) return refuse(socket, 404, 'Not Found', 'path');
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim().toLowerCase());
    if (!protocols.includes('sip')) return refuse(socket, 400, 'Bad Request', 'no-sip-protocol');
    // A page of another site must not drive a phone's SIP from its visitor's browser.
    if (!sameOrigin(req.headers.origin, req.headers.host)) return refuse(socket, 403, 'Forbidden', 'origin');
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => ws.terminate());
      if (!deps.sipWebSocket(adapt(ws, req))) {
        counters.inc('admin.ws.refused');
        return;
      }
      counters.inc('admin.ws.accepted');
      log.debug({ from: req.socket.remoteAddress }, 'SIP WebSocket accepted');
    });
  });
  return {
    close: () => {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
    },
  };
}

/** The phone page and its small API (login with the extension's SIP password, its calls, logout). */
export function phoneRoutes(app: FastifyInstance, deps: PhoneDeps, o: { clock: Clock; random: Random; counters: Counters; log: Logger; pageFile: string | null }): void {
  const sessions = new SessionStore(o.clock, o.random, PHONE_SESSION_IDLE_MS);
  const owners = new Map<string, PhoneSession>();
  const sessionOf = (req: FastifyRequest): PhoneSession | undefined => {
    const id = req.cookies[PHONE_COOKIE];
    const s = sessions.touch(id);
    if (s === undefined) {
      if (id !== undefined) owners.delete(id);
      return undefined;
    }
    return owners.get(s.id);
  };
  const noStore = (reply: FastifyReply): FastifyReply => reply.header('cache-control', 'no-store');

  app.get(PHONE_PATH, async (_req, reply) => {
    void reply.header('permissions-policy', PHONE_PERMISSIONS);
    if (o.pageFile === null) return reply.type('text/plain; charset=utf-8').send('The phone page is not built: run npm run build.\n');
    return reply.sendFile(o.pageFile);
  });

  app.post(`${PHONE_API}/login`, async (req, reply) => {
    noStore(reply);
    if (!sameOrigin(req.headers.origin, req.headers.host) || req.headers['sec-fetch-site'] === 'cross-site') {
      o.counters.inc('admin.phone.origin');
      return reply.code(403).send({ error: 'cross-site request refused' });
    }
    const b = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, unknown>;
    const extension = typeof b.extension === 'string' ? b.extension.trim() : '';
    const password = typeof b.password === 'string' ? b.password : '';
    if (extension === '' || password === '' || extension.length > 64 || password.length > 256) {
      return reply.code(400).send({ error: 'extension and password are required', field: extension === '' ? 'extension' : 'password' });
    }
    const verdict = await deps.checkPassword(extension, password, req.ip);
    if (verdict === 'blocked') {
      o.counters.inc('admin.phone.throttled');
      return reply.code(429).send({ error: 'too many failed attempts from this address; try again later' });
    }
    if (verdict === 'wrong') {
      o.counters.inc('admin.phone.login-failed');
      o.log.warn({ from: req.ip }, 'phone page login failed');
      // The same answer for an unknown extension and a wrong password.
      return reply.code(401).send({ error: 'wrong extension or password', field: 'password' });
    }
    const s = sessions.create();
    owners.set(s.id, { extension });
    for (const id of [...owners.keys()]) if (sessions.peek(id) === undefined) owners.delete(id);
    void reply.setCookie(PHONE_COOKIE, s.id, { path: PHONE_PATH, httpOnly: true, secure: true, sameSite: 'strict' });
    return { extension, sipPath: SIP_WS_PATH };
  });

  app.get(`${PHONE_API}/calls`, async (req, reply) => {
    noStore(reply);
    const s = sessionOf(req);
    if (s === undefined) return reply.code(401).send({ error: 'log in first' });
    return { extension: s.extension, calls: deps.calls(s.extension) };
  });

  app.post(`${PHONE_API}/logout`, async (req, reply) => {
    noStore(reply);
    const id = req.cookies[PHONE_COOKIE];
    if (id !== undefined) {
      sessions.destroy(id);
      owners.delete(id);
    }
    void reply.clearCookie(PHONE_COOKIE, { path: PHONE_PATH, httpOnly: true, secure: true, sameSite: 'strict' });
    return { loggedOut: true };
  });
}
