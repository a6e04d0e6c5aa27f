import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import t from 'tap';
import { CALLS_FILE } from '../../firmware/control/index.js';
import { silentLogger } from '../../firmware/core/index.js';
import { startAppliance } from '../../firmware/main.js';
import { writeWav } from '../../firmware/media/index.js';
import { HOLD_MUSIC_FILE } from '../../firmware/pbx/index.js';
import { CallUa, sdp } from '../integration/call-ua.js';

/*
 * Day-to-day operation in the admin page (issue 16), in Debian's chromium
 * against the whole appliance booted in-process: a live call hung up from
 * the dashboard (BYE to both phones, the record and the audit log say the
 * admin did it). Screenshots go to test-artifacts/screenshots.
 */

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../../test-artifacts/screenshots/', import.meta.url));
const PASSWORD = 'admin password 1';
const P1001 = 'secret-1001-pw';
const P1002 = 'secret-1002-pw';

if (!existsSync(CHROMIUM)) {
  t.fail(`chromium not found at ${CHROMIUM}: run bash scripts/install-deps.sh`);
} else {
  mkdirSync(SHOTS, { recursive: true });
  const root = mkdtempSync(join(tmpdir(), 'pbx-ops-'));
  const dataDir = join(root, 'box');
  const printed: string[] = [];
  const app = await startAppliance({ dataDir, bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, print: (l) => printed.push(l), log: silentLogger });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const closers: Array<{ close(): Promise<void> }> = [];
  t.teardown(async () => {
    for (const c of closers) await c.close();
    await browser.close();
    await app.stop();
    rmSync(root, { recursive: true, force: true });
  });
  const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const go = async (p: Page, hash: string): Promise<void> => { await p.click(`nav a[href="#${hash}"]`); };
  /** A call of the page's own API from inside the page (its session cookie, its CSRF token). */
  const apiCall = (method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> =>
    page.evaluate(async ([m, p, b]) => {
      const s = await (await fetch('/api/session')).json() as { csrfToken: string };
      const r = await fetch(`/api${p as string}`, {
        method: m as string, headers: { 'x-csrf-token': s.csrfToken, ...(b !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(b !== undefined ? { body: JSON.stringify(b) } : {}),
      });
      return { status: r.status, text: await r.text() };
    }, [method, path, body] as const);

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
  });

  t.test('hang up a live call from the dashboard: a confirm, BYE to both phones, the record and the audit log say so', async (t) => {
    const callee = await CallUa.open({ boxPort: app.info.ports.sipUdp, user: '1001', password: P1001 });
    const caller = await CallUa.open({ boxPort: app.info.ports.sipUdp, user: '1002', password: P1002 });
    closers.push(callee, caller);
    t.equal((await callee.register(600)).status, 200);
    t.equal((await caller.register(600)).status, 200);
    await go(page, 'dashboard');
    const out = await caller.call('1001', { sdp: sdp({ port: 40000 }) });
    const inc = await callee.waitInvite();
    inc.ring();
    const dialogB = inc.answer(sdp({ port: 40002 }));
    const ok = await out.waitStatus(200);
    const dialogA = out.ack(ok);
    const card = page.locator('#calls .call[data-state="answered"]');
    await card.waitFor({ timeout: 5000 });
    const id = (await card.getAttribute('data-call')) ?? '';
    t.match(id, /./, 'the live call has an id');

    // A first click only asks; "Keep the call" leaves it running.
    await page.click(`#hangup-${id}`);
    await page.locator(`#hangup-ask-${id}`).waitFor();
    t.match(await page.locator(`#hangup-ask-${id}`).textContent(), /End the call between 1002 and 1001/);
    await shot('dashboard-hangup-confirm');
    await page.click(`#hangup-no-${id}`);
    await page.locator(`#hangup-${id}`).waitFor();
    t.equal(app.calls.list().length, 1, 'kept: the call goes on');

    const byeA = dialogA.waitRequest('BYE', 5000);
    const byeB = dialogB.waitRequest('BYE', 5000);
    await page.click(`#hangup-${id}`);
    await page.click(`#hangup-yes-${id}`);
    await Promise.all([byeA, byeB]);
    t.pass('both phones got a BYE');
    await page.locator('#calls .empty').waitFor({ timeout: 5000 });
    t.same(app.calls.list(), [], 'the box lists no call');
    await shot('dashboard-hungup');

    const rec = readFileSync(join(dataDir, CALLS_FILE), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; endReason: string }).find((r) => r.id === id);
    t.equal(rec?.endReason, 'admin', 'the call record says the admin ended it');
    const audit = JSON.parse((await apiCall('GET', `/audit?q=${encodeURIComponent(id)}`)).text) as Array<{ what: string; ok: boolean; who: string }>;
    t.match(audit[0], { what: `hung up call ${id}`, ok: true, who: 'admin' }, 'an audit entry');
    await go(page, 'history');
    const row = page.locator(`#call-history tbody tr[data-call="${id}"]`);
    await row.waitFor();
    t.match(await row.textContent(), /ended by the admin/, 'the history says why');

    const again = await apiCall('POST', `/calls/${id}/hangup`, {});
    t.equal(again.status, 404, 'an ended call cannot be hung up again');
    t.match(again.text, /no call .* in progress/);
  });

  t.test('extensions page: media abilities, forwarding, DND and voicemail shown and edited', async (t) => {
    await go(page, 'extensions');
    const row = page.locator('#extensions tr[data-extension="1001"]');
    await row.waitFor();
    t.match(await row.locator('td.media').textContent(), /speaks plain RTP, SDES.*requires nothing more/, 'the default desk phone');
    t.match(await row.locator('td.features').textContent(), /no forwarding.*call waiting on · voicemail on, no PIN yet/);
    await row.locator('button:has-text("Edit")').click();
    const f = '#edit-1001';
    await page.locator(f).waitFor();
    // Requiring what the phone does not speak is refused in the page, next to the boxes.
    await page.check(`${f}-requires-dtls`);
    await page.click(`${f} button[type=submit]`);
    t.match(await page.locator(`${f}-media-error`).textContent(), /Required but not spoken by the phone: DTLS-SRTP/);
    await page.uncheck(`${f}-requires-dtls`);
    await page.check(`${f}-requires-sdes`);
    await page.fill(`${f}-fwd-busy`, '1002');
    await page.fill(`${f}-fwd-noanswer`, '1002');
    await page.fill(`${f}-noanswer-sec`, '15');
    await page.check(`${f}-dnd`);
    await page.uncheck(`${f}-vm`);
    await shot('extensions-edit-calls');
    await page.click(`${f} button[type=submit]`);
    await page.locator(f).waitFor({ state: 'detached' });
    const acct = app.store.data.accounts.find((a) => a.extension === '1001')!;
    t.same(acct.media, { supported: ['rtp', 'sdes'], required: ['sdes'] }, 'the box keeps the requirement');
    t.match(acct.forward, { always: null, busy: '1002', noAnswer: '1002', noAnswerSec: 15 });
    t.equal(acct.dnd, true);
    t.equal(acct.voicemail?.enabled, false);
    await row.locator('td.media:has-text("requires SDES")').waitFor({ timeout: 5000 });
    t.match(await row.locator('td.media').textContent(), /requires SDES/);
    t.match(await row.locator('td.features').textContent(), /do not disturb.*busy → 1002, no answer \(15 s\) → 1002.*voicemail off/);
    await shot('extensions-settings');
    // A forward to an extension that does not exist is the box's own error, next to the field.
    await row.locator('button:has-text("Edit")').click();
    await page.fill(`${f}-fwd-always`, '4711');
    await page.click(`${f} button[type=submit]`);
    await page.locator(`${f} [role=alert]`).first().waitFor();
    t.match(await page.locator(f).textContent(), /4711/, 'the box says what is wrong');
    await page.click(`${f} button:has-text("Cancel")`);
    t.equal(app.store.data.accounts.find((a) => a.extension === '1001')!.forward.always, null, 'nothing changed');
    const audit = JSON.parse((await apiCall('GET', '/audit?q=changed%20extension%201001')).text) as Array<{ what: string; ok: boolean }>;
    t.ok(audit.some((e) => e.ok && /requireMedia=sdes/.test(e.what) && /dnd=true/.test(e.what)), 'the audit log names what changed');
  });

  t.test('system settings: clear errors, restart-needed note for ports, SIP domain only with a confirm, admin password', async (t) => {
    await go(page, 'system');
    await page.locator('#system-form').waitFor();
    t.match(await page.locator('#sys-hostname').textContent(), /\S/, 'the host name is shown');
    t.equal(await page.inputValue('#sys-tz'), 'UTC');
    await page.fill('#sys-tz', 'Mars/Olympus');
    await page.click('#system-form button[type=submit]');
    await page.locator('#sys-tz-error').waitFor();
    t.match(await page.locator('#sys-tz-error').textContent(), /Mars\/Olympus is not a time zone/, 'an unknown zone, said next to it');
    await page.fill('#sys-tz', 'Europe/Berlin');
    await page.fill('#sys-ntp', 'ntp.example.org');
    await page.fill('#sys-rtpMax', '10050');
    await page.click('#system-form button[type=submit]');
    await page.locator('#sys-rtpMax-error').waitFor();
    t.match(await page.locator('#sys-rtpMax-error').textContent(), /too small: give at least 100 ports/);
    await page.fill('#sys-rtpMax', '20000');
    await page.fill('#sys-sipPort', '5070');
    await page.click('#system-form button[type=submit]');
    await page.locator('#restart-needed').waitFor();
    t.match(await page.locator('#system-saved').textContent(), /Restart needed for: SIP port \(UDP and TCP\)/, 'a port change waits for the restart');
    const c = app.store.data;
    t.match(c.provisioning, { timeZone: 'Europe/Berlin', ntpServer: 'ntp.example.org' }, 'time settings stored');
    t.equal(c.network.sipPort, 5070);
    t.match(await page.locator('#system').textContent(), /in use now: \d+ \(until the restart\)/, 'the port in use is shown beside the stored one');
    // The SIP domain: refused without the confirm (in the page, and by the box).
    await page.fill('#sys-realm', 'office.example');
    await page.click('#system-form button[type=submit]');
    await page.locator('#sys-realm-error').waitFor();
    t.equal(app.store.data.sip.realm, 'pbx.local', 'not changed without a confirm');
    const raw = await apiCall('PUT', '/system', { realm: 'office.example' });
    t.equal(raw.status, 409, 'the box refuses it too');
    t.match(raw.text, /every SIP password invalid/);
    await page.fill('#sys-realm', 'pbx.local');
    await shot('system-settings');

    // The admin password: a wrong current one is refused beside its field; the right one changes it.
    await page.fill('#pw-current', 'not the password');
    await page.fill('#pw-new', 'a new admin password');
    await page.fill('#pw-confirm', 'a new admin password');
    await page.click('#admin-password button[type=submit]');
    await page.locator('#pw-current-error').waitFor();
    t.match(await page.locator('#pw-current-error').textContent(), /current password is wrong/);
    await page.fill('#pw-current', PASSWORD);
    await page.click('#admin-password button[type=submit]');
    await page.locator('#password-changed').waitFor();
    t.equal((await apiCall('GET', '/system')).status, 200, 'the page stays logged in with its new session');
    const audit = JSON.parse((await apiCall('GET', '/audit?limit=20')).text) as Array<{ what: string; ok: boolean }>;
    t.ok(audit.some((e) => e.ok && e.what === 'changed the admin password'), 'the password change is audited');
    t.ok(audit.some((e) => e.ok && /changed the system settings.*timeZone=Europe\/Berlin/.test(e.what)), 'the settings change is audited');
    await shot('system-password');
  });

  t.test('pictures: calls per hour and concurrent calls over the last day; certificate validity on a time line', async (t) => {
    const now = Date.now();
    // Three calls two hours ago that overlap (the peak: 3 at once), one yesterday beyond the day shown.
    const rec = (id: string, start: number, secs: number): string => `${JSON.stringify({
      id, caller: '1001', callee: '1002', startedAt: new Date(start).toISOString(), answeredAt: new Date(start + 2000).toISOString(),
      endedAt: new Date(start + secs * 1000).toISOString(), endReason: 'bye-caller', legs: { a: { party: '1001', transport: 'udp', protection: 'rtp' } }, mode: 'relay',
    })}\n`;
    appendFileSync(join(dataDir, CALLS_FILE), rec('old-1', now - 30 * 3_600_000, 60) + rec('p-1', now - 7_200_000, 300) + rec('p-2', now - 7_140_000, 300) + rec('p-3', now - 7_080_000, 300));
    await go(page, 'history');
    await page.locator('#chart-per-hour rect').first().waitFor({ timeout: 5000 });
    t.match(await page.locator('#chart-per-hour figcaption').textContent(), /\(4 calls\)/, 'the hung-up call and the three, not the one of yesterday');
    const bars = await page.locator('#chart-per-hour rect').evaluateAll((r) => r.map((x) => Number(x.getAttribute('data-calls'))));
    t.equal(bars.reduce((a, b) => a + b, 0), 4, 'the bars add up');
    t.equal(await page.locator('#chart-concurrent polyline').getAttribute('data-peak'), '3', 'three calls at once at the peak');
    t.match(await page.locator('#chart-concurrent figcaption').textContent(), /peak 3/);
    await page.locator('#day-activity').scrollIntoViewIfNeeded();
    await shot('history-activity');

    await go(page, 'certificates');
    await page.locator('#cert-timeline').waitFor({ timeout: 5000 });
    const states = await page.locator('#cert-timeline g[data-cert]').evaluateAll((g) => g.map((x) => `${x.getAttribute('data-cert')}:${x.getAttribute('data-state')}`));
    t.same(states, ['CA:ok', 'server:ok'], 'the CA and the server certificate, both valid for a while');
    t.equal(await page.locator('#cert-today').count(), 1, 'today is marked');
    t.match(await page.locator('#cert-timeline').textContent(), /\d+ days/);
    await shot('certificates-timeline');
  });

  t.test('music on hold: the built-in tune until an upload; a file that is no WAV refused beside its field; a WAV stored as 8 kHz and audited; back to the built-in tune', async (t) => {
    await go(page, 'system');
    await page.locator('#moh-form').waitFor();
    await page.waitForFunction(`!/Loading/.test(document.querySelector('#moh-now')?.textContent ?? 'Loading')`);
    t.match(await page.locator('#moh-now').textContent(), /built-in tune/, 'nothing uploaded: the built-in music plays');
    t.match(await page.locator('#moh').textContent(), /fully private call.*plays nothing/, 'the page says what a private call gets');

    await page.click('#moh-form button[type=submit]');
    t.match(await page.locator('#moh-file-error').textContent(), /Choose a WAV file/, 'no file: asked for one');
    await page.setInputFiles('#moh-file', { name: 'notes.wav', mimeType: 'audio/wav', buffer: Buffer.from('this is not audio at all, only text') });
    await page.click('#moh-form button[type=submit]');
    await page.locator('#moh-file-error').waitFor();
    t.match(await page.locator('#moh-file-error').textContent(), /WAV|RIFF/i, 'the converter says why beside the file field');
    t.notOk(existsSync(join(dataDir, HOLD_MUSIC_FILE)), 'nothing stored for a refused file');

    // 3 s of a 440 Hz tone, 16 kHz stereo: converted once to 8 kHz mono.
    const rate = 16_000;
    const pcm = new Int16Array(rate * 3 * 2);
    for (let i = 0; i < rate * 3; i++) pcm[2 * i] = pcm[2 * i + 1] = Math.round(8000 * Math.sin(2 * Math.PI * 440 * i / rate));
    await page.setInputFiles('#moh-file', { name: 'tune.wav', mimeType: 'audio/wav', buffer: writeWav(2, rate, pcm) });
    await page.click('#moh-form button[type=submit]');
    await page.locator('#moh-done').waitFor();
    t.match(await page.locator('#moh-done').textContent(), /3\.0 s from a 16000 Hz 2-channel WAV/);
    await page.waitForFunction(`/uploaded music/.test(document.querySelector('#moh-now')?.textContent ?? '')`);
    t.match(await page.locator('#moh-now').textContent(), /uploaded music \(3 s/);
    t.equal(readFileSync(join(dataDir, HOLD_MUSIC_FILE)).length, 8000 * 3 * 2, 'stored as 3 s of 8 kHz 16-bit mono');
    const audit = JSON.parse((await apiCall('GET', '/audit?limit=20')).text) as Array<{ what: string; ok: boolean }>;
    t.ok(audit.some((e) => e.ok && e.what === 'uploaded the music on hold'), 'the upload is audited');
    t.notOk(audit.some((e) => /[A-Za-z0-9+/]{200}/.test(e.what)), 'the file itself is not in the audit log');
    await page.locator('#moh').scrollIntoViewIfNeeded();
    await shot('system-music-on-hold');

    // Back to the built-in tune: the button shows only while an upload is stored.
    await page.click('#moh-reset');
    await page.locator('#moh-reverted').waitFor();
    await page.waitForFunction(`/built-in tune/.test(document.querySelector('#moh-now')?.textContent ?? '')`);
    t.notOk(existsSync(join(dataDir, HOLD_MUSIC_FILE)), 'the uploaded music is removed');
    t.equal(await page.locator('#moh-reset').count(), 0, 'no reset button once the built-in tune plays');
    const after = JSON.parse((await apiCall('GET', '/audit?limit=20')).text) as Array<{ what: string; ok: boolean }>;
    t.ok(after.some((e) => e.ok && e.what === 'returned the music on hold to the built-in tune'), 'the reset is audited');
    await shot('system-music-on-hold-reset');
  });

  t.test('no page errors', async (t) => {
    t.same(pageErrors, []);
  });
}
