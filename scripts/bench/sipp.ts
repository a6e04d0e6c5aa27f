/**
 * The sipp side of the benches: the scenarios (REGISTER; call UAC and UAS),
 * the injection and account files, and pure readers for the files sipp leaves
 * behind (-trace_stat, -trace_rtt, -trace_err, bash's `times`). No I/O here.
 */

/** One account sipp registers as. */
export interface BenchAccount {
  readonly extension: string;
  readonly password: string;
}

/** The name of the response-time counter in the REGISTER scenario (and in sipp's files). */
export const RTD_NAME = 'registration';
/** The call scenario's response-time counter: first INVITE to the 200 OK. */
export const CALL_RTD_NAME = 'setup';
/** UDP retransmission start (RFC 3261 T1); sipp doubles it up to its -max_retrans. */
export const RETRANS_MS = 500;

/**
 * REGISTER, expect 401, REGISTER again with digest credentials, expect 200
 * (RFC 3261 section 10.2 with the challenge of section 22). The response time
 * counter runs from the first REGISTER to the final 200, so it covers both
 * transactions: what a phone waits for when it registers.
 *
 * sipp does not expand [field0] inside the [authentication] keyword, so the
 * injection file carries the whole keyword as field 1.
 */
export function registerScenario(): string {
  const request = (cseq: number, auth: boolean): string => [
    'REGISTER sip:[remote_ip]:[remote_port] SIP/2.0',
    'Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]',
    'Max-Forwards: 70',
    'From: <sip:[field0]@127.0.0.1>;tag=[pid]SIPpTag[call_number]',
    'To: <sip:[field0]@127.0.0.1>',
    'Call-ID: [call_id]',
    `CSeq: ${cseq} REGISTER`,
    'Contact: <sip:[field0]@[local_ip]:[local_port]>',
    ...(auth ? ['[field1]'] : []),
    'Expires: 600',
    'User-Agent: sipp-register-bench',
    'Content-Length: 0',
    '',
    '',
  ].join('\n');
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="pbx REGISTER with digest">
  <send retrans="${RETRANS_MS}" start_rtd="${RTD_NAME}">
    <![CDATA[
${request(1, false)}    ]]>
  </send>
  <recv response="401" auth="true" />
  <send retrans="${RETRANS_MS}">
    <![CDATA[
${request(2, true)}    ]]>
  </send>
  <recv response="200" rtd="${RTD_NAME}" />
</scenario>
`;
}

/**
 * SEQUENTIAL injection file: extension; then, for calls, the callee; then the
 * whole [authentication ...] keyword.
 */
export function injectionCsv(accounts: readonly BenchAccount[], callee?: string): string {
  for (const a of accounts) {
    // The keyword is split on spaces and closed by ']', fields end at ';', so none of these may appear in one.
    if (/[\s;\]=]/.test(a.extension) || /[\s;\]]/.test(a.password)) {
      throw new Error(`account ${a.extension} has a character sipp's injection file cannot carry`);
    }
  }
  const middle = callee === undefined ? '' : `${callee};`;
  const lines = accounts.map((a) => `${a.extension};${middle}[authentication username=${a.extension} password=${a.password}]`);
  return `SEQUENTIAL\n${lines.join('\n')}\n`;
}

/** The account CSV for `pbx account import` (with a header row); each account is named `<namePrefix> <extension>`. */
export function accountsCsv(accounts: readonly BenchAccount[], namePrefix = 'bench'): string {
  return `extension,password,name\n${accounts.map((a) => `${a.extension},${a.password},${namePrefix} ${a.extension}`).join('\n')}\n`;
}

// ---------------------------------------------------------------- calls

/** The UAS keeps a finished call this long to absorb retransmitted BYEs. */
export const UAS_TIMEWAIT_MS = 4_000;
/** The UAC keeps a finished call this long, so the 200s to its retransmitted BYEs are not "dead call" errors. */
export const UAC_TIMEWAIT_MS = 2_000;

const SDP = [
  'v=0',
  'o=bench 53655765 2353687637 IN IP[local_ip_type] [local_ip]',
  's=-',
  'c=IN IP[media_ip_type] [media_ip]',
  't=0 0',
  'm=audio [media_port] RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
];

const msg = (lines: readonly string[]): string => `    <![CDATA[\n${lines.join('\n')}\n\n    ]]>`;

/**
 * The caller. With `auth`, the first INVITE draws a 401; the ACK for that
 * final response belongs to the INVITE transaction (RFC 3261 17.1.1.3): same
 * branch and Request-URI as the INVITE, the To tag of the 401, CSeq method
 * ACK. The retried INVITE keeps Call-ID and From tag, takes the next CSeq
 * and a new branch (22.2). The ACK for the 2xx and the BYE are in-dialog
 * requests to the box's Contact (13.2.2.4, 15.1.1). Fields: caller; callee;
 * the whole [authentication ...] keyword (sipp does not expand [fieldN]
 * inside it).
 */
export function uacScenario(auth: boolean, holdMs: number, audioPcap?: string): string {
  const from = 'From: <sip:[field0]@127.0.0.1>;tag=[pid]SIPpTag[call_number]';
  const common = ['Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]', 'Max-Forwards: 70', from];
  const invite = (cseq: number, withAuth: boolean): string[] => [
    'INVITE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0',
    ...common,
    'To: <sip:[field1]@127.0.0.1>',
    'Call-ID: [call_id]',
    `CSeq: ${cseq} INVITE`,
    'Contact: <sip:[field0]@[local_ip]:[local_port]>',
    ...(withAuth ? ['[field2]'] : []),
    'User-Agent: sipp-calls-bench',
    'Content-Type: application/sdp',
    'Content-Length: [len]',
    '',
    ...SDP,
  ];
  const inDialog = (method: string, cseq: number): string[] => [
    `${method} [next_url] SIP/2.0`,
    ...common,
    'To: <sip:[field1]@127.0.0.1>[peer_tag_param]',
    'Call-ID: [call_id]',
    `CSeq: ${cseq} ${method}`,
    'Contact: <sip:[field0]@[local_ip]:[local_port]>',
    'Content-Length: 0',
  ];
  const answeredCseq = auth ? 2 : 1;
  const challenge = auth ? `
  <recv response="100" optional="true" />
  <recv response="401" auth="true" />
  <send>
${msg([
    'ACK sip:[field1]@[remote_ip]:[remote_port] SIP/2.0',
    '[last_Via:]', 'Max-Forwards: 70', from, '[last_To:]', 'Call-ID: [call_id]', 'CSeq: 1 ACK', 'Content-Length: 0',
  ])}
  </send>
  <send retrans="${RETRANS_MS}">
${msg(invite(2, true))}
  </send>` : '';
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="bench UAC${auth ? ' with digest' : ''}">
  <send retrans="${RETRANS_MS}" start_rtd="${CALL_RTD_NAME}">
${msg(invite(1, false))}
  </send>${challenge}
  <recv response="100" optional="true" />
  <recv response="180" optional="true" />
  <recv response="183" optional="true" />
  <recv response="200" rtd="${CALL_RTD_NAME}" rrs="true" />
  <send>
${msg(inDialog('ACK', answeredCseq))}
  </send>${playAudio(audioPcap)}
  <pause milliseconds="${holdMs}" />
  <send retrans="${RETRANS_MS}">
${msg(inDialog('BYE', answeredCseq + 1))}
  </send>
  <recv response="200" crlf="true" />
  <timewait milliseconds="${UAC_TIMEWAIT_MS}" />
</scenario>
`;
}

/**
 * The callee: 180, then 200 with SDP retransmitted until the ACK (RFC 3261
 * 13.3.1.4), then BYE -> 200. A box whose event loop lags past T1 resends
 * its INVITE (Timer A, 17.1.1.2) even though the 180 is already queued; sipp
 * 3.6.1 aborts a call on such a retransmission once it has sent the 200
 * ("unexpected message ... while expecting 'ACK'"), so an optional
 * INVITE reception swallows them here (optional="global": also once the
 * call has moved past it), as one does the ACKs the box sends for each
 * retransmitted 200 (13.2.2.4); the 200 keeps going until the first ACK.
 */
export function uasScenario(audioPcap?: string): string {
  const echo = ['[last_Via:]', '[last_From:]', '[last_To:];tag=[pid]SIPpTag01[call_number]', '[last_Call-ID:]', '[last_CSeq:]',
    'Contact: <sip:[local_ip]:[local_port];transport=[transport]>'];
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="bench UAS">
  <recv request="INVITE" crlf="true" />
  <send>
${msg(['SIP/2.0 180 Ringing', ...echo, 'Content-Length: 0'])}
  </send>
  <send retrans="${RETRANS_MS}">
${msg(['SIP/2.0 200 OK', ...echo, 'Content-Type: application/sdp', 'Content-Length: [len]', '', ...SDP])}
  </send>
  <recv request="INVITE" optional="global" />
  <recv request="ACK" crlf="true" />${playAudio(audioPcap)}
  <recv request="ACK" optional="global" />
  <recv request="BYE" />
  <send>
${msg(['SIP/2.0 200 OK', '[last_Via:]', '[last_From:]', '[last_To:]', '[last_Call-ID:]', '[last_CSeq:]', 'Content-Length: 0'])}
  </send>
  <timewait milliseconds="${UAS_TIMEWAIT_MS}" />
</scenario>
`;
}

/**
 * With a pcap file, the call plays it as its audio from the media port of its
 * SDP to the port the other side's SDP named (sipp's play_pcap_audio: sipp
 * rewrites the packets' addresses and keeps their timing, in a thread of its
 * own, so the scenario goes on while it plays).
 */
function playAudio(pcap: string | undefined): string {
  return pcap === undefined ? '' : `
  <nop><action><exec play_pcap_audio="${pcap}" /></action></nop>`;
}

/** RTP payload bytes of one 20 ms PCMU frame, and the frame time. */
const PCMU_FRAME = 160;
const FRAME_MS = 20;

/** One ITU-T G.711 u-law byte for a 16-bit linear sample. */
function ulaw(sample: number): number {
  const BIAS = 0x84;
  let s = Math.max(-32_635, Math.min(32_635, Math.round(sample)));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  s += BIAS;
  let exp = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exp > 0; mask >>= 1) exp--;
  const mant = (s >> (exp + 3)) & 0x0f;
  return ~(sign | (exp << 4) | mant) & 0xff;
}

/** The RFC 1071 ones'-complement checksum of an IPv4 header. */
function ipChecksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < h.length; i += 2) sum += h.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * A pcap file (Ethernet, IPv4, UDP) of `ms` of PCMU RTP (payload type 0,
 * RFC 3551), one packet every 20 ms carrying a 440 Hz tone: what sipp's
 * play_pcap_audio sends as a call's audio. Addresses and ports in it are
 * placeholders (sipp rewrites them); the UDP checksum is 0 (none, IPv4).
 */
export function pcmuPcap(ms: number, ssrc = 0x50a1c0de): Buffer {
  const frames = Math.max(1, Math.round(ms / FRAME_MS));
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0); head.writeUInt16LE(2, 4); head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65_535, 16); head.writeUInt32LE(1, 20);
  const parts: Buffer[] = [head];
  const udpLen = 8 + 12 + PCMU_FRAME;
  for (let n = 0; n < frames; n++) {
    const pkt = Buffer.alloc(14 + 20 + udpLen);
    pkt.writeUInt16BE(0x0800, 12);
    const ip = pkt.subarray(14, 34);
    ip[0] = 0x45; ip.writeUInt16BE(20 + udpLen, 2); ip[8] = 64; ip[9] = 17;
    ip.set([10, 0, 0, 1], 12); ip.set([10, 0, 0, 2], 16);
    ip.writeUInt16BE(ipChecksum(ip), 10);
    const udp = pkt.subarray(34);
    udp.writeUInt16BE(6_000, 0); udp.writeUInt16BE(6_002, 2); udp.writeUInt16BE(udpLen, 4);
    const rtp = udp.subarray(8);
    rtp[0] = 0x80; rtp[1] = n === 0 ? 0x80 : 0; rtp.writeUInt16BE(n & 0xffff, 2);
    rtp.writeUInt32BE((n * PCMU_FRAME) >>> 0, 4); rtp.writeUInt32BE(ssrc >>> 0, 8);
    for (let i = 0; i < PCMU_FRAME; i++) rtp[12 + i] = ulaw(8_000 * Math.sin((2 * Math.PI * 440 * (n * PCMU_FRAME + i)) / 8_000));
    const rec = Buffer.alloc(16);
    const us = n * FRAME_MS * 1000;
    rec.writeUInt32LE(Math.floor(us / 1e6), 0); rec.writeUInt32LE(us % 1e6, 4);
    rec.writeUInt32LE(pkt.length, 8); rec.writeUInt32LE(pkt.length, 12);
    parts.push(rec, pkt);
  }
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------- sipp's files

/** Cumulative counters from the last row of sipp's -trace_stat CSV (or the difference of two such rows). */
export interface SippStats {
  readonly successful: number;
  readonly failed: number;
  readonly created: number;
  readonly retransmissions: number;
  readonly outOfCall: number;
  readonly deadCall: number;
  /** Non-zero cumulative Failed* counters by reason (e.g. MaxUDPRetrans, TimeoutOnRecv). */
  readonly failures: Readonly<Record<string, number>>;
}

export const NO_STATS: SippStats = { successful: 0, failed: 0, created: 0, retransmissions: 0, outOfCall: 0, deadCall: 0, failures: {} };

/**
 * Read the stat CSV: a header row of `Name(P)` / `Name(C)` columns separated by
 * ';', then one row per dump; the last row holds the final cumulative values.
 */
export function parseStatCsv(text: string): SippStats | undefined {
  const rows = text.split('\n').map((l) => l.trimEnd()).filter((l) => l.length > 0);
  const header = rows[0]?.split(';');
  const last = rows.length > 1 ? rows[rows.length - 1]?.split(';') : undefined;
  if (!header || !last) return undefined;
  const num = (name: string): number => {
    const i = header.indexOf(`${name}(C)`);
    const v = i >= 0 ? Number(last[i]) : NaN;
    return Number.isFinite(v) ? v : 0;
  };
  const failures: Record<string, number> = {};
  for (const col of header) {
    const m = /^Failed(\w+)\(C\)$/.exec(col);
    if (m?.[1] && num(`Failed${m[1]}`) > 0) failures[m[1]] = num(`Failed${m[1]}`);
  }
  return {
    successful: num('SuccessfulCall'),
    failed: num('FailedCall'),
    created: num('TotalCallCreated'),
    retransmissions: num('Retransmissions'),
    outOfCall: num('OutOfCallMsgs'),
    deadCall: num('DeadCallMsgs'),
    failures,
  };
}

/** What the counters did between two readings of one long-running sipp's stat CSV. */
export function statDelta(now: SippStats, before: SippStats): SippStats {
  const failures: Record<string, number> = {};
  for (const [k, v] of Object.entries(now.failures)) if (v - (before.failures[k] ?? 0) > 0) failures[k] = v - (before.failures[k] ?? 0);
  return {
    successful: now.successful - before.successful, failed: now.failed - before.failed, created: now.created - before.created,
    retransmissions: now.retransmissions - before.retransmissions, outOfCall: now.outOfCall - before.outOfCall,
    deadCall: now.deadCall - before.deadCall, failures,
  };
}

/** sipp's -trace_rtt CSV (`date_ms;response_time_ms;rtd_name`): when each response came (atMs) and how long it took (ms). */
export function parseRttCsv(text: string, rtd: string): { atMs: number[]; ms: number[] } {
  const atMs: number[] = [];
  const ms: number[] = [];
  for (const line of text.split('\n')) {
    const [at, v, name] = line.trim().split(';');
    if (name !== rtd) continue;
    if (Number.isFinite(Number(at)) && Number.isFinite(Number(v))) { atMs.push(Number(at)); ms.push(Number(v)); }
  }
  return { atMs, ms };
}

/**
 * The distinct kinds of error in sipp's -trace_err log with how often each
 * occurred: timestamps dropped and Call-IDs masked so repeats fold together.
 * With `firstLine`, only an entry's first line counts (the SIP message quoted
 * after it would make every entry distinct).
 */
export function summarizeErrors(text: string, max = 5, firstLine = false): Array<{ message: string; count: number }> {
  const counts = new Map<string, number>();
  // Entries start "2026-11-22\t08:29:03.868387\t1795336143.868387: message", and sipp does
  // not always end one with a newline, so split where the next timestamp begins.
  for (const raw of text.split(/\n|(?=\d{4}-\d\d-\d\d\t[\d:.]+\t[\d.]+:)/)) {
    const m = /^\d{4}-\d\d-\d\d\s+[\d:.]+\s+[\d.]+:\s*(.*)$/s.exec(raw.trim());
    if (!m?.[1]) continue;
    const entry = firstLine ? (m[1].split('\n')[0] ?? '') : m[1];
    const key = entry
      .replace(/(Call-I[dD] '|Dead call )[^\s']+/g, '$1<call-id>')
      .replace(/\b\d+-\d+@[\w.:]+/g, '<call-id>')
      .replace(/\s+/g, ' ').trim().slice(0, 200);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([message, count]) => ({ message, count })).sort((a, b) => b.count - a.count).slice(0, max);
}

/** The children's user + system seconds from bash's `times` (its second line: "0m1.234s 0m0.567s"). */
export function sippCpuSeconds(text: string): number {
  const line = text.split('\n')[1] ?? '';
  const parts = [...line.matchAll(/(\d+)m([\d.]+)s/g)];
  if (parts.length < 2) return NaN;
  return parts.reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0);
}
