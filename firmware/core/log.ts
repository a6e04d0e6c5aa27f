import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * The firmware's logger. Secrets never reach it: fields named like secrets are
 * redacted wherever they appear, as a second line of defence behind code that
 * simply never logs them.
 */
export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const options = {
    level: opts.level ?? process.env.PBX_LOG_LEVEL ?? 'info',
    base: undefined,
    redact: {
      paths: ['password', '*.password', 'pass', '*.pass', 'key', '*.key', 'privateKey', '*.privateKey', 'ha1', '*.ha1', 'authorization', '*.authorization'],
      censor: '[redacted]',
    },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** A logger that drops everything: for unit tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
