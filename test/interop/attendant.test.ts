import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, waitFor } from './harness.js';
import { pbxOk, startBox } from './box.js';
import { boxStatus, calls, established, none, startPhone, stopPhone, waitState, type PhoneSpec, type RunningPhone } from './call-harness.js';

/*
 * The auto-attendant (issue 15) with real baresip phones over TLS with SDES:
 * 800 answers with its greeting (an uploaded WAV); digit 1 goes to 1003,
 * digit 2 to 1004 (RFC 4733 from the caller's baresip), and a caller who
 * presses nothing goes to the timeout destination 1004.
 */

const C: PhoneSpec = { ext: '1001', pass: 'caller-secret', sip: 37000, ctrl: 37100, rtp: '35000-35099', tone: 700 };
const A: PhoneSpec = { ext: '1003', pass: 'sales-secret', sip: 37010, ctrl: 37110, rtp: '35100-35199', tone: 900 };
const B: PhoneSpec = { ext: '1004', pass: 'support-secret', sip: 37020, ctrl: 37120, rtp: '35200-35299', tone: 1100 };
const ATT = '800';

interface View { caller: string; callee: string; state: string; legs: { a: { protection: string }; b?: { protection: string } } }

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'pbx-att-'));
  const data = join(work, 'data');
  const cli = pbxOk(data);
  for (const p of [C, A, B]) cli('account', 'add', p.ext, '--password', p.pass);
  const greeting = join(work, 'greeting.wav');
  const r = spawnSync('sox', ['-n', '-r', '16000', '-c', '1', '-b', '16', greeting, 'synth', '1.5', 'sine', '520'], { timeout: 20_000 });
  if (r.status !== 0) throw new Error(`sox: ${r.stderr.toString()}`);
  t.match(cli('attendant', 'add', ATT, '--greeting', greeting, '--digit', `1=${A.ext}`, '--digit', `2=${B.ext}`, '--timeout-to', B.ext, '--timeout-sec', '5'),
    /attendant 800: 1=1003 2=1004; timeout 5s -> 1004; greeting 1\.5 s/, 'pbx attendant add');

  const { proc: box, info } = await startBox(data, 200, ['--rtp-ports', '45000-45999']);
  t.teardown(() => box.stop());
  const tls = (p: PhoneSpec): string => `<sip:${p.ext}@127.0.0.1:${info.ports.sipTls};transport=tls>`;
  const sdes = { accountParams: ';mediaenc=srtp-mand', preAccountModules: ['srtp.so'], timeoutSec: 180 } as const;
  const phones: RunningPhone[] = [];
  t.teardown(async () => { for (const p of phones) await stopPhone(p); });
  const [c, a, b] = await Promise.all([
    startPhone(work, C, { account: tls(C), answermode: 'auto', ...sdes }),
    startPhone(work, A, { account: tls(A), answermode: 'auto', ...sdes }),
    startPhone(work, B, { account: tls(B), answermode: 'auto', ...sdes }),
  ]);
  phones.push(c, a, b);
  await waitFor('all phones to register', () => {
    const regs = (JSON.parse(cli('status', '--json')) as { registrations: Array<{ extension: string }> }).registrations;
    return [C, A, B].every((x) => regs.some((g) => g.extension === x.ext));
  }, 15_000);
  const views = (): View[] => (boxStatus(data).calls ?? []) as View[];

  const attempt = async (tt: Pick<typeof t, 'ok' | 'match'>, key: string | undefined, to: RunningPhone, toExt: string, other: RunningPhone): Promise<void> => {
    tt.ok((await c.ctrl.dial(`sip:${ATT}@127.0.0.1:${info.ports.sipTls};transport=tls`)).ok, `1001 dials the attendant ${ATT}`);
    await waitState(c.ctrl, '1001 established with the attendant', established, 10_000);
    tt.match(views()[0], { caller: C.ext, callee: ATT, legs: { a: { protection: 'sdes' } } }, 'the box answered as the attendant; the leg is SDES');
    // The key is pressed once the box hears the caller's media: on a loaded machine a
    // fixed pause could press it before the caller's SRTP reaches the box, or so late
    // that the timeout already routed the call (seen once: 1004 answered, no digit-1).
    const answeredAt = Date.now();
    await waitFor('the box to hear 1001 (a media sample after the answer: leg a packetsIn > 0)', () => {
      const m = boxStatus(data).media;
      return m?.at !== undefined && m.at > answeredAt && (m.streams ?? []).some((s) => (s.legs['a']?.packetsIn ?? 0) > 0);
    }, 10_000, 200);
    if (key !== undefined) tt.ok((await c.ctrl.command('sndcode', key)).ok, `1001 presses ${key} (RFC 4733)`);
    try {
      await waitState(to.ctrl, `${toExt} to answer the routed call`, established, 15_000);
    } catch (e) {
      // Say what the box saw: did the digit arrive, did the timeout fire first?
      const seen = Object.entries(boxStatus(data).counters ?? {}).filter(([k]) => /^(attendant|dtmf)\./.test(k));
      throw new Error(`${e instanceof Error ? e.message : String(e)}; box counters ${JSON.stringify(Object.fromEntries(seen))}`);
    }
    const v = await waitFor(`the box to show 1001 with ${toExt}`, () => views().find((x) => x.caller === C.ext && x.callee === toExt && x.state === 'answered'), 5_000, 100);
    tt.match(v, { legs: { a: { protection: 'sdes' }, b: { protection: 'sdes' } } }, `pbx status: 1001 talks to ${toExt}, both legs SDES`);
    tt.ok(none(await calls(other.ctrl)), 'the other phone did not ring');
    tt.ok((await c.ctrl.hangup()).ok, '1001 hangs up');
    await waitState(c.ctrl, '1001 idle', none, 10_000);
    await waitState(to.ctrl, `${toExt} idle`, none, 10_000);
  };

  await t.test('digit 1 goes to 1003', (tt) => attempt(tt, '1', a, A.ext, b));
  await t.test('digit 2 goes to 1004', (tt) => attempt(tt, '2', b, B.ext, a));
  await t.test('no key: after the timeout, to 1004', (tt) => attempt(tt, undefined, b, B.ext, a));
  const counters = boxStatus(data).counters ?? {};
  t.equal(counters['attendant.digit-1'], 1, 'counted: one digit 1');
  t.equal(counters['attendant.digit-2'], 1, 'one digit 2');
  t.equal(counters['attendant.timeout'], 1, 'one timeout');
}

if (!reexecInNetns()) {
  const missing = ['baresip', 'sox'].filter((x) => !have(x));
  if (missing.length) t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  else await main();
}
