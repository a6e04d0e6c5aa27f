import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyseTone, dominantFrequency, parseWav, rms, type ToneReport } from './audio.js';
import { pbx } from './box.js';
import { BaresipCtrl } from './baresip-ctrl.js';
import { startBaresip } from './clients.js';
import { waitFor, type Proc } from './harness.js';

/**
 * Pieces shared by the interop call tests (calls.test.ts, srtp.test.ts):
 * baresip phones with a tone source, a recorder and a control port; the box's
 * status and call records through the pbx CLI; the tone checks.
 */

export const TONE_TOLERANCE_HZ = 15;
/** A G.711 tone from sox at the default level has an RMS of about 16000; silence is 0. */
export const MIN_TONE_RMS = 2000;

export interface CallState { state: string; peer: string }

/** baresip's listcalls text: `> [line 1]  0:00:03  ESTABLISHED  sip:...`. */
export function parseCalls(text: string): CallState[] {
  return [...text.matchAll(/\[line \d+\]\s+\S+\s+([A-Z]+)\s+(\S+)/g)].map((m) => ({ state: m[1]!, peer: m[2]! }));
}

export async function calls(ctrl: BaresipCtrl): Promise<CallState[]> {
  return parseCalls((await ctrl.listcalls()).data);
}

export const established = (c: CallState[]): boolean => c.some((x) => x.state === 'ESTABLISHED');
export const none = (c: CallState[]): boolean => c.length === 0;

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export type Counts = Readonly<Record<string, number>>;
export interface BoxStatus {
  calls?: unknown[];
  /** The engine's figures as of its latest stats reply (refreshed every few seconds). */
  media?: {
    sessions: number; portsInUse: number; counters?: Counts;
    /** When the figures were taken, and each session's legs' packet counts so far. */
    at?: number;
    streams?: Array<{ session: string; legs: Record<string, { packetsIn: number; packetsOut: number; security: string; playing?: boolean }> }>;
  };
  /** Live counters, the engine's included. */
  counters?: Counts;
}

export function boxStatus(data: string): BoxStatus {
  const r = pbx(data, 'status', '--json');
  if (r.status !== 0) throw new Error(`pbx status failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as BoxStatus;
}

/** The box's call records (calls.jsonl), oldest first. */
export function records<T = Record<string, unknown>>(data: string): T[] {
  const file = join(data, 'calls.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as T);
}

/** An 8 kHz mono 16-bit WAV of a sine tone (sox), made once per work dir; 90 s, since baresip's aufile hangs up at its end. */
export function toneFile(work: string, hz: number): string {
  const f = join(work, `tone${hz}.wav`);
  if (!existsSync(f)) {
    const r = spawnSync('sox', ['-n', '-r', '8000', '-c', '1', '-b', '16', f, 'synth', '90', 'sine', String(hz)], { timeout: 20_000 });
    if (r.status !== 0) throw new Error(`sox: ${r.stderr.toString()}`);
  }
  return f;
}

export interface PhoneSpec { readonly ext: string; readonly pass: string; readonly sip: number; readonly ctrl: number; readonly rtp: string; readonly tone: number }
export interface RunningPhone { readonly proc: Proc; readonly ctrl: BaresipCtrl; readonly dir: string }

/**
 * A baresip phone playing its tone and recording what it hears (sndfile).
 * `account` is the account line without its options; `accountParams` adds
 * options such as `;mediaenc=srtp-mand`.
 */
export async function startPhone(work: string, p: PhoneSpec, o: {
  account: string; answermode: 'auto' | 'manual' | 'early'; accountParams?: string; extraModules?: readonly string[]; timeoutSec?: number;
  /** Modules the account line needs, loaded before account.so (srtp.so for mediaenc). */
  preAccountModules?: readonly string[];
  /** More config lines (sip_certificate for a phone that accepts TLS). */
  extraConfig?: readonly string[];
}): Promise<RunningPhone> {
  const dir = join(work, `baresip-${p.ext}`);
  const proc = startBaresip(dir, {
    sipPort: p.sip, ctrlPort: p.ctrl, timeoutSec: o.timeoutSec ?? 120, audioSource: `aufile,${toneFile(work, p.tone)}`,
    ...(o.preAccountModules ? { preAccountModules: o.preAccountModules } : {}),
    account: `${o.account};regint=600;auth_pass=${p.pass};answermode=${o.answermode};audio_codecs=pcmu${o.accountParams ?? ''}`,
    extraConfig: ['module menu.so', 'module aufile.so', 'module sndfile.so', ...(o.extraModules ?? []).map((m) => `module ${m}`),
      `snd_path ${dir}`, `rtp_ports ${p.rtp}`, ...(o.extraConfig ?? [])],
  });
  const ctrl = await waitFor(`baresip ${p.ext} control port`, async () => {
    if (proc.child.exitCode !== null) throw new Error(`baresip ${p.ext} exited: ${proc.output()}`);
    try { return await BaresipCtrl.connect(p.ctrl); } catch { return undefined; }
  }, 10_000, 200);
  return { proc, ctrl, dir };
}

export async function stopPhone(p: RunningPhone): Promise<void> {
  await Promise.race([p.ctrl.quit(), sleep(1000)]);
  p.ctrl.close();
  await p.proc.stop();
}

export function waitState(ctrl: BaresipCtrl, what: string, ok: (c: CallState[]) => boolean, ms = 10_000): Promise<CallState[]> {
  return waitFor(what, async () => { const c = await calls(ctrl); return ok(c) ? c : undefined; }, ms, 150);
}

export const wavsNow = (dir: string): Set<string> => new Set(readdirSync(dir));
/** Recordings sndfile wrote since `before`: `dec` is what the phone heard. */
export const newWavs = (dir: string, before: Set<string>, kind: 'dec' | 'enc'): string[] =>
  readdirSync(dir).filter((f) => f.startsWith('dump-') && f.endsWith(`-${kind}.wav`) && !before.has(f)).map((f) => join(dir, f));

export function toneOf(file: string): ToneReport {
  return analyseTone(parseWav(readFileSync(file)));
}

type ToneAsserts = { ok(v: unknown, msg: string): unknown; equal(a: unknown, b: unknown, msg: string): unknown; comment(msg: string): unknown };

/** The one new recording in `dir` holds `hz` for about `seconds`, loud and clean. */
export function assertHeard(t: ToneAsserts, who: string, dir: string, before: Set<string>, hz: number, seconds: number): void {
  const files = newWavs(dir, before, 'dec');
  t.equal(files.length, 1, `the ${who} recorded one call`);
  if (files.length !== 1) return;
  const tone = toneOf(files[0]!);
  t.comment(`${who} heard ${JSON.stringify(tone)}`);
  t.ok(tone.seconds >= seconds - 0.5, `the ${who}'s recording lasts the call (${tone.seconds.toFixed(2)} s)`);
  t.ok(Math.abs(tone.frequency - hz) <= TONE_TOLERANCE_HZ, `the ${who} hears ${hz} Hz (found ${tone.frequency.toFixed(1)} Hz)`);
  t.ok(tone.rms >= MIN_TONE_RMS, `the ${who}'s recording is a tone, not silence (RMS ${tone.rms.toFixed(0)})`);
  t.ok(tone.peakShare > 0.9, `and a clean one (${(tone.peakShare * 100).toFixed(1)}% of the energy at the peak)`);
}

/** Shannon entropy in bits per byte of all bytes together: ~8 for ciphertext, ~4 for a G.711 tone. */
export function entropy(chunks: readonly Buffer[]): number {
  const counts = new Array<number>(256).fill(0);
  let n = 0;
  for (const c of chunks) for (const b of c) { counts[b]!++; n++; }
  let h = 0;
  for (const k of counts) if (k > 0) h -= (k / n) * Math.log2(k / n);
  return h;
}

/** Packets in and out of one leg of one engine session over a window (in: from its phone, out: to it). */
export interface LegFlow { readonly session: string; readonly leg: string; readonly security: string; readonly seconds: number; readonly in: number; readonly out: number }
type MediaStreams = NonNullable<NonNullable<BoxStatus['media']>['streams']>;
interface MediaSample { at: number; streams: MediaStreams }

function mediaSample(data: string): MediaSample | undefined {
  const m = boxStatus(data).media;
  return m?.at !== undefined && m.streams ? { at: m.at, streams: m.streams } : undefined;
}

/** 20 ms G.711 packets: this many a second each way. */
export const PACKETS_PER_SECOND = 50;

/**
 * The one-way-audio guard: over at least `seconds` of the box's own media
 * figures (`pbx status --json`, media.streams, refreshed every 2 s), every
 * leg of every session the box runs both received packets from its phone
 * and sent packets to it, each at no less than `minShare` of a 20 ms
 * stream's rate. Resolves with each leg's figures once the window is over,
 * for the caller's tone checks of the same stretch. Legs that appear or go
 * during the window are not judged; `expectLegs` says how many must be.
 */
export async function assertTwoWay(t: ToneAsserts, data: string, what: string, o: {
  seconds?: number; expectLegs: number; minShare?: number;
  /** Judge only the sessions this accepts (a held call's holder sends nothing, by design). */
  only?: (session: string) => boolean;
}): Promise<LegFlow[]> {
  const seconds = o.seconds ?? 3;
  const minShare = o.minShare ?? 0.8;
  // A fresh sample to start from, then the first one at least `seconds` later.
  const first = mediaSample(data)?.at ?? 0;
  const s0 = await waitFor('a fresh media sample', () => { const s = mediaSample(data); return s && s.at > first ? s : undefined; }, 6_000, 100);
  const s1 = await waitFor(`a media sample ${seconds} s later`, () => { const s = mediaSample(data); return s && s.at >= s0.at + seconds * 1000 ? s : undefined; }, seconds * 1000 + 6_000, 200);
  const dt = (s1.at - s0.at) / 1000;
  const flows: LegFlow[] = [];
  for (const st of s1.streams) {
    const before = s0.streams.find((x) => x.session === st.session);
    if (!before || (o.only && !o.only(st.session))) continue;
    for (const [leg, l] of Object.entries(st.legs)) {
      const b = before.legs[leg];
      if (!b) continue;
      flows.push({ session: st.session, leg, security: l.security, seconds: dt, in: l.packetsIn - b.packetsIn, out: l.packetsOut - b.packetsOut });
    }
  }
  const floor = Math.floor(PACKETS_PER_SECOND * dt * minShare);
  t.comment(`${what}: over ${dt.toFixed(1)} s ${flows.map((f) => `${f.session}/${f.leg} (${f.security}) in ${f.in} out ${f.out}`).join('; ')}`);
  if (flows.length !== o.expectLegs) t.comment(`${what}: sessions before ${JSON.stringify(s0.streams)}, after ${JSON.stringify(s1.streams)}`);
  t.equal(flows.length, o.expectLegs, `${what}: the box forwards ${o.expectLegs} legs`);
  for (const f of flows) {
    t.ok(f.in >= floor && f.out >= floor, `${what}: ${f.session}/${f.leg} carries audio both ways for ${dt.toFixed(1)} s (${f.in} in, ${f.out} out, at least ${floor} each)`);
  }
  return flows;
}

/** Each stretch's first and last this many seconds are left out of a tone check (streams start and stop). */
export const STRETCH_MARGIN_S = 0.7;

/** The dominant frequency and level of a stretch [from, to] seconds of what a phone recorded. */
export function stretch(file: string, from: number, to: number): { hz: number; rms: number; share: number } {
  const pcm = parseWav(readFileSync(file));
  const s = pcm.samples.subarray(Math.max(0, Math.round(from * pcm.sampleRate)), Math.round(to * pcm.sampleRate));
  if (s.length < pcm.sampleRate * 0.5) return { hz: 0, rms: 0, share: 0 };
  const d = dominantFrequency(s, pcm.sampleRate);
  return { hz: d.frequency, rms: rms(s), share: d.peakShare };
}

/** The recording `file` holds `hz`, loud, from `from` to `to` seconds (less the margins). */
export function assertStretch(t: Pick<ToneAsserts, 'ok' | 'comment'>, who: string, file: string, from: number, to: number, hz: number): void {
  const got = stretch(file, from + STRETCH_MARGIN_S, to - STRETCH_MARGIN_S);
  t.comment(`${who} ${from.toFixed(1)}-${to.toFixed(1)} s: ${got.hz.toFixed(1)} Hz, RMS ${got.rms.toFixed(0)}, ${(got.share * 100).toFixed(0)}% at the peak`);
  t.ok(Math.abs(got.hz - hz) <= TONE_TOLERANCE_HZ && got.rms >= MIN_TONE_RMS, `${who} hears ${hz} Hz from ${from.toFixed(1)} to ${to.toFixed(1)} s (found ${got.hz.toFixed(1)} Hz)`);
}

/** A recording's length in seconds. */
export function wavSeconds(file: string): number {
  const pcm = parseWav(readFileSync(file));
  return pcm.samples.length / pcm.sampleRate;
}
