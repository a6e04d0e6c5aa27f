import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, startCapture, tsharkFields, waitFor, type Proc } from './harness.js';
import { pbxOk, startBox } from './box.js';
import { startLinphonec } from './clients.js';
import { analyseTone, parseWav } from './audio.js';
import {
  assertHeard, boxStatus, entropy, established, MIN_TONE_RMS, none, records, sleep, startPhone, stopPhone, TONE_TOLERANCE_HZ, toneFile,
  waitState, wavsNow, type PhoneSpec, type RunningPhone,
} from './call-harness.js';

/*
 * Issue 10's DTLS-SRTP "must show" with real phones, all in `unshare -n`:
 *   1. baresip with mediaenc=dtls_srtp (1001) calls baresip with srtp-mand
 *      (1002) over TLS: the box terminates DTLS on 1001's leg and SDES on
 *      1002's (bridged). Audio both ways by dominant frequency; `pbx status`
 *      shows the legs as dtls and sdes; tshark shows the DTLS handshake, then
 *      SRTP, on the DTLS leg and SRTP on the SDES leg.
 *   2. baresip dtls_srtp (1001) calls linphonec with media_encryption=dtls
 *      (1003, Debian's liblinphone 5.1 on mbedTLS with DTLS-SRTP):
 *      a. under forced_relay: the box relays the phones' DTLS records and
 *         their SRTP untouched. The certificate linphonec received on the wire
 *         is the one baresip sent (and the other way), each hashes to the
 *         a=fingerprint the other phone's SDP carried, and the box's own
 *         certificate never appears: the box did not terminate DTLS.
 *      b. under a decrypting policy (decrypt/dtls): the box terminates DTLS on
 *         both legs (its own certificate toward each phone), bridged.
 *      Audio both ways in each.
 */

const BOX_RTP = { min: 47000, max: 47999 };
const A: PhoneSpec = { ext: '1001', pass: 'alice-secret', sip: 35000, ctrl: 35100, rtp: '35200-35299', tone: 1000 };
const B: PhoneSpec = { ext: '1002', pass: 'bob-secret', sip: 35010, ctrl: 35110, rtp: '35300-35399', tone: 600 };
const C = { ext: '1003', pass: 'carol-secret', tls: 35020, rtp: 35400, tone: 600 };
const TALK_MS = 3000;
/** RTP header (12) + 20 ms of PCMU (160). */
const PLAIN_RTP = 172;

interface Leg { party: string; transport: string; protection: string; suite?: string; keys?: string }
interface CallView { mode: string; recordingPossible?: boolean; legs: { a: Leg; b?: Leg } }
type Asserts = Pick<typeof t, 'ok' | 'comment' | 'equal' | 'match' | 'fail'>;
interface Frame { n: number; time: number; src: number; dst: number; bytes: Buffer }

const inRange = (p: number, r: string): boolean => { const [lo, hi] = r.split('-').map(Number); return p >= lo! && p <= hi!; };
const inBox = (p: number): boolean => p >= BOX_RTP.min && p <= BOX_RTP.max;
const isLp = (p: number): boolean => p === C.rtp || p === C.rtp + 1;

/** RFC 7983's demultiplexing by first byte. */
function kindOf(b: Buffer): 'stun' | 'dtls' | 'rtp' | 'rtcp' | 'other' {
  const f = b[0] ?? 255;
  if (f <= 3) return 'stun';
  if (f >= 20 && f <= 63) return 'dtls';
  if (f >= 128 && f <= 191) return (b[1] ?? 0) >= 192 && (b[1] ?? 0) <= 223 ? 'rtcp' : 'rtp';
  return 'other';
}

function frames(pcap: string): Frame[] {
  return tsharkFields(pcap, 'udp', ['frame.number', 'frame.time_epoch', 'udp.srcport', 'udp.dstport', 'udp.payload']).map((l) => {
    const [n, time, s, d, hex] = l.split('\t');
    return { n: Number(n), time: Number(time), src: Number(s), dst: Number(d), bytes: Buffer.from((hex ?? '').replace(/:/g, ''), 'hex') };
  });
}

/** DTLS Certificate messages on one UDP port, as tshark decodes them: [frame number, DER of the end-entity certificate]. */
function certificatesOn(pcap: string, port: number): Array<{ n: number; der: Buffer }> {
  return tsharkFields(pcap, `udp.port==${port} && dtls.handshake.certificate`, ['frame.number', 'dtls.handshake.certificate'],
    ['-d', `udp.port==${port},dtls`]).map((l) => {
    const [n, certs] = l.split('\t');
    return { n: Number(n), der: Buffer.from((certs ?? '').split(',')[0]!.replace(/:/g, ''), 'hex') };
  });
}

/** DTLS handshake message types on one port (1 ClientHello, 2 ServerHello, 11 Certificate, 20 Finished is encrypted). */
function handshakeTypes(pcap: string, port: number): Set<number> {
  const hs = tsharkFields(pcap, `udp.port==${port} && dtls.handshake.type`, ['dtls.handshake.type'], ['-d', `udp.port==${port},dtls`]);
  return new Set(hs.flatMap((l) => l.split(',')).map(Number));
}

const sha256Fingerprint = (der: Buffer): string => createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');

/** Every `a=fingerprint:sha-256 ...` value in a text (SDP in a client's log). */
const fingerprintsIn = (text: string): Set<string> =>
  new Set([...text.matchAll(/a=fingerprint:sha-256 ([0-9A-Fa-f:]+)/gi)].map((m) => m[1]!.toUpperCase()));

/** 'sdes': baresip dtls_srtp to baresip srtp-mand; 'linphone': baresip dtls_srtp to linphonec dtls, relayed and bridged. */
export type Part = 'sdes' | 'linphone';

async function main(part: Part): Promise<void> {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'pbx-dtls-'));
  const data = join(work, 'data');
  const cli = pbxOk(data);
  cli('account', 'add', A.ext, '--password', A.pass, '--media', 'rtp,sdes,dtls');
  cli('account', 'add', B.ext, '--password', B.pass);
  cli('account', 'add', C.ext, '--password', C.pass, '--media', 'rtp,sdes,dtls');
  cli('policy', 'add', 'sdes', '--caller', 'decrypt', '--callee', 'sdes');
  cli('policy', 'add', 'private', '--caller', 'forced_relay', '--callee', 'as_caller');
  cli('policy', 'add', 'dtls-bridge', '--caller', 'decrypt', '--callee', 'dtls');
  cli('account', 'set', A.ext, '--policy', 'sdes');
  cli('account', 'set', B.ext, '--policy', 'sdes');

  const { proc: box, info } = await startBox(data, 300, ['--rtp-ports', `${BOX_RTP.min}-${BOX_RTP.max}`]);
  t.teardown(() => box.stop());
  t.comment(`box SIP/UDP ${info.ports.sipUdp}, TLS ${info.ports.sipTls}; work dir ${work}`);
  const tls = (p: PhoneSpec): string => `<sip:${p.ext}@127.0.0.1:${info.ports.sipTls};transport=tls>`;
  const phones: RunningPhone[] = [];
  t.teardown(async () => { for (const p of phones) await stopPhone(p); });
  // baresip's dtls_srtp: UDP/TLS/RTP/SAVPF with a=fingerprint and a=setup, no ICE module loaded (Debian's 1.0 needs none).
  const a = await startPhone(work, A, { account: tls(A), answermode: 'manual', accountParams: ';mediaenc=dtls_srtp', preAccountModules: ['dtls_srtp.so'], timeoutSec: 280 });
  phones.push(a);
  const b = part === 'sdes'
    ? await startPhone(work, B, { account: tls(B), answermode: 'auto', accountParams: ';mediaenc=srtp-mand', preAccountModules: ['srtp.so'], timeoutSec: 280 })
    : undefined;
  if (b) phones.push(b);

  const lpDir = join(work, 'linphonec-1003');
  const lp: Proc | undefined = part === 'linphone' ? startLinphonec(lpDir, {
    tlsPort: C.tls, boxTlsPort: info.ports.sipTls, user: C.ext, password: C.pass, realm: 'pbx.local', rootCa: info.caPath, timeoutSec: 280,
    sipExtra: ['media_encryption=dtls', 'media_encryption_mandatory=1'],
    extraRc: ['[rtp]', `audio_rtp_port=${C.rtp}`, '', '[sound]', 'echocancellation=0', '', '[audio_codec_0]', 'mime=PCMU', 'rate=8000', 'channels=1', 'enabled=1', ''],
  }) : undefined;
  if (lp) t.teardown(async () => { lp.child.stdin?.end('quit\n'); await Promise.race([lp.exited, sleep(2000)]); await lp.stop(); });
  const lpSay = (line: string): void => { lp?.child.stdin?.write(`${line}\n`); };

  const want = part === 'sdes' ? [A.ext, B.ext] : [A.ext, C.ext];
  await waitFor(`${want.join(' and ')} to register over TLS`, () => {
    const regs = (JSON.parse(cli('status', '--json')) as { registrations: Array<{ extension: string; transport: string }> }).registrations;
    const by = new Map(regs.map((r) => [r.extension, r.transport]));
    return want.every((x) => by.get(x) === 'tls');
  }, 30_000, 200);
  if (lp) {
    lpSay('soundcard use files');
    lpSay(`play ${toneFile(work, C.tone)}`);
    lpSay('autoanswer enable');
  }

  /** The first call the box shows with both legs. */
  const liveCall = (): Promise<CallView> => waitFor('the call in `pbx status`', () => {
    const v = (boxStatus(data).calls ?? []) as CallView[];
    return v[0]?.legs.b ? v[0] : undefined;
  }, 5_000, 100);

  if (b) await t.test('baresip dtls_srtp calls baresip srtp-mand: DTLS bridged to SDES, audio both ways, DTLS then SRTP on the wire', async (t) => {
    const beforeA = wavsNow(a.dir);
    const beforeB = wavsNow(b.dir);
    const pcap = join(work, 'dtls-sdes.pcap');
    const capture = await startCapture(pcap, `udp and portrange ${BOX_RTP.min}-${BOX_RTP.max}`, join(work, 'tshark-sdes.log'));
    t.ok((await a.ctrl.dial(`sip:${B.ext}@127.0.0.1:${info.ports.sipTls};transport=tls`)).ok, 'dial accepted');
    await waitState(a.ctrl, '1001: established', established, 15_000);
    await waitState(b.ctrl, '1002: established', established, 15_000);
    const view = await liveCall();
    const text = cli('status');
    t.comment(`pbx status: ${JSON.stringify(view)}`);
    await sleep(TALK_MS);
    t.ok((await a.ctrl.hangup()).ok, 'caller hangs up');
    await waitState(a.ctrl, '1001: call gone', none);
    await waitState(b.ctrl, '1002: call gone', none);
    await capture.stop();
    assertHeard(t, 'caller (dtls_srtp)', a.dir, beforeA, B.tone, TALK_MS / 1000);
    assertHeard(t, 'callee (srtp-mand)', b.dir, beforeB, A.tone, TALK_MS / 1000);
    t.match(view, { mode: 'bridge', legs: { a: { protection: 'dtls', transport: 'tls', keys: 'box' }, b: { protection: 'sdes', transport: 'tls', keys: 'box' } } },
      '`pbx status --json`: the caller\'s leg is dtls, the callee\'s sdes, the box keys both');
    t.match(view.legs.a.suite ?? '', /^SRTP_(AES128_CM_SHA1_(80|32)|AEAD_AES_(128|256)_GCM)$/, `the dtls leg shows its RFC 5764 profile (${view.legs.a.suite})`);
    t.match(text, /1001 -> 1002\t\S+\tbridged[^\t]*\ta 1001\/TLS DTLS SRTP_\S+ \(box keys\); b 1002\/TLS SDES/, '`pbx status` text shows each leg\'s protection');
    const rec = records<CallView & { endReason: string }>(data).at(-1);
    t.match(rec, { mode: 'bridge', legs: { a: { protection: 'dtls' }, b: { protection: 'sdes' } } }, 'the call record too');

    const all = frames(pcap);
    const aLeg = all.filter((f) => (inBox(f.dst) && inRange(f.src, A.rtp)) || (inBox(f.src) && inRange(f.dst, A.rtp)));
    const bLeg = all.filter((f) => (inBox(f.dst) && inRange(f.src, B.rtp)) || (inBox(f.src) && inRange(f.dst, B.rtp)));
    const kinds = aLeg.map((f) => kindOf(f.bytes));
    const firstDtls = kinds.indexOf('dtls');
    const firstRtp = kinds.indexOf('rtp');
    t.ok(firstDtls >= 0 && firstRtp > firstDtls, `DTLS (leg packet ${firstDtls}) before the first SRTP (leg packet ${firstRtp}) on the dtls leg`);
    const boxPort = aLeg.find((f) => kindOf(f.bytes) === 'dtls' && inBox(f.dst))?.dst ?? 0;
    const types = handshakeTypes(pcap, boxPort);
    t.ok([1, 2, 11, 12, 16].every((x) => types.has(x)), `tshark decodes the DTLS handshake on the dtls leg (types ${[...types].join(',')})`);
    // The box's handshake flights go to the phone's RTP port (one association, rtcp-mux).
    const lastBoxDtls = Math.max(...aLeg.filter((f) => kindOf(f.bytes) === 'dtls' && inBox(f.src)).map((f) => f.n));
    const aRtp = aLeg.filter((f) => kindOf(f.bytes) === 'rtp' && (f.bytes[1]! & 0x7f) === 0);
    t.ok(aRtp.length > (TALK_MS / 20) * 2 * 0.6, `SRTP both ways on the dtls leg (${aRtp.length} packets)`);
    t.ok(aRtp.every((f) => f.bytes.length > PLAIN_RTP), `every audio packet on the dtls leg carries an SRTP tag (sizes ${[...new Set(aRtp.map((f) => f.bytes.length))].join(',')})`);
    t.equal(aRtp.filter((f) => inBox(f.src) && f.n < lastBoxDtls).length, 0, 'the box sends SRTP only after its last handshake flight');
    const h = entropy(aRtp.map((f) => f.bytes.subarray(12, PLAIN_RTP)));
    t.ok(h > 7.5, `dtls leg payload entropy ${h.toFixed(2)} bits/byte: ciphertext`);
    const bRtp = bLeg.filter((f) => kindOf(f.bytes) === 'rtp');
    t.equal(bLeg.filter((f) => kindOf(f.bytes) === 'dtls').length, 0, 'no DTLS on the SDES leg');
    t.ok(bRtp.length > (TALK_MS / 20) * 2 * 0.6 && bRtp.every((f) => f.bytes.length > PLAIN_RTP), `SRTP on the SDES leg (${bRtp.length} packets)`);
    const seen = new Set(aRtp.map((f) => f.bytes.subarray(12).toString('hex')));
    t.notOk(bRtp.some((f) => seen.has(f.bytes.subarray(12).toString('hex'))), 'no packet crosses unchanged: each leg has its own keys');
  });

  /** 1001 (baresip dtls_srtp) calls 1003 (linphonec dtls); returns what was seen. */
  const callLinphone = async (t: Asserts, name: string): Promise<{ view: CallView; later: CallView | undefined; pcap: string; lpSdpFrom: number }> => {
    const beforeA = wavsNow(a.dir);
    const pcap = join(work, `${name}.pcap`);
    const lpRecord = join(work, `linphonec-${name}.wav`);
    const lpLogAt = existsSync(join(lpDir, 'debug.log')) ? readFileSync(join(lpDir, 'debug.log'), 'utf8').length : 0;
    const capture = await startCapture(pcap, `udp and portrange ${BOX_RTP.min}-${BOX_RTP.max}`, join(work, `tshark-${name}.log`));
    t.ok((await a.ctrl.dial(`sip:${C.ext}@127.0.0.1:${info.ports.sipTls};transport=tls`)).ok, 'dial accepted');
    await waitState(a.ctrl, '1001: established', established, 20_000);
    const view = await liveCall();
    t.comment(`pbx status: ${JSON.stringify(view)}`);
    await sleep(1000);
    lpSay(`record ${lpRecord}`);
    await sleep(TALK_MS);
    // Once more, for the suites the handshakes settled (a slow `pbx status` on a loaded machine is not the box's fault).
    let later: CallView | undefined;
    try { later = ((boxStatus(data).calls ?? []) as CallView[])[0]; } catch (e) { t.comment(`pbx status: ${(e as Error).message}`); }
    t.comment(`pbx status later: ${JSON.stringify(later)}`);
    t.ok((await a.ctrl.hangup()).ok, 'caller hangs up');
    await waitState(a.ctrl, '1001: call gone', none);
    await sleep(1000);
    await capture.stop();
    assertHeard(t, 'caller (baresip dtls_srtp)', a.dir, beforeA, C.tone, TALK_MS / 1000);
    t.ok(existsSync(lpRecord), 'linphonec recorded the call');
    if (existsSync(lpRecord)) {
      const heard = analyseTone(parseWav(readFileSync(lpRecord)));
      t.comment(`linphonec heard ${JSON.stringify(heard)}`);
      t.ok(Math.abs(heard.frequency - A.tone) <= TONE_TOLERANCE_HZ, `linphonec hears ${A.tone} Hz (found ${heard.frequency.toFixed(1)})`);
      t.ok(heard.rms >= MIN_TONE_RMS, `at a real level (RMS ${heard.rms.toFixed(0)})`);
    }
    return { view, later, pcap, lpSdpFrom: lpLogAt };
  };

  if (lp) await t.test('baresip dtls_srtp to linphonec dtls under forced_relay: the phones\' own DTLS end to end, relayed untouched', async (t) => {
    cli('account', 'set', A.ext, '--policy', 'private');
    const r = await callLinphone(t, 'relay');
    t.match(r.view, { mode: 'relay', recordingPossible: false, legs: { a: { protection: 'dtls', keys: 'end-to-end' }, b: { protection: 'dtls', keys: 'end-to-end' } } },
      'relayed: both legs dtls, keys end to end, no recording possible');
    const lpLog = readFileSync(join(lpDir, 'debug.log'), 'utf8').slice(r.lpSdpFrom);
    t.match((lp?.output() ?? '') + lpLog, /DTLS|dtls/i, 'linphonec ran DTLS');
    const all = frames(r.pcap);
    const aLeg = all.filter((f) => inRange(f.src, A.rtp) || inRange(f.dst, A.rtp));
    const cLeg = all.filter((f) => isLp(f.src) || isLp(f.dst));
    const aBox = aLeg.find((f) => inBox(f.dst))?.dst ?? 0;
    const cBox = cLeg.find((f) => inBox(f.dst) && f.src === C.rtp)?.dst ?? cLeg.find((f) => inBox(f.src) && f.dst === C.rtp)?.src ?? 0;
    const certsA = certificatesOn(r.pcap, aBox);
    const certsC = certificatesOn(r.pcap, cBox);
    const fromA = certsA.filter((c) => { const f = all.find((x) => x.n === c.n); return f !== undefined && inRange(f.src, A.rtp); });
    const toA = certsA.filter((c) => { const f = all.find((x) => x.n === c.n); return f !== undefined && inRange(f.dst, A.rtp); });
    const fromC = certsC.filter((c) => { const f = all.find((x) => x.n === c.n); return f !== undefined && isLp(f.src); });
    const toC = certsC.filter((c) => { const f = all.find((x) => x.n === c.n); return f !== undefined && isLp(f.dst); });
    t.ok(fromA.length > 0 && fromC.length > 0, `each phone sent its certificate (${fromA.length}, ${fromC.length})`);
    const fpA = fromA[0] ? sha256Fingerprint(fromA[0].der) : '';
    const fpC = fromC[0] ? sha256Fingerprint(fromC[0].der) : '';
    t.not(fpA, fpC, 'two different certificates');
    t.ok(toC.length > 0 && toC.every((c) => sha256Fingerprint(c.der) === fpA), 'the certificate linphonec received is baresip\'s');
    t.ok(toA.length > 0 && toA.every((c) => sha256Fingerprint(c.der) === fpC), 'the certificate baresip received is linphonec\'s');
    const lpFps = fingerprintsIn(lpLog);
    t.comment(`fingerprints in linphonec's SIP: ${[...lpFps].join(' ')}`);
    t.ok(lpFps.has(fpA), 'baresip\'s certificate hashes to the a=fingerprint linphonec got in its SDP: it checked baresip, not the box');
    t.ok(lpFps.has(fpC), 'and linphonec sent its own');
    t.equal(lpFps.size, 2, 'no third fingerprint (the box\'s) reached linphonec');
    // Byte for byte: every DTLS datagram the box sent a phone is one the other phone sent it.
    const dtlsFromPhones = new Set(all.filter((f) => !inBox(f.src) && kindOf(f.bytes) === 'dtls').map((f) => f.bytes.toString('hex')));
    const dtlsToPhones = all.filter((f) => inBox(f.src) && kindOf(f.bytes) === 'dtls');
    t.ok(dtlsToPhones.length > 0 && dtlsToPhones.every((f) => dtlsFromPhones.has(f.bytes.toString('hex'))),
      `the box forwarded the DTLS handshake untouched (${dtlsToPhones.length} datagrams), never one of its own`);
    const srtpA = aLeg.filter((f) => inRange(f.src, A.rtp) && kindOf(f.bytes) === 'rtp');
    const relayed = new Set(cLeg.filter((f) => inBox(f.src) && kindOf(f.bytes) === 'rtp').map((f) => f.bytes.toString('hex')));
    const same = srtpA.filter((f) => relayed.has(f.bytes.toString('hex'))).length;
    t.ok(srtpA.length > 50 && same >= srtpA.length * 0.9, `${same} of ${srtpA.length} of baresip's SRTP packets reach linphonec byte for byte`);
    t.ok(srtpA.every((f) => f.bytes.length > PLAIN_RTP), 'and they are SRTP (tagged)');
  });

  if (lp) await t.test('baresip dtls_srtp to linphonec dtls under a decrypting policy: the box terminates DTLS on both legs, bridged', async (t) => {
    cli('account', 'set', A.ext, '--policy', 'dtls-bridge');
    const r = await callLinphone(t, 'bridge');
    t.match(r.view, { mode: 'bridge', legs: { a: { protection: 'dtls', keys: 'box' }, b: { protection: 'dtls', keys: 'box' } } }, 'bridged: dtls on both legs, the box keys both');
    t.match(r.later?.legs.b?.suite ?? '', /^SRTP_/, `linphonec's leg shows its profile (${r.later?.legs.b?.suite})`);
    const lpLog = readFileSync(join(lpDir, 'debug.log'), 'utf8').slice(r.lpSdpFrom);
    const all = frames(r.pcap);
    const aLeg = all.filter((f) => inRange(f.src, A.rtp) || inRange(f.dst, A.rtp));
    const cLeg = all.filter((f) => isLp(f.src) || isLp(f.dst));
    const aBox = aLeg.find((f) => inBox(f.dst))?.dst ?? 0;
    const cBox = cLeg.find((f) => inBox(f.src) && f.dst === C.rtp)?.src ?? 0;
    const toA = certificatesOn(r.pcap, aBox).filter((c) => inRange(all.find((x) => x.n === c.n)?.dst ?? 0, A.rtp));
    const toC = certificatesOn(r.pcap, cBox).filter((c) => isLp(all.find((x) => x.n === c.n)?.dst ?? 0));
    t.ok(toA.length > 0 && toC.length > 0, 'the box sent a certificate to each phone');
    const boxFp = toA[0] ? sha256Fingerprint(toA[0].der) : '';
    t.ok(toC.every((c) => sha256Fingerprint(c.der) === boxFp), 'the same one (the box\'s) to both');
    t.ok(fingerprintsIn(lpLog).has(boxFp), 'and it is the a=fingerprint linphonec got from the box');
    const cRtp = cLeg.filter((f) => kindOf(f.bytes) === 'rtp' && (f.bytes[1]! & 0x7f) === 0);
    t.ok(cRtp.length > 50 && cRtp.every((f) => f.bytes.length > PLAIN_RTP), `SRTP on linphonec's leg (${cRtp.length})`);
    const seen = new Set(aLeg.filter((f) => kindOf(f.bytes) === 'rtp').map((f) => f.bytes.subarray(12).toString('hex')));
    t.notOk(cRtp.some((f) => seen.has(f.bytes.subarray(12).toString('hex'))), 'no packet crosses unchanged: each leg has its own keys');
  });

  await t.test('the box is idle afterwards', async (t) => {
    const s = await waitFor('no call and no media session', () => {
      const x = boxStatus(data);
      return (x.calls ?? []).length === 0 && x.media?.sessions === 0 && x.media.portsInUse === 0 ? x : undefined;
    }, 8_000, 250).catch(() => boxStatus(data));
    t.same(s.calls ?? [], []);
    t.equal(s.media?.portsInUse, 0);
    const c = { ...s.counters, ...s.media?.counters };
    t.comment(`DTLS counters: ${JSON.stringify(Object.fromEntries(Object.entries(c).filter(([k]) => /dtls/.test(k))))}`);
  });

  t.teardown(() => { t.comment(`dtls ${part} ran ${((Date.now() - started) / 1000).toFixed(1)} s`); });
}

/** Run one part in this process's test file: the box and the clients in `unshare -n`. */
export async function runDtlsCalls(part: Part): Promise<void> {
  if (reexecInNetns()) return;
  const missing = ['baresip', 'tshark', 'sox', ...(part === 'linphone' ? ['linphonec'] : [])].filter((c) => !have(c));
  if (missing.length) t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  else await main(part);
}
