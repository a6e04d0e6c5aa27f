// Reads a TAP log and prints every failed assertion with the subtests it sits in
// and its diagnostics, so the end of a long CI log names what failed.
import { readFileSync } from 'node:fs';

const lines = readFileSync(process.argv[2] ?? '/dev/stdin', 'utf8').split('\n');
const names = []; // names[depth] = subtest title at that indent
const indentOf = (line) => (line.match(/^ */)?.[0].length ?? 0) / 4;
let printed = 0;
for (let i = 0; i < lines.length; i++) {
  const line = lines[i];
  const sub = line.match(/^( *)# Subtest: (.*)$/);
  if (sub) {
    const depth = sub[1].length / 4;
    names.length = depth;
    names[depth] = sub[2];
    continue;
  }
  const bad = line.match(/^( *)not ok \d+ - (.*)$/);
  if (!bad) continue;
  const depth = bad[1].length / 4;
  // Only leaf failures: a failed subtest's own "not ok" line repeats its children's.
  const title = bad[2].replace(/ # time=.*$/, '');
  if (names[depth] === title) continue;
  printed++;
  console.log(`\n=== FAILED: ${[...names.slice(0, depth), bad[2]].filter(Boolean).join(' > ')}`);
  for (let j = i + 1; j < lines.length && j < i + 60; j++) {
    console.log(lines[j]);
    if (/^\s*\.\.\.\s*$/.test(lines[j])) break;
    if (indentOf(lines[j]) < depth) break;
  }
}
console.log(printed === 0 ? '\n(no failed assertion found in the log; look for a crash or a timeout above)' : `\n${printed} failed assertion(s) listed above`);
