import t from 'tap';
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, startCapture, tsharkFields, waitFor } from './harness.js';
import { pbx, pbxOk, startBox } from './box.js';
import { parseWav } from './audio.js';
import { cryptoKeys, openRtp, session, type Session } from './srtp-wire.js';
import {
  entropy, established, newWavs, none, sleep, startPhone, stopPhone, waitState, wavsNow,
  type PhoneSpec, type RunningPhone,
} from './call-harness.js';

/*
 * A meet-me room (issue 9) with three real baresip phones, the box in a
 * private network namespace:
 *   A 1001: SDES (srtp-mand) over TLS, sends 1000 Hz;
 *   B 1002: plain RTP over UDP, sends 600 Hz;
 *   C 1003: SDES (srtp-mand) over TLS, sends 400 Hz.
 * Each dials room 800 (pbx room add 800). Once all three are in, each hears
 * the other two tones (power at both, Goertzel) and not its own (far below);
 * tshark shows what the box sends each SDES phone as SRTP (172 + 10 bytes,
 * ciphertext entropy) and plain RTP to the plain one.
 */

const A: PhoneSpec = { ext: '1001', pass: 'room-a-secret', sip: 37000, ctrl: 37100, rtp: '35000-35099', tone: 1000 };
const B: PhoneSpec = { ext: '1002', pass: 'room-b-secret', sip: 37010, ctrl: 37110, rtp: '35100-35199', tone: 600 };
const C: PhoneSpec = { ext: '1003', pass: 'room-c-secret', sip: 37020, ctrl: 37120, rtp: '35200-35299', tone: 400 };
const BOX_RTP = { min: 45000, max: 45999 };
const ROOM = '800';
const TOGETHER_MS = 4000;

const inRange = (p: number, r: string): boolean => { const [lo, hi] = r.split('-').map(Number); return p >= lo! && p <= hi!; };
const inBox = (p: number): boolean => p >= BOX_RTP.min && p <= BOX_RTP.max;

if (!reexecInNetns()) {
  const missing = ['baresip', 'sox', 'tshark'].filter((c) => !have(c));
  if (missing.length) t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  else await main();
}

/** Power of one frequency in the samples (Goertzel), normalised by length. */
function power(s: Int16Array, rate: number, hz: number): number {
  const k = 2 * Math.cos((2 * Math.PI * hz) / rate);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < s.length; i++) {
    const s0 = s[i]! + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - k * s1 * s2) / (s.length * s.length);
}

async function main(): Promise<void> {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'pbx-room-'));
  const data = join(work, 'data');
  const cli = pbxOk(data);
  for (const p of [A, B, C]) cli('account', 'add', p.ext, '--password', p.pass);
  t.match(cli('room', 'add', ROOM, '--max', '4'), /added room 800 \(up to 4 participants\)/, 'pbx room add 800 --max 4');
  t.match(pbx(data, 'room', 'add', A.ext).stderr, /is an account/, 'a room cannot take an account\'s extension');

  const { proc: box, info } = await startBox(data, 200, ['--rtp-ports', `${BOX_RTP.min}-${BOX_RTP.max}`]);
  t.teardown(() => box.stop());
  const udp = (p: PhoneSpec): string => `<sip:${p.ext}@127.0.0.1:${info.ports.sipUdp}>`;
  const tls = (p: PhoneSpec): string => `<sip:${p.ext}@127.0.0.1:${info.ports.sipTls};transport=tls>`;
  const sdes = { answermode: 'auto', accountParams: ';mediaenc=srtp-mand', preAccountModules: ['srtp.so'], timeoutSec: 150 } as const;
  const phones: RunningPhone[] = [];
  t.teardown(async () => { for (const p of phones) await stopPhone(p); });
  const [a, b, c] = await Promise.all([
    startPhone(work, A, { account: tls(A), ...sdes }),
    startPhone(work, B, { account: udp(B), answermode: 'auto', timeoutSec: 150 }),
    startPhone(work, C, { account: tls(C), ...sdes }),
  ]);
  phones.push(a, b, c);
  await waitFor('all three phones to register', () => {
    const regs = (JSON.parse(cli('status', '--json')) as { registrations: Array<{ extension: string }> }).registrations;
    return [A, B, C].every((x) => regs.some((g) => g.extension === x.ext));
  }, 15_000);

  await t.test('three phones in room 800: each hears the other two and not itself; SRTP on each SDES leg', async (tt) => {
    const before = [a, b, c].map((p) => wavsNow(p.dir));
    const pcap = join(work, 'room.pcap');
    const capture = await startCapture(pcap, `udp and (portrange 35000-35299 or portrange ${BOX_RTP.min}-${BOX_RTP.max})`, join(work, 'tshark.log'));
    const uri = (p: PhoneSpec): string => (p === B ? `sip:${ROOM}@127.0.0.1:${info.ports.sipUdp}` : `sip:${ROOM}@127.0.0.1:${info.ports.sipTls};transport=tls`);
    for (const [p, spec] of [[a, A], [b, B], [c, C]] as const) {
      tt.ok((await p.ctrl.dial(uri(spec))).ok, `${spec.ext} dials the room`);
      await waitState(p.ctrl, `${spec.ext} in the room`, established);
    }
    const calls = await waitFor('the box to list three participants', () => {
      const list = (JSON.parse(cli('status', '--json')) as { calls?: Array<{ caller: string; callee: string; mode: string; legs: { a: { protection: string } }; notes?: string[] }> }).calls ?? [];
      return list.filter((x) => x.callee === ROOM).length === 3 ? list : undefined;
    }, 10_000, 200);
    for (const spec of [A, B, C]) {
      const v = calls.find((x) => x.caller === spec.ext);
      tt.equal(v?.legs.a.protection, spec === B ? 'rtp' : 'sdes', `pbx status: ${spec.ext}'s leg is ${spec === B ? 'plain RTP' : 'SDES'}`);
      tt.match(v?.notes ?? [], [/in conference room 800/], `${spec.ext}'s call notes say it is in the room`);
    }
    const together = Date.now();
    await sleep(TOGETHER_MS);
    const togetherS = (Date.now() - together) / 1000;
    for (const [p, spec] of [[a, A], [b, B], [c, C]] as const) {
      tt.ok((await p.ctrl.hangup()).ok, `${spec.ext} hangs up`);
      await waitState(p.ctrl, `${spec.ext} idle`, none);
    }
    await capture.stop();

    [[a, A], [b, B], [c, C]].forEach(([p, spec], i) => {
      const phone = p as RunningPhone;
      const me = spec as PhoneSpec;
      const [file] = newWavs(phone.dir, before[i]!, 'dec');
      tt.ok(file, `${me.ext} recorded what it heard`);
      if (!file) return;
      const pcm = parseWav(readFileSync(file));
      // The last stretch in which all three were in (the first joined earliest), less a margin at each end.
      const end = pcm.samples.length - Math.round(pcm.sampleRate * 0.8);
      const from = Math.max(0, pcm.samples.length - Math.round(pcm.sampleRate * (togetherS - 0.3)));
      const s = pcm.samples.subarray(from, end);
      const others = [A, B, C].filter((x) => x !== me);
      const own = power(s, pcm.sampleRate, me.tone);
      const heard = others.map((o) => power(s, pcm.sampleRate, o.tone));
      tt.comment(`${me.ext} (${(s.length / pcm.sampleRate).toFixed(1)} s): ${others.map((o, j) => `${o.tone} Hz ${heard[j]!.toExponential(2)}`).join(', ')}; own ${me.tone} Hz ${own.toExponential(2)}`);
      for (const [j, o] of others.entries()) tt.ok(heard[j]! > 1e5, `${me.ext} hears ${o.ext}'s ${o.tone} Hz`);
      tt.ok(Math.min(...heard) > 100 * own, `${me.ext} does not hear its own ${me.tone} Hz (at least 100x below the others)`);
    });

    // On the wire: what the box sends each SDES phone is SRTP; to the plain phone, RTP.
    const rows = tsharkFields(pcap, 'udp', ['udp.srcport', 'udp.dstport', 'udp.payload']).map((l) => {
      const [src, dst, hex] = l.split('\t');
      return { src: Number(src), dst: Number(dst), b: Buffer.from((hex ?? '').replace(/:/g, ''), 'hex') };
    }).filter((x) => inBox(x.src) && x.b.length >= 12 && x.b[0]! >> 6 === 2 && (x.b[1]! & 0x7f) < 72);
    for (const spec of [A, C]) {
      const to = rows.filter((x) => inRange(x.dst, spec.rtp)).map((x) => x.b);
      tt.ok(to.length > (TOGETHER_MS / 20) * 0.6, `the box sent ${spec.ext} ${to.length} packets`);
      tt.same([...new Set(to.map((x) => x.length))], [182], `to ${spec.ext}: 172 + a 10-byte tag, SRTP`);
      const h = entropy(to.map((x) => x.subarray(12, x.length - 10)));
      tt.ok(h > 7.5, `to ${spec.ext}: ciphertext payloads (${h.toFixed(2)} bits per byte)`);
    }
    // Different keys per SDES leg: each phone's SIP trace holds the a=crypto
    // keys of its own call (its offer, the box's answer). What the box sent
    // 1001 authenticates under one of 1001's keys and under none of 1003's,
    // and the other way round (checked by srtp-wire, not by the box's code).
    const keysOf = (p: RunningPhone): Session[] => cryptoKeys(readFileSync(join(p.dir, 'baresip.log'), 'utf8'))
      .map((k) => session(k)).filter((x): x is Session => x !== undefined);
    const [keysA, keysC] = [keysOf(a), keysOf(c)];
    tt.ok(keysA.length >= 2 && keysC.length >= 2, `each SDES phone's trace holds its call's keys (${keysA.length}, ${keysC.length})`);
    tt.notOk(keysA.some((k) => keysC.some((o) => o.key.inline === k.key.inline)), 'no key is shared between the two SDES legs');
    const opens = (ks: readonly Session[], pkt: Buffer): boolean => ks.some((k) => [0, 1].some((roc) => openRtp(k, roc, pkt) !== undefined));
    for (const [spec, own, other] of [[A, keysA, keysC], [C, keysC, keysA]] as const) {
      const to = rows.filter((x) => inRange(x.dst, spec.rtp)).map((x) => x.b).slice(0, 100);
      const mine = to.filter((x) => opens(own, x)).length;
      const theirs = to.filter((x) => opens(other, x)).length;
      tt.equal(mine, to.length, `to ${spec.ext}: all ${to.length} checked packets authenticate under ${spec.ext}'s own call keys`);
      tt.equal(theirs, 0, `to ${spec.ext}: none authenticates under the other SDES leg's keys`);
    }
    const toB = rows.filter((x) => inRange(x.dst, B.rtp)).map((x) => x.b);
    tt.same([...new Set(toB.map((x) => x.length))], [172], 'to 1002 (plain): 172-byte RTP, no tag');
  });

  t.comment(`conference interop took ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
