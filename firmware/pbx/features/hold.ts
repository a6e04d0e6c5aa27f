import type { Counters, Logger, TimerHandle } from '../../core/index.js';
import { codecsOf, type SessionDescription } from '../../sdp/index.js';
import { createResponse, type SipRequest } from '../../sip/message/index.js';
import type { InviteServerTransaction, ServerTransaction } from '../../sip/transaction/index.js';
import { SDP_TYPE, answerFromAnswer, audioOf, remoteOf } from '../media/index.js';
import { failureResponse, guard, keySide, type Call, type CallEnding, type CallLeg } from '../call/index.js';

/**
 * Hold and resume with music (RFC 3264 8.4, RFC 6337 5.3).
 *
 * A phone holds by re-offering its stream sendonly or inactive (or, in the
 * old RFC 2543 way, with c=0.0.0.0). When the box holds the keys of both
 * legs (a bridged call, or plain RTP), it answers that offer itself and
 * plays music into the other leg, encrypted with that leg's own keys; the
 * held phone sees no re-INVITE at all, so its SRTP context, SSRC and
 * sequence numbers never restart. The resume offer is answered the same way
 * and the music stops: the next packet the holder sends is forwarded at once.
 *
 * When the call is relayed end to end (a fully private call) the box has no
 * key to encrypt music with: the hold passes across to the other phone as
 * any re-offer does, and the call's view says why there is no music.
 */

export interface HoldDeps {
  readonly counters: Counters;
  readonly log: Logger;
  /** The music the box plays: 8 kHz mono linear PCM; undefined turns music on hold off (holds pass across). */
  readonly holdMusic: () => Int16Array | undefined;
  /** How long a hold the box answered may last before the holder is rung back (hold recall); 0 or absent: never. */
  readonly recallMs?: () => number;
  /** Ring the holder back, the held party waiting on music (transfer.ts recall, the park ring-back's path). */
  readonly recall?: (call: Call, holder: CallLeg) => Promise<void>;
  /** The holder resumed: a recall ringing for this call stops (transfer.ts cancelRecall). */
  readonly cancelRecall?: (call: Call) => void;
}

/** Why a fully private call gets no music, as the views say it. */
export const PRIVATE_HOLD_NOTE = 'on hold without music: the call is fully private (encrypted end to end), the box has no keys to play music with';

/** Whether an offer puts the stream on hold: sendonly, inactive, or the old c=0.0.0.0 (RFC 3264 8.4). */
export function isHoldOffer(offer: SessionDescription): boolean {
  const r = remoteOf(offer);
  return r.direction === 'sendonly' || r.direction === 'inactive' || r.rtp.address === '0.0.0.0';
}

/** The G.711 codec the leg's phone takes, for music toward it: its number and law; undefined when it takes neither. */
export function musicCodec(sd: SessionDescription | undefined): { codec: 'PCMU' | 'PCMA'; payloadType: number } | undefined {
  const m = audioOf(sd);
  if (!m) return undefined;
  for (const c of codecsOf(m)) {
    const name = c.encoding.toUpperCase();
    if ((name === 'PCMU' || name === 'PCMA') && c.clockRate === 8000) return { codec: name, payloadType: c.pt };
  }
  return undefined;
}

export class Hold {
  /** The recall timer of each holding leg (the box answered its hold). */
  private readonly recalls = new Map<CallLeg, { timer: TimerHandle; off: () => void }>();

  constructor(private readonly deps: HoldDeps, private readonly ending: CallEnding) {}

  /**
   * Whether the box answers this re-offer itself: an answered two-party call
   * whose keys the box holds, music configured, an SDP offer that holds or
   * resumes (a leg already holding that re-offers anything), no round open.
   * On a fully private call a hold is noted and passes across.
   */
  takes(call: Call, here: CallLeg, req: SipRequest, offer: SessionDescription | undefined): boolean {
    if (!offer || (req.method !== 'INVITE' && req.method !== 'UPDATE') || call.state !== 'answered') return false;
    let holds: boolean;
    try { holds = isHoldOffer(offer); } catch { return false; }
    if (!holds && !here.holding) return false;
    if (!call.keys) return false;
    if (call.keys.endToEnd) {
      if (holds && !call.notes.includes(PRIVATE_HOLD_NOTE)) {
        call.notes.push(PRIVATE_HOLD_NOTE);
        this.deps.counters.inc('hold.private-passed-across');
        this.deps.log.info({ call: call.id }, 'hold on a fully private call passes across: no music (the box has no keys)');
      }
      return false;
    }
    if (this.deps.holdMusic() === undefined) return false;
    const there = call.other(here.id);
    if (!there.remoteSdp || here.offerAnswer.pending || there.offerAnswer.pending || here.awaitingAck) return false;
    return true;
  }

  /**
   * Answer the holder's (or resumer's) offer on its own leg and start or stop
   * the music toward the other. `music` false: answer only, the music as it
   * is (a parked party's re-offer: the other leg has no phone on it).
   */
  async answer(call: Call, here: CallLeg, req: SipRequest, tx: ServerTransaction, offer: SessionDescription, music = true): Promise<void> {
    const d = this.deps;
    const there = call.other(here.id);
    const toTag = here.dialog?.localTag;
    const media = audioOf(offer);
    if (!media || !here.local || !call.keys) { tx.respond(failureResponse(req, 'not-acceptable', { toTag })); return; }
    here.offerAnswer.apply('receive-offer');
    let body: Buffer;
    try {
      const k = call.keys.answerHere(keySide(call, here.id), media, audioOf(there.remoteSdp));
      const previous = here.remote;
      await call.media.update(here.id, remoteOf(offer), k.security);
      try {
        body = answerFromAnswer(offer, there.remoteSdp!, here.sdp, here.local, k.here);
      } catch (e) {
        if (previous) await call.media.update(here.id, previous);
        throw e;
      }
      here.took(offer);
    } catch (e) {
      here.offerAnswer.apply('rollback');
      d.log.info({ call: call.id, err: e instanceof Error ? e.message : String(e) }, 'hold offer not acceptable');
      tx.respond(failureResponse(req, 'not-acceptable', { toTag }));
      return;
    }
    here.offerAnswer.apply('send-answer');
    const holding = isHoldOffer(offer);
    const was = here.holding;
    here.holding = holding;
    const res = createResponse(req, 200, 'OK', { toTag, headers: [here.contact()], body, contentType: SDP_TYPE });
    tx.respond(res);
    if (req.method === 'INVITE') {
      here.answered(tx as InviteServerTransaction, res, call.life, () => guard(d, this.ending.hangup(call, 'timeout', 'both'), 'no ACK'));
    }
    if (music && holding && !was) {
      this.armRecall(call, here);
      await this.startMusic(call, here, there);
    } else if (music && !holding && was) {
      this.disarmRecall(call, here);
      await this.stopMusic(call, here, there);
    }
    this.ending.changed();
  }

  /**
   * Hold recall: a hold nobody resumes within the configured time rings the
   * holder back (a new call from the held party, who keeps hearing music);
   * answering it reconnects the two. The timer lives only while the call is
   * answered, so a hangup by either side ends it with the call.
   */
  private armRecall(call: Call, holder: CallLeg): void {
    const d = this.deps;
    const ms = d.recallMs?.() ?? 0;
    if (ms <= 0 || !d.recall) return;
    this.drop(holder);
    const timer = call.life.timer(ms, () => {
      this.drop(holder);
      if (call.ended || call.state !== 'answered' || !call.sideOf(holder.id) || !holder.holding || call.parkedIn !== undefined) return;
      d.counters.inc('hold.recalled');
      d.log.info({ call: call.id, holder: holder.party, held: call.other(holder.id).party, afterMs: ms }, 'hold not resumed in time: ringing the holder back');
      call.notes.push(`on hold ${Math.round(ms / 1000)} s: recalled ${holder.party}`);
      guard(d, d.recall!(call, holder), 'hold recall');
      this.ending.changed();
    }, ['answered']);
    const off = call.on('closed', () => this.drop(holder));
    this.recalls.set(holder, { timer, off });
  }

  private disarmRecall(call: Call, holder: CallLeg): void {
    this.drop(holder);
    this.deps.cancelRecall?.(call);
  }

  private drop(holder: CallLeg): void {
    const r = this.recalls.get(holder);
    if (!r) return;
    this.recalls.delete(holder);
    r.timer.cancel();
    r.off();
  }

  private async startMusic(call: Call, holder: CallLeg, held: CallLeg): Promise<void> {
    const d = this.deps;
    const pcm = d.holdMusic();
    const codec = musicCodec(held.remoteSdp);
    d.counters.inc('hold.held');
    if (!pcm || !codec) {
      d.log.info({ call: call.id, leg: held.id }, 'call held: no music (the held phone takes neither PCMU nor PCMA)');
      return;
    }
    try {
      await call.media.play(held.id, pcm, codec.codec, codec.payloadType);
      held.hearingMusic = true;
      d.log.info({ call: call.id, holder: holder.party, held: held.party }, 'call held: music on hold to the held party');
    } catch (e) {
      d.counters.inc('hold.music-failed');
      d.log.warn({ call: call.id, err: e instanceof Error ? e.message : String(e) }, 'call held: music could not start');
    }
  }

  private async stopMusic(call: Call, holder: CallLeg, held: CallLeg): Promise<void> {
    const d = this.deps;
    d.counters.inc('hold.resumed');
    if (!held.hearingMusic) return;
    held.hearingMusic = false;
    try { await call.media.stopPlay(held.id); } catch (e) {
      d.log.warn({ call: call.id, err: e instanceof Error ? e.message : String(e) }, 'music on hold could not stop');
    }
    d.log.info({ call: call.id, holder: holder.party }, 'call resumed');
  }
}
