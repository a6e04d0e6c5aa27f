import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, startCapture, tsharkFields, waitFor } from './harness.js';
import { pbxOk, startBox } from './box.js';
import { dominantFrequency, parseWav, rms } from './audio.js';
import {
  MIN_TONE_RMS, TONE_TOLERANCE_HZ, boxStatus, entropy, established, newWavs, none, sleep, startPhone, stopPhone, waitState, wavsNow,
  type PhoneSpec, type RunningPhone,
} from './call-harness.js';

/*
 * Voicemail and the mailbox (issue 15) with real baresip phones, both SDES
 * (srtp-mand) over TLS:
 *   C 1001 calls and sends 700 Hz (its message);
 *   V 1002 never answers (answermode manual), subscribes to message-summary
 *          (baresip's mwi module), and later dials *97 with the PIN by RFC 4733.
 * The box's default greeting is three 480 Hz pips, then a 1000 Hz beep.
 */

const C: PhoneSpec = { ext: '1001', pass: 'caller-secret', sip: 36000, ctrl: 36100, rtp: '34000-34099', tone: 700 };
const V: PhoneSpec = { ext: '1002', pass: 'callee-secret', sip: 36010, ctrl: 36110, rtp: '34100-34199', tone: 1300 };
const BOX_RTP = { min: 44000, max: 44999 };
const PIN = '2468';
const GREETING_HZ = 480;
const BEEP_HZ = 1000;

const inRange = (p: number, r: string): boolean => { const [lo, hi] = r.split('-').map(Number); return p >= lo! && p <= hi!; };
const inBox = (p: number): boolean => p >= BOX_RTP.min && p <= BOX_RTP.max;


/** Dominant frequency of each 0.25 s window of a recording (0 for silence). */
function windows(file: string): number[] {
  const pcm = parseWav(readFileSync(file));
  const step = Math.round(pcm.sampleRate / 4);
  const out: number[] = [];
  for (let i = 0; i + step <= pcm.samples.length; i += step) {
    const s = pcm.samples.subarray(i, i + step);
    out.push(rms(s) < MIN_TONE_RMS / 2 ? 0 : dominantFrequency(s, pcm.sampleRate).frequency);
  }
  return out;
}
const near = (hz: number, want: number): boolean => Math.abs(hz - want) <= TONE_TOLERANCE_HZ;
const firstAt = (w: number[], hz: number): number => w.findIndex((x) => near(x, hz));
const countOf = (w: number[], hz: number): number => w.filter((x) => near(x, hz)).length;

if (!reexecInNetns()) {
  const missing = ['baresip', 'sox', 'tshark'].filter((c) => !have(c));
  if (missing.length) t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  else await main();
}

async function main(): Promise<void> {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'pbx-vm-'));
  const data = join(work, 'data');
  const cli = pbxOk(data);
  for (const p of [C, V]) cli('account', 'add', p.ext, '--password', p.pass);
  cli('account', 'set', V.ext, '--voicemail', 'on', '--pin', PIN, '--noanswer-sec', '5');

  const { proc: box, info } = await startBox(data, 300, ['--rtp-ports', `${BOX_RTP.min}-${BOX_RTP.max}`]);
  t.teardown(() => box.stop());
  const tls = (p: PhoneSpec): string => `<sip:${p.ext}@127.0.0.1:${info.ports.sipTls};transport=tls>`;
  const phones: RunningPhone[] = [];
  t.teardown(async () => { for (const p of phones) await stopPhone(p); });
  const sdes = { accountParams: ';mediaenc=srtp-mand', preAccountModules: ['srtp.so'], timeoutSec: 240 } as const;
  const [c, v] = await Promise.all([
    startPhone(work, C, { account: tls(C), answermode: 'auto', ...sdes }),
    startPhone(work, V, { account: tls(V), answermode: 'manual', ...sdes, extraModules: ['mwi.so'] }),
  ]);
  phones.push(c, v);
  await waitFor('both phones to register', () => {
    const regs = (JSON.parse(cli('status', '--json')) as { registrations: Array<{ extension: string }> }).registrations;
    return [C, V].every((x) => regs.some((g) => g.extension === x.ext));
  }, 15_000);
  const dialTls = (ext: string): string => `sip:${ext}@127.0.0.1:${info.ports.sipTls};transport=tls`;
  const pcap = join(work, 'vm.pcap');
  const capture = await startCapture(pcap, `udp and (portrange 34000-34199 or portrange ${BOX_RTP.min}-${BOX_RTP.max})`, join(work, 'tshark.log'));
  let captured = false;
  const stopCapture = async (): Promise<void> => { if (!captured) { captured = true; await capture.stop(); } };
  t.teardown(stopCapture);

  await t.test('an unanswered SDES call reaches voicemail: greeting, beep, 3 s of 700 Hz recorded; the callee gets a message-waiting NOTIFY', async (tt) => {
    const before = wavsNow(c.dir);
    tt.ok((await c.ctrl.dial(dialTls(V.ext))).ok, '1001 dials 1002');
    // 1002 rings for its 5 s no-answer time, then the box answers as voicemail.
    await waitState(c.ctrl, '1001 established with voicemail', established, 15_000);
    const t0 = Date.now();
    const view = ((boxStatus(data).calls ?? []) as Array<{ callee: string; legs: { a: { protection: string } }; notes?: string[] }>)[0];
    tt.match(view, { callee: V.ext, legs: { a: { protection: 'sdes' } } }, 'pbx status: the box answered 1001 for 1002, the leg is SDES');
    tt.match(view?.notes ?? [], [/voicemail for 1002/]);
    // Greeting (about 2 s) and beep (0.6 s), then the message: 3 s of 1001's 700 Hz.
    await sleep(2700 + 3500 - (Date.now() - t0));
    tt.ok((await c.ctrl.hangup()).ok, '1001 hangs up');
    await waitState(c.ctrl, '1001 idle', none);
    const [heard] = newWavs(c.dir, before, 'dec');
    tt.ok(heard, '1001 recorded what it heard');
    if (heard) {
      const w = windows(heard);
      tt.comment(`1001 heard (0.25 s windows): ${w.map((x) => x.toFixed(0)).join(' ')}`);
      const g = firstAt(w, GREETING_HZ);
      const b = firstAt(w, BEEP_HZ);
      tt.ok(g >= 0 && countOf(w, GREETING_HZ) >= 3, `1001 hears the greeting at ${GREETING_HZ} Hz (${countOf(w, GREETING_HZ)} windows)`);
      tt.ok(b > g, `then the beep at ${BEEP_HZ} Hz (window ${b} after ${g})`);
    }
    const list = await waitFor('the message to be listed', () => {
      const l = JSON.parse(cli('voicemail', 'list', V.ext, '--json')) as Array<{ caller: string; durationMs: number; isNew: boolean }>;
      return l.length > 0 ? l : undefined;
    }, 10_000, 200);
    tt.equal(list.length, 1, 'pbx voicemail list 1002: one message');
    tt.match(list[0], { caller: C.ext, isNew: true }, 'from 1001, new');
    tt.ok(list[0]!.durationMs >= 2500 && list[0]!.durationMs <= 6000, `about 3 s long (${list[0]!.durationMs} ms)`);
    // baresip's mwi module subscribes over UDP to its AOR's port (the box's TLS port here), which never answers;
    // so it is the box's unsolicited NOTIFY, on the phone's TLS connection, that reaches the phone.
    const notify = await waitFor('1002 to get a message-waiting NOTIFY', () => {
      const log = readFileSync(join(v.dir, 'baresip.log'), 'latin1');
      const m = /NOTIFY sip:1002[^\n]*transport=tls[\s\S]*?Event: message-summary[\s\S]*?Messages-Waiting: yes\s+Message-Account: \S+\s+Voice-Message: 1\/0/.exec(log);
      return m ? m[0] : undefined;
    }, 10_000, 200).catch(() => undefined);
    tt.ok(notify, '1002 received a message-summary NOTIFY over its TLS connection: Messages-Waiting: yes, Voice-Message: 1/0');
    tt.ok((boxStatus(data).counters?.['mwi.unsolicited'] ?? 0) >= 1, 'the box counted the unsolicited NOTIFY');
  });

  await t.test('1002 dials *97, enters the PIN by RFC 4733 DTMF and hears the 700 Hz message', async (tt) => {
    const before = wavsNow(v.dir);
    tt.ok((await v.ctrl.dial(dialTls('*97'))).ok, '1002 dials *97');
    await waitState(v.ctrl, '1002 established with its mailbox', established, 10_000);
    await sleep(1200);
    tt.ok((await v.ctrl.command('sndcode', `${PIN}#`)).ok, `1002 sends ${PIN}# as telephone-events`);
    // The count (one pip), then the message (3 s).
    await sleep(5500);
    tt.ok((await v.ctrl.hangup()).ok, '1002 hangs up');
    await waitState(v.ctrl, '1002 idle', none);
    const [heard] = newWavs(v.dir, before, 'dec');
    tt.ok(heard, '1002 recorded what it heard');
    if (heard) {
      const w = windows(heard);
      tt.comment(`1002 heard (0.25 s windows): ${w.map((x) => x.toFixed(0)).join(' ')}`);
      tt.ok(countOf(w, C.tone) >= 8, `1002 hears 1001's 700 Hz message back (${countOf(w, C.tone)} windows of 0.25 s)`);
    }
    const counters = boxStatus(data).counters ?? {};
    tt.ok((counters['voicemail.pin-ok'] ?? 0) >= 1, 'the box counted a right PIN');
    tt.ok((counters['dtmf.rtp'] ?? 0) >= 5, `the PIN came as RFC 4733 events (${counters['dtmf.rtp']})`);
  });

  await t.test('tshark: every packet between the box and the phones is SRTP', async (tt) => {
    await stopCapture();
    const pkts = tsharkFields(pcap, 'udp', ['udp.srcport', 'udp.dstport', 'udp.payload']).flatMap((l) => {
      const [src, dst, hex] = l.split('\t');
      const b = Buffer.from((hex ?? '').replace(/:/g, ''), 'hex');
      const toPhone = inBox(Number(src)) && (inRange(Number(dst), C.rtp) || inRange(Number(dst), V.rtp));
      const fromPhone = inBox(Number(dst)) && (inRange(Number(src), C.rtp) || inRange(Number(src), V.rtp));
      return (toPhone || fromPhone) && b.length >= 12 && b[0]! >> 6 === 2 && b[1]! < 128 + 72 ? [{ b, toPhone }] : [];
    });
    const audio = pkts.filter((p) => (p.b[1]! & 0x7f) === 0);
    tt.ok(audio.filter((p) => p.toPhone).length > 200, `the box sent the phones ${audio.filter((p) => p.toPhone).length} audio packets (prompts, the message)`);
    tt.ok(audio.filter((p) => !p.toPhone).length > 200, `the phones sent the box ${audio.filter((p) => !p.toPhone).length}`);
    tt.same([...new Set(audio.map((p) => p.b.length))], [182], 'every audio packet is 172 bytes + a 10-byte tag: SRTP');
    const h = entropy(audio.map((p) => p.b.subarray(12, p.b.length - 10)));
    tt.ok(h > 7.5, `payloads are ciphertext (${h.toFixed(2)} bits per byte; a G.711 tone is about 4)`);
  });

  await t.test('three wrong PINs end the call, and the mailbox then refuses further tries', async (tt) => {
    tt.ok((await v.ctrl.dial(dialTls('*97'))).ok, '1002 dials *97');
    await waitState(v.ctrl, '1002 established with its mailbox', established, 10_000);
    await sleep(1200);
    for (let i = 0; i < 3; i++) {
      tt.ok((await v.ctrl.command('sndcode', '1111#')).ok, `wrong PIN ${i + 1}`);
      await sleep(2200);
    }
    await waitState(v.ctrl, 'the box to end the call', none, 8_000);
    tt.pass('the box hung up after the third wrong PIN');
    tt.ok((await v.ctrl.dial(dialTls('*97'))).ok, '1002 dials *97 again');
    await sleep(1500);
    tt.ok(none(await (await import('./call-harness.js')).calls(v.ctrl)), 'the call does not get through');
    const counters = boxStatus(data).counters ?? {};
    tt.equal(counters['voicemail.pin-lockout'], 1, 'one lockout');
    tt.ok((counters['voicemail.pin-locked'] ?? 0) >= 1, 'the next try was refused while locked');
  });

  t.comment(`voicemail interop took ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
