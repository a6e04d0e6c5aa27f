import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { silentLogger } from '../firmware/core/index.js';
import { startAppliance } from '../firmware/main.js';
import { frameStream, parseMessage } from '../firmware/sip/message/index.js';

/*
 * Certificate renewal in the running appliance: the new certificate is swapped
 * into the SIP TLS listener and the admin HTTPS server without a restart, and
 * a phone's open TLS connection carries on.
 */

function connect(port: number, ca: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: undefined }, () => resolve(s));
    s.once('error', reject);
  });
}

function options(sock: tls.TLSSocket, n: number): Promise<number> {
  const req = [
    'OPTIONS sip:127.0.0.1 SIP/2.0',
    `Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK-renew-${n}`,
    'From: <sip:probe@127.0.0.1>;tag=p1',
    'To: <sip:127.0.0.1>',
    `Call-ID: renew-${n}@test`,
    `CSeq: ${n} OPTIONS`,
    'Max-Forwards: 70',
    'Content-Length: 0',
    '', '',
  ].join('\r\n');
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const f = frameStream(buf);
      if (f.kind !== 'message') return;
      sock.off('data', onData);
      const r = parseMessage(buf.subarray(0, f.length));
      if (r.ok && r.message.kind === 'response') resolve(r.message.status); else reject(new Error('bad response'));
    };
    sock.on('data', onData);
    sock.write(req);
  });
}

t.test('renewal swaps the certificate into SIP TLS and HTTPS; open connections survive', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-main-'));
  const app = await startAppliance({ dataDir: join(dir, 'data'), bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, print: () => {}, log: silentLogger });
  t.teardown(async () => { await app.stop(); rmSync(dir, { recursive: true, force: true }); });
  const ca = readFileSync(app.info.caPath, 'utf8');

  const before = await connect(app.info.ports.sipTls, ca);
  const oldSerial = before.getPeerX509Certificate()?.serialNumber;
  t.equal(await options(before, 1), 200, 'OPTIONS over TLS before renewal');

  const outcome = await app.renewer.renewNow('manual');
  t.ok(outcome.renewed, 'renewed');

  t.equal(await options(before, 2), 200, 'the connection opened before renewal still works');

  const after = await connect(app.info.ports.sipTls, ca);
  const newSerial = after.getPeerX509Certificate()?.serialNumber;
  t.not(newSerial, oldSerial, 'a new SIP TLS connection sees the new certificate');
  t.equal(newSerial?.toUpperCase(), app.pki.serverInfo.serial.toUpperCase());
  t.equal(await options(after, 3), 200);

  const web = await connect(app.info.ports.web, ca);
  t.equal(web.getPeerX509Certificate()?.serialNumber, newSerial, 'the admin HTTPS server serves the new certificate too');
  for (const s of [before, after, web]) s.destroy();
});
