import type { CallRecordJson } from '../api/index.js';
import { CommandError } from '../control/index.js';
import { describeLeg } from './explain.js';

/**
 * The call history's filters and its CSV export (issue 16): by extension
 * (either party), by day range, by outcome. The page sends the same query to
 * GET /api/calls/history and GET /api/calls/history.csv, so what it shows is
 * what it downloads.
 */

export const OUTCOMES = ['answered', 'missed', 'busy', 'failed'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface HistoryFilter {
  readonly extension?: string;
  /** Epoch ms, inclusive. */
  readonly from?: number;
  /** Epoch ms, exclusive. */
  readonly to?: number;
  readonly outcome?: Outcome;
}

const ms = (v: string | number | undefined): number => (typeof v === 'number' ? v : v === undefined ? NaN : Date.parse(v));

/** What became of a call, in the words of the filter. */
export function outcomeOf(r: Pick<CallRecordJson, 'answeredAt' | 'endReason'>): Outcome {
  if (r.answeredAt !== undefined) return 'answered';
  if (r.endReason === 'cancelled' || r.endReason === 'no-answer' || r.endReason === 'forwarded') return 'missed';
  if (r.endReason === 'busy') return 'busy';
  return 'failed';
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const EXTENSION = /^[A-Za-z0-9._@:+-]{1,64}$/;

/**
 * The filter from a query string's values: `extension`, `from` and `to` as
 * days (YYYY-MM-DD, `to` inclusive, in UTC unless `tz` gives the page's
 * offset in minutes), `outcome`. Anything else is a CommandError naming the field.
 */
export function parseHistoryFilter(q: Readonly<Record<string, unknown>>): HistoryFilter {
  const text = (name: string): string | undefined => {
    const v = q[name];
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string') throw new CommandError('config', `${name} must be given once`, name);
    return v;
  };
  const tzRaw = text('tz');
  if (tzRaw !== undefined && !/^-?\d{1,4}$/.test(tzRaw)) throw new CommandError('config', 'tz must be minutes', 'tz');
  const offset = (tzRaw === undefined ? 0 : Number(tzRaw)) * 60_000;
  const day = (name: string): number | undefined => {
    const v = text(name);
    if (v === undefined) return undefined;
    const t = DAY.test(v) ? Date.parse(`${v}T00:00:00Z`) : NaN;
    if (Number.isNaN(t)) throw new CommandError('config', `${name} must be a date (YYYY-MM-DD)`, name);
    return t + offset;
  };
  const extension = text('extension');
  if (extension !== undefined && !EXTENSION.test(extension)) throw new CommandError('config', 'extension: letters, digits and . _ - @ : + only', 'extension');
  const outcome = text('outcome');
  if (outcome !== undefined && !(OUTCOMES as readonly string[]).includes(outcome)) throw new CommandError('config', `outcome must be one of ${OUTCOMES.join(', ')}`, 'outcome');
  const from = day('from');
  const toDay = day('to');
  if (from !== undefined && toDay !== undefined && toDay < from) throw new CommandError('config', 'the end date is before the start date', 'to');
  return {
    ...(extension !== undefined ? { extension } : {}),
    ...(from !== undefined ? { from } : {}),
    ...(toDay !== undefined ? { to: toDay + 86_400_000 } : {}),
    ...(outcome !== undefined ? { outcome: outcome as Outcome } : {}),
  };
}

/** A party matches the extension when it is the extension or a URI of it (sip:1001@...). */
function partyIs(party: string | undefined, ext: string): boolean {
  if (party === undefined) return false;
  return party === ext || party.replace(/^sips?:/, '').split('@')[0] === ext;
}

export function filterHistory(records: readonly CallRecordJson[], f: HistoryFilter): CallRecordJson[] {
  return records.filter((r) => {
    const t = ms(r.startedAt);
    if (f.from !== undefined && !(t >= f.from)) return false;
    if (f.to !== undefined && !(t < f.to)) return false;
    if (f.outcome !== undefined && outcomeOf(r) !== f.outcome) return false;
    if (f.extension !== undefined && ![r.caller, r.callee, r.legs?.a?.party, r.legs?.b?.party].some((p) => partyIs(p, f.extension!))) return false;
    return true;
  });
}

/** One CSV field (RFC 4180); a leading = + - @ is quoted away so a spreadsheet never runs it as a formula. */
function csvField(v: string): string {
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

const iso = (v: string | number | undefined): string => {
  const t = ms(v);
  return Number.isNaN(t) ? '' : new Date(t).toISOString();
};

export const CSV_HEADER = ['id', 'started', 'answered', 'ended', 'caller', 'callee', 'duration_s', 'outcome', 'end_reason', 'media', 'caller_leg', 'callee_leg'] as const;

export function historyCsv(records: readonly CallRecordJson[]): string {
  const rows = records.map((r) => {
    const dur = r.answeredAt !== undefined ? Math.max(0, Math.round((ms(r.endedAt) - ms(r.answeredAt)) / 1000)) : 0;
    return [
      r.id, iso(r.startedAt), iso(r.answeredAt), iso(r.endedAt), r.caller, r.callee, String(dur), outcomeOf(r), r.endReason ?? '',
      r.mode ?? '', r.legs?.a ? describeLeg(r.legs.a) : '', r.legs?.b ? describeLeg(r.legs.b) : '',
    ].map((x) => csvField(String(x))).join(',');
  });
  return `${[CSV_HEADER.join(','), ...rows].join('\r\n')}\r\n`;
}
