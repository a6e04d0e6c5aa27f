import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { addAccount } from '../../firmware/config/index.js';
import { callControl, controlSocketPath } from '../../firmware/control/index.js';
import { silentLogger } from '../../firmware/core/index.js';
import { startAppliance } from '../../firmware/main.js';
import { digestAuthorization } from '../../firmware/sip/digest/index.js';
import type { DeviceCertIssued, PhoneAssigned, PhoneView, ProvisionFetch } from '../../firmware/api/index.js';

/*
 * Issue 12's "must show" for files: the whole appliance in-process, each
 * vendor's file fetched over HTTPS for an assigned MAC and validated (the XML
 * parses, every element is one of the vendor's known names, the required
 * keys are there, TLS transport, SRTP, the CA); once mode; nothing secret
 * for an unknown MAC or an unauthenticated fetch; plain HTTP gives a guessed
 * MAC the CA and a bootstrap only; a factory certificate (mutual TLS on the
 * provisioning port) authenticates its own MAC only.
 */

const root = mkdtempSync(join(tmpdir(), 'pbx-prov-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const dataDir = join(root, 'box');

// A stand-in vendor CA and a "factory" certificate naming a phone's MAC, made with openssl.
const vendorDir = join(root, 'vendor');
mkdirSync(vendorDir);
function openssl(...args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: vendorDir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}
openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'vca.key', '-out', 'vca.crt', '-days', '30', '-subj', '/CN=Test Vendor Factory CA',
  '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
for (const [name, mac] of [['factory', '00:15:65:11:22:33'], ['other', '00:15:65:99:99:99']] as const) {
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${mac}`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'vca.crt', '-CAkey', 'vca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '30');
}
// A certificate for the same MAC from a CA the box does not trust.
openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rogue.key', '-out', 'rogue.crt', '-days', '30', '-subj', '/CN=00:15:65:11:22:33');
mkdirSync(join(dataDir, 'pki', 'vendor-ca'), { recursive: true });
writeFileSync(join(dataDir, 'pki', 'vendor-ca', 'testvendor.pem'), readFileSync(join(vendorDir, 'vca.crt')));

const app = await startAppliance({ dataDir, bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, print: () => {}, log: silentLogger });
t.teardown(() => app.stop());
const ca = readFileSync(app.info.caPath, 'utf8');
await app.store.update((d) => addAccount(d, { extension: '201', password: 'initial-201', name: 'Alice Desk' }));
await app.store.update((d) => addAccount(d, { extension: '202', password: 'initial-202', media: { supported: ['sdes'], required: ['sdes'] } }));
await app.store.update((d) => addAccount(d, { extension: '203', password: 'initial-203' }));

const sock = controlSocketPath(dataDir);
const cmd = <T>(command: string, args: Record<string, unknown> = {}): Promise<T> => callControl(sock, { command, args }) as Promise<T>;

interface Got { status: number; body: string; headers: Record<string, string | string[] | undefined> }
function get(path: string, o: { secure?: boolean; headers?: Record<string, string>; cert?: string; key?: string; pfx?: Buffer; passphrase?: string } = {}): Promise<Got> {
  const secure = o.secure ?? true;
  return new Promise((resolve, reject) => {
    const opts = {
      host: '127.0.0.1', port: secure ? app.info.ports.web : app.info.ports.http, path, method: 'GET', headers: o.headers ?? {},
      ...(secure ? { ca, servername: undefined, checkServerIdentity: () => undefined, ...(o.cert ? { cert: o.cert, key: o.key } : {}), ...(o.pfx ? { pfx: o.pfx, passphrase: o.passphrase } : {}) } : {}),
    };
    const req = (secure ? httpsRequest : httpRequest)(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Fetch with the phone's own HTTP digest: the 401's challenge answered. */
async function getDigest(path: string, user: string, password: string): Promise<Got> {
  const first = await get(path);
  if (first.status !== 401) return first;
  const challenge = String(first.headers['www-authenticate']);
  return get(path, { headers: { authorization: digestAuthorization({ challenge, method: 'GET', uri: path, username: user, password }) } });
}

const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false, trimValues: true });
/** Every element name in a document, depth first. */
function elementNames(doc: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(doc)) { for (const d of doc) elementNames(d, out); return out; }
  if (typeof doc !== 'object' || doc === null) return out;
  for (const [k, v] of Object.entries(doc)) {
    if (k.startsWith('@') || k === '#text' || k === '?xml') continue;
    out.add(k);
    elementNames(v, out);
  }
  return out;
}
function parseXml(t: Test, body: string, known: readonly string[]): Record<string, unknown> {
  t.equal(XMLValidator.validate(body), true, 'well-formed XML');
  const doc = parser.parse(body) as Record<string, unknown>;
  const unknown = [...elementNames(doc)].filter((n) => !known.includes(n));
  t.same(unknown, [], 'every element is one of the vendor\'s known names');
  return doc;
}
const pemBody = (s: string): string => s.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');

const MACS = { yealink: '001565aabb01', polycom: '0004f2aabb02', snom: '000413aabb03', grandstream: '000b82aabb04', generic: '020000aabb05' } as const;

/** Assign with --password-mode always and open a window (one authenticated fetch). */
async function assignOpen(vendor: keyof typeof MACS, extension: string): Promise<void> {
  await cmd('phone.assign', { mac: MACS[vendor], extension, vendor, passwordMode: 'always' });
  await cmd('phone.window', { mac: MACS[vendor], minutes: 5 });
}

async function phonePassword(mac: string): Promise<string> {
  const p = app.store.data.phones.find((x) => x.mac === mac);
  if (!p?.sipPassword) throw new Error('no password kept');
  return p.sipPassword;
}

t.test('Yealink <mac>.cfg: account over TLS, SRTP, the CA by URL, NTP and time zone', async (t) => {
  await assignOpen('yealink', '201');
  const r = await get(`/provision/${MACS.yealink}.cfg`, { headers: { 'user-agent': 'Yealink SIP-T46S 66.86.0.15 00:15:65:aa:bb:01' } });
  t.equal(r.status, 200);
  const lines = r.body.split('\n');
  t.equal(lines[0], '#!version:1.0.0.1', 'Yealink header line');
  const kv = new Map(lines.filter((l) => l.includes(' = ')).map((l) => l.split(' = ', 2) as [string, string]));
  for (const k of ['account.1.enable', 'account.1.user_name', 'account.1.auth_name', 'account.1.password', 'account.1.sip_server.1.address',
    'account.1.sip_server.1.port', 'account.1.sip_server.1.transport_type', 'account.1.srtp_encryption', 'trusted_certificates.url', 'local_time.ntp_server1']) {
    t.ok(kv.has(k), `has ${k}`);
  }
  t.equal(kv.get('account.1.user_name'), '201');
  t.equal(kv.get('account.1.display_name'), 'Alice Desk');
  t.equal(kv.get('account.1.sip_server.1.port'), String(app.info.ports.sipTls), 'the box\'s TLS port');
  t.equal(kv.get('account.1.sip_server.1.transport_type'), '2', 'transport TLS');
  t.equal(kv.get('account.1.srtp_encryption'), '1', 'SRTP optional (the account does not require SDES)');
  t.equal(kv.get('account.1.password'), await phonePassword(MACS.yealink), 'the password the box set for the account');
  const caUrl = new URL(kv.get('trusted_certificates.url')!);
  t.equal(caUrl.protocol, 'https:');
  t.equal((await get(caUrl.pathname)).body.trim(), ca.trim(), 'the CA URL serves the box\'s CA');
});

t.test('Polycom: <mac>.cfg master names phone<mac>.cfg; the per-phone file has TLS, SRTP required and the CA inline', async (t) => {
  await assignOpen('polycom', '202');
  const master = await get(`/provision/${MACS.polycom}.cfg`, { headers: { 'user-agent': 'FileTransport PolycomVVX-VVX_450-UA/6.4.0.1' } });
  t.equal(master.status, 200);
  const m = parseXml(t, master.body, ['APPLICATION']);
  t.match((m.APPLICATION as Record<string, string>)['@APP_FILE_PATH'], 'sip.ld');
  t.equal((m.APPLICATION as Record<string, string>)['@CONFIG_FILES'], `phone${MACS.polycom}.cfg`);
  const generic = await get('/provision/000000000000.cfg');
  t.match(parseXml(t, generic.body, ['APPLICATION']), { APPLICATION: { '@CONFIG_FILES': 'phone[PHONE_MAC_ADDRESS].cfg' } });

  const r = await get(`/provision/phone${MACS.polycom}.cfg`);
  t.equal(r.status, 200);
  const doc = parseXml(t, r.body, ['polycomConfig', 'reg', 'sec', 'device', 'tcpIpApp']);
  const pc = doc.polycomConfig as Record<string, Record<string, string>>;
  t.equal(pc.reg!['@reg.1.address'], '202');
  t.equal(pc.reg!['@reg.1.auth.password'], await phonePassword(MACS.polycom));
  t.equal(pc.reg!['@reg.1.server.1.transport'], 'TLS');
  t.equal(pc.reg!['@reg.1.server.1.port'], String(app.info.ports.sipTls));
  t.equal(pc.sec!['@sec.srtp.enable'], '1');
  t.equal(pc.sec!['@sec.srtp.require'], '1', 'SDES required by the account: SRTP required');
  t.equal(pemBody(pc.device!['@device.sec.TLS.customCaCert1']!), pemBody(ca), 'the CA inline');
  t.ok(pc.tcpIpApp!['@tcpIpApp.sntp.address']);
});

t.test('snom snom<model>-<MAC>.htm: phone-settings with TLS outbound, SRTP and the CA in <certificates>', async (t) => {
  await assignOpen('snom', '203');
  const r = await get(`/provision/snomD785-${MACS.snom.toUpperCase()}.htm`, { headers: { 'user-agent': 'Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33)' } });
  t.equal(r.status, 200);
  const doc = parseXml(t, r.body, ['settings', 'phone-settings', 'user_active', 'user_realname', 'user_name', 'user_pname', 'user_pass', 'user_host',
    'user_outbound', 'user_srtp', 'user_savp', 'ntp_server', 'timezone', 'setting_server', 'https_server_cert_check', 'certificates', 'certificate']);
  const ps = (doc.settings as Record<string, Record<string, { '#text'?: string } | string>>)['phone-settings']!;
  const val = (k: string): string => { const v = ps[k]; return typeof v === 'string' ? v : v?.['#text'] ?? ''; };
  t.equal(val('user_name'), '203');
  t.equal(val('user_pass'), await phonePassword(MACS.snom));
  t.match(val('user_outbound'), new RegExp(`:${app.info.ports.sipTls};transport=tls$`), 'TLS outbound proxy');
  t.equal(val('user_srtp'), 'on');
  t.equal(val('user_savp'), 'optional');
  const cert = (doc.settings as Record<string, { certificate: { '#text': string } }>).certificates.certificate['#text'];
  t.equal(pemBody(cert), pemBody(ca), 'the CA in <certificates>');
});

t.test('Grandstream cfg<mac>.xml: P-values with TLS (P130=2), SRTP (P183) and the CA', async (t) => {
  await assignOpen('grandstream', '202');
  const r = await get(`/provision/cfg${MACS.grandstream}.xml`, { headers: { 'user-agent': 'Grandstream Model HW GRP2614 SW 1.0.5.33 DevId 000b82aabb04' } });
  t.equal(r.status, 200);
  const doc = parseXml(t, r.body, ['gs_provision', 'mac', 'config', 'P47', 'P35', 'P36', 'P34', 'P3', 'P130', 'P183', 'P30', 'P64', 'P8433', 'P8468', 'P212', 'P237']);
  const gs = doc.gs_provision as { mac: string; config: Record<string, string> };
  t.equal(gs.mac, MACS.grandstream);
  t.equal(gs.config.P35, '202');
  t.equal(gs.config.P34, await phonePassword(MACS.grandstream));
  t.equal(gs.config.P47, `127.0.0.1:${app.info.ports.sipTls}`);
  t.equal(gs.config.P130, '2', 'TLS');
  t.equal(gs.config.P183, '2', 'SRTP forced: the account requires SDES');
  t.equal(pemBody(gs.config.P8433!), pemBody(ca));
});

t.test('generic: baresip accounts line and linphone rc', async (t) => {
  await assignOpen('generic', '201');
  const b = await get(`/provision/baresip-${MACS.generic}.conf`);
  t.equal(b.status, 200);
  const line = b.body.split('\n').find((l) => l.startsWith('"'))!;
  t.match(line, new RegExp(`<sip:201@127\\.0\\.0\\.1:${app.info.ports.sipTls};transport=tls>`));
  t.match(line, /;mediaenc=srtp(;|$)/);
  t.match(line, `;auth_pass=${await phonePassword(MACS.generic)}`);
  // The window admitted one fetch: the linphone file now comes without the password.
  const l = await get(`/provision/linphone-${MACS.generic}.rc`);
  t.equal(l.status, 200);
  t.match(l.body, /\[proxy_0\]\nreg_proxy=<sip:127\.0\.0\.1:\d+;transport=tls>/);
  t.match(l.body, /media_encryption=srtp/);
  t.notMatch(l.body, /passwd=/, 'the window is closed after its one fetch: no password');
});

t.test('every vendor: once its window closed, an unauthenticated fetch over HTTPS still parses but has no password', async (t) => {
  const files: Array<[keyof typeof MACS, string, RegExp]> = [
    ['yealink', `${MACS.yealink}.cfg`, /account\.1\.password/],
    ['polycom', `phone${MACS.polycom}.cfg`, /reg\.1\.auth\.password/],
    ['snom', `snomD785-${MACS.snom.toUpperCase()}.htm`, /user_pass/],
    ['grandstream', `cfg${MACS.grandstream}.xml`, /<P34>/],
    ['generic', `baresip-${MACS.generic}.conf`, /auth_pass/],
    ['generic', `linphone-${MACS.generic}.rc`, /passwd=/],
  ];
  for (const [vendor, file, secretKey] of files) {
    const r = await get(`/provision/${file}`);
    t.equal(r.status, 200, `${file}: served`);
    t.notMatch(r.body, secretKey, `${file}: no password key`);
    t.notMatch(r.body, await phonePassword(MACS[vendor]), `${file}: not the password`);
    t.match(r.body, /tls|TLS|<P130>2<\/P130>|transport_type = 2/, `${file}: still TLS`);
  }
  // Polycom parameters are attributes: each one must be a parameter name Polycom documents.
  const pc = parseXml(t, (await get(`/provision/phone${MACS.polycom}.cfg`)).body, ['polycomConfig', 'reg', 'sec', 'device', 'tcpIpApp']);
  const attrs = Object.values(pc.polycomConfig as Record<string, Record<string, string>>).flatMap((el) => Object.keys(el)).map((a) => a.slice(1));
  const knownPolycom = ['reg.1.address', 'reg.1.label', 'reg.1.displayName', 'reg.1.auth.userId', 'reg.1.auth.password', 'reg.1.server.1.address',
    'reg.1.server.1.port', 'reg.1.server.1.transport', 'sec.srtp.enable', 'sec.srtp.offer', 'sec.srtp.require', 'sec.TLS.SIP.strictCertCommonNameValidation',
    'device.set', 'device.sec.TLS.customCaCert1.set', 'device.sec.TLS.customCaCert1', 'device.prov.serverType.set', 'device.prov.serverType',
    'tcpIpApp.sntp.address', 'tcpIpApp.sntp.timezone'];
  t.same(attrs.filter((a) => !knownPolycom.includes(a)), [], 'every Polycom parameter is a known one');
  t.ok(attrs.includes('reg.1.server.1.transport') && attrs.includes('sec.srtp.enable'), 'transport and SRTP parameters present');
});

t.test('plain HTTP bootstraps parse in each vendor\'s format and hold the CA (or its URL) and nothing else', async (t) => {
  const mac = '001565eeee01';
  const xml: Array<[string, readonly string[]]> = [
    [`phone${mac}.cfg`, ['polycomConfig', 'device']],
    [`snomD785-${mac.toUpperCase()}.htm`, ['settings', 'phone-settings', 'setting_server', 'certificates', 'certificate']],
    [`cfg${mac}.xml`, ['gs_provision', 'config', 'P8433', 'P212', 'P237']],
  ];
  for (const [file, known] of xml) {
    const r = await get(`/provision/${file}`, { secure: false });
    t.equal(r.status, 200, `${file}: served over HTTP`);
    parseXml(t, r.body, known);
    t.ok(pemBody(r.body.replace(/&#10;|&#13;/g, '')).includes(pemBody(ca)), `${file}: the CA inline`);
    t.notMatch(r.body, /password|user_name|P34|reg\.1/, `${file}: no account`);
  }
  const generic = await get(`/provision/baresip-${mac}.conf`, { secure: false });
  t.equal(generic.body.trim(), ca.trim(), 'generic over HTTP: the CA and nothing more');
});

t.test('once mode with a per-device digest: the password on the first authenticated fetch, never again until reset', async (t) => {
  const mac = '001565cc0001';
  const a = await cmd<PhoneAssigned>('phone.assign', { mac, extension: '203', vendor: 'yealink', passwordMode: 'once', fetchDigest: true });
  t.ok(a.fetchUser && a.fetchPassword, 'fetch credentials shown once');
  const path = `/provision/${mac}.cfg`;
  const noAuth = await get(path);
  t.equal(noAuth.status, 401, 'no credentials: challenged');
  t.notMatch(noAuth.body, /password|203/);
  const wrong = await getDigest(path, a.fetchUser!, 'wrong-password-x');
  t.equal(wrong.status, 401, 'wrong credentials: challenged again, nothing served');
  const first = await getDigest(path, a.fetchUser!, a.fetchPassword!);
  t.equal(first.status, 200);
  const pw = await phonePassword(mac);
  t.match(first.body, `account.1.password = ${pw}`, 'first authenticated fetch carries the password');
  const second = await getDigest(path, a.fetchUser!, a.fetchPassword!);
  t.equal(second.status, 200);
  t.notMatch(second.body, /account\.1\.password/, 'second fetch: no password');
  t.notMatch(second.body, pw);
  t.equal((await cmd<PhoneView[]>('phone.list')).find((p) => p.mac === mac)?.passwordServed, true, 'the page shows it fetched its password');
  await cmd('phone.reset-once', { mac });
  t.match((await getDigest(path, a.fetchUser!, a.fetchPassword!)).body, `account.1.password = ${pw}`, 'after reset-once: once more');
  t.notMatch((await getDigest(path, a.fetchUser!, a.fetchPassword!)).body, pw, 'and then not again');
});

t.test('nothing secret without authentication, for an unknown MAC, or over plain HTTP', async (t) => {
  const mac = '001565cc0002';
  await cmd('phone.assign', { mac, extension: '201', vendor: 'yealink', passwordMode: 'always' });
  const pw = await phonePassword(mac);
  const unauth = await get(`/provision/${mac}.cfg`);
  t.equal(unauth.status, 200, 'no credentials configured: the file without the password');
  t.notMatch(unauth.body, /account\.1\.password/);
  t.notMatch(unauth.body, pw);
  t.match(unauth.body, /transport_type = 2/);

  const unknown = await get('/provision/001565deadbe.cfg');
  t.equal(unknown.status, 404, 'unknown MAC over HTTPS: 404');
  t.notMatch(unknown.body, /password|account/);

  const guessedKnown = await get(`/provision/${mac}.cfg`, { secure: false });
  const guessedUnknown = await get('/provision/001565deadbe.cfg', { secure: false });
  t.equal(guessedKnown.status, 200);
  t.equal(guessedKnown.body, guessedUnknown.body, 'plain HTTP answers an assigned and an unknown MAC alike');
  t.notMatch(guessedKnown.body, pw);
  t.notMatch(guessedKnown.body, /account\.|password|201/, 'no account, no password');
  t.match(guessedKnown.body, /trusted_certificates\.url = http:\/\/127\.0\.0\.1:\d+\/provision\/ca\.crt/, 'only the way to the CA');
  t.match(guessedKnown.body, /static\.auto_provision\.server\.url = https:/, 'and to HTTPS');
  for (const f of [`cfg${mac}.xml`, `phone${mac}.cfg`, `snomD785-${mac.toUpperCase()}.htm`, `baresip-${mac}.conf`, `linphone-${mac}.rc`]) {
    const r = await get(`/provision/${f}`, { secure: false });
    t.notMatch(r.body, pw, `${f} over HTTP: no password`);
    t.notMatch(r.body, /201/, `${f} over HTTP: no extension`);
    t.ok(r.status === 200 && pemBody(r.body).includes(pemBody(ca)) || /ca\.crt/.test(r.body), `${f} over HTTP: the CA or its URL`);
  }
  const caHttp = await get('/provision/ca.crt', { secure: false });
  t.equal(caHttp.body.trim(), ca.trim(), 'the CA over plain HTTP');
  const other = await get('/provision/../config.json', { secure: false });
  t.not(other.status, 200, 'no other file');
});

t.test('factory certificate (mutual TLS on the provisioning port): its own MAC only, from a trusted vendor CA only', async (t) => {
  const mac = '001565112233';
  await cmd('phone.assign', { mac, extension: '202', vendor: 'yealink', passwordMode: 'always' });
  const pw = await phonePassword(mac);
  const key = (n: string): string => readFileSync(join(vendorDir, `${n}.key`), 'utf8');
  const crt = (n: string): string => readFileSync(join(vendorDir, `${n}.crt`), 'utf8');
  const own = await get(`/provision/${mac}.cfg`, { cert: crt('factory'), key: key('factory') });
  t.match(own.body, `account.1.password = ${pw}`, 'the factory certificate naming this MAC authenticates the fetch');
  const other = await get(`/provision/${mac}.cfg`, { cert: crt('other'), key: key('other') });
  t.notMatch(other.body, pw, 'another phone\'s factory certificate does not');
  const rogue = await get(`/provision/${mac}.cfg`, { cert: crt('rogue'), key: key('rogue') });
  t.notMatch(rogue.body, pw, 'a self-made certificate naming the MAC does not');
});

t.test('a box-issued device certificate: PKCS#12 with its one-time passphrase authenticates the phone of its account', async (t) => {
  const mac = '001565cc0003';
  await cmd('phone.assign', { mac, extension: '203', vendor: 'yealink', passwordMode: 'always' });
  const issued = await cmd<DeviceCertIssued>('cert.issue-device', { extension: '203' });
  t.equal(issued.passphrase.length, 20);
  const pfx = Buffer.from(issued.p12Base64, 'base64');
  const r = await get(`/provision/${mac}.cfg`, { pfx, passphrase: issued.passphrase });
  t.match(r.body, `account.1.password = ${await phonePassword(mac)}`);
  t.equal((await cmd<unknown[]>('cert.devices')).length >= 1, true);
  t.notOk(JSON.stringify(await cmd('cert.devices')).includes('PRIVATE KEY'), 'the list has no key');
});

t.test('the fetch log and the phone list', async (t) => {
  const log = await cmd<{ dhcpOption: string; fetches: ProvisionFetch[] }>('phone.fetches');
  t.match(log.dhcpOption, /^http:\/\/127\.0\.0\.1:\d+\/provision\/$/, 'the DHCP option 66 value');
  const served = log.fetches.filter((f) => f.withPassword);
  t.ok(served.length >= 5, `fetches with the password are logged (${served.length})`);
  t.ok(log.fetches.some((f) => f.status === 404 && f.mac === '001565deadbe'), 'the unknown MAC is logged');
  t.ok(log.fetches.some((f) => f.auth === 'certificate'), 'how the phone authenticated is logged');
  t.notOk(JSON.stringify(log).includes(await phonePassword(MACS.yealink)), 'the log never holds a password');
  const list = await cmd<PhoneView[]>('phone.list');
  const y = list.find((p) => p.mac === MACS.yealink);
  t.match(y, { vendor: 'yealink', model: 'T46S', firmware: '66.86.0.15', extension: '201' });
  t.ok(list.some((p) => p.mac === '001565deadbe' && p.extension === null), 'a phone that asked but is not assigned is listed');
  t.notOk(JSON.stringify(list).includes(await phonePassword(MACS.yealink)), 'the list never holds a password');
  const preview = await cmd<{ body: string }>('phone.preview', { mac: MACS.yealink });
  t.match(preview.body, 'account.1.password = ********', 'the preview masks the password');
});
