import type { RemoteMedia } from '../../media/index.js';
import { createResponse, getCSeq, getHeader, type Header, type SipRequest, type SipResponse } from '../../sip/message/index.js';
import type { InviteServerTransaction, ServerTransaction } from '../../sip/transaction/index.js';
import type { SessionDescription } from '../../sdp/index.js';
import { PLAIN_SDP, SDP_TYPE, type Side, answerFromAnswer, audioOf, offerFromOffer, parseBody, remoteOf } from '../media/index.js';
import type { Call } from './call.js';
import { guard, type CallDeps } from './deps.js';
import { responseOf, type CallFailure } from './failures.js';
import type { CallLeg } from './leg.js';
import type { CallEnding } from './setup.js';

/** A response from the failure catalogue (pbx/call failures): the one place a failure gets its status. */
export function failureResponse(req: SipRequest, failure: CallFailure, opts: { toTag?: string | undefined } = {}): SipResponse {
  const { status, reason } = responseOf(failure);
  return createResponse(req, status, reason, opts.toTag !== undefined ? { toTag: opts.toTag } : {});
}

/**
 * A re-INVITE, UPDATE or INFO received on one leg of an answered call crosses
 * to the other leg: an SDP offer updates the asking leg's media in the engine
 * (new keys rekey it), the other leg gets the same method with the box's own
 * SDP, and that leg's answer comes back rewritten for the asker. A refused
 * round rolls both legs back and puts the asker's media back as it was.
 */
export class Renegotiation {
  constructor(private readonly deps: CallDeps, private readonly ending: CallEnding) {}

  async across(call: Call, here: CallLeg, req: SipRequest, tx: ServerTransaction): Promise<void> {
    const d = this.deps;
    const there = call.other(here.id);
    const toTag = here.dialog?.localTag;
    if (!here.dialog || !there.dialog || !there.target || !here.local || !there.local || call.state !== 'answered') {
      tx.respond(failureResponse(req, 'glare', { toTag }));
      return;
    }
    const negotiates = req.method === 'INVITE' || req.method === 'UPDATE';
    let offer: SessionDescription | undefined;
    try { offer = parseBody(req.body); } catch {
      tx.respond(failureResponse(req, 'bad-sdp', { toTag }));
      return;
    }
    // A re-INVITE without SDP asks the other side to offer (in its 2xx); as a
    // round it is pending on both legs all the same.
    if (negotiates) {
      const refused = call.beginRound(here.id);
      if (refused) {
        d.counters.inc(refused === 'glare' ? 'call.glare' : 'call.offer-pending');
        tx.respond(failureResponse(req, 'glare', { toTag }));
        return;
      }
    }
    let open = negotiates;
    /** The asker's media before the offer was applied: a refused round puts it back (RFC 6337 3.2). */
    let previous: RemoteMedia | undefined;
    const settled = (ok: boolean): void => {
      if (!open) return;
      open = false;
      call.endRound(here.id, ok);
      if (ok) return;
      // A refused round leaves the old media and the old keys in force on both legs (RFC 6337 3.2, RFC 4568 7.1.4).
      const keys = call.keys?.rollback(sideOf(here.id));
      if (previous) here.remote = previous;
      if (previous || keys?.here) guard(d, call.media.update(here.id, previous, keys?.here), 'media rollback');
      if (keys?.there) guard(d, call.media.update(there.id, undefined, keys.there), 'media rollback');
    };
    let body: Buffer | undefined;
    if (offer) {
      try {
        // New keys in the offer rekey this leg; otherwise the keys stay (the engine restarts only the receive context).
        const media = audioOf(offer);
        const re = call.keys && media ? call.keys.reoffer(sideOf(here.id), media) : undefined;
        const next = remoteOf(offer);
        await call.media.update(here.id, next, re?.here);
        previous = here.remote;
        here.remote = next;
        body = offerFromOffer(offer, there.sdp, there.local, re?.there ?? PLAIN_SDP).body;
      } catch {
        settled(false);
        tx.respond(failureResponse(req, 'not-acceptable', { toTag }));
        return;
      }
    }
    const outReq = there.nextRequest(req.method, body ? { body } : req.body.length
      ? { body: req.body, contentType: getHeader(req, 'content-type') ?? 'application/octet-stream' } : {});
    try {
      this.send(call, here, there, req, tx, outReq, offer, settled);
    } catch (e) {
      settled(false);
      d.log.warn({ call: call.id, err: e instanceof Error ? e.message : String(e) }, `cannot pass ${req.method} on`);
      tx.respond(failureResponse(req, 'unreachable', { toTag }));
    }
  }

  /** Send the passed-on request on the other leg and bring its answer back to the asker. */
  private send(call: Call, here: CallLeg, there: CallLeg, req: SipRequest, tx: ServerTransaction, outReq: SipRequest,
    offer: SessionDescription | undefined, settled: (ok: boolean) => void): void {
    const d = this.deps;
    const toTag = here.dialog!.localTag;
    const negotiates = req.method === 'INVITE' || req.method === 'UPDATE';
    let final = false;
    there.send(outReq, {
      onResponse: (res) => {
        if (res.status < 200) return;
        if (final) {
          // A resent 2xx: our ACK was lost (RFC 3261 13.2.2.4). The same ACK again; everything else was done.
          if (res.status < 300 && req.method === 'INVITE') there.reAck();
          return;
        }
        final = true;
        if (res.status < 300 && negotiates) there.refreshedBy(res);
        // A re-INVITE without SDP: the other side offers in its 2xx and the round ends with the asker's ACK.
        const theirOffer = res.status < 300 && !offer && req.method === 'INVITE' ? parseOrNothing(res.body) : undefined;
        if (!theirOffer) settled(res.status < 300);
        guard(d, (async () => {
          let answerBody: Buffer | undefined;
          if (theirOffer) {
            answerBody = await this.offerBack(call, here, there, theirOffer, getCSeq(outReq).seq, settled);
          } else if (res.status < 300 && offer) {
            try {
              const answer = parseBody(res.body);
              if (answer) {
                const media = audioOf(answer);
                const back = call.keys && media ? call.keys.reanswered(sideOf(here.id), media) : undefined;
                there.remote = remoteOf(answer);
                await call.media.update(there.id, there.remote, back?.there);
                answerBody = answerFromAnswer(offer, answer, here.sdp, here.local!, back?.here ?? PLAIN_SDP);
              }
            } catch (e) {
              d.log.warn({ call: call.id, err: e instanceof Error ? e.message : String(e) }, 're-offer answer unusable');
              answerBody = undefined;
            }
          }
          if (req.method === 'INVITE' && res.status < 300 && !theirOffer) there.ack({ cseq: getCSeq(outReq).seq });
          const headers: Header[] = res.status < 300 && req.method !== 'INFO' ? [here.contact()] : [];
          const response = createResponse(req, res.status, res.reason, {
            toTag, headers, ...(answerBody ? { body: answerBody, contentType: SDP_TYPE } : {}),
          });
          tx.respond(response);
          // The 2xx of a re-INVITE is resent on UDP until the asker's ACK, like the first one (RFC 3261 13.3.1.4).
          if (req.method === 'INVITE' && res.status < 300) {
            here.answered(tx as InviteServerTransaction, response, call.life, () => guard(d, this.ending.hangup(call, 'timeout', 'both'), 'no ACK'));
          }
        })(), `${req.method} answer`);
      },
      onTimeout: () => {
        settled(false);
        tx.respond(failureResponse(req, 'timeout', { toTag }));
        guard(d, this.ending.hangup(call, 'timeout', 'both'), 'timeout');
      },
      onTransportError: () => { settled(false); tx.respond(failureResponse(req, 'unreachable', { toTag })); },
    });
  }

  /**
   * The other side offered in its 2xx to an SDP-less re-INVITE: the box takes
   * that offer on `there`'s leg, puts its own offer toward the asker in its
   * 2xx, and answers `there` in the ACK once the asker's ACK brings the
   * answer (RFC 3261 14.1 with 13.2.1's late offer). Returns the 2xx body.
   */
  private async offerBack(call: Call, here: CallLeg, there: CallLeg, theirOffer: SessionDescription, cseq: number,
    settled: (ok: boolean) => void): Promise<Buffer | undefined> {
    const d = this.deps;
    const fail = async (why: string): Promise<void> => {
      d.log.warn({ call: call.id, why }, 'offer in a re-INVITE answer unusable: ending the call');
      settled(false);
      there.ack({ cseq });
      await this.ending.hangup(call, 'codec-mismatch', 'both');
    };
    let body: Buffer;
    try {
      const media = audioOf(theirOffer);
      const re = call.keys && media ? call.keys.reoffer(sideOf(there.id), media) : undefined;
      there.remote = remoteOf(theirOffer);
      await call.media.update(there.id, there.remote, re?.here);
      body = offerFromOffer(theirOffer, here.sdp, here.local!, re?.there ?? PLAIN_SDP).body;
    } catch (e) {
      await fail(e instanceof Error ? e.message : String(e));
      return undefined;
    }
    here.whenAcked((ack) => guard(d, (async () => {
      try {
        const answer = parseBody(ack.body);
        const media = audioOf(answer);
        if (!answer || !media) throw new Error('the ACK brings no SDP answer');
        const back = call.keys ? call.keys.reanswered(sideOf(there.id), media) : undefined;
        here.remote = remoteOf(answer);
        await call.media.update(here.id, here.remote, back?.there);
        const toThere = answerFromAnswer(theirOffer, answer, there.sdp, there.local!, back?.here ?? PLAIN_SDP);
        settled(true);
        there.ack({ cseq, body: toThere });
      } catch (e) {
        await fail(e instanceof Error ? e.message : String(e));
      }
    })(), 'answer in ACK'));
    return body;
  }
}

/** A call's keys are two-party today: leg "a" is the caller's side, "b" the callee's. */
function sideOf(leg: string): Side {
  if (leg !== 'a' && leg !== 'b') throw new Error(`two-party keys have no leg ${leg}`);
  return leg;
}

function parseOrNothing(body: Buffer): SessionDescription | undefined {
  try { return parseBody(body); } catch { return undefined; }
}
