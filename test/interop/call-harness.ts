import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyseTone, parseWav, type ToneReport } from './audio.js';
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
  media?: { sessions: number; portsInUse: number; counters?: Counts };
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

/** An 8 kHz mono 16-bit WAV of a sine tone (sox), made once per work dir. */
export function toneFile(work: string, hz: number): string {
  const f = join(work, `tone${hz}.wav`);
  if (!existsSync(f)) {
    const r = spawnSync('sox', ['-n', '-r', '8000', '-c', '1', '-b', '16', f, 'synth', '30', 'sine', String(hz)], { timeout: 20_000 });
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
