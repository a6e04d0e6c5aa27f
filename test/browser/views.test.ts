import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import t from 'tap';
import { CALLS_FILE, RECORDINGS_DIR } from '../../firmware/control/index.js';
import { silentLogger } from '../../firmware/core/index.js';
import { startAppliance } from '../../firmware/main.js';
import { CAPTURE_NOTE } from '../../firmware/recording/index.js';
import { CallUa, RtpPeer, sdp, sdpOf } from '../integration/call-ua.js';

/*
 * The admin page's newer views in Debian's chromium against the whole
 * appliance booted in-process (issue 16, the page parts of issues 9 and 12):
 * the log view shows a registration live and filters by level, never a
 * password; a real call with RTP both ways is recorded on demand from the
 * dashboard, appears in the extensions' status, in the call history (filter,
 * CSV export) with its quality chart from the media engine's figures, and in
 * the recordings list, where it plays and downloads as a WAV while the file
 * on disk stays encrypted; an encrypted capture says it cannot be decoded;
 * the phones page assigns a MAC, opens a window, shows the masked file, sets
 * a TLS mode, issues and revokes a device certificate. Screenshots go to
 * test-artifacts/screenshots.
 */

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../../test-artifacts/screenshots/', import.meta.url));
const PASSWORD = 'admin password 1';
const P1001 = 'secret-1001-pw';
const P1002 = 'secret-1002-pw';
const WRONG = 'wrong-pass-xyz';
/** 20 ms of PCMU at one level: the recorder decodes it. */
const FRAME = Buffer.alloc(160, 0x9a);

if (!existsSync(CHROMIUM)) {
  t.fail(`chromium not found at ${CHROMIUM}: run bash scripts/install-deps.sh`);
} else {
  mkdirSync(SHOTS, { recursive: true });
  const root = mkdtempSync(join(tmpdir(), 'pbx-views-'));
  const dataDir = join(root, 'box');
  const printed: string[] = [];
  const app = await startAppliance({ dataDir, bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, print: (l) => printed.push(l), log: silentLogger });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const closers: Array<{ close(): Promise<void> }> = [];
  const timers: NodeJS.Timeout[] = [];
  t.teardown(async () => {
    for (const x of timers) clearInterval(x);
    for (const c of closers) await c.close();
    await browser.close();
    await app.stop();
    rmSync(root, { recursive: true, force: true });
  });
  const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const go = async (p: Page, hash: string): Promise<void> => { await p.click(`nav a[href="#${hash}"]`); };
  /** A call of the page's own API from inside the page (its session cookie, its CSRF token). */
  const apiCall = (method: string, path: string, body?: unknown): Promise<{ status: number; text: string; type: string }> =>
    page.evaluate(async ([m, p, b]) => {
      const s = await (await fetch('/api/session')).json() as { csrfToken: string };
      const r = await fetch(`/api${p as string}`, {
        method: m as string, headers: { 'x-csrf-token': s.csrfToken, ...(b !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(b !== undefined ? { body: JSON.stringify(b) } : {}),
      });
      return { status: r.status, text: await r.text(), type: r.headers.get('content-type') ?? '' };
    }, [method, path, body] as const);
  /** RTP every 20 ms from `peer` to `to`, until the test ends or the returned function is called. */
  const stream = (peer: RtpPeer, to: { address: string; port: number }): (() => void) => {
    const timer = setInterval(() => peer.send(to, FRAME, 0), 20);
    timers.push(timer);
    return () => clearInterval(timer);
  };

  t.test('set up: admin password, two extensions', async (t) => {
    const code = printed.find((l) => l.includes('setup code'))?.split(':').pop()?.trim() ?? '';
    await page.goto(app.info.adminUrl);
    await page.fill('#setup-code', code);
    await page.fill('#setup-password', PASSWORD);
    await page.fill('#setup-confirm', PASSWORD);
    await page.click('#setup button[type=submit]');
    await page.locator('#health').waitFor();
    for (const [ext, pw, name] of [['1001', P1001, 'Reception'], ['1002', P1002, 'Office']] as const) {
      t.equal((await apiCall('POST', '/accounts', { extension: ext, password: pw, name })).status, 200, `added ${ext}`);
    }
    // On-demand recording for both: the dashboard shows the Record button on their calls.
    await app.store.update((d) => { for (const a of d.accounts) a.record = 'on-demand'; });
  });

  let phone1001: CallUa;
  t.test('log view: a registration appears live; the level filter hides it; no password is ever shown', async (t) => {
    await go(page, 'logs');
    await page.locator('#log-live:has-text("live")').waitFor({ timeout: 5000 });
    const navigations: string[] = [];
    page.on('framenavigated', (f) => navigations.push(f.url()));
    phone1001 = await CallUa.open({ boxPort: app.info.ports.sipUdp, user: '1001', password: P1001 });
    closers.push(phone1001);
    t.equal((await phone1001.register(600)).status, 200, 'REGISTER accepted');
    const row = page.locator('#log-lines tr[data-level="info"]:has-text("registered"):has-text("1001")');
    await row.waitFor({ timeout: 5000 });
    t.match(await row.textContent(), /registered.*extension=1001.*transport=udp/, 'the line with its fields, without a reload');
    t.same(navigations, [], 'no reload happened');

    // A phone with a wrong password: a warning, and its password appears nowhere.
    const wrong = await CallUa.open({ boxPort: app.info.ports.sipUdp, user: '1002', password: WRONG });
    closers.push(wrong);
    t.not((await wrong.register(600)).status, 200, 'the wrong password is refused');
    await page.locator('#log-lines tr[data-level="warn"]:has-text("authentication failed")').waitFor({ timeout: 5000 });
    await shot('logs');
    await page.selectOption('#log-level', 'warn');
    await page.locator('#log-lines tr[data-level="info"]').first().waitFor({ state: 'detached', timeout: 5000 });
    t.ok(await page.locator('#log-lines tr[data-level="warn"]').count() >= 1, 'warnings stay');
    t.equal(await page.locator('#log-lines tr[data-level="info"]').count(), 0, 'info lines are hidden at level warn');
    await page.fill('#log-search', 'authentication');
    t.match(await page.locator('#log-lines tbody').textContent(), /authentication failed/);
    await shot('logs-warn');
    await page.selectOption('#log-level', 'debug');
    await page.fill('#log-search', '');
    const all = await apiCall('GET', '/logs?level=trace&limit=5000');
    t.equal(all.status, 200);
    const body = (await page.locator('body').textContent()) ?? '';
    for (const secret of [P1001, P1002, WRONG, PASSWORD]) {
      t.notOk(all.text.includes(secret), `GET /api/logs holds no ${secret}`);
      t.notOk(body.includes(secret), `the page shows no ${secret}`);
    }
    t.notOk(/response="[0-9a-f]{16,}/.test(all.text), 'no digest response either');
    const bad = await apiCall('GET', '/logs?level=loud');
    t.equal(bad.status, 400, 'an unknown level is refused');
  });

  let callId = '';
  t.test('a real call: extension status, record on demand from the dashboard', async (t) => {
    const caller = await CallUa.open({ boxPort: app.info.ports.sipUdp, user: '1002', password: P1002 });
    const rtpA = await RtpPeer.open();
    const rtpB = await RtpPeer.open();
    closers.push(caller, rtpA, rtpB);
    t.equal((await caller.register(600)).status, 200);
    await go(page, 'dashboard');
    const out = await caller.call('1001', { sdp: sdp({ port: rtpA.port }) });
    const inc = await phone1001.waitInvite();
    inc.ring();
    const toB = sdpOf(inc.sdp);
    const dialogB = inc.answer(sdp({ port: rtpB.port }));
    const ok = await out.waitStatus(200);
    const dialog = out.ack(ok);
    const toA = sdpOf(ok.body);
    stream(rtpA, toA);
    stream(rtpB, toB);
    const card = page.locator('#calls .call[data-state="answered"]');
    await card.waitFor({ timeout: 5000 });
    callId = (await card.getAttribute('data-call')) ?? '';
    t.match(callId, /./, 'the live call has an id');
    await rtpB.waitPayload(FRAME, 3000);
    await rtpA.waitPayload(FRAME, 3000);

    await go(page, 'extensions');
    const ext1001 = page.locator('#extensions tr[data-extension="1001"] td.status');
    await ext1001.locator('.presence:has-text("in call")').waitFor({ timeout: 5000 });
    t.match(await ext1001.textContent(), /in call.*UDP · registered/, 'the extension is in a call, registered over UDP');
    await shot('extensions-status');

    await go(page, 'dashboard');
    const button = page.locator(`#record-${callId}`);
    await button.waitFor({ timeout: 5000 });
    t.equal(await button.textContent(), 'Record', 'an on-demand call offers the button');
    await button.click();
    await page.locator(`.call[data-call="${callId}"] .pill.rec`).waitFor({ timeout: 5000 });
    t.equal(await button.textContent(), 'Stop recording');
    t.ok(app.calls.list().find((c) => c.id === callId)?.recording, 'the box records the call');
    await page.click(`#quality-${callId}`);
    await page.locator(`.call[data-call="${callId}"] #chart-jitter polyline[data-leg="b"]`).waitFor({ timeout: 8000 });
    t.match(await page.locator(`.call[data-call="${callId}"] .elapsed`).textContent(), /^0:\d\d$/, 'a running timer');
    await shot('dashboard-recording');
    // Let the call run: media, recording and quality samples (one every 2 s).
    await new Promise((r) => setTimeout(r, 5000));
    await button.click();
    await page.locator(`#record-${callId}:has-text("Record")`).waitFor({ timeout: 5000 });
    t.notOk(app.calls.list().find((c) => c.id === callId)?.recording, 'stopped from the page');
    await new Promise((r) => setTimeout(r, 2500));
    t.equal((await dialog.bye()).status, 200, 'the caller hangs up');
    void dialogB;
    await page.locator('#calls .empty').waitFor({ timeout: 5000 });
  });

  t.test('call history: filter by extension, outcome and day; CSV export; the quality chart of the call', async (t) => {
    const now = Date.now();
    const old = { id: 'old-1', caller: '1003', callee: '1004', startedAt: new Date(now - 3 * 86_400_000).toISOString(), endedAt: new Date(now - 3 * 86_400_000 + 20_000).toISOString(),
      endReason: 'no-answer', legs: { a: { party: '1003', transport: 'udp', protection: 'rtp' } }, mode: 'relay' };
    const busy = { id: 'busy-1', caller: '1001', callee: '1004', startedAt: new Date(now - 60_000).toISOString(), endedAt: new Date(now - 55_000).toISOString(),
      endReason: 'busy', legs: { a: { party: '1001', transport: 'udp', protection: 'rtp' } }, mode: 'relay' };
    appendFileSync(join(dataDir, CALLS_FILE), `${JSON.stringify(old)}\n${JSON.stringify(busy)}\n`);
    await go(page, 'history');
    const rows = page.locator('#call-history tbody tr');
    await rows.first().waitFor();
    t.equal(await rows.count(), 3, 'three calls');
    await page.fill('#h-ext', '1002');
    await page.locator('#call-history tbody tr[data-call="busy-1"]').waitFor({ state: 'detached' });
    t.same(await rows.evaluateAll((r) => r.map((x) => x.getAttribute('data-call'))), [callId], 'extension 1002: only the real call');
    await page.fill('#h-ext', '');
    await page.selectOption('#h-outcome', 'missed');
    await page.locator(`#call-history tbody tr[data-call="${callId}"]`).waitFor({ state: 'detached' });
    t.same(await rows.evaluateAll((r) => r.map((x) => x.getAttribute('data-call'))), ['old-1'], 'missed: the unanswered one');
    await page.selectOption('#h-outcome', '');
    const day = (ms: number): string => { const d = new Date(ms); return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`; };
    await page.fill('#h-from', day(now));
    await page.locator('#call-history tbody tr[data-call="old-1"]').waitFor({ state: 'detached' });
    t.same((await rows.evaluateAll((r) => r.map((x) => x.getAttribute('data-call')))).sort(), [callId, 'busy-1'].sort(), 'from today: not the call of three days ago');
    await shot('history-filter');
    const [csv] = await Promise.all([page.waitForEvent('download'), page.click('#history-csv')]);
    const text = readFileSync(await csv.path(), 'utf8');
    const lines = text.trim().split('\r\n');
    t.match(lines[0], /^id,started,answered,ended,caller,callee,duration_s,outcome/, 'a header line');
    t.equal(lines.length, 3, 'the two calls the filter shows, no more');
    const real = lines.find((l) => l.startsWith(`${callId},`)) ?? '';
    t.match(real, /,1002,1001,\d+,answered,bye-caller,/, 'the real call: parties, duration, outcome, reason');
    t.ok(lines.some((l) => l.startsWith('busy-1,') && l.includes(',busy,')), 'the busy one');
    t.equal((await apiCall('GET', '/calls/history?outcome=lost')).status, 400, 'an unknown outcome is refused');

    await page.click(`#call-history tbody tr[data-call="${callId}"]`);
    await page.locator('#call-detail #chart-jitter svg').waitFor({ timeout: 5000 });
    const q = JSON.parse((await apiCall('GET', `/calls/${callId}/quality`)).text) as { samples: Array<{ at: number; legs: Record<string, { packetsIn: number; lost: number; jitterMs: number }> }>; live: boolean };
    t.ok(q.samples.length >= 3, `samples of the call (${q.samples.length})`);
    t.equal(q.live, false, 'the call has ended');
    const last = q.samples[q.samples.length - 1]!;
    t.ok(last.legs.a!.packetsIn > 200 && last.legs.b!.packetsIn > 200, `packets counted on both legs (${last.legs.a!.packetsIn}, ${last.legs.b!.packetsIn})`);
    t.ok(last.legs.a!.jitterMs < 20, `jitter on loopback is small (${last.legs.a!.jitterMs} ms)`);
    t.equal(await page.locator('#chart-jitter polyline').count(), 2, 'a jitter line per leg');
    t.equal(await page.locator('#chart-lost polyline').count(), 2, 'a loss line per leg');
    t.equal(await page.locator('#chart-rate polyline').count(), 2, 'a packet-rate line per leg');
    const pts = ((await page.locator('#chart-rate polyline[data-leg="a"]').getAttribute('points')) ?? '').split(' ');
    const intervals = q.samples.slice(1).filter((x, i) => x.at - q.samples[i]!.at >= 1000).length;
    t.equal(pts.length, intervals, 'one point per sample interval of a second or more');
    const rates = pts.map((p) => Number(p.split(',')[1]));
    t.ok(Math.max(...rates) - Math.min(...rates) < 40, 'a steady 50 packets/s draws a flat line');
    t.match(await page.locator('#quality .legend').textContent(), /leg a \(1002\): \d+ packets in, \d+ lost/, 'the legend names the legs and the figures');
    await page.locator('#call-detail').scrollIntoViewIfNeeded();
    await shot('history-quality');
  });

  t.test('recordings: the call plays and downloads as a WAV, the disk file stays encrypted; a capture says it cannot be decoded; delete', async (t) => {
    // A relayed call's capture, straight into the store as the recorder writes one.
    const cap = app.recordings!.start({ kind: 'encrypted-capture', parties: ['1003', '1004'], legs: [{ id: 'a', protection: 'relayed SRTP, keys not held' }, { id: 'b', protection: 'relayed SRTP, keys not held' }] });
    for (let i = 0; i < 20; i++) cap.packet('a', Buffer.concat([Buffer.from([0x80, 0, 0, i, 0, 0, 0, i, 1, 2, 3, 4]), Buffer.alloc(170, 0x5a)]), Date.now(), true);
    await cap.finish();

    await go(page, 'recordings');
    const decoded = page.locator('#recording-list tr[data-kind="decoded"]');
    await decoded.waitFor();
    t.match(await decoded.textContent(), /1002 ↔ 1001.*decoded/, 'the call recorded from the dashboard');
    const id = (await decoded.getAttribute('data-recording')) ?? '';
    await decoded.locator('svg.wave path[data-channel="1"]').waitFor({ timeout: 5000 });
    t.equal(await decoded.locator('svg.wave path').count(), 2, 'a waveform line per channel');
    const capture = page.locator('#recording-list tr[data-kind="encrypted-capture"]');
    t.match(await capture.textContent(), /encrypted, not decodable/, 'the capture says so');
    t.match(await capture.locator('td.note').textContent(), CAPTURE_NOTE.slice(0, 40), 'with the record\'s note');
    t.equal(await capture.locator('button.play').count(), 0, 'a capture does not offer to play');

    await decoded.locator('button.play').click();
    const audio = page.locator('#player');
    await audio.waitFor();
    // Runs in the page (this file is type-checked without the DOM's types, hence the cast).
    await page.waitForFunction(() => {
      const a = (globalThis as unknown as { document: { querySelector(s: string): { readyState: number; duration: number } | null } }).document.querySelector('#player');
      return a !== null && a.readyState >= 1 && a.duration > 0;
    }, undefined, { timeout: 5000 });
    const duration = await audio.evaluate((a) => (a as unknown as { duration: number }).duration);
    t.ok(duration > 3 && duration < 12, `the browser plays it: ${duration.toFixed(2)} s`);
    await shot('recordings');

    const [wav] = await Promise.all([page.waitForEvent('download'), decoded.locator('a.download').click()]);
    const bytes = readFileSync(await wav.path());
    t.equal(bytes.subarray(0, 4).toString('latin1'), 'RIFF', 'the download is a RIFF');
    t.equal(bytes.subarray(8, 12).toString('latin1'), 'WAVE', '... WAVE file');
    t.equal(bytes.readUInt16LE(22), 2, 'one channel per party');
    const onDisk = readdirSync(join(dataDir, RECORDINGS_DIR)).filter((f) => f.startsWith(id));
    t.equal(onDisk.length, 1, 'one file on disk');
    const disk = readFileSync(join(dataDir, RECORDINGS_DIR, onDisk[0]!));
    t.not(disk.subarray(0, 4).toString('latin1'), 'RIFF', 'the file on disk is not a WAV');
    t.equal(disk.indexOf(bytes.subarray(44, 300)), -1, 'and holds none of the audio in clear');

    page.once('dialog', (d) => void d.accept());
    await capture.locator('button.delete').click();
    await page.locator('#recording-done').waitFor();
    await capture.waitFor({ state: 'detached' });
    t.throws(() => app.recordings!.get(cap.id), 'gone from the store');
    t.equal((await apiCall('GET', `/recordings/${cap.id}/audio`)).status, 404, 'and from the API');
    t.equal((await apiCall('GET', '/recordings/..%2F.key/audio')).status, 404, 'a path is no recording id');
  });

  t.test('phones: assign a MAC, open a window, the masked file, a TLS mode, issue and revoke a device certificate', async (t) => {
    await go(page, 'phones');
    await page.locator('#assign-phone').waitFor();
    await page.fill('#phone-mac', 'zz:15');
    await page.click('#assign-phone button[type=submit]');
    t.match(await page.locator('#phone-mac-error').textContent(), /12 hex digits/);
    await page.fill('#phone-mac', '00:15:65:AA:BB:CC');
    await page.selectOption('#phone-ext', '1001');
    await page.selectOption('#phone-vendor', 'yealink');
    await page.selectOption('#phone-mode', 'once');
    await page.click('#assign-phone button[type=submit]');
    const row = page.locator('#phones tr[data-mac="001565aabbcc"]');
    await row.waitFor();
    t.match(await row.textContent(), /00:15:65:aa:bb:cc.*1001.*yealink.*once.*not fetched yet.*never.*closed/, 'listed with its extension and mode');
    const phone = app.store.data.phones.find((p) => p.mac === '001565aabbcc');
    t.match(phone, { extension: '1001', vendor: 'yealink', passwordMode: 'once' });
    const list = await apiCall('GET', '/phones');
    t.notOk(list.text.includes(phone?.sipPassword ?? 'none'), 'the phone list holds no SIP password');

    await row.locator('button.window').click();
    await row.locator('td:has-text("open until")').waitFor();
    t.ok(Date.parse(app.store.data.phones.find((p) => p.mac === '001565aabbcc')?.windowUntil ?? '') > Date.now(), 'a provisioning window is open');
    await row.locator('button:has-text("Show file")').click();
    const preview = page.locator('#phone-preview pre');
    await preview.waitFor();
    const file = (await preview.textContent()) ?? '';
    t.match(file, /\*{8}/, 'the password is masked');
    t.notOk(file.includes(phone?.sipPassword ?? 'none'), 'and not there in clear');
    t.match(file, /1001/, 'the file is the extension\'s');

    await page.selectOption('#tls-1001', 'mutual');
    await page.locator('#phones-done:has-text("TLS mode mutual")').waitFor();
    t.equal(app.store.data.accounts.find((a) => a.extension === '1001')?.tlsMode, 'mutual', 'the TLS mode is saved');

    await page.selectOption('#cert-ext', '1001');
    await page.click('#issue-cert');
    const pass = page.locator('#p12-passphrase');
    await pass.waitFor();
    t.match(await pass.textContent(), /.{8,}/, 'the one-time passphrase is shown');
    const cert = page.locator('#device-certs tbody tr').first();
    await cert.waitFor();
    t.match(await cert.textContent(), /1001.*valid/, 'the certificate is listed');
    const devices = await apiCall('GET', '/certs/devices');
    t.notOk(/PRIVATE KEY|p12|passphrase/i.test(devices.text), 'the list holds no key, file or passphrase');
    await shot('phones');
    page.once('dialog', (d) => void d.accept());
    await cert.locator('button.revoke').click();
    await page.locator('#device-certs tbody tr td:has-text("revoked")').waitFor();
    t.ok(JSON.parse((await apiCall('GET', '/certs/devices')).text)[0].revokedAt, 'revoked on the box');
    await page.click('#issued-cert button:has-text("Done")');
    t.equal(await page.locator('#p12-passphrase').count(), 0, 'the passphrase is cleared from the page');
    await shot('phones-revoked');
    const audit = JSON.parse((await apiCall('GET', '/audit?limit=100')).text) as Array<{ what: string }>;
    for (const what of [/^started recording call /, /^stopped recording call /, /^deleted recording [0-9a-f]+$/, /^assigned phone 00:15:65:AA:BB:CC to extension 1001 \(vendor=yealink, passwordMode=once\)$/,
      /^opened the provisioning window of phone 001565aabbcc$/, /^set the TLS mode of extension 1001 \(tlsMode=mutual\)$/, /^issued a device certificate for extension 1001$/, /^revoked device certificate /]) {
      t.ok(audit.some((e) => what.test(e.what)), `audit log: ${what.source}`);
    }
    t.same(pageErrors, [], 'no script errors on the page');
  });
}
