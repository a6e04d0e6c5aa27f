import { PbxError } from '../core/index.js';

export const MAX_CSV_BYTES = 1024 * 1024;
export const MAX_CSV_FIELDS = 16;

export interface CsvRecord {
  /** 1-based line on which the record starts. */
  readonly line: number;
  readonly fields: readonly string[];
}

/**
 * Comma-separated values as RFC 4180 section 2 describes them: fields may be
 * quoted with '"', a quote inside a quoted field is written twice, and quoted
 * fields may hold commas and line breaks. Lines end in CRLF, LF or CR. Blank
 * lines are skipped. A stray quote is an error with its line number.
 */
export function parseCsv(text: string): CsvRecord[] {
  if (text.length > MAX_CSV_BYTES) throw new PbxError('limit', `CSV is larger than ${MAX_CSV_BYTES} bytes`);
  const s = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const n = s.length;
  const records: CsvRecord[] = [];
  let i = 0;
  let line = 1;
  const endOfField = (c: string | undefined): boolean => c === undefined || c === ',' || c === '\n' || c === '\r';

  while (i < n) {
    const start = line;
    const fields: string[] = [];
    for (;;) {
      let field = '';
      if (s[i] === '"') {
        i++;
        for (;;) {
          if (i >= n) throw new PbxError('parse', `line ${start}: unterminated quoted field`);
          const c = s[i] as string;
          if (c === '"') {
            if (s[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\n') line++;
          field += c;
          i++;
        }
        if (!endOfField(s[i])) throw new PbxError('parse', `line ${line}: unexpected character after a closing quote`);
      } else {
        while (!endOfField(s[i])) {
          if (s[i] === '"') throw new PbxError('parse', `line ${line}: quote inside an unquoted field`);
          field += s[i];
          i++;
        }
      }
      fields.push(field);
      if (fields.length > MAX_CSV_FIELDS) throw new PbxError('limit', `line ${start}: more than ${MAX_CSV_FIELDS} fields`);
      if (s[i] === ',') {
        i++;
        continue;
      }
      if (s[i] === '\r') i++;
      if (s[i] === '\n') i++;
      line++;
      break;
    }
    if (!(fields.length === 1 && fields[0] === '')) records.push({ line: start, fields });
  }
  return records;
}
