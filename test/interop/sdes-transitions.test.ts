import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, startCapture, tmpDir, tsharkFields, waitFor, type Proc } from './harness.js';
import { sippRegister, startSippEarly } from './sipp-early.js';
import { holdsPassThrough, pbxOk, startBox } from './box.js';
import { startLinphonec } from './clients.js';
import { dominantFrequency, rms } from './audio.js';
import {
  MIN_TONE_RMS, TONE_TOLERANCE_HZ, established, none, sleep, startPhone, stopPhone, toneFile, waitState,
  type PhoneSpec, type RunningPhone,
} from './call-harness.js';
import { SrtpOpener, linphoneSip, rtcpAuthentic, session, ulawToPcm, type SdesKey, type Session } from './srtp-wire.js';

/*
 * Whether the box ever sends an unprotected packet to an SDES leg, over a
 * whole call's life. 1001 is linphonec with SDES mandatory over TLS (the SDES
 * leg); 1002 is baresip with plain RTP over UDP; the "decrypted" policy makes
 * the box decrypt and re-encrypt. tshark captures every datagram to or from
 * the box's media ports from before the first INVITE until after the BYE,
 * through these phases:
 *   setup     INVITE, ringing (1002 answers 183 with SDP), answer, talk
 *   plainHold 1002 holds (its re-INVITE, the box's re-INVITE to 1001), resumes, talk
 *   sdesHold  1001 pauses and resumes (its own re-INVITEs, keys kept), talk
 *   rekey     1001 is told keep_srtp_keys=0, so its next re-INVITEs carry fresh
 *             a=crypto keys (linphonec has no bare re-INVITE command: a
 *             pause/resume round is how it re-offers), talk
 *   teardown  the last 0.5 s of talk, 1002 hangs up (BYE), and 1.5 s after
 * Every datagram the box sends 1001 must be SRTP that authenticates under a
 * key the box gave 1001 in SDP (checked here with Node's AES and HMAC, not
 * the box's code), or SRTCP likewise, or STUN; never plain RTP. After each
 * resume and after the rekey, what the box sends each side carries the other
 * side's tone (1002's decoded in the clear, 1001's decrypted), and 1001's own
 * packets show it switched to its new key.
 * baresip sends no RTP before its 200 OK, so a second call covers early media
 * toward the SDES leg: sipp as 1003 (plain, UDP) answers 183 with SDP and
 * plays PCMU at the box for 1.2 s before its 200 OK; 1001 hangs up.
 */

const BOX_RTP = { min: 43000, max: 43099 };
const LP = { ext: '1001', pass: 'alice-secret', tls: 37040, rtp: 37300, tone: 1000 };
const B: PhoneSpec = { ext: '1002', pass: 'bob-secret', sip: 37010, ctrl: 37110, rtp: '37100-37199', tone: 600 };
const SIPP = { ext: '1003', pass: 'carol-secret', sip: 37020, rtp: 37400 };
const RING_MS = 1000;
const EARLY_MS = 1200;
const TALK_MS = 1500;
const HOLD_MS = 800;
const AFTER_BYE_MS = 1500;
const PLAIN_RTP = 172;
/** Skip this much after a resume before judging the tone (streams restart). */
const SETTLE_MS = 300;
/** A tone window must hold at least this much audio. */
const MIN_TONE_S = 0.8;
/** The teardown phase starts this long before the BYE, so it holds the last media of the call. */
const TEARDOWN_LEAD_MS = 500;
/** After both phones report the call gone, the box must be silent toward the SDES leg after this. */
const QUIET_AFTER_MS = 200;
const PHASES = ['setup', 'plainHold', 'sdesHold', 'rekey', 'teardown'] as const;
type Phase = typeof PHASES[number];

/** A UDP datagram; `pt` is tshark's RTP payload type where it decoded one (1001's RTP port is decoded as RTP). */
interface Frame { time: number; sport: number; dport: number; bytes: Buffer; pt: string }
type Kind = 'srtp' | 'srtcp' | 'stun' | 'plain-rtp' | 'unauthenticated';

if (!reexecInNetns()) {
  const missing = ['baresip', 'linphonec', 'sipp', 'tshark', 'sox'].filter((c) => !have(c));
  if (missing.length) t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  else await main();
}

const inBox = (p: number): boolean => p >= BOX_RTP.min && p <= BOX_RTP.max;
const inB = (p: number): boolean => p >= 37100 && p <= 37199;
const isStun = (b: Buffer): boolean => b.length >= 20 && b.readUInt32BE(4) === 0x2112a442;
const isRtcp = (b: Buffer): boolean => b.length >= 8 && b[0]! >> 6 === 2 && b[1]! >= 200 && b[1]! <= 204;

const between = (xs: ReadonlyArray<{ time: number }>, from: number, to: number): number => xs.filter((x) => x.time >= from && x.time < to).length;
const isPcmu = (b: Buffer): boolean => b.length >= 12 && b[0]! >> 6 === 2 && (b[1]! & 0x7f) === 0;
const uniqueKeys = (keys: readonly SdesKey[]): SdesKey[] => [...new Map(keys.map((k) => [k.inline, k])).values()];

type ToneAsserts = Pick<typeof t, 'ok' | 'comment'>;
function assertTone(t: ToneAsserts, what: string, tone: ReturnType<typeof toneIn>, hz: number, minSeconds = MIN_TONE_S): void {
  t.ok(tone.seconds >= minSeconds && Math.abs(tone.frequency - hz) <= TONE_TOLERANCE_HZ && tone.rms >= MIN_TONE_RMS && tone.peakShare > 0.9,
    `${what}: ${hz} Hz expected, found ${tone.frequency.toFixed(1)} Hz at RMS ${tone.rms.toFixed(0)} over ${tone.seconds.toFixed(2)} s (${(tone.peakShare * 100).toFixed(0)}% at the peak)`);
}

function udpFrames(pcap: string): Frame[] {
  return tsharkFields(pcap, 'udp', ['frame.time_epoch', 'udp.srcport', 'udp.dstport', 'udp.payload', 'rtp.p_type'],
    ['-d', `udp.port==${LP.rtp},rtp`, '-d', `udp.port==${LP.rtp + 1},rtcp`]).map((l) => {
    const [time, s, d, hex, pt] = l.split('\t');
    return { time: Number(time) * 1000, sport: Number(s), dport: Number(d), bytes: Buffer.from((hex ?? '').replace(/:/g, ''), 'hex'), pt: pt ?? '' };
  });
}

/** The tone in a run of 20 ms PCMU payloads, in sequence order. */
function toneIn(payloads: readonly Buffer[]): { frequency: number; peakShare: number; rms: number; seconds: number } {
  const pcm = ulawToPcm(Buffer.concat(payloads));
  if (pcm.length < 512) return { frequency: 0, peakShare: 0, rms: 0, seconds: pcm.length / 8000 };
  return { ...dominantFrequency(pcm, 8000), rms: rms(pcm), seconds: pcm.length / 8000 };
}

async function main(): Promise<void> {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'pbx-sdes-life-'));
  const data = join(work, 'data');
  const cli = pbxOk(data);
  cli('account', 'add', LP.ext, '--password', LP.pass);
  cli('account', 'add', B.ext, '--password', B.pass);
  cli('policy', 'add', 'decrypted', '--caller', 'decrypt', '--callee', 'decrypted');
  cli('account', 'set', LP.ext, '--policy', 'decrypted');
  cli('account', 'set', B.ext, '--policy', 'decrypted');
  cli('account', 'add', SIPP.ext, '--password', SIPP.pass);
  cli('account', 'set', SIPP.ext, '--policy', 'decrypted');

  // The holds here must reach the other phone ("paused by the box"), each leg re-keyed: the box's music off.
  holdsPassThrough(data);
  const { proc: box, info } = await startBox(data, 120, ['--rtp-ports', `${BOX_RTP.min}-${BOX_RTP.max}`]);
  t.teardown(() => box.stop());
  t.comment(`box SIP/UDP ${info.ports.sipUdp}, TLS ${info.ports.sipTls}; work dir ${work}`);

  const lpDir = join(work, 'linphonec');
  const lp: Proc = startLinphonec(lpDir, {
    tlsPort: LP.tls, boxTlsPort: info.ports.sipTls, user: LP.ext, password: LP.pass, realm: 'pbx.local', rootCa: info.caPath, timeoutSec: 90,
    sipExtra: ['media_encryption=srtp', 'media_encryption_mandatory=1', 'keep_srtp_keys=1'],
    extraRc: [
      '[rtp]', `audio_rtp_port=${LP.rtp}`, '',
      '[sound]', 'echocancellation=0', '',
      '[audio_codec_0]', 'mime=PCMU', 'rate=8000', 'channels=1', 'enabled=1', '',
    ],
  });
  t.teardown(async () => { lp.child.stdin?.end('quit\n'); await Promise.race([lp.exited, sleep(2000)]); await lp.stop(); });
  const lpSay = (line: string): void => { lp.child.stdin?.write(`${line}\n`); };
  const lpCount = (re: RegExp): number => (lp.output().match(new RegExp(re.source, 'g')) ?? []).length;
  const lpWait = (what: string, re: RegExp, n: number, ms = 10_000): Promise<number> =>
    waitFor(`linphonec: ${what}`, () => { const c = lpCount(re); return c >= n ? c : undefined; }, ms, 100);

  let b: RunningPhone | undefined;
  t.teardown(async () => { if (b) await stopPhone(b); });
  b = await startPhone(work, B, { account: `<sip:${B.ext}@127.0.0.1:${info.ports.sipUdp}>`, answermode: 'early', timeoutSec: 90 });
  const bp = b;
  await waitFor('1001 (TLS) and 1002 (UDP) to register', () => {
    const regs = (JSON.parse(cli('status', '--json')) as { registrations: Array<{ extension: string; transport: string }> }).registrations;
    const by = new Map(regs.map((r) => [r.extension, r.transport]));
    return by.get(LP.ext) === 'tls' && by.get(B.ext) === 'udp';
  }, 25_000, 200);
  lpSay('soundcard use files');
  lpSay(`play ${toneFile(work, LP.tone)}`);

  const pcap = join(work, 'life.pcap');
  const capture = await startCapture(pcap, `udp and (portrange ${BOX_RTP.min}-${BOX_RTP.max} or portrange ${LP.rtp}-${LP.rtp + 1})`, join(work, 'tshark.log'));
  const marks: Record<string, number> = {};
  const mark = (name: string): void => { marks[name] = Date.now(); };
  t.teardown(async () => { await capture.stop(); });
  /** Printed each time the call's streams (re)start: answer, and each resume either way. */
  const CONNECTED = /Media streams established with \S+ for call \d+/;
  const PAUSED_BY = /Call \d+ has been paused by/;
  const PAUSED = /Call \d+ with \S+ is now paused\./;

  t.test('the wire checker derives RFC 3711 B.3\'s session keys', async (t) => {
    const master = Buffer.from('E1F97A0D3E018BE0D64FA32C06DE41390EC675AD498AFEEBB6960B3AABE6', 'hex');
    const s = session({ suite: 'AES_CM_128_HMAC_SHA1_80', inline: master.toString('base64') });
    t.equal(s?.rtp.encKey.toString('hex'), 'c61e7a93744f39ee10734afe3ff7a087', 'cipher key');
    t.equal(s?.rtp.salt.toString('hex'), '30cbbc08863d8c85d49db34a9ae1', 'cipher salt');
    t.equal(s?.rtp.authKey.toString('hex'), 'cebe321f6ff7716b6fd4ab49af256a156d38baa4', 'auth key');
  });

  t.test('a whole call: setup, hold from each side, rekey, teardown', async (t) => {
    mark('setup');
    lpSay(`call sip:${B.ext}@127.0.0.1:${info.ports.sipTls};transport=tls`);
    await waitState(bp.ctrl, `${B.ext}: ringing`, (x) => x.length > 0);
    await lpWait('early media', /Call \d+ with \S+ early media\./, 1);
    mark('early');
    await sleep(RING_MS);
    mark('accept');
    t.ok((await bp.ctrl.accept()).ok, `${B.ext} answers after ringing`);
    await waitState(bp.ctrl, `${B.ext}: established`, established);
    let connected = await lpWait('connected', CONNECTED, 1);
    mark('answered');
    await sleep(TALK_MS);

    mark('plainHold');
    t.ok((await bp.ctrl.command('hold')).ok, `${B.ext} holds`);
    await lpWait('paused by the box', PAUSED_BY, 1);
    await sleep(HOLD_MS);
    mark('plainResume');
    t.ok((await bp.ctrl.command('resume')).ok, `${B.ext} resumes`);
    connected = await lpWait('resumed by the box', CONNECTED, connected + 1);
    mark('plainResumed');
    await sleep(TALK_MS);

    mark('sdesHold');
    lpSay('pause');
    await lpWait('paused', PAUSED, 1);
    await sleep(HOLD_MS);
    mark('sdesResume');
    lpSay('resume');
    connected = await lpWait('resumed', CONNECTED, connected + 1);
    mark('sdesResumed');
    await sleep(TALK_MS);

    mark('rekey');
    lpSay('param sip keep_srtp_keys 0');
    lpSay('pause');
    await lpWait('paused for the rekey', PAUSED, 2);
    await sleep(HOLD_MS / 2);
    lpSay('resume');
    connected = await lpWait('resumed with new keys', CONNECTED, connected + 1);
    mark('rekeyed');
    await sleep(TALK_MS);

    mark('teardown');
    t.ok((await bp.ctrl.hangup()).ok, `${B.ext} hangs up`);
    await waitState(bp.ctrl, `${B.ext}: call gone`, none);
    await lpWait('call ended', /Call \d+ with \S+ ended/, 1);
    mark('gone');
    await sleep(AFTER_BYE_MS);
    await capture.stop();
    mark('end');
  });

  t.test('the wire toward the SDES leg: SRTP under the keys the box signalled, in every phase', async (t) => {
    const sip = linphoneSip(readFileSync(join(lpDir, 'debug.log'), 'utf8'));
    const boxKeys = uniqueKeys(sip.filter((m) => m.dir === 'received').flatMap((m) => m.keys));
    const lpKeys = uniqueKeys(sip.filter((m) => m.dir === 'sent').flatMap((m) => m.keys));
    t.ok(boxKeys.length >= 1, `the box gave 1001 ${boxKeys.length} SDES key(s) in SDP`);
    const boxSessions = boxKeys.map(session).filter((s): s is Session => s !== undefined);
    t.equal(boxSessions.length, boxKeys.length, 'each of them a suite and key length this check knows');

    // The rekey: linphonec's offers after keep_srtp_keys=0 carry keys none of its earlier messages had.
    const offers = sip.filter((m) => m.dir === 'sent' && m.startLine.startsWith('INVITE ') && m.keys.length > 0);
    t.comment(`1001's INVITEs with a=crypto: ${offers.length}; distinct keys it sent: ${lpKeys.length}; the box's: ${boxKeys.length}`);
    const last = offers[offers.length - 1];
    const earlier = new Set(sip.slice(0, last ? sip.indexOf(last) : 0).filter((m) => m.dir === 'sent').flatMap((m) => m.keys.map((k) => k.inline)));
    t.ok(offers.length >= 5, `1001 sent its first INVITE and four re-INVITEs, all with a=crypto (${offers.length})`);
    t.ok(last && last.keys.every((k) => !earlier.has(k.inline)), 'its last re-INVITE (the resume after keep_srtp_keys=0) carries only new keys: a rekey');

    const frames = udpFrames(pcap);
    const toLp = frames.filter((f) => f.dport === LP.rtp || f.dport === LP.rtp + 1);
    const fromBox = toLp.filter((f) => inBox(f.sport));
    t.equal(toLp.length - fromBox.length, 0, 'nothing but the box sends to the SDES phone\'s media ports');
    const opener = new SrtpOpener(boxSessions);
    const phaseOf = (ms: number): Phase | 'before' => {
      let p: Phase | 'before' = 'before';
      for (const name of PHASES) if (ms >= marks[name]! - (name === 'teardown' ? TEARDOWN_LEAD_MS : 0)) p = name;
      return p;
    };
    const counts = new Map<string, number>();
    const count = (k: string): number => counts.get(k) ?? 0;
    const toLpAudio: Array<{ time: number; seq: number; payload: Buffer }> = [];
    const byKey = new Map<string, number>();
    for (const f of fromBox) {
      let kind: Kind;
      if (isStun(f.bytes)) kind = 'stun';
      else if (isRtcp(f.bytes)) kind = boxSessions.some((s) => rtcpAuthentic(s, f.bytes)) ? 'srtcp' : 'unauthenticated';
      else {
        const o = opener.open(f.bytes);
        if (o) {
          kind = 'srtp';
          toLpAudio.push({ time: f.time, seq: f.bytes.readUInt16BE(2), payload: o.payload });
          const k = `${phaseOf(f.time)} key${boxKeys.indexOf(o.key) + 1}`;
          byKey.set(k, (byKey.get(k) ?? 0) + 1);
        } else kind = f.bytes.length === PLAIN_RTP && f.bytes[0]! >> 6 === 2 ? 'plain-rtp' : 'unauthenticated';
      }
      counts.set(`${phaseOf(f.time)}.${kind}`, count(`${phaseOf(f.time)}.${kind}`) + 1);
      counts.set(kind, count(kind) + 1);
    }
    t.comment(`box -> 1001 by phase and kind: ${JSON.stringify(Object.fromEntries([...counts].filter(([k]) => k.includes('.'))))}`);
    t.comment(`SRTP by phase and the box key it authenticates under: ${JSON.stringify(Object.fromEntries(byKey))}`);
    t.comment(`phase marks (ms from the first INVITE): ${JSON.stringify(Object.fromEntries(Object.entries(marks).map(([k, v]) => [k, v - marks.setup!])))}`);
    // Controls: the check refuses what it must refuse.
    const sample = fromBox.find((f) => f.dport === LP.rtp && !isStun(f.bytes));
    const tampered = sample ? Buffer.from(sample.bytes) : Buffer.alloc(0);
    if (tampered.length > 40) tampered[40]! ^= 0x01;
    t.notOk(new SrtpOpener(boxSessions).open(tampered), 'control: a copy with one payload bit flipped does not authenticate');
    const plainSample = frames.find((f) => inB(f.sport) && inBox(f.dport) && isPcmu(f.bytes));
    t.notOk(plainSample && new SrtpOpener(boxSessions).open(plainSample.bytes), 'control: a plain RTP packet from 1002 does not pass as SRTP');
    t.equal(count('plain-rtp'), 0, 'no plain RTP packet ever went to the SDES leg');
    t.equal(count('unauthenticated'), 0, 'every RTP/RTCP packet to it authenticates under a key the box signalled');
    t.equal(count('before'), 0, 'nothing before the call');
    const tsharkRtp = fromBox.filter((f) => f.dport === LP.rtp && !isStun(f.bytes) && f.pt === '0').length;
    t.equal(tsharkRtp, count('srtp'), `tshark's RTP dissector sees the same ${tsharkRtp} PCMU packets toward 1001 that authenticate here`);
    for (const p of PHASES) t.ok(count(`${p}.srtp`) > 0, `${p}: ${count(`${p}.srtp`)} SRTP packets to the SDES leg (the check is not vacuous)`);
    t.comment(`while 1002 rang: SRTP to 1001 ${between(toLpAudio, marks.setup!, marks.accept!)}, RTP from 1002 ${between(frames.filter((f) => inB(f.sport) && inBox(f.dport)), marks.setup!, marks.accept!)}, RTP from 1001 to 1002 ${between(frames.filter((f) => inBox(f.sport) && inB(f.dport)), marks.setup!, marks.accept!)}`);
    t.comment(`SRTCP to 1001: ${count('srtcp')}, STUN: ${count('stun')}; SRTP while 1002 held: ${between(toLpAudio, marks.plainHold!, marks.plainResume!)}, while 1001 held: ${between(toLpAudio, marks.sdesHold!, marks.sdesResume!)}; from the BYE to the call's end: ${between(fromBox, marks.teardown!, marks.gone!)}`);
    const late = fromBox.filter((f) => f.time > marks.gone! + QUIET_AFTER_MS).length;
    t.equal(late, 0, `nothing to the SDES leg from ${QUIET_AFTER_MS} ms after the call ended until ${AFTER_BYE_MS} ms later`);

    // 1001 really switched keys: before the rekey it sends under a key of its first INVITE, after it under one of its last re-INVITE only.
    const firstOffer = offers[0]?.keys.map((k) => k.inline) ?? [];
    const lastOffer = last?.keys.map((k) => k.inline) ?? [];
    const lpOpener = new SrtpOpener(lpKeys.map(session).filter((s): s is Session => s !== undefined));
    const fromLp = frames.filter((f) => f.sport === LP.rtp && inBox(f.dport) && !isStun(f.bytes) && !isRtcp(f.bytes))
      .map((f) => ({ time: f.time, key: lpOpener.open(f.bytes)?.key.inline }));
    const beforeRekey = fromLp.filter((f) => f.time < marks.rekey!);
    const afterRekey = fromLp.filter((f) => f.time >= marks.rekeyed! + SETTLE_MS);
    t.ok(beforeRekey.length > 0 && beforeRekey.every((f) => f.key !== undefined && firstOffer.includes(f.key)),
      `before the rekey all ${beforeRekey.length} packets from 1001 use a key of its first offer`);
    t.ok(afterRekey.length > 0 && afterRekey.every((f) => f.key !== undefined && lastOffer.includes(f.key)),
      `after it all ${afterRekey.length} use a new key of its last re-INVITE, and the box decodes them (below)`);

    // The plain side's clear audio is what the box encrypts for 1001, and it never shows on 1001's wire.
    const fromB = frames.filter((f) => inB(f.sport) && inBox(f.dport) && isPcmu(f.bytes)).map((f) => f.bytes.subarray(12));
    const clear = new Set(fromB.map((b) => b.toString('hex')));
    const same = toLpAudio.filter((a) => clear.has(a.payload.toString('hex'))).length;
    t.ok(same >= toLpAudio.length * 0.9, `${same} of ${toLpAudio.length} decrypted payloads to 1001 are 1002's clear payloads, byte for byte`);
    const pattern = fromB[Math.floor(fromB.length / 2)]?.subarray(40, 56);
    t.ok(pattern && fromBox.every((f) => !f.bytes.includes(pattern)), 'a 16-byte run of 1002\'s clear tone never appears on the SDES leg');

    // Each side gets the other's tone after each resume and after the rekey.
    const toB = frames.filter((f) => inBox(f.sport) && inB(f.dport) && isPcmu(f.bytes));
    t.equal(toB.filter((f) => f.bytes.length !== PLAIN_RTP).length, 0, 'the plain leg carries plain 172-byte RTP');
    const windows: Array<[string, number, number]> = [
      ['after answer', marks.answered!, marks.plainHold!], ['after 1002 resumed', marks.plainResumed!, marks.sdesHold!],
      ['after 1001 resumed', marks.sdesResumed!, marks.rekey!], ['after the rekey', marks.rekeyed!, marks.teardown!],
    ];
    for (const [name, from, to] of windows) {
      const inWin = (ms: number): boolean => ms >= from + SETTLE_MS && ms < to;
      assertTone(t, `${name}, 1002 gets 1001's tone`, toneIn(toB.filter((f) => inWin(f.time)).map((f) => f.bytes.subarray(12))), LP.tone);
      assertTone(t, `${name}, 1001 gets 1002's tone (decrypted)`, toneIn(toLpAudio.filter((a) => inWin(a.time)).map((a) => a.payload)), B.tone);
    }
  });

  t.test('early media toward the SDES leg: a sipp callee plays RTP after its 183; the SDES phone gets SRTP only', async (t) => {
    const dir = tmpDir(work, 'sipp');
    // The early media is 1002's clear 600 Hz PCMU from the first call, as a classic pcap for sipp to replay.
    const earlyPcap = join(dir, 'early.pcap');
    const cut = spawnSync('tshark', ['-r', pcap, '-Y', `udp.srcport >= 37100 && udp.srcport <= 37199 && udp.dstport >= ${BOX_RTP.min} && udp.dstport <= ${BOX_RTP.max} && udp.length == ${PLAIN_RTP + 8}`,
      '-F', 'pcap', '-w', earlyPcap], { timeout: 30_000 });
    t.equal(cut.status, 0, 'a pcap of plain PCMU for sipp to play');
    const reg = sippRegister(dir, info.ports.sipUdp, SIPP.sip, SIPP.ext, SIPP.pass);
    t.equal(reg.status, 0, `sipp registers ${SIPP.ext}`);
    const uas = startSippEarly(dir, { port: SIPP.sip, mediaPort: SIPP.rtp, pcap: earlyPcap, earlyMs: EARLY_MS, timeoutSec: 30 });
    t.teardown(() => uas.stop());
    const pcap2 = join(work, 'early.pcap');
    const capture2 = await startCapture(pcap2, `udp and (portrange ${BOX_RTP.min}-${BOX_RTP.max} or portrange ${LP.rtp}-${LP.rtp + 1})`, join(work, 'tshark2.log'));
    t.teardown(async () => { await capture2.stop(); });
    const m: Record<string, number> = { start: Date.now() };
    const EARLY = /Call \d+ with \S+ early media\./;
    const ANSWERED = /Call \d+ with \S+ connected\./;
    const early0 = lpCount(EARLY);
    const answered0 = lpCount(ANSWERED);
    lpSay(`call sip:${SIPP.ext}@127.0.0.1:${info.ports.sipTls};transport=tls`);
    await lpWait('early media from 1003', EARLY, early0 + 1);
    m.early = Date.now();
    await lpWait('1003 answers', ANSWERED, answered0 + 1);
    m.answered = Date.now();
    await sleep(TALK_MS);
    lpSay('terminate');
    t.equal(await Promise.race([uas.exited, sleep(5000).then(() => 'timeout')]), 0, 'sipp got the BYE and ended its scenario');
    m.gone = Date.now();
    await sleep(AFTER_BYE_MS);
    await capture2.stop();

    const sip = linphoneSip(readFileSync(join(lpDir, 'debug.log'), 'utf8'));
    const boxSessions = uniqueKeys(sip.filter((x) => x.dir === 'received').flatMap((x) => x.keys)).map(session).filter((s): s is Session => s !== undefined);
    const frames = udpFrames(pcap2);
    const fromBox = frames.filter((f) => inBox(f.sport) && (f.dport === LP.rtp || f.dport === LP.rtp + 1) && !isStun(f.bytes));
    const opener = new SrtpOpener(boxSessions);
    const opened = fromBox.map((f) => ({ time: f.time, rtcp: isRtcp(f.bytes), ok: isRtcp(f.bytes) ? boxSessions.some((s) => rtcpAuthentic(s, f.bytes)) : opener.open(f.bytes) }));
    const bad = opened.filter((o) => !o.ok).length;
    const earlyAudio = opened.filter((o) => !o.rtcp && o.time >= m.early! && o.time < m.answered!);
    const payloads = earlyAudio.map((o) => (o.ok as { payload: Buffer }).payload);
    t.comment(`box -> 1001: ${fromBox.length} packets (SRTP during early media: ${earlyAudio.length}, after the answer: ${between(opened, m.answered!, m.gone!)}, after the BYE: ${between(opened, m.gone!, Date.now())}); phase marks ${JSON.stringify(Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v - m.start!])))}`);
    t.equal(bad, 0, 'every packet to the SDES leg authenticates under a key the box signalled (none plain)');
    t.ok(earlyAudio.length >= (EARLY_MS / 20) * 0.5, `${earlyAudio.length} SRTP packets of early media before the answer (not vacuous)`);
    const clear = new Set(frames.filter((f) => f.sport === SIPP.rtp && inBox(f.dport) && isPcmu(f.bytes)).map((f) => f.bytes.subarray(12).toString('hex')));
    t.ok(clear.size > 0 && payloads.every((p) => clear.has(p.toString('hex'))), 'they decrypt to the clear payloads sipp sent the box');
    assertTone(t, 'the early media 1001 gets is 1002\'s recorded tone', toneIn(payloads), B.tone, 0.5);
  });

  t.teardown(() => { t.comment(`sdes-transitions.test ran ${((Date.now() - started) / 1000).toFixed(1)} s`); });
}
