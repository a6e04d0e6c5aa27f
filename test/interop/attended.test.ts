import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, waitFor, type Proc } from './harness.js';
import { pbxOk, startBox } from './box.js';
import { startLinphonec } from './clients.js';
import {
  assertStretch, assertTwoWay, boxStatus, established, newWavs, none, sleep, startPhone, stopPhone, toneFile, waitState, wavSeconds, wavsNow,
  type PhoneSpec, type RunningPhone,
} from './call-harness.js';

/*
 * Attended transfer by a real linphonec, both calls through the box:
 *   L 1001: linphonec, SDES (mandatory) over TLS, plays 1000 Hz: the transferor;
 *   B 1002: baresip, plain RTP over UDP, 600 Hz: the transferee;
 *   C 1003: baresip, SDES (srtp-mand) over TLS, 1400 Hz: the target.
 * Every account has a policy that makes the box decrypt and re-encrypt (1003's
 * callee side with SDES), so each call is bridged (the box holds every leg's keys, as attended transfer
 * needs); the music on hold is a 400 Hz tone. L calls B; L pauses call 1 (B
 * hears the music); L calls C; L runs
 * `transfer 1 --to-call 2`: linphonec sends REFER on call 1 with a Refer-To
 * whose Replaces names call 2's dialog. The box joins B and C, L's two calls
 * end. After each step the one-way-audio guard checks the box's own packet
 * counts for the legs it forwards, and the recordings show by dominant
 * frequency who hears whom.
 */

const L = { ext: '1001', pass: 'transferor-secret', tls: 38040, rtp: 38300, tone: 1000 };
const B: PhoneSpec = { ext: '1002', pass: 'transferee-secret', sip: 38010, ctrl: 38110, rtp: '38100-38199', tone: 600 };
const C: PhoneSpec = { ext: '1003', pass: 'target-secret', sip: 38020, ctrl: 38120, rtp: '38200-38299', tone: 1400 };
const BOX_RTP = { min: 45000, max: 45999 };
const MUSIC_HZ = 400;

interface Leg { party: string; protection: string; held?: boolean; music?: boolean }
interface View { id: string; mode: string; legs: { a: Leg; b?: Leg }; notes?: string[] }

if (!reexecInNetns()) {
  const missing = ['baresip', 'linphonec', 'sox'].filter((c) => !have(c));
  if (missing.length) t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  else await main();
}

async function main(): Promise<void> {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'pbx-attended-'));
  const data = join(work, 'data');
  const cli = pbxOk(data);
  // A callee's stream follows the callee's policy: 1003 is called with SDES, the box keeping the keys.
  cli('policy', 'add', 'decrypted', '--caller', 'decrypt', '--callee', 'decrypted');
  cli('policy', 'add', 'sdes', '--caller', 'decrypt', '--callee', 'sdes');
  for (const p of [L, B, C]) {
    cli('account', 'add', p.ext, '--password', p.pass);
    cli('account', 'set', p.ext, '--policy', p === C ? 'sdes' : 'decrypted');
  }
  const musicFile = join(work, 'music.wav');
  const r = spawnSync('sox', ['-n', '-r', '8000', '-c', '1', '-b', '16', musicFile, 'synth', '20', 'sine', String(MUSIC_HZ)], { timeout: 20_000 });
  if (r.status !== 0) throw new Error(`sox: ${r.stderr.toString()}`);
  cli('moh', 'set', musicFile);
  const { proc: box, info } = await startBox(data, 150, ['--rtp-ports', `${BOX_RTP.min}-${BOX_RTP.max}`]);
  t.teardown(() => box.stop());

  const lp: Proc = startLinphonec(join(work, 'linphonec'), {
    tlsPort: L.tls, boxTlsPort: info.ports.sipTls, user: L.ext, password: L.pass, realm: 'pbx.local', rootCa: info.caPath, timeoutSec: 120,
    sipExtra: ['media_encryption=srtp', 'media_encryption_mandatory=1'],
    extraRc: [
      '[rtp]', `audio_rtp_port=${L.rtp}`, '',
      '[sound]', 'echocancellation=0', '',
      '[audio_codec_0]', 'mime=PCMU', 'rate=8000', 'channels=1', 'enabled=1', '',
    ],
  });
  t.teardown(async () => { lp.child.stdin?.end('quit\n'); await Promise.race([lp.exited, sleep(2000)]); await lp.stop(); });
  const lpSay = (line: string): void => { lp.child.stdin?.write(`${line}\n`); };
  const lpWait = (what: string, re: RegExp, ms = 10_000): Promise<true> => waitFor(`linphonec: ${what}`, () => re.test(lp.output()) || undefined, ms, 100);

  const phones: RunningPhone[] = [];
  t.teardown(async () => { for (const p of phones) await stopPhone(p); });
  const [b, c] = await Promise.all([
    startPhone(work, B, { account: `<sip:${B.ext}@127.0.0.1:${info.ports.sipUdp}>`, answermode: 'auto', timeoutSec: 120 }),
    startPhone(work, C, {
      account: `<sip:${C.ext}@127.0.0.1:${info.ports.sipTls};transport=tls>`, answermode: 'auto',
      accountParams: ';mediaenc=srtp-mand', preAccountModules: ['srtp.so'], timeoutSec: 120,
    }),
  ]);
  phones.push(b, c);
  await waitFor('all three phones to register', () => {
    const regs = (JSON.parse(cli('status', '--json')) as { registrations: Array<{ extension: string }> }).registrations;
    return [L, B, C].every((x) => regs.some((g) => g.extension === x.ext));
  }, 25_000, 200);
  lpSay('soundcard use files');
  lpSay(`play ${toneFile(work, L.tone)}`);
  const views = (): View[] => (boxStatus(data).calls ?? []) as View[];
  const sessionOf = (v: View): string => `call-${v.id}`;
  const tlsUri = (ext: string): string => `sip:${ext}@127.0.0.1:${info.ports.sipTls};transport=tls`;

  await t.test('linphonec attended transfer: 1002 (plain) and 1003 (SDES) are joined and hear each other', async (tt) => {
    const [bb, bc] = [wavsNow(b.dir), wavsNow(c.dir)];
    lpSay(`call ${tlsUri(B.ext)}`);
    await waitState(b.ctrl, '1002 established', established, 15_000);
    await lpWait('call 1 connected', /Media streams established with \S+ for call 1/);
    const tB = Date.now();
    const atB = (): number => (Date.now() - tB) / 1000;
    const first = await waitFor('the box to show call 1', () => views().find((v) => v.legs.b?.party === B.ext), 5_000);
    tt.equal(first.mode, 'bridge', 'call 1 is bridged');
    tt.equal(first.legs.a.protection, 'sdes', "1001's leg is SDES");
    const flows1 = await assertTwoWay(tt, data, 'call 1 (1001 -> 1002)', { expectLegs: 2 });
    tt.ok(flows1.every((f) => f.session === sessionOf(first)), 'the legs are call 1\'s');
    const talk1 = atB();

    lpSay('pause 1');
    await lpWait('call 1 paused', /Call 1 with \S+ is now paused\./);
    await waitFor('the box to play music to 1002', () => views().find((v) => v.id === first.id)?.legs.b?.music === true || undefined, 5_000, 100);
    const holdFrom = atB();

    lpSay(`call ${tlsUri(C.ext)}`);
    await waitState(c.ctrl, '1003 established', established, 15_000);
    await lpWait('call 2 connected', /Media streams established with \S+ for call 2/);
    const second = await waitFor('the box to show call 2', () => views().find((v) => v.legs.b?.party === C.ext), 5_000);
    tt.equal(second.mode, 'bridge', 'call 2 (SDES <-> SDES) is bridged');
    tt.match(second.legs, { a: { protection: 'sdes' }, b: { protection: 'sdes' } }, 'both legs of call 2 are SDES');
    // Call 1 is on hold (1001 sends nothing): the guard judges the call that talks.
    await assertTwoWay(tt, data, 'call 2 (1001 -> 1003) while call 1 is held', { expectLegs: 2, only: (s) => s === sessionOf(second) });
    const holdTo = atB();

    lpSay('transfer 1 --to-call 2');
    const joined = await waitFor('the box to join 1002 and 1003', () => {
      const vs = views();
      return vs.length === 1 && vs[0]!.legs.b !== undefined && new Set([vs[0]!.legs.a.party, vs[0]!.legs.b.party]).size === 2
        && [vs[0]!.legs.a.party, vs[0]!.legs.b.party].every((p) => p === B.ext || p === C.ext) ? vs[0] : undefined;
    }, 10_000, 100);
    tt.match(joined.notes ?? [], [/attended transfer by 1001: 1002 joined to 1003/], 'the call notes the attended transfer');
    await lpWait('both its calls ended', /Call 1 .*(ended|terminated)[\s\S]*Call 2 .*(ended|terminated)|Call 2 .*(ended|terminated)[\s\S]*Call 1 .*(ended|terminated)/, 10_000)
      .catch(() => tt.comment(`linphonec said: ${lp.output().split('\n').filter((l) => /Call \d/.test(l)).slice(-6).join(' | ')}`));
    tt.ok((await waitState(b.ctrl, '1002 still in its call', established, 2_000)).length === 1, '1002 keeps its one call');
    tt.ok((await waitState(c.ctrl, '1003 still in its call', established, 2_000)).length === 1, '1003 keeps its one call');
    const joinedFrom = atB();
    const tC0 = wavSeconds(newWavs(c.dir, bc, 'dec')[0]!);
    const flows = await assertTwoWay(tt, data, 'after the attended transfer (1002 <-> 1003)', { expectLegs: 2 });
    tt.ok(flows.every((f) => f.session === sessionOf(joined)), 'only the joined call has media');
    tt.same(new Set(flows.map((f) => f.security)), new Set(['rtp', 'srtp']), 'one plain leg (1002), one SRTP leg (1003)');
    const joinedTo = atB();
    const tC1 = wavSeconds(newWavs(c.dir, bc, 'dec')[0]!);
    tt.ok((await b.ctrl.hangup()).ok, '1002 hangs up');
    await waitState(b.ctrl, '1002 idle', none);
    await waitState(c.ctrl, '1003 idle', none);
    await waitFor('no call left on the box', () => views().length === 0 || undefined, 5_000);

    const [fb] = newWavs(b.dir, bb, 'dec');
    const [fc] = newWavs(c.dir, bc, 'dec');
    tt.ok(fb && fc, '1002 and 1003 recorded their calls');
    if (!fb || !fc) return;
    // 1002's one call: 1001, the music while held, then 1003.
    assertStretch(tt, '1002 before the hold', fb, 0, talk1, L.tone);
    assertStretch(tt, '1002 while held (the music)', fb, holdFrom, holdTo, MUSIC_HZ);
    assertStretch(tt, '1002 after the transfer', fb, joinedFrom, joinedTo, C.tone);
    // 1003's call: 1001 first, then 1002 after the transfer.
    assertStretch(tt, '1003 after the transfer', fc, tC0, tC1, B.tone);
  });

  t.comment(`attended transfer interop took ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
