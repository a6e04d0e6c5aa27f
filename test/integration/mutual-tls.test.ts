import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeviceCertIssued, DeviceCertView } from '../../firmware/api/index.js';
import { addAccount } from '../../firmware/config/index.js';
import { callControl, controlSocketPath } from '../../firmware/control/index.js';
import { silentLogger } from '../../firmware/core/index.js';
import { startAppliance } from '../../firmware/main.js';
import { TestUa } from './ua.js';

/*
 * Issue 12, TLS modes: one TLS port for all three (the listener asks for a
 * client certificate and never requires one). An account in mutual mode
 * registers only over a connection whose certificate the box issued for it:
 * the right password with no certificate, or with another account's, gets
 * 403 (seed 002's toll-fraud point); revoking the certificate closes the
 * connection that carries it at once, and its binding goes with it.
 */

const root = mkdtempSync(join(tmpdir(), 'pbx-mtls-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const dataDir = join(root, 'box');
const app = await startAppliance({ dataDir, bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, print: () => {}, log: silentLogger });
t.teardown(() => app.stop());
await app.store.update((d) => addAccount(d, { extension: '301', password: 'secret-301' }));
await app.store.update((d) => addAccount(d, { extension: '302', password: 'secret-302' }));
const cmd = <T>(command: string, args: Record<string, unknown> = {}): Promise<T> => callControl(controlSocketPath(dataDir), { command, args }) as Promise<T>;
const ca = readFileSync(app.info.caPath);
const uas: TestUa[] = [];
t.teardown(async () => { for (const u of uas) await u.close(); });
async function ua(user: string, password: string, cert?: DeviceCertIssued): Promise<TestUa> {
  const u = await TestUa.open({
    transport: 'tls', port: app.info.ports.sipTls, user, password, ca,
    ...(cert ? { clientCert: { pfx: Buffer.from(cert.p12Base64, 'base64'), passphrase: cert.passphrase } } : {}),
  });
  uas.push(u);
  return u;
}

const cert301 = await cmd<DeviceCertIssued>('cert.issue-device', { extension: '301' });
const cert302 = await cmd<DeviceCertIssued>('cert.issue-device', { extension: '302', passphrase: 'chosen-passphrase' });

t.test('encrypt mode (the default): a certificate is neither needed nor harmful', async (t) => {
  t.equal((await (await ua('301', 'secret-301')).register()).status, 200, 'no certificate');
  t.equal((await (await ua('301', 'secret-301', cert302)).register()).status, 200, 'any certificate');
});

t.test('mutual mode: only the bound certificate registers, even with the right password', async (t) => {
  t.same(await cmd('account.tls-mode', { extension: '301', tlsMode: 'mutual' }), { extension: '301', tlsMode: 'mutual' });
  const none = await (await ua('301', 'secret-301')).register();
  t.equal(none.status, 403, 'right password, no certificate: 403');
  t.match(none.reason, /Certificate/);
  const other = await (await ua('301', 'secret-301', cert302)).register();
  t.equal(other.status, 403, 'right password, another account\'s certificate: 403');
  const wrongPw = await (await ua('301', 'not-the-password', cert301)).register();
  t.equal(wrongPw.status, 403, 'the bound certificate with a wrong password: 403 (the digest still counts)');
  const udp = await TestUa.open({ transport: 'udp', port: app.info.ports.sipUdp, user: '301', password: 'secret-301' });
  uas.push(udp);
  t.equal((await udp.register()).status, 403, 'over UDP no certificate can be bound: 403');
  const good = await ua('301', 'secret-301', cert301);
  t.equal((await good.register({ expires: 600 })).status, 200, 'the bound certificate and the password: 200');
  const port = good.localPort;
  const mine = (): boolean => app.location.bindings('301').some((b) => b.source.port === port);
  t.ok(mine(), 'bound as 301');

  // Revocation: the live connection closes at once and the binding goes.
  const revoked = await cmd<DeviceCertView>('cert.revoke-device', { serial: cert301.serial });
  t.ok(revoked.revokedAt, 'marked revoked');
  t.equal(await good.waitClosed(5000), true, 'the box closed the connection that carried the revoked certificate');
  const end = Date.now() + 3000;
  while (mine() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  t.notOk(mine(), 'its binding is gone');
  const again = await (await ua('301', 'secret-301', cert301)).register();
  t.equal(again.status, 403, 'the revoked certificate cannot register again');
  t.ok(app.counters.snapshot()['register.cert-not-bound']! >= 4, 'refusals counted');
});

t.test('device certificates: list, PKCS#12 contents, revoke unknown', async (t) => {
  const list = await cmd<DeviceCertView[]>('cert.devices');
  t.equal(list.length, 2);
  t.match(list.find((d) => d.serial === cert302.serial), { extension: '302', revokedAt: null });
  t.equal(cert302.passphrase, 'chosen-passphrase', 'a given passphrase is used');
  await t.rejects(cmd('cert.revoke-device', { serial: 'ABCDEF' }), /no device certificate/);
  await t.rejects(cmd('account.tls-mode', { extension: '301', tlsMode: 'bogus' }), /tlsMode must be one of/);
});
