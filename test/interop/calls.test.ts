import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, startCapture, tsharkFields, waitFor, type Proc } from './harness.js';
import { pbx, registrations, startBox } from './box.js';
import { startBaresip } from './clients.js';
import { BaresipCtrl } from './baresip-ctrl.js';
import { analyseTone, parseWav } from './audio.js';
import {
  MIN_TONE_RMS, TONE_TOLERANCE_HZ, boxStatus, calls, records as recordLines, sleep, type BoxStatus, type CallState,
} from './call-harness.js';

/*
 * Call control's "must show": real baresip phones registered to the box call
 * each other through it (RFC 3261 B2BUA: INVITE, CANCEL, BYE on both legs)
 * with media relayed by the box's engine. Each side plays its own tone and
 * records what it hears; the recordings must hold the other side's tone, and
 * tshark must see every RTP packet go to or come from the box's RTP ports.
 * Then CANCEL before answer, BYE from the callee, a callee that declines
 * (486), an unregistered callee (480) and an unknown one (404). After each
 * call the engine must hold no sessions and no ports.
 */

const BOX_RTP = { min: 40000, max: 40999 };
const A = { ext: '1001', pass: 'alice-secret', sip: 32000, ctrl: 32100, rtp: '30000-30099', tone: 1000 };
const B = { ext: '1002', pass: 'bob-secret', sip: 32010, ctrl: 32110, rtp: '30100-30199', tone: 600 };
const C = { ext: '1003', pass: 'carol-secret', sip: 32020, ctrl: 32120, rtp: '30200-30299', tone: 600 };
const UNREGISTERED = { ext: '1004', pass: 'dave-secret' };
const TALK_MS = 4000;
const CREATED = 'media.sessions.created';
const DELETED = 'media.sessions.deleted';

type Phone = typeof A;

interface CallRecordLine { id: string; caller: string; callee: string; answeredAt?: string; endReason: string }

if (!reexecInNetns()) {
  const missing = ['baresip', 'tshark', 'sox'].filter((c) => !have(c));
  if (missing.length) {
    t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  } else {
    await main();
  }
}

function records(data: string): CallRecordLine[] {
  return recordLines<CallRecordLine>(data);
}

interface TracedSip { readonly from: string; readonly to: string; readonly startLine: string; readonly cseqMethod: string }

/** The SIP messages in a baresip trace (-s): `UDP src -> dst` then the message head. */
function sipTrace(log: string): TracedSip[] {
  const out: TracedSip[] = [];
  for (const m of log.matchAll(/UDP (\S+) -> (\S+)\r?\n([^\r\n]+)\r?\n([\s\S]*?)(?:\r?\n){2}/g)) {
    const cseq = /^CSeq:\s*\d+\s+(\S+)/im.exec(m[4]!);
    out.push({ from: m[1]!, to: m[2]!, startLine: m[3]!, cseqMethod: cseq?.[1] ?? '' });
  }
  return out;
}

/** Responses to INVITE the phone got from the box, as status lines. */
function inviteResponsesFrom(log: string, boxPort: number): string[] {
  return sipTrace(log).filter((m) => m.from === `127.0.0.1:${boxPort}` && m.startLine.startsWith('SIP/2.0 ') && m.cseqMethod === 'INVITE')
    .map((m) => m.startLine);
}

/** Methods of the requests the phone got from the box. */
function requestsFrom(log: string, boxPort: number): string[] {
  return sipTrace(log).filter((m) => m.from === `127.0.0.1:${boxPort}` && !m.startLine.startsWith('SIP/2.0 ')).map((m) => m.startLine.split(' ')[0]!);
}

type Asserts = Pick<typeof t, 'same' | 'ok' | 'equal'>;

async function main(): Promise<void> {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'pbx-calls-'));
  const data = join(work, 'data');
  for (const p of [A, B, C, UNREGISTERED]) {
    const r = pbx(data, 'account', 'add', p.ext, '--password', p.pass);
    if (r.status !== 0) throw new Error(`account add ${p.ext}: ${r.stderr}`);
    // Voicemail (on by default) off: these cases are what a caller hears without it.
    const v = pbx(data, 'account', 'set', p.ext, '--voicemail', 'off');
    if (v.status !== 0) throw new Error(`account set ${p.ext}: ${v.stderr}`);
  }
  const toneFile = (hz: number): string => {
    const f = join(work, `tone${hz}.wav`);
    if (!existsSync(f)) {
      const r = spawnSync('sox', ['-n', '-r', '8000', '-c', '1', '-b', '16', f, 'synth', '30', 'sine', String(hz)], { timeout: 20_000 });
      if (r.status !== 0) throw new Error(`sox: ${r.stderr.toString()}`);
    }
    return f;
  };

  const { proc: box, info } = await startBox(data, 300, ['--rtp-ports', `${BOX_RTP.min}-${BOX_RTP.max}`]);
  t.teardown(() => box.stop());
  const boxPort = info.ports.sipUdp;
  t.comment(`box SIP/UDP ${boxPort}, RTP ${BOX_RTP.min}-${BOX_RTP.max}; work dir ${work}`);

  const phones = new Map<Phone, { proc: Proc; ctrl: BaresipCtrl; dir: string }>();
  const startPhone = async (p: Phone, answermode: 'auto' | 'manual'): Promise<void> => {
    const dir = join(work, `baresip-${p.ext}`);
    const proc = startBaresip(dir, {
      sipPort: p.sip, ctrlPort: p.ctrl, timeoutSec: 120, audioSource: `aufile,${toneFile(p.tone)}`,
      account: `<sip:${p.ext}@127.0.0.1:${boxPort}>;regint=600;auth_pass=${p.pass};answermode=${answermode};audio_codecs=pcmu`,
      extraConfig: ['module menu.so', 'module aufile.so', 'module sndfile.so', `snd_path ${dir}`, `rtp_ports ${p.rtp}`],
    });
    const ctrl = await waitFor(`baresip ${p.ext} control port`, async () => {
      if (proc.child.exitCode !== null) throw new Error(`baresip ${p.ext} exited: ${proc.output()}`);
      try { return await BaresipCtrl.connect(p.ctrl); } catch { return undefined; }
    }, 10_000, 200);
    phones.set(p, { proc, ctrl, dir });
  };
  t.teardown(async () => {
    for (const { proc, ctrl } of phones.values()) {
      await Promise.race([ctrl.quit(), sleep(1000)]);
      ctrl.close();
      await proc.stop();
    }
  });
  await startPhone(A, 'manual');
  await startPhone(B, 'auto');
  await startPhone(C, 'manual');
  await waitFor('1001, 1002 and 1003 to register', () => {
    const exts = new Set(registrations(data).map((r) => r.extension));
    return exts.has(A.ext) && exts.has(B.ext) && exts.has(C.ext);
  }, 15_000);
  const phone = (p: Phone): { proc: Proc; ctrl: BaresipCtrl; dir: string } => phones.get(p)!;
  const uri = (ext: string): string => `sip:${ext}@127.0.0.1:${boxPort}`;

  const waitState = (p: Phone, what: string, ok: (c: CallState[]) => boolean, ms = 10_000): Promise<CallState[]> =>
    waitFor(`${p.ext} ${what}`, async () => { const c = await calls(phone(p).ctrl); return ok(c) ? c : undefined; }, ms, 150);
  const established = (c: CallState[]): boolean => c.some((x) => x.state === 'ESTABLISHED');
  const none = (c: CallState[]): boolean => c.length === 0;

  /** How many media sessions the engine has created so far (live counter). */
  const createdSoFar = (): number => boxStatus(data).counters?.[CREATED] ?? 0;

  /**
   * After a call: no call in the box, every engine session created since
   * `mark` deleted, and an engine stats reply newer than the last creation
   * showing zero sessions and zero ports (a stale reply could hide a leak).
   */
  const assertIdle = async (t: Asserts, mark: number, minNewSessions: number): Promise<void> => {
    let last: BoxStatus = {};
    try {
      await waitFor('the box to release the call and its media', () => {
        last = boxStatus(data);
        const live = last.counters ?? {};
        const snap = last.media?.counters ?? {};
        return (last.calls ?? []).length === 0 && (live[CREATED] ?? 0) - mark >= minNewSessions
          && live[CREATED] === live[DELETED] && snap[CREATED] === live[CREATED] && snap[DELETED] === live[DELETED]
          && last.media?.sessions === 0 && last.media.portsInUse === 0;
      }, 8_000, 250);
    } catch { /* the assertions below say what is left */ }
    const live = last.counters ?? {};
    t.same(last.calls ?? [], [], 'no call left in the box');
    t.ok((live[CREATED] ?? 0) - mark >= minNewSessions, `the engine created ${(live[CREATED] ?? 0) - mark} media session(s) for it (>= ${minNewSessions})`);
    t.equal(live[DELETED] ?? 0, live[CREATED] ?? 0, 'every media session created was deleted');
    t.ok(last.media, '`pbx status --json` shows media engine stats');
    t.equal(last.media?.counters?.[CREATED], live[CREATED], 'the engine stats are newer than the last session');
    t.equal(last.media?.sessions, 0, 'media engine: zero sessions');
    t.equal(last.media?.portsInUse, 0, 'media engine: zero ports in use');
  };
  const recordsAfter = (n: number): CallRecordLine[] => records(data).slice(n);
  const newWavs = (dir: string, before: Set<string>, kind: 'dec' | 'enc'): string[] =>
    readdirSync(dir).filter((f) => f.startsWith('dump-') && f.endsWith(`-${kind}.wav`) && !before.has(f)).map((f) => join(dir, f));
  const wavsNow = (dir: string): Set<string> => new Set(readdirSync(dir));

  t.test('a call from 1001 to 1002: each hears the other tone, RTP goes through the box, the caller hangs up', async (t) => {
    const a = phone(A);
    const b = phone(B);
    const aMark = a.proc.output().length;
    const nRecords = records(data).length;
    const mediaMark = createdSoFar();
    const beforeA = wavsNow(a.dir);
    const beforeB = wavsNow(b.dir);
    const pcapFile = join(work, 'call.pcap');
    // Both the box's range and the phones' ranges: a direct phone-to-phone
    // stream would show up here too, and fail the check below.
    const capture = await startCapture(pcapFile, 'udp and (portrange 30000-30299 or portrange 40000-40999)', join(work, 'tshark-call.log'));

    const t0 = Date.now();
    t.ok((await a.ctrl.dial(uri(B.ext))).ok, 'dial accepted');
    await waitState(A, 'call established', established);
    await waitState(B, 'call established', established);
    t.comment(`answered after ${Date.now() - t0} ms`);
    const during = await waitFor('engine stats showing the call', () => {
      const s = boxStatus(data);
      return (s.media?.sessions ?? 0) >= 1 ? s : undefined;
    }, 3_000, 200).catch(() => boxStatus(data));
    t.equal((during.calls ?? []).length, 1, 'the box shows one call in progress');
    t.ok((during.media?.sessions ?? 0) >= 1 && (during.media?.portsInUse ?? 0) >= 2, `engine busy during the call: ${JSON.stringify(during.media)}`);
    await sleep(TALK_MS);
    t.ok((await a.ctrl.hangup()).ok, 'caller hangs up');
    await waitState(A, 'call gone', none);
    await waitState(B, 'call gone (BYE relayed)', none);
    const pcap = await capture.stop();
    t.ok(pcap.length > 0, 'capture written');

    const aLog = a.proc.output().slice(aMark);
    const aSdp = /SIP\/2\.0 200 OK[\s\S]*?m=audio (\d+) RTP\/AVP/.exec(aLog.slice(aLog.indexOf(`127.0.0.1:${boxPort} -> `)));
    t.ok(aSdp && Number(aSdp[1]) >= BOX_RTP.min && Number(aSdp[1]) <= BOX_RTP.max, `the answer the caller got points its media at the box (m=audio ${aSdp?.[1]})`);
    t.ok(inviteResponsesFrom(aLog, boxPort).some((s) => s.startsWith('SIP/2.0 200')), 'the caller got 200 OK from the box');
    t.ok(requestsFrom(b.proc.output(), boxPort).includes('BYE'), 'the callee got a BYE from the box');

    // RFC 3550 5.1: version 2, PT 0 = PCMU (RFC 3551 6).
    const rows = tsharkFields(pcapFile, 'rtp.version == 2 && rtp.p_type == 0',
      ['udp.srcport', 'udp.dstport'], ['-o', 'rtp.heuristic_rtp:TRUE']).map((l) => l.split('\t').map(Number) as [number, number]);
    const inBox = (p: number): boolean => p >= BOX_RTP.min && p <= BOX_RTP.max;
    const inRange = (p: number, r: string): boolean => { const [lo, hi] = r.split('-').map(Number); return p >= lo! && p <= hi!; };
    const count = (f: (s: number, d: number) => boolean): number => rows.filter(([s, d]) => f(s, d)).length;
    const flows = {
      aToBox: count((s, d) => inRange(s, A.rtp) && inBox(d)),
      boxToA: count((s, d) => inBox(s) && inRange(d, A.rtp)),
      bToBox: count((s, d) => inRange(s, B.rtp) && inBox(d)),
      boxToB: count((s, d) => inBox(s) && inRange(d, B.rtp)),
    };
    t.comment(`PCMU RTP packets: ${JSON.stringify(flows)} of ${rows.length}`);
    const minPackets = (TALK_MS / 20) * 0.6;
    for (const [k, v] of Object.entries(flows)) t.ok(v >= minPackets, `${k}: ${v} packets (>= ${minPackets})`);
    t.equal(count((s, d) => !inBox(s) && !inBox(d)), 0, 'no RTP packet bypasses the box');

    await assertIdle(t, mediaMark, 1);

    const recs = recordsAfter(nRecords);
    t.equal(recs.length, 1, 'one call record');
    t.match(recs[0], { caller: A.ext, callee: B.ext, endReason: 'bye-caller' });
    t.ok(recs[0]?.answeredAt, 'the record says when it was answered');

    // sndfile closes its files when the call's audio stream goes away.
    for (const [who, p, dir, before] of [['caller', B, a.dir, beforeA], ['callee', A, b.dir, beforeB]] as const) {
      const files = newWavs(dir, before, 'dec');
      t.equal(files.length, 1, `the ${who} recorded one call`);
      if (files.length !== 1) continue;
      const tone = analyseTone(parseWav(readFileSync(files[0]!)));
      t.comment(`${who} heard ${JSON.stringify(tone)}`);
      t.ok(tone.seconds >= TALK_MS / 1000 - 0.5, `the ${who}'s recording lasts the call (${tone.seconds.toFixed(2)} s)`);
      t.ok(Math.abs(tone.frequency - p.tone) <= TONE_TOLERANCE_HZ, `the ${who} hears ${p.tone} Hz (found ${tone.frequency.toFixed(1)} Hz)`);
      t.ok(tone.rms >= MIN_TONE_RMS, `the ${who}'s recording is a tone, not silence (RMS ${tone.rms.toFixed(0)})`);
      t.ok(tone.peakShare > 0.9, `and a clean one (${(tone.peakShare * 100).toFixed(1)}% of the energy at the peak)`);
    }
  });

  t.test('CANCEL before answer: the caller gets 487 and the record says cancelled (RFC 3261 9.2)', async (t) => {
    const a = phone(A);
    const c = phone(C);
    const aMark = a.proc.output().length;
    const cMark = c.proc.output().length;
    const nRecords = records(data).length;
    const mediaMark = createdSoFar();
    t.ok((await a.ctrl.dial(uri(C.ext))).ok);
    await waitState(C, 'ringing', (x) => x.some((s) => s.state === 'INCOMING'));
    await waitState(A, 'ringing (180 relayed)', (x) => x.some((s) => s.state === 'RINGING' || s.state === 'EARLY'));
    t.ok((await a.ctrl.hangup()).ok, 'caller hangs up while ringing: baresip sends CANCEL');
    await waitState(A, 'call gone', none);
    await waitState(C, 'call gone', none);
    const aResponses = inviteResponsesFrom(a.proc.output().slice(aMark), boxPort);
    t.ok(aResponses.some((s) => s.startsWith('SIP/2.0 180')), 'the caller heard 180 Ringing');
    t.ok(aResponses.some((s) => s.startsWith('SIP/2.0 487')), `the caller got 487 (${aResponses.join(' | ')})`);
    t.notOk(aResponses.some((s) => s.startsWith('SIP/2.0 2')), 'no 2xx to the INVITE');
    t.ok(requestsFrom(c.proc.output().slice(cMark), boxPort).includes('CANCEL'), 'the box sent CANCEL to the callee');
    await assertIdle(t, mediaMark, 1);
    const recs = recordsAfter(nRecords);
    t.equal(recs.length, 1, 'one call record');
    t.match(recs[0], { caller: A.ext, callee: C.ext, endReason: 'cancelled' });
    t.notOk(recs[0]?.answeredAt, 'never answered');
  });

  t.test('BYE from the callee ends both legs (RFC 3261 15.1)', async (t) => {
    const a = phone(A);
    const b = phone(B);
    const aMark = a.proc.output().length;
    const nRecords = records(data).length;
    const mediaMark = createdSoFar();
    t.ok((await a.ctrl.dial(uri(B.ext))).ok);
    await waitState(A, 'call established', established);
    await waitState(B, 'call established', established);
    await sleep(1000);
    t.ok((await b.ctrl.hangup()).ok, 'callee hangs up');
    await waitState(B, 'call gone', none);
    await waitState(A, 'call gone (BYE relayed)', none);
    t.ok(requestsFrom(a.proc.output().slice(aMark), boxPort).includes('BYE'), 'the caller got a BYE from the box');
    await assertIdle(t, mediaMark, 1);
    const recs = recordsAfter(nRecords);
    t.equal(recs.length, 1, 'one call record');
    t.match(recs[0], { caller: A.ext, callee: B.ext, endReason: 'bye-callee' });
  });

  t.test('a callee that declines: baresip answers 486, the caller gets 486 Busy Here', async (t) => {
    // baresip's `hangup` on a ringing incoming call sends "486 Rejected".
    const a = phone(A);
    const c = phone(C);
    const aMark = a.proc.output().length;
    const cMark = c.proc.output().length;
    const nRecords = records(data).length;
    const mediaMark = createdSoFar();
    t.ok((await a.ctrl.dial(uri(C.ext))).ok);
    await waitState(C, 'ringing', (x) => x.some((s) => s.state === 'INCOMING'));
    t.ok((await c.ctrl.hangup()).ok, 'callee declines');
    await waitState(A, 'call gone', none);
    t.match(c.proc.output().slice(cMark), /SIP\/2\.0 486/, 'the callee sent 486');
    const aResponses = inviteResponsesFrom(a.proc.output().slice(aMark), boxPort);
    t.ok(aResponses.some((s) => s === 'SIP/2.0 486 Busy Here'), `the caller got 486 Busy Here (${aResponses.join(' | ')})`);
    await assertIdle(t, mediaMark, 1);
    const recs = recordsAfter(nRecords);
    t.equal(recs.length, 1, 'one call record');
    t.match(recs[0], { caller: A.ext, callee: C.ext, endReason: 'busy' });
  });

  t.test('an account that never registered: 480; an unknown extension: 404 (RFC 3261 21.4.18, 21.4.4)', async (t) => {
    const a = phone(A);
    const mediaMark = createdSoFar();
    for (const [ext, status, reason] of [[UNREGISTERED.ext, 480, 'unavailable'], ['1999', 404, 'not-found']] as const) {
      const aMark = a.proc.output().length;
      const nRecords = records(data).length;
      t.ok((await a.ctrl.dial(uri(ext))).ok);
      await waitFor(`a final response for ${ext}`, () => inviteResponsesFrom(a.proc.output().slice(aMark), boxPort).some((s) => /^SIP\/2\.0 [3-6]/.test(s)), 10_000);
      await waitState(A, 'call gone', none);
      const aResponses = inviteResponsesFrom(a.proc.output().slice(aMark), boxPort);
      t.ok(aResponses.some((s) => s.startsWith(`SIP/2.0 ${status}`)), `${ext}: the caller got ${status} (${aResponses.join(' | ')})`);
      t.notOk(aResponses.some((s) => s.startsWith('SIP/2.0 180')), `${ext}: nothing rang`);
      const recs = recordsAfter(nRecords);
      t.equal(recs.length, 1, `${ext}: one call record`);
      t.match(recs[0], { caller: A.ext, callee: ext, endReason: reason });
    }
    await assertIdle(t, mediaMark, 0);
  });

  t.teardown(() => { t.comment(`calls.test ran ${((Date.now() - started) / 1000).toFixed(1)} s`); });
}
