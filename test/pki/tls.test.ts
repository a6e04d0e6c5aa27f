import t from 'tap';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { FakeClock } from '../../firmware/core/index.js';
import { CertRenewer, loadOrCreatePki } from '../../firmware/pki/index.js';
import { ID, tempDir } from './fixtures.js';

// Real time here: OpenSSL checks validity against the system clock.
const clock = new FakeClock(Date.now());
const pki = await loadOrCreatePki(tempDir(t), { clock, identity: () => ID });
const renewer = new CertRenewer({ pki, clock });

const server = tls.createServer({ key: pki.tlsMaterial().key, cert: pki.tlsMaterial().cert }, (s) => s.pipe(s));
renewer.onRenew((m) => server.setSecureContext({ key: m.key, cert: m.cert }));
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const port = (server.address() as AddressInfo).port;
const sockets: tls.TLSSocket[] = [];
t.teardown(() => {
  for (const s of sockets) s.destroy();
  server.close();
});

/** Connect as a phone that trusts only the box's CA, dialling 127.0.0.1. */
async function connect(): Promise<tls.TLSSocket> {
  const s = tls.connect({ host: '127.0.0.1', port, ca: pki.caCertPem });
  sockets.push(s);
  await once(s, 'secureConnect');
  return s;
}

async function echo(s: tls.TLSSocket, text: string): Promise<string> {
  const got = once(s, 'data');
  s.write(text);
  const [chunk] = (await got) as [Buffer];
  return chunk.toString();
}

const norm = (serial: string): string => serial.toUpperCase();

t.test('setSecureContext after renewal: open connections carry on, new ones get the new certificate', async (t) => {
  const oldSerial = pki.serverInfo.serial;
  const first = await connect();
  t.equal(first.authorized, true, 'chain verifies against the CA');
  const peer = first.getPeerCertificate();
  t.equal(norm(peer.serialNumber), oldSerial);
  t.equal(tls.checkServerIdentity('127.0.0.1', peer), undefined, 'RFC 6125 6.2.1: 127.0.0.1 matches the iPAddress SAN');
  t.equal(await echo(first, 'before'), 'before');

  const out = await renewer.renewNow();
  t.equal(out.renewed, true);
  const newSerial = pki.serverInfo.serial;
  t.not(newSerial, oldSerial);

  t.equal(await echo(first, 'after'), 'after', 'the established connection still works');
  t.equal(norm(first.getPeerCertificate().serialNumber), oldSerial, 'and still uses the old certificate');

  const second = await connect();
  t.equal(second.authorized, true);
  t.equal(norm(second.getPeerCertificate().serialNumber), newSerial, 'a new connection sees the new serial');
  t.equal(await echo(second, 'new'), 'new');
  t.equal(await echo(first, 'still'), 'still');
});
