import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, waitFor } from './harness.js';
import { pbxOk, startBox } from './box.js';
import { describeHold } from '../../firmware/admin/index.js';
import { PRIVATE_HOLD_NOTE } from '../../firmware/pbx/features/index.js';
import {
  MIN_TONE_RMS, assertStretch, assertTwoWay, boxStatus, established, newWavs, none, sleep, startPhone, stopPhone, stretch, waitState, wavSeconds, wavsNow,
  type PhoneSpec, type RunningPhone,
} from './call-harness.js';

/*
 * Hold on a fully private call: two baresip phones with SDES (srtp-mand)
 * over TLS, the caller's policy forced_relay, so the box relays the SRTP
 * end to end and holds no key. 1001 holds: the hold passes through (1002's
 * phone gets the box's re-INVITE with the held direction), the box plays no
 * music (no player started, no leg flagged, no 400 Hz in 1002's recording), and
 * the status and the dashboard's sentence say why. 1001 resumes: the box's
 * packet counts show the relayed SRTP flowing both ways on both legs again.
 */

const P: PhoneSpec = { ext: '1001', pass: 'private-secret', sip: 39000, ctrl: 39100, rtp: '39200-39299', tone: 1000 };
const S: PhoneSpec = { ext: '1002', pass: 'other-secret', sip: 39010, ctrl: 39110, rtp: '39300-39399', tone: 600 };
const MUSIC_HZ = 400;
const STRETCH_MS = 3000;

interface View { mode: 'relay' | 'bridge'; legs: { a: { party: string; held?: boolean; music?: boolean }; b?: { party: string; held?: boolean; music?: boolean } }; notes?: string[] }

if (!reexecInNetns()) {
  const missing = ['baresip', 'sox'].filter((c) => !have(c));
  if (missing.length) t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  else await main();
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'pbx-private-hold-'));
  const data = join(work, 'data');
  const cli = pbxOk(data);
  cli('policy', 'add', 'private', '--caller', 'forced_relay', '--callee', 'as_caller');
  for (const p of [P, S]) { cli('account', 'add', p.ext, '--password', p.pass); cli('account', 'set', p.ext, '--policy', 'private'); }
  const music = join(work, 'music.wav');
  const r = spawnSync('sox', ['-n', '-r', '8000', '-c', '1', '-b', '16', music, 'synth', '20', 'sine', String(MUSIC_HZ)], { timeout: 20_000 });
  if (r.status !== 0) throw new Error(`sox: ${r.stderr.toString()}`);
  cli('moh', 'set', music);
  const { proc: box, info } = await startBox(data, 120, ['--rtp-ports', '46000-46999']);
  t.teardown(() => box.stop());
  const tls = (p: PhoneSpec): string => `<sip:${p.ext}@127.0.0.1:${info.ports.sipTls};transport=tls>`;
  const sdes = { accountParams: ';mediaenc=srtp-mand', preAccountModules: ['srtp.so'], timeoutSec: 100 };
  const phones: RunningPhone[] = [];
  t.teardown(async () => { for (const p of phones) await stopPhone(p); });
  const [p, s] = await Promise.all([
    startPhone(work, P, { account: tls(P), answermode: 'auto', ...sdes }),
    startPhone(work, S, { account: tls(S), answermode: 'auto', ...sdes }),
  ]);
  phones.push(p, s);
  await waitFor('both phones to register', () => {
    const regs = (JSON.parse(cli('status', '--json')) as { registrations: Array<{ extension: string }> }).registrations;
    return [P, S].every((x) => regs.some((g) => g.extension === x.ext));
  }, 15_000);
  const view = (): View | undefined => ((boxStatus(data).calls ?? []) as View[])[0];
  // baresip -s traces each SIP message it sends or receives, ending it with a colour reset.
  const reInvitesToS = (): string[] => s.proc.output().split(/\n(?=INVITE sip:)/).slice(1).map((m) => m.split('[;m')[0]!)
    .filter((m) => /a=(sendonly|inactive|recvonly|sendrecv)/.test(m));

  await t.test('a fully private SDES<->SDES call: hold passes through, no music, and the views say why', async (tt) => {
    const bs = wavsNow(s.dir);
    tt.ok((await p.ctrl.dial(`sip:${S.ext}@127.0.0.1:${info.ports.sipTls};transport=tls`)).ok, '1001 dials 1002');
    await waitState(p.ctrl, '1001 established', established);
    await waitState(s.ctrl, '1002 established', established);
    const t0 = Date.now();
    const at = (): number => (Date.now() - t0) / 1000;
    tt.equal(view()?.mode, 'relay', 'the call is relayed end to end');
    await sleep(STRETCH_MS);
    const talk = at();
    const before = reInvitesToS().length;
    tt.ok((await p.ctrl.command('hold')).ok, '1001 holds');
    const passed = await waitFor('the hold to reach 1002', () => {
      return reInvitesToS().slice(before).find((x) => /a=(sendonly|inactive)/.test(x));
    }, 5_000, 100);
    tt.match(passed, /a=(sendonly|inactive)/, '1002 gets a re-INVITE that holds it (sendonly or inactive), passed through');
    const held = await waitFor('the note in the status', () => { const v = view(); return v?.notes?.includes(PRIVATE_HOLD_NOTE) ? v : undefined; }, 5_000, 100);
    tt.notOk(held.legs.a.music || held.legs.b?.music, 'no leg hears music');
    tt.match(describeHold(held), /fully private \(encrypted end to end\), so the box has no keys to play music with/, 'the dashboard sentence says why');
    await sleep(STRETCH_MS);
    const counters = boxStatus(data).counters ?? {};
    tt.equal(counters['hold.private-passed-across'], 1, 'counted as a hold passed across');
    tt.notOk(counters['media.play.started'], 'the box started no player');
    tt.ok((await p.ctrl.command('resume')).ok, '1001 resumes');
    await waitFor('the resume to reach 1002', () => reInvitesToS().slice(before).find((x) => /a=sendrecv/.test(x)), 5_000, 100);
    await sleep(500);
    await assertTwoWay(tt, data, 'after the resume (relayed SRTP)', { expectLegs: 2 });
    tt.ok((await p.ctrl.hangup()).ok, '1001 hangs up');
    await waitState(p.ctrl, '1001 idle', none);
    await waitState(s.ctrl, '1002 idle', none);
    const [fs] = newWavs(s.dir, bs, 'dec');
    tt.ok(fs, '1002 recorded the call');
    if (!fs) return;
    assertStretch(tt, '1002 before the hold', fs, 0, talk, P.tone);
    // baresip's recorder stops at the re-INVITE it answers (its decoder restarts), so its file
    // covers the talk before the hold; the box's own packet counts above prove the audio after
    // the resume both ways. Music would show as 400 Hz anywhere in the file: there is none.
    const len = wavSeconds(fs);
    const h = stretch(fs, talk - 0.5, len);
    tt.comment(`1002's recording: ${len.toFixed(1)} s; its end: ${h.hz.toFixed(1)} Hz at RMS ${h.rms.toFixed(0)}`);
    tt.ok(h.rms < MIN_TONE_RMS || Math.abs(h.hz - MUSIC_HZ) > 50, '1002 never hears the music');
  });
}
