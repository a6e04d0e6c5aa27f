import type { TimerHandle } from '../../core/index.js';
import type { RemoteMedia } from '../../media/index.js';
import { createResponse, getCSeq, getHeader, type Header, type SipRequest, type SipResponse } from '../../sip/message/index.js';
import type { ClientTransaction, InviteServerTransaction, ServerTransaction } from '../../sip/transaction/index.js';
import type { SessionDescription } from '../../sdp/index.js';
import { PLAIN_SDP, SDP_TYPE, answerFromAnswer, audioOf, offerFromOffer, parseBody, remoteOf } from '../media/index.js';
import type { Call, Crossing } from './call.js';
import { guard, type CallDeps } from './deps.js';
import { responseOf, type CallFailure } from './failures.js';
import type { CallLeg } from './leg.js';
import type { CallEnding } from './setup.js';
import { keySide } from './late-offer.js';

/**
 * How long a passed-on re-INVITE may stay at provisionals before the box
 * gives it up: 64*T1 like Timer B, well short of Timer C's 3 minutes, since
 * a re-INVITE needs no human to answer it.
 */
export const REINVITE_WAIT_MS = 32_000;

/** A response from the failure catalogue (pbx/call failures): the one place a failure gets its status. */
export function failureResponse(req: SipRequest, failure: CallFailure, opts: { toTag?: string | undefined; headers?: Header[] } = {}): SipResponse {
  const { status, reason } = responseOf(failure);
  return createResponse(req, status, reason, { ...(opts.toTag !== undefined ? { toTag: opts.toTag } : {}), ...(opts.headers ? { headers: opts.headers } : {}) });
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
    // RFC 3261 14.1: no INVITE toward a phone whose INVITE transaction with the
    // box still waits for its ACK; the asker gets 491 and retries (14.1's backoff).
    if (req.method === 'INVITE' && there.awaitingAck) {
      d.counters.inc('call.reinvite-before-ack');
      tx.respond(failureResponse(req, 'glare', { toTag }));
      return;
    }
    const negotiates = req.method === 'INVITE' || req.method === 'UPDATE';
    const carried = negotiates ? sdpIn(req) : { offer: undefined };
    if (carried === 'bad-sdp') {
      tx.respond(failureResponse(req, 'bad-sdp', { toTag }));
      return;
    }
    if (carried === 'unsupported') {
      // A body the box cannot negotiate with (RFC 3261 21.4.13): it says what it takes.
      d.counters.inc('call.unsupported-body');
      const { status, reason } = responseOf('unsupported-body');
      tx.respond(createResponse(req, status, reason, { toTag, headers: [{ name: 'accept', value: SDP_TYPE }] }));
      return;
    }
    const offer = carried.offer;
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
      // A call that is ending or ended has no media left to put back.
      if (ok || call.state !== 'answered') return;
      // A refused round leaves the old media and the old keys in force on both legs (RFC 6337 3.2, RFC 4568 7.1.4).
      const keys = call.keys?.rollback(keySide(call, here.id));
      if (previous) here.remote = previous;
      if (previous || keys?.here) guard(d, call.media.update(here.id, previous, keys?.here), 'media rollback');
      if (keys?.there) guard(d, call.media.update(there.id, undefined, keys.there), 'media rollback');
    };
    let body: Buffer | undefined;
    if (offer) {
      try {
        // New keys in the offer rekey this leg; otherwise the keys stay (the engine restarts only the receive context).
        const media = audioOf(offer);
        const re = call.keys && media ? call.keys.reoffer(keySide(call, here.id), media) : undefined;
        const next = remoteOf(offer);
        await call.media.update(here.id, next, re?.here);
        previous = here.remote;
        here.took(offer);
        body = offerFromOffer(offer, there.sdp, there.local, re?.there ?? PLAIN_SDP).body;
      } catch {
        settled(false);
        tx.respond(failureResponse(req, 'not-acceptable', { toTag }));
        return;
      }
      if (call.state !== 'answered') {
        // The call ended while the engine took the offer: nothing crosses any more.
        settled(false);
        tx.respond(failureResponse(req, 'cancelled', { toTag }));
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

  /**
   * Send the passed-on request on the other leg and bring its answer back to
   * the asker. Until its final answer the request is one of the call's
   * crossings; a passed-on re-INVITE that gets no more than provisionals is
   * given up after REINVITE_WAIT_MS (RFC 3261's Timer C in spirit).
   */
  private send(call: Call, here: CallLeg, there: CallLeg, req: SipRequest, tx: ServerTransaction, outReq: SipRequest,
    offer: SessionDescription | undefined, settled: (ok: boolean) => void): void {
    const d = this.deps;
    const toTag = here.dialog!.localTag;
    const negotiates = req.method === 'INVITE' || req.method === 'UPDATE';
    const cseq = getCSeq(outReq).seq;
    /** The other side's final answer arrived. */
    let final = false;
    /** The asker has its final answer, or the crossing was given up. */
    let done = false;
    let cancelWanted = false;
    let waiting: TimerHandle | undefined;
    let out: ClientTransaction | undefined;
    const finished = (): void => {
      call.crossings.delete(crossing);
      waiting?.cancel();
    };
    const cancelThere = (): void => {
      if (out?.kind !== 'invite-client') return;
      if (out.state !== 'proceeding') { cancelWanted = out.state === 'calling'; return; }
      cancelWanted = false;
      try { d.transactions.sendCancel(out, { onResponse: () => {} }); } catch { /* the INVITE ended meanwhile */ }
    };
    const crossing: Crossing = {
      asked: tx,
      abandon: (why) => {
        if (done || (final && why !== 'ended')) return false;
        done = true;
        finished();
        if (!final) settled(false);
        if (!final && why !== 'ended') cancelThere();
        try { tx.respond(failureResponse(req, why === 'timeout' ? 'timeout' : 'cancelled', { toTag })); } catch { /* already answered */ }
        d.counters.inc(`call.crossing-${why}`);
        return true;
      },
    };
    out = there.send(outReq, {
      onResponse: (res) => {
        if (res.status < 200) {
          if (cancelWanted) cancelThere();
          else if (req.method === 'INVITE' && !waiting && !done) {
            waiting = call.life.timer(REINVITE_WAIT_MS, () => { crossing.abandon('timeout'); }, ['answered']);
          }
          return;
        }
        if (final) {
          // A resent 2xx: our ACK was lost (RFC 3261 13.2.2.4). The same ACK again; everything else was done.
          if (res.status < 300 && req.method === 'INVITE' && !call.ended) there.reAck();
          return;
        }
        final = true;
        if (done) {
          // Given up already: a 2xx still needs its ACK while the dialog lives; media stays as the rollback left it.
          if (res.status < 300 && req.method === 'INVITE' && call.state === 'answered') there.ack({ cseq });
          return;
        }
        // Still a crossing until the asker is answered: the call may end while the engine works.
        waiting?.cancel();
        if (res.status < 300 && negotiates) there.refreshedBy(res);
        // A re-INVITE without SDP: the other side offers in its 2xx and the round ends with the asker's ACK.
        const theirOffer = res.status < 300 && !offer && req.method === 'INVITE' ? parseOrNothing(res.body) : undefined;
        if (!theirOffer) settled(res.status < 300);
        guard(d, this.answerBack(call, here, there, req, tx, res, offer, theirOffer, cseq, settled, () => {
          if (done) return false;
          done = true;
          finished();
          return true;
        }), `${req.method} answer`);
      },
      onTimeout: () => {
        if (done) return;
        done = true;
        finished();
        settled(false);
        tx.respond(failureResponse(req, 'timeout', { toTag }));
        guard(d, this.ending.hangup(call, 'timeout', 'both'), 'timeout');
      },
      onTransportError: () => {
        if (done) return;
        done = true;
        finished();
        settled(false);
        tx.respond(failureResponse(req, 'unreachable', { toTag }));
      },
    });
    call.crossings.add(crossing);
  }

  /**
   * The other side's final answer `res`, rewritten for the asker: the SDP
   * answer (or the box's offer, when the other side offered in its 2xx) and
   * the engine updated to match. `claim` says whether the asker may still be
   * answered (the call may have ended while the engine worked).
   */
  private async answerBack(call: Call, here: CallLeg, there: CallLeg, req: SipRequest, tx: ServerTransaction, res: SipResponse,
    offer: SessionDescription | undefined, theirOffer: SessionDescription | undefined, cseq: number,
    settled: (ok: boolean) => void, claim: () => boolean): Promise<void> {
    const d = this.deps;
    const toTag = here.dialog!.localTag;
    let answerBody: Buffer | undefined;
    if (theirOffer) {
      answerBody = await this.offerBack(call, here, there, theirOffer, cseq, settled);
    } else if (res.status < 300 && offer && call.state === 'answered') {
      try {
        const answer = parseBody(res.body);
        if (answer) {
          const media = audioOf(answer);
          const back = call.keys && media ? call.keys.reanswered(keySide(call, here.id), media) : undefined;
          there.took(answer);
          await call.media.update(there.id, there.remote, back?.there);
          if (back?.hereSecurity) await call.media.update(here.id, undefined, back.hereSecurity);
          answerBody = answerFromAnswer(offer, answer, here.sdp, here.local!, back?.here ?? PLAIN_SDP);
        }
      } catch (e) {
        d.log.warn({ call: call.id, err: e instanceof Error ? e.message : String(e) }, 're-offer answer unusable');
        answerBody = undefined;
      }
    }
    if (req.method === 'INVITE' && res.status < 300 && !theirOffer && !call.ended) there.ack({ cseq });
    if (!claim()) return;
    const headers: Header[] = res.status < 300 && req.method !== 'INFO' ? [here.contact()] : [];
    const response = createResponse(req, res.status, res.reason, {
      toTag, headers, ...(answerBody ? { body: answerBody, contentType: SDP_TYPE } : {}),
    });
    tx.respond(response);
    // The 2xx of a re-INVITE is resent on UDP until the asker's ACK, like the first one (RFC 3261 13.3.1.4).
    if (req.method === 'INVITE' && res.status < 300 && call.state === 'answered') {
      here.answered(tx as InviteServerTransaction, response, call.life, () => guard(d, this.ending.hangup(call, 'timeout', 'both'), 'no ACK'));
    }
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
      const re = call.keys && media ? call.keys.reoffer(keySide(call, there.id), media) : undefined;
      there.took(theirOffer);
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
        const back = call.keys ? call.keys.reanswered(keySide(call, there.id), media) : undefined;
        here.took(answer);
        await call.media.update(here.id, here.remote, back?.there);
        if (back?.hereSecurity) await call.media.update(there.id, undefined, back.hereSecurity);
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

/**
 * The SDP a re-INVITE or UPDATE carries: only a body typed application/sdp
 * (or untyped, if it is SDP) is one; no body is no offer; any other type the
 * box cannot negotiate with.
 */
export function sdpIn(req: SipRequest): { offer: SessionDescription | undefined } | 'bad-sdp' | 'unsupported' {
  if (req.body.length === 0) return { offer: undefined };
  const type = getHeader(req, 'content-type')?.split(';')[0]?.trim().toLowerCase();
  if (type !== undefined && type !== SDP_TYPE) return 'unsupported';
  try { return { offer: parseBody(req.body) }; } catch { return 'bad-sdp'; }
}

function parseOrNothing(body: Buffer): SessionDescription | undefined {
  try { return parseBody(body); } catch { return undefined; }
}
