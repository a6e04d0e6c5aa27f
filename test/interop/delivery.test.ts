import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, waitFor } from './harness.js';
import { pbxOk, startBox } from './box.js';
import {
  assertHeard, established, none, records, sleep, startPhone, stopPhone, waitState, wavsNow, type PhoneSpec, type RunningPhone,
} from './call-harness.js';

/*
 * Where a call goes, with real baresip phones and the audio checked by its
 * dominant frequency once it is connected:
 *   A 1001: plain RTP over UDP, the caller, 1000 Hz;
 *   B 1002: SDES (srtp-mand) over TLS, never answers by itself, 600 Hz;
 *   C 1003: plain RTP over UDP, answers at once, 1400 Hz;
 *   D 1004: SDES over TLS, answers at once, 800 Hz.
 * Forward on no answer (B -> C after 5 s), forward on busy (B in DND, busy
 * to C), DND alone (the caller gets 486), directed pickup of B's ringing
 * call by C (**1002), a sequential ring group (B then D) where the second
 * member answers. Every call bridges a plain and an SDES leg or two plain
 * ones, as the phones' policies make it.
 */

const A: PhoneSpec = { ext: '1001', pass: 'caller-secret', sip: 36000, ctrl: 36100, rtp: '34000-34099', tone: 1000 };
const B: PhoneSpec = { ext: '1002', pass: 'ringing-secret', sip: 36010, ctrl: 36110, rtp: '34100-34199', tone: 600 };
const C: PhoneSpec = { ext: '1003', pass: 'answer-secret', sip: 36020, ctrl: 36120, rtp: '34200-34299', tone: 1400 };
const D: PhoneSpec = { ext: '1004', pass: 'second-secret', sip: 36030, ctrl: 36130, rtp: '34300-34399', tone: 800 };
const GROUP = '1100';
/** How long each connected call runs before it is hung up. */
const TALK_MS = 3500;

if (!reexecInNetns()) {
  const missing = ['baresip', 'sox'].filter((c) => !have(c));
  if (missing.length) t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  else await main();
}

async function main(): Promise<void> {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'pbx-deliv-'));
  const data = join(work, 'data');
  const cli = pbxOk(data);
  for (const p of [A, B, C, D]) cli('account', 'add', p.ext, '--password', p.pass);
  // These cases test what a caller meets without voicemail (on by default), so 1002 has it off.
  cli('account', 'set', B.ext, '--voicemail', 'off');
  const { proc: box, info } = await startBox(data, 200, ['--rtp-ports', '44000-44999']);
  t.teardown(() => box.stop());
  const udp = (p: PhoneSpec): string => `<sip:${p.ext}@127.0.0.1:${info.ports.sipUdp}>`;
  const tls = (p: PhoneSpec): string => `<sip:${p.ext}@127.0.0.1:${info.ports.sipTls};transport=tls>`;
  const sdes = { accountParams: ';mediaenc=srtp-mand', preAccountModules: ['srtp.so'] };
  const phones: RunningPhone[] = [];
  t.teardown(async () => { for (const p of phones) await stopPhone(p); });
  const [a, b, c, d] = await Promise.all([
    startPhone(work, A, { account: udp(A), answermode: 'auto', timeoutSec: 150 }),
    startPhone(work, B, { account: tls(B), answermode: 'manual', ...sdes, timeoutSec: 150 }),
    startPhone(work, C, { account: udp(C), answermode: 'auto', timeoutSec: 150 }),
    startPhone(work, D, { account: tls(D), answermode: 'auto', ...sdes, timeoutSec: 150 }),
  ]);
  phones.push(a, b, c, d);
  await waitFor('all four phones to register', () => {
    const regs = (JSON.parse(cli('status', '--json')) as { registrations: Array<{ extension: string }> }).registrations;
    return [A, B, C, D].every((x) => regs.some((g) => g.extension === x.ext));
  }, 15_000);
  const dial = (to: string): string => `sip:${to}@127.0.0.1:${info.ports.sipUdp}`;
  type Asserts = Pick<typeof t, 'ok' | 'equal' | 'same' | 'match' | 'comment'>;

  /** A calls `to`; `answerer` ends up connected to A; both hear each other; A hangs up. */
  async function talks(tt: Asserts, to: string, answerer: RunningPhone, spec: PhoneSpec, between?: () => Promise<void>): Promise<void> {
    const [ba, bx] = [wavsNow(a.dir), wavsNow(answerer.dir)];
    tt.ok((await a.ctrl.dial(dial(to))).ok, `1001 dials ${to}`);
    if (between) await between();
    await waitState(answerer.ctrl, `${spec.ext} established`, established, 15_000);
    await waitState(a.ctrl, '1001 established', established, 5_000);
    await sleep(TALK_MS);
    tt.ok((await a.ctrl.hangup()).ok, '1001 hangs up');
    await waitState(a.ctrl, '1001 idle', none);
    await waitState(answerer.ctrl, `${spec.ext} idle`, none);
    await waitState(b.ctrl, '1002 idle', none);
    assertHeard(tt, 'caller', a.dir, ba, spec.tone, TALK_MS / 1000 - 1);
    assertHeard(tt, `answering phone ${spec.ext}`, answerer.dir, bx, A.tone, TALK_MS / 1000 - 1);
  }

  await t.test('forward on no answer: 1002 rings for 5 s, then 1003 answers and talks to 1001', async (tt) => {
    cli('account', 'set', B.ext, '--forward-noanswer', C.ext, '--noanswer-sec', '5');
    await talks(tt, B.ext, c, C, async () => {
      await waitFor('1002 to ring', async () => (await b.ctrl.listcalls()).data.includes('INCOMING') || undefined, 5_000, 150);
    });
    cli('account', 'set', B.ext, '--no-forward');
  });

  await t.test('do-not-disturb: the caller hears busy; with forward on busy, 1003 answers instead', async (tt) => {
    cli('account', 'set', B.ext, '--dnd');
    const before = records(data).length;
    tt.ok((await a.ctrl.dial(dial(B.ext))).ok, '1001 dials 1002');
    // Watch 1002 while the call is refused: it must never show an incoming call.
    let rang = false;
    await waitFor('1001 call refused', async () => {
      if ((await b.ctrl.listcalls()).data.includes('INCOMING')) rang = true;
      return (await a.ctrl.listcalls()).data.includes('[line') ? undefined : true;
    }, 10_000, 100);
    const rec = await waitFor('the call record', () => records<{ callee: string; endReason: string }>(data).slice(before).find((r) => r.callee === B.ext), 5_000);
    tt.equal(rec.endReason, 'busy', 'the record says busy');
    tt.equal(rang, false, '1002 never rang');
    cli('account', 'set', B.ext, '--forward-busy', C.ext);
    await talks(tt, B.ext, c, C);
    cli('account', 'set', B.ext, '--no-forward', '--no-dnd');
  });

  await t.test('directed pickup: 1002 rings, 1003 dials **1002 and talks to 1001', async (tt) => {
    await talks(tt, B.ext, c, C, async () => {
      await waitFor('1002 to ring', async () => (await b.ctrl.listcalls()).data.includes('INCOMING') || undefined, 5_000, 150);
      tt.ok((await c.ctrl.dial(dial('**1002'))).ok, '1003 dials **1002');
    });
    const rec = records<{ callee: string; caller: string }>(data).at(-1);
    tt.match(rec, { caller: A.ext, callee: C.ext }, 'the record has the picker as the callee');
  });

  await t.test('a sequential ring group: 1002 rings first and does not answer, 1004 (SDES) answers', async (tt) => {
    cli('group', 'add', GROUP, '--members', `${B.ext},${D.ext}`, '--order', 'sequential', '--ring-sec', '5');
    await talks(tt, GROUP, d, D, async () => {
      await waitFor('1002 to ring first', async () => (await b.ctrl.listcalls()).data.includes('INCOMING') || undefined, 5_000, 150);
    });
  });

  t.comment(`delivery interop took ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
