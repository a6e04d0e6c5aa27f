import t from 'tap';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, startCapture, tsharkFields, waitFor, type Proc } from './harness.js';
import { pbxOk, startBox } from './box.js';
import { startLinphonec } from './clients.js';
import { analyseTone, parseWav } from './audio.js';
import {
  MIN_TONE_RMS, TONE_TOLERANCE_HZ, assertHeard, boxStatus, entropy, established, sleep, startPhone, stopPhone, toneFile, waitState, wavsNow,
  type PhoneSpec, type RunningPhone,
} from './call-harness.js';

/*
 * ZRTP (RFC 6189) terminated by the box, with a real ZRTP client: linphonec
 * (Debian's linphone-cli, bzrtp) as 1001 over TLS with ZRTP mandatory calls
 * baresip as 1002 over TLS with SDES mandatory (the seed's "John and Jane":
 * ZRTP on one leg, SDES on the other; the default policy relays when it can,
 * and baresip cannot do ZRTP, so the box bridges). Shown:
 *  - linphonec reports the call encrypted with a SAS, and `pbx status --json`
 *    shows the same SAS for the ZRTP leg (protection "zrtp");
 *  - audio both ways: baresip hears linphonec's 1000 Hz, linphonec (its
 *    `record`) hears baresip's 600 Hz;
 *  - on the wire (tshark on lo): ZRTP packets between linphonec and the box
 *    first (Hello ... Conf2ACK), then SRTP (182-byte PCMU with an 80-bit
 *    tag or 176 with 32, ciphertext entropy), never 172-byte plain RTP, toward
 *    linphonec.
 */

const BOX_RTP = { min: 45000, max: 45099 };
const LP = { ext: '1001', pass: 'alice-secret', tls: 38040, rtp: 38300, tone: 1000 };
const B: PhoneSpec = { ext: '1002', pass: 'bob-secret', sip: 38010, ctrl: 38110, rtp: '38100-38199', tone: 600 };
const TALK_MS = 4000;

if (!reexecInNetns()) {
  const missing = ['baresip', 'linphonec', 'tshark', 'sox'].filter((c) => !have(c));
  if (missing.length) t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  else await main();
}

interface LegJson { protection?: string; sas?: string; zrtp?: { sas: string; cache?: string; algorithms?: string; peerVerified?: boolean }; suite?: string }
interface CallJson { legs?: { a?: LegJson; b?: LegJson }; mode?: string }

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'pbx-zrtp-'));
  const data = join(work, 'data');
  const cli = pbxOk(data);
  cli('account', 'add', LP.ext, '--password', LP.pass);
  cli('account', 'add', B.ext, '--password', B.pass);
  const { proc: box, info } = await startBox(data, 300, ['--rtp-ports', `${BOX_RTP.min}-${BOX_RTP.max}`]);
  t.teardown(() => box.stop());
  t.comment(`box TLS ${info.ports.sipTls}; work dir ${work}`);

  const lpDir = join(work, 'linphonec');
  const lp: Proc = startLinphonec(lpDir, {
    tlsPort: LP.tls, boxTlsPort: info.ports.sipTls, user: LP.ext, password: LP.pass, realm: 'pbx.local', rootCa: info.caPath, timeoutSec: 290,
    sipExtra: ['media_encryption=zrtp', 'media_encryption_mandatory=1'],
    extraRc: [
      '[rtp]', `audio_rtp_port=${LP.rtp}`, '',
      '[sound]', 'echocancellation=0', '',
      '[audio_codec_0]', 'mime=PCMU', 'rate=8000', 'channels=1', 'enabled=1', '',
    ],
  });
  t.teardown(async () => { lp.child.stdin?.end('quit\n'); await Promise.race([lp.exited, sleep(2000)]); await lp.stop(); });
  const lpSay = (line: string): void => { lp.child.stdin?.write(`${line}\n`); };

  let b: RunningPhone | undefined;
  t.teardown(async () => { if (b) await stopPhone(b); });
  b = await startPhone(work, B, {
    account: `<sip:${B.ext}@127.0.0.1:${info.ports.sipTls};transport=tls>`, answermode: 'auto', accountParams: ';mediaenc=srtp-mand',
    preAccountModules: ['srtp.so'], timeoutSec: 290,
  });
  const bp = b;
  await waitFor('1001 and 1002 to register over TLS', () => {
    const regs = (JSON.parse(cli('status', '--json')) as { registrations: Array<{ extension: string; transport: string }> }).registrations;
    const by = new Map(regs.map((r) => [r.extension, r.transport]));
    return by.get(LP.ext) === 'tls' && by.get(B.ext) === 'tls';
  }, 30_000, 200);
  lpSay('soundcard use files');
  lpSay(`play ${toneFile(work, LP.tone)}`);
  const lpRecord = join(work, 'linphonec-heard.wav');

  const pcap = join(work, 'zrtp.pcap');
  const capture = await startCapture(pcap, `udp and (portrange ${BOX_RTP.min}-${BOX_RTP.max} or portrange ${LP.rtp}-${LP.rtp + 1})`, join(work, 'tshark.log'));
  t.teardown(async () => { await capture.stop(); });

  await t.test('linphonec (ZRTP) calls baresip (SDES over TLS) through the box: same SAS, audio both ways, ZRTP then SRTP on the wire', async (t) => {
    const before = wavsNow(bp.dir);
    lpSay(`call sip:${B.ext}@127.0.0.1:${info.ports.sipTls};transport=tls`);
    await waitState(bp.ctrl, `${B.ext}: established`, established, 15_000);
    const token = await waitFor('linphonec: encrypted with a SAS', () => /auth token is ([^\s.]+)/.exec(lp.output())?.[1], 15_000, 100);
    t.comment(`linphonec: ${/.*fully encrypted.*/.exec(lp.output())?.[0] ?? ''}`);
    t.match(lp.output(), /fully encrypted/, 'linphonec reports the call encrypted');
    lpSay(`record ${lpRecord}`);
    const call = await waitFor('the box to show the SAS', () => {
      const calls = (boxStatus(data).calls ?? []) as CallJson[];
      return calls.find((c) => c.legs?.a?.sas !== undefined);
    }, 10_000, 200);
    t.comment(`box call view: ${JSON.stringify(call)}`);
    t.equal(call.legs?.a?.protection, 'zrtp', 'the caller\'s leg is ZRTP');
    t.equal(call.legs?.a?.sas, token, `the box shows the SAS linphonec shows (${token})`);
    t.equal(call.legs?.b?.protection, 'sdes', 'the callee\'s leg is SDES');
    t.equal(call.mode, 'bridge');
    t.equal(call.legs?.a?.zrtp?.cache, 'none', 'first call between linphonec and the box: no retained secret yet');
    // The user compared the SAS: linphonec keeps it verified for the box's ZID (its V flag from now on).
    lpSay('zrtp-set-verified');
    await sleep(TALK_MS);
    lpSay('terminate');
    await waitState(bp.ctrl, `${B.ext}: call gone`, (c) => c.length === 0, 10_000);
    await sleep(500);
    assertHeard(t, 'callee (baresip)', bp.dir, before, LP.tone, TALK_MS / 1000);
    t.ok(existsSync(lpRecord), 'linphonec recorded the call');
    if (existsSync(lpRecord)) {
      const heard = analyseTone(parseWav(readFileSync(lpRecord)));
      t.comment(`linphonec heard ${JSON.stringify(heard)}`);
      t.ok(Math.abs(heard.frequency - B.tone) <= TONE_TOLERANCE_HZ, `linphonec hears ${B.tone} Hz (found ${heard.frequency.toFixed(1)})`);
      t.ok(heard.rms >= MIN_TONE_RMS, `at a real level (RMS ${heard.rms.toFixed(0)})`);
    }
  });

  await t.test('the wire: ZRTP between linphonec and the box, then SRTP only', async (t) => {
    await capture.stop();
    const frames = tsharkFields(pcap, `udp.port==${LP.rtp}`, ['frame.time_epoch', 'udp.srcport', 'udp.dstport', 'udp.payload']).map((l) => {
      const [time, s, d, hex] = l.split('\t');
      return { time: Number(time), sport: Number(s), dport: Number(d), bytes: Buffer.from((hex ?? '').replace(/:/g, ''), 'hex') };
    });
    const isZrtp = (x: Buffer): boolean => x.length >= 12 && x[0] === 0x10 && x.readUInt32BE(4) === 0x5a525450;
    const zrtp = frames.filter((f) => isZrtp(f.bytes));
    const types = zrtp.map((f) => f.bytes.toString('latin1', 16, 24).trim());
    t.comment(`ZRTP messages: ${[...new Set(types)].join(', ')}`);
    for (const m of ['Hello', 'HelloACK', 'Commit', 'DHPart1', 'DHPart2', 'Confirm1', 'Confirm2', 'Conf2ACK']) t.ok(types.includes(m), `${m} on the wire`);
    const media = frames.filter((f) => f.bytes.length > 0 && f.bytes[0]! >> 6 === 2 && !isZrtp(f.bytes));
    const toLp = media.filter((f) => f.dport === LP.rtp && f.bytes[1]! < 200);
    t.ok(toLp.length > 100, `media toward linphonec (${toLp.length} packets)`);
    const firstMedia = Math.min(...toLp.map((f) => f.time));
    const lastHello = Math.max(...zrtp.filter((f) => f.bytes.toString('latin1', 16, 24).trim() === 'Hello').map((f) => f.time));
    t.ok(lastHello <= firstMedia + 0.01, 'ZRTP came first, media after');
    const sizes = new Set(toLp.map((f) => f.bytes.length));
    t.comment(`sizes toward linphonec: ${[...sizes].join(', ')}`);
    t.notOk(sizes.has(172), 'never a 172-byte plain PCMU packet toward linphonec');
    t.ok([...sizes].every((s) => s === 182 || s === 176), 'SRTP sizes only (182 with HS80, 176 with HS32)');
    const h = entropy(toLp.map((f) => f.bytes.subarray(12)));
    t.ok(h > 7.5, `ciphertext payloads (entropy ${h.toFixed(2)} bits/byte)`);
  });

  await t.test('a second call between the same linphonec and the box uses the cache, and linphonec says the SAS was verified (RFC 6189 4.6.1, 7.1)', async (t) => {
    const tokens = (): string[] => [...lp.output().matchAll(/Call (\d+) is fully encrypted and auth token is ([^\s.]+)/g)].map((m) => `${m[1]}:${m[2]}`);
    const firstCall = new Set(tokens());
    lpSay(`call sip:${B.ext}@127.0.0.1:${info.ports.sipTls};transport=tls`);
    await waitState(bp.ctrl, `${B.ext}: established`, established, 15_000);
    const token = (await waitFor('linphonec: the second call encrypted', () => tokens().find((x) => !firstCall.has(x)), 15_000, 100)).split(':')[1];
    const call = await waitFor('the box to show the SAS', () => ((boxStatus(data).calls ?? []) as CallJson[]).find((c) => c.legs?.a?.sas !== undefined), 10_000, 200);
    t.comment(`box call view: ${JSON.stringify(call.legs?.a)}`);
    t.equal(call.legs?.a?.sas, token, 'the same SAS on both ends again');
    t.equal(call.legs?.a?.zrtp?.cache, 'match', 'the box matched its retained secret for linphonec');
    t.equal(call.legs?.a?.zrtp?.peerVerified, true, 'linphonec\'s Confirm says its user verified the SAS');
    lpSay('terminate');
    await waitState(bp.ctrl, `${B.ext}: call gone`, (c) => c.length === 0, 10_000);
  });

  await t.test('after the admin deletes the box\'s cache entry (pbx zrtp forget), the next call has no shared secret and linphonec reports the mismatch', async (t) => {
    const peers = JSON.parse(cli('zrtp', 'list', '--json')) as Array<{ zid: string; verified: boolean; retainedSecret: boolean }>;
    t.comment(`box ZRTP peers: ${JSON.stringify(peers)}`);
    t.equal(peers.length, 1, 'the box remembers one phone');
    t.ok(peers[0]?.retainedSecret, 'with a retained secret');
    cli('zrtp', 'forget', peers[0]!.zid);
    t.same(JSON.parse(cli('zrtp', 'list', '--json')), [], 'forgotten');
    const tokens = (): string[] => [...lp.output().matchAll(/Call (\d+) is fully encrypted and auth token is ([^\s.]+)/g)].map((m) => `${m[1]}:${m[2]}`);
    const earlier = new Set(tokens());
    const debugBefore = readFileSync(join(lpDir, 'debug.log'), 'latin1').length;
    lpSay(`call sip:${B.ext}@127.0.0.1:${info.ports.sipTls};transport=tls`);
    await waitState(bp.ctrl, `${B.ext}: established`, established, 15_000);
    const token = (await waitFor('linphonec: the third call encrypted', () => tokens().find((x) => !earlier.has(x)), 15_000, 100)).split(':')[1];
    const call = await waitFor('the box to show the SAS', () => ((boxStatus(data).calls ?? []) as CallJson[]).find((c) => c.legs?.a?.sas !== undefined), 10_000, 200);
    t.comment(`box call view: ${JSON.stringify(call.legs?.a)}`);
    t.equal(call.legs?.a?.sas, token, 'the same SAS on both ends');
    t.equal(call.legs?.a?.zrtp?.cache, 'none', 'the box has no secret for the phone now');
    t.equal(call.legs?.a?.zrtp?.peerVerified, false, 'linphonec no longer claims the SAS verified: its cache did not match');
    await sleep(500);
    const debug = readFileSync(join(lpDir, 'debug.log'), 'latin1').slice(debugBefore);
    const lines = debug.split('\n').filter((l) => /mismatch|cache/i.test(l) && /zrtp/i.test(l)).slice(0, 5);
    t.comment(`linphonec debug log: ${lines.join(' | ')}`);
    t.ok(lines.some((l) => /cache mismatch/i.test(l)), 'linphonec reports a ZRTP cache mismatch');
    lpSay('terminate');
    await waitState(bp.ctrl, `${B.ext}: call gone`, (c) => c.length === 0, 10_000);
  });
}
