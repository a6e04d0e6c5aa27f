import type { Counters, Logger } from '../../core/index.js';
import type { LegView } from '../../api/index.js';
import { PbxError } from '../../core/index.js';
import { codecsOf } from '../../sdp/index.js';
import type { TapSink } from '../../media/index.js';
import { audioOf } from '../media/index.js';
import { guard, type Call, type CallLeg } from '../call/index.js';
import { musicCodec } from './hold.js';

/**
 * Call recording on the call model (issue 9).
 *
 * When a call is answered, the modes of its two parties' accounts (each the
 * account's own, or its policy's) decide: 'always' on either side records at
 * once, 'on-demand' lets a party start and stop it with the feature code
 * (RFC 4733 DTMF `*1` during the call) or the dashboard's button, 'never'
 * on both leaves it alone. The recorder is a tap on the call's media
 * session: the engine hands it each packet it received, after decryption
 * when the box holds the keys, and forwards the packet without waiting.
 *
 * - The box holds the keys (a bridged or plain call): the store decodes
 *   G.711 per party into one WAV channel each, aligned by RTP timestamps.
 * - The call is relayed end to end (a fully private call): the store keeps
 *   the SRTP packets as they came, as a capture, and the record says the box
 *   cannot decrypt them. No tone can be played (no keys to encrypt it).
 *
 * A short tone tells both parties a recording started, when configured.
 */

/** The in-call feature code that starts or stops an on-demand recording (RFC 4733 events). */
export const RECORD_TOGGLE_CODE = '*1';
/** The digits of a feature code must come within this time of each other. */
export const FEATURE_CODE_GAP_MS = 3000;
/** The recording tone: 440 ms of 1400 Hz at a modest level (ITU-T's recording tone is 1400 Hz). */
export const RECORD_TONE_HZ = 1400;
export const RECORD_TONE_MS = 440;
const RECORD_TONE_PEAK = 6000;

export const PRIVATE_RECORDING_NOTE = 'recorded as an encrypted capture: the call is fully private (encrypted end to end), the box has no keys to decode it; no tone was played';

export type RecordMode = 'always' | 'on-demand' | 'never';

/** What the feature needs of the recording store (RecordingStore fits through main's adapter). */
export interface RecorderStore {
  /** Start a recording; its TapSink is what the engine feeds. Throws PbxError 'limit' when the disk or the count is at its limit. */
  start(meta: {
    readonly kind: 'decoded' | 'encrypted-capture';
    readonly parties: readonly string[];
    readonly legs: readonly { readonly id: string; readonly protection: string }[];
    readonly payloadTypes: Readonly<Record<number, string>>;
    readonly note: string;
  }): { readonly id: string; readonly sink: TapSink };
}

export interface RecordingDeps {
  readonly counters: Counters;
  readonly log: Logger;
  /** The recording mode of an account (its own, or its policy's); 'never' when unknown. */
  readonly modeOf: (extension: string) => RecordMode;
  /** Whether the parties hear a tone when a recording starts. */
  readonly tone: () => boolean;
  readonly store: RecorderStore;
}

/** What the feature watches: the B2BUA's calls and their changes (structural, so features do not import the entry point). */
export interface CallsWatch {
  active(): Iterable<Call>;
  onChange(listener: () => void): () => void;
  changed(): void;
}

interface Watched {
  mode: RecordMode;
  recording?: string;
  busy?: Promise<unknown>;
  dtmf?: string;
}

/** The stronger of two modes: always over on-demand over never. */
export function strongerMode(a: RecordMode, b: RecordMode): RecordMode {
  const rank = { never: 0, 'on-demand': 1, always: 2 } as const;
  return rank[a] >= rank[b] ? a : b;
}

/** A leg's protection as the recording's page shows it: 'SDES AES_CM_128_HMAC_SHA1_80 (keys held by the box)', 'plain RTP'. */
export function protectionWords(v: LegView | undefined, endToEnd: boolean): string {
  if (!v) return 'unknown';
  if (v.protection === 'rtp') return 'plain RTP';
  const name = v.protection.toUpperCase();
  return `${name}${v.suite ? ` ${v.suite}` : ''}${endToEnd || v.keys === 'end-to-end' ? ', relayed end to end (keys not held)' : ' (keys held by the box)'}`;
}

/** The tone as 8 kHz linear PCM with 10 ms fades. */
export function recordTone(): Int16Array {
  const n = (RECORD_TONE_MS * 8000) / 1000;
  const fade = 80;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const env = Math.min(1, i / fade, (n - 1 - i) / fade);
    out[i] = Math.round(RECORD_TONE_PEAK * env * Math.sin((2 * Math.PI * RECORD_TONE_HZ * i) / 8000));
  }
  return out;
}

/**
 * RFC 4733 telephone-events on the taps of on-demand calls: each new event
 * (a new RTP timestamp) is one key press; `*1` within FEATURE_CODE_GAP_MS
 * calls `onCode`. Everything else is ignored; nothing here can throw.
 */
export class FeatureCodeSink implements TapSink {
  private readonly last = new Map<string, { ts: number; digits: string; at: number }>();

  constructor(private readonly eventPts: ReadonlyMap<string, number>, private readonly onCode: (leg: string, code: string) => void) {}

  packet(leg: string, rtp: Uint8Array, arrivedAt: number, opaque: boolean): void {
    if (opaque || rtp.length < 16 || rtp[0]! >> 6 !== 2) return;
    const pt = rtp[1]! & 0x7f;
    if (pt !== this.eventPts.get(leg)) return;
    let off = 12 + 4 * (rtp[0]! & 0x0f);
    if (rtp[0]! & 0x10) {
      if (rtp.length < off + 4) return;
      off += 4 + 4 * ((rtp[off + 2]! << 8) | rtp[off + 3]!);
    }
    if (rtp.length < off + 4) return;
    const event = rtp[off]!;
    const digit = event <= 9 ? String(event) : event === 10 ? '*' : event === 11 ? '#' : undefined;
    if (digit === undefined) return;
    const ts = ((rtp[4]! << 24) | (rtp[5]! << 16) | (rtp[6]! << 8) | rtp[7]!) >>> 0;
    const prev = this.last.get(leg);
    if (prev && prev.ts === ts) return;
    const digits = (prev && arrivedAt - prev.at <= FEATURE_CODE_GAP_MS ? prev.digits : '') + digit;
    const tail = digits.slice(-RECORD_TOGGLE_CODE.length);
    this.last.set(leg, { ts, digits: tail === RECORD_TOGGLE_CODE ? '' : tail, at: arrivedAt });
    if (tail === RECORD_TOGGLE_CODE) this.onCode(leg, tail);
  }

  close(): void {
    this.last.clear();
  }
}

let sinks = 0;

export class Recording {
  private readonly watched = new Map<Call, Watched>();
  /** Sinks made for a 'tap' request still on its way to the engine, by the token in its spec. */
  private readonly pending = new Map<string, TapSink>();

  constructor(private readonly deps: RecordingDeps, private readonly calls: CallsWatch) {
    calls.onChange(() => this.look());
  }

  /** The engine's TapSinkFactory: the sink a 'tap' request's spec names. */
  sinkFor(spec: Readonly<Record<string, unknown>>): TapSink {
    const token = spec.sink;
    const sink = typeof token === 'string' ? this.pending.get(token) : undefined;
    if (!sink) throw new PbxError('not-found', 'no recorder waits for this tap');
    this.pending.delete(token as string);
    return sink;
  }

  /** Start (on true), stop (on false) or toggle (undefined) the recording of a live call: the dashboard's button, the CLI. */
  async toggle(callId: string, on?: boolean): Promise<{ call: string; recording: boolean; id?: string }> {
    const call = [...this.calls.active()].find((c) => c.id === callId);
    if (!call || call.state !== 'answered') throw new PbxError('not-found', `no answered call ${callId}`);
    const w = this.watch(call);
    if (w.mode === 'never') throw new PbxError('invalid-state', 'recording is off for the accounts on this call');
    await w.busy;
    const want = on ?? w.recording === undefined;
    if (want && !w.recording) await this.run(w, this.start(call, w));
    if (!want && w.recording) await this.run(w, this.stop(call, w));
    return { call: call.id, recording: w.recording !== undefined, ...(w.recording ? { id: w.recording } : {}) };
  }

  private run(w: Watched, p: Promise<unknown>): Promise<unknown> {
    w.busy = p.catch(() => undefined);
    return p;
  }

  /** New calls get a watcher; an answered one is recorded as its parties' modes say. */
  private look(): void {
    for (const call of this.calls.active()) {
      if (this.watched.has(call) || call.ended) continue;
      if (call.state === 'answered') this.answered(call);
      else {
        const off = call.on('phase', (e) => { if (e.to === 'answered') { off(); this.answered(call); } });
        call.on('closed', () => off());
      }
    }
  }

  private watch(call: Call): Watched {
    let w = this.watched.get(call);
    if (!w) {
      // A feature that owns the call's media its own way (a conference room) has set the mode already.
      w = { mode: call.recordMode ?? strongerMode(this.deps.modeOf(call.caller), this.deps.modeOf(call.callee)) };
      this.watched.set(call, w);
      call.recordMode = w.mode;
      call.on('closed', () => { this.watched.delete(call); if (w!.dtmf) this.pending.delete(w!.dtmf); });
    }
    return w;
  }

  private answered(call: Call): void {
    if (this.watched.has(call)) return;
    const w = this.watch(call);
    if (w.mode === 'always') guard(this.deps, this.run(w, this.start(call, w)), 'recording start');
    else if (w.mode === 'on-demand' && call.keys && !call.keys.endToEnd) guard(this.deps, this.featureCodes(call, w), 'recording feature code');
    if (w.mode !== 'never') this.calls.changed();
  }

  /** On an on-demand call the box keys, a tap watches both parties' DTMF for the feature code. */
  private async featureCodes(call: Call, w: Watched): Promise<void> {
    const pts = new Map<string, number>();
    for (const leg of [call.callerLeg, call.calleeLeg]) {
      const m = audioOf(leg.remoteSdp);
      const te = m ? codecsOf(m).find((c) => c.encoding.toLowerCase() === 'telephone-event') : undefined;
      if (te) pts.set(leg.id, te.pt);
    }
    if (pts.size === 0) return;
    const token = `dtmf-${++sinks}`;
    this.pending.set(token, new FeatureCodeSink(pts, (leg) => {
      this.deps.counters.inc('recording.feature-code');
      this.deps.log.info({ call: call.id, leg }, 'recording feature code');
      guard(this.deps, this.toggle(call.id), 'recording feature code');
    }));
    w.dtmf = token;
    try { await call.media.tap('dtmf', [...pts.keys()], { sink: token }); } finally { this.pending.delete(token); }
  }

  private async start(call: Call, w: Watched): Promise<void> {
    const d = this.deps;
    if (call.ended || w.recording || !call.keys) return;
    const endToEnd = call.keys.endToEnd;
    const view = call.view();
    const a = call.callerLeg;
    const b = call.calleeLeg;
    const payloadTypes: Record<number, string> = {};
    for (const leg of [a, b]) {
      const m = audioOf(leg.remoteSdp);
      if (m) for (const c of codecsOf(m)) if (c.pt >= 96) payloadTypes[c.pt] ??= c.encoding;
    }
    let started: { id: string; sink: TapSink };
    try {
      started = d.store.start({
        kind: endToEnd ? 'encrypted-capture' : 'decoded',
        parties: [a.party, b.party],
        legs: [
          { id: a.id, protection: protectionWords(view.legs.a, endToEnd) },
          { id: b.id, protection: protectionWords(view.legs.b, endToEnd) },
        ],
        payloadTypes,
        note: `call ${call.id}`,
      });
    } catch (e) {
      d.counters.inc('recording.refused');
      const why = e instanceof Error ? e.message : String(e);
      if (!call.notes.includes(why)) call.notes.push(why);
      d.log.warn({ call: call.id, err: why }, 'the call goes on without a recording');
      this.calls.changed();
      return;
    }
    const token = `rec-${++sinks}`;
    this.pending.set(token, started.sink);
    try {
      await call.media.tap('rec', [a.id, b.id], { sink: token });
    } catch (e) {
      this.pending.delete(token);
      started.sink.close();
      throw e;
    }
    this.pending.delete(token);
    w.recording = started.id;
    call.recording = { id: started.id, kind: endToEnd ? 'encrypted-capture' : 'decoded' };
    if (endToEnd && !call.notes.includes(PRIVATE_RECORDING_NOTE)) call.notes.push(PRIVATE_RECORDING_NOTE);
    d.counters.inc('recording.call-started');
    d.log.info({ call: call.id, recording: started.id, kind: call.recording.kind }, 'call recording started');
    if (!endToEnd && d.tone()) await this.tone(call, [a, b]);
    this.calls.changed();
  }

  private async stop(call: Call, w: Watched): Promise<void> {
    if (!w.recording) return;
    const id = w.recording;
    w.recording = undefined;
    call.recording = undefined;
    await call.media.untap('rec').catch(() => {});
    this.deps.log.info({ call: call.id, recording: id }, 'call recording stopped');
    this.calls.changed();
  }

  /** The recording tone into each leg that is not hearing music; a leg that cannot take it is skipped. */
  private async tone(call: Call, legs: readonly CallLeg[]): Promise<void> {
    const pcm = recordTone();
    for (const leg of legs) {
      const codec = musicCodec(leg.remoteSdp);
      if (!codec || leg.hearingMusic) continue;
      try { await call.media.playOnce(leg.id, pcm, codec.codec, codec.payloadType); } catch (e) {
        this.deps.log.info({ call: call.id, leg: leg.id, err: e instanceof Error ? e.message : String(e) }, 'no recording tone on this leg');
      }
    }
  }
}
