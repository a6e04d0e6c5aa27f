import { appendFileSync, chmodSync, existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Clock, Logger } from '../core/index.js';

/**
 * The audit log: every change an admin makes (who, when, what, from where,
 * and whether it was refused), one JSON line each in DATA/audit.jsonl (0600).
 * The page can read it (GET /api/audit) but no route writes, edits or
 * deletes it. At AUDIT_ROTATE_BYTES it moves to audit.jsonl.1 (one old file
 * kept). Request bodies are never written: only the names a change is about
 * (extension, policy, address), never a password, key or passphrase.
 */

declare module 'fastify' {
  interface FastifyRequest {
    /** What the audit log says of this request, when its route knows better than describeRequest. */
    auditWhat?: string;
  }
}

export const AUDIT_FILE = 'audit.jsonl';
export const AUDIT_ROTATE_BYTES = 1024 * 1024;
const MAX_LIST = 1000;

export interface AuditEntry {
  /** ISO time. */
  readonly at: string;
  /** "admin" (the page) or "cli" (the control socket). */
  readonly who: string;
  /** The address the request came from; "local" for the CLI. */
  readonly from: string;
  /** What was done, in words. */
  readonly what: string;
  readonly ok: boolean;
  /** The reply's status (web) when refused. */
  readonly status?: number;
}

export class AuditLog {
  readonly path: string;
  constructor(dataDir: string, private readonly clock: Clock, private readonly log: Logger) {
    this.path = join(dataDir, AUDIT_FILE);
  }

  record(e: Omit<AuditEntry, 'at'>): void {
    const entry: AuditEntry = { at: new Date(this.clock.now()).toISOString(), ...e };
    try {
      if (existsSync(this.path) && statSync(this.path).size > AUDIT_ROTATE_BYTES) renameSync(this.path, `${this.path}.1`);
      appendFileSync(this.path, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
      chmodSync(this.path, 0o600);
    } catch (err) {
      this.log.error({ err: err instanceof Error ? err.message : String(err) }, 'audit log not written');
    }
    this.log.info({ audit: true, who: entry.who, from: entry.from, ok: entry.ok }, `admin change: ${entry.what}${entry.ok ? '' : ' (refused)'}`);
  }

  /** Newest first; `search` matches any field, case-insensitive. */
  recent(limit = 200, search = ''): AuditEntry[] {
    const out: AuditEntry[] = [];
    const q = search.toLowerCase();
    for (const file of [this.path, `${this.path}.1`]) {
      if (!existsSync(file)) continue;
      const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').reverse();
      for (const line of lines) {
        let e: AuditEntry;
        try { e = JSON.parse(line) as AuditEntry; } catch { continue; }
        if (q && !`${e.at} ${e.who} ${e.from} ${e.what}`.toLowerCase().includes(q)) continue;
        out.push(e);
        if (out.length >= Math.min(limit, MAX_LIST)) return out;
      }
    }
    return out;
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** A web request in words: what it changed. */
export function describeRequest(method: string, route: string, params: Record<string, unknown>, body: unknown): string {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const ext = str(params.extension) || str(b.extension);
  const name = str(params.name) || str(b.name);
  const changed = (keys: string[]): string => {
    const set = keys.filter((k) => b[k] !== undefined && b[k] !== '').map((k) => (k === 'tlsOnly' ? `tls-only=${String(b[k])}` : typeof b[k] === 'boolean' || typeof b[k] === 'number' ? `${k}=${String(b[k])}` : `${k}=${str(b[k])}`));
    return set.length ? ` (${set.join(', ')})` : '';
  };
  switch (`${method} ${route}`) {
    case 'POST /api/setup': return 'set the first admin password with the setup code';
    case 'POST /api/login': return 'logged in';
    case 'POST /api/logout': return 'logged out';
    case 'POST /api/admin/password': return 'changed the admin password';
    case 'POST /api/accounts': return `added extension ${ext}${changed(['name', 'policy', 'tlsOnly'])}`;
    case 'PATCH /api/accounts/:extension': return `changed extension ${ext}${changed(['name', 'policy', 'tlsOnly', 'media', 'requireMedia', 'forwardAlways', 'forwardBusy', 'forwardNoAnswer', 'dnd', 'callWaiting', 'voicemail'])}${b.voicemailPin ? ' (set a new mailbox PIN)' : ''}`;
    case 'DELETE /api/accounts/:extension': return `removed extension ${ext}`;
    case 'POST /api/accounts/:extension/password': return `set a new SIP password for extension ${ext}`;
    case 'POST /api/policies': return `added policy ${name}${changed(['callerStream', 'calleeStream'])}`;
    case 'PUT /api/policies/:name': return `changed policy ${name}${changed(['callerStream', 'calleeStream'])}`;
    case 'DELETE /api/policies/:name': return `removed policy ${name}`;
    case 'POST /api/certs/renew': return 'renewed the server certificate';
    case 'POST /api/certs/custom': return 'uploaded a server certificate';
    case 'DELETE /api/blocks/:address': return `unblocked ${str(params.address)}`;
    case 'POST /api/backup': return 'downloaded a backup';
    case 'POST /api/restore': return 'restored a backup';
    case 'DELETE /api/recordings/:id': return `deleted recording ${str(params.id)}`;
    case 'POST /api/calls/:id/record': return `${b.on === false ? 'stopped' : b.on === true ? 'started' : 'toggled'} recording call ${str(params.id)}`;
    case 'POST /api/moh': return 'uploaded the music on hold';
    case 'DELETE /api/moh': return 'returned the music on hold to the built-in tune';
    case 'POST /api/calls/:id/hangup': return `hung up call ${str(params.id)}`;
    case 'PUT /api/system': return `changed the system settings${changed(['realm', 'timeZone', 'ntpServer', 'sipPort', 'tlsPort', 'webPort', 'httpPort', 'rtpMin', 'rtpMax'])}`;
    case 'POST /api/phones': return `assigned phone ${str(b.mac)} to extension ${ext}${changed(['vendor', 'passwordMode'])}`;
    case 'DELETE /api/phones/:mac': return `removed phone ${str(params.mac)}`;
    case 'POST /api/phones/:mac/window': return `${b.minutes === 0 ? 'closed' : 'opened'} the provisioning window of phone ${str(params.mac)}`;
    case 'POST /api/phones/:mac/reset-once': return `let phone ${str(params.mac)} fetch its password once more`;
    case 'PUT /api/accounts/:extension/tls-mode': return `set the TLS mode of extension ${ext}${changed(['tlsMode'])}`;
    case 'POST /api/certs/devices': return `issued a device certificate for extension ${ext}`;
    case 'DELETE /api/certs/devices/:serial': return `revoked device certificate ${str(params.serial)}`;
    default: return `${method} ${route.replace(/^\/api/, '')}`;
  }
}

const READS = new Set(['status', 'cert.ca', 'cert.info', 'cert.history', 'calls.history', 'system.get', 'moh.get']);
/** Whether a control command changes something (and so belongs in the audit log). */
export function isChangeCommand(command: string): boolean {
  return !READS.has(command) && !command.endsWith('.list');
}

/** A change over the control socket (the pbx CLI) in words. */
export function describeCommand(command: string, args: Readonly<Record<string, unknown>>): string {
  const what = [args.extension, args.name, args.address].map(str).filter((v) => v !== '').join(' ');
  return `pbx ${command.replace('.', ' ')}${what ? ` ${what}` : ''}`;
}

/** The audit hook over every API route that changes something, and the one read-only route. */
export function auditRoutes(audit: AuditLog): (app: FastifyInstance) => void {
  return (app) => {
    app.addHook('onResponse', async (req: FastifyRequest, reply) => {
      if (req.method === 'GET' || req.method === 'HEAD') return;
      const route = req.routeOptions.url ?? req.url;
      // A 401 without a session or a 403 from another site is no admin's change.
      if (!req.adminSession && !['/api/login', '/api/setup'].includes(route)) return;
      const ok = reply.statusCode < 400;
      audit.record({
        who: 'admin', from: req.ip, what: req.auditWhat ?? describeRequest(req.method, route, (req.params ?? {}) as Record<string, unknown>, req.body),
        ok, ...(ok ? {} : { status: reply.statusCode }),
      });
    });
    app.get('/audit', async (req) => {
      const q = (req.query ?? {}) as Record<string, unknown>;
      const limit = typeof q.limit === 'string' && /^\d{1,4}$/.test(q.limit) ? Number(q.limit) : 200;
      return audit.recent(limit, typeof q.q === 'string' ? q.q.slice(0, 100) : '');
    });
  };
}
