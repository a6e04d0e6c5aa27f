import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CallRecordJson } from '../api/index.js';
import type { Logger } from '../core/index.js';
import type { LegView } from './views.js';

/** One line per call in DATA/calls.jsonl. */
export interface CallRecord {
  readonly id: string;
  readonly caller: string;
  readonly callee: string;
  readonly startedAt: number;
  readonly answeredAt?: number;
  readonly endedAt: number;
  readonly endReason: string;
  readonly legs: { readonly a: LegView; readonly b?: LegView };
  readonly mode: 'relay' | 'bridge';
  /** What the call's features did (held, recalled, transferred, parked), as the views said it. */
  readonly notes?: readonly string[];
}

export interface CallRecords {
  write(record: CallRecord): void;
}

export const CALLS_FILE = 'calls.jsonl';

/** Appends each record as one JSON line; a failed write is logged, never thrown into call control. */
export function fileCallRecords(dataDir: string, log: Logger): CallRecords {
  const path = join(dataDir, CALLS_FILE);
  return {
    write(record) {
      try {
        // The history page reads these lines back as they are: the API's shape.
        const line: CallRecordJson = {
          ...record,
          startedAt: new Date(record.startedAt).toISOString(),
          ...(record.answeredAt !== undefined ? { answeredAt: new Date(record.answeredAt).toISOString() } : {}),
          endedAt: new Date(record.endedAt).toISOString(),
        };
        appendFileSync(path, `${JSON.stringify(line)}\n`, { mode: 0o600 });
      } catch (e) {
        log.error({ path, err: (e as Error).message }, 'cannot write the call record');
      }
    },
  };
}
