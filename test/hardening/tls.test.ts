/**
 * Issue 20, TLS settings of the SIP TLS listener, checked from outside with
 * the openssl CLI (an independent TLS stack) and with Node's own client:
 * TLS 1.3 and 1.2 accepted, TLS 1.0/1.1 refused, static-RSA and CBC suites
 * refused by default (ECDHE-CBC only under the "older phones" profile), and a
 * client renegotiation closes the connection at the first attempt (before the
 * fix the listener accepted 40 of 40).
 */
import { spawn } from 'node:child_process';
import tls from 'node:tls';
import t from 'tap';
import {
  SipTransports, TLS12_AEAD_SUITES, TLS12_LEGACY_CBC_SUITES, tlsCipherList, tlsPolicyView, type TlsProfile,
} from '../../firmware/sip/transport/index.js';
import { closed, selfSigned, type Teardown } from '../sip/transport/helpers.js';

const cert = selfSigned('pbx.test', '0a');
const OPENSSL_TIMEOUT_MS = 8000;

async function listener(t: Teardown, tlsProfile?: TlsProfile): Promise<{ tr: SipTransports; port: number }> {
  const tr = new SipTransports(tlsProfile === undefined ? {} : { tlsProfile });
  const ports = await tr.start({ bind: '127.0.0.1', tlsPort: 0, tls: { key: cert.key, cert: cert.cert } });
  t.teardown(() => tr.stop());
  return { tr, port: ports.tls ?? 0 };
}

interface Run { code: number | null; out: string }

/** Runs openssl with a hard time limit; the child is killed by its own PID. */
function openssl(args: string[], stdin?: (write: (s: string) => void, out: () => string) => Promise<void>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString('latin1'); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString('latin1'); });
    const timer = setTimeout(() => { if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL'); }, OPENSSL_TIMEOUT_MS);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out }); });
    child.stdin.on('error', () => {});
    if (stdin === undefined) child.stdin.end();
    else void stdin((s) => child.stdin.write(s), () => out).catch(() => {});
  });
}

const sClient = (port: number, ...more: string[]): string[] => ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'pbx.test', ...more];

/** What s_client's session block says was negotiated, e.g. "TLSv1.3 TLS_AES_128_GCM_SHA256"; undefined when nothing was. */
function negotiated(out: string): string | undefined {
  const protocol = /^\s*Protocol\s*:\s*(\S+)/m.exec(out)?.[1];
  const cipher = /^\s*Cipher\s*:\s*(\S+)/m.exec(out)?.[1];
  if (protocol !== undefined && cipher !== undefined) return cipher === '0000' ? undefined : `${protocol} ${cipher}`;
  // A TLS 1.3 session block comes only with a ticket; its "New," line names 1.3 (the suite's own version) right.
  const m = /^New, (TLSv1\.3), Cipher is (\S+)/m.exec(out);
  return m ? `${m[1]} ${m[2]}` : undefined;
}

t.test('openssl s_client: TLS 1.3 is accepted, with an AEAD suite', async (t) => {
  const { port } = await listener(t);
  const r = await openssl(sClient(port, '-tls1_3'));
  t.match(negotiated(r.out), /^TLSv1\.3 TLS_(AES_128_GCM|AES_256_GCM|CHACHA20_POLY1305)_SHA(256|384)$/);
});

t.test('openssl s_client: TLS 1.2 picks ECDHE with AES-GCM first', async (t) => {
  const { port } = await listener(t);
  const r = await openssl(sClient(port, '-tls1_2'));
  t.equal(negotiated(r.out), 'TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256');
});

t.test('openssl s_client: static RSA and CBC suites are refused by default; TLS 1.0 and 1.1 too', async (t) => {
  const { port } = await listener(t);
  for (const cipher of ['AES128-SHA', 'AES256-GCM-SHA384', 'ECDHE-RSA-AES128-SHA', 'ECDHE-RSA-AES128-SHA256']) {
    const r = await openssl(sClient(port, '-tls1_2', '-cipher', cipher));
    t.not(r.code, 0, `${cipher}: s_client fails`);
    t.match(r.out, /alert handshake failure/, `${cipher}: the server answered with a handshake_failure alert`);
    t.equal(negotiated(r.out), undefined, `${cipher}: nothing negotiated`);
  }
  // SECLEVEL=0 so the client itself offers the old versions and the refusal is the server's.
  for (const v of ['-tls1', '-tls1_1']) {
    const r = await openssl(sClient(port, v, '-cipher', 'DEFAULT@SECLEVEL=0'));
    t.not(r.code, 0, `${v}: s_client fails`);
    t.match(r.out, /alert protocol version/, `${v}: the server answered protocol_version`);
  }
});

t.test('a certificate swap (setTlsMaterial rebuilds the context) keeps the policy', async (t) => {
  const { tr, port } = await listener(t);
  const other = selfSigned('pbx-2.test', '0c');
  tr.setTlsMaterial({ key: other.key, cert: other.cert });
  const rsa = await openssl(sClient(port, '-tls1_2', '-cipher', 'AES128-SHA'));
  t.equal(negotiated(rsa.out), undefined, 'static RSA still refused');
  const v10 = await openssl(sClient(port, '-tls1', '-cipher', 'DEFAULT@SECLEVEL=0'));
  t.match(v10.out, /alert protocol version/, 'TLS 1.0 still refused');
  const ok = await openssl(sClient(port, '-tls1_3'));
  t.match(ok.out, /CN\s*=\s*pbx-2\.test/, 'the new certificate is served');
});

t.test('the older-phones profile adds ECDHE-CBC after the AEAD suites, never static RSA', async (t) => {
  const { port } = await listener(t, 'older-phones');
  const cbc = await openssl(sClient(port, '-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA'));
  t.equal(negotiated(cbc.out), 'TLSv1.2 ECDHE-RSA-AES128-SHA');
  const rsa = await openssl(sClient(port, '-tls1_2', '-cipher', 'AES128-SHA'));
  t.equal(negotiated(rsa.out), undefined, 'static RSA still refused');
  const pref = await openssl(sClient(port, '-tls1_2'));
  t.equal(negotiated(pref.out), 'TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256', 'AEAD still preferred');
});

t.test('openssl ciphers -v: every TLS 1.2 suite of each profile is ECDHE, AEAD ones first', async (t) => {
  for (const profile of ['modern', 'older-phones'] as const) {
    const r = await openssl(['ciphers', '-v', '-tls1_2', tlsCipherList(profile).split(':').filter((c) => !c.startsWith('TLS_')).join(':')]);
    t.equal(r.code, 0);
    // openssl lists the TLS 1.3 suites whatever the list says; they are all AEAD.
    const lines = r.out.trim().split('\n').filter((l) => !l.startsWith('TLS_'));
    t.equal(lines.length, profile === 'modern' ? TLS12_AEAD_SUITES.length : TLS12_AEAD_SUITES.length + TLS12_LEGACY_CBC_SUITES.length, `${profile}: openssl knows every suite`);
    const aead = lines.map((l) => /Enc=(AESGCM|CHACHA20\/POLY1305)/.test(l));
    for (const l of lines) t.match(l, /Kx=ECDH\b/, `${profile}: ${l.split(/\s+/)[0]} uses ECDHE`);
    t.same(aead, [...aead].sort((a, b) => Number(b) - Number(a)), `${profile}: no CBC suite before an AEAD one`);
    if (profile === 'modern') t.ok(aead.every(Boolean), 'modern: AEAD only');
  }
  t.same(tlsPolicyView().versions, ['TLSv1.2', 'TLSv1.3']);
  t.equal(tlsPolicyView().clientRenegotiation, false);
});

t.test('openssl s_client "R": the first client renegotiation closes the connection, counted', async (t) => {
  const { tr, port } = await listener(t);
  const r = await openssl(sClient(port, '-tls1_2'), async (write, out) => {
    // Wait for the handshake to finish before asking for a renegotiation.
    while (!/^\s*Protocol\s*:\s*TLSv1\.2/m.test(out())) await new Promise((res) => setImmediate(res));
    write('R\n');
  });
  t.match(r.out, /RENEGOTIATING/, 's_client tried');
  t.equal(tr.counters.get('tls-renegotiation-refused'), 1);
  t.equal(tr.counters.get('tls-socket-error'), 0, 'not also counted as a socket error');
});

t.test('Node client renegotiate(): 0 of 40 accepted, the connection is closed at the first', async (t) => {
  const { tr, port } = await listener(t);
  const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const c = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, maxVersion: 'TLSv1.2' }, () => resolve(c));
    c.once('error', reject);
  });
  s.on('error', () => {});
  t.teardown(() => s.destroy());
  const gone = closed(s);
  let accepted = 0;
  for (let i = 0; i < 40 && !s.destroyed; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      s.once('close', () => resolve(false));
      if (!s.renegotiate({ rejectUnauthorized: false }, (err) => resolve(err === null || err === undefined))) resolve(false);
    });
    if (!ok) break;
    accepted++;
  }
  await gone;
  t.equal(accepted, 0);
  t.equal(tr.counters.get('tls-renegotiation-refused'), 1);
  t.equal(tr.connectionCount, 0, 'its count is given back');
});
