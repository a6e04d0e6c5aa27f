import type { FastifyInstance } from 'fastify';
import type { CallHungUp, HoldMusicInfo, HoldMusicReset, HoldMusicSet, SystemSettings, SystemSettingsSaved } from '../api/index.js';
import { MAX_WAV_BYTES } from '../media/index.js';

/**
 * Day-to-day operation from the page (issue 16), inside the API plugin (its
 * session and CSRF checks apply; the audit hook writes each change): ending
 * a live call, the system settings, the music on hold. The work is the `call.hangup` command (control/calls.ts),
 * the same as `pbx call hangup ID`, `system.get|set` (control/system.ts) and `moh.get|set|reset`
 * (the page sends the WAV itself, base64 in JSON, as a backup to restore).
 */
export function operationRoutes(exec: (command: string, args: Record<string, unknown>) => Promise<unknown>): (app: FastifyInstance) => void {
  return (app) => {
    app.get('/system', async () => exec('system.get', {}) as Promise<SystemSettings>);
    app.put('/system', async (req) => {
      const b = (req.body ?? {}) as Record<string, unknown>;
      const keys = ['realm', 'realmConfirm', 'timeZone', 'ntpServer', 'sipPort', 'tlsPort', 'webPort', 'httpPort', 'rtpMin', 'rtpMax'];
      return exec('system.set', Object.fromEntries(keys.filter((k) => b[k] !== undefined).map((k) => [k, b[k]]))) as Promise<SystemSettingsSaved>;
    });
    app.get('/moh', async () => exec('moh.get', {}) as Promise<HoldMusicInfo>);
    app.post('/moh', { bodyLimit: Math.ceil(MAX_WAV_BYTES * 4 / 3) + 4096 }, async (req) => {
      const b = (req.body ?? {}) as Record<string, unknown>;
      return exec('moh.set', { wav: b.file ?? '' }) as Promise<HoldMusicSet>;
    });
    app.delete('/moh', async () => exec('moh.reset', {}) as Promise<HoldMusicReset>);
    app.post('/calls/:id/hangup', async (req) => exec('call.hangup', { id: (req.params as { id?: unknown }).id }) as Promise<CallHungUp>);
  };
}
