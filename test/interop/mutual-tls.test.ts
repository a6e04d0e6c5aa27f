import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, waitFor } from './harness.js';
import { pbxOk, registrations, startBox } from './box.js';
import { startLinphonec } from './clients.js';
import { SClientUa } from './sclient-ua.js';

/*
 * Issue 12, mutual TLS with real TLS clients: the box as `npm start` runs it
 * in a private network namespace, account 1001 in mutual mode, device
 * certificates issued with `pbx cert issue-device` (a PKCS#12 each, turned
 * into PEM with openssl as a phone's installer would).
 *  - openssl s_client with 1001's certificate registers as 1001; the right
 *    password with 1002's certificate or with none gets 403.
 *  - linphonec, given 1001's certificate and key in its rc
 *    ([auth_info_0] client_cert_chain / client_cert_key), registers as 1001.
 *  - `pbx cert revoke-device` closes the live connection: the s_client
 *    process sees the box hang up, and its binding is gone.
 */

if (!reexecInNetns()) {
  const missing = ['openssl', 'linphonec'].filter((c) => !have(c));
  if (missing.length) t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  else await main();
}

function openssl(...args: string[]): string {
  const r = spawnSync('openssl', args, { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'pbx-mtls-interop-'));
  const data = join(work, 'data');
  const cli = pbxOk(data);
  cli('account', 'add', '1001', '--password', 'alice-secret');
  cli('account', 'add', '1002', '--password', 'bob-secret');
  const { proc: box, info } = await startBox(data, 240);
  t.teardown(() => box.stop());
  t.comment(`box TLS ${info.ports.sipTls}; work dir ${work}`);

  t.match(cli('account', 'set', '1001', '--tls-mode', 'mutual'), /tls-mode=mutual/);
  const certs: Record<string, { cert: string; key: string; serial: string }> = {};
  for (const ext of ['1001', '1002']) {
    const p12 = join(work, `${ext}.p12`);
    const out = cli('cert', 'issue-device', ext, '--out', p12, '--passphrase', `pass-${ext}`);
    const serial = /serial (\S+),/.exec(out)?.[1];
    if (!serial) throw new Error(`no serial in ${out}`);
    const cert = join(work, `${ext}.crt.pem`);
    const key = join(work, `${ext}.key.pem`);
    openssl('pkcs12', '-in', p12, '-passin', `pass:pass-${ext}`, '-clcerts', '-nokeys', '-out', cert);
    openssl('pkcs12', '-in', p12, '-passin', `pass:pass-${ext}`, '-nocerts', '-nodes', '-out', key);
    certs[ext] = { cert, key, serial };
  }
  t.match(openssl('x509', '-in', certs['1001']!.cert, '-noout', '-issuer'), /./, 'the PKCS#12 opens with openssl');
  t.equal(openssl('verify', '-CAfile', info.caPath, certs['1001']!.cert).trim().endsWith('OK'), true, 'the device certificate chains to the box CA');

  const open: SClientUa[] = [];
  t.teardown(async () => { for (const u of open) await u.close(); });
  let n = 0;
  const sclient = async (ext?: string): Promise<SClientUa> => {
    const c = ext === undefined ? undefined : certs[ext]!;
    const u = await SClientUa.open({
      port: info.ports.sipTls, caFile: info.caPath, log: join(work, `s_client-${++n}.log`), timeoutSec: 120,
      ...(c ? { certFile: c.cert, keyFile: c.key } : {}),
    });
    open.push(u);
    return u;
  };
  const bound1001 = (): boolean => registrations(data).some((r) => r.extension === '1001' && /openssl/.test(r.userAgent ?? ''));

  t.test('openssl s_client: only the certificate bound to 1001 registers as 1001', async (t) => {
    const none = await (await sclient()).register('1001', 'alice-secret');
    t.equal(none.status, 403, `right password, no certificate: ${none.status} ${none.reason}`);
    const other = await (await sclient('1002')).register('1001', 'alice-secret');
    t.equal(other.status, 403, `right password, 1002's certificate: ${other.status} ${other.reason}`);
    t.notOk(bound1001(), 'no binding for 1001 from those');
    const own = await (await sclient('1001')).register('1001', 'alice-secret');
    t.equal(own.status, 200, `1001's certificate and password: ${own.status} ${own.reason}`);
    t.ok(bound1001(), 'the box lists 1001 registered from s_client');
    // 1002 is in encrypt mode: any certificate, or none, is fine there.
    t.equal((await (await sclient('1001')).register('1002', 'bob-secret')).status, 200, 'an encrypt-mode account registers with whatever certificate');
  });

  t.test('linphonec with 1001\'s certificate and key in its rc registers as 1001', async (t) => {
    const dir = join(work, 'linphonec');
    const lp = startLinphonec(dir, {
      tlsPort: 39040, boxTlsPort: info.ports.sipTls, user: '1001', password: 'alice-secret', realm: 'pbx.local', rootCa: info.caPath, timeoutSec: 60,
      sipExtra: [`client_cert_chain=${certs['1001']!.cert}`, `client_cert_key=${certs['1001']!.key}`],
      authExtra: [`client_cert_chain=${certs['1001']!.cert}`, `client_cert_key=${certs['1001']!.key}`],
    });
    try {
      const reg = await waitFor('linphonec to register as 1001', () =>
        registrations(data).find((r) => r.extension === '1001' && /linphone/i.test(r.userAgent ?? '')), 25_000);
      t.match(reg.contact, /transport=tls/i, 'over TLS');
    } finally {
      lp.child.stdin?.end('quit\n');
      await lp.stop();
      const debug = join(dir, 'debug.log');
      if (existsSync(debug)) t.comment((readFileSync(debug, 'utf8').match(/.*(certificate|403).*/gi) ?? []).slice(0, 8).join('\n'));
    }
  });

  t.test('revoking the certificate closes the live connection that carries it', async (t) => {
    const ua = await sclient('1001');
    t.equal((await ua.register('1001', 'alice-secret')).status, 200, 'registered on a fresh connection');
    t.notOk(ua.exited, 'connection up');
    const started = Date.now();
    t.match(cli('cert', 'revoke-device', certs['1001']!.serial), /revoked/);
    const answered = Date.now();
    await waitFor('the box to close the s_client connection', () => ua.exited, 5_000, 20);
    t.comment(`closed ${Date.now() - answered} ms after \`pbx cert revoke-device\` returned (${Date.now() - started} ms after it was started)`);
    t.pass('s_client saw the connection closed');
    await waitFor('1001\'s s_client bindings to go', () => !bound1001(), 5_000, 100);
    t.notOk(bound1001(), 'no binding left for the revoked certificate');
    const again = await (await sclient('1001')).register('1001', 'alice-secret');
    t.equal(again.status, 403, 'the revoked certificate registers nothing');
  });
}
