import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, startCapture, tsharkFields, waitFor, type Proc } from './harness.js';
import { pbxOk, startBox } from './box.js';
import { startLinphonec } from './clients.js';
import { boxStatus, entropy, sleep, toneFile } from './call-harness.js';

/*
 * End-to-end ZRTP through the box (RFC 6189; the "zrtp" relay rows of the
 * policy): two linphonecs (bzrtp), both with ZRTP mandatory over TLS, the
 * callee's account able to do ZRTP, the default policy (relay when it can).
 * The box forwards the phones' ZRTP packets and then their SRTP untouched:
 * both phones show the same SAS (nobody in the middle), the box shows none
 * and says it cannot decrypt (keys end-to-end, no recording), and tshark
 * shows ZRTP then SRTP on both legs.
 */

const BOX_RTP = { min: 46000, max: 46099 };
const A = { ext: '1001', pass: 'alice-secret', tls: 39040, rtp: 39300, tone: 1000 };
const C = { ext: '1003', pass: 'carol-secret', tls: 39060, rtp: 39400, tone: 600 };
const TALK_MS = 3000;

if (!reexecInNetns()) {
  const missing = ['linphonec', 'tshark', 'sox'].filter((c) => !have(c));
  if (missing.length) t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  else await main();
}

interface LegJson { protection?: string; sas?: string; keys?: string }
interface CallJson { legs?: { a?: LegJson; b?: LegJson }; mode?: string; recordingPossible?: boolean; policyNote?: string }

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'pbx-zrtp-relay-'));
  const data = join(work, 'data');
  const cli = pbxOk(data);
  cli('account', 'add', A.ext, '--password', A.pass);
  cli('account', 'add', C.ext, '--password', C.pass, '--media', 'rtp,zrtp');
  const { proc: box, info } = await startBox(data, 120, ['--rtp-ports', `${BOX_RTP.min}-${BOX_RTP.max}`]);
  t.teardown(() => box.stop());

  const phone = (p: typeof A): { proc: Proc; say(l: string): void } => {
    const proc = startLinphonec(join(work, `linphonec-${p.ext}`), {
      tlsPort: p.tls, boxTlsPort: info.ports.sipTls, user: p.ext, password: p.pass, realm: 'pbx.local', rootCa: info.caPath, timeoutSec: 100,
      sipExtra: ['media_encryption=zrtp', 'media_encryption_mandatory=1'],
      extraRc: ['[rtp]', `audio_rtp_port=${p.rtp}`, '', '[sound]', 'echocancellation=0', '', '[audio_codec_0]', 'mime=PCMU', 'rate=8000', 'channels=1', 'enabled=1', ''],
    });
    t.teardown(async () => { proc.child.stdin?.end('quit\n'); await Promise.race([proc.exited, sleep(2000)]); await proc.stop(); });
    return { proc, say: (l) => { proc.child.stdin?.write(`${l}\n`); } };
  };
  const a = phone(A);
  const c = phone(C);
  await waitFor('both linphonecs to register over TLS', () => {
    const regs = (JSON.parse(cli('status', '--json')) as { registrations: Array<{ extension: string; transport: string }> }).registrations;
    return regs.filter((r) => r.transport === 'tls').length >= 2;
  }, 30_000, 200);
  for (const [p, spec] of [[a, A], [c, C]] as const) {
    p.say('soundcard use files');
    p.say(`play ${toneFile(work, spec.tone)}`);
  }
  const pcap = join(work, 'relay.pcap');
  const capture = await startCapture(pcap, `udp and (portrange ${BOX_RTP.min}-${BOX_RTP.max})`, join(work, 'tshark.log'));
  t.teardown(async () => { await capture.stop(); });
  const token = (p: Proc): string | undefined => /auth token is ([^\s.]+)/.exec(p.output())?.[1];

  await t.test('ZRTP to ZRTP relayed end to end: both phones show the same SAS, the box shows none and cannot decrypt', async (t) => {
    a.say(`call sip:${C.ext}@127.0.0.1:${info.ports.sipTls};transport=tls`);
    await waitFor('1003 to ring', () => /Receiving new incoming call/.test(c.proc.output()) || undefined, 15_000, 100);
    c.say('answer');
    const ta = await waitFor('1001: encrypted with a SAS', () => token(a.proc), 20_000, 100);
    const tc = await waitFor('1003: encrypted with a SAS', () => token(c.proc), 20_000, 100);
    t.equal(ta, tc, `both phones show the same SAS (${ta}): the box is not in the middle`);
    const call = await waitFor('the call in the box', () => ((boxStatus(data).calls ?? []) as CallJson[]).find((x) => x.legs?.b !== undefined), 10_000, 200);
    t.comment(`box call view: ${JSON.stringify(call)}`);
    t.same([call.legs?.a?.protection, call.legs?.b?.protection], ['zrtp', 'zrtp']);
    t.same([call.legs?.a?.keys, call.legs?.b?.keys], ['end-to-end', 'end-to-end'], 'the phones hold the keys');
    t.same([call.legs?.a?.sas, call.legs?.b?.sas], [undefined, undefined], 'the box has no SAS to show');
    t.equal(call.mode, 'relay');
    t.equal(call.recordingPossible, false, 'the box says it cannot listen');
    await sleep(TALK_MS);
    a.say('terminate');
    await sleep(1000);
  });

  await t.test('the wire: ZRTP then SRTP on both legs, passed untouched', async (t) => {
    await capture.stop();
    const frames = tsharkFields(pcap, 'udp', ['frame.time_epoch', 'udp.srcport', 'udp.dstport', 'udp.payload']).map((l) => {
      const [time, s, d, hex] = l.split('\t');
      return { time: Number(time), sport: Number(s), dport: Number(d), bytes: Buffer.from((hex ?? '').replace(/:/g, ''), 'hex') };
    });
    const isZrtp = (x: Buffer): boolean => x.length >= 12 && x[0] === 0x10 && x.readUInt32BE(4) === 0x5a525450;
    for (const [name, port] of [['1001', A.rtp], ['1003', C.rtp]] as const) {
      const leg = frames.filter((f) => f.dport === port || f.sport === port);
      const zrtp = leg.filter((f) => isZrtp(f.bytes));
      const types = new Set(zrtp.map((f) => f.bytes.toString('latin1', 16, 24).trim()));
      t.comment(`${name} leg ZRTP: ${[...types].join(', ')}`);
      for (const m of ['Hello', 'Commit', 'DHPart1', 'DHPart2', 'Confirm1', 'Confirm2', 'Conf2ACK']) t.ok(types.has(m), `${name} leg: ${m}`);
      const media = leg.filter((f) => f.dport === port && f.bytes.length > 0 && f.bytes[0]! >> 6 === 2 && f.bytes[1]! < 200);
      t.ok(media.length > 50, `${name} leg: media toward the phone (${media.length})`);
      const sizes = new Set(media.map((f) => f.bytes.length));
      t.notOk(sizes.has(172), `${name} leg: no plain 172-byte PCMU (sizes ${[...sizes].join(', ')})`);
      const h = entropy(media.map((f) => f.bytes.subarray(12)));
      t.ok(h > 7.5, `${name} leg: ciphertext (entropy ${h.toFixed(2)})`);
      t.ok(Math.max(...zrtp.filter((f) => f.bytes.toString('latin1', 16, 24).trim() === 'Hello').map((f) => f.time)) <= Math.min(...media.map((f) => f.time)) + 0.01,
        `${name} leg: ZRTP first, SRTP after`);
    }
    // Byte for byte: every ZRTP payload the box sent one phone is one the other phone sent it.
    const fromPhones = new Set(frames.filter((f) => (f.sport === A.rtp || f.sport === C.rtp) && isZrtp(f.bytes)).map((f) => f.bytes.toString('hex')));
    const toPhones = frames.filter((f) => (f.dport === A.rtp || f.dport === C.rtp) && isZrtp(f.bytes));
    t.ok(toPhones.length > 0 && toPhones.every((f) => fromPhones.has(f.bytes.toString('hex'))), 'the box forwarded ZRTP untouched, never its own');
  });
}
