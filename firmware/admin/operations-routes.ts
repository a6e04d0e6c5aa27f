import type { FastifyInstance } from 'fastify';
import type { CallHungUp } from '../api/index.js';

/**
 * Day-to-day operation from the page (issue 16), inside the API plugin (its
 * session and CSRF checks apply; the audit hook writes each change): ending
 * a live call. The work is the `call.hangup` command (control/calls.ts),
 * the same as `pbx call hangup ID`.
 */
export function operationRoutes(exec: (command: string, args: Record<string, unknown>) => Promise<unknown>): (app: FastifyInstance) => void {
  return (app) => {
    app.post('/calls/:id/hangup', async (req) => exec('call.hangup', { id: (req.params as { id?: unknown }).id }) as Promise<CallHungUp>);
  };
}
