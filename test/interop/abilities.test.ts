import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, startCapture, tsharkFields, waitFor } from './harness.js';
import { pbxOk, startBox } from './box.js';
import {
  assertHeard, boxStatus, established, none, records, sleep, startPhone, stopPhone, waitState, wavsNow,
  type PhoneSpec, type RunningPhone,
} from './call-harness.js';

/*
 * Phones of different media abilities under the DEFAULT policy (no policy
 * configured), with real baresip phones:
 *   P 1001: plain RTP over UDP;
 *   S 1002: mediaenc=srtp-mand, SDES over RTP/SAVP, TLS;
 *   F 1003: mediaenc=srtp-mandf, SDES over RTP/SAVPF, TLS.
 * The default policy relays when it can. A callee that refuses the relayed
 * offer gets another shape from the box, bridged; the box remembers what the
 * contact took, so the second call between the same pair goes straight.
 * Every call: both phones hear the other's tone; the box's status and call
 * record say how each leg is protected; the call.retry counter moves only
 * when a retry was needed. What the callee received and answered is read
 * from its own SIP trace (baresip -s), since the callee's leg is TLS.
 */

const P: PhoneSpec = { ext: '1001', pass: 'plain-secret', sip: 34000, ctrl: 34100, rtp: '32000-32099', tone: 1000 };
const S: PhoneSpec = { ext: '1002', pass: 'savp-secret', sip: 34010, ctrl: 34110, rtp: '32100-32199', tone: 600 };
const F: PhoneSpec = { ext: '1003', pass: 'savpf-secret', sip: 34020, ctrl: 34120, rtp: '32200-32299', tone: 1400 };
const BOX_RTP = { min: 42000, max: 42999 };
const TALK_MS = 2500;
/** RTP header (12) + 20 ms of PCMU (160). */
const PLAIN_RTP = 172;
/** SRTP authentication tag bytes per suite (RFC 3711 4.2, RFC 4568 6.2). */
const TAG: Readonly<Record<string, number>> = {
  AES_CM_128_HMAC_SHA1_80: 10, AES_CM_128_HMAC_SHA1_32: 4, AES_256_CM_HMAC_SHA1_80: 10, AES_256_CM_HMAC_SHA1_32: 4,
  AEAD_AES_128_GCM: 16, AEAD_AES_256_GCM: 16,
};

interface Leg { party: string; transport: string; protection: string; suite?: string; keys?: string }
interface CallView { mode: string; legs: { a: Leg; b?: Leg }; policyNote?: string }
type Asserts = Pick<typeof t, 'ok' | 'same' | 'equal' | 'match' | 'comment' | 'pass' | 'fail'>;

if (!reexecInNetns()) {
  const missing = ['baresip', 'sox', 'tshark'].filter((c) => !have(c));
  if (missing.length) t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  else await main();
}

interface Packet { src: number; dst: number; len: number }
const inRange = (p: number, r: string): boolean => { const [lo, hi] = r.split('-').map(Number); return p >= lo! && p <= hi!; };
const inBox = (p: number): boolean => p >= BOX_RTP.min && p <= BOX_RTP.max;

/** PCMU RTP (or SRTP: its header is clear) packets of a capture, by ports and length; RTCP left out. */
function rtpPackets(pcap: string): Packet[] {
  return tsharkFields(pcap, 'udp', ['udp.srcport', 'udp.dstport', 'udp.payload']).flatMap((l) => {
    const [src, dst, hex] = l.split('\t');
    const b = Buffer.from((hex ?? '').replace(/:/g, ''), 'hex');
    return b.length >= 12 && b[0]! >> 6 === 2 && (b[1]! & 0x7f) === 0 ? [{ src: Number(src), dst: Number(dst), len: b.length }] : [];
  });
}

/** One SIP message of a baresip trace (-s). */
interface Traced {
  /** Received from the box, or sent to it. */
  readonly dir: 'recv' | 'send';
  /** Its first line: `INVITE sip:... SIP/2.0` or `SIP/2.0 488 Not Acceptable Here`. */
  readonly first: string;
  readonly cseqMethod: string;
  /** The m=audio line's profile, when it carries SDP. */
  readonly profile?: string;
  readonly crypto: number;
  /** The a=crypto key parameters (inline:...), to tell the caller's keys from the box's. */
  readonly keys: readonly string[];
}

/**
 * baresip -s prints each SIP message after a line `#`, then
 * `TLS 127.0.0.1:SRC -> 127.0.0.1:DST`, then the message, closed by an
 * escape sequence. A message whose source port is one of the box's came from
 * the box. Also kept: baresip's own `call: ...` lines (why it refused).
 */
function traced(text: string, boxPorts: ReadonlySet<number>): { messages: Traced[]; notes: string[] } {
  const messages: Traced[] = [];
  const re = /^(?:UDP|TCP|TLS) [\d.]+:(\d+) -> [\d.]+:\d+\r?\n([\s\S]*?)\x1b\[/gm;
  for (const m of text.matchAll(re)) {
    const msg = m[2]!;
    const first = msg.split(/\r?\n/, 1)[0]!.trim();
    messages.push({
      dir: boxPorts.has(Number(m[1])) ? 'recv' : 'send',
      first,
      cseqMethod: /^CSeq:\s*\d+\s+(\S+)/im.exec(msg)?.[1] ?? '',
      ...(/^m=audio \d+ (\S+)/m.test(msg) ? { profile: /^m=audio \d+ (\S+)/m.exec(msg)![1]! } : {}),
      crypto: msg.match(/^a=crypto:/gm)?.length ?? 0,
      keys: [...msg.matchAll(/^a=crypto:\S+ \S+ (inline:\S+)/gm)].map((k) => k[1]!),
    });
  }
  const notes = [...text.matchAll(/^call: [^\n]*/gm)].map((x) => x[0]);
  return { messages, notes };
}

const isInvite = (m: Traced): boolean => m.first.startsWith('INVITE ');
/** The INVITEs the phone received from the box, as profiles. */
const invitesIn = (ms: readonly Traced[]): string[] => ms.filter((m) => m.dir === 'recv' && isInvite(m)).map((m) => m.profile ?? '(none)');
/** The phone's final answers to INVITEs it received: status and the answer's profile. */
const finalsOut = (ms: readonly Traced[]): string[] => ms
  .filter((m) => m.dir === 'send' && m.cseqMethod === 'INVITE' && /^SIP\/2\.0 [2-6]\d\d/.test(m.first))
  .map((m) => `${m.first.split(' ')[1]}${m.profile ? ` ${m.profile}` : ''}`);
/**
 * The final answer the calling phone got from the box to its INVITE. The
 * box's digest challenge (401, answered by the phone with credentials on a
 * new INVITE) on a phone's first call is left out: it is not about media.
 */
const finalIn = (ms: readonly Traced[]): string[] => ms
  .filter((m) => m.dir === 'recv' && m.cseqMethod === 'INVITE' && /^SIP\/2\.0 [2-6]\d\d/.test(m.first) && !/^SIP\/2\.0 40[17] /.test(m.first))
  .map((m) => `${m.first.split(' ')[1]}${m.profile ? ` ${m.profile}` : ''}`);

async function main(): Promise<void> {
  const started = Date.now();
  const work = mkdtempSync(join(tmpdir(), 'pbx-abil-'));
  const data = join(work, 'data');
  const cli = pbxOk(data);
  for (const p of [P, S, F]) cli('account', 'add', p.ext, '--password', p.pass);

  const { proc: box, info } = await startBox(data, 200, ['--rtp-ports', `${BOX_RTP.min}-${BOX_RTP.max}`]);
  t.teardown(() => box.stop());
  t.comment(`box SIP/UDP ${info.ports.sipUdp}, TLS ${info.ports.sipTls}; work dir ${work}`);
  const tls = (p: PhoneSpec): string => `<sip:${p.ext}@127.0.0.1:${info.ports.sipTls};transport=tls>`;
  const phones = new Map<PhoneSpec, RunningPhone>();
  t.teardown(async () => { for (const p of phones.values()) await stopPhone(p); });
  const [p, s, f] = await Promise.all([
    startPhone(work, P, { account: `<sip:${P.ext}@127.0.0.1:${info.ports.sipUdp}>`, answermode: 'auto', timeoutSec: 150 }),
    startPhone(work, S, { account: tls(S), answermode: 'auto', accountParams: ';mediaenc=srtp-mand', preAccountModules: ['srtp.so'], timeoutSec: 150 }),
    startPhone(work, F, { account: tls(F), answermode: 'auto', accountParams: ';mediaenc=srtp-mandf', preAccountModules: ['srtp.so'], timeoutSec: 150 }),
  ]);
  phones.set(P, p).set(S, s).set(F, f);
  await waitFor('1001 (UDP), 1002 and 1003 (TLS) to register', () => {
    const regs = (JSON.parse(cli('status', '--json')) as { registrations: Array<{ extension: string; transport: string }> }).registrations;
    const by = new Map(regs.map((r) => [r.extension, r.transport]));
    return by.get(P.ext) === 'udp' && by.get(S.ext) === 'tls' && by.get(F.ext) === 'tls';
  }, 15_000);

  const retries = (): number => boxStatus(data).counters?.['call.retry'] ?? 0;
  const logOf = (x: RunningPhone): string => { try { return readFileSync(x.proc.log, 'utf8'); } catch { return ''; } };
  const dialUri = (from: PhoneSpec, to: PhoneSpec): string => (from === P
    ? `sip:${to.ext}@127.0.0.1:${info.ports.sipUdp}`
    : `sip:${to.ext}@127.0.0.1:${info.ports.sipTls};transport=tls`);

  const boxPorts = new Set([info.ports.sipUdp, info.ports.sipTcp, info.ports.sipTls]);
  interface Placed {
    view: CallView; record: CallView & { endReason: string }; retried: number;
    callee: Traced[]; caller: Traced[]; calleeNotes: string[];
    /** With `wire`: the RTP/SRTP packets on lo during the call. */
    packets?: Packet[];
  }

  /** `from` calls `to` (auto answer); both talk TALK_MS; the caller hangs up; both must hear the other's tone. */
  const talk = async (tt: Asserts, from: PhoneSpec, to: PhoneSpec, wire = false): Promise<Placed> => {
    const x = phones.get(from)!;
    const y = phones.get(to)!;
    const nRecords = records(data).length;
    const r0 = retries();
    const [bx, by] = [wavsNow(x.dir), wavsNow(y.dir)];
    const [lx, ly] = [logOf(x).length, logOf(y).length];
    const pcap = join(work, `call-${from.ext}-${to.ext}-${Date.now()}.pcap`);
    const capture = wire
      ? await startCapture(pcap, `udp and (portrange 32000-32299 or portrange ${BOX_RTP.min}-${BOX_RTP.max})`, join(work, 'tshark.log'))
      : undefined;
    tt.ok((await x.ctrl.dial(dialUri(from, to))).ok, `${from.ext} dials ${to.ext}`);
    await waitState(x.ctrl, `${from.ext}: call established`, established);
    await waitState(y.ctrl, `${to.ext}: call established`, established);
    const view = await waitFor('the call in `pbx status`', () => {
      const v = (boxStatus(data).calls ?? []) as CallView[];
      return v[0]?.legs.b ? v[0] : undefined;
    }, 3_000, 100);
    // Any retry happened before the answer: the counter has moved for good by now.
    const retried = retries() - r0;
    await sleep(TALK_MS);
    tt.ok((await x.ctrl.hangup()).ok, 'caller hangs up');
    await waitState(x.ctrl, `${from.ext}: call gone`, none);
    await waitState(y.ctrl, `${to.ext}: call gone`, none);
    await capture?.stop();
    const record = await waitFor('the call record', () => records<CallView & { endReason: string }>(data)[nRecords], 3_000);
    assertHeard(tt, `caller ${from.ext}`, x.dir, bx, to.tone, TALK_MS / 1000);
    assertHeard(tt, `callee ${to.ext}`, y.dir, by, from.tone, TALK_MS / 1000);
    const callee = traced(logOf(y).slice(ly), boxPorts);
    const caller = traced(logOf(x).slice(lx), boxPorts);
    tt.comment(`${to.ext} got INVITEs ${JSON.stringify(invitesIn(callee.messages))}, answered ${JSON.stringify(finalsOut(callee.messages))}; ${callee.notes.join('; ')}`);
    tt.comment(`box: ${view.mode}: ${view.policyNote ?? ''}`);
    return {
      view, record, retried, callee: callee.messages, caller: caller.messages, calleeNotes: callee.notes,
      ...(capture ? { packets: rtpPackets(pcap) } : {}),
    };
  };

  /** The box's view and record: mode, and per leg its transport, protection and who holds the keys. */
  const assertLegs = (tt: Asserts, c: Placed, mode: string, a: Partial<Leg>, b: Partial<Leg>): void => {
    tt.match(c.view, { mode, legs: { a, b } }, `pbx status: ${mode}, leg a ${JSON.stringify(a)}, leg b ${JSON.stringify(b)}`);
    tt.match(c.record, { mode, endReason: 'bye-caller', legs: { a, b } }, 'the call record says the same');
  };

  /**
   * On the wire: each phone's media goes to and comes from the box only, both
   * ways, every packet of a plain leg 172 bytes (RTP), of an SDES leg 172 +
   * the suite's tag (SRTP), so each leg has the protection the box reports.
   */
  const assertWire = (tt: Asserts, c: Placed, phone: PhoneSpec, leg: Leg | undefined): void => {
    const all = c.packets ?? [];
    const toBox = all.filter((x) => inRange(x.src, phone.rtp) && inBox(x.dst));
    const fromBox = all.filter((x) => inBox(x.src) && inRange(x.dst, phone.rtp));
    const want = leg?.protection === 'sdes' ? PLAIN_RTP + (TAG[leg.suite ?? ''] ?? NaN) : PLAIN_RTP;
    const enough = (TALK_MS / 20) * 0.6;
    tt.ok(toBox.length >= enough && fromBox.length >= enough, `${phone.ext}'s leg: ${toBox.length} packets to the box, ${fromBox.length} from it`);
    tt.same([...new Set([...toBox, ...fromBox].map((x) => x.len))], [want],
      `${phone.ext}'s leg: every packet ${want} bytes (${leg?.protection === 'sdes' ? `SRTP, ${leg.suite}` : 'plain RTP'})`);
    tt.equal(all.filter((x) => inRange(x.src, phone.rtp) && !inBox(x.dst)).length, 0, `${phone.ext} sends media to the box only`);
  };

  /*
   * What baresip v1.0.0 does, as observed in its SIP trace: with
   * mediaenc=srtp-mand (or srtp-mandf) it answers an offer whose audio
   * profile is not exactly its own (RTP/AVP, or SAVPF vs SAVP) with
   * "488 Not Acceptable Here" and no body, logging "call: no common audio
   * codecs - rejected": the profile is compared as part of the media format.
   * A plain phone (no mediaenc) takes RTP/AVP only.
   */
  /**
   * Between two SDES phones the default policy first relays: the callee's
   * first INVITE carries the caller's own a=crypto (end to end); the retry
   * carries the box's keys instead (bridged).
   */
  const assertRelayThenBoxKeys = (tt: Asserts, c: Placed): void => {
    const callerKeys = c.caller.filter((m) => m.dir === 'send' && isInvite(m)).at(-1)?.keys ?? [];
    const [first, retry] = c.callee.filter((m) => m.dir === 'recv' && isInvite(m));
    tt.ok(callerKeys.length > 0, `the caller offered ${callerKeys.length} a=crypto keys`);
    tt.same(first?.keys, callerKeys, 'the first INVITE relays the caller\'s own keys untouched');
    tt.ok((retry?.keys.length ?? 0) > 0 && retry!.keys.every((k) => !callerKeys.includes(k)), 'the retry carries keys of the box\'s, none of the caller\'s');
  };
  const SDES_BOX = { transport: 'tls', protection: 'sdes', keys: 'box' };
  const PLAIN_UDP = { transport: 'udp', protection: 'rtp' };

  t.test('plain UDP phone calls an srtp-mand TLS phone: 488 to the relayed RTP/AVP, retried as RTP/SAVP with box keys; the next call goes straight', async (t) => {
    const c1 = await talk(t, P, S, true);
    t.same(invitesIn(c1.callee), ['RTP/AVP', 'RTP/SAVP'], 'the callee got the relayed plain offer, then the box\'s SAVP offer');
    t.same(finalsOut(c1.callee), ['488', '200 RTP/SAVP'], 'it refused the first with 488 and took the second');
    t.ok(c1.callee.filter((m) => m.dir === 'recv' && isInvite(m))[1]?.crypto, 'the retry carries the box\'s a=crypto');
    t.same(finalIn(c1.caller), ['200 RTP/AVP'], 'the plain caller gets a plain answer');
    t.equal(c1.retried, 1, 'call.retry moved by one');
    assertLegs(t, c1, 'bridge', { party: P.ext, ...PLAIN_UDP }, { party: S.ext, ...SDES_BOX });
    assertWire(t, c1, P, c1.view.legs.a);
    assertWire(t, c1, S, c1.view.legs.b);

    const c2 = await talk(t, P, S);
    t.same(invitesIn(c2.callee), ['RTP/SAVP'], 'second call: one INVITE, straight to SAVP');
    t.same(finalsOut(c2.callee), ['200 RTP/SAVP'], 'no refusal');
    t.equal(c2.retried, 0, 'call.retry did not move');
    assertLegs(t, c2, 'bridge', PLAIN_UDP, SDES_BOX);
  });

  t.test('srtp-mand TLS phone calls the plain UDP phone: bridged SDES to RTP at once, no retry', async (t) => {
    const c = await talk(t, S, P, true);
    t.same(invitesIn(c.callee), ['RTP/AVP'], 'the plain phone gets one plain offer');
    t.equal(c.callee.filter((m) => m.dir === 'recv' && isInvite(m))[0]?.crypto, 0, 'with no a=crypto (its leg is UDP)');
    t.same(finalsOut(c.callee), ['200 RTP/AVP']);
    t.same(finalIn(c.caller), ['200 RTP/SAVP'], 'the SRTP caller gets an SAVP answer (the box\'s keys)');
    t.equal(c.retried, 0, 'call.retry did not move');
    assertLegs(t, c, 'bridge', { party: S.ext, ...SDES_BOX }, { party: P.ext, ...PLAIN_UDP });
    assertWire(t, c, S, c.view.legs.a);
    assertWire(t, c, P, c.view.legs.b);
  });

  t.test('srtp-mand (SAVP) calls srtp-mandf (SAVPF): 488 to the relayed SAVP, retried as SAVPF bridged; the next call goes straight', async (t) => {
    const c1 = await talk(t, S, F, true);
    t.same(invitesIn(c1.callee), ['RTP/SAVP', 'RTP/SAVPF'], 'the relayed SAVP offer, then the box\'s SAVPF offer');
    t.same(finalsOut(c1.callee), ['488', '200 RTP/SAVPF']);
    t.same(finalIn(c1.caller), ['200 RTP/SAVP'], 'the caller hears its own profile back');
    assertRelayThenBoxKeys(t, c1);
    t.equal(c1.retried, 1, 'call.retry moved by one');
    assertLegs(t, c1, 'bridge', { party: S.ext, ...SDES_BOX }, { party: F.ext, ...SDES_BOX });
    assertWire(t, c1, S, c1.view.legs.a);
    assertWire(t, c1, F, c1.view.legs.b);

    const c2 = await talk(t, S, F);
    t.same(invitesIn(c2.callee), ['RTP/SAVPF'], 'second call: straight to SAVPF');
    t.same(finalsOut(c2.callee), ['200 RTP/SAVPF']);
    t.equal(c2.retried, 0, 'call.retry did not move');
    assertLegs(t, c2, 'bridge', SDES_BOX, SDES_BOX);
  });

  t.test('srtp-mandf (SAVPF) calls srtp-mand (SAVP): 488 to the relayed SAVPF, retried as SAVP bridged; the next call goes straight', async (t) => {
    // 1002's contact already taught the box it refuses plain RTP; SAVPF is new to it, so the box first relays.
    const c1 = await talk(t, F, S, true);
    t.same(invitesIn(c1.callee), ['RTP/SAVPF', 'RTP/SAVP'], 'the relayed SAVPF offer, then the box\'s SAVP offer');
    t.same(finalsOut(c1.callee), ['488', '200 RTP/SAVP']);
    t.same(finalIn(c1.caller), ['200 RTP/SAVPF'], 'the caller hears its own profile back');
    assertRelayThenBoxKeys(t, c1);
    t.equal(c1.retried, 1, 'call.retry moved by one');
    assertLegs(t, c1, 'bridge', { party: F.ext, ...SDES_BOX }, { party: S.ext, ...SDES_BOX });
    assertWire(t, c1, F, c1.view.legs.a);
    assertWire(t, c1, S, c1.view.legs.b);

    const c2 = await talk(t, F, S);
    t.same(invitesIn(c2.callee), ['RTP/SAVP'], 'second call: straight to SAVP');
    t.same(finalsOut(c2.callee), ['200 RTP/SAVP']);
    t.equal(c2.retried, 0, 'call.retry did not move');
    assertLegs(t, c2, 'bridge', SDES_BOX, SDES_BOX);
  });

  t.test('the box is idle afterwards', async (t) => {
    const st = await waitFor('no call and no media session', () => {
      const x = boxStatus(data);
      return (x.calls ?? []).length === 0 && x.media?.sessions === 0 && x.media.portsInUse === 0 ? x : undefined;
    }, 8_000, 250).catch(() => boxStatus(data));
    t.same(st.calls ?? [], []);
    t.equal(st.media?.portsInUse, 0);
  });

  t.teardown(() => { t.comment(`abilities.test ran ${((Date.now() - started) / 1000).toFixed(1)} s`); });
}
