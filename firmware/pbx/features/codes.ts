import type { Counters, Logger } from '../../core/index.js';
import type { CallFailure, Destination, EndReason, IncomingCall } from '../call/index.js';

/**
 * Feature codes a phone dials to change its own settings: do-not-disturb on
 * (*78) and off (*79) by default. The box answers at once with a final
 * response whose reason phrase says what changed (the phone's display shows
 * it), so no media is set up for them.
 */

export interface SettingCodes {
  readonly dndOn: string;
  readonly dndOff: string;
}

export interface SettingCodesDeps {
  readonly codes: () => SettingCodes;
  /** Store the caller's do-not-disturb setting (the config). */
  readonly setDnd: (extension: string, on: boolean) => Promise<void>;
  readonly counters: Counters;
  readonly log: Logger;
}

export interface SettingCodesHost {
  refuse(incoming: IncomingCall, answer: CallFailure, why: EndReason): void;
  /** Answer with a reason phrase of our own (the catalogue's status). */
  tell(incoming: IncomingCall, status: number, reason: string): void;
}

export class SettingCodesDestination implements Destination {
  readonly name = 'setting-codes';

  constructor(private readonly deps: SettingCodesDeps, private readonly host: SettingCodesHost) {}

  take(incoming: IncomingCall): boolean {
    const codes = this.deps.codes();
    const on = incoming.dialled === codes.dndOn ? true : incoming.dialled === codes.dndOff ? false : undefined;
    if (on === undefined) return false;
    const d = this.deps;
    d.setDnd(incoming.caller, on).then(() => {
      d.counters.inc(on ? 'feature.dnd-on' : 'feature.dnd-off');
      d.log.info({ extension: incoming.caller, dnd: on }, on ? 'do-not-disturb turned on by feature code' : 'do-not-disturb turned off by feature code');
      // 603 Decline: the box set no call up, and the phone shows the phrase.
      this.host.tell(incoming, 603, on ? 'Do Not Disturb On' : 'Do Not Disturb Off');
    }, (e: unknown) => {
      d.log.error({ extension: incoming.caller, err: e instanceof Error ? e.message : String(e) }, 'could not store do-not-disturb');
      this.host.refuse(incoming, 'internal', 'failed');
    });
    return true;
  }
}
