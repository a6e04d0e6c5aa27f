import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import t from 'tap';
import { OutboundRouteSchema, TrunkSchema, addAccount } from '../../firmware/config/index.js';
import { silentLogger } from '../../firmware/core/index.js';
import { startAppliance } from '../../firmware/main.js';
import { CallUa, sdp } from '../integration/call-ua.js';

/*
 * The toll-fraud alarm (issue 14) end to end, in Debian's chromium against
 * the whole appliance in-process: an extension that dials out more often
 * than the alarm allows raises it; the error LED blinks red, `pbx status`
 * carries it, the dashboard shows it with what was dialled; "clear" from the
 * page ends it and the LED goes dark. A screenshot goes to
 * test-artifacts/screenshots/dashboard-alarm.png.
 */

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../../test-artifacts/screenshots/', import.meta.url));
const PASSWORD = 'admin password 1';

if (!existsSync(CHROMIUM)) {
  t.fail(`chromium not found at ${CHROMIUM}: run bash scripts/install-deps.sh`);
} else {
  mkdirSync(SHOTS, { recursive: true });
  const root = mkdtempSync(join(tmpdir(), 'pbx-alarm-'));
  const printed: string[] = [];
  const app = await startAppliance({ dataDir: join(root, 'box'), bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, print: (l) => printed.push(l), log: silentLogger });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  const page = await (await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } })).newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const closers: Array<{ close(): Promise<void> }> = [];
  t.teardown(async () => {
    for (const c of closers) await c.close();
    await browser.close();
    await app.stop();
    rmSync(root, { recursive: true, force: true });
  });

  t.test('an extension dialling out too often: alarm on the LED, in the status and on the page; cleared from the page', async (t) => {
    const code = printed.find((l) => l.includes('setup code'))?.split(':').pop()?.trim() ?? '';
    await page.goto(app.info.adminUrl);
    await page.fill('#setup-code', code);
    await page.fill('#setup-password', PASSWORD);
    await page.fill('#setup-confirm', PASSWORD);
    await page.click('#setup button[type=submit]');
    await page.locator('#health').waitFor();
    t.equal(await page.locator('#alarms').count(), 0, 'no alarm card on a quiet box');

    // 1001, a route for 0 to a provider that never answers (a closed port), and an alarm after 3 attempts in 10 minutes.
    await app.store.update((d) => addAccount(d, { extension: '1001', password: 'secret-1001' }));
    await app.store.update((d) => {
      d.trunking.trunks.push(TrunkSchema.parse({ name: 'provider', host: '127.0.0.1', port: 9, transport: 'udp' }));
      d.trunking.routes.push(OutboundRouteSchema.parse({ prefix: '0', trunks: ['provider'] }));
      d.trunking.alarm = { calls: 3, windowMinutes: 10 };
    });
    const phone = await CallUa.open({ boxPort: app.info.ports.sipUdp, user: '1001', password: 'secret-1001' });
    closers.push(phone);
    t.equal((await phone.register(600)).status, 200, '1001 registers');
    const dialled = ['03012345', '03012346', '004412345', '004412346'];
    for (const n of dialled) {
      const c = await phone.call(n, { sdp: sdp({ port: 20_000 }) });
      if (n.startsWith('00')) {
        t.equal((await c.final(5000)).status, 403, `${n}: 403, 1001 has no international right`);
      } else {
        // The provider stand-in is a closed port: the call goes out and rings nowhere; the phone gives up.
        await new Promise((r) => setTimeout(r, 300));
        await c.cancel();
        t.equal((await c.final(5000)).status, 487, `${n}: went out to the provider, then cancelled by the phone`);
      }
    }
    const status = app.status();
    t.match(status.alarms, [{ extension: '1001', calls: 4, windowMinutes: 10, lastNumber: '004412346' }], 'pbx status carries the alarm');
    t.match(status.leds?.error, { mode: 'blink', color: 'red' }, 'the error LED blinks red');

    const card = page.locator('#alarms tr[data-alarm="1001"]');
    await card.waitFor({ timeout: 5000 });
    t.match(await card.textContent(), /1001.*4 within 10 min.*004412346/, 'the dashboard shows the extension, the count and the last number, live');
    await page.locator('.led[data-led="error"][data-state="blink red"]').waitFor({ timeout: 5000 });
    t.pass('the page\'s LED mirror blinks the error LED red');
    await page.screenshot({ path: join(SHOTS, 'dashboard-alarm.png'), fullPage: true });

    await card.locator('button').click();
    await page.locator('#alarms').waitFor({ state: 'detached', timeout: 5000 });
    t.pass('cleared from the page: the card goes');
    t.same(app.status().alarms, [], 'and from the status');
    t.match(app.status().leds?.error, { mode: 'off' }, 'the error LED is dark again');
    t.same(pageErrors, [], 'no script error on the page');
  });
}
