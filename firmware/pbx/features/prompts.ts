/**
 * The prompts the box plays on calls it answers itself, made by the box
 * (8 kHz mono linear PCM, nothing fetched or shipped): each prompt is a
 * short tone pattern of its own frequency, so a phone's user learns them and
 * a test tells them apart by their dominant frequency. Spoken prompts (text
 * to G.711 at build time) would replace these one for one.
 *
 *   greeting   the default voicemail greeting: three 0.5 s pips of 480 Hz
 *   beep       after the greeting, the message starts: 0.5 s of 1000 Hz
 *   enter-pin  the mailbox asks for the PIN: 0.8 s of 350 Hz
 *   wrong-pin  0.6 s of 620 Hz, twice
 *   count      one 0.15 s pip of 850 Hz per new message (none: one long 300 Hz)
 *   menu       after the messages: 0.6 s of 550 Hz
 *   record     the mailbox records a new greeting after it: 0.3 s of 1000 Hz
 *   done       a change was stored: 0.3 s each of 660 and 880 Hz
 *   goodbye    0.8 s of 250 Hz
 *   attendant  the attendant's default greeting: 1 s of 520 Hz
 */

export const SAMPLE_RATE = 8000;
const PEAK = 8000;
const FADE = 40;

export type PromptName = 'greeting' | 'beep' | 'enter-pin' | 'wrong-pin' | 'menu' | 'record' | 'done' | 'goodbye' | 'attendant' | 'none';

export const PROMPT_HZ: Readonly<Record<PromptName, number>> = {
  greeting: 480, beep: 1000, 'enter-pin': 350, 'wrong-pin': 620, menu: 550, record: 1000, done: 660, goodbye: 250, attendant: 520, none: 300,
};

/** A tone of `ms` with short fades (no clicks). */
export function tone(hz: number, ms: number, peak = PEAK): Int16Array {
  const n = Math.round((ms * SAMPLE_RATE) / 1000);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const env = Math.min(1, i / FADE, (n - 1 - i) / FADE);
    out[i] = Math.round(peak * env * Math.sin((2 * Math.PI * hz * i) / SAMPLE_RATE));
  }
  return out;
}

export function silence(ms: number): Int16Array {
  return new Int16Array(Math.round((ms * SAMPLE_RATE) / 1000));
}

export function concat(parts: readonly Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** The prompt's PCM. */
export function prompt(name: PromptName): Int16Array {
  const hz = PROMPT_HZ[name];
  switch (name) {
    case 'greeting': return concat([tone(hz, 500), silence(150), tone(hz, 500), silence(150), tone(hz, 500), silence(200)]);
    case 'beep': return concat([tone(hz, 500), silence(100)]);
    case 'wrong-pin': return concat([tone(hz, 600), silence(150), tone(hz, 600), silence(150)]);
    case 'record': return concat([tone(hz, 300), silence(100)]);
    case 'done': return concat([tone(660, 300), tone(880, 300), silence(100)]);
    case 'attendant': return concat([tone(hz, 1000), silence(200)]);
    default: return concat([tone(hz, name === 'menu' ? 600 : 800), silence(200)]);
  }
}

/** "You have N new messages": N pips (at most 9, so the count stays short), or the long low tone for none. */
export function countPrompt(n: number): Int16Array {
  if (n <= 0) return prompt('none');
  const parts: Int16Array[] = [];
  for (let i = 0; i < Math.min(n, 9); i++) parts.push(tone(850, 150), silence(150));
  parts.push(silence(200));
  return concat(parts);
}

/** Milliseconds a PCM prompt lasts. */
export function durationMs(pcm: Int16Array): number {
  return (pcm.length * 1000) / SAMPLE_RATE;
}
