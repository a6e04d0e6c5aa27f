/**
 * Issue 20's flood "must show", against the appliance as `pbx run` starts it,
 * inside a private network namespace: one source (127.0.0.1) floods the SIP
 * UDP port for FLOOD_S seconds with junk and unauthenticated REGISTER/OPTIONS
 * as fast as a process can send; a legitimate phone on another address
 * (127.0.0.2) must register with digest during the flood and within 1 s after
 * it, and the box's RSS must come back within 20% of its pre-flood value
 * within a minute (the test ends as soon as it has).
 */
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { digestAuthorization } from '../../firmware/sip/digest/index.js';
import { getHeader, parseMessage } from '../../firmware/sip/message/index.js';
import { pbxOk, startBox } from '../interop/box.js';
import { reexecInNetns } from '../interop/harness.js';

const FLOOD_S = 10;
/** How often the phone starts a registration during the flood. */
const PHONE_EVERY_MS = 250;
/** RFC 3261 T1: the phone's first retransmission; it doubles. */
const T1_MS = 500;
/** One registration (two transactions) gives up after this. */
const REG_TIMEOUT_MS = 4_000;
const RSS_RETURN_MS = 60_000;
/**
 * Registrations started during the flood that must complete within
 * REG_TIMEOUT_MS. On an idle machine nearly all do (41 of 42 seen); when
 * other work starves the box of CPU, the kernel drops datagrams at the socket
 * whatever their source, and 6 of 47 were seen. What must hold either way:
 * the phone keeps getting through, and is never shut out for long.
 */
const MIN_SUCCESS_SHARE = 0.1;
/** Longest time during the flood without a registration completing: half the flood. */
const MAX_GAP_MS = 5_000;
const RSS_TOLERANCE = 0.2;
const EXT = '1001';
const PASSWORD = `f${randomBytes(9).toString('hex')}`;
const PHONE_ADDRESS = '127.0.0.2';
const FLOODER = fileURLToPath(new URL('./flooder.js', import.meta.url));

function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) / 1024;
}

/** A UDP phone on its own address: REGISTER, 401, REGISTER with digest, 200; retransmits as RFC 3261 17.1.2 says. */
class Phone {
  private socket!: Socket;
  private readonly waiting = new Map<string, (status: number, challenge?: string) => void>();
  constructor(private readonly host: string, private readonly port: number) {}

  async open(): Promise<void> {
    this.socket = createSocket('udp4');
    this.socket.on('message', (buf) => {
      const msg = parseMessage(buf);
      if (!msg.ok || msg.message.kind !== 'response' || msg.message.status < 200) return;
      const key = `${getHeader(msg.message, 'call-id') ?? ''} ${getHeader(msg.message, 'cseq') ?? ''}`;
      this.waiting.get(key)?.(msg.message.status, getHeader(msg.message, 'www-authenticate'));
    });
    await new Promise<void>((resolve) => this.socket.bind(0, PHONE_ADDRESS, resolve));
  }

  close(): void { this.socket.close(); }

  private transaction(callId: string, cseq: number, authorization?: string): Promise<{ status: number; challenge?: string } | undefined> {
    const local = this.socket.address().port;
    const text = [
      `REGISTER sip:${this.host}:${this.port} SIP/2.0`,
      `Via: SIP/2.0/UDP ${PHONE_ADDRESS}:${local};branch=z9hG4bK${randomBytes(8).toString('hex')}`,
      'Max-Forwards: 70',
      `From: <sip:${EXT}@${this.host}>;tag=${callId.slice(0, 8)}`,
      `To: <sip:${EXT}@${this.host}>`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <sip:${EXT}@${PHONE_ADDRESS}:${local}>`,
      ...(authorization ? [`Authorization: ${authorization}`] : []),
      'Expires: 300',
      'Content-Length: 0',
      '', '',
    ].join('\r\n');
    const key = `${callId} ${cseq} REGISTER`;
    return new Promise((resolve) => {
      let wait = T1_MS;
      let timer: NodeJS.Timeout;
      const send = (): void => {
        this.socket.send(text, this.port, this.host);
        timer = setTimeout(send, wait);
        wait *= 2;
      };
      const give = setTimeout(() => { clearTimeout(timer); this.waiting.delete(key); resolve(undefined); }, REG_TIMEOUT_MS);
      this.waiting.set(key, (status, challenge) => {
        clearTimeout(timer); clearTimeout(give); this.waiting.delete(key);
        resolve({ status, ...(challenge !== undefined ? { challenge } : {}) });
      });
      send();
    });
  }

  /** The status the registration ended with (0: no answer) and when it ended (Date.now()). */
  async register(): Promise<{ status: number; at: number; ms: number }> {
    const t0 = Date.now();
    const callId = `${randomBytes(8).toString('hex')}@${PHONE_ADDRESS}`;
    const first = await this.transaction(callId, 1);
    if (first?.status !== 401 || first.challenge === undefined) return { status: first?.status ?? 0, at: Date.now(), ms: Date.now() - t0 };
    const authorization = digestAuthorization({
      challenge: first.challenge, method: 'REGISTER', uri: `sip:${this.host}:${this.port}`, username: EXT, password: PASSWORD,
    });
    const second = await this.transaction(callId, 2, authorization);
    return { status: second?.status ?? 0, at: Date.now(), ms: Date.now() - t0 };
  }
}

async function main(t: Test): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'pbx-flood-'));
  const data = join(work, 'data');
  pbxOk(data)('account', 'add', EXT, '--password', PASSWORD);
  const { proc: box, info } = await startBox(data, 180, [], join(work, 'box.log'));
  t.teardown(async () => { await box.stop(); rmSync(work, { recursive: true, force: true }); });
  const phone = new Phone('127.0.0.1', info.ports.sipUdp);
  await phone.open();
  t.teardown(() => phone.close());

  // Warm: a few registrations, then the resting RSS.
  for (let i = 0; i < 5; i++) { const r = await phone.register(); t.equal(r.status, 200, `registers before the flood (${r.ms} ms)`); }
  await new Promise((r) => setTimeout(r, 1000));
  const rssBefore = rssMb(info.pid);

  const flooder = spawn('timeout', ['-k', '2', String(FLOOD_S + 10), process.execPath, FLOODER, '127.0.0.1', String(info.ports.sipUdp), String(FLOOD_S), '127.0.0.1'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { if (flooder.exitCode === null) flooder.kill('SIGKILL'); });
  let out = '';
  flooder.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  const floodDone = new Promise<number>((resolve) => flooder.once('exit', () => resolve(Date.now())));
  let flooding = true;
  void floodDone.then(() => { flooding = false; });
  const floodStart = Date.now();

  // During: a registration every PHONE_EVERY_MS, each on its own.
  const during: Array<Promise<{ status: number; at: number; ms: number }>> = [];
  let rssPeak = rssBefore;
  while (flooding) {
    during.push(phone.register());
    rssPeak = Math.max(rssPeak, rssMb(info.pid));
    await new Promise((r) => setTimeout(r, PHONE_EVERY_MS));
  }
  const floodEnd = await floodDone;
  const after = await phone.register();
  const results = await Promise.all(during);
  const stats = JSON.parse(out.trim() || '{}') as { sent?: number; perSecond?: number; seconds?: number };
  const inFlood = results.filter((r) => r.status === 200 && r.at <= floodEnd);
  const ms = inFlood.map((r) => r.ms).sort((a, b) => a - b);
  t.comment(`flood: ${stats.sent} datagrams in ${stats.seconds} s (${stats.perSecond}/s) from 127.0.0.1; `
    + `phone during the flood: ${inFlood.length}/${results.length} registered (p50 ${ms[Math.floor(ms.length / 2)]} ms, max ${ms[ms.length - 1]} ms); `
    + `after: ${after.status} in ${after.ms} ms; RSS before ${rssBefore.toFixed(1)} MB, peak ${rssPeak.toFixed(1)} MB`);
  t.ok((stats.perSecond ?? 0) > 10_000, 'the flood ran at a rate that fills an unprotected table in seconds');
  t.ok(floodEnd - floodStart >= FLOOD_S * 1000, 'the flood lasted its full time');
  // Past what the box can read, the kernel drops datagrams at the socket whatever their source, the phone's
  // too; the phone gets through by retransmitting (T1). So: it keeps getting through, and never a long lockout.
  t.ok(inFlood.length >= results.length * MIN_SUCCESS_SHARE, `the phone keeps registering during the flood (${inFlood.length}/${results.length})`);
  const ends = [floodStart, ...inFlood.map((r) => r.at).sort((a, b) => a - b), floodEnd];
  const gap = Math.max(...ends.slice(1).map((at, i) => at - (ends[i] ?? at)));
  t.ok(gap <= MAX_GAP_MS, `the phone was never without a fresh registration for more than ${MAX_GAP_MS} ms (longest ${gap} ms)`);
  t.equal(after.status, 200, 'the phone registers right after the flood');
  t.ok(after.at - floodEnd <= 1000, `within 1 s of the flood's end (${after.at - floodEnd} ms)`);

  const status = JSON.parse(pbxOk(data)('status', '--json')) as { counters?: Record<string, number> };
  t.comment(`box counters: ${JSON.stringify(status.counters)}`);
  t.ok((status.counters?.['udp-source-rate'] ?? 0) > 0, 'the flood was dropped by the per-source rate limit and counted');

  const deadline = floodEnd + RSS_RETURN_MS;
  let rss = rssMb(info.pid);
  while (rss > rssBefore * (1 + RSS_TOLERANCE) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    rss = rssMb(info.pid);
  }
  t.comment(`RSS ${rss.toFixed(1)} MB ${((Date.now() - floodEnd) / 1000).toFixed(1)} s after the flood (before ${rssBefore.toFixed(1)} MB)`);
  t.ok(rss <= rssBefore * (1 + RSS_TOLERANCE), 'RSS back within 20% of its pre-flood value within a minute');
  t.equal(box.child.exitCode, null, 'the box is still running');
}

if (!reexecInNetns()) {
  t.test('a flood from one source does not keep a phone on another address from registering', { timeout: 120_000 }, main);
}
