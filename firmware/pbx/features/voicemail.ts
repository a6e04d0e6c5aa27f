import { DEFAULT_POLICY } from '../../config/index.js';
import type { TimerHandle } from '../../core/index.js';
import { PbxError } from '../../core/index.js';
import { isSecureSignalling } from '../../keying/index.js';
import type { TapSink } from '../../media/index.js';
import { codecsOf, type SessionDescription } from '../../sdp/index.js';
import { createResponse, getHeader, parseUri, type SipRequest } from '../../sip/message/index.js';
import type { ServerTransaction } from '../../sip/transaction/index.js';
import { CallKeys, answerFromAnswer, audioOf, parseBody, remoteOf } from '../media/index.js';
import { DEFAULT_PHONE_CAPS, decideMediaPlan, isRefusal, policySettings, summarizeOffer } from '../policy/index.js';
import { Call, guard, type CallFailure, type EndReason, type IncomingCall, type SetupDeps } from '../call/index.js';
import { roomAnswer } from './conference.js';
import { DtmfSink, parseInfoDtmf, type Digit } from './dtmf.js';
import { musicCodec } from './hold.js';
import { MailboxMachine, type MailboxAction, type MailboxMessage } from './mailbox.js';
import { concat, countPrompt, durationMs, prompt, type PromptName } from './prompts.js';

/**
 * Voicemail on the call model (issue 15). Two destinations share it:
 *
 * - Leaving a message: an account's call that is not answered (no answer,
 *   busy, do-not-disturb, no phone registered) and that no forward takes
 *   goes to the account's voicemail when it is on (the default). The box
 *   answers the caller's leg itself, keyed as the caller's policy allows
 *   (SDES by the box over TLS, DTLS-SRTP, ZRTP, plain RTP): the box is the
 *   far end, so a fully private (relayed) policy becomes a leg the box keys.
 *   It plays the greeting (the user's, or the box's own), a beep, then
 *   records the caller's leg, decrypted by the engine, decoded from G.711
 *   into the sealed message store, until the caller hangs up or the message
 *   reaches its length limit.
 * - The mailbox: the feature code (*97) opens the caller's own. The PIN comes
 *   by RFC 4733 DTMF or SIP INFO; the menu is MailboxMachine. Three wrong PINs
 *   end the call and lock the mailbox for a while (further calls get 403).
 */

/** What voicemail needs of the message store (recording/MailboxStore fits). */
export interface VoicemailStore {
  record(o: {
    readonly mailbox: string; readonly caller: string; readonly leg: string; readonly protection: string;
    readonly payloadTypes: Readonly<Record<number, string>>; readonly greeting?: boolean;
  }): { readonly id: string; readonly sink: TapSink & { finish(): Promise<unknown> } };
  list(mailbox: string): readonly { readonly id: string; readonly isNew: boolean }[];
  pcm(mailbox: string, id: string): Promise<Int16Array>;
  greeting(mailbox: string): Promise<Int16Array | undefined>;
  save(mailbox: string, id: string): Promise<void>;
  delete(mailbox: string, id: string): Promise<void>;
  readonly maxMessageSec: number;
}

export interface VoicemailDeps extends SetupDeps {
  readonly store: VoicemailStore;
  /** Is voicemail on for the account (default on). */
  readonly enabled: (extension: string) => boolean;
  /** The mailbox feature code (*97). */
  readonly code: () => string;
  /** Check a PIN against the account's (false when it has none). */
  readonly checkPin: (extension: string, pin: string) => Promise<boolean>;
  readonly setPin: (extension: string, pin: string) => Promise<void>;
  /** Auto-attendants (config attendants); absent: none. */
  readonly attendants?: () => readonly AttendantConfig[];
  /** An attendant's uploaded greeting (8 kHz PCM); undefined: the box's own. */
  readonly attendantGreeting?: (extension: string) => Int16Array | undefined;
}

/** An auto-attendant as call control needs it (the config's attendants entry, structurally). */
export interface AttendantConfig {
  readonly extension: string;
  readonly digits: Readonly<Record<string, string>>;
  readonly timeoutTo: string | null;
  readonly timeoutSec: number;
}

/** What voicemail needs of the B2BUA (structural). */
export interface VoicemailHost {
  /** Take a call the box answered in: its in-dialog requests go to it; `replaces` (an unanswered call) ends quietly. */
  adopt(call: Call, replaces?: Call): void;
  refuse(incoming: IncomingCall, answer: CallFailure, why: EndReason): void;
  tell(incoming: IncomingCall, status: number, reason: string): void;
  hangup(call: Call, reason: EndReason, byeTo: string | 'both'): Promise<void>;
  changed(): void;
}

/** After three wrong PINs the mailbox takes no PIN for this long. */
export const PIN_LOCK_MS = 5 * 60_000;
/** A prompt whose 'play-ended' never comes is taken as over this long after its length. */
const PLAY_SLACK_MS = 2_000;

/** A call the box answered itself: its leg 'a' is the caller's, keyed by the box. */
export interface BoxAnswered {
  readonly call: Call;
  readonly codec: { readonly codec: 'PCMU' | 'PCMA'; readonly payloadType: number };
  /** The caller's telephone-event payload type, when it offered one. */
  readonly eventPt?: number;
  readonly protection: string;
}

/** Can the box answer this offer itself (an audio m-line with G.711)? */
export function answerable(req: SipRequest): SessionDescription | undefined {
  let offer: SessionDescription | undefined;
  try { offer = parseBody(req.body); } catch { return undefined; }
  if (!offer || !audioOf(offer) || !musicCodec(offer)) return undefined;
  return offer;
}

/**
 * Answer the caller's INVITE with the box as the far end: a Call of its
 * own (taking over `replaces`' To tag), leg 'a' opened and keyed as the
 * caller's policy allows, and 200 OK sent. Throws when it cannot.
 */
export async function answerByBox(d: SetupDeps, host: Pick<VoicemailHost, 'adopt'>, incoming: IncomingCall, callee: string, label: string, replaces?: Call): Promise<BoxAnswered> {
  const { req, source, caller } = incoming;
  const offer = answerable(req);
  const media = audioOf(offer);
  if (!offer || !media) throw new PbxError('protocol', 'the box answers only an audio offer with G.711');
  const codec = musicCodec(offer)!;
  const account = d.callee(caller);
  const legTls = isSecureSignalling(source.transport);
  let sips = false;
  try { sips = parseUri(req.uri).scheme === 'sips'; } catch { /* a plain URI */ }
  const decided = decideMediaPlan({
    callerPolicy: policySettings(d.policies?.() ?? [], account?.policy ?? DEFAULT_POLICY),
    calleePolicy: { callerStream: 'decrypt', calleeStream: 'decrypted' },
    caller: { caps: account?.media ?? DEFAULT_PHONE_CAPS, legTls },
    callee: { caps: { supported: ['rtp'], required: [] }, legTls: false },
    offer: summarizeOffer(media, sips),
  });
  if (isRefusal(decided)) throw new PbxError('protocol', `the caller's policy allows no leg the box can answer (${decided.reason})`);
  // The box is the far end: a leg the policy would relay end to end is one the box keys (it is the other end of it).
  const plan = { ...decided, mode: 'bridge' as const, legA: decided.legA.keys === 'end-to-end' ? { ...decided.legA, keys: 'box' as const } : decided.legA };
  const fake = roomAnswer(offer, codec.payloadType);
  const keys = new CallKeys(plan, media, { random: d.random, counters: d.counters, tls: { a: legTls, b: false } });
  const answered = keys.calleeAnswered(audioOf(fake)!);
  const call = new Call(d, req, incoming.tx, source, caller, callee, label, replaces?.tag);
  call.keys = keys;
  call.recordMode = 'never';
  const a = call.callerLeg;
  await call.media.create();
  try {
    a.local = await call.media.addLeg('a', { remote: remoteOf(offer), ...(answered.engine.a ? { security: answered.engine.a } : {}) });
    a.took(offer);
    const body = answerFromAnswer(offer, fake, a.sdp, a.local, answered.callerAnswer);
    if (incoming.tx.isTerminated || replaces?.ended) throw new PbxError('invalid-state', 'the caller gave up');
    host.adopt(call, replaces);
    call.life.move('ringing');
    call.life.move('answered');
    call.settleInitialOffer();
    call.answeredAt = d.clock.now();
    call.respond(200, 'OK', { body });
  } catch (e) {
    await call.close('failed');
    throw e;
  }
  const te = codecsOf(media).find((c) => c.encoding.toLowerCase() === 'telephone-event');
  const v = keys.view('a');
  const protection = v.protection === 'rtp' ? 'plain RTP' : `${v.protection.toUpperCase()}${v.suite ? ` ${v.suite}` : ''} (keys held by the box)`;
  return { call, codec, ...(te ? { eventPt: te.pt } : {}), protection };
}

let tokens = 0;

/** One prompt at a time into a box-answered call's leg, with its end reported once. */
class PromptPlayer {
  private ends?: () => void;
  private timer?: TimerHandle;

  constructor(private readonly d: SetupDeps, private readonly b: BoxAnswered) {}

  get playing(): boolean { return this.ends !== undefined; }

  async play(pcm: Int16Array, ended: () => void): Promise<void> {
    this.clear();
    this.ends = ended;
    this.timer = this.d.clock.setTimer(durationMs(pcm) + PLAY_SLACK_MS, () => this.ended());
    await this.b.call.media.playOnce('a', pcm, this.b.codec.codec, this.b.codec.payloadType);
  }

  async stop(): Promise<void> {
    this.clear();
    await this.b.call.media.stopPlay('a').catch(() => undefined);
  }

  /** Run `f` too when what plays now ends. */
  afterCurrent(f: () => void): void {
    const prev = this.ends;
    this.ends = () => { prev?.(); f(); };
  }

  /** The engine's 'play-ended', or the fallback timer. */
  ended(): void {
    const f = this.ends;
    this.clear();
    f?.();
  }

  clear(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.ends = undefined;
  }
}

export class Voicemail {
  readonly name = 'voicemail';
  /** Sinks for 'tap' requests on their way to the engine, by token. */
  private readonly pending = new Map<string, TapSink>();
  /** The prompt player of each box-answered call, by media session id. */
  private readonly players = new Map<string, PromptPlayer>();
  /** Mailboxes locked after wrong PINs: until when. */
  private readonly locks = new Map<string, number>();

  constructor(private readonly deps: VoicemailDeps, private readonly host: VoicemailHost) {
    deps.media.onEvent((e) => {
      if (e.type === 'play-ended' && e.leg === 'a') this.players.get(e.sessionId)?.ended();
    });
  }

  /** The engine's TapSinkFactory share: a sink voicemail asked for, else undefined. */
  sinkFor(spec: Readonly<Record<string, unknown>>): TapSink | undefined {
    const token = spec.sink;
    if (typeof token !== 'string' || !token.startsWith('vm-')) return undefined;
    const s = this.pending.get(token);
    this.pending.delete(token);
    return s;
  }

  private async tap(b: BoxAnswered, tapId: string, sink: TapSink): Promise<void> {
    const token = `vm-${++tokens}`;
    this.pending.set(token, sink);
    try { await b.call.media.tap(tapId, ['a'], { sink: token }); } finally { this.pending.delete(token); }
  }

  /** Voicemail answers the account's unanswered calls. */
  on(extension: string): boolean {
    return this.deps.enabled(extension);
  }

  isLocked(mailbox: string): boolean {
    const until = this.locks.get(mailbox);
    if (until === undefined) return false;
    if (this.deps.clock.now() >= until) { this.locks.delete(mailbox); return false; }
    return true;
  }

  // ---- leaving a message -------------------------------------------------------

  /**
   * Delivery's hook for an unanswered call to `mailbox`: true when voicemail
   * takes it (the caller's leg will be answered by the box), false to let
   * the call fail as before.
   */
  leave(incoming: IncomingCall, mailbox: string, after: Call | undefined, why: string): boolean {
    const d = this.deps;
    if (!d.enabled(mailbox) || incoming.caller === mailbox || !answerable(incoming.req)) return false;
    d.counters.inc(`voicemail.taken.${why}`);
    d.log.info({ caller: incoming.caller, mailbox, why }, 'unanswered call to voicemail');
    guard(d, this.leaveAsync(incoming, mailbox, after), 'voicemail');
    return true;
  }

  private async leaveAsync(incoming: IncomingCall, mailbox: string, after: Call | undefined): Promise<void> {
    const d = this.deps;
    let b: BoxAnswered;
    try {
      b = await answerByBox(d, this.host, incoming, mailbox, `voicemail ${mailbox}`, after);
    } catch (e) {
      d.counters.inc('voicemail.answer-failed');
      d.log.warn({ caller: incoming.caller, mailbox, err: e instanceof Error ? e.message : String(e) }, 'voicemail could not answer');
      if (!incoming.tx.isTerminated && !after?.ended) {
        if (after) guard(d, this.host.hangup(after, 'failed', 'both'), 'voicemail');
        else this.host.refuse(incoming, 'unavailable', 'failed');
      }
      return;
    }
    const { call } = b;
    call.notes.push(`voicemail for ${mailbox}: the box answered, this leg ${b.protection}`);
    this.host.changed();
    const player = new PromptPlayer(d, b);
    this.players.set(call.media.id, player);
    let recording: { sink: TapSink & { finish(): Promise<unknown> } } | undefined;
    let limit: TimerHandle | undefined;
    call.on('closed', () => {
      this.players.delete(call.media.id);
      player.clear();
      limit?.cancel();
      // The tap closes with the session (the recorder then finishes); finish() is idempotent.
      void recording?.sink.finish().catch(() => undefined);
    });
    const greeting = (await d.store.greeting(mailbox).catch(() => undefined)) ?? prompt('greeting');
    if (call.ended) return;
    await player.play(concat([greeting, prompt('beep')]), () => {
      if (call.ended) return;
      guard(d, (async () => {
        const payloadTypes: Record<number, string> = {};
        const m = audioOf(call.callerLeg.remoteSdp);
        if (m) for (const c of codecsOf(m)) if (c.pt >= 96) payloadTypes[c.pt] = c.encoding;
        const r = d.store.record({ mailbox, caller: incoming.caller, leg: 'a', protection: b.protection, payloadTypes });
        recording = r;
        await this.tap(b, 'vm', r.sink);
        d.counters.inc('voicemail.recording');
        limit = d.clock.setTimer(d.store.maxMessageSec * 1000, () => {
          d.counters.inc('voicemail.message-cut');
          void r.sink.finish().catch(() => undefined);
          guard(d, this.host.hangup(call, 'timeout', 'both'), 'voicemail limit');
        });
      })(), 'voicemail record');
    });
  }

  // ---- the mailbox ---------------------------------------------------------------

  /** Destination: the mailbox code opens the caller's own mailbox; an attendant's extension, that attendant. */
  take(incoming: IncomingCall): boolean {
    const d = this.deps;
    const att = d.attendants?.().find((x) => x.extension === incoming.dialled);
    if (att) {
      if (!answerable(incoming.req)) { this.host.refuse(incoming, 'not-acceptable', 'codec-mismatch'); return true; }
      guard(d, this.attend(incoming, att), 'attendant');
      return true;
    }
    if (incoming.dialled !== d.code()) return false;
    const mailbox = incoming.caller;
    if (!d.callee(mailbox)) { this.host.tell(incoming, 404, 'No Mailbox'); return true; }
    if (this.isLocked(mailbox)) {
      d.counters.inc('voicemail.pin-locked');
      d.log.warn({ mailbox, from: incoming.source.address }, 'mailbox locked after wrong PINs: call refused');
      this.host.tell(incoming, 403, 'Mailbox Locked');
      return true;
    }
    if (!answerable(incoming.req)) { this.host.refuse(incoming, 'not-acceptable', 'codec-mismatch'); return true; }
    guard(d, this.open(incoming, mailbox), 'mailbox');
    return true;
  }

  private async open(incoming: IncomingCall, mailbox: string): Promise<void> {
    const d = this.deps;
    let b: BoxAnswered;
    try {
      b = await answerByBox(d, this.host, incoming, d.code(), `mailbox ${mailbox}`);
    } catch (e) {
      d.log.warn({ mailbox, err: e instanceof Error ? e.message : String(e) }, 'mailbox could not answer');
      if (!incoming.tx.isTerminated) this.host.refuse(incoming, 'not-acceptable', 'failed');
      return;
    }
    const { call } = b;
    call.notes.push(`mailbox of ${mailbox}: the box answered, this leg ${b.protection}`);
    d.counters.inc('voicemail.mailbox-opened');
    this.host.changed();
    const player = new PromptPlayer(d, b);
    this.players.set(call.media.id, player);
    const machine = new MailboxMachine(() => d.store.list(mailbox).map((m): MailboxMessage => ({ id: m.id, isNew: m.isNew })));
    let idle: TimerHandle | undefined;
    let greeting: { sink: TapSink & { finish(): Promise<unknown> } } | undefined;
    let hangingUp = false;
    // Actions run one batch at a time, in order: a key pressed meanwhile waits its turn.
    let queue: Promise<void> = Promise.resolve();
    const feed = (actions: MailboxAction[]): void => {
      queue = queue.then(() => run(actions)).catch((e: unknown) => {
        d.log.warn({ call: call.id, err: e instanceof Error ? e.message : String(e) }, 'mailbox action failed');
      });
    };
    const step = (input: Parameters<MailboxMachine['step']>[0]): void => { if (!call.ended) feed(machine.step(input)); };
    const played = (): void => step({ kind: 'played' });
    const run = async (actions: MailboxAction[]): Promise<void> => {
      for (const a of actions) {
        if (call.ended) return;
        switch (a.kind) {
          case 'play': await player.play(prompt(a.prompt as PromptName), played); break;
          case 'play-count': await player.play(countPrompt(a.count), played); break;
          case 'play-message': {
            let pcm: Int16Array;
            try { pcm = await d.store.pcm(mailbox, a.id); } catch { d.counters.inc('voicemail.message-unreadable'); pcm = prompt('none'); }
            await player.play(pcm, played);
            break;
          }
          case 'stop-play': await player.stop(); break;
          case 'check-pin': {
            const ok = await d.checkPin(mailbox, a.pin).catch(() => false);
            d.counters.inc(ok ? 'voicemail.pin-ok' : 'voicemail.pin-wrong');
            if (!ok) d.log.warn({ mailbox, from: incoming.source.address }, 'mailbox: wrong PIN');
            feed(machine.step({ kind: 'pin-checked', ok }));
            break;
          }
          case 'delete': await d.store.delete(mailbox, a.id).catch(() => undefined); break;
          case 'save': await d.store.save(mailbox, a.id).catch(() => undefined); break;
          case 'record-greeting': {
            const r = d.store.record({ mailbox, caller: mailbox, leg: 'a', protection: b.protection, payloadTypes: {}, greeting: true });
            greeting = r;
            await this.tap(b, 'greeting', r.sink);
            break;
          }
          case 'end-greeting':
            await call.media.untap('greeting').catch(() => undefined);
            await greeting?.sink.finish().catch(() => undefined);
            greeting = undefined;
            break;
          case 'set-pin': await d.setPin(mailbox, a.pin); d.counters.inc('voicemail.pin-changed'); break;
          case 'timer':
            idle?.cancel();
            idle = a.ms > 0 ? d.clock.setTimer(a.ms, () => step({ kind: 'timeout' })) : undefined;
            break;
          case 'locked':
            this.locks.set(mailbox, d.clock.now() + PIN_LOCK_MS);
            d.counters.inc('voicemail.pin-lockout');
            d.log.warn({ mailbox, from: incoming.source.address }, 'mailbox locked: three wrong PINs');
            break;
          case 'hangup': {
            if (hangingUp) break;
            hangingUp = true;
            const bye = (): void => guard(d, this.host.hangup(call, 'bye-callee', 'both'), 'mailbox hangup');
            // Let a goodbye finish first.
            if (player.playing) await new Promise<void>((r) => player.afterCurrent(r));
            bye();
            break;
          }
        }
      }
    };
    const onDigit = (digit: Digit): void => step({ kind: 'digit', digit });
    call.onInfo = (req: SipRequest, tx: ServerTransaction): boolean => {
      const r = parseInfoDtmf(getHeader(req, 'content-type'), req.body);
      if (!r.ok) {
        d.counters.inc(`dtmf.info-bad.${r.reason}`);
        tx.respond(createResponse(req, r.reason === 'content-type' ? 415 : 400, r.reason === 'content-type' ? 'Unsupported Media Type' : 'Bad Request'));
        return true;
      }
      d.counters.inc('dtmf.info');
      tx.respond(createResponse(req, 200, 'OK'));
      onDigit(r.digit);
      return true;
    };
    call.on('closed', () => {
      this.players.delete(call.media.id);
      player.clear();
      idle?.cancel();
      void greeting?.sink.finish().catch(() => undefined);
    });
    if (b.eventPt !== undefined) await this.tap(b, 'dtmf', new DtmfSink('a', b.eventPt, d.counters, onDigit));
    feed(machine.start());
  }

  // ---- the auto-attendant -------------------------------------------------------

  /**
   * The box answers, plays the attendant's greeting and waits for one key:
   * a digit with a destination sends the caller there, a pause its timeout
   * destination (or a goodbye). The caller is sent on by a REFER in its own
   * dialog (RFC 3515): its phone calls the destination through the box, so
   * that call gets the destination's own ringing, forwarding, voicemail and
   * media policy; the box's leg ends once the phone accepted the REFER.
   */
  private async attend(incoming: IncomingCall, att: AttendantConfig): Promise<void> {
    const d = this.deps;
    let b: BoxAnswered;
    try {
      b = await answerByBox(d, this.host, incoming, att.extension, `attendant ${att.extension}`);
    } catch (e) {
      d.log.warn({ attendant: att.extension, err: e instanceof Error ? e.message : String(e) }, 'attendant could not answer');
      if (!incoming.tx.isTerminated) this.host.refuse(incoming, 'not-acceptable', 'failed');
      return;
    }
    const { call } = b;
    call.notes.push(`auto-attendant ${att.extension}: the box answered, this leg ${b.protection}`);
    d.counters.inc('attendant.answered');
    this.host.changed();
    const player = new PromptPlayer(d, b);
    this.players.set(call.media.id, player);
    let timer: TimerHandle | undefined;
    let done = false;
    const route = (to: string | null, why: string): void => {
      if (done || call.ended) return;
      done = true;
      timer?.cancel();
      d.counters.inc(`attendant.${why}`);
      d.log.info({ call: call.id, attendant: att.extension, caller: incoming.caller, to, why }, 'attendant routes the call');
      if (to === null) { guard(d, this.goodbye(call, player), 'attendant goodbye'); return; }
      guard(d, this.refer(call, b, to), 'attendant refer');
    };
    const onDigit = (digit: Digit): void => {
      const to = att.digits[digit];
      if (to !== undefined) route(to, `digit-${digit === '*' ? 'star' : digit === '#' ? 'hash' : digit}`);
      else d.counters.inc('attendant.unknown-digit');
    };
    call.onInfo = (req: SipRequest, tx: ServerTransaction): boolean => {
      const r = parseInfoDtmf(getHeader(req, 'content-type'), req.body);
      if (!r.ok) { d.counters.inc(`dtmf.info-bad.${r.reason}`); tx.respond(createResponse(req, 400, 'Bad Request')); return true; }
      tx.respond(createResponse(req, 200, 'OK'));
      onDigit(r.digit);
      return true;
    };
    call.on('closed', () => { this.players.delete(call.media.id); player.clear(); timer?.cancel(); });
    if (b.eventPt !== undefined) await this.tap(b, 'dtmf', new DtmfSink('a', b.eventPt, d.counters, onDigit));
    const greeting = d.attendantGreeting?.(att.extension) ?? prompt('attendant');
    await player.play(greeting, () => {
      if (!done) timer = d.clock.setTimer(att.timeoutSec * 1000, () => route(att.timeoutTo, 'timeout'));
    });
  }

  private async goodbye(call: Call, player: PromptPlayer): Promise<void> {
    await new Promise<void>((r) => { void player.play(prompt('goodbye'), r).catch(() => r()); });
    await this.host.hangup(call, 'bye-callee', 'both');
  }

  /** REFER the caller to `to` at the box (the box's own address as its leg reaches it). */
  private async refer(call: Call, b: BoxAnswered, to: string): Promise<void> {
    const d = this.deps;
    const leg = call.callerLeg;
    if (!leg.dialog || !leg.target) return;
    let where: string;
    try {
      const u = parseUri(d.contactFor(leg.target));
      const params = u.params.filter((x) => x.name.toLowerCase() === 'transport' && x.value).map((x) => `;transport=${x.value!}`).join('');
      where = `${u.scheme}:${to}@${u.host}${u.port ? `:${u.port}` : ''}${params}`;
    } catch { return; }
    const req = leg.nextRequest('REFER');
    const host = (() => { try { return parseUri(d.contactFor(leg.target!)).host; } catch { return 'securepbx'; } })();
    const refer = { ...req, headers: [...req.headers, { name: 'refer-to', value: `<${where}>` }, { name: 'referred-by', value: `<sip:${call.callee}@${host}>` }, leg.contact()] };
    await player(b).stop();
    await new Promise<void>((resolve) => {
      try {
        leg.send(refer, {
          onResponse: (res) => {
            if (res.status < 200) return;
            d.counters.inc(res.status < 300 ? 'attendant.referred' : 'attendant.refer-refused');
            resolve();
          },
        });
      } catch { resolve(); }
    });
    // The phone now calls `to` itself; the box's leg is done.
    await this.host.hangup(call, 'transferred', 'both');
  }
}

function player(b: BoxAnswered): { stop(): Promise<void> } {
  return { stop: async () => { await b.call.media.stopPlay('a').catch(() => undefined); } };
}
