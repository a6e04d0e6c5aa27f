import { execFile } from 'node:child_process';
import { ConsoleSession, type LoginCheck } from './session.js';
import type { Clock } from '../../firmware/core/index.js';

export interface SerialConsoleOptions {
  readonly path: string;
  readonly baudRate?: number;
  readonly clock: Clock;
  readonly banner: () => string;
  readonly login: (password: string) => Promise<LoginCheck>;
  /** The pbx CLI's entry file and the data folder: console commands run it, as an admin at a shell would. */
  readonly pbx: { readonly script: string; readonly dataDir: string };
  readonly note?: (event: string) => void;
  /** Per-command time limit. */
  readonly commandTimeoutMs?: number;
}

export const CONSOLE_BAUD = 115_200;
const MAX_OUTPUT = 1024 * 1024;

/** Run `pbx ARGV --data DIR` and collect what it prints. */
export function runPbx(script: string, dataDir: string, argv: readonly string[], timeoutMs: number): Promise<{ code: number; output: string }> {
  const withData = argv[0] === 'help' || argv[0] === '--help' ? [...argv] : [...argv, '--data', dataDir];
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...withData], { timeout: timeoutMs, maxBuffer: MAX_OUTPUT, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

/**
 * The serial console: serialport on a UART or USB serial adapter (or, in the
 * tests, one end of a pseudo-terminal pair), bytes to a ConsoleSession. The
 * box prints its banner (addresses, admin URL) at open.
 */
export class SerialConsole {
  private constructor(private readonly port: import('serialport').SerialPort, readonly session: ConsoleSession) {}

  static async open(opts: SerialConsoleOptions): Promise<SerialConsole> {
    const { SerialPort } = await import('serialport');
    const port = new SerialPort({ path: opts.path, baudRate: opts.baudRate ?? CONSOLE_BAUD, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    const session = new ConsoleSession({
      write: (text) => { port.write(text, 'latin1'); },
      login: opts.login,
      run: (argv) => runPbx(opts.pbx.script, opts.pbx.dataDir, argv, opts.commandTimeoutMs ?? 60_000),
      clock: opts.clock,
      ...(opts.note ? { note: opts.note } : {}),
    });
    port.on('data', (d: Buffer) => session.input(d));
    port.on('error', (e) => opts.note?.(`serial console error: ${e.message}`));
    session.start(opts.banner());
    return new SerialConsole(port, session);
  }

  /** Print a line for whoever is at the console (LED changes are not echoed here). */
  print(line: string): void {
    if (this.port.isOpen) this.port.write(`${line}\r\n`, 'latin1');
  }

  async close(): Promise<void> {
    if (!this.port.isOpen) return;
    await new Promise<void>((resolve) => this.port.drain(() => this.port.close(() => resolve())));
  }
}

