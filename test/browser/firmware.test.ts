import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import t from 'tap';
import { silentLogger } from '../../firmware/core/index.js';
import { startAppliance } from '../../firmware/main.js';
import { SlotStore, afterHealth, bootPlan, createBundle, type PayloadFile } from '../../firmware/update/index.js';

/*
 * The Firmware page in Debian's chromium against a whole appliance booted
 * in-process on directory slots: a bundle signed by a stranger is refused
 * with the reason shown; a good one (8 MiB, so the upload takes a while) is
 * uploaded with the progress bar climbing to 100 %, verified, installed into
 * slot b, and followed by its ticket to "Updated". The supervisor's part (a
 * separate process on the box, tested in test/update/flow.test.ts) is played
 * here by writing the slot state the way it does, with its own functions.
 */

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../../test-artifacts/screenshots/', import.meta.url));

if (!existsSync(CHROMIUM)) {
  t.fail(`chromium not found at ${CHROMIUM}: run bash scripts/install-deps.sh`);
} else {
  mkdirSync(SHOTS, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), 'pbx-fw-browser-'));
  const root = join(dir, 'opt');
  const keys = join(dir, 'keys');
  SlotStore.init(root);
  mkdirSync(join(root, 'a'));
  writeFileSync(join(root, 'a', 'manifest.json'), JSON.stringify({ version: '0.1.0' }));
  mkdirSync(join(root, 'b'));
  const vendor = generateKeyPairSync('ed25519');
  const stranger = generateKeyPairSync('ed25519');
  mkdirSync(keys);
  writeFileSync(join(keys, 'vendor.pub'), vendor.publicKey.export({ type: 'spki', format: 'pem' }));
  const files: PayloadFile[] = [
    { path: 'package.json', mode: 0o644, data: Buffer.from('{"type":"module"}\n') },
    { path: 'dist/firmware/blob.bin', mode: 0o644, data: randomBytes(8 * 1024 * 1024) },
  ];
  const good = join(dir, 'securepbx-0.2.0.pbxfw');
  writeFileSync(good, createBundle({ version: '0.2.0', files, privateKey: vendor.privateKey }));
  const bad = join(dir, 'stranger-0.2.0.pbxfw');
  writeFileSync(bad, createBundle({ version: '0.2.0', files: files.slice(0, 1), privateKey: stranger.privateKey }));

  // The supervisor's moves on SIGHUP: start the trial, then commit it once healthy.
  const timers: NodeJS.Timeout[] = [];
  const signalled: string[] = [];
  const superviseLikeTheBox = (r: string): boolean => {
    signalled.push(r);
    const slots = new SlotStore(r);
    timers.push(setTimeout(() => {
      const plan = bootPlan(slots.read(), new Date());
      if (plan.kind === 'trial') slots.write(plan.next);
      timers.push(setTimeout(() => slots.write(afterHealth(slots.read(), { ok: true, ms: 1234 }, new Date())), 1500));
    }, 1000));
    return true;
  };

  const printed: string[] = [];
  const app = await startAppliance({
    bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, log: silentLogger, nightlyBackup: false,
    dataDir: join(dir, 'data'), print: (l) => printed.push(l),
    firmware: { slotsRoot: root, keysDir: keys, signal: superviseLikeTheBox, supervised: () => true },
  });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await (await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1200, height: 900 } })).newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  t.teardown(async () => {
    for (const x of timers) clearTimeout(x);
    await browser.close();
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  t.test('upload a firmware bundle: refused with its reason, then progress to 100 % and the verdict', async (t) => {
    const code = printed.find((l) => l.includes('setup code'))?.split(':').pop()?.trim() ?? '';
    await page.goto(app.info.adminUrl);
    await page.fill('#setup-code', code);
    await page.fill('#setup-password', 'firmware page admin');
    await page.fill('#setup-confirm', 'firmware page admin');
    await page.click('#setup button[type=submit]');
    await page.locator('#health').waitFor();
    await page.click('nav a[href="#firmware"]');
    await page.locator('#firmware-running').waitFor();
    t.match(await page.textContent('#firmware-running'), /0\.1\.0/);

    await page.setInputFiles('#firmware-file', bad);
    await page.click('#firmware-submit');
    await page.locator('#firmware-form [role=alert]').waitFor();
    t.match(await page.textContent('#firmware-form'), /the manifest is not signed by a trusted vendor key/);
    t.same(signalled, [], 'nothing switched');
    await page.screenshot({ path: join(SHOTS, 'firmware-refused.png'), fullPage: true });

    // Every percentage the page shows while the bytes go up.
    await page.setInputFiles('#firmware-file', good);
    // A page script (a string: this file is type-checked without the DOM library).
    await page.evaluate(`(() => {
      const seen = [];
      window.seen = seen;
      new MutationObserver(() => {
        const p = document.querySelector('#firmware-percent')?.textContent;
        if (p && seen.at(-1) !== p) seen.push(p);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    })()`);
    await page.click('#firmware-submit');
    await page.locator('#firmware-verdict').waitFor({ timeout: 60_000 });
    const seen = await page.evaluate<string[]>('window.seen');
    t.equal(seen.at(-1), '100 %', `the bar reached 100 % (${seen.join(', ')})`);
    t.ok(seen.length >= 2, 'and climbed there');
    t.equal(await page.getAttribute('#firmware-progress', 'aria-valuenow'), '100');
    await page.screenshot({ path: join(SHOTS, 'firmware-switching.png'), fullPage: true });
    await page.locator('#firmware-verdict[data-phase=committed]').waitFor({ timeout: 30_000 });
    const verdict = await page.textContent('#firmware-verdict');
    t.match(verdict, /Updated: 0\.2\.0 \(from 0\.1\.0\) in slot b/);
    t.match(verdict, /Healthy after 1234 ms/);
    t.same(signalled, [root], 'the supervisor was told once');
    t.equal(new SlotStore(root).read().committed, 'b');
    // The Running line follows: the version now running, not the one the page was opened with.
    await page.waitForFunction(`document.querySelector('#firmware-running')?.textContent.includes('0.2.0')`, undefined, { timeout: 10_000 }).catch(() => {});
    t.match(await page.textContent('#firmware-running'), /0\.2\.0.*slot b/, 'the page shows the running version after the update');
    await page.screenshot({ path: join(SHOTS, 'firmware-updated.png'), fullPage: true });
    t.same(pageErrors, [], 'no script errors');
  });
}
