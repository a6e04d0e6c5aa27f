import { pino, type Logger } from 'pino';

/**
 * The last few thousand log lines, kept in memory for the admin page's log
 * view (issue 16), with listeners for its live tail. Lines enter through a
 * logger that forwards every call to the appliance's own logger unchanged
 * and keeps a copy here. A copy never holds a secret: fields named like one
 * are replaced at any depth (beside the logger's own redaction, which only
 * knows fixed paths), and text that looks like a credential is masked.
 */

export type LogLevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
export const LOG_LEVELS: readonly LogLevelName[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
const LEVEL_OF: Readonly<Record<number, LogLevelName>> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const VALUE_OF: Readonly<Record<LogLevelName, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

/** One kept line, as GET /api/logs and the live stream give it. */
export interface LogEntry {
  readonly seq: number;
  /** ISO 8601. */
  readonly at: string;
  readonly level: LogLevelName;
  readonly msg: string;
  /** The line's other fields, secrets replaced. */
  readonly fields: Readonly<Record<string, unknown>>;
}

export const DEFAULT_LOG_LINES = 2000;
/** A longer line is cut: a runaway field must not fill the buffer. */
export const MAX_LOG_LINE_CHARS = 4000;
export const REDACTED = '[redacted]';

/** Field names that may carry a secret, whatever their nesting. */
const SECRET_NAME = /pass|secret|key|token|ha1|authoriz|cookie|csrf|credential|p12|nonce|response/i;
/** Secrets written into text: an Authorization header's value, key=value pairs, inline SDES keys. */
function scrubText(s: string): string {
  return s
    .replace(/\b(Digest|Basic|Bearer)\s+[^\r\n]*/gi, `$1 ${REDACTED}`)
    .replace(/\b(password|passwd|secret|token|passphrase)(\s*[=:]\s*)[^\s,;&]+/gi, `$1$2${REDACTED}`)
    .replace(/\binline:[A-Za-z0-9+/=|:^]+/g, `inline:${REDACTED}`);
}

/** A copy of `v` with every field named like a secret replaced and every string masked. */
export function scrubSecrets(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return scrubText(v);
  if (depth > 6 || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.slice(0, 50).map((x) => scrubSecrets(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = SECRET_NAME.test(k) ? REDACTED : scrubSecrets(x, depth + 1);
  return out;
}

export function isLogLevel(v: unknown): v is LogLevelName {
  return typeof v === 'string' && (LOG_LEVELS as readonly string[]).includes(v);
}

export class LogBuffer {
  private readonly lines: LogEntry[] = [];
  private readonly listeners = new Set<(e: LogEntry) => void>();
  private seq = 0;
  /** Lines that were not JSON log records (counted, dropped). */
  rejected = 0;

  constructor(readonly capacity = DEFAULT_LOG_LINES) {}

  /** Takes one serialized pino line (JSON); anything else is counted and dropped. */
  write(line: string): void {
    let rec: unknown;
    if (line.length > MAX_LOG_LINE_CHARS * 16) { this.rejected++; return; }
    try { rec = JSON.parse(line); } catch { this.rejected++; return; }
    if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) { this.rejected++; return; }
    const { level, time, msg, ...rest } = rec as Record<string, unknown>;
    const name = typeof level === 'number' ? LEVEL_OF[level] : undefined;
    if (!name) { this.rejected++; return; }
    let fields = scrubSecrets(rest) as Record<string, unknown>;
    if (JSON.stringify(fields).length > MAX_LOG_LINE_CHARS) fields = { truncated: true };
    this.add({
      level: name, at: new Date(typeof time === 'number' ? time : Date.now()).toISOString(),
      msg: scrubText(typeof msg === 'string' ? msg.slice(0, MAX_LOG_LINE_CHARS) : ''), fields,
    });
  }

  private add(e: Omit<LogEntry, 'seq'>): void {
    const entry: LogEntry = { seq: ++this.seq, ...e };
    this.lines.push(entry);
    if (this.lines.length > this.capacity) this.lines.splice(0, this.lines.length - this.capacity);
    for (const l of this.listeners) {
      try { l(entry); } catch { /* a listener must not break logging */ }
    }
  }

  /**
   * Kept lines, oldest first: at or above `level`, after `afterSeq`, whose
   * text or fields contain `q` (case-insensitive), the newest `limit` of them.
   */
  recent(opts: { level?: LogLevelName; afterSeq?: number; q?: string; limit?: number } = {}): LogEntry[] {
    const min = VALUE_OF[opts.level ?? 'trace'];
    const q = (opts.q ?? '').toLowerCase();
    const out = this.lines.filter((e) => VALUE_OF[e.level] >= min && e.seq > (opts.afterSeq ?? 0)
      && (q === '' || e.msg.toLowerCase().includes(q) || JSON.stringify(e.fields).toLowerCase().includes(q)));
    return out.slice(-(opts.limit ?? this.capacity));
  }

  onLine(fn: (e: LogEntry) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}

/**
 * A logger that passes every call on to `inner` as it was made and keeps a
 * copy of each line at `level` or above in `buffer`.
 */
export function bufferedLogger(inner: Logger, buffer: LogBuffer, level: LogLevelName = 'info'): Logger {
  const innerValue = inner.levelVal;
  const keep = VALUE_OF[level];
  // The wrapper must let through what either side wants.
  const floor = Math.min(keep, Number.isFinite(innerValue) ? innerValue : keep);
  const label = LEVEL_OF[floor] ?? level;
  return pino({
    level: label,
    base: undefined,
    redact: { paths: ['password', '*.password', 'pass', '*.pass', 'key', '*.key', 'privateKey', '*.privateKey', 'ha1', '*.ha1', 'authorization', '*.authorization'], censor: REDACTED },
    hooks: {
      logMethod(args, method, lvl) {
        const name = LEVEL_OF[lvl];
        if (name && lvl >= innerValue) (inner[name] as (...a: unknown[]) => void).apply(inner, args);
        if (lvl >= keep) method.apply(this, args);
      },
    },
  }, { write: (s: string) => buffer.write(s) });
}
