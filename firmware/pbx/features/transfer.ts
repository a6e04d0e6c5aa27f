import type { TimerHandle } from '../../core/index.js';
import { isSecureSignalling, type LegKeying } from '../../keying/index.js';
import {
  createResponse, getCSeq, getHeader, parseNameAddr, parseUri, withBody, type Header, type SipRequest, type SipResponse,
} from '../../sip/message/index.js';
import { dialogAsUac, dialogAsUas, dialogRequest, type Dialog } from '../../sip/dialog/index.js';
import type { ServerTransaction, Target } from '../../sip/transaction/index.js';
import { DEFAULT_POLICY } from '../../config/index.js';
import { codecsOf, type SessionDescription } from '../../sdp/index.js';
import { routeCallee } from '../routing/index.js';
import { SDP_TYPE, answerFromAnswer, audioOf, legKeying, offerFromOffer, parseBody, payloadMap, sdpSession, type SdpSession } from '../media/index.js';
import { DEFAULT_PHONE_CAPS, decideMediaPlan, isRefusal, policySettings, summarizeOffer, type MediaPlan, type PolicyRefusal } from '../policy/index.js';
import {
  CallLeg, Fork, failureResponse, guard, keySide, keysOptions, responseOf, type Branch, type Call, type CallEnding, type CalleeAccount, type CallFailure,
  type EndReason, type IncomingCall, type SetupDeps,
} from '../call/index.js';
import { musicCodec } from './hold.js';

/**
 * Blind transfer (RFC 3515 REFER, RFC 5589 4): the transferor asks the box,
 * in its dialog, to connect the other party (the transferee) to a third
 * phone. The box does it itself: it rings the target with an offer made from
 * the transferee's media, and when the target answers, the target's new leg
 * takes the transferor's place in the call. The transferee's leg is not
 * touched (no re-INVITE): its ports, keys, SRTP context and SSRC go on, so
 * there is no stale context and no one-way audio. The target's leg gets its
 * own keys as its account's policy says (SDES over TLS, or plain). Progress
 * goes to the transferor as NOTIFYs of message/sipfrag (RFC 3515 2.4.5),
 * then the box ends the transferor's leg.
 *
 * A fully private call (relayed end to end) cannot be transferred by the box:
 * the transferee's keys belong to the transferor's phone, and the box has
 * none to give the target. The REFER is declined (603) with a Warning.
 */

export interface TransferDeps extends SetupDeps {
  readonly holdMusic: () => Int16Array | undefined;
  /** Every call the box has now (a Replaces names a dialog of another call). */
  readonly calls: () => Iterable<Call>;
  /** Call park: a blind transfer to its number parks the call (park.ts); absent: no park. */
  readonly parking?: ParkingLot;
}

/** What blind transfer needs of call park (park.ts ParkLot). */
export interface ParkingLot {
  /** Whether a Refer-To user is the park number. */
  isPark(user: string): boolean;
  /** Park the call with `stay` waiting in it for `parker`: the slot's number, or undefined when every slot is taken. */
  park(call: Call, stay: CallLeg, parker: string): string | undefined;
}

/** The dialog a Replaces header names (RFC 3891 6.1). */
export interface Replaces {
  readonly callId: string;
  readonly toTag: string;
  readonly fromTag: string;
  /** `early-only`: replace the dialog only while it is early (RFC 3891 6.1). */
  readonly earlyOnly?: boolean;
}

/** Longer than this a Replaces value is refused: a Call-ID and two tags fit in far less. */
const MAX_REPLACES = 512;

/** `callid;to-tag=x;from-tag=y[;early-only]` (RFC 3891 6.1), already unescaped from the Refer-To URI; throws when a part is missing. */
export function parseReplaces(value: string): Replaces {
  if (value.length > MAX_REPLACES) throw new Error('Replaces too long');
  const [callId, ...params] = value.split(';').map((x) => x.trim());
  const p = new Map(params.map((x) => { const i = x.indexOf('='); return (i < 0 ? [x.toLowerCase(), ''] : [x.slice(0, i).toLowerCase(), x.slice(i + 1)]) as [string, string]; }));
  const toTag = p.get('to-tag');
  const fromTag = p.get('from-tag');
  if (!callId || !toTag || !fromTag || /[\s,]/.test(callId)) throw new Error('Replaces needs a Call-ID, to-tag and from-tag');
  return { callId, toTag, fromTag, ...(p.has('early-only') ? { earlyOnly: true } : {}) };
}

/**
 * Payload type numbers between two phones that each negotiated with the box
 * on their own: `there` rewrites what `from`'s phone sends into `to`'s
 * numbers, `back` the other way. Codecs match by name and rate.
 */
function codecMap(from: SessionDescription | undefined, to: SessionDescription | undefined): { there: Record<number, number>; back: Record<number, number> } {
  const there: Record<number, number> = {};
  const back: Record<number, number> = {};
  const fm = audioOf(from);
  const tm = audioOf(to);
  if (!fm || !tm) return { there, back };
  const tc = codecsOf(tm);
  for (const c of codecsOf(fm)) {
    const m = tc.find((x) => x.encoding.toLowerCase() === c.encoding.toLowerCase() && x.clockRate === c.clockRate);
    if (m && m.pt !== c.pt) { there[c.pt] = m.pt; back[m.pt] = c.pt; }
  }
  return { there, back };
}

/** Why a fully private call cannot be transferred, in a Warning and the call's notes. */
export const PRIVATE_TRANSFER_NOTE = 'transfer refused: the call is fully private (encrypted end to end), the box has no keys to join another phone to it';

/** How long a NOTIFY subscription made by a REFER lasts (RFC 3515 2.4.4). */
const REFER_EXPIRES_S = 60;

interface Pending {
  readonly fork: Fork<LegKeying>;
  readonly leg: CallLeg;
  /** The transferor's leg: it may hang up before the target answers (RFC 5589 6: a blind transferor may). */
  readonly transferor: CallLeg;
  transferorGone: boolean;
  /** A parked call ringing its parker back (ringBack), not a REFER. */
  readonly ringBack: boolean;
  /** A held call ringing its holder back (recall): the holder's held dialog goes on until the new one answers. */
  readonly recall: boolean;
  timer?: TimerHandle;
  /** The box's offer toward the target, for the payload map of its answer. */
  readonly offer: Buffer;
}

let transfers = 0;

export class Transfer {
  private readonly pending = new Map<Call, Pending>();

  constructor(private readonly deps: TransferDeps, private readonly ending: CallEnding) {}

  /** A transfer of this call is ringing its target. */
  busy(call: Call): boolean {
    return this.pending.has(call);
  }

  /**
   * The transferor hung up while its transfer rings (RFC 5589 6): the call
   * stays up for the transferee, who hears music while the target rings.
   * True when the BYE was this.
   */
  transferorLeft(call: Call, leg: CallLeg): boolean {
    const p = this.pending.get(call);
    if (!p || p.transferor !== leg || p.transferorGone) return false;
    p.transferorGone = true;
    guard(this.deps, this.music(call, call.other(leg.id), true), 'transfer music');
    return true;
  }

  /** A REFER in one of the call's dialogs. */
  async refer(call: Call, here: CallLeg, req: SipRequest, tx: ServerTransaction): Promise<void> {
    const d = this.deps;
    const toTag = here.dialog?.localTag;
    let target: { user: string; replaces: Replaces | undefined };
    try {
      const uri = parseUri(parseNameAddr(getHeader(req, 'refer-to') ?? '').uri);
      if (!uri.user) throw new Error('no user');
      const rep = uri.headers.find((h) => h.name.toLowerCase() === 'replaces');
      target = { user: uri.user, replaces: rep ? parseReplaces(rep.value ?? '') : undefined };
    } catch {
      d.counters.inc('transfer.bad-refer');
      tx.respond(failureResponse(req, 'bad-request', { toTag }));
      return;
    }
    // A parked call has nobody on its other side to transfer to or from (park.ts).
    if (call.state !== 'answered' || !call.sideOf(here.id) || this.pending.has(call) || call.parkedIn !== undefined) {
      tx.respond(failureResponse(req, 'glare', { toTag }));
      return;
    }
    if (!call.keys || call.keys.endToEnd) {
      d.counters.inc('transfer.private-refused');
      if (!call.notes.includes(PRIVATE_TRANSFER_NOTE)) call.notes.push(PRIVATE_TRANSFER_NOTE);
      d.log.info({ call: call.id }, PRIVATE_TRANSFER_NOTE);
      const { status, reason } = responseOf('declined');
      tx.respond(createResponse(req, status, reason, { toTag, headers: [{ name: 'warning', value: `399 securepbx "${PRIVATE_TRANSFER_NOTE}"` }] }));
      return;
    }
    if (target.replaces) {
      await this.attended(call, here, req, tx, target.replaces);
      return;
    }
    tx.respond(createResponse(req, 202, 'Accepted', { toTag }));
    d.counters.inc('transfer.accepted');
    this.notify(here, '100 Trying', true);
    if (d.parking?.isPark(target.user)) { await this.park(call, here); return; }
    const account = d.callee(target.user);
    if (!account) { this.failed(call, here, false, '404 Not Found'); return; }
    await this.ring(call, here, account, false, req);
  }

  /**
   * A parked call nobody retrieved (park.ts): ring the parker with the
   * parked party waiting on music, as a blind transfer whose transferor has
   * left: the parker answering takes the call, a parker who does not ends it.
   */
  async ringBack(call: Call, ghost: CallLeg, parker: string): Promise<void> {
    const account = this.deps.callee(parker);
    if (!account || this.pending.has(call)) { await this.ending.hangup(call, 'no-answer', 'both'); return; }
    await this.ring(call, ghost, account, true);
  }

  /**
   * Hold recall (hold.ts): the holder did not resume in time. The holder's
   * phone rings again by the park ring-back's path, the held party calling
   * and still hearing music; its answer takes the held leg's place (that
   * dialog then gets BYE). Unanswered, the call stays on hold as it was.
   */
  async recall(call: Call, holder: CallLeg): Promise<void> {
    const account = this.deps.callee(holder.party);
    if (!account || this.pending.has(call)) {
      this.deps.counters.inc('hold.recall-skipped');
      return;
    }
    await this.ring(call, holder, account, true, undefined, true);
  }

  /** The holder resumed on its held dialog while the recall rang: the recall stops, the call goes on. */
  cancelRecall(call: Call): void {
    const p = this.pending.get(call);
    if (!p?.recall) return;
    this.pending.delete(call);
    p.timer?.cancel();
    p.fork.cancelAll();
    guard(this.deps, call.media.removeLeg(p.leg.id).catch(() => {}), 'recall cancel');
    call.notes.push(`${p.transferor.party} resumed: recall cancelled`);
    this.deps.counters.inc('hold.recall-cancelled');
  }

  /**
   * Blind transfer to the park number: the call waits in a slot with music,
   * the transferor hears the slot in the final NOTIFY (`200 Parked at 701`)
   * and its leg ends; dialling the slot retrieves the call (park.ts).
   */
  private async park(call: Call, here: CallLeg): Promise<void> {
    const d = this.deps;
    const stay = call.other(here.id);
    const slot = d.parking!.park(call, stay, here.party);
    if (slot === undefined) {
      d.counters.inc('park.full');
      this.notify(here, '486 All Park Slots Busy', false);
      return;
    }
    this.notify(here, `200 Parked at ${slot}`, false);
    here.bye();
    // The parker's dialog and ports are done; the leg stays in the call's place until someone retrieves it.
    here.dialog = undefined;
    await call.media.removeLeg(here.id).catch(() => {});
    await this.music(call, stay, true).catch((e: unknown) => {
      d.log.warn({ call: call.id, err: e instanceof Error ? e.message : String(e) }, 'park: music could not start');
    });
    this.ending.changed();
  }

  /** Ring `account` for the party that stays; its answer takes `here`'s place. `gone`: `here` has left already (no NOTIFYs). */
  private async ring(call: Call, here: CallLeg, account: CalleeAccount, gone: boolean, refer?: SipRequest, recall = false): Promise<void> {
    const d = this.deps;
    const failed = (frag: string): void => this.failed(call, here, gone, frag, recall);
    const stay = call.other(here.id);
    const targets = routeCallee(account, d.location.lookup(account.extension)).targets;
    if (targets.length === 0 || !stay.remoteSdp) { failed('480 Temporarily Unavailable'); return; }

    const id = `t${++transfers}`;
    const leg = new CallLeg(id, account.extension, d);
    try {
      leg.local = await call.media.addLeg(id, {});
    } catch {
      failed('503 Service Unavailable');
      return;
    }
    const fork = new Fork<LegKeying>(d.transactions);
    let offerBody: Buffer | undefined;
    for (const t of targets) {
      // The target's leg is keyed by the box as the target's account allows:
      // the transferee's keys stay on its own leg.
      const plan = planToward(d, stay, account, t.target);
      if (isRefusal(plan)) continue;
      let keying: LegKeying;
      let body: Buffer;
      const sdp: SdpSession = sdpSession(leg.sdp.id);
      try {
        keying = legKeying({ ...plan, mode: 'bridge' }, { ...plan.legB, keys: 'box' }, isSecureSignalling(t.target.transport), keysOptions(d, { a: false, b: false }));
        body = offerFromOffer(stay.remoteSdp, sdp, leg.local, keying.offer(audioOf(stay.remoteSdp), false)).body;
      } catch (e) {
        d.log.info({ call: call.id, err: e instanceof Error ? e.message : String(e) }, 'transfer: no offer for a contact of the target');
        continue;
      }
      offerBody ??= body;
      const branch: Branch<LegKeying> = fork.ring(t.target, t.contact, this.invite(stay, here, t.target, t.contact, account.extension, body, refer), keying, sdp, {
        onResponse: (res) => guard(d, this.onResponse(call, branch, res), 'transfer response'),
        onTimeout: () => guard(d, this.onFinal(call, branch, 408), 'transfer timeout'),
        onTransportError: () => guard(d, this.onFinal(call, branch, 503), 'transfer transport'),
      });
      if (branch.state === 'done') fork.failed(branch, 503);
    }
    if (fork.branches.length === 0 || !offerBody) {
      await call.media.removeLeg(id).catch(() => {});
      failed('488 Not Acceptable Here');
      return;
    }
    const p: Pending = { fork, leg, transferor: here, transferorGone: gone, ringBack: gone && !recall, recall, offer: offerBody };
    this.pending.set(call, p);
    p.timer = call.life.timer(d.noAnswerMs(), () => {
      fork.cancelAll();
      guard(d, this.finish(call, '480 No Answer'), 'transfer no answer');
    }, ['answered']);
    call.on('closed', () => {
      const q = this.pending.get(call);
      if (!q) return;
      this.pending.delete(call);
      q.timer?.cancel();
      q.fork.cancelAll();
    });
    if (fork.allDone) await this.finish(call, '503 Service Unavailable');
    d.log.info({ call: call.id, transferor: here.party, transferee: stay.party, target: account.extension }, 'blind transfer: ringing the target');
  }

  /**
   * Attended transfer (RFC 5589 7, RFC 3891): the transferor has a second
   * call through the box, named by Replaces. The box joins the two parties
   * that stay, each on its own leg with its own keys: the target's leg moves
   * (ports, latch and SRTP context) from the second call into this one in
   * the transferor's place, and both of the transferor's legs end. Nobody is
   * re-INVITEd. Both calls must have their keys held by the box: a fully
   * private call cannot be joined to another phone.
   */
  private async attended(call: Call, here: CallLeg, req: SipRequest, tx: ServerTransaction, rep: Replaces): Promise<void> {
    const d = this.deps;
    const toTag = here.dialog?.localTag;
    const found = this.find(rep);
    if (!found || found.call === call || found.call.state !== 'answered' || !found.call.sideOf(found.leg.id) || this.pending.has(found.call)) {
      d.counters.inc('transfer.replaces-unknown');
      // RFC 3891 3: no dialog matches: the Replaces cannot be carried out.
      tx.respond(failureResponse(req, 'no-dialog', { toTag }));
      return;
    }
    const other = found.call;
    if (!other.keys || other.keys.endToEnd) {
      d.counters.inc('transfer.private-refused');
      const { status, reason } = responseOf('declined');
      tx.respond(createResponse(req, status, reason, { toTag, headers: [{ name: 'warning', value: `399 securepbx "${PRIVATE_TRANSFER_NOTE}"` }] }));
      return;
    }
    tx.respond(createResponse(req, 202, 'Accepted', { toTag }));
    this.notify(here, '100 Trying', true);
    const stay = call.other(here.id);
    const joining = other.other(found.leg.id);
    const keying = other.keys.leg(keySide(other, joining.id));
    const newId = `j${++transfers}`;
    try {
      await other.media.moveLeg(joining.id, call.media, newId);
    } catch (e) {
      d.log.warn({ call: call.id, err: e instanceof Error ? e.message : String(e) }, 'attended transfer: the leg could not be moved');
      this.notify(here, '503 Service Unavailable', false);
      return;
    }
    // The moved leg keeps its dialog, its keys and its ports; only its name in this call is new.
    const oldId = joining.id;
    joining.id = newId;
    other.legs.delete(oldId);
    other.legs.set(newId, joining);
    if (other.sides.a === oldId) other.sides.a = newId; else other.sides.b = newId;
    call.keys!.replace(keySide(call, here.id), keying);
    const side = call.sideOf(here.id)!;
    const leaving = call.replace(side, joining);
    if (stay.hearingMusic) { stay.hearingMusic = false; await call.media.stopPlay(stay.id).catch(() => {}); }
    if (joining.hearingMusic) { joining.hearingMusic = false; await call.media.stopPlay(newId).catch(() => {}); }
    stay.holding = false;
    joining.holding = false;
    await call.media.removeLeg(leaving.id).catch(() => {});
    await joinMedia(call, joining, stay);
    this.notify(leaving, '200 OK', false);
    leaving.bye();
    call.notes.push(`attended transfer by ${leaving.party}: ${stay.party} joined to ${joining.party}`);
    // The other call is over for the transferor; the joined party's leg lives on in this call
    // (the other call still names it, for its record, but sends it nothing more).
    await this.ending.hangup(other, 'transferred', found.leg.id);
    d.counters.inc('transfer.attended');
    d.log.info({ call: call.id, from: other.id, transferor: leaving.party, joined: [stay.party, joining.party] }, 'attended transfer: connected');
    this.ending.changed();
  }

  private find(rep: Replaces): { call: Call; leg: CallLeg } | undefined {
    return findReplaced(this.deps.calls(), rep);
  }

  private async onResponse(call: Call, branch: Branch<LegKeying>, res: SipResponse): Promise<void> {
    const p = this.pending.get(call);
    if (res.status < 200) {
      if (!p) return;
      if (!p.fork.provisional(branch)) return;
      if (res.status === 180 || res.status === 183) this.notifyIfThere(p, `${res.status} ${res.status === 180 ? 'Ringing' : 'Session Progress'}`, true);
      return;
    }
    if (res.status >= 300) { await this.onFinal(call, branch, res.status); return; }
    let dialog: Dialog;
    try { dialog = dialogAsUac(branch.request, res); } catch { return; }
    if (!p || p.fork.winner || call.ended) {
      if (p?.fork.winner === branch) { p.leg.reAck(); return; }
      stray(this.deps, dialog, branch.target);
      return;
    }
    p.fork.win(branch);
    p.timer?.cancel();
    await this.join(call, p, branch, res, dialog);
  }

  private async onFinal(call: Call, branch: Branch<LegKeying>, status: number): Promise<void> {
    const p = this.pending.get(call);
    if (!p) return;
    if (p.fork.failed(branch, status)) {
      const { answer } = p.fork.best();
      const final = typeof answer === 'string' ? responseOf(answer) : { status: answer.status, reason: 'Failed' };
      await this.finish(call, `${final.status} ${final.reason}`);
    }
  }

  /** The target answered: its leg takes the transferor's place. */
  private async join(call: Call, p: Pending, branch: Branch<LegKeying>, res: SipResponse, dialog: Dialog): Promise<void> {
    const d = this.deps;
    const { leg } = p;
    const stay = call.other(p.transferor.id);
    leg.dialog = dialog;
    leg.target = branch.target;
    leg.sdp = branch.sdp;
    const cseq = getCSeq(branch.request).seq;
    try {
      const answer = parseBody(res.body);
      const media = audioOf(answer);
      if (!answer || !media) throw new Error('no SDP in the answer');
      const security = branch.keys.takeAnswer(media) ?? branch.keys.security();
      const remote = leg.took(answer);
      await call.media.update(leg.id, remote, security);
      const offered = parseBody(p.offer)!;
      const map = payloadMap(offered, answer);
      leg.ack({ cseq });
      if (call.ended || call.state !== 'answered') { leg.bye(); return; }
      const side = call.sideOf(p.transferor.id)!;
      call.keys!.replace(keySide(call, p.transferor.id), branch.keys);
      const leaving = call.replace(side, leg);
      this.pending.delete(call);
      // A parked call's leaving leg (ringBack) has no ports any more.
      await call.media.removeLeg(leaving.id).catch(() => {});
      await this.music(call, stay, false);
      await call.media.connect(stay.id, leg.id);
      if (Object.keys(map).length) await call.media.renumber(leg.id, stay.id, map);
      else await call.media.connect(leg.id, stay.id);
      if (!p.transferorGone) {
        this.notify(leaving, '200 OK', false);
        leaving.bye();
      }
      // The recalled holder's phone has the new call now: its held dialog ends.
      if (p.recall) { leaving.holding = false; leaving.bye(); }
      call.notes.push(p.recall ? `${leg.party} answered the hold recall` : p.ringBack ? `${leg.party} answered the ring back` : `transferred by ${leaving.party} to ${leg.party}`);
      d.counters.inc('transfer.done');
      d.log.info({ call: call.id, transferor: leaving.party, transferee: stay.party, target: leg.party }, 'blind transfer: connected');
      this.ending.changed();
    } catch (e) {
      d.log.warn({ call: call.id, err: e instanceof Error ? e.message : String(e) }, 'transfer: the target\'s answer is unusable');
      leg.ack({ cseq });
      leg.bye();
      await this.finish(call, '488 Not Acceptable Here');
    }
  }

  /** The transfer failed: the transferor hears why; the call goes on, or ends when the transferor already left. */
  private async finish(call: Call, frag: string): Promise<void> {
    const p = this.pending.get(call);
    if (!p) return;
    this.pending.delete(call);
    p.timer?.cancel();
    await call.media.removeLeg(p.leg.id).catch(() => {});
    this.failed(call, p.transferor, p.transferorGone, frag, p.recall);
  }

  private failed(call: Call, transferor: CallLeg, gone: boolean, frag: string, recall = false): void {
    const d = this.deps;
    if (recall) {
      // Nobody answered the recall: the call stays on hold as it was, the held party on music.
      d.counters.inc('hold.recall-unanswered');
      call.notes.push(`recall of ${transferor.party} not answered (${frag})`);
      d.log.info({ call: call.id, holder: transferor.party, result: frag }, 'hold recall not answered: the call stays on hold');
      this.ending.changed();
      return;
    }
    d.counters.inc('transfer.failed');
    d.log.info({ call: call.id, result: frag }, 'blind transfer failed');
    if (gone) {
      guard(d, this.ending.hangup(call, 'failed', 'both'), 'transfer failed');
      return;
    }
    this.notify(transferor, frag, false);
  }

  private notifyIfThere(p: Pending, frag: string, active: boolean): void {
    if (!p.transferorGone) this.notify(p.transferor, frag, active);
  }

  /** A NOTIFY of the REFER's progress (RFC 3515 2.4.5): the status line of the target's answer as message/sipfrag. */
  private notify(leg: CallLeg, frag: string, active: boolean): void {
    if (!leg.dialog || !leg.target) return;
    const req = leg.nextRequest('NOTIFY', { body: Buffer.from(`SIP/2.0 ${frag}\r\n`), contentType: 'message/sipfrag;version=2.0' });
    const headers: Header[] = [
      ...req.headers,
      { name: 'event', value: 'refer' },
      { name: 'subscription-state', value: active ? `active;expires=${REFER_EXPIRES_S}` : 'terminated;reason=noresource' },
    ];
    try { leg.send({ ...req, headers }, { onResponse: () => {} }); } catch { /* the transferor is gone */ }
  }

  /** Music to the transferee while it waits for the target alone (the transferor left), or stop it. */
  private async music(call: Call, leg: CallLeg, on: boolean): Promise<void> {
    if (!on) {
      if (!leg.hearingMusic) return;
      leg.hearingMusic = false;
      await call.media.stopPlay(leg.id);
      return;
    }
    const pcm = this.deps.holdMusic();
    const codec = musicCodec(leg.remoteSdp);
    if (!pcm || !codec || leg.hearingMusic) return;
    await call.media.play(leg.id, pcm, codec.codec, codec.payloadType);
    leg.hearingMusic = true;
  }

  /** The box's INVITE toward the target: from the transferee, with Referred-By (RFC 3892) when the REFER gave one. */
  private invite(stay: CallLeg, transferor: CallLeg, target: Target, contact: string, ext: string, body: Buffer, refer?: SipRequest): SipRequest {
    const d = this.deps;
    const host = hostOf(d.contactFor(target));
    const referredBy = refer ? getHeader(refer, 'referred-by') : undefined;
    const headers: Header[] = [
      { name: 'max-forwards', value: '70' },
      { name: 'from', value: `<sip:${stay.party}@${host}>;tag=${d.random.token(64)}` },
      { name: 'to', value: `<sip:${ext}@${host}>` },
      { name: 'call-id', value: `${d.random.token(96)}@securepbx` },
      { name: 'cseq', value: '1 INVITE' },
      { name: 'contact', value: `<${d.contactFor(target)}>` },
      { name: 'allow', value: 'INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER, NOTIFY' },
      { name: 'referred-by', value: referredBy ?? `<sip:${transferor.party}@${host}>` },
    ];
    const req: SipRequest = { kind: 'request', method: 'INVITE', uri: contact, headers, body: Buffer.alloc(0) };
    return withBody(req, body, SDP_TYPE);
  }
}

/** The call and leg whose confirmed dialog a Replaces names (RFC 3891 3): by Call-ID and both tags, in either order. */
export function findReplaced(calls: Iterable<Call>, rep: Replaces): { call: Call; leg: CallLeg } | undefined {
  for (const c of calls) {
    for (const leg of c.legs.values()) {
      const dl = leg.dialog;
      if (!dl || dl.callId !== rep.callId) continue;
      const tags = new Set([dl.localTag, dl.remoteTag]);
      if (tags.has(rep.toTag) && tags.has(rep.fromTag)) return { call: c, leg };
    }
  }
  return undefined;
}

/**
 * The box answers a new INVITE itself and its new leg takes `ghost`'s
 * place opposite `stay` (a park retrieve, an INVITE with Replaces): the new
 * leg keyed from its own offer as the new phone's account allows, the
 * staying leg untouched (no re-INVITE), its music stopped, media joined both
 * ways. `claim` runs once the plan allows it, before anything changes.
 * The new leg, or why it was refused (nothing in the call changed then).
 */
export async function answerJoin(
  d: SetupDeps, call: Call, stay: CallLeg, incoming: IncomingCall, account: CalleeAccount, id: string,
  onNoAck: () => void, claim: () => void = () => {},
): Promise<{ leg: CallLeg } | { refused: CallFailure; why: EndReason }> {
  let offer: SessionDescription | undefined;
  try { offer = parseBody(incoming.req.body); } catch { offer = undefined; }
  const media = audioOf(offer);
  // A late-offer INVITE: the box would have to offer, which it does not do here.
  if (!offer || !media || !stay.remoteSdp || !call.keys) return { refused: 'not-acceptable', why: 'codec-mismatch' };
  const plan = planToward(d, stay, account, incoming.source);
  if (isRefusal(plan)) return { refused: plan.status === 480 ? 'unavailable' : 'not-acceptable', why: 'media-policy' };
  claim();
  const leg = new CallLeg(id, account.extension, d, incoming.source);
  let body: Buffer;
  const keying = legKeying({ ...plan, mode: 'bridge' }, { ...plan.legB, keys: 'box' }, isSecureSignalling(incoming.source.transport), keysOptions(d, { a: false, b: false }));
  try {
    keying.takeOffer(media);
    const line = keying.answer(audioOf(stay.remoteSdp));
    leg.local = await call.media.addLeg(id, {});
    body = answerFromAnswer(offer, stay.remoteSdp, leg.sdp, leg.local, line);
    await call.media.update(id, leg.took(offer), keying.security());
  } catch (e) {
    d.log.info({ call: call.id, joining: account.extension, err: e instanceof Error ? e.message : String(e) }, 'the new leg could not be answered');
    await call.media.removeLeg(id).catch(() => {});
    return { refused: 'not-acceptable', why: 'codec-mismatch' };
  }
  if (call.ended) {
    await call.media.removeLeg(id).catch(() => {});
    return { refused: 'no-dialog', why: 'cancelled' };
  }
  const tag = d.random.token(64);
  const res = createResponse(incoming.req, 200, 'OK', { toTag: tag, headers: [leg.contact(), { name: 'supported', value: 'replaces' }], body, contentType: SDP_TYPE });
  incoming.tx.respond(res);
  leg.dialog = dialogAsUas(incoming.req, tag);
  leg.offerAnswer.apply('receive-offer');
  leg.offerAnswer.apply('send-answer');
  leg.answered(incoming.tx, res, call.life, onNoAck);
  const ghost = call.other(stay.id);
  call.keys.replace(keySide(call, ghost.id), keying);
  call.replace(call.sideOf(ghost.id)!, leg);
  if (stay.hearingMusic) {
    stay.hearingMusic = false;
    await call.media.stopPlay(stay.id).catch(() => {});
  }
  stay.holding = false;
  await joinMedia(call, leg, stay);
  return { leg };
}

/**
 * Connect two legs of a call both ways, each phone's payload numbers
 * rewritten into the other's where they differ (a leg joined from elsewhere:
 * an attended transfer, a park retrieve).
 */
export async function joinMedia(call: Call, joining: CallLeg, stay: CallLeg): Promise<void> {
  const map = codecMap(joining.remoteSdp, stay.remoteSdp);
  if (Object.keys(map.there).length) await call.media.renumber(joining.id, stay.id, map.there); else await call.media.connect(joining.id, stay.id);
  if (Object.keys(map.back).length) await call.media.renumber(stay.id, joining.id, map.back); else await call.media.connect(stay.id, joining.id);
}

/**
 * The media plan for a leg the box makes toward `account` on `target` for
 * the party that stays in a call (a transfer's target, a park's retriever):
 * the staying party's account as caller; the new leg is always keyed by the
 * box, since the staying party's keys stay on its own leg.
 */
export function planToward(d: SetupDeps, stay: CallLeg, account: CalleeAccount, target: Target): MediaPlan | PolicyRefusal {
  const policies = d.policies?.() ?? [];
  const stayAccount = d.callee(stay.party);
  return decideMediaPlan({
    callerPolicy: policySettings(policies, stayAccount?.policy ?? DEFAULT_POLICY),
    calleePolicy: policySettings(policies, account.policy ?? DEFAULT_POLICY),
    caller: { caps: stayAccount?.media ?? DEFAULT_PHONE_CAPS, legTls: isSecureSignalling(stay.target!.transport) },
    callee: { caps: account.media ?? DEFAULT_PHONE_CAPS, legTls: isSecureSignalling(target.transport) },
    offer: summarizeOffer(audioOf(stay.remoteSdp), false),
  });
}

function hostOf(contact: string): string {
  try { return parseUri(contact).host; } catch { return 'securepbx'; }
}

/** A 2xx the transfer does not take: ACK it and hang that dialog up. */
function stray(d: SetupDeps, dialog: Dialog, target: Target): void {
  try { d.transactions.sendAck(dialogRequest(dialog, 'ACK').request, target); } catch { /* the phone will time out */ }
  try { d.transactions.sendRequest(dialogRequest(dialog, 'BYE').request, target, { onResponse: () => {} }); } catch { /* nothing more */ }
}
