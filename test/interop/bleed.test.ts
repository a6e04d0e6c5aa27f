import t from 'tap';
import { writeFileSync, readFileSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, startCapture, startProc, tsharkFields, waitFor, type Proc } from './harness.js';
import { pbxOk, startBox } from './box.js';
import {
  TONE_TOLERANCE_HZ, assertHeard, boxStatus, entropy, established, newWavs, none, sleep, startPhone, stopPhone, toneOf, waitState, wavsNow,
  type PhoneSpec, type RunningPhone,
} from './call-harness.js';

/*
 * The RTP bleed (CVE-2017-14099 in Asterisk, and rtpengine before strict
 * source): from another address on the LAN, an attacker sprays plain RTP at
 * every even port of the box's media range, each port every 20 ms, hoping to
 * be the first to reach a new call's port and take its latch. The box's media
 * range is narrowed to 40 ports so the spray is as dense as the issue's
 * 25,000 packets/s over the full range. The attacker is a small Node UDP
 * sprayer bound to 127.0.0.2 (inside the namespace lo answers all of 127/8):
 * 172-byte PCMU packets carrying a 3000 Hz tone, and a count of every packet
 * that comes back.
 *   1. 1001 calls 1002 (both plain RTP over UDP); 1002 rings under the spray,
 *      then answers. The attacker receives nothing (its own count and tshark
 *      agree) and each party hears the other's tone, not 3000 Hz.
 *   2. 1003 (SDES over TLS) calls 1002 (plain) under a "decrypted" policy, the
 *      issue's "clear audio toward an SRTP leg before the callee answers":
 *      while 1002 rings the spray hits the callee-side port, and every packet
 *      the box ever sends 1003 is SRTP.
 */

const BOX_RTP = { min: 42000, max: 42039 };
const ATTACKER = '127.0.0.2';
const ATTACK_HZ = 3000;
const A: PhoneSpec = { ext: '1001', pass: 'alice-secret', sip: 35000, ctrl: 35100, rtp: '36000-36099', tone: 1000 };
const B: PhoneSpec = { ext: '1002', pass: 'bob-secret', sip: 35010, ctrl: 35110, rtp: '36100-36199', tone: 600 };
const C: PhoneSpec = { ext: '1003', pass: 'carol-secret', sip: 35020, ctrl: 35120, rtp: '36200-36299', tone: 1000 };
const RING_MS = 1500;
const TALK_MS = 3000;
/** RTP header (12) + 20 ms of PCMU (160). */
const PLAIN_RTP = 172;
const TAG: Readonly<Record<string, number>> = {
  AES_CM_128_HMAC_SHA1_80: 10, AES_CM_128_HMAC_SHA1_32: 4, AES_256_CM_HMAC_SHA1_80: 10, AES_256_CM_HMAC_SHA1_32: 4,
  AEAD_AES_128_GCM: 16, AEAD_AES_256_GCM: 16,
};
/** Refusals by which the engine keeps strangers out (firmware/media/api.ts LegStats.dropped). */
const REFUSALS = ['media.drop.no-remote', 'media.drop.foreign-host', 'media.drop.unexpected-source', 'media.drop.no-keys'];

/**
 * The attacker, run as its own process (`node sprayer.mjs BIND TARGET LO HI STATS`):
 * every 5 ms a quarter of the even ports, so each port gets a packet every
 * 20 ms, in sequence per port (one SSRC each) as a replaying attacker sends.
 * It writes what it sent and received to STATS every 200 ms and on SIGTERM.
 */
const SPRAYER = String.raw`
import dgram from 'node:dgram';
import { renameSync, writeFileSync } from 'node:fs';
const [bind, target, lo, hi, statsFile] = process.argv.slice(2);
const ports = [];
for (let p = Number(lo); p <= Number(hi); p++) if (p % 2 === 0) ports.push(p);
// G.711 mu-law (ITU-T G.711), a 3000 Hz tone at 8 kHz repeats every 8 samples, so one 160-sample payload serves every packet.
const ulaw = (x) => {
  let s = Math.round(x); const sign = s < 0 ? 0x80 : 0; if (sign) s = -s; if (s > 32635) s = 32635; s += 0x84;
  let exp = 7; for (let m = 0x4000; (s & m) === 0 && exp > 0; m >>= 1) exp--;
  return ~(sign | (exp << 4) | ((s >> (exp + 3)) & 0x0f)) & 0xff;
};
const payload = Buffer.alloc(160);
for (let i = 0; i < 160; i++) payload[i] = ulaw(16000 * Math.sin(2 * Math.PI * 3000 * i / 8000));
const state = ports.map((port, i) => ({ port, seq: 1000 * i, ssrc: 0xbad00000 + port }));
const stats = { sent: 0, received: 0, from: {}, errors: 0 };
const sock = dgram.createSocket('udp4');
sock.on('message', (m, r) => { stats.received++; const k = r.address + ':' + r.port; stats.from[k] = (stats.from[k] ?? 0) + 1; });
sock.on('error', () => { stats.errors++; });
// Written aside and renamed into place: the test reads the file while the sprayer runs, and a plain
// rewrite let it read an empty file once ('Unexpected end of JSON input' on a loaded machine).
const save = () => { writeFileSync(statsFile + '.tmp', JSON.stringify(stats)); renameSync(statsFile + '.tmp', statsFile); };
sock.bind(0, bind, () => {
  let group = 0;
  setInterval(() => {
    for (let i = group; i < state.length; i += 4) {
      const st = state[i];
      const pkt = Buffer.alloc(172);
      pkt[0] = 0x80; pkt[1] = 0;
      st.seq = (st.seq + 1) & 0xffff;
      pkt.writeUInt16BE(st.seq, 2);
      pkt.writeUInt32BE((st.seq * 160) >>> 0, 4);
      pkt.writeUInt32BE(st.ssrc >>> 0, 8);
      payload.copy(pkt, 12);
      sock.send(pkt, st.port, target, (e) => { if (e) stats.errors++; });
      stats.sent++;
    }
    group = (group + 1) % 4;
  }, 5);
  setInterval(save, 200);
});
process.on('SIGTERM', () => { save(); process.exit(0); });
`;

type Asserts = Pick<typeof t, 'ok' | 'equal' | 'comment'>;

interface SprayStats { sent: number; received: number; from: Record<string, number>; errors: number }

if (!reexecInNetns()) {
  const missing = ['baresip', 'tshark', 'sox'].filter((c) => !have(c));
  if (missing.length) t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  else await main();
}

interface Frame { src: string; dst: string; sport: number; dport: number; bytes: Buffer }

const inRange = (p: number, r: string): boolean => { const [lo, hi] = r.split('-').map(Number); return p >= lo! && p <= hi!; };
const inBox = (p: number): boolean => p >= BOX_RTP.min && p <= BOX_RTP.max;

function frames(pcap: string, filter: string): Frame[] {
  return tsharkFields(pcap, filter, ['ip.src', 'ip.dst', 'udp.srcport', 'udp.dstport', 'udp.payload']).map((l) => {
    const [src, dst, s, d, hex] = l.split('\t');
    return { src: src!, dst: dst!, sport: Number(s), dport: Number(d), bytes: Buffer.from((hex ?? '').replace(/:/g, ''), 'hex') };
  });
}

async function main(): Promise<void> {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'pbx-bleed-'));
  const data = join(work, 'data');
  const cli = pbxOk(data);
  for (const p of [A, B, C]) cli('account', 'add', p.ext, '--password', p.pass);
  cli('policy', 'add', 'decrypted', '--caller', 'decrypt', '--callee', 'decrypted');
  cli('account', 'set', B.ext, '--policy', 'decrypted');
  cli('account', 'set', C.ext, '--policy', 'decrypted');

  const { proc: box, info } = await startBox(data, 120, ['--rtp-ports', `${BOX_RTP.min}-${BOX_RTP.max}`]);
  t.teardown(() => box.stop());
  t.comment(`box SIP/UDP ${info.ports.sipUdp}, TLS ${info.ports.sipTls}, RTP ${BOX_RTP.min}-${BOX_RTP.max}; work dir ${work}`);
  const phones = new Map<PhoneSpec, RunningPhone>();
  t.teardown(async () => { for (const p of phones.values()) await stopPhone(p); });
  const udp = (p: PhoneSpec): string => `<sip:${p.ext}@127.0.0.1:${info.ports.sipUdp}>`;
  const [a, b, c] = await Promise.all([
    startPhone(work, A, { account: udp(A), answermode: 'manual', timeoutSec: 90 }),
    startPhone(work, B, { account: udp(B), answermode: 'manual', timeoutSec: 90 }),
    startPhone(work, C, {
      account: `<sip:${C.ext}@127.0.0.1:${info.ports.sipTls};transport=tls>`, answermode: 'manual', timeoutSec: 90,
      accountParams: ';mediaenc=srtp-mand', preAccountModules: ['srtp.so'],
    }),
  ]);
  phones.set(A, a).set(B, b).set(C, c);
  await waitFor('1001, 1002 and 1003 to register', () => {
    const regs = (JSON.parse(cli('status', '--json')) as { registrations: Array<{ extension: string }> }).registrations;
    const exts = new Set(regs.map((r) => r.extension));
    return exts.has(A.ext) && exts.has(B.ext) && exts.has(C.ext);
  }, 15_000);

  // The capture covers the attacker's address both ways and the box's media ports.
  const pcap = join(work, 'bleed.pcap');
  const capture = await startCapture(pcap, `udp and (host ${ATTACKER} or portrange ${BOX_RTP.min}-${BOX_RTP.max})`, join(work, 'tshark.log'));
  const sprayerFile = join(work, 'sprayer.mjs');
  const statsFile = join(work, 'spray.json');
  writeFileSync(sprayerFile, SPRAYER);
  const sprayer: Proc = startProc(process.execPath, [sprayerFile, ATTACKER, '127.0.0.1', String(BOX_RTP.min), String(BOX_RTP.max), statsFile],
    { timeoutSec: 90, log: join(work, 'sprayer.log') });
  t.teardown(() => sprayer.stop());
  const spray = (): SprayStats => (existsSync(statsFile) ? JSON.parse(readFileSync(statsFile, 'utf8')) as SprayStats : { sent: 0, received: 0, from: {}, errors: 0 });
  await waitFor('the spray to run', () => spray().sent >= 500, 10_000);
  const refusalsNow = (): Record<string, number> => { const k = boxStatus(data).counters ?? {}; return Object.fromEntries(REFUSALS.map((n) => [n, k[n] ?? 0])); };

  /** `caller` dials 1002, which rings under the spray, then answers; they talk; the caller hangs up. */
  const call = async (tt: Asserts, caller: RunningPhone, callerSpec: PhoneSpec, dial: string): Promise<void> => {
    const beforeCaller = wavsNow(caller.dir);
    const beforeB = wavsNow(b.dir);
    const refusedBefore = refusalsNow();
    tt.ok((await caller.ctrl.dial(dial)).ok, 'dial accepted');
    await waitState(b.ctrl, `${B.ext}: ringing`, (x) => x.some((s) => s.state === 'INCOMING'));
    await sleep(RING_MS); // ringing under the spray: the callee-side port is open and has no remote yet
    tt.ok((await b.ctrl.accept()).ok, `${B.ext} answers`);
    await waitState(caller.ctrl, `${callerSpec.ext}: established`, established);
    await waitState(b.ctrl, `${B.ext}: established`, established);
    await sleep(TALK_MS);
    tt.ok((await caller.ctrl.hangup()).ok, 'the caller hangs up');
    await waitState(caller.ctrl, `${callerSpec.ext}: call gone`, none);
    await waitState(b.ctrl, `${B.ext}: call gone`, none);
    const after = refusalsNow();
    const delta = Object.fromEntries(REFUSALS.map((n) => [n.replace('media.drop.', ''), after[n]! - refusedBefore[n]!]));
    const refused = Object.values(delta).reduce((x, y) => x + y, 0);
    tt.comment(`the box refused ${refused} datagrams during the call: ${JSON.stringify(delta)}`);
    tt.ok(refused > 50, 'the spray reached the call\'s ports and was refused and counted');
    assertHeard(tt, `caller ${callerSpec.ext}`, caller.dir, beforeCaller, B.tone, TALK_MS / 1000);
    assertHeard(tt, `callee ${B.ext}`, b.dir, beforeB, callerSpec.tone, TALK_MS / 1000);
    for (const [who, dir, before] of [[callerSpec.ext, caller.dir, beforeCaller], [B.ext, b.dir, beforeB]] as const) {
      const f = newWavs(dir, before, 'dec')[0];
      if (f) tt.ok(Math.abs(toneOf(f).frequency - ATTACK_HZ) > 10 * TONE_TOLERANCE_HZ, `${who} does not hear the attacker's ${ATTACK_HZ} Hz`);
    }
    tt.equal(spray().received, 0, 'the attacker has received nothing so far');
  };

  let carolLegSuite: string | undefined;
  t.test('RTP bleed: a spray at every even media port during a real call between two baresips: the attacker gets nothing, each party hears the other', async (t) => {
    await call(t, a, A, `sip:${B.ext}@127.0.0.1:${info.ports.sipUdp}`);
  });

  t.test('SDES caller -> plain callee under the spray: the callee rings, and the SRTP caller never gets a packet in the clear', async (t) => {
    const viewed = call(t, c, C, `sip:${B.ext}@127.0.0.1:${info.ports.sipTls};transport=tls`);
    // While the call runs, the box names the caller leg's suite (and so its tag length).
    const view = await waitFor('the call in `pbx status`', () => {
      const v = (boxStatus(data).calls ?? []) as Array<{ legs: { a: { protection: string; suite?: string } } }>;
      return v[0]?.legs.a.suite ? v[0] : undefined;
    }, 15_000, 200).catch(() => undefined);
    await viewed;
    carolLegSuite = view?.legs.a.suite;
    t.equal(view?.legs.a.protection, 'sdes', 'the caller\'s leg is SDES, keyed by the box');
  });

  t.test('the wire: no packet to the attacker; SRTP only toward the SDES phone', async (t) => {
    await sprayer.stop();
    const final = spray();
    await capture.stop();
    t.comment(`the sprayer sent ${final.sent} packets (${final.errors} send errors)`);
    t.ok(final.sent > 2_000, 'the spray ran through both calls');
    t.equal(final.received, 0, `the attacker received no packet from the box (${JSON.stringify(final.from)})`);
    const toAttacker = frames(pcap, `udp and ip.dst == ${ATTACKER}`);
    t.equal(toAttacker.length, 0, 'tshark: no UDP datagram went to the attacker\'s address');
    const fromAttacker = tsharkFields(pcap, `udp and ip.src == ${ATTACKER}`, ['frame.number']).length;
    t.ok(fromAttacker > 1_000, `tshark saw the spray (${fromAttacker} datagrams): the capture works`);
    const toCarol = frames(pcap, `udp and ip.src == 127.0.0.1 and udp.srcport >= ${BOX_RTP.min} and udp.srcport <= ${BOX_RTP.max} and udp.dstport >= 36200 and udp.dstport <= 36299`)
      .filter((f) => inBox(f.sport) && inRange(f.dport, C.rtp) && f.bytes.length >= 12 && f.bytes[0]! >> 6 === 2 && (f.bytes[1]! & 0x7f) === 0);
    const tag = carolLegSuite ? TAG[carolLegSuite] : undefined;
    t.ok(tag !== undefined, `the box named the suite (${carolLegSuite})`);
    t.ok(toCarol.length >= (TALK_MS / 20) * 0.6, `${toCarol.length} RTP packets from the box to the SDES phone`);
    t.same([...new Set(toCarol.map((f) => f.bytes.length))], [PLAIN_RTP + (tag ?? 0)], 'every one of them SRTP: 172 bytes + the suite\'s tag, never a plain 172');
    t.ok(entropy(toCarol.map((f) => f.bytes.subarray(12, PLAIN_RTP))) > 7.5, 'with ciphertext entropy');
  });

  t.teardown(() => { t.comment(`bleed.test ran ${((Date.now() - started) / 1000).toFixed(1)} s`); });
}
