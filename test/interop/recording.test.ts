import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, waitFor } from './harness.js';
import { pbxOk, startBox } from './box.js';
import { dominantFrequency, rms } from './audio.js';
import {
  TONE_TOLERANCE_HZ, MIN_TONE_RMS, entropy, established, none, records, sleep, startPhone, stopPhone, waitState,
  type PhoneSpec, type RunningPhone,
} from './call-harness.js';

/*
 * Call recording with real baresip phones (issue 9), the box in a private
 * network namespace:
 *   P 1001: plain RTP over UDP, sends 1000 Hz, record=always;
 *   S 1002: SDES (srtp-mand) over TLS, sends 600 Hz;
 *   R 1003: SDES (srtp-mand) over TLS, sends 400 Hz, policy "private"
 *           (forced_relay: its calls are relayed end to end), record=always.
 *
 * Bridged SDES<->plain: P calls S; the box records. The export is a WAV with
 * two channels, P's 1000 Hz on the first and S's 600 Hz on the second, as
 * long as the call (the box's record from answer to end) within 0.2 s; the
 * file on disk is no WAV and looks like ciphertext.
 * Relayed SDES<->SDES: R calls S under forced_relay; the box has no keys:
 * the recording is an encrypted capture whose record says so, and its pcap
 * export holds SRTP (172 + a 10-byte tag, ciphertext entropy).
 */

const P: PhoneSpec = { ext: '1001', pass: 'plain-secret', sip: 36000, ctrl: 36100, rtp: '34000-34099', tone: 1000 };
const S: PhoneSpec = { ext: '1002', pass: 'sdes-secret', sip: 36010, ctrl: 36110, rtp: '34100-34199', tone: 600 };
const R: PhoneSpec = { ext: '1003', pass: 'private-secret', sip: 36020, ctrl: 36120, rtp: '34200-34299', tone: 400 };
const BOX_RTP = { min: 44000, max: 44999 };
const CALL_MS = 4000;

interface Entry { id: string; kind: string; parties: string[]; durationMs: number; state: string; notes: string[]; legs: Array<{ id: string; protection: string }> }
interface CallRec { caller: string; callee: string; answeredAt?: string; endedAt: string }

if (!reexecInNetns()) {
  const missing = ['baresip', 'tshark'].filter((c) => !have(c));
  if (missing.length) t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  else await main();
}

/** The channels of a 16-bit PCM WAV, deinterleaved. */
function wavChannels(buf: Buffer): { rate: number; channels: Int16Array[] } {
  if (buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE') throw new Error('not a WAV');
  let at = 12;
  let n = 0;
  let rate = 0;
  while (at + 8 <= buf.length) {
    const id = buf.toString('latin1', at, at + 4);
    const size = buf.readUInt32LE(at + 4);
    if (id === 'fmt ') { n = buf.readUInt16LE(at + 10); rate = buf.readUInt32LE(at + 12); }
    if (id === 'data') {
      const frames = Math.floor(Math.min(size, buf.length - at - 8) / (2 * n));
      const out = Array.from({ length: n }, () => new Int16Array(frames));
      for (let i = 0; i < frames; i++) for (let c = 0; c < n; c++) out[c]![i] = buf.readInt16LE(at + 8 + (i * n + c) * 2);
      return { rate, channels: out };
    }
    at += 8 + size + (size & 1);
  }
  throw new Error('no data chunk');
}

/** pcap records (LINKTYPE_RAW): the UDP payload of each. */
function pcapPayloads(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 24;
  while (at + 16 <= buf.length) {
    const incl = buf.readUInt32LE(at + 8);
    const pkt = buf.subarray(at + 16, at + 16 + incl);
    const ihl = (pkt[0]! & 0x0f) * 4;
    out.push(pkt.subarray(ihl + 8));
    at += 16 + incl;
  }
  return out;
}

async function main(): Promise<void> {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'pbx-rec-'));
  const data = join(work, 'data');
  const cli = pbxOk(data);
  for (const p of [P, S, R]) cli('account', 'add', p.ext, '--password', p.pass);
  cli('policy', 'add', 'private', '--caller', 'forced_relay');
  cli('account', 'set', R.ext, '--policy', 'private', '--record', 'always');
  t.match(cli('account', 'set', P.ext, '--record', 'always'), /record=always/, 'pbx account set --record always');

  const { proc: box, info } = await startBox(data, 200, ['--rtp-ports', `${BOX_RTP.min}-${BOX_RTP.max}`]);
  t.teardown(() => box.stop());
  const udp = (p: PhoneSpec): string => `<sip:${p.ext}@127.0.0.1:${info.ports.sipUdp}>`;
  const tls = (p: PhoneSpec): string => `<sip:${p.ext}@127.0.0.1:${info.ports.sipTls};transport=tls>`;
  const phones: RunningPhone[] = [];
  t.teardown(async () => { for (const p of phones) await stopPhone(p); });
  const sdes = { answermode: 'auto', accountParams: ';mediaenc=srtp-mand', preAccountModules: ['srtp.so'], timeoutSec: 150 } as const;
  const [p, s, r] = await Promise.all([
    startPhone(work, P, { account: udp(P), answermode: 'auto', timeoutSec: 150 }),
    startPhone(work, S, { account: tls(S), ...sdes }),
    startPhone(work, R, { account: tls(R), ...sdes }),
  ]);
  phones.push(p, s, r);
  await waitFor('all three phones to register', () => {
    const regs = (JSON.parse(cli('status', '--json')) as { registrations: Array<{ extension: string }> }).registrations;
    return [P, S, R].every((x) => regs.some((g) => g.extension === x.ext));
  }, 15_000);
  const list = (): Entry[] => JSON.parse(cli('recording', 'list', '--json')) as Entry[];

  await t.test('a bridged SDES<->plain call is recorded: two channels, one tone each, as long as the call; encrypted on disk', async (tt) => {
    tt.ok((await p.ctrl.dial(`sip:${S.ext}@127.0.0.1:${info.ports.sipUdp}`)).ok, '1001 dials 1002');
    await waitState(p.ctrl, '1001 established', established);
    await waitState(s.ctrl, '1002 established', established);
    const live = await waitFor('the box to show the recording', () => {
      const calls = (JSON.parse(cli('status', '--json')) as { calls?: Array<{ recording?: { id: string; kind: string } }> }).calls ?? [];
      return calls[0]?.recording;
    }, 5_000, 100);
    tt.equal(live.kind, 'decoded', 'pbx status: the call is being recorded, decoded');
    await sleep(CALL_MS);
    tt.ok((await p.ctrl.hangup()).ok, '1001 hangs up');
    await waitState(p.ctrl, '1001 idle', none);
    await waitState(s.ctrl, '1002 idle', none);
    const rec = await waitFor('the recording to be complete', () => list().find((x) => x.id === live.id && x.state === 'complete'), 10_000, 200);
    tt.match(rec, { kind: 'decoded', parties: [P.ext, S.ext] }, 'pbx recording list: decoded, both parties');
    tt.match(rec.legs[0]?.protection ?? '', /plain RTP/, 'the first leg is the plain caller');
    tt.match(rec.legs[1]?.protection ?? '', /SDES .*keys held by the box/, 'the second leg is SDES keyed by the box');
    const call = records<CallRec>(data).reverse().find((c) => c.caller === P.ext && c.callee === S.ext && c.answeredAt !== undefined);
    tt.ok(call, 'the box kept the call record');
    if (call) {
      const callMs = Date.parse(call.endedAt) - Date.parse(call.answeredAt!);
      tt.ok(Math.abs(rec.durationMs - callMs) <= 200, `the recording lasts the call: ${rec.durationMs} ms against ${callMs} ms`);
    }

    const onDisk = readFileSync(join(data, 'recordings', `${rec.id}.rec`));
    tt.not(onDisk.toString('latin1', 0, 4), 'RIFF', 'the file on disk is not a WAV');
    const h = entropy([onDisk.subarray(onDisk.length >> 2)]);
    tt.ok(h > 7.9, `and reads as ciphertext (${h.toFixed(3)} bits per byte)`);
    tt.equal(statSync(join(data, 'recordings', `${rec.id}.rec`)).mode & 0o777, 0o600, 'mode 0600');
    tt.equal(statSync(join(data, 'recordings', '.key')).mode & 0o777, 0o600, 'the key file is mode 0600');

    const out = join(work, 'call.wav');
    tt.match(cli('recording', 'export', rec.id, '--out', out), /WAV/, 'pbx recording export writes the WAV');
    const wav = wavChannels(readFileSync(out));
    tt.equal(wav.rate, 8000, '8 kHz');
    tt.equal(wav.channels.length, 2, 'two channels, one per party');
    const seconds = (wav.channels[0]?.length ?? 0) / wav.rate;
    tt.ok(Math.abs(seconds * 1000 - rec.durationMs) <= 200, `the WAV is as long as the recording (${seconds.toFixed(2)} s)`);
    for (const [i, who] of [[0, P], [1, S]] as const) {
      const ch = wav.channels[i]!.subarray(wav.rate / 2, wav.channels[i]!.length - wav.rate / 2);
      const d = dominantFrequency(ch, wav.rate);
      const level = rms(ch);
      tt.comment(`channel ${i}: ${d.frequency.toFixed(1)} Hz, RMS ${level.toFixed(0)}, ${(d.peakShare * 100).toFixed(0)}% at the peak`);
      tt.ok(Math.abs(d.frequency - who.tone) <= TONE_TOLERANCE_HZ && level >= MIN_TONE_RMS, `channel ${i} holds ${who.ext}'s ${who.tone} Hz`);
      tt.ok(d.peakShare > 0.8, `channel ${i} is that tone alone, not a mix (${(d.peakShare * 100).toFixed(0)}%)`);
    }
  });

  await t.test('a relayed SDES<->SDES call under forced_relay: an encrypted capture of SRTP, noted as not decodable', async (tt) => {
    const before = new Set(list().map((x) => x.id));
    tt.ok((await r.ctrl.dial(`sip:${S.ext}@127.0.0.1:${info.ports.sipTls};transport=tls`)).ok, '1003 dials 1002');
    await waitState(r.ctrl, '1003 established', established);
    await waitState(s.ctrl, '1002 established', established);
    await sleep(CALL_MS);
    const calls = (JSON.parse(cli('status', '--json')) as { calls?: Array<{ mode: string; recording?: { kind: string }; notes?: string[] }> }).calls ?? [];
    tt.match(calls[0], { mode: 'relay', recording: { kind: 'encrypted-capture' } }, 'pbx status: relayed, recorded as an encrypted capture');
    tt.match(calls[0]?.notes ?? [], [/encrypted capture.*no keys/], 'the call notes say why');
    tt.ok((await r.ctrl.hangup()).ok, '1003 hangs up');
    await waitState(r.ctrl, '1003 idle', none);
    await waitState(s.ctrl, '1002 idle', none);
    const rec = await waitFor('the capture to be complete', () => list().find((x) => !before.has(x.id) && x.state === 'complete'), 10_000, 200);
    tt.equal(rec.kind, 'encrypted-capture', 'pbx recording list: encrypted-capture');
    tt.ok(rec.notes.some((n) => /cannot decrypt/.test(n)), 'its record says the box cannot decrypt it');
    tt.match(rec.legs.map((l) => l.protection).join(' | '), /relayed end to end/, 'each leg: relayed end to end');
    const out = join(work, 'relay.pcap');
    tt.match(cli('recording', 'export', rec.id, '--out', out), /pcap/, 'pbx recording export writes the capture');
    const pkts = pcapPayloads(readFileSync(out)).filter((b) => b.length >= 12 && b[0]! >> 6 === 2);
    tt.ok(pkts.length > (2 * CALL_MS / 20) * 0.6, `the capture holds ${pkts.length} packets of both parties`);
    tt.same([...new Set(pkts.map((b) => b.length))], [182], 'every one 172 + a 10-byte tag: SRTP (HMAC-SHA1-80)');
    const h = entropy(pkts.map((b) => b.subarray(12, b.length - 10)));
    tt.ok(h > 7.5, `their payloads are ciphertext (${h.toFixed(2)} bits per byte; a G.711 tone is about 4)`);
  });

  t.comment(`recording interop took ${((Date.now() - started) / 1000).toFixed(1)} s; recordings folder: ${readdirSync(join(data, 'recordings')).length} files`);
}
