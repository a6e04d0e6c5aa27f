import { isSecureSignalling } from '../../keying/index.js';
import { getCSeq, uriScheme, type SipRequest } from '../../sip/message/index.js';
import type { SessionDescription } from '../../sdp/index.js';
import { DEFAULT_POLICY } from '../../config/index.js';
import { CallKeys, answerFromAnswer, audioOf, offerFromOffer, offerSecurity, parseBody, type LegsSecurity } from '../media/index.js';
import { DEFAULT_PHONE_CAPS, decideMediaPlan, isRefusal, policySettings, summarizeOffer, type PolicyRefusal } from '../policy/index.js';
import type { Call } from './call.js';
import { guard, keysOptions, type LegId, type SetupDeps } from './deps.js';

/**
 * A late offer (RFC 3261 13.2.1): the caller's INVITE has no SDP, so the
 * callee offers in its 2xx, the box offers toward the caller in its own 2xx,
 * and the caller's answer, riding on its ACK, becomes the box's answer to the
 * callee in the ACK. Here the callee is the offerer, so the media policy
 * runs with the parties' media roles swapped (the policies stay as they are:
 * the caller's callerStream, the callee's calleeStream), and the call's keys
 * are built with the callee's leg as the offering side: Call.keySide maps.
 * SDES keys still go only toward a TLS leg; an SRTP offer from the callee
 * keeps its leg closed until the caller's answer keys it.
 */
export async function lateOffer(d: SetupDeps, call: Call, offer: SessionDescription, onFailed: () => Promise<void>): Promise<{ body: Buffer } | PolicyRefusal> {
  const a = call.callerLeg;
  const b = call.calleeLeg;
  const policies = d.policies?.() ?? [];
  const callerAccount = d.callee(call.caller);
  const calleeAccount = d.callee(call.callee);
  const media = audioOf(offer);
  const plan = decideMediaPlan({
    callerPolicy: policySettings(policies, callerAccount?.policy ?? DEFAULT_POLICY),
    calleePolicy: policySettings(policies, calleeAccount?.policy ?? DEFAULT_POLICY),
    caller: { caps: calleeAccount?.media ?? DEFAULT_PHONE_CAPS, legTls: isSecureSignalling(b.target!.transport) },
    callee: { caps: callerAccount?.media ?? DEFAULT_PHONE_CAPS, legTls: isSecureSignalling(a.target!.transport) },
    offer: summarizeOffer(media, uriScheme(call.invite.uri) === 'sips'),
  });
  if (isRefusal(plan)) return plan;
  const keys = new CallKeys(plan, media, keysOptions(d, { a: isSecureSignalling(b.target!.transport), b: isSecureSignalling(a.target!.transport) }));
  call.keys = keys;
  call.keysFlipped = true;
  const remote = b.took(offer);
  // An SRTP offer from the callee: its leg sends and forwards nothing until the caller's answer keys it.
  const pending = offerSecurity(media)?.a;
  await call.media.answer('b', remote, pending ? { b: pending } : {});
  const body = offerFromOffer(offer, a.sdp, a.local!, keys.calleeOffer()).body;
  a.whenAcked((ack) => guard(d, lateAnswer(d, call, offer, ack, onFailed), 'late answer'));
  return { body };
}

/**
 * The caller's ACK brings its answer: key both legs and answer the callee in
 * the box's ACK. An unusable answer still gets the callee an ACK, then the
 * call ends.
 */
async function lateAnswer(d: SetupDeps, call: Call, offer: SessionDescription, ack: SipRequest, onFailed: () => Promise<void>): Promise<void> {
  const a = call.callerLeg;
  const b = call.calleeLeg;
  const invite = call.fork.winner?.request;
  const cseq = invite ? { cseq: getCSeq(invite).seq } : {};
  let body: Buffer | undefined;
  try {
    const answer = parseBody(ack.body);
    const media = audioOf(answer);
    if (!answer || !media || !call.keys) throw new Error('the ACK brings no SDP answer');
    // The keys see the callee as the offering side "a" and the caller as "b".
    const k = call.keys.calleeAnswered(media);
    const remote = a.took(answer);
    const security: LegsSecurity = { ...(k.engine.b ? { a: k.engine.b } : {}), ...(k.engine.a ? { b: k.engine.a } : {}) };
    await call.media.answer('a', remote, security);
    body = answerFromAnswer(offer, answer, b.sdp, b.local!, k.callerAnswer);
  } catch (e) {
    d.log.warn({ call: call.id, err: e instanceof Error ? e.message : String(e) }, 'late answer unusable');
    body = undefined;
  }
  b.ack({ ...cseq, ...(body ? { body } : {}) });
  if (!body) await onFailed();
}

/** The side of the call's keys that belongs to `leg` (flipped for a late offer). */
export function keySide(call: Call, leg: LegId): 'a' | 'b' {
  const side = call.sideOf(leg);
  if (!side) throw new Error(`leg ${leg} is not one of the two that talk`);
  if (!call.keysFlipped) return side;
  return side === 'a' ? 'b' : 'a';
}
