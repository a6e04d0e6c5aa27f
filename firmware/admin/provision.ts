import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ClientCertFacts, ProvisioningService } from '../provisioning/index.js';

/**
 * /provision/<file> on both admin servers (issue 12): HTTPS serves the
 * phones' files (the service decides what each request may get), plain HTTP
 * the CA and a bootstrap that points at HTTPS, never a secret. The HTTPS
 * server asks for (never requires) a client certificate, so a phone's
 * factory certificate or a box-issued one can authenticate it here.
 */

export const PROVISION_PREFIX = '/provision/';

function clientCert(req: FastifyRequest): ClientCertFacts | null {
  const sock = req.raw.socket as Partial<TLSSocket>;
  if (typeof sock.getPeerCertificate !== 'function') return null;
  const c = sock.getPeerCertificate();
  if (!c || typeof c.fingerprint256 !== 'string' || c.fingerprint256 === '') return null;
  const cn = c.subject && typeof c.subject.CN === 'string' ? c.subject.CN : null;
  return { authorized: sock.authorized === true, subjectCn: cn, subjectAltName: typeof c.subjectaltname === 'string' ? c.subjectaltname : null, fingerprint256: c.fingerprint256 };
}

function handler(svc: ProvisioningService, secure: boolean) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const file = (req.params as { file?: unknown }).file;
    const ua = req.headers['user-agent'];
    const r = await svc.handle({
      file: typeof file === 'string' ? file : '',
      secure,
      source: req.ip,
      method: req.method,
      userAgent: typeof ua === 'string' ? ua : undefined,
      authorization: typeof req.headers.authorization === 'string' ? req.headers.authorization : undefined,
      clientCert: secure ? clientCert(req) : null,
    });
    return reply.code(r.status).headers(r.headers).send(r.body);
  };
}

/** Registers the provisioning routes; server.ts calls this once per server. */
export function addProvisionRoutes(app: FastifyInstance, svc: ProvisioningService | undefined, secure: boolean): void {
  if (!svc) return;
  app.get(`${PROVISION_PREFIX}:file`, handler(svc, secure));
}
