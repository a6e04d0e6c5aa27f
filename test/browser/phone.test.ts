import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { have, reexecInNetns, startCapture, tsharkFields, waitFor } from '../interop/harness.js';
import { pbxOk, startBox } from '../interop/box.js';
import { assertHeard, boxStatus, entropy, established, none, sleep, startPhone, stopPhone, waitState, wavsNow, type PhoneSpec } from '../interop/call-harness.js';

/*
 * Issue 10's browser "must show": Debian's chromium, with a fake microphone
 * playing a 1000 Hz file, logs in to /phone with extension 2001's own SIP
 * password, registers over SIP over secure WebSocket, and calls baresip
 * 2002, a desk phone with SDES (srtp-mand) over TLS, through the box, which
 * bridges DTLS-SRTP to SDES. The page measures the 600 Hz it receives with
 * WebAudio, baresip records the 1000 Hz; `pbx status --json` shows the
 * browser's leg as protection "dtls" with its suite; tshark shows STUN, then
 * DTLS, then SRTP on the browser's leg and SRTP (other keys) on the desk's.
 * The dial pad's keys go out as RFC 4733 telephone-events. The box and both
 * clients run in `unshare -n`, each stopped by its PID.
 */

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../../test-artifacts/screenshots/', import.meta.url));
const BOX_RTP = { min: 43000, max: 43999 };
const WEB: { ext: string; pass: string } = { ext: '2001', pass: 'browser-secret-2001' };
const DESK: PhoneSpec = { ext: '2002', pass: 'desk-secret-2002', sip: 34000, ctrl: 34100, rtp: '32000-32099', tone: 600 };
const TALK_MS = 4000;
/** RTP header (12) + 20 ms of PCMU (160) + the HMAC-SHA1-80 tag (10). */
const SRTP_80 = 182;
const TONE_TOLERANCE_HZ = 15;

interface Leg { party: string; transport: string; protection: string; suite?: string; keys?: string }
interface CallView { mode: string; legs: { a: Leg; b?: Leg } }
interface Packet { n: number; src: number; dst: number; bytes: Buffer }

const inRange = (p: number, r: string): boolean => { const [lo, hi] = r.split('-').map(Number); return p >= lo! && p <= hi!; };
const inBox = (p: number): boolean => p >= BOX_RTP.min && p <= BOX_RTP.max;

/** RFC 7983's demultiplexing by first byte: what one datagram on a media port is. */
function kindOf(b: Buffer): 'stun' | 'dtls' | 'rtp' | 'rtcp' | 'other' {
  const f = b[0] ?? 255;
  if (f <= 3) return 'stun';
  if (f >= 20 && f <= 63) return 'dtls';
  if (f >= 128 && f <= 191) return (b[1] ?? 0) >= 192 && (b[1] ?? 0) <= 223 ? 'rtcp' : 'rtp';
  return 'other';
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'pbx-phone-'));
  mkdirSync(SHOTS, { recursive: true });
  const data = join(work, 'data');
  const cli = pbxOk(data);
  cli('account', 'add', WEB.ext, '--password', WEB.pass);
  cli('account', 'add', DESK.ext, '--password', DESK.pass);
  // The box holds the keys on both legs: DTLS-SRTP toward the browser, SDES toward the desk phone.
  cli('policy', 'add', 'sdes', '--caller', 'decrypt', '--callee', 'sdes');
  cli('account', 'set', WEB.ext, '--policy', 'sdes');
  cli('account', 'set', DESK.ext, '--policy', 'sdes');
  const { proc: box, info } = await startBox(data, 300, ['--rtp-ports', `${BOX_RTP.min}-${BOX_RTP.max}`]);
  t.teardown(() => box.stop());
  t.comment(`box web ${info.ports.web}, SIP TLS ${info.ports.sipTls}; work dir ${work}`);

  const desk = await startPhone(work, DESK, {
    account: `<sip:${DESK.ext}@127.0.0.1:${info.ports.sipTls};transport=tls>`, answermode: 'auto',
    accountParams: ';mediaenc=srtp-mand', preAccountModules: ['srtp.so'],
  });
  t.teardown(() => stopPhone(desk));

  // Chromium's fake microphone plays this file (looped): a 1000 Hz tone.
  const micFile = join(work, 'mic1000.wav');
  const sox = spawnSync('sox', ['-n', '-r', '48000', '-c', '1', '-b', '16', micFile, 'synth', '30', 'sine', '1000', 'vol', '0.9'], { timeout: 20_000 });
  if (sox.status !== 0) throw new Error(`sox: ${sox.stderr.toString()}`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-audio-capture=${micFile}`,
      // Only lo exists in the namespace: WebRTC must gather loopback host candidates.
      '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required',
    ],
  });
  t.teardown(() => browser.close());
  const origin = `https://127.0.0.1:${info.ports.web}`;
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 760, height: 1000 } });
  await context.grantPermissions(['microphone'], { origin });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

  await t.test('the phone page logs in with the extension\'s SIP password and registers over WSS', async (t) => {
    await page.goto(`${origin}/phone`);
    await page.fill('#login-extension', WEB.ext);
    await page.fill('#login-password', 'not the password');
    await page.click('#login button[type=submit]');
    await page.locator('#login-error:has-text("wrong")').waitFor({ timeout: 5000 });
    t.pass('a wrong password is refused on the page');
    await page.fill('#login-password', WEB.pass);
    await page.click('#login button[type=submit]');
    await page.locator('body[data-registered=true]').waitFor({ timeout: 15_000 });
    t.match(await page.textContent('#reg-state'), /Registered as 2001 over WSS/, 'the page says it is registered');
    const regs = (JSON.parse(cli('status', '--json')) as { registrations: Array<{ extension: string; transport: string }> }).registrations;
    t.equal(regs.find((r) => r.extension === WEB.ext)?.transport, 'wss', '`pbx status` lists 2001 over wss');
    await waitFor('2002 to register over TLS', () => {
      const r = (JSON.parse(cli('status', '--json')) as { registrations: Array<{ extension: string; transport: string }> }).registrations;
      return r.some((x) => x.extension === DESK.ext && x.transport === 'tls');
    }, 15_000);
    await shot('phone-registered');
  });

  await t.test('the browser calls the SDES desk phone: DTLS-SRTP bridged to SDES, audio both ways, DTMF sent', async (t) => {
    const before = wavsNow(desk.dir);
    const pcap = join(work, 'call.pcap');
    const capture = await startCapture(pcap, `udp and not port ${info.ports.sipUdp}`, join(work, 'tshark.log'));
    await page.fill('#dial-number', DESK.ext);
    await page.click('#call');
    await page.locator('body[data-call=connected]').waitFor({ timeout: 20_000 });
    await waitState(desk.ctrl, '2002: call established', established);
    t.pass('the call is up on both sides');
    await sleep(TALK_MS);
    const hz = Number(await page.getAttribute('#rx-freq', 'data-hz'));
    t.ok(Math.abs(hz - DESK.tone) <= TONE_TOLERANCE_HZ, `the page hears ${DESK.tone} Hz through WebAudio (measured ${hz} Hz)`);
    t.match(await page.textContent('#rx-level'), /-?\d+ dBFS/, 'and shows its level');

    const status = boxStatus(data);
    const view = ((status.calls ?? []) as CallView[])[0];
    t.comment(`pbx status: ${JSON.stringify(view)}`);
    t.comment(`box DTLS/ICE counters: ${JSON.stringify(Object.fromEntries(Object.entries({ ...status.counters, ...(status as { media?: { counters?: object } }).media?.counters }).filter(([k]) => /dtls|ice|stun|srtp/.test(k))))}`);
    t.equal(view?.mode, 'bridge', 'the box bridges');
    t.equal(view?.legs.a.protection, 'dtls', 'the browser\'s leg is protection "dtls" in `pbx status --json`');
    t.match(view?.legs.a.suite ?? '', /^SRTP_(AES128_CM_SHA1_(80|32)|AEAD_AES_(128|256)_GCM)$/, `with its RFC 5764 profile as the suite (${view?.legs.a.suite})`);
    t.equal(view?.legs.a.transport, 'wss', 'over wss');
    t.equal(view?.legs.b?.protection, 'sdes', 'the desk leg is SDES');
    t.equal(view?.legs.b?.transport, 'tls', 'over TLS');

    await page.locator('#legs [data-protection=dtls]').waitFor({ timeout: 5000 });
    t.match(await page.textContent('#legs'), /this phone: 2001 DTLS-SRTP/, 'the page shows its own leg as DTLS-SRTP');
    t.match(await page.textContent('#legs'), /2002 SDES/, 'and the desk leg as SDES');
    await page.locator('#browser-leg:has-text("connected")').waitFor({ timeout: 5000 });
    t.match(await page.textContent('#browser-leg'), /DTLS connected.*SRTP/, 'and what this browser negotiated');
    for (const k of ['1', '2', '#']) await page.click(`#keypad button[data-key="${k}"]`);
    t.equal(await page.textContent('#dtmf-sent'), 'sent: 12#', 'the dial pad sent its keys as telephone-events (the answer took telephone-event)');
    await sleep(500);
    await shot('phone-in-call');

    await page.click('#hangup');
    await page.locator('body[data-call=idle]').waitFor({ timeout: 10_000 });
    await waitState(desk.ctrl, '2002: call ended', none);
    await capture.stop();
    assertHeard(t, 'desk phone', desk.dir, before, 1000, TALK_MS / 1000);

    const packets: Packet[] = tsharkFields(pcap, 'udp', ['frame.number', 'udp.srcport', 'udp.dstport', 'udp.payload']).map((l) => {
      const [n, s, d, hex] = l.split('\t');
      return { n: Number(n), src: Number(s), dst: Number(d), bytes: Buffer.from((hex ?? '').replace(/:/g, ''), 'hex') };
    });
    const browserLeg = packets.filter((p) => (inBox(p.src) || inBox(p.dst)) && !inRange(p.src, DESK.rtp) && !inRange(p.dst, DESK.rtp));
    const deskLeg = packets.filter((p) => (inBox(p.src) && inRange(p.dst, DESK.rtp)) || (inRange(p.src, DESK.rtp) && inBox(p.dst)));
    const kinds = browserLeg.map((p) => kindOf(p.bytes));
    const firstDtls = kinds.indexOf('dtls');
    const firstRtp = kinds.indexOf('rtp');
    t.ok(kinds.includes('stun'), 'ICE connectivity checks on the browser leg');
    t.ok(firstDtls >= 0 && firstRtp > firstDtls, `DTLS (packet ${firstDtls}) comes before the first SRTP (packet ${firstRtp}) on the browser leg`);
    const boxMediaPort = browserLeg.find((p) => kindOf(p.bytes) === 'dtls' && inBox(p.dst))?.dst ?? 0;
    const hs = tsharkFields(pcap, 'dtls.handshake.type', ['dtls.handshake.type'], ['-d', `udp.port==${boxMediaPort},dtls`]);
    const types = new Set(hs.flatMap((l) => l.split(',')).map(Number));
    t.ok(types.has(1) && types.has(2) && types.has(11), `tshark decodes a DTLS handshake there (ClientHello, ServerHello, Certificate: types ${[...types].join(',')})`);
    const rtpIn = browserLeg.filter((p) => kindOf(p.bytes) === 'rtp');
    const toBrowser = rtpIn.filter((p) => inBox(p.src));
    t.ok(toBrowser.length > 50, `the box sent SRTP to the browser (${toBrowser.length} packets)`);
    t.ok(toBrowser.every((p) => p.bytes.length === SRTP_80 || p.bytes.length === 12 + 160 + 16 || p.bytes.length < 100), 'the box\'s audio packets to the browser carry an SRTP tag');
    const payloads = (ps: readonly Packet[]): Buffer[] => ps.map((p) => p.bytes.subarray(12));
    const eBrowser = entropy(payloads(toBrowser.filter((p) => p.bytes.length > 100)));
    t.ok(eBrowser > 7.5, `the browser leg's payload is ciphertext (${eBrowser.toFixed(2)} bits/byte)`);
    const deskRtp = deskLeg.filter((p) => kindOf(p.bytes) === 'rtp');
    const sizes = new Map<string, number>();
    for (const p of deskRtp) { const k = `${inBox(p.src) ? 'to' : 'from'}-desk pt${p.bytes[1]! & 0x7f} ${p.bytes.length}B`; sizes.set(k, (sizes.get(k) ?? 0) + 1); }
    t.comment(`desk leg RTP by direction, payload type and size: ${JSON.stringify(Object.fromEntries(sizes))}`);
    const deskAudio = deskRtp.filter((p) => (p.bytes[1]! & 0x7f) === 0);
    t.ok(deskAudio.length > 50 && deskAudio.every((p) => p.bytes.length === SRTP_80), `the desk leg's PCMU is SRTP with an 80-bit tag (${deskAudio.length} packets of ${SRTP_80} bytes)`);
    // RFC 4733: an event payload is 4 bytes, so an SRTP telephone-event packet is 12 + 4 + 10.
    const events = deskRtp.filter((p) => inBox(p.src) && (p.bytes[1]! & 0x7f) !== 0 && p.bytes.length === 12 + 4 + 10);
    t.ok(events.length >= 3, `the dial pad's keys reach the desk phone as SRTP telephone-events (${events.length} packets)`);
    const eDesk = entropy(payloads(deskRtp));
    t.ok(eDesk > 7.5, `the desk leg's payload is ciphertext (${eDesk.toFixed(2)} bits/byte)`);
    const seen = new Set(payloads(deskRtp).map((b) => b.toString('hex')));
    t.notOk(payloads(toBrowser).some((b) => seen.has(b.toString('hex'))), 'no packet crosses the box unchanged: each leg has its own keys');
    t.same(pageErrors, [], 'no script errors on the page');
  });
}

if (!reexecInNetns()) {
  const missing = ['baresip', 'tshark', 'sox'].filter((c) => !have(c));
  if (!existsSync(CHROMIUM)) missing.push('chromium');
  if (missing.length) t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  else await main();
}
