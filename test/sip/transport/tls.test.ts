import crypto from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import type { SipResponse } from '../../../firmware/sip/message/index.js';
import { FakeClock, cryptoRandom, silentLogger } from '../../../firmware/core/index.js';
import { FileTicketKeys, SipTransports, TICKET_KEY_LIFETIME_MS } from '../../../firmware/sip/transport/index.js';
import { Inbox, Reader, closed, okResponse, header, request, selfSigned, type Teardown, type TestCert } from './helpers.js';

const certA = selfSigned('pbx-a.test', '01');
const certB = selfSigned('pbx-b.test', '02');

async function setup(t: Teardown, requestClientCert = false): Promise<{ tr: SipTransports; inbox: Inbox; port: number }> {
  const tr = new SipTransports();
  const inbox = new Inbox(tr);
  const ports = await tr.start({ bind: '127.0.0.1', tlsPort: 0, tls: { key: certA.key, cert: certA.cert }, requestClientCert });
  t.teardown(() => tr.stop());
  return { tr, inbox, port: ports.tls ?? 0 };
}

/** A phone-like TLS client; it trusts exactly the certificates given. */
function connectTls(t: Teardown, port: number, opts: { trust?: TestCert[]; session?: Buffer } = {}): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host: '127.0.0.1',
      port,
      ca: (opts.trust ?? [certA, certB]).map((c) => c.cert),
      // The test certificates name pbx-*.test, not 127.0.0.1.
      checkServerIdentity: () => undefined,
      ...(opts.session ? { session: opts.session } : {}),
    }, () => resolve(s));
    s.once('error', reject);
    t.teardown(() => s.destroy());
  });
}

/** Connects (resuming `session` if given), waits for a ticket on a full handshake, hangs up. */
async function handshake(t: Teardown, port: number, session?: Buffer): Promise<{ session?: Buffer; reused: boolean }> {
  let ticket: Buffer | undefined;
  let onTicket: (() => void) | undefined;
  const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const c = tls.connect({
      host: '127.0.0.1', port, ca: [certA.cert, certB.cert], checkServerIdentity: () => undefined,
      ...(session ? { session } : {}),
    }, () => resolve(c));
    c.once('error', reject);
    c.once('session', (b: Buffer) => { ticket = b; onTicket?.(); });
    t.teardown(() => c.destroy());
  });
  const reused = s.isSessionReused();
  // TLS 1.3 sends tickets after a full handshake; a resumed one may send none.
  if (!reused && ticket === undefined) await new Promise<void>((resolve) => { onTicket = resolve; });
  s.end();
  await closed(s);
  return { reused, ...(ticket ? { session: ticket } : {}) };
}

const ok = (callId: string): SipResponse => okResponse(callId, 'SIP/2.0/TLS 127.0.0.1;branch=z9hG4bK-t');

const peerCn = (s: tls.TLSSocket): unknown => s.getPeerCertificate().subject?.CN;

t.test('RFC 3261 18.2.2 / RFC 5626: a request over TLS is answered on the same flow via its flowId', async (t) => {
  const { tr, inbox, port } = await setup(t);
  const c = await connectTls(t, port);
  const reader = new Reader(c);
  c.write(request({ via: 'SIP/2.0/TLS phone.invalid;rport;branch=z9hG4bK-tls1', callId: 'tls-1' }));
  const [msg, source] = await inbox.next();
  t.equal(source.transport, 'tls');
  t.match(source.flowId, /^tls:\d+$/);
  t.equal(source.local.port, port);
  t.equal(header(msg, 'via'), `SIP/2.0/TLS phone.invalid;rport=${c.localPort};branch=z9hG4bK-tls1;received=127.0.0.1`);
  // Address and port deliberately wrong: the flow alone must carry the response.
  t.ok(tr.send(ok('tls-1'), { transport: 'tls', address: '192.0.2.1', port: 5061, flowId: source.flowId }));
  await reader.until('Call-ID: tls-1');
  t.match(reader.text, /^SIP\/2\.0 200 OK\r\n/);
});

t.test('setTlsMaterial swaps the certificate: the open connection keeps working, a new one sees the new cert', async (t) => {
  const { tr, inbox, port } = await setup(t);
  const before = await connectTls(t, port);
  t.equal(peerCn(before), 'pbx-a.test');
  tr.setTlsMaterial({ key: certB.key, cert: certB.cert });
  const after = await connectTls(t, port, { trust: [certB] });
  t.equal(peerCn(after), 'pbx-b.test');
  const reader = new Reader(before);
  before.write(request({ via: 'SIP/2.0/TLS 127.0.0.1;branch=z9hG4bK-old', callId: 'old-conn' }));
  const [, source] = await inbox.next();
  t.ok(tr.send(ok('old-conn'), { transport: 'tls', address: '127.0.0.1', port: source.port, flowId: source.flowId }));
  await reader.until('Call-ID: old-conn');
  t.pass('old connection still carries traffic after the swap');
  t.throws(() => tr.setTlsMaterial({ key: 'not a key', cert: certB.cert }), { code: 'config' }, 'bad material refused, old kept');
  const again = await connectTls(t, port, { trust: [certB] });
  t.equal(peerCn(again), 'pbx-b.test');
});

t.test('TLS session resumption works, and survives a certificate swap (stable ticket keys)', async (t) => {
  const { tr, port } = await setup(t);
  const first = await handshake(t, port);
  t.notOk(first.reused, 'first connection is a full handshake');
  t.ok(first.session, 'a session ticket was issued');
  const second = await handshake(t, port, first.session);
  t.ok(second.reused, 'resumed with the first session');
  tr.setTlsMaterial({ key: certB.key, cert: certB.cert });
  const third = await handshake(t, port, first.session);
  t.ok(third.reused, 'resumed after setTlsMaterial');
});

t.test('dead-office recovery: with the ticket keys in the data folder, a session resumes on the restarted listener', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tickets-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const clock = new FakeClock(Date.now());
  const start = async (): Promise<{ tr: SipTransports; port: number }> => {
    const tr = new SipTransports({ clock, ticketKeys: new FileTicketKeys(dir, clock, cryptoRandom, silentLogger) });
    const ports = await tr.start({ bind: '127.0.0.1', tlsPort: 0, tls: { key: certA.key, cert: certA.cert } });
    return { tr, port: ports.tls ?? 0 };
  };
  const before = await start();
  const first = await handshake(t, before.port);
  t.ok(first.session, 'a ticket from the first process');
  await before.tr.stop();
  const after = await start();
  t.teardown(() => after.tr.stop());
  t.ok((await handshake(t, after.port, first.session)).reused, 'the restarted listener opens the old ticket');
  // A day later the keys are new: the next connection swaps them in, and the old ticket is refused (full handshake).
  clock.advance(TICKET_KEY_LIFETIME_MS);
  const late = await handshake(t, after.port, first.session);
  t.notOk(late.reused, 'a ticket sealed under expired keys gives a full handshake');
  t.ok((await handshake(t, after.port, late.session)).reused, 'tickets under the new keys resume');
  // Without a ticket source each process makes its own keys (what tests and tools get).
  const plain = new SipTransports();
  const p1 = (await plain.start({ bind: '127.0.0.1', tlsPort: 0, tls: { key: certA.key, cert: certA.cert } })).tls ?? 0;
  const own = await handshake(t, p1);
  await plain.stop();
  const plain2 = new SipTransports();
  t.teardown(() => plain2.stop());
  const p2 = (await plain2.start({ bind: '127.0.0.1', tlsPort: 0, tls: { key: certA.key, cert: certA.cert } })).tls ?? 0;
  t.notOk((await handshake(t, p2, own.session)).reused, 'keys made per process do not resume across a restart');
});

t.test('a requested client certificate is optional and reported in the source', async (t) => {
  const { inbox, port } = await setup(t, true);
  const c = await connectTls(t, port);
  c.write(request({ via: 'SIP/2.0/TLS 127.0.0.1;branch=z9hG4bK-cc' }));
  const [, source] = await inbox.next();
  t.same(source.tls, { authorized: false });
});

t.test('asking for a client certificate is switched for new connections only', async (t) => {
  const { tr, inbox, port } = await setup(t);
  // A phone that holds a certificate presents it only when asked.
  const phone = (): Promise<tls.TLSSocket> => new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: [certA.cert], checkServerIdentity: () => undefined, key: certB.key, cert: certB.cert }, () => resolve(s));
    s.once('error', reject);
    t.teardown(() => s.destroy());
  });
  const seen = async (c: tls.TLSSocket, branch: string): Promise<unknown> => {
    c.write(request({ via: `SIP/2.0/TLS 127.0.0.1;branch=z9hG4bK-${branch}` }));
    return (await inbox.next())[1].tls;
  };
  const before = await phone();
  t.same(await seen(before, 'rc1'), { authorized: false }, 'not asked: no certificate reported');
  tr.setRequestClientCert(true);
  const asked = await phone();
  const withCert = await seen(asked, 'rc2') as { authorized: boolean; peerFingerprint256?: string };
  t.equal(withCert.authorized, false, 'self-signed by nobody we trust');
  t.equal(withCert.peerFingerprint256, new crypto.X509Certificate(certB.cert).fingerprint256, 'asked: the phone\'s certificate is reported');
  t.same(await seen(before, 'rc3'), { authorized: false }, 'a connection made before the switch keeps what it had');
  tr.setRequestClientCert(false);
  t.same(await seen(await phone(), 'rc4'), { authorized: false }, 'switched off again');
});

t.test('outgoing TLS: with no flow to the phone the box opens one, then reuses it', async (t) => {
  const { tr } = await setup(t);
  const accepted: tls.TLSSocket[] = [];
  const phone = tls.createServer({ key: certB.key, cert: certB.cert }, (s) => accepted.push(s));
  await new Promise<void>((resolve) => phone.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of accepted) s.destroy();
    phone.close();
  });
  const phonePort = (phone.address() as { port: number }).port;
  t.ok(tr.send(ok('out-a'), { transport: 'tls', address: '127.0.0.1', port: phonePort }));
  t.ok(tr.send(ok('out-b'), { transport: 'tls', address: '127.0.0.1', port: phonePort }));
  while (accepted.length === 0) await new Promise((r) => phone.once('secureConnection', r));
  const sock = accepted[0];
  if (!sock) throw new Error('no connection');
  const reader = new Reader(sock);
  await reader.until('Call-ID: out-b');
  t.equal(accepted.length, 1);
  t.match(reader.text, /Call-ID: out-a[\s\S]*Call-ID: out-b/);
});
