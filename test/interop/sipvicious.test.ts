import t, { type Test } from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, startProc, waitFor } from './harness.js';
import { pbx, registrations, startBox } from './box.js';
import { boxStatus, established, none, sleep, startPhone, stopPhone, waitState, type RunningPhone } from './call-harness.js';
import { startBaresip } from './clients.js';

/*
 * Issue 20's "must show" for password guessing and enumeration, with the
 * attacker's own tools (Debian's sipvicious) against the box inside a private
 * network namespace:
 * - svwar over a range holding real extensions (1001, 1002) cannot tell them
 *   from the others, with REGISTER, INVITE and OPTIONS;
 * - svcrack against 1001 from 127.0.0.1 is stopped within 10 guesses (the box's
 *   own counters say how many it checked), the right password later in the
 *   list is never accepted, while 1001's real phone (baresip over TLS, also
 *   127.0.0.1) stays registered and can still call;
 * - the block shows in `pbx status` and `pbx block list`, and `pbx block
 *   remove` lifts it: a fresh phone registers from that address again.
 */

const PASS: Record<string, string> = { 1001: 'Tr0ub4dor-1001', 1002: 'Tr0ub4dor-1002' };

if (!reexecInNetns()) {
  const missing = ['svwar', 'svcrack', 'baresip'].filter((c) => !have(c));
  if (missing.length) t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  // One enclosing test, so the root waits for the setup's awaits (phones starting) before it ends.
  else t.test('sipvicious against the box', { timeout: 380_000 }, (t) => main(t));
}

async function main(t: Test): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'pbx-sipvicious-'));
  const data = join(work, 'data');
  const { proc: box, info } = await startBox(data, 400);
  t.teardown(() => box.stop());
  for (const ext of ['1001', '1002']) t.equal(pbx(data, 'account', 'add', ext, '--password', PASS[ext]!).status, 0);
  const target = `udp://127.0.0.1:${info.ports.sipUdp}`;
  const tls = (ext: string): string => `<sip:${ext}@127.0.0.1:${info.ports.sipTls};transport=tls>`;
  t.comment(`box ports ${JSON.stringify(info.ports)}; work dir ${work}`);

  const phones: RunningPhone[] = [];
  t.teardown(async () => { for (const p of phones) await stopPhone(p); });
  phones.push(await startPhone(work, { ext: '1001', pass: PASS[1001]!, sip: 33000, ctrl: 33100, rtp: '33200-33299', tone: 700 }, { account: tls('1001'), answermode: 'manual', timeoutSec: 380 }));
  phones.push(await startPhone(work, { ext: '1002', pass: PASS[1002]!, sip: 33010, ctrl: 33110, rtp: '33300-33399', tone: 900 }, { account: `<sip:1002@127.0.0.1:${info.ports.sipUdp}>`, answermode: 'auto', timeoutSec: 380 }));
  const [p1001, p1002] = phones as [RunningPhone, RunningPhone];
  try {
    await waitFor('1001 (TLS) and 1002 (UDP) to register', () => {
      const r = registrations(data);
      return r.some((b) => b.extension === '1001' && b.transport === 'tls') && r.some((b) => b.extension === '1002');
    }, 45_000, 500);
  } catch (e) {
    t.fail(e instanceof Error ? e.message : String(e));
    return;
  }

  let svPort = 35000;
  const run = async (name: string, cmd: string, args: string[], timeoutSec: number): Promise<string> => {
    const p = startProc(cmd, ['-P', String(++svPort), ...args], { timeoutSec, log: join(work, `${name}.log`) });
    await p.exited;
    return p.output();
  };

  t.test('svwar cannot tell existing extensions (1001, 1002) from others in 1000-1010', async (t) => {
    const plain = await run('svwar-register', 'svwar', ['-m', 'REGISTER', '-e', '1000-1010', target], 60);
    t.match(plain, /authentication request for an unknown extension/, 'its sanity check sees an unknown extension answered like any other and gives up');
    for (const method of ['REGISTER', 'INVITE', 'OPTIONS']) {
      const out = await run(`svwar-${method}-force`, 'svwar', ['--force', '-m', method, '-e', '1000-1010', target], 90);
      t.notMatch(out, /extension '\d+' (exists|probably exists)/, `${method} --force: no extension reported as existing`);
      t.notMatch(out, /\|\s*10(00|01|02|03|10)\s*\|/, `${method} --force: the result table lists none`);
      t.match(out, /found nothing/, `${method} --force: svwar says it found nothing`);
    }
    t.equal(boxStatus(data).counters?.['register.blocked'] ?? 0, 0, 'scanning alone blocks nobody');
  });

  t.test('svcrack against 1001 from 127.0.0.1 is stopped within 10 guesses; the TLS phone there keeps working', async (t) => {
    const before = boxStatus(data).counters ?? {};
    const words = Array.from({ length: 30 }, (_, i) => `wrong-guess-${i}`);
    words.splice(14, 0, PASS[1001]!);
    const dict = join(work, 'dict.txt');
    writeFileSync(dict, `${words.join('\n')}\n`);
    const started = Date.now();
    // svcrack keeps sending after the block (each refused at once); 25 s bounds it.
    const out = await run('svcrack', 'svcrack', ['-u', '1001', '-d', dict, target], 25);
    const elapsed = Date.now() - started;
    const after = boxStatus(data).counters ?? {};
    const delta = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0);
    const checked = delta('register.auth-wrong-password') + delta('register.ok');
    t.comment(`svcrack ran ${(elapsed / 1000).toFixed(1)} s; the box checked ${delta('register.auth-wrong-password')} wrong passwords, refused ${delta('register.guess-locked')} as locked and ${delta('register.blocked')} from the blocked source`);
    t.notMatch(out, /The password for 1001 is/, 'svcrack never learns the password, though it is 15th in its list');
    t.ok(delta('register.auth-wrong-password') <= 10 && delta('register.auth-wrong-password') >= 1, 'the box checked at most 10 guesses');
    t.ok(elapsed < 60_000 || checked <= 10, 'within the minute');
    t.ok(delta('register.guess-locked') + delta('register.blocked') >= 1, 'the rest were refused before any password work');

    const status = JSON.parse(pbx(data, 'status', '--json').stdout) as { blocked?: Array<{ address: string; extension?: string; scope?: string }> };
    t.ok(status.blocked?.some((b) => b.address === '127.0.0.1' && b.extension === '1001'), 'pbx status shows the block with the extension tried');
    const list = JSON.parse(pbx(data, 'block', 'list', '--json').stdout) as Array<{ source: string; extension: string | null; scope?: string; secondsLeft: number }>;
    t.ok(list.some((b) => b.source === '127.0.0.1' && b.extension === '1001' && b.secondsLeft > 0), 'pbx block list shows it');
    t.ok(list.some((b) => b.scope === 'source'), 'including 1001\'s lockout for that source');

    // The real phone, same address, on its authenticated TLS connection.
    t.ok(registrations(data).some((r) => r.extension === '1001' && r.transport === 'tls'), '1001 is still registered');
    t.ok((await p1001.ctrl.dial(`sip:1002@127.0.0.1:${info.ports.sipTls};transport=tls`)).ok, '1001 dials 1002');
    await waitState(p1001.ctrl, '1001 in an established call', established, 15_000);
    await waitState(p1002.ctrl, '1002 answered', established, 5_000);
    t.pass('the call from the phone behind the guesser\'s address is up');
    await p1001.ctrl.hangup();
    await waitState(p1001.ctrl, '1001 hung up', none, 10_000);

    // A new phone from that address (UDP, 1001 again) is refused until the block is lifted.
    const fresh = startBaresip(join(work, 'baresip-fresh'), {
      sipPort: 33050, timeoutSec: 60, account: `<sip:1001@127.0.0.1:${info.ports.sipUdp}>;regint=600;auth_pass=${PASS[1001]!};audio_codecs=pcmu`,
    });
    try {
      await sleep(3000);
      t.notOk(registrations(data).some((r) => r.extension === '1001' && r.transport === 'udp'), 'a new UDP registration of 1001 from the blocked address is refused');
      const removed = pbx(data, 'block', 'remove', '127.0.0.1');
      t.equal(removed.status, 0, removed.stderr);
      t.match(removed.stdout, /unblocked 127\.0\.0\.1/);
      t.same(JSON.parse(pbx(data, 'block', 'list', '--json').stdout), [], 'nothing blocked any more');
      // baresip retries a failed registration after a while; a fresh one is quicker to wait for.
      await fresh.stop();
      const again = startBaresip(join(work, 'baresip-again'), {
        sipPort: 33060, timeoutSec: 60, account: `<sip:1001@127.0.0.1:${info.ports.sipUdp}>;regint=600;auth_pass=${PASS[1001]!};audio_codecs=pcmu`,
      });
      try {
        await waitFor('1001 to register over UDP after the unblock', () => registrations(data).some((r) => r.extension === '1001' && r.transport === 'udp'), 15_000);
        t.pass('after pbx block remove the address registers again');
      } finally {
        await again.stop();
      }
    } finally {
      await fresh.stop();
    }
    t.ok(registrations(data).some((r) => r.extension === '1001' && r.transport === 'tls'), 'the TLS phone stayed registered throughout');
  });
}
