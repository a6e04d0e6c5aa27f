import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import fc from 'fast-check';
import { DurableJsonFile } from '../../firmware/config/index.js';
import { jsonErrorOffset, parseJsonText } from '../../firmware/config/durable-file.js';
import { listDir, tempDir } from './fixtures/helpers.js';

t.test('syntax errors carry line, column and offset (RFC 8259 grammar)', async (t) => {
  const cases: Array<[string, number, string]> = [
    ['{\n  "a": [,]\n}', 10, 'line 2 column 9'],
    ['[1,2,]', 5, 'line 1 column 6'],
    ['{"a" 1}', 5, 'line 1 column 6'],
    ['{"a":"x\ny"}', 7, 'line 1 column 8'],
    ['[1] x', 4, 'line 1 column 5'],
    ['[01]', 2, 'line 1 column 3'],
    ['{"a":1', 6, "line 1 column 7: Expected ',' or '}' after property value$"],
    ['tru', 3, 'line 1 column 4: unexpected end of file'],
    ['["0123456789abcdef",]', 20, 'line 1 column 21: unexpected "]"$'],
    ['\uFEFF{"a":}', 5, 'line 1 column 6'],
  ];
  for (const [text, offset, where] of cases) {
    t.throws(() => parseJsonText(text), { code: 'parse', offset, message: new RegExp(where) }, JSON.stringify(text));
  }
  t.throws(() => parseJsonText('{"ha1":["0123456789abcdef",]}'), { message: /^(?!.*abcdef)/ }, 'file content is not quoted');
  t.throws(() => parseJsonText('  \n'), { code: 'parse', message: /empty/ });
  t.same(parseJsonText('\uFEFF{"a":[1,"x",null]}'), { a: [1, 'x', null] }, 'a byte order mark is tolerated');
});

t.test('property: the located offset agrees with V8 where V8 reports one', async () => {
  fc.assert(
    fc.property(fc.json(), fc.nat(), fc.constantFrom(',', ']', '}', ':', 'x', '"'), (json, at, junk) => {
      const pos = at % (json.length + 1);
      const text = json.slice(0, pos) + junk + json.slice(pos);
      let v8: number | null = null;
      try {
        JSON.parse(text);
        return true;
      } catch (e) {
        const m = /at position (\d+)/.exec(String(e));
        v8 = m ? Number(m[1]) : null;
      }
      return v8 === null || v8 === jsonErrorOffset(text);
    }),
  );
});

t.test('DurableJsonFile writes 0600 via a temp file and reads back through decode', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'x.json');
  const f = new DurableJsonFile<{ n: number }>(path, (raw) => raw as { n: number });
  t.equal(await f.read(), null, 'missing file reads as null');
  await writeFile(path, 'old', { mode: 0o644 });
  await f.write({ n: 1 });
  t.equal((await stat(path)).mode & 0o777, 0o600);
  t.equal(await readFile(path, 'utf8'), '{\n  "n": 1\n}\n');
  t.same(await f.read(), { n: 1 });
  t.same(await listDir(dir), ['x.json']);
});
