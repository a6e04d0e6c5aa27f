import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Counters, cryptoRandom, systemClock } from '../../../firmware/core/index.js';
import {
  DtlsEndpoint, certificateFrom, fingerprint, generateCertificate, srtpProfileByName,
  type DtlsConnected, type DtlsFailure, type DtlsRole, type Fingerprint, type SrtpProfileName,
} from '../../../firmware/keying/index.js';

/*
 * Cross-check against an independent DTLS stack: OpenSSL 3's s_server and
 * s_client over real loopback UDP. Both sides export the RFC 5764 keying
 * material (label EXTRACTOR-dtls_srtp, RFC 5705 without context); openssl
 * prints its bytes, we rebuild ours from the SRTP keys our endpoint yields
 * (client key | server key | client salt | server salt). Equal bytes mean
 * the handshake, the extended master secret and the exporter agree.
 */
const OPENSSL = '/usr/bin/openssl';
const dir = mkdtempSync(join(tmpdir(), 'dtls-openssl-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const haveOpenssl = spawnSync(OPENSSL, ['version'], { timeout: 5000 }).status === 0;

interface PeerFiles { cert: string; key: string; fingerprint: Fingerprint }
function opensslCert(name: string, kind: 'ecdsa' | 'rsa'): PeerFiles {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const alg = kind === 'ecdsa' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', 'rsa:2048'];
  const r = spawnSync(OPENSSL, ['req', '-x509', ...alg, '-nodes', '-keyout', key, '-out', cert, '-subj', `/CN=${name}`, '-days', '30'], { timeout: 20000 });
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  return { cert, key, fingerprint: fingerprint(new X509Certificate(readFileSync(cert)).raw) };
}

const ours = generateCertificate({ random: cryptoRandom, now: Date.now() });
const oursRsa = generateCertificate({ random: cryptoRandom, now: Date.now(), keyType: 'rsa' });
function writeOurs(name: string, c: typeof ours): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  writeFileSync(cert, new X509Certificate(c.der).toString());
  writeFileSync(key, c.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return { cert, key };
}

/** Ours rebuilt in the exporter's order (RFC 5764 4.2). */
function exported(c: DtlsConnected): string {
  const [cl, sv] = c.role === 'client' ? [c.srtp.localTx, c.srtp.localRx] : [c.srtp.localRx, c.srtp.localTx];
  return Buffer.concat([cl.masterKey, sv.masterKey, cl.masterSalt, sv.masterSalt]).toString('hex').toUpperCase();
}

interface Run {
  readonly ours: DtlsConnected;
  readonly theirs: string;
  readonly output: string;
  /** Largest datagram openssl sent us. */
  readonly largest: number;
}

/** Spawns openssl (bounded, killed by its PID) and runs our endpoint against it over loopback UDP. */
async function run(role: DtlsRole, peer: PeerFiles, profile: SrtpProfileName, extra: string[] = [], mine = ours, mtu?: number): Promise<Run> {
  const len = 2 * (srtpProfileByName(profile).keyLength + srtpProfileByName(profile).saltLength);
  const sock: Socket = createSocket('udp4');
  await new Promise<void>((res) => sock.bind(0, '127.0.0.1', () => res()));
  const common = ['-dtls1_2', '-cert', peer.cert, '-key', peer.key, '-use_srtp', profile, '-keymatexport', 'EXTRACTOR-dtls_srtp', '-keymatexportlen', String(len), ...extra];
  let child: ChildProcess | undefined;
  let output = '';
  let remote: { address: string; port: number } | undefined;
  let largest = 0;
  const killer = setTimeout(() => child?.kill('SIGKILL'), 20000);
  try {
    const result = await new Promise<Run>((resolve, reject) => {
      let connected: DtlsConnected | undefined;
      const check = (): void => {
        const m = /Keying material: ([0-9A-Fa-f]+)/.exec(output);
        if (connected && m) resolve({ ours: connected, theirs: m[1]!.toUpperCase(), output, largest });
      };
      const ep = new DtlsEndpoint({
        role, certificate: mine, expectedFingerprint: peer.fingerprint, srtpProfiles: [profile],
        clock: systemClock, random: cryptoRandom, counters: new Counters(), ...(mtu ? { mtu } : {}),
        send: (d, to) => {
          const dst = to ?? remote;
          if (dst) sock.send(d, dst.port, dst.address);
        },
        onConnected: (c) => { connected = c; check(); },
        onFailed: (f: DtlsFailure) => reject(new Error(`our endpoint failed: ${f.code} ${f.message}\n${output}`)),
      });
      sock.on('message', (msg, rinfo) => { largest = Math.max(largest, msg.length); ep.receive(msg, { address: rinfo.address, port: rinfo.port }); });
      const args = role === 'client'
        ? ['s_server', ...common, '-accept', '127.0.0.1:0', '-verify', '1', '-naccept', '1']
        : ['s_client', ...common, '-connect', `127.0.0.1:${sock.address().port}`];
      child = spawn(OPENSSL, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      child.on('error', reject);
      child.on('exit', (code) => { if (!connected) reject(new Error(`openssl exited ${code}\n${output}`)); });
      const onData = (b: Buffer): void => {
        output += b.toString();
        const a = /ACCEPT \S*?:(\d+)/.exec(output);
        if (role === 'client' && a && !remote) {
          remote = { address: '127.0.0.1', port: Number(a[1]) };
          ep.start();
        }
        check();
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      if (role === 'server') ep.start();
    });
    return result;
  } finally {
    clearTimeout(killer);
    if (child && child.exitCode === null) child.kill('SIGKILL');
    sock.close();
  }
}

const peers = haveOpenssl ? { ecdsa: opensslCert('peer-ecdsa', 'ecdsa'), rsa: opensslCert('peer-rsa', 'rsa') } : undefined;

t.test('our DTLS client against openssl s_server: the 60 exported bytes are equal (ECDSA peer, X25519)', { skip: !peers && 'no openssl' }, async (t) => {
  const r = await run('client', peers!.ecdsa, 'SRTP_AES128_CM_SHA1_80');
  t.match(r.output, /SRTP Extension negotiated, profile=SRTP_AES128_CM_SHA1_80/);
  t.equal(r.theirs.length, 120);
  t.equal(exported(r.ours), r.theirs);
  t.equal(r.ours.suite, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256');
});

t.test('our DTLS client against openssl s_server with an RSA certificate and P-256 (ECDHE_RSA, AES-256 suite)', { skip: !peers && 'no openssl' }, async (t) => {
  const r = await run('client', peers!.rsa, 'SRTP_AES128_CM_SHA1_80', ['-groups', 'P-256', '-cipher', 'ECDHE-RSA-AES256-GCM-SHA384']);
  t.equal(exported(r.ours), r.theirs);
  t.equal(r.ours.suite, 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384');
  t.equal(r.ours.group, 'secp256r1');
});

t.test('our DTLS client reassembles what openssl fragments: s_server with a 256-byte MTU and an RSA certificate', { skip: !peers && 'no openssl' }, async (t) => {
  const r = await run('client', peers!.rsa, 'SRTP_AEAD_AES_256_GCM', ['-mtu', '256']);
  t.equal(r.theirs.length, 176);
  t.ok(r.largest <= 256, `openssl kept to the MTU (largest ${r.largest})`);
  t.equal(exported(r.ours), r.theirs);
});

t.test('our DTLS server against openssl s_client (ECDSA peer): equal exported bytes', { skip: !peers && 'no openssl' }, async (t) => {
  const r = await run('server', peers!.ecdsa, 'SRTP_AES128_CM_SHA1_80');
  t.match(r.output, /SRTP Extension negotiated, profile=SRTP_AES128_CM_SHA1_80/);
  t.equal(exported(r.ours), r.theirs);
});

t.test('our DTLS server against openssl s_client with an RSA client certificate, our RSA server, AEAD_AES_128_GCM', { skip: !peers && 'no openssl' }, async (t) => {
  const r = await run('server', peers!.rsa, 'SRTP_AEAD_AES_128_GCM', [], oursRsa);
  t.equal(r.theirs.length, 112);
  t.equal(exported(r.ours), r.theirs);
  t.equal(r.ours.suite, 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256');
});

t.test('openssl s_client reassembles what our server fragments (a 256-byte MTU, our RSA certificate)', { skip: !peers && 'no openssl' }, async (t) => {
  const r = await run('server', peers!.ecdsa, 'SRTP_AES128_CM_SHA1_32', [], oursRsa, 256);
  t.match(r.output, /profile=SRTP_AES128_CM_SHA1_32/);
  t.equal(exported(r.ours), r.theirs);
});

t.test('openssl reads our self-signed certificate (x509 -text) as a v3 ECDSA certificate', { skip: !haveOpenssl && 'no openssl' }, async (t) => {
  const f = writeOurs('ours', ours);
  const r = spawnSync(OPENSSL, ['x509', '-in', f.cert, '-noout', '-text'], { timeout: 10000 });
  const out = r.stdout.toString();
  t.equal(r.status, 0);
  t.match(out, /Version: 3 \(0x2\)/);
  t.match(out, /ecdsa-with-SHA256/);
  t.match(out, /NIST CURVE: P-256|prime256v1/);
  // openssl verifies the self-signature: the DER we wrote is signed over exactly the TBS we wrote.
  const v = spawnSync(OPENSSL, ['verify', '-CAfile', f.cert, '-check_ss_sig', f.cert], { timeout: 10000 });
  t.match(v.stdout.toString(), /OK/);
  const fp = spawnSync(OPENSSL, ['x509', '-in', f.cert, '-noout', '-fingerprint', '-sha256'], { timeout: 10000 }).stdout.toString();
  t.equal(fp.trim().split('=')[1], ours.fingerprint.value);
  // And our key wrapper takes openssl's certificate back.
  const back = certificateFrom(new X509Certificate(readFileSync(peers!.ecdsa.cert)).raw, createPrivateKey(readFileSync(peers!.ecdsa.key)));
  t.same(back.fingerprint, peers!.ecdsa.fingerprint);
});
