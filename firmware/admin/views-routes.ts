import type { FastifyInstance } from 'fastify';
import type { CallQualityView, LogLine, RecordingListEntry, WaveformView } from '../api/index.js';
import { CommandError } from '../control/index.js';
import { isLogLevel, isPbxError, type LogBuffer } from '../core/index.js';
import type { RecordingStore } from '../recording/index.js';

/**
 * Routes of the page's newer views (issue 16, issue 9), inside the API plugin
 * (its session and CSRF checks apply): the log view's backlog, a call's
 * quality series, and recordings: play, download, delete. Live log lines
 * arrive on the event stream (api.ts, `?logs=1`).
 */

/** GET /api/logs?level=&q=&after=&limit=: kept lines, oldest first, secrets replaced. */
export function logRoutes(logs: LogBuffer): (app: FastifyInstance) => void {
  return (app) => {
    app.get('/logs', async (req): Promise<LogLine[]> => {
      const q = (req.query ?? {}) as Record<string, unknown>;
      const level = q.level === undefined || q.level === '' ? undefined : q.level;
      if (level !== undefined && !isLogLevel(level)) throw new CommandError('config', 'level must be one of trace, debug, info, warn, error, fatal', 'level');
      const num = (name: string, max: number): number | undefined => {
        const v = q[name];
        if (v === undefined || v === '') return undefined;
        if (typeof v !== 'string' || !/^\d{1,9}$/.test(v) || Number(v) > max) throw new CommandError('config', `${name} must be a whole number up to ${max}`, name);
        return Number(v);
      };
      const after = num('after', 1e9);
      const limit = num('limit', 5000);
      const search = typeof q.q === 'string' ? q.q.slice(0, 100) : '';
      return logs.recent({ ...(level ? { level } : {}), ...(after !== undefined ? { afterSeq: after } : {}), ...(limit !== undefined ? { limit } : {}), q: search });
    });
  };
}

/** What the quality route needs: a call's series (status CallQuality). */
export interface QualitySource { of(call: string): CallQualityView | undefined }

export function qualityRoutes(quality: QualitySource): (app: FastifyInstance) => void {
  return (app) => {
    app.get('/calls/:id/quality', async (req): Promise<CallQualityView> => {
      const id = (req.params as { id?: unknown }).id;
      if (typeof id !== 'string' || !/^[A-Za-z0-9._-]{1,80}$/.test(id)) throw new CommandError('parse', 'not a call id', 'id');
      const q = quality.of(id);
      if (!q) throw new CommandError('not-found', `no media figures for call ${id}: it had no media, or it ended before the box last restarted`);
      return q;
    });
  };
}

const RECORDING_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Recordings from the page: GET /recordings/:id/audio streams the WAV (or the
 * capture) decrypted by the box as it is read (the file on disk stays
 * sealed); ?download=1 makes it an attachment. DELETE removes one; the
 * waveform is the summary the recorder stored. The list and the on-demand
 * toggle are the `pbx recording` commands (api.ts, routes below them).
 */
export function recordingRoutes(store: RecordingStore, exec: (command: string, args: Record<string, unknown>) => Promise<unknown>): (app: FastifyInstance) => void {
  const idOf = (params: unknown): string => {
    const id = (params as { id?: unknown }).id;
    if (typeof id !== 'string' || !RECORDING_ID.test(id)) throw new CommandError('parse', 'not a recording id', 'id');
    return id;
  };
  // The store's own errors carry their codes (not-found, invalid-state, parse): the API's handler maps them.
  const wrap = <T>(fn: () => T): T => {
    try { return fn(); } catch (e) { if (isPbxError(e)) throw new CommandError(e.code, e.message); throw e; }
  };
  return (app) => {
    app.get('/recordings', async () => exec('recording.list', {}) as Promise<readonly RecordingListEntry[]>);
    app.get('/recordings/:id/audio', async (req, reply) => {
      const id = idOf(req.params);
      const d = wrap(() => store.read(id));
      const download = (req.query as Record<string, unknown> | undefined)?.download === '1';
      return reply.header('content-type', d.contentType)
        .header('content-disposition', `${download ? 'attachment' : 'inline'}; filename="${d.fileName}"`)
        .send(d.stream);
    });
    app.get('/recordings/:id/waveform', async (req) => {
      const id = idOf(req.params);
      const w = await store.waveform(id).catch((e: unknown) => { if (isPbxError(e)) throw new CommandError(e.code, e.message); throw e; });
      // Typed arrays would serialize as objects keyed by index.
      return { stepMs: w.stepMs, channels: w.channels, min: w.min.map((c) => Array.from(c)), max: w.max.map((c) => Array.from(c)) } satisfies WaveformView;
    });
    app.delete('/recordings/:id', async (req) => {
      const id = idOf(req.params);
      await store.delete(id).catch((e: unknown) => { if (isPbxError(e)) throw new CommandError(e.code, e.message); throw e; });
      return { removed: id };
    });
    app.post('/calls/:id/record', async (req) => {
      const call = (req.params as { id?: unknown }).id;
      const b = (req.body ?? {}) as Record<string, unknown>;
      if (b.on !== undefined && typeof b.on !== 'boolean') throw new CommandError('config', 'on must be true or false', 'on');
      return exec('recording.toggle', { call, ...(b.on !== undefined ? { on: b.on } : {}) });
    });
  };
}
