/**
 * The sipp side of the REGISTER bench: the UAC scenario, the injection file,
 * and pure readers for the files sipp leaves behind (-trace_stat, -trace_rtt,
 * -trace_err). No I/O here beyond what the caller passes in.
 */

/** One account sipp registers as. */
export interface BenchAccount {
  readonly extension: string;
  readonly password: string;
}

/** The name of the response-time counter in the scenario (and in sipp's files). */
export const RTD_NAME = 'registration';
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

/** SEQUENTIAL injection file: extension; [authentication ...] keyword. */
export function injectionCsv(accounts: readonly BenchAccount[]): string {
  for (const a of accounts) {
    // The keyword is split on spaces and closed by ']', so neither may appear in a field.
    if (/[\s;\]=]/.test(a.extension) || /[\s;\]]/.test(a.password)) {
      throw new Error(`account ${a.extension} has a character sipp's injection file cannot carry`);
    }
  }
  const lines = accounts.map((a) => `${a.extension};[authentication username=${a.extension} password=${a.password}]`);
  return `SEQUENTIAL\n${lines.join('\n')}\n`;
}

/** The account CSV for `pbx account import` (with a header row). */
export function accountsCsv(accounts: readonly BenchAccount[]): string {
  return `extension,password,name\n${accounts.map((a) => `${a.extension},${a.password},bench ${a.extension}`).join('\n')}\n`;
}

/** Cumulative counters from the last row of sipp's -trace_stat CSV. */
export interface SippStats {
  readonly successful: number;
  readonly failed: number;
  readonly retransmissions: number;
  readonly outOfCall: number;
  readonly deadCall: number;
  /** Non-zero cumulative Failed* counters by reason (e.g. MaxUDPRetrans, TimeoutOnRecv). */
  readonly failures: Readonly<Record<string, number>>;
}

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
    retransmissions: num('Retransmissions'),
    outOfCall: num('OutOfCallMsgs'),
    deadCall: num('DeadCallMsgs'),
    failures,
  };
}

/** Response times in ms from sipp's -trace_rtt CSV (`Date_ms;response_time_ms;rtd_no`). */
export function parseRttCsv(text: string, rtd: string = RTD_NAME): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    const [, ms, name] = line.trim().split(';');
    if (name !== rtd || ms === undefined) continue;
    const v = Number(ms);
    if (Number.isFinite(v)) out.push(v);
  }
  return out;
}

/**
 * The distinct kinds of error in sipp's -trace_err log with how often each
 * occurred: timestamps dropped and Call-IDs masked so repeats fold together.
 */
export function summarizeErrors(text: string, max = 5): Array<{ message: string; count: number }> {
  const counts = new Map<string, number>();
  // Entries start "2026-11-22\t08:29:03.868387\t1795336143.868387: message", and sipp does
  // not always end one with a newline, so split where the next timestamp begins.
  for (const raw of text.split(/\n|(?=\d{4}-\d\d-\d\d\t[\d:.]+\t[\d.]+:)/)) {
    const m = /^\d{4}-\d\d-\d\d\s+[\d:.]+\s+[\d.]+:\s*(.*)$/s.exec(raw.trim());
    if (!m?.[1]) continue;
    const key = m[1].replace(/\b\d+-\d+@[\w.:]+/g, '<call-id>').replace(/\s+/g, ' ').trim().slice(0, 200);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([message, count]) => ({ message, count })).sort((a, b) => b.count - a.count).slice(0, max);
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] ?? NaN;
}
