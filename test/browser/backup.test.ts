import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import t from 'tap';
import { ConfigStore } from '../../firmware/config/index.js';
import { silentLogger } from '../../firmware/core/index.js';
import { startAppliance, type Appliance } from '../../firmware/main.js';
import { CallUa } from '../integration/call-ua.js';

/*
 * The Backup and Security pages in Debian's chromium against two whole
 * appliances booted in-process: box A is set up and changed in the page, a
 * blocked phone is unblocked and registers, the audit log shows those
 * changes, a backup is downloaded; box B (fresh) refuses the backup with a
 * wrong passphrase and changes nothing, then restores it, restarts its
 * services and has A's accounts, policies, admin password and certificates
 * (fingerprints compared). Screenshots go to test-artifacts/screenshots.
 */

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../../test-artifacts/screenshots/', import.meta.url));
const PASS_A = 'admin password A';
const PASS_B = 'admin password B';
const PASSPHRASE = 'a long backup passphrase';

const fp = (pem: string): string => new X509Certificate(pem).fingerprint256;
const caFp = (app: Appliance): string => fp(readFileSync(app.pki.paths.caCert, 'utf8'));
const serverFp = (app: Appliance): string => fp(app.pki.serverCertPem);

if (!existsSync(CHROMIUM)) {
  t.fail(`chromium not found at ${CHROMIUM}: run bash scripts/install-deps.sh`);
} else {
  mkdirSync(SHOTS, { recursive: true });
  const root = mkdtempSync(join(tmpdir(), 'pbx-backup-browser-'));
  const dirA = join(root, 'a');
  const dirB = join(root, 'b');
  // Box A blocks an address after 3 wrong passwords.
  const pre = await ConfigStore.open(dirA, { log: silentLogger });
  await pre.update((d) => { d.sip.authFailLimit = 3; });
  const printedA: string[] = [];
  const printedB: string[] = [];
  const boot = { bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, log: silentLogger, nightlyBackup: false } as const;
  const appA = await startAppliance({ ...boot, dataDir: dirA, print: (l) => printedA.push(l) });
  let restarted: Appliance | null = null;
  const appB = await startAppliance({ ...boot, dataDir: dirB, print: (l) => printedB.push(l), onRestart: (next) => { restarted = next; } });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const closers: Array<{ close(): Promise<void> }> = [];
  let backupFile = '';
  t.teardown(async () => {
    for (const c of closers) await c.close();
    await browser.close();
    await appA.stop();
    await appB.stop();
    await (restarted as Appliance | null)?.stop();
    rmSync(root, { recursive: true, force: true });
  });
  const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const go = async (p: Page, hash: string): Promise<void> => { await p.click(`nav a[href="#${hash}"]`); };
  const setUp = async (url: string, printed: string[], password: string): Promise<void> => {
    const code = printed.find((l) => l.includes('setup code'))?.split(':').pop()?.trim() ?? '';
    await page.goto(url);
    await page.fill('#setup-code', code);
    await page.fill('#setup-password', password);
    await page.fill('#setup-confirm', password);
    await page.click('#setup button[type=submit]');
    await page.locator('#health').waitFor();
  };

  t.test('box A: extensions and a policy made in the page', async (t) => {
    await setUp(appA.info.adminUrl, printedA, PASS_A);
    await go(page, 'extensions');
    for (const ext of ['1001', '1002']) {
      await page.fill('#add-ext', ext);
      await page.fill('#add-password', `secret-${ext}`);
      await page.click('#add-extension button[type=submit]');
      await page.locator(`#extensions tr[data-extension="${ext}"]`).waitFor();
    }
    await go(page, 'policies');
    await page.fill('#policy-name', 'private');
    await page.selectOption('#policy-caller', 'forced_relay');
    await page.click('#policy-form button[type=submit]');
    await page.locator('#policies tr[data-policy="private"]').waitFor();
    t.same(appA.store.data.accounts.map((a) => a.extension), ['1001', '1002']);
  });

  t.test('a blocked phone is unblocked from the Security page and registers', async (t) => {
    const wrong = await CallUa.open({ boxPort: appA.info.ports.sipUdp, user: '1001', password: 'not-the-password' });
    closers.push(wrong);
    const within = <T>(p: Promise<T>): Promise<T | 'silence'> => Promise.race([p, new Promise<'silence'>((r) => setTimeout(() => r('silence'), 3000))]);
    for (let i = 0; i < 3; i++) await within(wrong.register(600).catch(() => 'silence' as const));
    t.ok(appA.throttle.blocked().some((b) => b.address === '127.0.0.1'), 'three wrong passwords block 127.0.0.1');
    await go(page, 'security');
    const row = page.locator('#blocks tr[data-source="127.0.0.1"]');
    await row.waitFor({ timeout: 5000 });
    t.match(await row.textContent(), /127\.0\.0\.1\s*3 wrong passwords\s*1001\s*\d+ min/, 'source, reason, extension tried, time left');
    await shot('security-blocked');
    const good = await CallUa.open({ boxPort: appA.info.ports.sipUdp, user: '1001', password: 'secret-1001' });
    closers.push(good);
    t.not((await within(good.register(600)))?.valueOf(), 200, 'while blocked, the right password does not register either');
    await row.locator('button:has-text("Unblock")').click();
    await page.locator('#unblock-done').waitFor();
    await page.locator('#blocks .empty').waitFor({ timeout: 5000 });
    t.equal(appA.throttle.blocked().length, 0, 'the box no longer blocks it');
    const good2 = await CallUa.open({ boxPort: appA.info.ports.sipUdp, user: '1001', password: 'secret-1001' });
    closers.push(good2);
    const r = await within(good2.register(600));
    t.equal(r === 'silence' ? 'silence' : r.status, 200, 'the phone registers');
  });

  t.test('the audit log shows the admin changes, who, and from where', async (t) => {
    await page.reload();
    const log = page.locator('#audit-log');
    await log.waitFor();
    const text = (await log.textContent()) ?? '';
    t.match(text, /added extension 1001 \(policy=default, tls-only=false\)/, 'adding an extension, with what was set');
    t.match(text, /added policy private \(callerStream=forced_relay/, 'a policy');
    t.match(text, /unblocked 127\.0\.0\.1/, 'the unblock');
    t.match(text, /admin127\.0\.0\.1/, 'who and from where');
    t.notMatch(text, /secret-100/, 'no password in it');
    await page.fill('#audit-search', 'unblock');
    await page.locator('#audit-log tbody tr:nth-child(2)').waitFor({ state: 'detached' });
    t.equal(await page.locator('#audit-log tbody tr').count(), 1, 'the search narrows it to one line');
    t.equal(await page.locator('#audit button:has-text("Delete"), #audit input[type=checkbox]').count(), 0, 'nothing on the page edits it');
    await page.fill('#audit-search', '');
    await page.locator('#audit-log tbody tr:nth-child(2)').waitFor();
    await shot('security-audit');
    const lines = readFileSync(join(dirA, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { who: string; what: string; from: string });
    t.ok(lines.some((l) => l.what === 'unblocked 127.0.0.1' && l.who === 'admin' && l.from === '127.0.0.1'), 'written to DATA/audit.jsonl');
  });

  t.test('box A: download a backup with one click', async (t) => {
    await go(page, 'backup');
    await page.fill('#backup-passphrase', 'short');
    await page.click('#backup-form button[type=submit]');
    t.match(await page.locator('#backup-passphrase-error').textContent(), /At least 8 characters/);
    await page.fill('#backup-passphrase', PASSPHRASE);
    await page.fill('#backup-confirm', PASSPHRASE);
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#backup-form button[type=submit]')]);
    t.match(dl.suggestedFilename(), /^securepbx-\d{4}-\d\d-\d\d\.pbxbackup$/);
    backupFile = join(root, 'a.pbxbackup');
    await dl.saveAs(backupFile);
    t.equal(readFileSync(backupFile).subarray(0, 8).toString(), 'SPBXBAK1', 'an encrypted backup file');
    await page.locator('#backup-done').waitFor();
    t.equal(await page.inputValue('#backup-passphrase'), '', 'the passphrase is cleared from the page');
    await shot('backup');
  });

  t.test('box B: a wrong passphrase changes nothing; the right one restores A', async (t) => {
    await context.clearCookies();
    await setUp(appB.info.adminUrl, printedB, PASS_B);
    const caB = caFp(appB);
    const configB = readFileSync(join(dirB, 'config.json'), 'utf8');
    await go(page, 'backup');
    await page.setInputFiles('#restore-file', backupFile);
    await page.fill('#restore-passphrase', 'not the passphrase');
    await page.click('#restore-form button[type=submit]');
    t.match(await page.locator('#restore-passphrase-error').textContent(), /wrong passphrase/);
    t.equal(readFileSync(join(dirB, 'config.json'), 'utf8'), configB, 'the config is untouched');
    t.equal(caFp(appB), caB, 'the CA is untouched');
    t.notOk(existsSync(join(dirB, 'restore-aside')), 'nothing moved aside');
    t.equal(restarted, null, 'no restart');
    await shot('backup-wrong-passphrase');

    await page.fill('#restore-passphrase', PASSPHRASE);
    await page.click('#restore-form button[type=submit]');
    await page.locator('#restore-done').waitFor();
    t.match(await page.locator('#restore-done').textContent(), /2 extensions, 2 policies/);
    t.equal(await page.locator('#restore-ca').textContent(), caFp(appA), 'the page shows the CA of box A');
    await shot('backup-restored');
    const deadline = Date.now() + 20_000;
    while (!restarted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const b2 = restarted as Appliance | null;
    t.ok(b2, 'box B restarted its services');
    if (!b2) return;
    t.same(b2.store.data.accounts.map((a) => [a.extension, a.ha1Sha256, a.policy]), appA.store.data.accounts.map((a) => [a.extension, a.ha1Sha256, a.policy]), 'the same accounts');
    t.same(b2.store.data.policies, appA.store.data.policies, 'the same policies');
    t.equal(caFp(b2), caFp(appA), 'the same CA certificate (SHA-256 fingerprint)');
    t.equal(serverFp(b2), serverFp(appA), 'the same server certificate');
    t.equal(b2.info.ports.web, appB.info.ports.web, 'on the same web port');
    t.equal(readFileSync(join(dirB, 'restore-aside', (await import('node:fs')).readdirSync(join(dirB, 'restore-aside'))[0]!, 'config.json'), 'utf8'), configB, 'B\'s old config is kept aside');

    // The page reloads into a login: the admin password is now A's.
    await page.locator('#login-password').waitFor({ timeout: 15_000 });
    await page.fill('#login-password', PASS_B);
    await page.click('#login button[type=submit]');
    t.match(await page.locator('#login-password-error').textContent(), /wrong password/, 'B\'s old password no longer works');
    // One failed login makes the next wait a moment (admin/throttle.ts): the page says how long.
    for (let attempt = 0; attempt < 5; attempt++) {
      await page.fill('#login-password', PASS_A);
      await page.click('#login button[type=submit]');
      // Logged in, the page returns to where it was (#backup).
      await page.locator('#logout, #login-password-error:has-text("try again"), .notice.bad:has-text("try again")').first().waitFor();
      if (await page.locator('#logout').count()) break;
      const wait = /try again in (\d+) s/.exec((await page.locator('#login').textContent()) ?? '')?.[1];
      await new Promise((r) => setTimeout(r, (Number(wait ?? 1) + 0.2) * 1000));
    }
    await page.locator('#restore-form').waitFor();
    t.pass('A\'s admin password logs in to the restored box B');
    const phone = await CallUa.open({ boxPort: b2.info.ports.sipUdp, user: '1002', password: 'secret-1002' });
    closers.push(phone);
    t.equal((await phone.register(600)).status, 200, 'a phone of box A registers on the restored box B');
    t.same(pageErrors, [], 'no script errors on the page');
  });
}
