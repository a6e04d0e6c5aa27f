import type { Clock } from '../../firmware/core/index.js';
import { splitWords } from './words.js';

/**
 * One person at the serial console: a password prompt (the admin password),
 * then a `pbx>` prompt taking the same commands as the pbx CLI, with line
 * editing (backspace, ^U, ^W, ^C) and a history (up/down arrows). Bytes in,
 * text out: the serial port (serial.ts) and the tests feed it alike.
 *
 * Wrong passwords are throttled: after each one the console ignores further
 * tries for a delay that doubles (2 s, 4 s, ... up to 5 min), and it says so.
 */

export const LOGIN_BASE_DELAY_MS = 2_000;
export const LOGIN_MAX_DELAY_MS = 5 * 60_000;
export const MAX_LINE = 4096;
export const MAX_HISTORY = 100;
const PROMPT = 'pbx> ';
const PASSWORD_PROMPT = 'admin password: ';

export type LoginCheck = 'ok' | 'wrong' | { readonly hint: string };

export interface SessionDeps {
  readonly write: (text: string) => void;
  /** Check a password: 'ok', 'wrong', or a hint when none can be checked yet. */
  readonly login: (password: string) => Promise<LoginCheck>;
  /** Run one pbx command (words after `pbx`); its output and exit code. */
  readonly run: (argv: readonly string[]) => Promise<{ code: number; output: string }>;
  readonly clock: Clock;
  /** A line for the log (never a password). */
  readonly note?: (event: string) => void;
}

/** Commands the console refuses: they would start a second appliance or supervisor. */
const REFUSED = new Set(['run', 'boot']);

export class ConsoleSession {
  private state: 'password' | 'checking' | 'shell' | 'busy' = 'password';
  private line = '';
  private readonly history: string[] = [];
  private historyAt = 0;
  private esc: '' | '\x1b' | '\x1b[' = '';
  private failures = 0;
  private blockedUntil = 0;
  private pending: Promise<void> = Promise.resolve();

  constructor(private readonly deps: SessionDeps) {}

  /** Greet and prompt for the password. */
  start(banner: string): void {
    this.deps.write(`\r\n${banner}\r\n${PASSWORD_PROMPT}`);
  }

  get loggedIn(): boolean { return this.state === 'shell' || this.state === 'busy'; }

  /** Work already started by input (a password check, a command) has settled. */
  idle(): Promise<void> { return this.pending; }

  input(data: Buffer | string): void {
    for (const ch of typeof data === 'string' ? data : data.toString('latin1')) this.byte(ch);
  }

  private byte(ch: string): void {
    if (this.state === 'checking' || this.state === 'busy') return; // typed while we work: dropped, as on a real tty
    const code = ch.charCodeAt(0);
    if (this.esc === '\x1b') { this.esc = ch === '[' ? '\x1b[' : ''; return; }
    if (this.esc === '\x1b[') { this.esc = ''; if (this.state === 'shell') this.arrow(ch); return; }
    if (ch === '\x1b') { this.esc = '\x1b'; return; }
    const echo = this.state === 'shell';
    if (ch === '\r' || ch === '\n') {
      if (ch === '\n' && this.lastWasCr) { this.lastWasCr = false; return; }
      this.lastWasCr = ch === '\r';
      this.deps.write('\r\n');
      const line = this.line;
      this.line = '';
      this.submit(line);
      return;
    }
    this.lastWasCr = false;
    if (code === 0x7f || code === 0x08) {
      if (this.line.length > 0) { this.line = this.line.slice(0, -1); if (echo) this.deps.write('\b \b'); }
    } else if (code === 0x15) { // ^U
      if (echo) this.deps.write('\b \b'.repeat(this.line.length));
      this.line = '';
    } else if (code === 0x17) { // ^W
      const cut = this.line.replace(/\S+\s*$/, '');
      if (echo) this.deps.write('\b \b'.repeat(this.line.length - cut.length));
      this.line = cut;
    } else if (code === 0x03) { // ^C
      this.line = '';
      this.deps.write(`^C\r\n${this.state === 'shell' ? PROMPT : PASSWORD_PROMPT}`);
    } else if (code === 0x04 && this.line === '' && this.state === 'shell') { // ^D on an empty line
      this.logout();
    } else if (code >= 0x20 && this.line.length < MAX_LINE) {
      this.line += ch;
      if (echo) this.deps.write(ch);
    }
  }

  private lastWasCr = false;

  private arrow(ch: string): void {
    if (ch !== 'A' && ch !== 'B') return;
    if (ch === 'A' && this.historyAt > 0) this.historyAt--;
    else if (ch === 'B' && this.historyAt < this.history.length) this.historyAt++;
    else return;
    const next = this.history[this.historyAt] ?? '';
    this.deps.write(`${'\b \b'.repeat(this.line.length)}${next}`);
    this.line = next;
  }

  private submit(line: string): void {
    if (this.state === 'password') { this.tryPassword(line); return; }
    const trimmed = line.trim();
    if (trimmed === '') { this.deps.write(PROMPT); return; }
    if (this.history[this.history.length - 1] !== trimmed) this.history.push(trimmed);
    if (this.history.length > MAX_HISTORY) this.history.shift();
    this.historyAt = this.history.length;
    if (trimmed === 'logout' || trimmed === 'exit') { this.logout(); return; }
    const w = splitWords(trimmed);
    if (!w.ok) { this.deps.write(`${w.error}\r\n${PROMPT}`); return; }
    const argv = w.words[0] === 'pbx' ? w.words.slice(1) : w.words;
    if (argv.length > 0 && REFUSED.has(argv[0]!)) { this.deps.write(`'${argv[0]}' is not available on the console\r\n${PROMPT}`); return; }
    this.state = 'busy';
    this.deps.note?.(`console command: ${argv[0] ?? 'help'}`);
    this.pending = this.deps.run(argv.length ? argv : ['help']).then(
      (r) => this.deps.write(`${r.output.replace(/\r?\n/g, '\r\n')}${r.code === 0 ? '' : `[exit ${r.code}]\r\n`}`),
      (e: unknown) => this.deps.write(`failed: ${e instanceof Error ? e.message : String(e)}\r\n`),
    ).then(() => { this.state = 'shell'; this.deps.write(PROMPT); });
  }

  private tryPassword(password: string): void {
    const now = this.deps.clock.now();
    if (now < this.blockedUntil) {
      this.deps.write(`too many wrong passwords: wait ${Math.ceil((this.blockedUntil - now) / 1000)} s\r\n${PASSWORD_PROMPT}`);
      this.deps.note?.('console login refused: throttled');
      return;
    }
    this.state = 'checking';
    this.pending = this.deps.login(password).then((r) => {
      if (r === 'ok') {
        this.failures = 0;
        this.state = 'shell';
        this.deps.note?.('console login');
        this.deps.write(`logged in; the pbx commands work here (pbx help), logout to leave\r\n${PROMPT}`);
        return;
      }
      this.state = 'password';
      if (r !== 'wrong') { this.deps.write(`${r.hint}\r\n${PASSWORD_PROMPT}`); return; }
      this.failures++;
      const delay = Math.min(LOGIN_MAX_DELAY_MS, LOGIN_BASE_DELAY_MS * 2 ** (this.failures - 1));
      this.blockedUntil = this.deps.clock.now() + delay;
      this.deps.note?.(`console login failed (${this.failures} in a row)`);
      this.deps.write(`wrong password; next try in ${delay / 1000} s\r\n${PASSWORD_PROMPT}`);
    }, () => { this.state = 'password'; this.deps.write(`login failed\r\n${PASSWORD_PROMPT}`); });
  }

  private logout(): void {
    this.state = 'password';
    this.line = '';
    this.deps.note?.('console logout');
    this.deps.write(`logged out\r\n${PASSWORD_PROMPT}`);
  }
}
