import { createHash, type KeyObject } from 'node:crypto';
import { createWriteStream, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ApiErrorBody, FirmwareInstalled, FirmwarePhase, FirmwareResult, FirmwareStatus } from '../api/index.js';
import { writeFileAtomicSync, type Counters, type Logger, type Random } from '../core/index.js';
import {
  MAX_BUNDLE_BYTES, SlotStore, UpdateError, installBundle, isUpdateError, signalSupervisor, supervisorPid,
  type SlotName, type SlotState, type UpdateErrorCode,
} from '../update/index.js';
import { tokensEqual } from './sessions.js';

/**
 * Firmware updates from the page. POST /api/firmware takes the signed bundle
 * as the raw body (application/octet-stream), streamed to a file in the data
 * folder with a size limit; installBundle verifies all of it (signature,
 * every file's hash, the version) before it writes a byte to the inactive
 * slot, exactly as `pbx update` does. The reply goes out first; then the
 * supervisor is told to switch, which stops this very process. The page
 * polls GET /api/firmware/result/TICKET for the verdict: the ticket (kept
 * hashed in DATA/firmware-update.json) survives the restart into the new
 * firmware, which logs every admin session out.
 */

export interface FirmwareDeps {
  /** The A/B slot root this firmware runs from; null on a development run (no slots). */
  readonly slotsRoot: string | null;
  /** The vendor keys updates must be signed with, read at each upload. */
  readonly keys: () => readonly KeyObject[];
  readonly dataDir: string;
  readonly random: Random;
  readonly log: Logger;
  readonly counters: Counters;
  /** Tell the supervisor to switch to the new slot; false when none runs (default: SIGHUP to ROOT/supervisor.pid). */
  readonly signal?: (root: string) => boolean;
  /** Whether a supervisor runs (default: ROOT/supervisor.pid names a live process). */
  readonly supervised?: (root: string) => boolean;
  /** The largest upload (MAX_BUNDLE_BYTES; lower in tests). */
  readonly maxBytes?: number;
}

export const FIRMWARE_RECORD_FILE = 'firmware-update.json';
const UPLOAD_PREFIX = '.firmware-upload-';

/** The last update started from the page, as DATA/firmware-update.json keeps it (the ticket hashed). */
export interface UpdateRecord {
  readonly ticketSha256: string;
  readonly version: string;
  readonly from: string;
  readonly slot: SlotName;
  /** Epoch ms of the install. */
  readonly at: number;
  /** Whether a supervisor was told to switch. */
  readonly signalled: boolean;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** Where an update stands, from the record and the slot state alone. */
export function updatePhase(rec: UpdateRecord, state: SlotState, supervised: boolean): { phase: FirmwarePhase; reason: string } {
  const t = state.trial;
  if (t && t.slot === rec.slot && t.version === rec.version) {
    if (t.attempts > 0) return { phase: 'switching', reason: `${rec.version} is starting in slot ${rec.slot}; it is committed once it passes its health check` };
    if (rec.signalled && supervised) return { phase: 'switching', reason: `restarting into slot ${rec.slot}` };
    return { phase: 'installed', reason: `no supervisor runs: slot ${rec.slot} is tried at the next start of securepbx.service` };
  }
  const last = state.last;
  if (last && last.version === rec.version && last.slot === rec.slot && Date.parse(last.at) >= rec.at - 1000) {
    return { phase: last.outcome, reason: last.reason };
  }
  return { phase: 'superseded', reason: 'another update or a rollback happened since' };
}

const STATUS_OF: Record<UpdateErrorCode, number> = {
  'too-large': 413, 'bad-archive': 400, 'bad-manifest': 400, 'bad-signature': 400, 'hash-mismatch': 400,
  'missing-file': 400, 'extra-file': 400, downgrade: 409, 'no-keys': 409, slots: 409,
};

/** A byte counter that fails the stream once more than `max` bytes went through. */
function limit(max: number, seen: { bytes: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen.bytes += chunk.length;
      if (seen.bytes > max) done(new UpdateError('too-large', `the bundle is larger than ${max} bytes`));
      else done(null, chunk);
    },
  });
}

export function firmwareRoutes(deps: FirmwareDeps): (app: FastifyInstance) => void {
  const signal = deps.signal ?? signalSupervisor;
  const supervised = deps.supervised ?? ((root: string) => supervisorPid(root) !== null);
  const recordPath = join(deps.dataDir, FIRMWARE_RECORD_FILE);
  const maxBytes = deps.maxBytes ?? MAX_BUNDLE_BYTES;
  // Leftovers of an upload cut short by a power cut.
  rmSync(join(deps.dataDir, `${UPLOAD_PREFIX}tmp`), { force: true });

  /** Why this box cannot take an update now, or null. */
  const unavailable = (): string | null => {
    if (deps.slotsRoot === null) return 'this box runs without update slots (a development run): install the image to update from the page, or use pbx update on an installed box';
    if (deps.keys().length === 0) return 'no vendor key is trusted on this box, so no bundle can be verified';
    return null;
  };

  const refuse = (reply: FastifyReply, status: number, error: string, code: string, field = 'file'): FastifyReply =>
    reply.code(status).send({ error, code, field } as ApiErrorBody & { code: string });

  let busy = false;
  return (app) => {
    app.get('/firmware', async (): Promise<FirmwareStatus> => {
      const why = unavailable();
      const root = deps.slotsRoot;
      if (root === null) return { available: false, reason: why ?? '', running: 'development build', supervisor: false, maxBytes };
      const slots = new SlotStore(root);
      const s = slots.read();
      return {
        available: why === null, ...(why ? { reason: why } : {}),
        running: slots.version(s.committed), committed: s.committed,
        trial: s.trial ? { slot: s.trial.slot, version: s.trial.version } : null,
        last: s.last ? { version: s.last.version, outcome: s.last.outcome, reason: s.last.reason, at: s.last.at } : null,
        supervisor: supervised(root), maxBytes,
      };
    });

    // The ticket is the credential here: the session that uploaded ends when the box switches.
    app.get('/firmware/result/:ticket', { config: { public: true } }, async (req, reply): Promise<FirmwareResult | FastifyReply> => {
      const ticket = (req.params as { ticket?: unknown }).ticket;
      let rec: UpdateRecord | null = null;
      try { rec = JSON.parse(readFileSync(recordPath, 'utf8')) as UpdateRecord; } catch { /* none */ }
      if (typeof ticket !== 'string' || rec === null || deps.slotsRoot === null || !tokensEqual(sha256(ticket), rec.ticketSha256)) {
        deps.counters.inc('admin.firmware.unknown-ticket');
        return reply.code(404).send({ error: 'no such update' } satisfies ApiErrorBody);
      }
      const { phase, reason } = updatePhase(rec, new SlotStore(deps.slotsRoot).read(), supervised(deps.slotsRoot));
      return { version: rec.version, from: rec.from, slot: rec.slot, phase, reason };
    });

    // The raw bundle arrives as a stream, in this route alone (a child context keeps the parser to it).
    void app.register(async (sub) => {
      sub.addContentTypeParser('application/octet-stream', (_req, payload, done) => { done(null, payload); });
      sub.post('/firmware', async (req, reply) => {
        const force = (req.query as Record<string, unknown> | undefined)?.force === '1';
        req.auditWhat = 'uploaded a firmware bundle';
        const why = unavailable();
        if (why) return refuse(reply, 409, why, 'unavailable');
        if (!(req.body instanceof Readable)) return refuse(reply, 415, 'send the bundle as application/octet-stream', 'bad-type');
        const declared = Number(req.headers['content-length'] ?? 0);
        if (declared > maxBytes) return refuse(reply, 413, `the bundle is larger than ${maxBytes} bytes`, 'too-large');
        if (busy) return refuse(reply, 409, 'another firmware upload is in progress', 'busy');
        busy = true;
        const root = deps.slotsRoot!;
        const tmp = join(deps.dataDir, `${UPLOAD_PREFIX}tmp`);
        const seen = { bytes: 0 };
        try {
          await pipeline(req.body, limit(maxBytes, seen), createWriteStream(tmp, { mode: 0o600 }));
          const now = new Date();
          const done = installBundle(tmp, { root, keys: deps.keys(), force, now });
          const ticket = deps.random.token(256);
          const signalled = supervised(root);
          const rec: UpdateRecord = { ticketSha256: sha256(ticket), version: done.version, from: done.from, slot: done.slot, at: now.getTime(), signalled };
          writeFileAtomicSync(recordPath, `${JSON.stringify(rec)}\n`, 0o600);
          req.auditWhat = `installed firmware ${done.version} into slot ${done.slot} (running ${done.from})${force ? ', forced' : ''}`;
          deps.log.info({ version: done.version, slot: done.slot, from: done.from, signer: done.signer.slice(0, 16) }, 'firmware installed from the page');
          deps.counters.inc('admin.firmware.installed');
          // The reply first: the supervisor's switch stops this process.
          if (signalled) reply.raw.once('finish', () => setTimeout(() => { if (!signal(root)) deps.log.warn('firmware installed but the supervisor is gone'); }, 200));
          return {
            ticket, version: done.version, from: done.from, slot: done.slot, files: done.files, bytes: seen.bytes, signer: done.signer,
            phase: signalled ? 'switching' : 'installed',
          } satisfies FirmwareInstalled;
        } catch (e) {
          if (!isUpdateError(e)) throw e;
          deps.counters.inc(`admin.firmware.refused.${e.code}`);
          req.auditWhat = `uploaded a firmware bundle, refused: ${e.code}`;
          const message = e.code === 'downgrade' ? e.message.replace(/ \(use --force[^)]*\)/, ': tick "Install an older version" to install it anyway') : e.message;
          return refuse(reply, STATUS_OF[e.code], message, e.code, e.code === 'downgrade' ? 'force' : 'file');
        } finally {
          rmSync(tmp, { force: true });
          busy = false;
        }
      });
    });
  };
}
