import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addAccount, CONFIG_FILE } from '../../firmware/config/index.js';
import { callControl, controlSocketPath } from '../../firmware/control/index.js';
import { silentLogger } from '../../firmware/core/index.js';
import { startAppliance, type Appliance } from '../../firmware/main.js';
import { getHeader, getHeaders } from '../../firmware/sip/message/index.js';
import { TestUa, type UaOptions } from './ua.js';

/**
 * The whole appliance booted in-process on loopback with ephemeral ports,
 * driven by an in-test user agent over UDP, TCP and TLS.
 */

interface Reg { extension: string; contact: string; transport: string; source: { address: string; port: number }; expiresAt: number }

const root = mkdtempSync(join(tmpdir(), 'pbx-integration-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));

function boot(dataDir: string, print: (line: string) => void = () => {}): Promise<Appliance> {
  return startAppliance({ dataDir, bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, print, log: silentLogger });
}

// A copy: the tests sort it, and the status's own list is read-only.
const regs = (app: Appliance): Reg[] => [...(app.status().registrations ?? [])];

const dataDir = join(root, 'box');
let app = await boot(dataDir);
t.teardown(() => app.stop());
await app.store.update((d) => addAccount(d, { extension: '100', password: 'secret-100' }));
await app.store.update((d) => addAccount(d, { extension: '101', password: 'secret-101' }));
await app.store.update((d) => addAccount(d, { extension: '102', password: 'secret-102', tlsOnly: true }));

const uas: TestUa[] = [];
t.teardown(async () => { for (const u of uas) await u.close(); });

async function ua(transport: UaOptions['transport'], user: string, password: string, a: Appliance = app): Promise<TestUa> {
  const port = transport === 'tls' ? a.info.ports.sipTls : transport === 'tcp' ? a.info.ports.sipTcp : a.info.ports.sipUdp;
  const u = await TestUa.open({ transport, port, user, password, ...(transport === 'tls' ? { ca: readFileSync(a.info.caPath) } : {}) });
  uas.push(u);
  return u;
}

/** The registration LED follows bindings within a short coalescing delay (200 ms); wait up to 2 s for it. */
async function ledSettles(app: { board: { leds: { snapshot(): { registration: unknown } } } }, want: object): Promise<{ mode?: string }> {
  const end = Date.now() + 2000;
  for (;;) {
    const led = app.board.leds.snapshot().registration as { mode?: string };
    if (JSON.stringify(led) === JSON.stringify(want) || Date.now() > end) return led;
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('RFC 3261 10.3 over UDP, TCP and TLS: each binding is listed with its transport and source; LED goes on', async (t) => {
  t.equal(app.board.leds.snapshot().registration.mode, 'blink', 'no phone registered: the registration LED blinks');

  const udp = await ua('udp', '100', 'secret-100');
  const r1 = await udp.register({ expires: 600 });
  t.equal(r1.status, 200, 'UDP REGISTER accepted');
  t.same(getHeaders(r1, 'contact'), [`<${udp.contactUri}>;expires=600`]);
  t.same(await ledSettles(app, { mode: 'on', color: 'green' }), { mode: 'on', color: 'green' }, 'a registered phone turns the LED on');

  const tcp = await ua('tcp', '101', 'secret-101');
  t.equal((await tcp.register()).status, 200, 'TCP REGISTER accepted');
  const tls = await ua('tls', '102', 'secret-102');
  t.equal((await tls.register()).status, 200, 'TLS REGISTER of a TLS-only account accepted');

  const byExt = new Map(regs(app).map((r) => [r.extension, r]));
  t.same([...byExt.keys()].sort(), ['100', '101', '102']);
  t.match(byExt.get('100'), { transport: 'udp', contact: udp.contactUri, source: { address: '127.0.0.1', port: udp.localPort } });
  t.match(byExt.get('101'), { transport: 'tcp', contact: tcp.contactUri, source: { address: '127.0.0.1', port: tcp.localPort } });
  t.match(byExt.get('102'), { transport: 'tls', contact: tls.contactUri, source: { address: '127.0.0.1', port: tls.localPort } });
});

t.test('TLS-only account over UDP is refused with a reason that says TLS is required', async (t) => {
  const udp = await ua('udp', '102', 'secret-102');
  const r = await udp.register();
  t.equal(r.status, 403);
  t.match(r.reason, /TLS/);
  t.equal(regs(app).filter((b) => b.extension === '102' && b.transport === 'udp').length, 0);
});

t.test('RFC 3261 11.2: OPTIONS -> 200 with Allow; RFC 3261 8.2.1: unknown method -> 405 with Allow', async (t) => {
  const u = await ua('udp', '100', 'secret-100');
  const opt = await u.request('OPTIONS');
  t.equal(opt.status, 200);
  t.match(getHeader(opt, 'allow') ?? '', /REGISTER/);
  const foo = await u.request('FROBNICATE');
  t.equal(foo.status, 405);
  t.match(getHeader(foo, 'allow') ?? '', /OPTIONS/);
  const tcp = await ua('tcp', '100', 'secret-100');
  t.equal((await tcp.request('OPTIONS')).status, 200, 'over TCP too');
});

t.test('garbage on UDP and TCP does not crash the box; it still answers', async (t) => {
  const u = await ua('udp', '100', 'secret-100');
  const junk = [Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x00]), Buffer.alloc(1400, 0xaa), Buffer.from('REGISTER sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n'), Buffer.from('\r\n\r\n')];
  for (const j of junk) u.sendRaw(j);
  const tcp = await ua('tcp', '100', 'secret-100');
  tcp.sendRaw(Buffer.from([0x00, 0x01, 0x02, 0xff, 0x0d, 0x0a, 0x0d, 0x0a]));
  t.equal(await tcp.waitClosed(), true, 'an unframeable stream is closed by the box');
  t.equal((await u.request('OPTIONS')).status, 200, 'the box still answers on UDP');
  const again = await ua('tcp', '100', 'secret-100');
  t.equal((await again.request('OPTIONS')).status, 200, 'and accepts new TCP connections');
  const counters = app.status().counters as Record<string, number>;
  t.ok((counters['tcp-frame-start-line'] ?? 0) >= 1, 'the bad stream is counted by reason');
  t.ok(Object.keys(counters).some((k) => k.startsWith('udp-msg-')), 'bad datagrams are counted by reason');
  t.ok((counters['udp-keepalive'] ?? 0) >= 1, 'a CRLF keep-alive is recognised, not an error');
});

t.test('an account added through the control socket registers at once; removing it drops its binding', async (t) => {
  const sock = controlSocketPath(dataDir);
  const added = await callControl(sock, { command: 'account.add', args: { extension: '200', password: 'secret-200', name: 'Reception' } });
  t.match(added, { extension: '200', name: 'Reception' });
  t.notMatch(JSON.stringify(added), /ha1|secret-200/i, 'the reply carries no secret');
  const u = await ua('udp', '200', 'secret-200');
  t.equal((await u.register()).status, 200, 'no restart needed');
  t.ok(regs(app).some((r) => r.extension === '200'));

  const u2 = await ua('udp', '201', 'secret-201');
  await callControl(sock, { command: 'account.add', args: { extension: '201', password: 'secret-201' } });
  t.equal((await u2.register()).status, 200);
  await callControl(sock, { command: 'account.remove', args: { extension: '201' } });
  t.notOk(regs(app).some((r) => r.extension === '201'), 'binding of the removed account is gone');
  t.equal((await u2.register()).status, 403, 'and it cannot register again');
});

t.test('RFC 3261 10.2.2: Contact * with Expires 0 unregisters the account', async (t) => {
  const u = await ua('udp', '100', 'secret-100');
  t.equal((await u.register({ contacts: ['*'], expires: 0 })).status, 200);
  t.notOk(regs(app).some((r) => r.extension === '100'));
});

t.test('bindings survive a restart until they expire', async (t) => {
  const before = regs(app).sort((a, b) => a.extension.localeCompare(b.extension));
  t.same(before.map((r) => r.extension), ['101', '102', '200']);
  for (const u of uas.splice(0)) await u.close();
  await app.stop();
  app = await boot(dataDir);
  const after = regs(app).sort((a, b) => a.extension.localeCompare(b.extension));
  t.same(after.map((r) => [r.extension, r.contact, r.transport, r.expiresAt]), before.map((r) => [r.extension, r.contact, r.transport, r.expiresAt]),
    'same bindings, same expiry');
  t.same(app.board.leds.snapshot().registration, { mode: 'on', color: 'green' }, 'restored bindings light the LED at boot');
});

t.test('toll-fraud throttle: 10 wrong passwords, then the right one is refused as blocked', async (t) => {
  const u = await ua('udp', '101', 'secret-101', app);
  for (let i = 0; i < 10; i++) {
    const r = await u.register({ password: `wrong-${i}-password` });
    t.equal(r.status, 403, `wrong password ${i + 1}`);
  }
  const r = await u.register();
  t.equal(r.status, 403);
  t.match(r.reason, /Blocked/);
  t.match(app.status().blocked, [{ address: '127.0.0.1' }]);
  const viaControl = await callControl(controlSocketPath(dataDir), { command: 'status', args: {} }) as { running: boolean; blocked: unknown };
  t.equal(viaControl.running, true);
  t.match(viaControl.blocked, [{ address: '127.0.0.1' }], 'pbx status shows it too');
});

t.test('a config file corrupted on disk: the box boots from defaults, the error LED blinks, status says why', async (t) => {
  const dir = join(root, 'corrupt');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, CONFIG_FILE), '{"schemaVersion": 1, "accounts": [ this is not json');
  const lines: string[] = [];
  const bad = await boot(dir, (l) => lines.push(l));
  t.teardown(() => bad.stop());
  t.equal(bad.store.health.ok, false);
  t.match(bad.status().configHealth, { ok: false, problem: /config\.json/ }, 'the live status (web page, pbx status) carries it');
  t.match(bad.board.leds.snapshot().error, { mode: 'blink', color: 'red' });
  t.ok(lines.some((l) => l.startsWith('CONFIG PROBLEM')), 'the console says so');
  const s = await callControl(controlSocketPath(dir), { command: 'status', args: {} }) as { running: boolean; configHealth: { ok: boolean; problem?: string } };
  t.equal(s.running, true);
  t.equal(s.configHealth.ok, false);
  t.match(s.configHealth.problem, /config\.json/);
  const u = await ua('udp', '300', 'secret-300', bad);
  t.equal((await u.request('OPTIONS')).status, 200, 'SIP still serves');

  // The admin can still add accounts; the registration LED follows the only phone in and out.
  await callControl(controlSocketPath(dir), { command: 'account.add', args: { extension: '300', password: 'secret-300' } });
  t.equal(bad.board.leds.snapshot().registration.mode, 'blink');
  t.equal((await u.register()).status, 200);
  t.equal((await ledSettles(bad, { mode: 'on', color: 'green' })).mode, 'on');
  t.equal((await u.register({ contacts: ['*'], expires: 0 })).status, 200);
  t.equal((await ledSettles(bad, { mode: 'blink', periodMs: 2000, color: 'amber' })).mode, 'blink', 'back to blinking once nobody is registered');
});
