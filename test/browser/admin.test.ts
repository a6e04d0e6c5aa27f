import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Page } from 'playwright-core';
import t from 'tap';
import { CALLS_FILE } from '../../firmware/control/index.js';
import { silentLogger } from '../../firmware/core/index.js';
import { startAppliance } from '../../firmware/main.js';
import { pemToDer } from '../../firmware/pki/index.js';
import { CallUa, RtpPeer, sdp } from '../integration/call-ua.js';

/*
 * The admin page in Debian's chromium, driven by playwright-core, against the
 * whole appliance booted in-process: first-run setup with the console's
 * setup code, login, extensions, policies, the CA download compared with
 * `pbx cert ca`, a rejected certificate upload, renewal, and a phone that
 * registers while the dashboard is open. Screenshots of the main pages go to
 * test-artifacts/screenshots.
 */

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../../test-artifacts/screenshots/', import.meta.url));
const PBX = fileURLToPath(new URL('../../firmware/cli/pbx.js', import.meta.url));
const PASSWORD = 'admin password 1';

if (!existsSync(CHROMIUM)) {
  t.fail(`chromium not found at ${CHROMIUM}: run bash scripts/install-deps.sh`);
} else {
  mkdirSync(SHOTS, { recursive: true });
  const root = mkdtempSync(join(tmpdir(), 'pbx-browser-'));
  const dataDir = join(root, 'box');
  const printed: string[] = [];
  const app = await startAppliance({ dataDir, bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, print: (l) => printed.push(l), log: silentLogger });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const closers: Array<{ close(): Promise<void> }> = [];
  let password1002 = '';
  t.teardown(async () => {
    for (const c of closers) await c.close();
    await browser.close();
    await app.stop();
    rmSync(root, { recursive: true, force: true });
  });
  const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  // The page's own links: a hash change, never a reload.
  const go = async (p: Page, hash: string): Promise<void> => { await p.click(`nav a[href="#${hash}"]`); };

  t.test('first run: the page asks for the setup code and a new password', async (t) => {
    const line = printed.find((l) => l.includes('setup code'));
    const code = line?.split(':').pop()?.trim() ?? '';
    t.match(code, /^[A-Z0-9]{8}$/, 'the console printed a setup code');
    await page.goto(app.info.adminUrl);
    await page.locator('#setup-code').waitFor();
    await page.fill('#setup-code', 'WRONG123');
    await page.fill('#setup-password', PASSWORD);
    await page.fill('#setup-confirm', PASSWORD);
    await page.click('#setup button[type=submit]');
    t.match(await page.locator('#setup-code-error').textContent(), /wrong setup code/, 'a wrong code is shown next to its field');
    await page.fill('#setup-code', code);
    await shot('setup');
    await page.click('#setup button[type=submit]');
    await page.locator('#health').waitFor();
    t.match(app.store.data.admin.passwordHash, /^scrypt\$/, 'password set');
    t.equal(app.store.data.admin.setupCode, null, 'setup code used up');
  });

  t.test('log out and log in again', async (t) => {
    await page.click('#logout');
    await page.locator('#login-password').waitFor();
    await page.fill('#login-password', 'not the password');
    await page.click('#login button[type=submit]');
    t.match(await page.locator('#login-password-error').textContent(), /wrong password/);
    await shot('login');
    await page.fill('#login-password', PASSWORD);
    await page.click('#login button[type=submit]');
    await page.locator('#health').waitFor();
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === '__Host-pbx_session');
    t.match(session, { httpOnly: true, secure: true, sameSite: 'Strict' }, 'the session cookie is HttpOnly, Secure, SameSite=Strict');
  });

  t.test('add an extension; the form shows errors next to the field', async (t) => {
    await go(page, 'extensions');
    await page.locator('#add-ext').waitFor();
    await page.fill('#add-ext', 'bad ext');
    await page.click('#add-extension button[type=submit]');
    t.match(await page.locator('#add-ext-error').textContent(), /letters, digits/, 'client-side check');
    await page.fill('#add-ext', '1001');
    await page.fill('#add-name', 'Reception');
    await page.fill('#add-password', 'secret-1001');
    await page.click('#add-extension button[type=submit]');
    await page.locator('#extensions tr[data-extension="1001"]').waitFor();
    await page.fill('#add-ext', '1001');
    await page.fill('#add-password', 'secret-1001');
    await page.click('#add-extension button[type=submit]');
    t.match(await page.locator('#add-ext-error').textContent(), /already exists/, 'the server\'s error lands next to the field');
    await page.fill('#add-ext', '1002');
    await page.fill('#add-password', '');
    await page.click('#add-extension button[type=submit]');
    const shown = await page.locator('#new-password').textContent();
    t.match(shown, /^[A-Za-z0-9]{12}$/, 'a generated password is shown once');
    password1002 = shown ?? '';
    await shot('extensions');
    t.same(app.store.data.accounts.map((a) => a.extension), ['1001', '1002']);
  });

  t.test('create a policy, see its behaviour explained, assign it', async (t) => {
    await go(page, 'policies');
    await page.locator('#policy-name').waitFor();
    await page.fill('#policy-name', 'private');
    await page.selectOption('#policy-caller', 'forced_relay');
    t.match(await page.locator('#policy-explanation').textContent(), /always relayed/, 'the explanation follows the caller choice');
    await page.selectOption('#policy-caller', 'decrypt');
    await page.selectOption('#policy-callee', 'sdes');
    t.match(await page.locator('#policy-explanation').textContent(), /encrypts toward the callee with SDES/);
    // Saved with a plain-RTP callee side: the test phones below speak plain RTP over
    // UDP, and an SDES callee leg needs TLS (the policy would refuse their call).
    await page.selectOption('#policy-callee', 'decrypted');
    t.match(await page.locator('#policy-explanation').textContent(), /sends the callee plain RTP/);
    await shot('policies');
    await page.click('#policy-form button[type=submit]');
    await page.locator('#policies tr[data-policy="private"]').waitFor();
    t.match(app.store.data.policies.find((p) => p.name === 'private'), { callerStream: 'decrypt', calleeStream: 'decrypted' });

    await go(page, 'extensions');
    await page.locator('#extensions tr[data-extension="1001"] button:has-text("Edit")').click();
    await page.selectOption('#edit-1001-policy', 'private');
    await page.click('#edit-1001 button[type=submit]');
    await page.locator('#extensions tr[data-extension="1001"] td:has-text("private")').waitFor();
    t.equal(app.store.data.accounts.find((a) => a.extension === '1001')?.policy, 'private');
  });

  t.test('a phone registers while the dashboard is open: it appears without reload', async (t) => {
    await go(page, 'dashboard');
    await page.locator('#registrations .empty').waitFor();
    await page.locator('#live-state:has-text("connected")').waitFor();
    const navigations: string[] = [];
    page.on('framenavigated', (f) => navigations.push(f.url()));
    const ua = await CallUa.open({ boxPort: app.info.ports.sipUdp, user: '1001', password: 'secret-1001' });
    closers.push(ua);
    t.equal((await ua.register(600)).status, 200, 'REGISTER accepted');
    const row = page.locator('#registrations tr[data-extension="1001"]');
    await row.waitFor({ timeout: 5000 });
    t.match(await row.textContent(), /1001UDP127\.0\.0\.1:\d+in \d+ min/, 'extension, transport, address and expiry');
    // The box recounts registered phones for the LED within 200 ms of a change.
    await page.locator('.led[data-led="registration"][data-state="on green"]').waitFor({ timeout: 5000 });
    t.equal(await page.locator('.led[data-led="registration"]').getAttribute('data-state'), 'on green', 'the LED mirror follows');
    t.same(navigations, [], 'no reload happened');
    await shot('dashboard');

    // 1002 (default policy: relay) calls 1001; the call and its legs appear live.
    const caller = await CallUa.open({ boxPort: app.info.ports.sipUdp, user: '1002', password: password1002 });
    const rtpA = await RtpPeer.open();
    const rtpB = await RtpPeer.open();
    closers.push(caller, rtpA, rtpB);
    const out = await caller.call('1001', { sdp: sdp({ port: rtpA.port }) });
    const inc = await ua.waitInvite();
    inc.ring();
    await page.locator('#calls .call[data-state="ringing"]').waitFor({ timeout: 5000 });
    inc.answer(sdp({ port: rtpB.port }));
    const dialog = out.ack(await out.waitStatus(200));
    const card = page.locator('#calls .call[data-state="answered"]');
    await card.waitFor({ timeout: 5000 });
    const text = (await card.textContent()) ?? '';
    t.match(text, /1002 → 1001/, 'caller and callee');
    t.match(text, /1002 UDP.*plain RTP.*box.*1001 UDP.*plain RTP/, 'each leg with its transport and protection');
    t.match(text, /Recording (possible|not possible)/, 'whether recording is possible');
    t.same(navigations, [], 'still no reload');
    await shot('dashboard-call');
    t.equal((await dialog.bye()).status, 200, 'the caller hangs up');
    await page.locator('#calls .empty').waitFor({ timeout: 5000 });
  });

  t.test('download the CA: it matches `pbx cert ca`', async (t) => {
    await go(page, 'certificates');
    await page.locator('#ca-cert').waitFor();
    const { stdout } = await promisify(execFile)(process.execPath, [PBX, 'cert', 'ca', '--data', dataDir]);
    const caFile = readFileSync(stdout.trim(), 'utf8');
    const [pem] = await Promise.all([page.waitForEvent('download'), page.click('#download-ca-pem')]);
    t.equal(readFileSync(await pem.path(), 'utf8'), caFile, 'the PEM download is the CA file pbx cert ca names');
    const [der] = await Promise.all([page.waitForEvent('download'), page.click('#download-ca-der')]);
    t.same(readFileSync(await der.path()), pemToDer(caFile), 'the DER download is the same certificate');
    t.match(await page.locator('#ca-cert').textContent(), app.pki.caInfo.sha256, 'the page shows the CA fingerprint');
  });

  t.test('uploading a certificate with the wrong key shows the error', async (t) => {
    const strayKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await page.fill('#up-certPem', app.pki.serverCertPem);
    await page.fill('#up-chainPem', app.pki.caCertPem);
    await page.fill('#up-keyPem', strayKey);
    await page.click('#upload-cert button[type=submit]');
    t.match(await page.locator('#up-keyPem-error').textContent(), /private key does not belong to the certificate/);
    await shot('certificates-upload-error');
  });

  t.test('renew now: the page shows the new expiry', async (t) => {
    const before = app.pki.serverInfo;
    await page.click('#renew');
    await page.locator('#renew-status:has-text("Renewed")').waitFor();
    const after = app.pki.serverInfo;
    t.not(after.serial, before.serial, 'a new certificate');
    await page.locator(`#server-cert .serial:has-text("${after.serial}")`).waitFor();
    t.equal(await page.locator('#server-cert .expiry').getAttribute('data-expiry'), after.notAfter, 'the new expiry is shown');
    t.match(await page.locator('#cert-history').textContent(), /manual/, 'the renewal is in the history');
    await shot('certificates');
  });

  t.test('call history lists the call records', async (t) => {
    const now = Date.now();
    const rec = { id: 'c-1', caller: '1001', callee: '1002', startedAt: now - 3_600_000, answeredAt: now - 3_595_000, endedAt: now - 3_545_000, endReason: 'bye',
      legs: { a: { party: '1001', transport: 'tls', protection: 'sdes', suite: 'AES_CM_128_HMAC_SHA1_80' }, b: { party: '1002', transport: 'udp', protection: 'rtp' } }, mode: 'bridge' };
    const file = join(dataDir, CALLS_FILE);
    t.match(readFileSync(file, 'utf8'), /"caller":"1002","callee":"1001"/, 'the call placed above was recorded by the box');
    appendFileSync(file, `${JSON.stringify(rec)}\n`);
    await go(page, 'history');
    const rows = page.locator('#call-history tbody tr');
    await rows.first().waitFor();
    t.equal(await rows.count(), 2, 'both calls listed');
    // Ordered by start, newest first: the record written last started an hour ago, before the real call.
    t.match(await rows.nth(0).textContent(), /1002.*1001.*1002 plain RTP -> box \(relayed\) -> 1001 plain RTP/, 'the real call, which started last, first');
    t.match(await rows.nth(1).textContent(), /0:50.*1001 SDES AES_CM_128_HMAC_SHA1_80 -> box \(bridged\) -> 1002 plain RTP/, 'then the older one, legs described');
    await shot('history');
    t.same(pageErrors, [], 'no script errors on the page');
  });
}
