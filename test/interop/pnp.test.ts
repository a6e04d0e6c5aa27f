import t from 'tap';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reexecInNetns, startCapture, tsharkFields, waitFor } from './harness.js';
import { pbxOk, startBox } from './box.js';
import { boxStatus } from './call-harness.js';
import { createResponse, getHeader, parseMessage, serialize, type SipMessage } from '../../firmware/sip/message/index.js';

/*
 * Issue 12, discovery: SIP multicast plug-and-play (RFC 6080) as snom,
 * Yealink and Polycom phones send it. The box runs as `npm start` runs it, on
 * the standard SIP port 5060 and all addresses, inside a private network
 * namespace whose lo carries multicast (a 224.0.0.0/4 route on lo). A
 * "phone" with no configuration sends SUBSCRIBE `Event: ua-profile` to
 * 224.0.1.75:5060; the box answers 200 and sends a NOTIFY whose body
 * (application/url) is the provisioning URL; the phone follows it over plain
 * HTTP and gets the bootstrap (the CA's URL, no account) and the CA. tshark
 * shows the SUBSCRIBE went to the group address. A SUBSCRIBE for another
 * event package to the group gets no NOTIFY with a URL.
 */

const MULTICAST = 'ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo';
const GROUP = '224.0.1.75';
const MAC = '000413aabbcc';
if (!reexecInNetns(MULTICAST)) await main();

function subscribe(port: number, event: string): { text: string; callId: string } {
  const callId = `${randomBytes(8).toString('hex')}@127.0.0.1`;
  const text = [
    `SUBSCRIBE sip:MAC${MAC}@${GROUP} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK${randomBytes(8).toString('hex')};rport`,
    'Max-Forwards: 70',
    `From: <sip:MAC${MAC}@127.0.0.1>;tag=${randomBytes(5).toString('hex')}`,
    `To: <sip:MAC${MAC}@${GROUP}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 SUBSCRIBE',
    `Contact: <sip:MAC${MAC}@127.0.0.1:${port}>`,
    `Event: ${event}`,
    'Accept: application/url',
    'Expires: 0',
    'User-Agent: snomD785/10.1.33.33',
    'Content-Length: 0',
    '', '',
  ].join('\r\n');
  return { text, callId };
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    }).on('error', reject);
  });
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'pbx-pnp-'));
  const data = join(work, 'data');
  pbxOk(data)('account', 'add', '1001', '--password', 'alice-secret');
  const { proc: box, info } = await startBox(data, 120, ['--bind', '0.0.0.0', '--sip-port', '5060']);
  t.teardown(() => box.stop());
  await waitFor('the box to join the plug-and-play group', () => /plug-and-play: listening/.test(box.output()), 10_000);

  const phone = dgram.createSocket('udp4');
  phone.bind(0, '127.0.0.1');
  await new Promise((r) => phone.once('listening', r));
  t.teardown(() => phone.close());
  phone.setMulticastInterface('127.0.0.1');
  const port = phone.address().port;
  const got: SipMessage[] = [];
  phone.on('message', (buf) => {
    const r = parseMessage(buf);
    if (!r.ok) return;
    got.push(r.message);
    // Answer the NOTIFY as a phone does, so the box stops retransmitting it.
    if (r.message.kind === 'request' && r.message.method === 'NOTIFY') {
      phone.send(serialize(createResponse(r.message, 200, 'OK')), 5060, '127.0.0.1');
    }
  });

  const capture = await startCapture(join(work, 'pnp.pcap'), 'udp port 5060', join(work, 'tshark.log'));
  // tshark says it is capturing a moment before its first frame lands in the file.
  await new Promise((r) => setTimeout(r, 500));

  t.test('a ua-profile SUBSCRIBE to 224.0.1.75:5060 gets 200 and a NOTIFY carrying the provisioning URL', async (t) => {
    t.equal(info.ports.sipUdp, 5060, 'the box listens on the standard SIP port');
    const sub = subscribe(port, 'ua-profile;profile-type="device";vendor="snom";model="snomD785";version="10.1.33.33"');
    phone.send(sub.text, 5060, GROUP);
    const notify = await waitFor('the NOTIFY', () => got.find((m) => m.kind === 'request' && m.method === 'NOTIFY'), 5_000, 20);
    const ok = got.find((m) => m.kind === 'response' && getHeader(m, 'call-id') === sub.callId);
    t.equal(ok?.kind === 'response' ? ok.status : 0, 200, 'the SUBSCRIBE is accepted');
    t.equal(getHeader(notify, 'call-id'), sub.callId, 'the NOTIFY is in the subscription\'s dialog');
    t.match(getHeader(notify, 'event'), /^ua-profile/, 'Event: ua-profile');
    t.match(getHeader(notify, 'subscription-state'), /^terminated/, 'one NOTIFY ends the subscription');
    t.equal(getHeader(notify, 'content-type'), 'application/url');
    const url = notify.body.toString('utf8').trim();
    t.comment(`provisioning URL: ${url}`);
    t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/provision\/$/, 'the plain-HTTP bootstrap URL under /provision/');
    t.equal(Number(new URL(url).port), info.ports.http, 'on the box\'s plain HTTP port');

    // What the phone does next: its own file name under that URL, then the CA.
    const boot = await httpGet(`${url}snomD785-${MAC.toUpperCase()}.htm`);
    t.equal(boot.status, 200);
    t.match(boot.body, /<certificate type="trusted">/, 'the bootstrap installs the CA');
    t.notMatch(boot.body, /user_pass|user_name|1001/, 'and carries no account or secret');
    const ca = await httpGet(`${url}ca.crt`);
    t.equal(ca.body.trim(), readFileSync(info.caPath, 'utf8').trim(), 'the CA the box serves is its own');
    t.ok((boxStatus(data).counters?.['pnp.notified'] ?? 0) >= 1, 'counted');
  });

  t.test('another event package to the group gets no provisioning URL', async (t) => {
    const before = got.length;
    const sub = subscribe(port, 'presence');
    phone.send(sub.text, 5060, GROUP);
    await waitFor('an answer to the presence SUBSCRIBE', () => got.slice(before).find((m) => getHeader(m, 'call-id') === sub.callId), 5_000, 20);
    await new Promise((r) => setTimeout(r, 500));
    t.notOk(got.slice(before).some((m) => m.kind === 'request' && m.method === 'NOTIFY' && /provision/.test(m.body.toString())), 'no NOTIFY with a URL');
  });

  t.test('tshark: the SUBSCRIBE went to the multicast group, the NOTIFY back to the phone', async (t) => {
    const pcap = join(work, 'pnp.pcap');
    await capture.stop();
    const lines = tsharkFields(pcap, 'sip', ['ip.dst', 'sip.Method', 'sip.Status-Code', 'sip.Event']);
    t.comment(lines.join('\n'));
    t.ok(lines.some((l) => l.startsWith(`${GROUP}\tSUBSCRIBE\t\tua-profile`)), 'the ua-profile SUBSCRIBE went to 224.0.1.75');
    t.ok(lines.some((l) => /^127\.0\.0\.1\tNOTIFY/.test(l)), 'NOTIFY to the phone');
  });
}
