import type { CallHungUp, CallView } from '../api/index.js';
import { PbxError } from '../core/index.js';

/**
 * `call.hangup` (the dashboard's Hang up button, `pbx call hangup ID`): a
 * running appliance ends one of its calls cleanly, BYE (or CANCEL) to every
 * leg through the call model; the call record's reason is 'admin'.
 */

/** What a running appliance offers: end a call by id, the call as it was, or undefined when there is none. */
export interface CallControl {
  hangup(id: string): Promise<CallView | undefined>;
}

export const CALL_ID_PATTERN = /^[A-Za-z0-9._-]{1,80}$/;

export async function callCommand(live: CallControl | undefined, command: string, a: Readonly<Record<string, unknown>>): Promise<CallHungUp> {
  if (command !== 'call.hangup') throw new PbxError('not-found', `unknown command ${command}`);
  const id = a.id;
  if (typeof id !== 'string' || !CALL_ID_PATTERN.test(id)) throw new PbxError('parse', 'give the id of a call in progress (pbx status lists them)');
  if (!live) throw new PbxError('invalid-state', 'no appliance is running: there is no call to end');
  const view = await live.hangup(id);
  if (!view) throw new PbxError('not-found', `no call ${id} in progress (it may have ended already)`);
  return { ended: id, caller: view.caller, callee: view.callee, state: view.state };
}
