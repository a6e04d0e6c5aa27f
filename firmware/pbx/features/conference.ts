import { DEFAULT_POLICY } from '../../config/index.js';
import { isSecureSignalling } from '../../keying/index.js';
import { codecsOf, type SessionDescription } from '../../sdp/index.js';
import { parseUri, type Header, type SipRequest } from '../../sip/message/index.js';
import type { InviteServerTransaction, Target } from '../../sip/transaction/index.js';
import { CallKeys, MediaSession, answerFromAnswer, audioIndex, audioOf, parseBody, remoteOf } from '../media/index.js';
import { DEFAULT_PHONE_CAPS, decideMediaPlan, isRefusal, policySettings, summarizeOffer } from '../policy/index.js';
import { Call, guard, type CallFailure, type EndReason, type SetupDeps } from '../call/index.js';
import { musicCodec } from './hold.js';

/**
 * Meet-me conference rooms (issue 9): an extension configured as a room
 * (pbx room add EXT) is a destination of its own. Dialled, the box answers
 * the INVITE itself and the caller's leg joins the room's mixer: it hears
 * the sum of every other participant (never its own voice), encoded in the
 * G.711 law it offered, protected with its own leg's keys. Each participant
 * keeps its own key agreement, decided by its account's policy exactly as for
 * a call to a plain phone (SDES over TLS keyed by the box, or plain RTP): so
 * two SDES participants are under different keys.
 *
 * The room's participants share one media session (`room-EXT`), since the
 * engine mixes within a session; each participant's Call (the B2BUA routes
 * its BYE) owns one leg in it.
 *
 * A participant whose policy keeps its media end to end (forced_relay with
 * SRTP) cannot be mixed: the box has no keys. Its call is refused with 488
 * and a Warning saying why, never joined in the clear. Not yet: a PIN asked
 * by DTMF (the room's PIN is stored, a room with a PIN refuses for now),
 * re-INVITEs of a participant (hold) and recording a room.
 */

export interface RoomConfig {
  readonly extension: string;
  readonly pin: string | null;
  readonly max: number;
}

/** An incoming call as the B2BUA's dial seam shows it (its IncomingCall). */
export interface RoomIncoming {
  readonly req: SipRequest;
  readonly tx: InviteServerTransaction;
  readonly source: Target;
  readonly caller: string;
  readonly dialled: string;
}

/** What the rooms need of the B2BUA (structural: features do not import the entry point). */
export interface RoomHost {
  adopt(call: Call): void;
  refuse(incoming: RoomIncoming, answer: CallFailure, why: EndReason, headers?: Header[]): void;
  hangup(call: Call, reason: EndReason, byeTo: string | 'both'): Promise<void>;
  changed(): void;
}

export interface RoomDeps extends SetupDeps {
  readonly rooms: () => readonly RoomConfig[];
}

export const PRIVATE_CONFERENCE_NOTE = 'conference refused: the call would be fully private (encrypted end to end), the box has no keys to mix it';
export const ROOM_PIN_NOTE = 'this room asks for a PIN, which the box cannot collect yet';

/** The room's conference mixer, by its session. */
const MIXER = 'room';

interface RoomState {
  readonly session: MediaSession;
  readonly members: Map<Call, string>;
  opening?: Promise<void>;
}

let joins = 0;

/**
 * The box's answer to a participant's offer is made as if a phone had
 * answered with one G.711 codec (the one the mixer sends it) and DTMF
 * events: the offer's own audio m-line cut down to those formats.
 */
export function roomAnswer(offer: SessionDescription, pt: number): SessionDescription {
  const i = audioIndex(offer);
  const m = offer.media[i]!;
  const keep = new Set([String(pt), ...codecsOf(m).filter((c) => c.encoding.toLowerCase() === 'telephone-event').map((c) => String(c.pt))]);
  const attributes = m.attributes.filter((a) => {
    if (a.name !== 'rtpmap' && a.name !== 'fmtp') return !['sendonly', 'recvonly', 'inactive', 'crypto'].includes(a.name);
    return keep.has((a.value ?? '').split(' ')[0] ?? '');
  });
  const media = offer.media.map((x, j) => (j === i ? { ...x, formats: m.formats.filter((f) => keep.has(f)), attributes } : x));
  return { ...offer, media };
}

export class Rooms {
  readonly name = 'rooms';
  private readonly rooms = new Map<string, RoomState>();

  constructor(private readonly deps: RoomDeps, private readonly host: RoomHost) {}

  /** The participants of a room now. */
  participants(extension: string): readonly string[] {
    return [...(this.rooms.get(extension)?.members.keys() ?? [])].map((c) => c.caller);
  }

  /** Destination: a room's extension dialled. */
  take(incoming: RoomIncoming): boolean {
    const room = this.deps.rooms().find((r) => r.extension === incoming.dialled);
    if (!room) return false;
    guard(this.deps, this.join(room, incoming), 'room join');
    return true;
  }

  private refuse(incoming: RoomIncoming, answer: CallFailure, counter: string, why: string): void {
    const d = this.deps;
    d.counters.inc(`room.${counter}`);
    d.log.info({ caller: incoming.caller, room: incoming.dialled, why }, 'room join refused');
    this.host.refuse(incoming, answer, 'media-policy', [{ name: 'warning', value: `399 securepbx "${why}"` }]);
  }

  private async join(room: RoomConfig, incoming: RoomIncoming): Promise<void> {
    const d = this.deps;
    const { req, source, caller } = incoming;
    if (room.pin !== null) { this.refuse(incoming, 'declined', 'pin-unsupported', ROOM_PIN_NOTE); return; }
    let offer: SessionDescription | undefined;
    try { offer = parseBody(req.body); } catch { offer = undefined; }
    const media = audioOf(offer);
    if (!offer || !media) { this.refuse(incoming, 'not-acceptable', 'no-offer', 'a room needs an SDP offer with audio'); return; }
    const codec = musicCodec(offer);
    if (!codec) { this.refuse(incoming, 'no-common-codec', 'no-g711', 'the room mixes G.711 (PCMU or PCMA) only'); return; }
    const state = this.room(room.extension);
    if (state.members.size >= room.max) { this.refuse(incoming, 'busy', 'full', `room ${room.extension} is full (${room.max} participants)`); return; }

    const account = d.callee(caller);
    const legTls = isSecureSignalling(source.transport);
    let sips = false;
    try { sips = parseUri(req.uri).scheme === 'sips'; } catch { /* a plain URI */ }
    const plan = decideMediaPlan({
      callerPolicy: policySettings(d.policies?.() ?? [], account?.policy ?? DEFAULT_POLICY),
      calleePolicy: { callerStream: 'decrypt', calleeStream: 'decrypted' },
      caller: { caps: account?.media ?? DEFAULT_PHONE_CAPS, legTls },
      callee: { caps: { supported: ['rtp'], required: [] }, legTls: false },
      offer: summarizeOffer(media, sips),
    });
    if (isRefusal(plan) || plan.legA.keys === 'end-to-end') {
      this.refuse(incoming, 'not-acceptable', 'private-refused', isRefusal(plan) ? `${PRIVATE_CONFERENCE_NOTE} (${plan.reason})` : PRIVATE_CONFERENCE_NOTE);
      return;
    }
    let keys: CallKeys;
    let answered: ReturnType<CallKeys['calleeAnswered']>;
    const fake = roomAnswer(offer, codec.payloadType);
    try {
      keys = new CallKeys({ ...plan, mode: 'bridge' }, media, { random: d.random, counters: d.counters, tls: { a: legTls, b: false } });
      answered = keys.calleeAnswered(audioOf(fake)!);
    } catch (e) {
      this.refuse(incoming, 'not-acceptable', 'bad-offer', e instanceof Error ? e.message : 'the offer cannot be keyed');
      return;
    }

    const call = new Call(d, req, incoming.tx, source, caller, room.extension, `room ${room.extension}`);
    call.keys = keys;
    call.recordMode = 'never';
    const leg = `p${++joins}`;
    const a = call.callerLeg;
    try {
      await (state.opening ??= state.session.create());
      a.local = await state.session.addLeg(leg, { remote: remoteOf(offer), ...(answered.engine.a ? { security: answered.engine.a } : {}) });
      a.took(offer);
      const body = answerFromAnswer(offer, fake, a.sdp, a.local, answered.callerAnswer);
      await state.session.mix(MIXER, leg, codec.codec, codec.payloadType);
      state.members.set(call, leg);
      call.on('closed', () => guard(d, this.leave(room.extension, call), 'room leave'));
      this.host.adopt(call);
      call.life.move('ringing');
      call.life.move('answered');
      call.settleInitialOffer();
      call.answeredAt = d.clock.now();
      call.notes.push(`in conference room ${room.extension}: mixed by the box, this leg ${keys.view('a').protection === 'rtp' ? 'plain RTP' : `${keys.view('a').protection.toUpperCase()} under its own keys`}`);
      call.respond(200, 'OK', { body });
      d.counters.inc('room.joined');
      d.log.info({ call: call.id, room: room.extension, caller, participants: state.members.size }, 'joined a conference room');
      this.host.changed();
    } catch (e) {
      d.log.warn({ room: room.extension, err: e instanceof Error ? e.message : String(e) }, 'room join failed');
      state.members.delete(call);
      await state.session.removeLeg(leg).catch(() => {});
      if (!call.ended && !state.members.has(call)) {
        if (!incoming.tx.isTerminated) this.refuse(incoming, 'internal', 'failed', 'the room could not take the call');
        await call.close('failed');
      }
      await this.closeIfEmpty(room.extension);
    }
  }

  private room(extension: string): RoomState {
    let r = this.rooms.get(extension);
    if (!r) {
      r = { session: new MediaSession(this.deps.media, `room-${extension}`), members: new Map() };
      this.rooms.set(extension, r);
    }
    return r;
  }

  private async leave(extension: string, call: Call): Promise<void> {
    const r = this.rooms.get(extension);
    const leg = r?.members.get(call);
    if (!r || !leg) return;
    r.members.delete(call);
    await r.session.unmix(MIXER, leg).catch(() => {});
    await r.session.removeLeg(leg).catch(() => {});
    this.deps.log.info({ call: call.id, room: extension, participants: r.members.size }, 'left a conference room');
    await this.closeIfEmpty(extension);
  }

  private async closeIfEmpty(extension: string): Promise<void> {
    const r = this.rooms.get(extension);
    if (!r || r.members.size > 0) return;
    this.rooms.delete(extension);
    await r.opening?.catch(() => {});
    await r.session.close();
  }
}
