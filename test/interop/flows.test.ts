import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, waitFor, type Proc } from './harness.js';
import { pbx, registrations, startBox, type RunInfo } from './box.js';
import { startLinphonec } from './clients.js';
import { calls, established, none, records, startPhone, stopPhone, type RunningPhone } from './call-harness.js';

/*
 * Phones on connections (RFC 5626 flows) with real clients, inside a private
 * network namespace:
 *  - linphonec with a "don't bind" TLS transport (sip_tls_port=-2, it listens
 *    nowhere and writes port -2 in its Contact) registers and is called over
 *    the connection it registered on;
 *  - a baresip registered over TLS survives a restart of the box (same data
 *    folder, same ports): until it talks again, a call to it fails at once
 *    rather than after a 32 s timeout; right after it sent one request on a
 *    new connection, it is called successfully.
 */

const SIP_PORT = 35060;
const TLS_PORT = 35061;

if (!reexecInNetns()) {
  const missing = ['baresip', 'linphonec'].filter((c) => !have(c));
  if (missing.length) {
    t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  } else {
    await main();
  }
}

/** `pbx run` on fixed ports, so phones configured before a restart find the box after it. */
function startFixedBox(dataDir: string, log: string): Promise<{ proc: Proc; info: RunInfo }> {
  return startBox(dataDir, 240, ['--sip-port', String(SIP_PORT), '--tls-port', String(TLS_PORT), '--rtp-ports', '36000-36099'], log);
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'pbx-flows-'));
  const data = join(work, 'data');
  t.comment(`work dir ${work}`);
  for (const [ext, pw] of [['1001', 'secret1'], ['1002', 'secret2'], ['1003', 'secret3']] as const) {
    const r = pbx(data, 'account', 'add', ext, '--password', pw);
    if (r.status !== 0) throw new Error(`account add ${ext}: ${r.stderr}`);
    // Voicemail (on by default) off: these cases are what a caller hears without it.
    const v = pbx(data, 'account', 'set', ext, '--voicemail', 'off');
    if (v.status !== 0) throw new Error(`account set ${ext}: ${v.stderr}`);
  }
  let box = await startFixedBox(data, join(work, 'box-1.log'));
  t.teardown(() => box.proc.stop());

  // The caller in both scenarios: a plain UDP baresip.
  const caller: RunningPhone = await startPhone(work, { ext: '1002', pass: 'secret2', sip: 32000, ctrl: 32100, rtp: '32200-32219', tone: 1000 }, {
    account: `<sip:1002@127.0.0.1:${SIP_PORT}>`, answermode: 'auto', timeoutSec: 200,
  });
  t.teardown(() => stopPhone(caller));
  await waitFor('the caller to register', () => registrations(data).find((r) => r.extension === '1002'), 20_000);

  t.test('linphonec with a don\'t-bind TLS transport registers and is called over its flow', async (t) => {
    const lp = startLinphonec(join(work, 'linphonec'), {
      tlsPort: -2, boxTlsPort: TLS_PORT, user: '1001', password: 'secret1', realm: 'pbx.local', rootCa: box.info.caPath, timeoutSec: 90,
    });
    try {
      lp.child.stdin?.write('autoanswer enable\n');
      const reg = await waitFor('linphonec to register with its :-2 contact', () =>
        registrations(data).find((r) => r.extension === '1001' && r.transport === 'tls'), 30_000);
      t.comment(`linphonec contact: ${reg.contact}`);
      const debug = readFileSync(join(work, 'linphonec', 'debug.log'), 'utf8');
      t.match(debug, /\nContact: <sip:1001@127\.0\.0\.1:-2;transport=tls>/, 'linphonec offered the don\'t-bind contact (port -2)');
      t.notMatch(debug, /SIP\/2\.0 400 /, 'and the box never answered 400');
      t.match(reg.source, { address: '127.0.0.1' });

      await caller.ctrl.dial(`sip:1001@127.0.0.1:${SIP_PORT}`);
      await waitFor('the call to linphonec to be established', async () => established(await calls(caller.ctrl)), 20_000, 200);
      t.pass('the caller sees the call established');
      t.match(lp.output(), /Call \d+ .*connected|Call answered|connected/i, 'linphonec answered the call it got over its flow');
      await caller.ctrl.hangup();
      await waitFor('the call to end', async () => none(await calls(caller.ctrl)), 10_000, 200);
    } finally {
      lp.child.stdin?.end('quit\n');
      await lp.stop();
    }
  });

  t.test('a TLS baresip is reachable again after a restart of the box as soon as it sends a request', async (t) => {
    const callee = await startPhone(work, { ext: '1003', pass: 'secret3', sip: 33000, ctrl: 33100, rtp: '33200-33219', tone: 600 }, {
      account: `<sip:1003@127.0.0.1:${TLS_PORT};transport=tls>`, answermode: 'auto', timeoutSec: 200,
    });
    try {
      await waitFor('baresip 1003 to register over TLS', () => registrations(data).find((r) => r.extension === '1003' && r.transport === 'tls'), 20_000);

      await box.proc.stop();
      box = await startFixedBox(data, join(work, 'box-2.log'));
      t.ok(registrations(data).some((r) => r.extension === '1003'), 'the binding survived the restart (on a dead flow)');

      // Before the phone talks again: the box cannot reach it and says so at once.
      const before = records(data).length;
      const started = Date.now();
      await caller.ctrl.dial(`sip:1003@127.0.0.1:${SIP_PORT}`);
      const rec = await waitFor('the call to the unreachable phone to end', () => records(data).slice(before)[0], 10_000, 100);
      const took = Date.now() - started;
      t.match(rec, { callee: '1003', endReason: 'unavailable' }, 'refused as unavailable');
      t.ok(took < 5_000, `and fast (${took} ms), not after a 32 s transaction timeout`);
      await waitFor('the caller to be idle', async () => none(await calls(caller.ctrl)), 10_000, 200);

      // Any request on a new connection: here a call to an extension that does not exist.
      await callee.ctrl.dial(`sip:9999@127.0.0.1:${TLS_PORT};transport=tls`);
      await waitFor('the 404 call to end', async () => none(await calls(callee.ctrl)), 10_000, 200);

      await caller.ctrl.dial(`sip:1003@127.0.0.1:${SIP_PORT}`);
      await waitFor('the call to 1003 to be established', async () => established(await calls(caller.ctrl)), 15_000, 200);
      t.pass('called successfully over the new connection');
      await caller.ctrl.hangup();
      await waitFor('the call to end', async () => none(await calls(caller.ctrl)), 10_000, 200);
    } finally {
      await stopPhone(callee);
    }
  });
}
