import type { Server as HttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from '../core/index.js';

/**
 * The admin web servers. HTTPS on the web port with the box's own certificate
 * (swapped in place when it renews); plain HTTP on the http port serves only
 * what a phone needs before it trusts the box (the CA certificate) and
 * redirects everything else to HTTPS.
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
}

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000',
};

const PLACEHOLDER = fileURLToPath(new URL('../../../webui/placeholder.html', import.meta.url));

function addCaRoutes(app: FastifyInstance, opts: AdminServerOptions): void {
  app.get('/ca.crt', async (_req, reply) =>
    reply.header('content-type', 'application/x-pem-file')
      .header('content-disposition', 'attachment; filename="pbx-ca.crt"').send(opts.caPem()));
  app.get('/ca.der', async (_req, reply) =>
    reply.header('content-type', 'application/x-x509-ca-cert')
      .header('content-disposition', 'attachment; filename="pbx-ca.der"').send(opts.caDer()));
}

export class AdminServer {
  private https: FastifyInstance<HttpsServer> | null = null;
  private http: FastifyInstance | null = null;
  webPort = 0;
  httpPort = 0;

  constructor(private readonly opts: AdminServerOptions) {}

  async start(): Promise<{ webPort: number; httpPort: number }> {
    const { opts } = this;
    const https = Fastify({ https: { key: opts.tls.key, cert: opts.tls.cert }, logger: false }) as unknown as FastifyInstance<HttpsServer>;
    https.addHook('onSend', async (_req, reply) => { reply.headers(SECURITY_HEADERS); });
    addCaRoutes(https as unknown as FastifyInstance, opts);
    const page = readFileSync(PLACEHOLDER, 'utf8');
    https.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(page));
    https.get('/api/health', async () => ({ ok: true }));
    await https.listen({ host: opts.bind, port: opts.webPort });
    this.https = https;
    this.webPort = (https.server.address() as { port: number }).port;

    const http = Fastify({ logger: false });
    addCaRoutes(http, opts);
    http.setNotFoundHandler(async (req, reply) => {
      const host = (req.headers.host ?? opts.bind).replace(/:\d+$/, '');
      const target = `https://${host}:${this.webPort}${req.url}`;
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
    this.https?.server.setSecureContext({ key: tls.key, cert: tls.cert });
  }

  async stop(): Promise<void> {
    const [a, b] = [this.https, this.http];
    this.https = null;
    this.http = null;
    await Promise.all([a?.close(), b?.close()]);
  }
}
