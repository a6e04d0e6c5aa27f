import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, startCapture, tsharkFields, waitFor } from './harness.js';
import { pbxOk, startBox } from './box.js';
import { assertHeard, established, none, sleep, startPhone, stopPhone, waitState, wavsNow, type RunningPhone } from './call-harness.js';

/*
 * Issue 14, box to box: two boxes in one namespace joined by a TLS trunk
 * (box 1 checks box 2's certificate against box 2's CA, given with --ca),
 * SDES on the trunk leg. A baresip on box 1 (100) dials 6300; box 1's route
 * 6 sends it to box 2, whose DID 6300 rings its baresip (300). Tones both
 * ways; tshark sees TLS between the boxes (no SIP in the clear) and SRTP
 * between their media ports.
 */

const A = { ext: '100', pass: 'site-one-secret', sip: 34000, ctrl: 34100, rtp: '34200-34299', tone: 1000 };
const B = { ext: '300', pass: 'site-two-secret', sip: 34010, ctrl: 34110, rtp: '34300-34399', tone: 600 };
const RTP1 = '43000-43499';
const RTP2 = '43500-43999';
const TALK_MS = 3000;

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'pbx-boxes-'));
  const data1 = join(work, 'box1', 'data');
  const data2 = join(work, 'box2', 'data');
  const cli1 = pbxOk(data1);
  const cli2 = pbxOk(data2);
  cli1('account', 'add', A.ext, '--password', A.pass);
  cli2('account', 'add', B.ext, '--password', B.pass);
  for (const cli of [cli1, cli2]) cli('policy', 'add', 'trunk-sdes', '--caller', 'decrypt', '--callee', 'sdes');
  // Box 2 takes box 1's calls by address (an IP-authenticated trunk) and rings 300 for 6300.
  cli2('trunk', 'add', 'site1', '--host', '127.0.0.1:5', '--transport', 'tls', '--allow', '127.0.0.1', '--media', 'sdes', '--policy', 'trunk-sdes');
  cli2('did', 'add', '6300', '--to', B.ext, '--trunk', 'site1');
  const { proc: box2, info: info2 } = await startBox(data2, 300, ['--rtp-ports', RTP2], join(work, 'box2.log'));
  t.teardown(() => box2.stop());
  cli1('trunk', 'add', 'site2', '--host', `127.0.0.1:${info2.ports.sipTls}`, '--transport', 'tls', '--ca', info2.caPath, '--media', 'sdes', '--policy', 'trunk-sdes');
  cli1('route', 'add', '6', '--trunk', 'site2');
  const { proc: box1, info: info1 } = await startBox(data1, 300, ['--rtp-ports', RTP1], join(work, 'box1.log'));
  t.teardown(() => box1.stop());
  t.comment(`box 1 UDP ${info1.ports.sipUdp}; box 2 TLS ${info2.ports.sipTls}; work ${work}`);

  const phones: RunningPhone[] = [];
  t.teardown(async () => { for (const p of phones) await stopPhone(p); });
  let a!: RunningPhone, b!: RunningPhone;
  await t.test('the phones register to their boxes', async (tt) => {
    [a, b] = await Promise.all([
      startPhone(work, A, { account: `<sip:${A.ext}@127.0.0.1:${info1.ports.sipUdp}>`, answermode: 'auto' }),
      startPhone(work, B, { account: `<sip:${B.ext}@127.0.0.1:${info2.ports.sipUdp}>`, answermode: 'auto' }),
    ]);
    phones.push(a, b);
    const registered = (cli: (...args: string[]) => string, ext: string): boolean =>
      (JSON.parse(cli('status', '--json')) as { registrations: { extension: string }[] }).registrations.some((r) => r.extension === ext);
    tt.ok(await waitFor('both registered', () => registered(cli1, A.ext) && registered(cli2, B.ext), 15_000));
  });

  await t.test('100 on box 1 calls 300 on box 2 over the TLS trunk: audio both ways, TLS and SRTP on the trunk', async (tt) => {
    const beforeA = wavsNow(a.dir);
    const beforeB = wavsNow(b.dir);
    const sigPcap = join(work, 'trunk-sip.pcap');
    const rtpPcap = join(work, 'trunk-rtp.pcap');
    const sig = await startCapture(sigPcap, `tcp port ${info2.ports.sipTls}`, join(work, 'tshark-sip.log'));
    // Media between the boxes: from box 1's range to box 2's and back.
    const [lo1, hi1] = RTP1.split('-');
    const [lo2, hi2] = RTP2.split('-');
    const rtp = await startCapture(rtpPcap, `udp and src portrange ${lo1}-${hi2} and dst portrange ${lo1}-${hi2}`, join(work, 'tshark-rtp.log'));
    tt.ok((await a.ctrl.dial(`sip:6300@127.0.0.1:${info1.ports.sipUdp}`)).ok, 'dial 6300');
    await waitState(a.ctrl, '100 established', established, 15_000);
    await waitState(b.ctrl, '300 established', established, 15_000);
    await sleep(TALK_MS);
    await a.ctrl.hangup();
    await waitState(a.ctrl, 'hung up', none);
    await waitState(b.ctrl, 'hung up', none);
    const sipBytes = await sig.stop();
    await rtp.stop();
    assertHeard(tt, A.ext, a.dir, beforeA, B.tone, TALK_MS / 1000);
    assertHeard(tt, B.ext, b.dir, beforeB, A.tone, TALK_MS / 1000);
    tt.ok(sipBytes.length > 1000, `the trunk's signalling was captured (${sipBytes.length} bytes)`);
    // A non-standard port: tshark is told the stream is TLS.
    const tlsRecords = tsharkFields(sigPcap, 'tls.app_data', ['frame.number'], ['-d', `tcp.port==${info2.ports.sipTls},tls`]).length;
    tt.ok(tlsRecords >= 4, `TLS application data between the boxes: ${tlsRecords} frames`);
    for (const needle of ['INVITE sip:', 'SIP/2.0 ', 'a=crypto:']) tt.notOk(sipBytes.includes(Buffer.from(needle)), `no "${needle}" in the clear on the trunk`);
    const between = tsharkFields(rtpPcap, 'udp', ['udp.srcport', 'udp.dstport', 'udp.length']).map((l) => l.split('\t').map(Number));
    const inRange = (p: number, lo: string, hi: string): boolean => p >= Number(lo) && p <= Number(hi);
    const trunk = between.filter(([s, d]) => (inRange(s!, lo1!, hi1!) && inRange(d!, lo2!, hi2!)) || (inRange(s!, lo2!, hi2!) && inRange(d!, lo1!, hi1!)));
    tt.ok(trunk.filter(([, , len]) => len === 190).length > 100, `SRTP (182-byte packets) both ways between the boxes: ${trunk.filter(([, , len]) => len === 190).length}`);
    tt.equal(trunk.filter(([, , len]) => len === 180).length, 0, 'no plain RTP between the boxes');
  });
}

if (!reexecInNetns()) {
  const missing = ['baresip', 'tshark', 'sox'].filter((c) => !have(c));
  if (missing.length) t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  else await main();
}
