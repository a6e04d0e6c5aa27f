import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, startCapture, startProc, tsharkFields, waitFor, type Proc } from './harness.js';
import { pbxOk, startBox } from './box.js';
import { assertHeard, established, none, sleep, startPhone, stopPhone, waitState, wavsNow, type RunningPhone } from './call-harness.js';

/*
 * Issue 14's "must show", with real clients in a private network namespace:
 *  1. sipp as the provider's registrar with digest: the box registers,
 *     re-registers before expiry, and recovers on its own after sipp restarts.
 *  2. A baresip on the box (200) calls out through a route (9, strip 1) to a
 *     baresip standing for the telephone network, once over a plain trunk and
 *     once over an SDES trunk (SRTP seen on the wire); the network's baresip
 *     calls the box's DID and reaches 200. Tones both ways each time.
 *  3. Failover: the first trunk (sipp) answers 503, the call goes out on the second.
 *  4. An international number from 200 (no right) gets 403 and a log line; 112 goes through.
 */

const PSTN = { ext: 'pstn', pass: 'x', sip: 33000, ctrl: 33100, rtp: '33200-33299', tone: 600 };
const PSTN_SDES = { ext: 'pstns', pass: 'x', sip: 33010, ctrl: 33110, rtp: '33300-33399', tone: 800 };
const A = { ext: '200', pass: 'alice-secret-1', sip: 33020, ctrl: 33120, rtp: '33400-33499', tone: 1000 };
const EMERG = { ext: 'emerg', pass: 'x', sip: 33030, ctrl: 33130, rtp: '33600-33699', tone: 400 };
const REGISTRAR_PORT = 33500;
const BUSY_PORT = 33510;
const BOX_RTP = '42000-42999';
const TALK_MS = 3000;

const REGISTRAR = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="provider registrar with digest">
  <label id="1"/>
  <recv request="REGISTER"/>
  <send><![CDATA[
SIP/2.0 401 Unauthorized
[last_Via:]
[last_From:]
[last_To:];tag=[pid]reg
[last_Call-ID:]
[last_CSeq:]
WWW-Authenticate: Digest realm="voip.example", nonce="[pid]n[clock_tick]", algorithm=MD5
Content-Length: 0

]]></send>
  <recv request="REGISTER">
    <action>
      <verifyauth assign_to="authok" username="alice" password="s3cret"/>
      <log message="REGISTER verified=[$authok]"/>
    </action>
  </recv>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]reg
[last_Call-ID:]
[last_CSeq:]
[last_Contact:];expires=10
Content-Length: 0

]]></send>
  <nop next="1"/>
</scenario>
`;

const BUSY = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a trunk that is overloaded">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 503 Service Unavailable
[last_Via:]
[last_From:]
[last_To:];tag=[pid]busy[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <recv request="ACK"/>
</scenario>
`;

interface TrunkLive { name: string; live?: { registration: string; liveness: string; registeredUntil?: string; lastError?: string } }

async function main(): Promise<void> {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'pbx-trunks-'));
  const data = join(work, 'data');
  const cli = pbxOk(data);
  cli('account', 'add', A.ext, '--password', A.pass);
  cli('policy', 'add', 'trunk-sdes', '--caller', 'decrypt', '--callee', 'sdes');
  // The trunks, routes and DIDs through the CLI, with the options.
  cli('trunk', 'add', 'prov', '--host', `127.0.0.1:${REGISTRAR_PORT}`, '--transport', 'udp', '--username', 'alice', '--password', 's3cret', '--register');
  cli('trunk', 'add', 'pstn', '--host', `127.0.0.1:${PSTN.sip}`, '--transport', 'udp', '--allow', `127.0.0.1:${PSTN.sip}`, '--media', 'rtp');
  // SDES keys travel only inside TLS: the SDES trunk is TLS (baresip's TLS port is its SIP port + 1), its certificate checked against --ca.
  const cert = join(work, 'pstns.pem');
  const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(work, 'pstns.key'), '-out', join(work, 'pstns.crt')], { timeout: 20_000 });
  if (gen.status !== 0) throw new Error(`openssl: ${gen.stderr.toString()}`);
  writeFileSync(cert, readFileSync(join(work, 'pstns.crt'), 'utf8') + readFileSync(join(work, 'pstns.key'), 'utf8'));
  cli('trunk', 'add', 'pstns', '--host', `127.0.0.1:${PSTN_SDES.sip + 1}`, '--transport', 'tls', '--media', 'sdes', '--policy', 'trunk-sdes',
    '--ca', join(work, 'pstns.crt'));
  cli('trunk', 'add', 'busy', '--host', `127.0.0.1:${BUSY_PORT}`, '--transport', 'udp');
  cli('route', 'add', '9', '--trunk', 'pstn', '--strip', '1');
  cli('route', 'add', '8', '--trunk', 'pstns', '--strip', '1');
  cli('route', 'add', '7', '--trunk', 'busy,pstn', '--strip', '1', '--prepend', '0');
  cli('trunk', 'add', 'emerg', '--host', `127.0.0.1:${EMERG.sip}`, '--transport', 'udp');
  cli('route', 'add', '112', '--trunk', 'emerg');
  cli('did', 'add', '4930555', '--to', A.ext, '--trunk', 'pstn');
  t.match(cli('trunk', 'list'), /prov\s+127\.0\.0\.1:33500\s+udp\s+yes/, 'trunk list (offline) shows the trunks');
  t.notOk(cli('trunk', 'list', '--json').includes('s3cret'), 'the trunk password is never shown');

  const sippProc = (name: string, xml: string, port: number, extra: string[] = []): Proc => {
    const f = join(work, `${name}.xml`);
    writeFileSync(f, xml);
    return startProc('sipp', ['-sf', f, '-i', '127.0.0.1', '-p', String(port), '-aa', '-nostdin', '-trace_msg', '-trace_logs',
      '-message_file', join(work, `${name}-messages.log`), '-log_file', join(work, `${name}-logs.log`), ...extra],
    { timeoutSec: 200, log: join(work, `${name}.log`), cwd: work });
  };
  const procs: Proc[] = [];
  t.teardown(async () => { for (const p of procs) await p.stop(); });
  let registrar = sippProc('registrar', REGISTRAR, REGISTRAR_PORT);
  procs.push(registrar);
  procs.push(sippProc('busy', BUSY, BUSY_PORT));

  const { proc: box, info } = await startBox(data, 300, ['--rtp-ports', BOX_RTP]);
  t.teardown(() => box.stop());
  const trunks = (): TrunkLive[] => JSON.parse(cli('trunk', 'list', '--json')) as TrunkLive[];
  const prov = (): TrunkLive['live'] => trunks().find((x) => x.name === 'prov')?.live;

  await t.test('the box registers to sipp with digest, re-registers, and recovers after sipp restarts', async (tt) => {
    const first = await waitFor('prov registered', () => (prov()?.registration === 'registered' ? prov() : undefined), 15_000);
    tt.ok(first?.registeredUntil, `registered until ${first?.registeredUntil}`);
    const verified = (): number => (readFileSync(join(work, 'registrar-logs.log'), 'utf8').match(/REGISTER verified=true/g) ?? []).length;
    tt.ok(verified() >= 1, "sipp's verifyauth accepted the box's digest");
    tt.equal((readFileSync(join(work, 'registrar-logs.log'), 'utf8').match(/verified=false/g) ?? []).length, 0, 'and never refused it');
    // expires=10: a refresh every 5 s, each answering a fresh challenge.
    await waitFor('two refreshes', () => verified() >= 3, 15_000, 250);
    tt.ok(Date.parse(prov()!.registeredUntil!) > Date.parse(first!.registeredUntil!), 'the expiry moved on with the refresh');
    await registrar.stop();
    const n = verified();
    await sleep(3000);
    registrar = sippProc('registrar', REGISTRAR, REGISTRAR_PORT);
    procs.push(registrar);
    await waitFor('a REGISTER verified by the restarted sipp', () => verified() > n, 45_000, 250);
    const back = await waitFor('prov registered again', () => (prov()?.registration === 'registered' ? prov() : undefined), 10_000);
    tt.ok(back, 'registered again without anyone touching the box');
  });

  const phones: RunningPhone[] = [];
  t.teardown(async () => { for (const p of phones) await stopPhone(p); });
  let a!: RunningPhone, pstn!: RunningPhone, pstns!: RunningPhone, emerg!: RunningPhone;
  // In a subtest: tap's root would end while nothing of its own is pending.
  await t.test('the phones start and 200 registers', async (tt) => {
  [a, pstn, emerg, pstns] = await Promise.all([
    startPhone(work, A, { account: `<sip:${A.ext}@127.0.0.1:${info.ports.sipUdp}>`, answermode: 'auto' }),
    // baresip answers only for an account whose user is the Request-URI's: one line per number the network answers.
    startPhone(work, PSTN, { account: `<sip:0301234@127.0.0.1:${PSTN.sip}>;regint=0`, answermode: 'auto' }),
    startPhone(work, EMERG, { account: `<sip:112@127.0.0.1:${EMERG.sip}>;regint=0`, answermode: 'auto' }),
    startPhone(work, PSTN_SDES, {
      account: `<sip:0301234@127.0.0.1:${PSTN_SDES.sip}>;regint=0`, answermode: 'auto',
      accountParams: ';mediaenc=srtp-mand', preAccountModules: ['srtp.so'], extraConfig: [`sip_certificate ${cert}`],
    }),
  ]);
  phones.push(a, pstn, emerg, pstns);
  tt.ok(await waitFor('200 registered', () => (JSON.parse(cli('status', '--json')) as { registrations: { extension: string }[] }).registrations.some((r) => r.extension === A.ext), 15_000));
  });

  /** `from` dials `uri`; both talk; `from` hangs up. Returns the capture's UDP lengths toward `to`'s RTP ports. */
  const talk = async (tt: Pick<typeof t, 'ok' | 'equal' | 'comment' | 'match'>, from: RunningPhone, fromSpec: typeof A, to: RunningPhone, toSpec: typeof A, uri: string): Promise<number[]> => {
    const beforeFrom = wavsNow(from.dir);
    const beforeTo = wavsNow(to.dir);
    const [lo, hi] = toSpec.rtp.split('-');
    const pcap = join(work, `talk-${toSpec.ext}-${Date.now()}.pcap`);
    const cap = await startCapture(pcap, `udp and portrange ${lo}-${hi}`, join(work, 'tshark.log'));
    tt.ok((await from.ctrl.dial(uri)).ok, `dial ${uri}`);
    await waitState(from.ctrl, 'established', established);
    await waitState(to.ctrl, 'established', established);
    await sleep(TALK_MS);
    await from.ctrl.hangup();
    await waitState(from.ctrl, 'hung up', none);
    await waitState(to.ctrl, 'hung up', none);
    const bytes = await cap.stop();
    tt.ok(bytes.length > 0, 'captured');
    assertHeard(tt, fromSpec.ext, from.dir, beforeFrom, toSpec.tone, TALK_MS / 1000);
    assertHeard(tt, toSpec.ext, to.dir, beforeTo, fromSpec.tone, TALK_MS / 1000);
    return tsharkFields(pcap, 'udp', ['udp.length']).map(Number);
  };

  await t.test('outbound over a plain trunk: 200 dials 9 0301234, audio both ways, plain RTP on the trunk', async (tt) => {
    const lens = await talk(tt, a, A, pstn, PSTN, `sip:90301234@127.0.0.1:${info.ports.sipUdp}`);
    const rtp = lens.filter((l) => l === 180).length;
    tt.ok(rtp > 50, `plain PCMU on the trunk leg: ${rtp} packets of 172 bytes of RTP`);
    tt.match(readFileSync(join(work, 'baresip-pstn', 'baresip.log'), 'utf8'), /INVITE sip:0301234@127\.0\.0\.1/, 'the network got the number stripped of the 9');
  });

  await t.test('outbound over an SDES trunk: SRTP on the trunk leg, audio both ways', async (tt) => {
    const lens = await talk(tt, a, A, pstns, PSTN_SDES, `sip:80301234@127.0.0.1:${info.ports.sipUdp}`);
    const srtp = lens.filter((l) => l === 190).length;
    tt.ok(srtp > 50, `SRTP (182 bytes with HMAC-SHA1-80) on the trunk leg: ${srtp} packets`);
    tt.equal(lens.filter((l) => l === 180).length, 0, 'no plain RTP on it');
  });

  await t.test('inbound: the network calls DID 4930555 and reaches 200, audio both ways', async (tt) => {
    await talk(tt, pstn, PSTN, a, A, `sip:4930555@127.0.0.1:${info.ports.sipUdp}`);
    tt.match(readFileSync(join(work, 'box.log'), 'utf8'), /inbound trunk call/);
  });

  await t.test('failover: the first trunk answers 503, the call goes out on the second', async (tt) => {
    const before = wavsNow(pstn.dir);
    tt.ok((await a.ctrl.dial(`sip:7301234@127.0.0.1:${info.ports.sipUdp}`)).ok, 'dial 7 301234');
    await waitState(pstn.ctrl, 'the second trunk rings and answers', established, 15_000);
    await sleep(500);
    await a.ctrl.hangup();
    await waitState(a.ctrl, 'hung up', none);
    await waitState(pstn.ctrl, 'hung up', none);
    void before;
    const sippMessages = readFileSync(join(work, 'busy-messages.log'), 'utf8');
    tt.match(sippMessages, /INVITE sip:0301234@127\.0\.0\.1:33510/, 'the busy trunk got the INVITE first (prepend 0)');
    tt.match(sippMessages, /SIP\/2\.0 503/, 'and answered 503');
    tt.match(readFileSync(join(work, 'box.log'), 'utf8'), /trying the next/, 'the box logged the failover');
  });

  await t.test('an international number without the right gets 403 and a log line; 112 goes through', async (tt) => {
    tt.ok((await a.ctrl.dial(`sip:900441234567@127.0.0.1:${info.ports.sipUdp}`)).ok);
    await waitState(a.ctrl, 'refused', none, 10_000);
    await sleep(500);
    tt.match(readFileSync(join(work, 'baresip-200', 'baresip.log'), 'utf8'), /SIP\/2\.0 403/, '200 got 403');
    tt.match(readFileSync(join(work, 'box.log'), 'utf8'), /outbound call refused: international/, 'the box logged the refusal');
    tt.ok((await a.ctrl.dial(`sip:112@127.0.0.1:${info.ports.sipUdp}`)).ok, 'dial 112');
    await waitState(emerg.ctrl, 'the emergency call reaches the network', established, 15_000);
    await a.ctrl.hangup();
    await waitState(emerg.ctrl, 'hung up', none);
  });

  t.comment(`took ${((Date.now() - started) / 1000).toFixed(1)} s; work dir ${work}`);
}

if (!reexecInNetns()) {
  const missing = ['baresip', 'sipp', 'tshark', 'sox'].filter((c) => !have(c));
  if (missing.length) t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  else await main();
}
