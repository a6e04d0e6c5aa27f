// The sealed file format: every chunk authenticates with its place and the end flag; a flipped byte,
// a cut, a moved chunk or bytes after the end marker are never taken for a complete file.
import t from 'tap';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { isPbxError } from '../../firmware/core/index.js';
import {
  bufferSource, fileKey, parseHeader, parseRecords, readFrame, sealChunk, serializeHeader, walkFrames,
  FLAG_FINAL, FLAG_RECOVERED, HEADER_LEN, type SealedHeader,
} from '../../firmware/recording/index.js';

const storeKey = randomBytes(32);
const fileId = randomBytes(16);
const header = ((): SealedHeader => { const h = parseHeader(serializeHeader(fileId)); if (!h.ok) throw new Error('header'); return h.header; })();
const key = fileKey(storeKey, fileId);
const chunks = [Buffer.from('meta chunk'), Buffer.from('first audio chunk'), Buffer.from('second audio chunk, a little longer'), Buffer.from('end')];

function file(parts = chunks, finalFlags = FLAG_FINAL): Buffer {
  return Buffer.concat([header.bytes, ...parts.map((p, i) => sealChunk(key, header, i, i === parts.length - 1 ? finalFlags : 0, p))]);
}

/** Walk and open every frame: 'complete' only if the framing ends with the marker and every chunk opens. */
async function verify(buf: Buffer): Promise<{ state: 'complete' | 'incomplete' | 'damaged'; opened: Buffer[] }> {
  const src = bufferSource(buf);
  let framing;
  try { framing = await walkFrames(src); } catch { return { state: 'damaged', opened: [] }; }
  const opened: Buffer[] = [];
  const k = fileKey(storeKey, framing.header.fileId);
  for (const f of framing.frames) {
    try { opened.push(await readFrame(src, k, framing.header, f)); } catch (e) {
      if (!isPbxError(e, 'parse')) throw e;
      return { state: 'damaged', opened };
    }
  }
  if (framing.end.kind === 'broken') return { state: 'damaged', opened };
  return { state: framing.end.kind === 'final' ? 'complete' : 'incomplete', opened };
}

t.test('a sealed file opens chunk by chunk, ends with its marker, and holds no plaintext', async (t) => {
  const f = file();
  const v = await verify(f);
  t.equal(v.state, 'complete');
  t.same(v.opened.map(String), chunks.map(String));
  t.equal(f.indexOf('audio'), -1, 'no plaintext on disk');
  t.equal(f.subarray(0, 4).toString('latin1'), 'PBXR');
  const framing = await walkFrames(bufferSource(f));
  t.same(framing.frames.map((x) => x.flags), [0, 0, 0, FLAG_FINAL]);
});

t.test('every single flipped bit anywhere in the file is detected (mutation, exhaustive)', async (t) => {
  const f = file();
  let missed = 0;
  let wrongPlain = 0;
  for (let i = 0; i < f.length; i++) {
    for (const bit of [0x01, 0x80]) {
      const m = Buffer.from(f);
      m[i]! ^= bit;
      const v = await verify(m);
      if (v.state === 'complete') missed++;
      v.opened.forEach((p, k) => { if (!p.equals(chunks[k]!)) wrongPlain++; });
    }
  }
  t.equal(missed, 0, 'no mutated file passes as complete');
  t.equal(wrongPlain, 0, 'no chunk ever opens to other bytes');
});

t.test('every truncation is incomplete (whole chunks before it still open), never complete', async (t) => {
  const f = file();
  const framing = await walkFrames(bufferSource(f));
  for (let cut = HEADER_LEN; cut < f.length; cut++) {
    const v = await verify(f.subarray(0, cut));
    if (v.state !== 'incomplete') { t.fail(`cut at ${cut}: ${v.state}`); break; }
    const whole = framing.frames.filter((x) => x.offset + 5 + x.length <= cut).length;
    if (v.opened.length !== whole) { t.fail(`cut at ${cut}: ${v.opened.length} chunks, ${whole} whole`); break; }
  }
  const noFinal = file(chunks.slice(0, 3), 0);
  t.equal((await verify(noFinal)).state, 'incomplete', 'a file without its end marker is incomplete');
});

t.test('swapped, dropped or foreign chunks and bytes after the end are detected', async (t) => {
  const f = file();
  const fr = (await walkFrames(bufferSource(f))).frames;
  const slice = (i: number): Buffer => f.subarray(fr[i]!.offset, fr[i]!.offset + 5 + fr[i]!.length);
  const swapped = Buffer.concat([header.bytes, slice(0), slice(2), slice(1), slice(3)]);
  t.equal((await verify(swapped)).state, 'damaged', 'two chunks swapped');
  const dropped = Buffer.concat([header.bytes, slice(0), slice(2), slice(3)]);
  t.equal((await verify(dropped)).state, 'damaged', 'a chunk removed from the middle');
  const otherId = randomBytes(16);
  const h2 = parseHeader(serializeHeader(otherId));
  if (!h2.ok) throw new Error('header');
  const foreign = Buffer.concat([h2.header.bytes, slice(0), slice(1), slice(2), slice(3)]);
  t.equal((await verify(foreign)).state, 'damaged', 'chunks under another file header');
  t.equal((await verify(Buffer.concat([f, Buffer.from([0])]))).state, 'damaged', 'a byte after the end marker');
  // The final flag is authenticated: turning the end marker into a data chunk (or back) fails.
  const m = Buffer.from(f);
  m[fr[3]!.offset + 4] = 0;
  t.equal((await verify(m)).state, 'damaged');
  const rec = Buffer.from(f);
  rec[fr[3]!.offset + 4] = FLAG_FINAL | FLAG_RECOVERED;
  t.equal((await verify(rec)).state, 'damaged', 'a normal end marker relabelled as recovered');
});

t.test('the nonce differs by index and by flags (the recovered marker never reuses a torn chunk nonce)', async (t) => {
  const p = Buffer.alloc(32);
  const a = sealChunk(key, header, 5, 0, p);
  const b = sealChunk(key, header, 5, FLAG_FINAL | FLAG_RECOVERED, p);
  const c = sealChunk(key, header, 6, 0, p);
  t.not(a.subarray(5, 37).toString('hex'), b.subarray(5, 37).toString('hex'));
  t.not(a.subarray(5, 37).toString('hex'), c.subarray(5, 37).toString('hex'));
  t.throws(() => sealChunk(key, header, 1, FLAG_RECOVERED, p), 'RECOVERED without FINAL is refused');
  t.not(fileKey(storeKey, fileId).toString('hex'), fileKey(storeKey, randomBytes(16)).toString('hex'), 'a key per file');
});

t.test('hostile bytes: walkFrames and parseRecords answer with a value or a typed error (property)', async (t) => {
  await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.boolean(), async (bytes, withHeader) => {
    const buf = withHeader ? Buffer.concat([header.bytes, bytes]) : Buffer.from(bytes);
    try { await walkFrames(bufferSource(buf)); } catch (e) { if (!isPbxError(e, 'parse')) return false; }
    try { parseRecords(Buffer.from(bytes)); } catch (e) { if (!isPbxError(e, 'parse')) return false; }
    return true;
  }), { numRuns: 500 });
  t.equal(parseHeader(Buffer.from('PBXR')).ok, false);
  t.same(parseHeader(Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(20)])), { ok: false, reason: 'bad-magic' });
});
