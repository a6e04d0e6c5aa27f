import { generateKeyPairSync } from 'node:crypto';
import t from 'tap';
import {
  ExtensionType, HandshakeType, parseCertificateVerify, parseClientHello, parseHandshakeFragments, parseRecords, parseServerHello,
  serializeCertificateVerify, serializeClientHello, serializeFragment, serializeRecord, serializeServerHello,
  type DtlsCertificate, type HandshakeFragment,
} from '../../../firmware/keying/index.js';
import { CLIENT_ADDR, Pair, cert, type Wire } from './pair.js';

/** Rewrites the plaintext handshake messages of a datagram (epoch 0) through `edit`, keeping record numbers. */
function rewrite(d: Buffer, edit: (f: HandshakeFragment) => Buffer | undefined): Buffer {
  const r = parseRecords(d);
  if (!r.ok) return d;
  return Buffer.concat(r.value.map((rec) => {
    if (rec.type !== 22 || rec.epoch !== 0) return serializeRecord(rec);
    const fs = parseHandshakeFragments(rec.fragment);
    if (!fs.ok) return serializeRecord(rec);
    const body = fs.value.map((f) => {
      const nb = edit(f);
      return serializeFragment(nb ? { ...f, length: nb.length, fragmentOffset: 0, body: nb } : f);
    });
    return serializeRecord({ ...rec, fragment: Buffer.concat(body) });
  }));
}

const withoutClientExtension = (type: number) => (w: Wire): Buffer[] => [w.from !== 'client' ? w.datagram : rewrite(w.datagram, (f) => {
  if (f.msgType !== HandshakeType.clientHello) return undefined;
  const ch = parseClientHello(f.body);
  return ch.ok ? serializeClientHello({ ...ch.value, extensions: ch.value.extensions.filter((x) => x.type !== type) }) : undefined;
})];
const withoutServerExtension = (type: number) => (w: Wire): Buffer[] => [w.from !== 'server' ? w.datagram : rewrite(w.datagram, (f) => {
  if (f.msgType !== HandshakeType.serverHello) return undefined;
  const sh = parseServerHello(f.body);
  return sh.ok ? serializeServerHello({ ...sh.value, extensions: sh.value.extensions.filter((x) => x.type !== type) }) : undefined;
})];

/** Same certificate, another private key: what an attacker who copied the certificate (and so its fingerprint) holds. */
function stolen(c: DtlsCertificate): DtlsCertificate {
  return { ...c, privateKey: c.keyType === 'ecdsa' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey : generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey };
}

function alertsSent(p: Pair, from: 'client' | 'server'): number[] {
  const out: number[] = [];
  for (const w of p.log) {
    if (w.from !== from) continue;
    const r = parseRecords(w.datagram);
    if (r.ok) for (const rec of r.value) if (rec.type === 21 && rec.epoch === 0) out.push(rec.fragment[1]!);
  }
  return out;
}

t.test('a server with the right certificate but another key: its ServerKeyExchange signature fails (ECDSA and RSA)', async (t) => {
  for (const kind of ['ecdsa', 'rsa'] as const) {
    const p = new Pair({ serverCert: stolen(cert('server', kind)), serverExpects: cert('client').fingerprint, clientExpects: cert('server', kind).fingerprint });
    p.handshake();
    t.equal(p.failed.client?.code, 'bad-signature', kind);
    t.equal(p.client.state, 'failed');
    t.same(alertsSent(p, 'client'), [51], 'decrypt_error alert');
    t.equal(p.failed.server?.code, 'peer-alert', 'the server learns of it by the alert');
    t.notOk(p.connected.client || p.connected.server);
  }
});

t.test('a client with the right certificate but another key: its CertificateVerify fails', async (t) => {
  for (const kind of ['ecdsa', 'rsa'] as const) {
    const p = new Pair({ clientCert: stolen(cert('client', kind)), serverExpects: cert('client', kind).fingerprint });
    p.handshake();
    t.equal(p.failed.server?.code, 'bad-signature', kind);
    t.same(alertsSent(p, 'server'), [51]);
    t.notOk(p.connected.server);
  }
});

t.test('a certificate whose fingerprint is not the one in the SDP is refused, in both roles', async (t) => {
  const a = new Pair({ clientExpects: cert('someone-else').fingerprint });
  a.handshake();
  t.equal(a.failed.client?.code, 'bad-certificate');
  t.same(alertsSent(a, 'client'), [42], 'bad_certificate alert');
  const b = new Pair({ serverExpects: cert('someone-else').fingerprint });
  b.handshake();
  t.equal(b.failed.server?.code, 'bad-certificate');
  t.notOk(b.connected.server);
  // sha-384 fingerprint of the right certificate is accepted too (only the algorithm differs).
  const { fingerprint } = await import('../../../firmware/keying/index.js');
  const c = new Pair({ clientExpects: fingerprint(cert('server').der, 'sha-384') });
  c.handshake();
  t.equal(c.client.state, 'established');
});

t.test('a tampered transcript makes the Finished fail: the client CertificateVerify re-signed as (r, n-s) still verifies, the Finished does not', async (t) => {
  // ECDSA signatures are malleable: (r, n - s) verifies as well. A man in the middle can swap it without the key,
  // which changes the transcript after the key exchange; only the Finished check catches that.
  const N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
  const derInt = (v: bigint): Buffer => {
    let h = v.toString(16);
    if (h.length % 2) h = `0${h}`;
    let b = Buffer.from(h, 'hex');
    if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
    return Buffer.concat([Buffer.from([2, b.length]), b]);
  };
  let swapped = 0;
  const p = new Pair({
    filter: (w) => [w.from !== 'client' ? w.datagram : rewrite(w.datagram, (f) => {
      if (f.msgType !== HandshakeType.certificateVerify) return undefined;
      const cv = parseCertificateVerify(f.body);
      if (!cv.ok) return undefined;
      const s = cv.value.signature;
      const rLen = s[3]!;
      const r = BigInt(`0x${s.subarray(4, 4 + rLen).toString('hex')}`);
      const sv = BigInt(`0x${s.subarray(6 + rLen).toString('hex')}`);
      const seq = Buffer.concat([derInt(r), derInt(N - sv)]);
      swapped++;
      return serializeCertificateVerify({ scheme: cv.value.scheme, signature: Buffer.concat([Buffer.from([0x30, seq.length]), seq]) });
    })],
  });
  p.handshake();
  t.ok(swapped >= 1);
  t.equal(p.failed.server?.code, 'bad-finished');
  t.notOk(p.connected.server);
});

t.test('a Finished record with a flipped bit is dropped as a bad record MAC; the genuine retransmission completes', async (t) => {
  let flipped = false;
  const p = new Pair({
    filter: (w) => {
      if (w.from === 'client' && w.index === 4 && !flipped) {
        flipped = true;
        const b = Buffer.from(w.datagram);
        b[b.length - 3]! ^= 0x10;
        return [b];
      }
      return [w.datagram];
    },
  });
  p.handshake();
  t.ok(flipped);
  t.equal(p.counters.server.get('dtls-drop-bad-mac'), 1);
  t.equal(p.server.state, 'established');
});

t.test('downgrades are refused: no use_srtp, no extended master secret (RFC 7627), either way', async (t) => {
  const cases = [
    [withoutClientExtension(ExtensionType.useSrtp), 'server', 'no-srtp'],
    [withoutClientExtension(ExtensionType.extendedMasterSecret), 'server', 'no-extended-master-secret'],
    [withoutServerExtension(ExtensionType.useSrtp), 'client', 'no-srtp'],
    [withoutServerExtension(ExtensionType.extendedMasterSecret), 'client', 'no-extended-master-secret'],
  ] as const;
  for (const [filter, who, code] of cases) {
    const p = new Pair({ filter });
    p.handshake();
    t.equal(p.failed[who]?.code, code, `${who} refuses: ${code}`);
    t.same(alertsSent(p, who), [40], 'handshake_failure');
    t.notOk(p.connected.client || p.connected.server);
  }
  const noCommon = new Pair({ clientProfiles: ['SRTP_AES128_CM_SHA1_32'], serverProfiles: ['SRTP_AEAD_AES_256_GCM'] });
  noCommon.handshake();
  t.equal(noCommon.failed.server?.code, 'no-srtp');
});

t.test('after establishment a ClientHello from another address is a counted drop, and from the peer a refused one; the session stays', async (t) => {
  const p = new Pair();
  p.handshake();
  const keys = p.connected.server!.srtp;
  const hello = p.log[0]!.datagram;
  p.server.receive(hello, { address: '198.51.100.7', port: 4444 });
  p.server.receive(p.log[2]!.datagram, { address: '198.51.100.7', port: 4444 });
  t.equal(p.counters.server.get('dtls-drop-foreign-source'), 2);
  // The real peer's hello again (a restart it was not told about) is refused; no renegotiation (RFC 5746 not needed).
  const fresh = new Pair({ seed: 9 });
  fresh.client.start();
  p.server.receive(fresh.log[0]!.datagram, CLIENT_ADDR);
  t.equal(p.counters.server.get('dtls-drop-client-hello-refused'), 1);
  t.equal(p.server.state, 'established');
  t.same(p.server.connected?.srtp, keys);
  t.equal(p.log.length, 6, 'nothing was sent in answer');
});

t.test('the stateless cookie (RFC 6347 4.2.1): a forged cookie or a cookie from another address gets a new HelloVerifyRequest, no state', async (t) => {
  const p = new Pair({ filter: () => [] });
  p.server.start();
  p.client.start();
  const ch1 = p.log[0]!.datagram;
  p.server.receive(ch1, CLIENT_ADDR);
  const hvr = p.log[1]!;
  t.equal(hvr.from, 'server');
  p.client.receive(hvr.datagram, { address: '192.0.2.20', port: 50000 });
  const ch2 = p.log[2]!.datagram;
  // The cookie is bound to the client's address and port.
  p.server.receive(ch2, { address: CLIENT_ADDR.address, port: CLIENT_ADDR.port + 1 });
  t.equal(p.counters.server.get('dtls-drop-bad-cookie'), 1);
  t.equal(p.server.state, 'server-wait-hello');
  t.equal(p.server.remote, undefined);
  // A flipped cookie byte.
  const forged = Buffer.from(ch2);
  forged[13 + 12 + 2 + 32 + 1 + 1 + 3]! ^= 1;
  p.server.receive(forged, CLIENT_ADDR);
  t.equal(p.counters.server.get('dtls-drop-bad-cookie'), 2);
  t.equal(p.counters.server.get('dtls-hello-verify-sent'), 3);
  t.equal(p.server.state, 'server-wait-hello');
  p.server.receive(ch2, CLIENT_ADDR);
  t.equal(p.server.state, 'server-wait-client-flight', 'the right cookie from the right address starts the handshake');
  t.same(p.server.remote, CLIENT_ADDR);
});
