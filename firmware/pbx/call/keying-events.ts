import type { KeyingEvent } from '../../keying/index.js';
import type { EngineEvent } from '../../media/index.js';
import type { Call } from './call.js';
import { guard, type CallDeps } from './deps.js';
import { keySide } from './late-offer.js';
import type { CallEnding } from './setup.js';

/**
 * The engine's 'keying' event (a key agreement that runs in the media path:
 * ZRTP, DTLS-SRTP) as the LegKeying of its leg consumes it: 'keying-done'
 * (with the suite), 'sas' for a ZRTP leg the box terminates, 'keying-failed'.
 * Only the events a keying lists in `events` reach it. Its outcome is
 * applied here: new engine security for the leg, or the end of the call
 * with the reason noted on it (a key agreement that failed leaves the leg
 * closed, so nothing could be heard on it anyway).
 */
export function keyingEvents(e: Extract<EngineEvent, { type: 'keying' }>): KeyingEvent[] {
  if (e.state === 'failed') return [{ type: 'keying-failed', reason: e.reason ?? 'key agreement failed' }];
  const z = e.zrtp;
  if (!z) return [{ type: 'keying-done', ...(e.dtls ? { suite: e.dtls.profile } : {}) }];
  return [
    { type: 'keying-done', suite: z.suite },
    {
      type: 'sas', sas: z.sas, verified: z.sasVerified, cache: z.cacheMatch, peerVerified: z.peerSasVerified, enrolled: z.pbxEnrolled,
      algorithms: `${z.keyAgreement} ${z.cipher} ${z.authTag} ${z.sasType}`,
    },
  ];
}

export function onKeyingEvent(d: Pick<CallDeps, 'counters' | 'log'>, ending: CallEnding, call: Call, e: Extract<EngineEvent, { type: 'keying' }>): void {
  const keys = call.keys ?? call.fork.branches[0]?.keys;
  if (!keys || call.sideOf(e.leg) === undefined) {
    d.counters.inc('call.keying-event-unclaimed');
    return;
  }
  const keying = keys.leg(keySide(call, e.leg));
  for (const ev of keyingEvents(e)) {
    if (!(keying.events as readonly string[]).includes(ev.type)) continue;
    if (ev.type === 'sas' && ev.cache === 'mismatch') {
      // RFC 6189 4.6.1.1: the phone's retained secret does not match ours: an attack, or a cache it lost. Said, never swallowed.
      d.counters.inc('call.zrtp-cache-mismatch');
      call.notes.push(`ZRTP cache mismatch on leg ${e.leg}: a possible man in the middle, or the phone lost its cache; compare the SAS before trusting the call`);
      d.log.warn({ call: call.id, leg: e.leg }, 'ZRTP cache mismatch');
    }
    const out = keying.handle(ev);
    if (out.security) guard(d, call.media.update(e.leg, undefined, out.security), 'keying security');
    if (out.failed !== undefined) {
      d.counters.inc('call.keying-failed');
      call.notes.push(`${keying.method.toUpperCase()} failed on leg ${e.leg}: ${out.failed}`);
      d.log.warn({ call: call.id, leg: e.leg, reason: out.failed }, 'key agreement failed: ending the call');
      guard(d, ending.hangup(call, 'failed', 'both'), 'keying failed');
      return;
    }
  }
  if (e.state === 'failed') {
    // The keying did not take the failure itself: the leg stays closed, so the call cannot go on.
    d.counters.inc('call.keying-failed');
    call.notes.push(`${keying.method.toUpperCase()} failed on leg ${e.leg}: ${e.reason ?? 'key agreement failed'}`);
    d.log.warn({ call: call.id, leg: e.leg, reason: e.reason }, 'key agreement failed: ending the call');
    guard(d, ending.hangup(call, 'failed', 'both'), 'keying failed');
    return;
  }
  if (e.state === 'done') d.counters.inc(`call.keying-done.${keying.method}`);
  ending.changed();
}
