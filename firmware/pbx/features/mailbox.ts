import type { Digit } from './dtmf.js';
import type { PromptName } from './prompts.js';

/**
 * The mailbox menu as a pure state machine: inputs (a key press, the end of
 * what played, the idle timer, the PIN check's result) in, actions out. The
 * driver (voicemail.ts) plays, checks, stores and arms the one timer the
 * actions name; tests drive the machine with no clock at all.
 *
 *   pin      digits then '#' (or a pause) -> checking; '*' starts again
 *   checking -> count (right PIN) | pin again (wrong) | locked (3rd wrong)
 *   count    the number of new messages, then the first message
 *   message  a message plays; after it ends, 'after' waits for a key
 *            7 delete, 9 save, # next, 1 again, 0 options (also while it plays)
 *   menu     after the last message: 1 from the top, 0 options, * goodbye
 *   options  1 record a new greeting (then # ends it), 2 a new PIN (digits then #), * back
 *
 * A new message that was played to its end is saved (heard).
 */

export const MAX_PIN_TRIES = 3;
export const PIN_DIGITS = { min: 4, max: 12 } as const;
/** How long the machine waits for a key before it moves on (or, at the menu, says goodbye). */
export const IDLE_MS = 10_000;
/** A pause this long after some PIN digits submits them, as '#' would. */
export const DIGIT_GAP_MS = 5_000;
/** The longest greeting a user records from the phone. */
export const MAX_GREETING_MS = 60_000;

export interface MailboxMessage {
  readonly id: string;
  readonly isNew: boolean;
}

export type MailboxInput =
  | { readonly kind: 'digit'; readonly digit: Digit }
  | { readonly kind: 'played' }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'pin-checked'; readonly ok: boolean };

export type MailboxAction =
  | { readonly kind: 'play'; readonly prompt: PromptName }
  | { readonly kind: 'play-count'; readonly count: number }
  | { readonly kind: 'play-message'; readonly id: string }
  | { readonly kind: 'stop-play' }
  | { readonly kind: 'check-pin'; readonly pin: string }
  | { readonly kind: 'delete'; readonly id: string }
  | { readonly kind: 'save'; readonly id: string }
  | { readonly kind: 'record-greeting' }
  | { readonly kind: 'end-greeting' }
  | { readonly kind: 'set-pin'; readonly pin: string }
  /** (Re)arm the idle timer; 0 cancels it. */
  | { readonly kind: 'timer'; readonly ms: number }
  /** The third wrong PIN: the driver throttles the mailbox and hangs up. */
  | { readonly kind: 'locked' }
  | { readonly kind: 'hangup' };

export type MailboxPhase = 'pin' | 'checking' | 'count' | 'message' | 'after' | 'menu' | 'options' | 'record-prompt' | 'recording' | 'new-pin' | 'ended';

export class MailboxMachine {
  phase: MailboxPhase = 'pin';
  private digits = '';
  private failures = 0;
  private index = 0;
  private queue: MailboxMessage[] = [];

  constructor(private readonly messages: () => readonly MailboxMessage[]) {}

  get wrongPins(): number { return this.failures; }

  /** The call was answered: ask for the PIN. */
  start(): MailboxAction[] {
    this.phase = 'pin';
    return [{ kind: 'play', prompt: 'enter-pin' }, { kind: 'timer', ms: IDLE_MS }];
  }

  step(input: MailboxInput): MailboxAction[] {
    if (this.phase === 'ended') return [];
    switch (input.kind) {
      case 'digit': return this.digit(input.digit);
      case 'played': return this.played();
      case 'timeout': return this.timeout();
      case 'pin-checked': return this.checked(input.ok);
    }
  }

  private digit(d: Digit): MailboxAction[] {
    switch (this.phase) {
      case 'pin':
        if (d === '#') return this.submitPin();
        if (d === '*') { this.digits = ''; return [{ kind: 'timer', ms: IDLE_MS }]; }
        if (this.digits.length < PIN_DIGITS.max) this.digits += d;
        return [{ kind: 'timer', ms: DIGIT_GAP_MS }];
      case 'message':
      case 'after':
        return this.onMessageKey(d);
      case 'menu':
        if (d === '1') return this.fromTop();
        if (d === '0') return this.options();
        if (d === '*') return this.goodbye();
        return [];
      case 'options':
        if (d === '1') { this.phase = 'record-prompt'; return [{ kind: 'timer', ms: 0 }, { kind: 'play', prompt: 'record' }]; }
        if (d === '2') { this.phase = 'new-pin'; this.digits = ''; return [{ kind: 'play', prompt: 'enter-pin' }, { kind: 'timer', ms: IDLE_MS }]; }
        if (d === '*') return this.menu();
        return [];
      case 'recording':
        if (d === '#') { this.phase = 'menu'; return [{ kind: 'end-greeting' }, { kind: 'play', prompt: 'done' }, { kind: 'timer', ms: IDLE_MS }]; }
        return [];
      case 'new-pin':
        if (d === '#') {
          const pin = this.digits;
          this.digits = '';
          if (pin.length < PIN_DIGITS.min) return [{ kind: 'play', prompt: 'wrong-pin' }, { kind: 'timer', ms: IDLE_MS }];
          this.phase = 'menu';
          return [{ kind: 'set-pin', pin }, { kind: 'play', prompt: 'done' }, { kind: 'timer', ms: IDLE_MS }];
        }
        if (d === '*') { this.digits = ''; return []; }
        if (this.digits.length < PIN_DIGITS.max) this.digits += d;
        return [{ kind: 'timer', ms: IDLE_MS }];
      default:
        return [];
    }
  }

  private submitPin(): MailboxAction[] {
    const pin = this.digits;
    this.digits = '';
    if (pin.length === 0) return [{ kind: 'timer', ms: IDLE_MS }];
    this.phase = 'checking';
    return [{ kind: 'timer', ms: 0 }, { kind: 'check-pin', pin }];
  }

  private checked(ok: boolean): MailboxAction[] {
    if (this.phase !== 'checking') return [];
    if (!ok) {
      this.failures++;
      if (this.failures >= MAX_PIN_TRIES) { this.phase = 'ended'; return [{ kind: 'locked' }, { kind: 'hangup' }]; }
      this.phase = 'pin';
      return [{ kind: 'play', prompt: 'wrong-pin' }, { kind: 'timer', ms: IDLE_MS }];
    }
    this.queue = this.load();
    this.phase = 'count';
    return [{ kind: 'play-count', count: this.queue.filter((m) => m.isNew).length }];
  }

  private load(): MailboxMessage[] {
    const all = this.messages();
    return [...all.filter((m) => m.isNew), ...all.filter((m) => !m.isNew)];
  }

  private played(): MailboxAction[] {
    switch (this.phase) {
      case 'count': return this.playAt(0);
      case 'message': {
        this.phase = 'after';
        const m = this.queue[this.index];
        const out: MailboxAction[] = [];
        if (m?.isNew) { out.push({ kind: 'save', id: m.id }); this.queue[this.index] = { id: m.id, isNew: false }; }
        out.push({ kind: 'timer', ms: IDLE_MS });
        return out;
      }
      case 'record-prompt': this.phase = 'recording'; return [{ kind: 'record-greeting' }, { kind: 'timer', ms: MAX_GREETING_MS }];
      default: return [];
    }
  }

  private timeout(): MailboxAction[] {
    switch (this.phase) {
      case 'pin': return this.digits.length > 0 ? this.submitPin() : this.goodbye();
      case 'after': return this.playAt(this.index + 1);
      case 'recording': this.phase = 'menu'; return [{ kind: 'end-greeting' }, { kind: 'play', prompt: 'done' }, { kind: 'timer', ms: IDLE_MS }];
      case 'menu': case 'options': case 'new-pin': return this.goodbye();
      default: return [];
    }
  }

  private onMessageKey(d: Digit): MailboxAction[] {
    const m = this.queue[this.index];
    if (!m) return [];
    const stop: MailboxAction[] = this.phase === 'message' ? [{ kind: 'stop-play' }] : [];
    switch (d) {
      case '7': return [...stop, { kind: 'delete', id: m.id }, ...this.remove()];
      case '9': return [...stop, { kind: 'save', id: m.id }, ...this.playAt(this.index + 1)];
      case '#': return [...stop, ...this.playAt(this.index + 1)];
      case '1': return [...stop, ...this.playAt(this.index)];
      case '0': return [...stop, ...this.options()];
      default: return [];
    }
  }

  /** The message at `index` left the queue (deleted): the next one takes its place. */
  private remove(): MailboxAction[] {
    this.queue.splice(this.index, 1);
    return this.playAt(this.index);
  }

  private playAt(i: number): MailboxAction[] {
    this.index = i;
    const m = this.queue[i];
    if (!m) return this.menu();
    this.phase = 'message';
    return [{ kind: 'timer', ms: 0 }, { kind: 'play-message', id: m.id }];
  }

  private fromTop(): MailboxAction[] {
    this.queue = this.load();
    return this.playAt(0);
  }

  private menu(): MailboxAction[] {
    this.phase = 'menu';
    return [{ kind: 'play', prompt: 'menu' }, { kind: 'timer', ms: IDLE_MS }];
  }

  private options(): MailboxAction[] {
    this.phase = 'options';
    return [{ kind: 'play', prompt: 'menu' }, { kind: 'timer', ms: IDLE_MS }];
  }

  private goodbye(): MailboxAction[] {
    this.phase = 'ended';
    return [{ kind: 'timer', ms: 0 }, { kind: 'play', prompt: 'goodbye' }, { kind: 'hangup' }];
  }
}
