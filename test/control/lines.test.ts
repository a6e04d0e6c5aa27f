import fc from 'fast-check';
import t from 'tap';
import { LineReader } from '../../firmware/control/index.js';

/** Feeds `bytes` to a reader in the given chunk sizes; all lines out, and whether it refused. */
function feed(max: number, bytes: Buffer, cuts: number[]): { lines: string[]; tooLong: boolean; after: string[] } {
  const r = new LineReader(max);
  const lines: string[] = [];
  let tooLong = false;
  const after: string[] = [];
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    const end = Math.min(bytes.length, Math.max(at, c));
    const out = r.push(bytes.subarray(at, end));
    (tooLong ? after : lines).push(...out.lines);
    tooLong ||= out.tooLong;
    at = end;
  }
  return { lines, tooLong, after };
}

/** What the lines are, read the obvious way: split on newlines, the tail without one unfinished. */
function model(max: number, text: string): { lines: string[]; tooLong: boolean } {
  const parts = text.split('\n');
  const tail = parts.pop() ?? '';
  const lines: string[] = [];
  for (const p of parts) {
    if (Buffer.byteLength(p) > max) return { lines, tooLong: true };
    lines.push(p);
  }
  return { lines, tooLong: Buffer.byteLength(tail) > max };
}

t.test('lines come out whole whatever the chunking, a multi-byte character split across chunks included', async (t) => {
  const text = '{"a":"é€𝄞"}\n{"b":1}\n';
  const bytes = Buffer.from(text);
  for (let i = 0; i <= bytes.length; i++) {
    t.same(feed(100, bytes, [i]), { lines: ['{"a":"é€𝄞"}', '{"b":1}'], tooLong: false, after: [] }, `cut at ${i}`);
  }
});

t.test('a line of exactly max bytes passes; max + 1 is refused, with or without its newline yet; nothing after', async (t) => {
  t.same(feed(5, Buffer.from('12345\n'), []), { lines: ['12345'], tooLong: false, after: [] });
  t.same(feed(5, Buffer.from('ok\n123456\nlater\n'), []), { lines: ['ok'], tooLong: true, after: [] });
  t.same(feed(5, Buffer.from('123456'), [1, 2, 3]), { lines: [], tooLong: true, after: [] }, 'no newline needed to refuse');
  t.same(feed(5, Buffer.from('12345'), [2]), { lines: [], tooLong: false, after: [] }, 'max bytes still waiting for its newline');
});

t.test('property: the reader agrees with splitting on newlines, for any bytes and any chunking', async (t) => {
  const text = fc.array(fc.oneof(fc.string({ maxLength: 12 }), fc.constant('\n'), fc.string({ unit: 'grapheme', maxLength: 4 })), { maxLength: 30 }).map((a) => a.join(''));
  fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), text, fc.array(fc.nat({ max: 400 }), { maxLength: 12 }), (max, s, cuts) => {
    const got = feed(max, Buffer.from(s), [...cuts].sort((a, b) => a - b));
    const want = model(max, s);
    return JSON.stringify({ lines: got.lines, tooLong: got.tooLong }) === JSON.stringify(want) && got.after.length === 0;
  }), { numRuns: 3000 });
  t.pass('3000 runs');
});
