import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have, reexecInNetns, startCapture, tsharkFields, waitFor } from './harness.js';
import { pbx, registrations, startBox } from './box.js';
import { startBaresip, startLinphonec } from './clients.js';

/*
 * The foundation's "must show": the appliance as `npm start` runs it, an
 * account added with the CLI while it runs, and real clients registering over
 * UDP, TCP and TLS (baresip) and TLS with certificate verification on
 * (linphonec), inside a private network namespace. tshark proves the TLS port
 * carries no cleartext SIP.
 */

if (!reexecInNetns()) {
  const missing = ['baresip', 'linphonec', 'tshark'].filter((c) => !have(c));
  if (missing.length) {
    t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  } else {
    await main();
  }
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'pbx-interop-'));
  const data = join(work, 'data');
  const { proc: box, info } = await startBox(data);
  t.teardown(() => box.stop());
  t.comment(`box ports ${JSON.stringify(info.ports)}; work dir ${work}`);

  t.test('an account added with the CLI while the box runs', async (t) => {
    const r = pbx(data, 'account', 'add', '1001', '--password', 'secret');
    t.equal(r.status, 0, r.stderr);
    t.match(r.stdout, /added account 1001/);
    const bad = pbx(data, 'account', 'add', '1001', '--password', 'secret');
    t.equal(bad.status, 1, 'a duplicate is refused');
    t.match(bad.stderr, /1001/);
    t.equal(pbx(data, 'cert', 'ca').stdout.trim(), info.caPath);
  });

  const cases = [
    { transport: 'udp', uri: `<sip:1001@127.0.0.1:${info.ports.sipUdp}>`, port: 31000 },
    { transport: 'tcp', uri: `<sip:1001@127.0.0.1:${info.ports.sipTcp};transport=tcp>`, port: 31010 },
    { transport: 'tls', uri: `<sip:1001@127.0.0.1:${info.ports.sipTls};transport=tls>`, port: 31020 },
  ] as const;

  for (const c of cases) {
    t.test(`baresip registers over ${c.transport.toUpperCase()}`, async (t) => {
      const capture = await startCapture(join(work, `${c.transport}.pcap`),
        `port ${c.transport === 'tls' ? info.ports.sipTls : info.ports.sipUdp}`, join(work, `tshark-${c.transport}.log`));
      const ua = startBaresip(join(work, `baresip-${c.transport}`), {
        sipPort: c.port, timeoutSec: 60, account: `${c.uri};regint=600;auth_pass=secret;audio_codecs=pcmu`,
      });
      try {
        const reg = await waitFor(`a ${c.transport} registration`, () =>
          registrations(data).find((r) => r.extension === '1001' && r.transport === c.transport && r.source.port !== 0), 20_000);
        t.equal(reg.source.address, '127.0.0.1');
        t.match(ua.output(), /200 OK/, 'baresip saw 200 OK');
      } finally {
        await ua.stop();
      }
      const pcap = await capture.stop();
      const cleartext = pcap.includes(Buffer.from('REGISTER sip:'));
      if (c.transport === 'tls') {
        t.notOk(cleartext, 'no "REGISTER sip:" anywhere in the TLS capture');
        t.notOk(pcap.includes(Buffer.from('SIP/2.0 ')), 'no SIP status line either');
        const records = tsharkFields(join(work, 'tls.pcap'), 'tls.app_data', ['frame.number'], ['-d', `tcp.port==${info.ports.sipTls},tls`]);
        t.ok(records.length >= 2, `tshark decodes TLS application data records (${records.length})`);
      } else {
        // The control: the same check finds cleartext SIP on the plain transports.
        t.ok(cleartext, `the ${c.transport} capture shows REGISTER in clear, so the check can see it`);
      }
    });
  }

  t.test('linphonec registers over TLS, verifying the certificate against the box CA', async (t) => {
    const lp = startLinphonec(join(work, 'linphonec'), {
      tlsPort: 31040, boxTlsPort: info.ports.sipTls, user: '1001', password: 'secret', realm: 'pbx.local', rootCa: info.caPath, timeoutSec: 60,
    });
    try {
      const reg = await waitFor('linphonec TLS registration', () =>
        registrations(data).find((r) => r.transport === 'tls' && /linphone/i.test(r.userAgent ?? '')), 25_000);
      t.match(reg.contact, /transport=tls/i);
      t.match(readFileSync(join(work, 'linphonec', 'debug.log'), 'utf8'), /SSL handshake finished/, 'linphonec completed a verified handshake');
    } finally {
      lp.child.stdin?.end('quit\n');
      await lp.stop();
    }
  });

  t.test('linphonec refuses the box when it trusts other CAs only', async (t) => {
    // Debian's public CA bundle did not sign the box's certificate.
    const isLinphone = (r: { userAgent?: string }): boolean => /linphone/i.test(r.userAgent ?? '');
    const before = new Set(registrations(data).filter(isLinphone).map((r) => r.source.port));
    const lp = startLinphonec(join(work, 'linphonec-wrong-ca'), {
      tlsPort: 31050, boxTlsPort: info.ports.sipTls, user: '1001', password: 'secret', realm: 'pbx.local',
      rootCa: '/etc/ssl/certs/ca-certificates.crt', timeoutSec: 40,
    });
    const debug = join(work, 'linphonec-wrong-ca', 'debug.log');
    try {
      await waitFor('linphonec to reject the certificate', () => {
        try { return /Certificate verification failed/.test(readFileSync(debug, 'utf8')); } catch { return false; }
      }, 20_000);
      t.same(registrations(data).filter((r) => isLinphone(r) && !before.has(r.source.port)), [], 'no binding from the client that distrusts the box');
    } finally {
      lp.child.stdin?.end('quit\n');
      await lp.stop();
    }
  });

  t.test('linphonec registers with SHA-256 digest when the box offers only SHA-256 (RFC 8760)', async (t) => {
    const data2 = join(work, 'data-sha256');
    mkdirSync(data2, { recursive: true });
    writeFileSync(join(data2, 'config.json'), JSON.stringify({ schemaVersion: 1, sip: { digestAlgorithms: ['SHA-256'] } }));
    t.equal(pbx(data2, 'account', 'add', '1002', '--password', 'secret2').status, 0);
    const { proc: box2, info: info2 } = await startBox(data2);
    const lp = startLinphonec(join(work, 'linphonec-sha256'), {
      tlsPort: 31060, boxTlsPort: info2.ports.sipTls, user: '1002', password: 'secret2', realm: 'pbx.local', rootCa: info2.caPath, timeoutSec: 60,
    });
    try {
      await waitFor('linphonec SHA-256 registration', () =>
        registrations(data2).find((r) => r.extension === '1002' && r.transport === 'tls'), 25_000);
      const debug = readFileSync(join(work, 'linphonec-sha256', 'debug.log'), 'utf8');
      t.match(debug, /Authorization:[^\n]*algorithm=SHA-256/, 'the client answered the SHA-256 challenge');
      t.notMatch(debug, /Authorization:[^\n]*algorithm=MD5/, 'and never MD5');
    } finally {
      lp.child.stdin?.end('quit\n');
      await lp.stop();
      await box2.stop();
    }
  });
}
