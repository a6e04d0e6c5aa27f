import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import fc from 'fast-check';
import { DurableJsonFile } from '../../firmware/config/index.js';
import { MAX_TEMP_ATTEMPTS, parseTempName, writeFileAtomic, writeFileAtomicSync } from '../../firmware/core/index.js';
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

// The atomic write DurableJsonFile, the PKI store and the registrations file share (firmware/core/fs.ts).
const writers = [
  ['writeFileAtomic', (p: string, d: string, m: number) => writeFileAtomic(p, d, m)],
  ['writeFileAtomicSync', async (p: string, d: string, m: number) => writeFileAtomicSync(p, d, m)],
] as const;

for (const [name, write] of writers) {
  t.test(`${name}: the final mode is exact whatever the umask`, async (t) => {
    const dir = await tempDir(t);
    const old = process.umask(0o777);
    try {
      await write(join(dir, 'key'), 'secret', 0o600);
      await write(join(dir, 'cert'), 'public', 0o644);
    } finally {
      process.umask(old);
    }
    t.equal((await stat(join(dir, 'key'))).mode & 0o777, 0o600);
    t.equal((await stat(join(dir, 'cert'))).mode & 0o777, 0o644);
    t.equal(await readFile(join(dir, 'cert'), 'utf8'), 'public');
    t.same(await listDir(dir), ['cert', 'key'], 'no temp file left');
  });

  t.test(`${name}: a failed rename removes the temp file and keeps the target`, async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'busy');
    await mkdir(target);
    await writeFile(join(target, 'inside'), 'kept');
    await t.rejects(write(target, 'new', 0o600), { code: 'EISDIR' });
    t.same(await listDir(dir), ['busy']);
    t.equal(await readFile(join(target, 'inside'), 'utf8'), 'kept');
  });

  t.test(`${name}: a leftover temp file is never reused (O_EXCL), another name is tried`, async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'f.json');
    // Names a dead writer with our pid could have left: every number but the
    // multiples of 8, so any run of MAX_TEMP_ATTEMPTS names holds a free one.
    const stale: string[] = [];
    for (let n = 1; n <= 4000; n++) {
      if (n % 8 === 0) continue;
      const f = `${target}.tmp-${process.pid}-${n}`;
      stale.push(f);
      await writeFile(f, 'stale');
    }
    t.ok(MAX_TEMP_ATTEMPTS >= 16);
    await write(target, 'fresh', 0o600);
    t.equal(await readFile(target, 'utf8'), 'fresh');
    const left = (await listDir(dir)).filter((f) => f !== 'f.json');
    t.equal(left.length, stale.length, 'the leftovers are untouched and no new temp remains');
    t.equal(await readFile(stale[0] ?? '', 'utf8'), 'stale');
    t.same(parseTempName(left[0] ?? ''), { target: 'f.json', pid: process.pid }, 'temp names say whose they are');
  });
}
