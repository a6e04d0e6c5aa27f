import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProc, type Proc } from './harness.js';

/*
 * A plain-RTP callee that sends early media, which neither Debian's baresip
 * (answermode=early sends 183 with SDP but no RTP before 200) nor linphonec
 * does: sipp (Debian's sip-tester, UDP only) registers, then answers an
 * INVITE with 180, 183 with SDP, starts replaying a pcap of PCMU RTP at the
 * box, and sends 200 OK `earlyMs` later. The call ends with the caller's BYE.
 */

const REGISTER = (ext: string, pass: string): string => `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register">
  <send retrans="500"><![CDATA[
REGISTER sip:127.0.0.1:[remote_port] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch]
From: <sip:${ext}@127.0.0.1>;tag=[pid]reg[call_number]
To: <sip:${ext}@127.0.0.1>
Call-ID: [call_id]
CSeq: 1 REGISTER
Contact: <sip:${ext}@[local_ip]:[local_port]>
Max-Forwards: 70
Expires: 600
User-Agent: sipp-early
Content-Length: 0

]]></send>
  <recv response="401" auth="true"/>
  <send retrans="500"><![CDATA[
REGISTER sip:127.0.0.1:[remote_port] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch]
From: <sip:${ext}@127.0.0.1>;tag=[pid]reg[call_number]
To: <sip:${ext}@127.0.0.1>
Call-ID: [call_id]
CSeq: 2 REGISTER
Contact: <sip:${ext}@[local_ip]:[local_port]>
[authentication username=${ext} password=${pass}]
Max-Forwards: 70
Expires: 600
User-Agent: sipp-early
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>
`;

const SDP = `v=0
o=sipp 1 1 IN IP4 [media_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=ptime:20
a=sendrecv
`;

const reply = (status: string, sdp: boolean): string => `  <send><![CDATA[
SIP/2.0 ${status}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]early[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=udp>
${sdp ? 'Content-Type: application/sdp\nContent-Length: [len]\n\n' + SDP : 'Content-Length: 0\n'}
]]></send>
`;

const UAS = (pcap: string, earlyMs: number): string => `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="early media callee">
  <recv request="INVITE"/>
${reply('180 Ringing', false)}${reply('183 Session Progress', true)}  <nop><action><exec play_pcap_audio="${pcap}"/></action></nop>
  <pause milliseconds="${earlyMs}"/>
${reply('200 OK', true).replace('<send>', '<send retrans="500">')}  <recv request="ACK"/>
  <recv request="BYE"/>
${reply('200 OK', false)}</scenario>
`;

/** Register `ext` from 127.0.0.1:port (sipp exits on 200 OK). */
export function sippRegister(dir: string, boxUdp: number, port: number, ext: string, pass: string): { status: number | null; output: string } {
  const sf = join(dir, 'register.xml');
  writeFileSync(sf, REGISTER(ext, pass));
  const r = spawnSync('timeout', ['-k', '2', '15', 'sipp', `127.0.0.1:${boxUdp}`, '-sf', sf, '-i', '127.0.0.1', '-p', String(port), '-m', '1', '-nostdin',
    '-timeout', '10s', '-trace_err', '-error_file', join(dir, 'register-errors.log')], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** The callee on 127.0.0.1:port, its RTP from mediaPort, for one call. */
export function startSippEarly(dir: string, o: { port: number; mediaPort: number; pcap: string; earlyMs: number; timeoutSec: number }): Proc {
  const sf = join(dir, 'uas.xml');
  writeFileSync(sf, UAS(o.pcap, o.earlyMs));
  return startProc('sipp', ['-sf', sf, '-i', '127.0.0.1', '-p', String(o.port), '-mi', '127.0.0.1', '-mp', String(o.mediaPort), '-m', '1', '-nostdin',
    '-trace_err', '-error_file', join(dir, 'uas-errors.log')], { cwd: dir, timeoutSec: o.timeoutSec, log: join(dir, 'sipp-uas.log') });
}
