import t from 'tap';
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, startCapture, tsharkFields, waitFor } from './harness.js';
import { pbxOk, startBox } from './box.js';
import { parseWav } from './audio.js';
import {
  assertStretch, assertTwoWay, boxStatus, entropy, established, newWavs, none, sleep, startPhone, stopPhone, waitState, wavsNow,
  type PhoneSpec, type RunningPhone,
} from './call-harness.js';

/*
 * Call features with real baresip phones, audio checked by its dominant
 * frequency in each stretch of the call:
 *   P 1001: plain RTP over UDP, sends 1000 Hz;
 *   S 1002: SDES (srtp-mand) over TLS, sends 600 Hz;
 *   Q 1003: plain RTP over UDP, sends 1400 Hz.
 * The box's music on hold is set to a 400 Hz tone (pbx moh set).
 *
 * Hold: P calls S (bridged: the box keys S's leg). P holds: S hears the
 * music, and tshark shows it reaching S as SRTP (172 + 10 bytes, ciphertext
 * entropy); P resumes: S hears P again.
 * Blind transfer: P calls S, S transfers P to Q: P and Q hear each other, S's
 * call is gone, and the box's view has P and Q.
 * Park: P calls S, S transfers P to 700: P waits in 701 with the music; Q
 * dials 701: P and Q hear each other.
 * After each step the one-way-audio guard (assertTwoWay) checks the box's own
 * packet counts: every leg it forwards carries audio both ways for 3 s.
 */

const P: PhoneSpec = { ext: '1001', pass: 'plain-secret', sip: 35000, ctrl: 35100, rtp: '33000-33099', tone: 1000 };
const S: PhoneSpec = { ext: '1002', pass: 'sdes-secret', sip: 35010, ctrl: 35110, rtp: '33100-33199', tone: 600 };
const Q: PhoneSpec = { ext: '1003', pass: 'third-secret', sip: 35020, ctrl: 35120, rtp: '33200-33299', tone: 1400 };
const BOX_RTP = { min: 43000, max: 43999 };
const MUSIC_HZ = 400;
/** Each stretch of a call lasts this long; its first and last STRETCH_MARGIN_S are left out of the analysis. */
const STRETCH_MS = 3000;

interface Leg { party: string; protection: string; held?: boolean; music?: boolean }
interface View { mode: string; legs: { a: Leg; b?: Leg }; notes?: string[] }

const inRange = (p: number, r: string): boolean => { const [lo, hi] = r.split('-').map(Number); return p >= lo! && p <= hi!; };
const inBox = (p: number): boolean => p >= BOX_RTP.min && p <= BOX_RTP.max;

if (!reexecInNetns()) {
  const missing = ['baresip', 'sox', 'tshark'].filter((c) => !have(c));
  if (missing.length) t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  else await main();
}




async function main(): Promise<void> {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'pbx-feat-'));
  const data = join(work, 'data');
  const cli = pbxOk(data);
  for (const p of [P, S, Q]) cli('account', 'add', p.ext, '--password', p.pass);
  const music = join(work, 'music.wav');
  // A 44.1 kHz stereo file, as an admin would upload it: the box converts it once.
  const r = spawnSync('sox', ['-n', '-r', '44100', '-c', '2', '-b', '16', music, 'synth', '20', 'sine', String(MUSIC_HZ)], { timeout: 20_000 });
  if (r.status !== 0) throw new Error(`sox: ${r.stderr.toString()}`);
  t.match(cli('moh', 'set', music), /music on hold set: 20\.0 s/, 'pbx moh set converts the upload');

  const { proc: box, info } = await startBox(data, 200, ['--rtp-ports', `${BOX_RTP.min}-${BOX_RTP.max}`]);
  t.teardown(() => box.stop());
  const udp = (p: PhoneSpec): string => `<sip:${p.ext}@127.0.0.1:${info.ports.sipUdp}>`;
  const tls = (p: PhoneSpec): string => `<sip:${p.ext}@127.0.0.1:${info.ports.sipTls};transport=tls>`;
  const phones: RunningPhone[] = [];
  t.teardown(async () => { for (const p of phones) await stopPhone(p); });
  const [p, s, q] = await Promise.all([
    startPhone(work, P, { account: udp(P), answermode: 'auto', timeoutSec: 150 }),
    startPhone(work, S, { account: tls(S), answermode: 'auto', accountParams: ';mediaenc=srtp-mand', preAccountModules: ['srtp.so'], timeoutSec: 150 }),
    startPhone(work, Q, { account: udp(Q), answermode: 'auto', timeoutSec: 150 }),
  ]);
  phones.push(p, s, q);
  await waitFor('all three phones to register', () => {
    const regs = (JSON.parse(cli('status', '--json')) as { registrations: Array<{ extension: string }> }).registrations;
    return [P, S, Q].every((x) => regs.some((g) => g.extension === x.ext));
  }, 15_000);
  const view = (): View | undefined => ((boxStatus(data).calls ?? []) as View[])[0];

  await t.test('hold with music on a bridged SDES<->plain call: the SDES phone hears the music as SRTP, and the caller again after the resume', async (tt) => {
    const [bp, bs] = [wavsNow(p.dir), wavsNow(s.dir)];
    const pcap = join(work, 'hold.pcap');
    const capture = await startCapture(pcap, `udp and (portrange 33000-33299 or portrange ${BOX_RTP.min}-${BOX_RTP.max})`, join(work, 'tshark.log'));
    tt.ok((await p.ctrl.dial(`sip:${S.ext}@127.0.0.1:${info.ports.sipUdp}`)).ok, '1001 dials 1002');
    await waitState(p.ctrl, '1001 established', established);
    await waitState(s.ctrl, '1002 established', established);
    const t0 = Date.now();
    const at = (): number => (Date.now() - t0) / 1000;
    await assertTwoWay(tt, data, 'the call before the hold', { expectLegs: 2 });
    const marks: number[] = [at()];
    tt.ok((await p.ctrl.command('hold')).ok, '1001 holds');
    await waitFor('the box to show the hold', () => view()?.legs.b?.music === true ? true : undefined, 5_000, 100);
    const held = view()!;
    tt.match(held, { mode: 'bridge', legs: { a: { held: true }, b: { protection: 'sdes', music: true } } }, 'pbx status: 1001 holds, 1002 hears music');
    const holdFrom = at();
    await sleep(STRETCH_MS);
    const holdTo = at();
    tt.ok((await p.ctrl.command('resume')).ok, '1001 resumes');
    await waitFor('the box to show the resume', () => view()?.legs.b?.music === undefined ? true : undefined, 5_000, 100);
    marks.push(at());
    await assertTwoWay(tt, data, 'after the resume', { expectLegs: 2 });
    marks.push(at());
    tt.ok((await p.ctrl.hangup()).ok, '1001 hangs up');
    await waitState(p.ctrl, '1001 idle', none);
    await waitState(s.ctrl, '1002 idle', none);
    await capture.stop();

    const [fp] = newWavs(p.dir, bp, 'dec');
    const [fs] = newWavs(s.dir, bs, 'dec');
    tt.ok(fp && fs, 'both phones recorded the call');
    if (!fp || !fs) return;
    // The recordings start when each phone's call started: within a fraction of a second of t0.
    assertStretch(tt, '1002 (SDES) before the hold', fs, 0, marks[0]!, P.tone);
    assertStretch(tt, '1002 (SDES) while held', fs, holdFrom, holdTo, MUSIC_HZ);
    assertStretch(tt, '1002 (SDES) after the resume', fs, marks[1]!, marks[2]!, P.tone);
    // The holder's own recording has no time base across its hold (it receives nothing then), so only its start is checked.
    assertStretch(tt, '1001 (plain) before its own hold', fp, 0, marks[0]!, S.tone);

    // On the wire: everything toward the SDES phone, the music included, is SRTP.
    const toS = tsharkFields(pcap, 'udp', ['udp.srcport', 'udp.dstport', 'udp.payload']).flatMap((l) => {
      const [src, dst, hex] = l.split('\t');
      const b = Buffer.from((hex ?? '').replace(/:/g, ''), 'hex');
      return inBox(Number(src)) && inRange(Number(dst), S.rtp) && b.length >= 12 && b[0]! >> 6 === 2 && (b[1]! & 0x7f) === 0 ? [b] : [];
    });
    tt.ok(toS.length > (3 * STRETCH_MS / 20) * 0.6, `the box sent 1002 ${toS.length} RTP-format packets`);
    tt.same([...new Set(toS.map((b) => b.length))], [182], 'every one 172 + a 10-byte tag: SRTP, music included');
    const payloads = toS.map((b) => b.subarray(12, b.length - 10));
    const h = entropy(payloads);
    tt.ok(h > 7.5, `the payloads toward 1002 are ciphertext (${h.toFixed(2)} bits per byte; a G.711 tone is about 4)`);
    const ssrcs = new Set(toS.map((b) => b.readUInt32BE(8)));
    tt.ok(ssrcs.size >= 2, `the music is its own stream (${ssrcs.size} SSRCs toward 1002), the forwarded one resumes after it`);
  });

  await t.test('blind transfer: 1002 transfers 1001 to 1003; 1001 and 1003 hear each other, 1002 is free', async (tt) => {
    const [bp, bq] = [wavsNow(p.dir), wavsNow(q.dir)];
    tt.ok((await p.ctrl.dial(`sip:${S.ext}@127.0.0.1:${info.ports.sipUdp}`)).ok, '1001 dials 1002');
    await waitState(p.ctrl, '1001 established', established);
    await waitState(s.ctrl, '1002 established', established);
    await sleep(1500);
    const tr = await s.ctrl.command('transfer', `sip:${Q.ext}@127.0.0.1:${info.ports.sipTls};transport=tls`);
    tt.ok(tr.ok, `1002 transfers to 1003 (${tr.data.trim()})`);
    await waitState(q.ctrl, '1003 established', established);
    await waitState(s.ctrl, '1002 call gone', none, 10_000);
    const v = await waitFor('the box to join 1001 and 1003', () => {
      const x = view();
      return x?.legs.b?.party === Q.ext ? x : undefined;
    }, 5_000, 100);
    tt.match(v, { legs: { a: { party: P.ext }, b: { party: Q.ext } } }, 'pbx status: the call joins 1001 and 1003');
    tt.match(v.notes ?? [], [/transferred by 1002 to 1003/]);
    const t0 = Date.now();
    await assertTwoWay(tt, data, 'after the blind transfer', { expectLegs: 2 });
    const span = (Date.now() - t0) / 1000;
    tt.ok((await p.ctrl.hangup()).ok, '1001 hangs up');
    await waitState(p.ctrl, '1001 idle', none);
    await waitState(q.ctrl, '1003 idle', none);
    const [fp] = newWavs(p.dir, bp, 'dec');
    const [fq] = newWavs(q.dir, bq, 'dec');
    tt.ok(fp && fq, 'the transferee and the target recorded the call');
    if (!fp || !fq) return;
    // The transferee's recording is the whole call (1002, then 1003): its last stretch is 1003.
    const pcmP = parseWav(readFileSync(fp));
    const endP = pcmP.samples.length / pcmP.sampleRate;
    assertStretch(tt, '1001 after the transfer', fp, endP - span, endP, Q.tone);
    const pcmQ = parseWav(readFileSync(fq));
    assertStretch(tt, '1003', fq, 0, pcmQ.samples.length / pcmQ.sampleRate, P.tone);
    tt.equal(boxStatus(data).calls?.length ?? 0, 0, 'no call left on the box');
  });

  await t.test('park and retrieve: 1002 parks 1001 by a blind transfer to 700 (1001 hears the music), 1003 dials 701 and the two hear each other', async (tt) => {
    const [bp, bq] = [wavsNow(p.dir), wavsNow(q.dir)];
    tt.ok((await p.ctrl.dial(`sip:${S.ext}@127.0.0.1:${info.ports.sipUdp}`)).ok, '1001 dials 1002');
    await waitState(p.ctrl, '1001 established', established);
    await waitState(s.ctrl, '1002 established', established);
    await sleep(1500);
    const tr = await s.ctrl.command('transfer', `sip:700@127.0.0.1:${info.ports.sipTls};transport=tls`);
    tt.ok(tr.ok, `1002 transfers to the park number (${tr.data.trim()})`);
    await waitState(s.ctrl, '1002 call gone', none, 10_000);
    const parkedView = await waitFor('the box to park the call', () => {
      const x = view() as (View & { parked?: string }) | undefined;
      return x?.parked ? x : undefined;
    }, 5_000, 100);
    tt.equal(parkedView.parked, '701', 'pbx status: parked in 701');
    tt.ok(parkedView.legs.a.music, 'the parked party hears music');
    const parkedAt = Date.now();
    await sleep(STRETCH_MS);
    const parkedFor = (Date.now() - parkedAt) / 1000;
    tt.ok((await q.ctrl.dial(`sip:701@127.0.0.1:${info.ports.sipUdp}`)).ok, '1003 dials 701');
    await waitState(q.ctrl, '1003 established', established);
    const v = await waitFor('the box to join 1001 and 1003', () => {
      const x = view() as (View & { parked?: string }) | undefined;
      return x?.legs.b?.party === Q.ext ? x : undefined;
    }, 5_000, 100);
    tt.match(v.notes ?? [], [/parked at 701 by 1002/, /retrieved from 701 by 1003/]);
    const t0 = Date.now();
    await assertTwoWay(tt, data, 'after the retrieve', { expectLegs: 2 });
    const span = (Date.now() - t0) / 1000;
    tt.ok((await p.ctrl.hangup()).ok, '1001 hangs up');
    await waitState(p.ctrl, '1001 idle', none);
    await waitState(q.ctrl, '1003 idle', none);
    const [fp] = newWavs(p.dir, bp, 'dec');
    const [fq] = newWavs(q.dir, bq, 'dec');
    tt.ok(fp && fq, 'the parked party and the retriever recorded the call');
    if (!fp || !fq) return;
    const pcmP = parseWav(readFileSync(fp));
    const endP = pcmP.samples.length / pcmP.sampleRate;
    // 1001's recording: 1002, the music while parked, then 1003.
    assertStretch(tt, '1001 while parked', fp, endP - span - parkedFor - 1, endP - span - 1, MUSIC_HZ);
    assertStretch(tt, '1001 after the retrieve', fp, endP - span, endP, Q.tone);
    const pcmQ = parseWav(readFileSync(fq));
    assertStretch(tt, '1003', fq, 0, pcmQ.samples.length / pcmQ.sampleRate, P.tone);
    tt.equal(boxStatus(data).calls?.length ?? 0, 0, 'no call left on the box');
  });

  t.comment(`features interop took ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
