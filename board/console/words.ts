/**
 * A console line split into words as a shell would: blanks separate,
 * "double" and 'single' quotes keep blanks, a backslash escapes the next
 * character outside single quotes. No expansion of any kind.
 */
export type Words = { ok: true; words: string[] } | { ok: false; error: string };

export function splitWords(line: string): Words {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += c;
    } else if (c === '"' || c === "'") { quote = c; inWord = true; }
    else if (c === '\\') {
      if (i + 1 >= line.length) return { ok: false, error: 'a backslash at the end of the line' };
      cur += line[++i]; inWord = true;
    } else if (c === ' ' || c === '\t') {
      if (inWord) { words.push(cur); cur = ''; inWord = false; }
    } else { cur += c; inWord = true; }
  }
  if (quote) return { ok: false, error: `unterminated ${quote} quote` };
  if (inWord) words.push(cur);
  return { ok: true, words };
}
