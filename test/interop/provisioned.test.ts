import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestAuthorization } from '../../firmware/sip/digest/index.js';
import { have, reexecInNetns, startProc, waitFor, type Proc } from './harness.js';
import { pbxOk, registrations, startBox } from './box.js';
import { startBaresip } from './clients.js';
import { BaresipCtrl } from './baresip-ctrl.js';
import { analyseTone, parseWav } from './audio.js';
import { MIN_TONE_RMS, TONE_TOLERANCE_HZ, assertHeard, boxStatus, established, sleep, toneFile, waitState, wavsNow } from './call-harness.js';

/*
 * Issue 12: "baresip and linphonec provisioned from the generic profile
 * register and call without further configuration". The box as `npm start`
 * runs it, in a private network namespace. Each softphone is assigned with
 * `pbx phone assign MAC EXT --vendor generic --password-mode once
 * --fetch-digest`; the test then does what the phone's installer does:
 * fetches the CA over plain HTTP (the bootstrap), then its generic file over
 * HTTPS verified against that CA, authenticated by its per-device digest
 * login. A small converter turns the file into the client's own config
 * (baresip: the accounts line as served, and the modules it names; linphonec:
 * the rc as served, the CA written beside it); only what a test needs on top
 * (audio files in and out, a control port, fixed media ports) is added, none
 * of the account, transport, TLS or SRTP settings. The two register over TLS
 * and linphonec calls baresip: audio both ways (1000 Hz and 600 Hz tones).
 * A second fetch (once mode) no longer carries the password.
 */

const BR = { ext: '1001', mac: '020000aa1001', sip: 40010, ctrl: 40110, rtp: '40100-40199', tone: 600 };
const LP = { ext: '1002', mac: '020000aa1002', rtp: 40300, tone: 1000 };
const TALK_MS = 4000;

if (!reexecInNetns()) {
  const missing = ['baresip', 'linphonec', 'sox'].filter((c) => !have(c));
  if (missing.length) t.fail(`missing ${missing.join(', ')}: scripts/install-deps.sh installs them`);
  else await main();
}

interface CallJson { legs?: { a?: { protection?: string }; b?: { protection?: string } } }
interface Got { status: number; body: string; headers: Record<string, string | string[] | undefined> }

function fetchUrl(url: string, o: { ca?: string; authorization?: string } = {}): Promise<Got> {
  const u = new URL(url);
  const secure = u.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (secure ? httpsRequest : httpRequest)({
      host: u.hostname, port: u.port, path: u.pathname, method: 'GET',
      headers: { 'user-agent': 'provisioning-test/1.0', ...(o.authorization ? { authorization: o.authorization } : {}) },
      // A phone verifies the HTTPS server against the CA it got from the bootstrap.
      ...(secure ? { ca: o.ca, rejectUnauthorized: true } : {}),
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** GET with the phone's HTTP digest login, answering the 401. */
async function fetchWithDigest(url: string, ca: string, user: string, password: string): Promise<Got> {
  const first = await fetchUrl(url, { ca });
  if (first.status !== 401) throw new Error(`expected a challenge, got ${first.status}`);
  const challenge = String(first.headers['www-authenticate']);
  return fetchUrl(url, { ca, authorization: digestAuthorization({ challenge, method: 'GET', uri: new URL(url).pathname, username: user, password }) });
}

/** The served baresip accounts file -> the account line and the modules it needs loaded before account.so. */
function baresipFromProfile(text: string): { account: string; modules: string[] } {
  const line = text.split('\n').find((l) => l.startsWith('"') || l.startsWith('<'));
  if (!line) throw new Error('no account line in the profile');
  const enc = /;mediaenc=([a-z_-]+)/.exec(line)?.[1];
  return { account: line, modules: enc === undefined ? [] : enc.startsWith('dtls') ? ['dtls_srtp.so'] : ['srtp.so'] };
}

/** The served linphone rc -> the rc linphonec runs, with the CA file the profile names written beside it. */
function linphoneRcFromProfile(text: string, dir: string, caPem: string, testOnly: readonly string[]): string {
  const caName = /^root_ca=(.+)$/m.exec(text)?.[1]?.trim();
  if (!caName) throw new Error('the profile names no root_ca');
  writeFileSync(join(dir, caName), caPem);
  // linphonec reads root_ca relative to where it runs; the absolute path takes that out of play.
  return `${text.replace(/^root_ca=.+$/m, `root_ca=${join(dir, caName)}`)}\n${testOnly.join('\n')}\n`;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'pbx-provisioned-'));
  const data = join(work, 'data');
  const cli = pbxOk(data);
  cli('account', 'add', BR.ext, '--password', 'initial-1001');
  cli('account', 'add', LP.ext, '--password', 'initial-1002');
  // 1002 in server mode: its profile tells linphonec to verify the box.
  cli('account', 'set', LP.ext, '--tls-mode', 'server');
  const logins: Record<string, { user: string; password: string }> = {};
  for (const p of [BR, LP]) {
    const out = cli('phone', 'assign', p.mac, p.ext, '--vendor', 'generic', '--password-mode', 'once', '--fetch-digest');
    const m = /user (\S+) password (\S+)/.exec(out);
    if (!m) throw new Error(`no provisioning login in: ${out}`);
    logins[p.ext] = { user: m[1]!, password: m[2]! };
  }
  const { proc: box, info } = await startBox(data, 240);
  t.teardown(() => box.stop());
  t.comment(`box TLS ${info.ports.sipTls}, HTTPS ${info.ports.web}, HTTP ${info.ports.http}; work dir ${work}`);
  const httpBase = `http://127.0.0.1:${info.ports.http}/provision/`;
  const httpsBase = `https://127.0.0.1:${info.ports.web}/provision/`;

  const procs: Proc[] = [];
  let ctrl: BaresipCtrl | undefined;
  t.teardown(async () => {
    if (ctrl) { await Promise.race([ctrl.quit(), sleep(1000)]); ctrl.close(); }
    for (const p of procs) await p.stop();
  });

  const files: Record<string, string> = {};
  let ca = '';
  t.test('each softphone fetches the CA over HTTP, then its generic profile over HTTPS with its digest login', async (t) => {
    const boot = await fetchUrl(`${httpBase}ca.crt`);
    t.equal(boot.status, 200, 'the bootstrap CA over plain HTTP');
    ca = boot.body;
    t.equal(ca.trim(), readFileSync(info.caPath, 'utf8').trim());
    const unauth = await fetchUrl(`${httpsBase}baresip-${BR.mac}.conf`, { ca });
    t.equal(unauth.status, 401, 'without its login: challenged, nothing served');
    t.notMatch(unauth.body, /auth_pass|1001/);
    for (const [p, name] of [[BR, `baresip-${BR.mac}.conf`], [LP, `linphone-${LP.mac}.rc`]] as const) {
      const r = await fetchWithDigest(`${httpsBase}${name}`, ca, logins[p.ext]!.user, logins[p.ext]!.password);
      t.equal(r.status, 200, `${name} served`);
      files[p.ext] = r.body;
      const again = await fetchWithDigest(`${httpsBase}${name}`, ca, logins[p.ext]!.user, logins[p.ext]!.password);
      t.notMatch(again.body, /auth_pass=|passwd=/, `${name}: a second fetch carries no password (once mode)`);
    }
    t.match(files[BR.ext], /auth_pass=\S+/, 'the baresip profile carries the password the first time');
    t.match(files[LP.ext], /^passwd=\S+$/m, 'and the linphone rc too');
    t.match(files[LP.ext], /^verify_server_certs=1$/m, 'server mode: the rc makes linphonec verify the box');
    t.match(cli('phone', 'list'), /020000aa1001\s+1001\s+generic.*once \(fetched\)/, 'the phone list shows the password fetched');
  });

  t.test('baresip and linphonec, configured from those files only, register over TLS', async (t) => {
    const br = baresipFromProfile(files[BR.ext]!);
    t.comment(`baresip account: ${br.account.replace(/auth_pass=[^;]+/, 'auth_pass=***')}`);
    const brDir = join(work, 'baresip');
    const brProc = startBaresip(brDir, {
      sipPort: BR.sip, ctrlPort: BR.ctrl, timeoutSec: 200, account: br.account, preAccountModules: br.modules,
      audioSource: `aufile,${toneFile(work, BR.tone)}`,
      extraConfig: ['module menu.so', 'module aufile.so', 'module sndfile.so', `snd_path ${brDir}`, `rtp_ports ${BR.rtp}`],
    });
    procs.push(brProc);
    ctrl = await waitFor('baresip control port', async () => {
      if (brProc.child.exitCode !== null) throw new Error(`baresip exited: ${brProc.output()}`);
      try { return await BaresipCtrl.connect(BR.ctrl); } catch { return undefined; }
    }, 10_000, 200);

    const lpDir = join(work, 'linphonec');
    mkdirSync(join(lpDir, '.local/share/linphone'), { recursive: true });
    const rc = linphoneRcFromProfile(files[LP.ext]!, lpDir, ca, [
      // Test-only: a fixed media port, files for sound, PCMU for a clean tone.
      '[rtp]', `audio_rtp_port=${LP.rtp}`, '', '[sound]', 'echocancellation=0', '',
    ]);
    writeFileSync(join(lpDir, 'rc'), rc);
    const lp = startProc('linphonec', ['-c', join(lpDir, 'rc'), '-d', '6', '-l', join(lpDir, 'debug.log')], {
      cwd: lpDir, env: { ...process.env, HOME: lpDir }, timeoutSec: 200, log: join(lpDir, 'linphonec.log'), stdin: 'pipe',
    });
    procs.push(lp);
    t.teardown(() => { lp.child.stdin?.end('quit\n'); });

    const regs = await waitFor('1001 (baresip) and 1002 (linphonec) to register over TLS', () => {
      const r = registrations(data);
      const b = r.find((x) => x.extension === BR.ext && x.transport === 'tls');
      const l = r.find((x) => x.extension === LP.ext && x.transport === 'tls');
      return b && l ? { b, l } : undefined;
    }, 30_000, 200);
    t.match(regs.b.userAgent ?? '', /baresip/i, '1001 is baresip');
    t.match(regs.l.userAgent ?? '', /linphone/i, '1002 is linphonec');
    t.match(readFileSync(join(lpDir, 'debug.log'), 'utf8'), /SSL handshake finished/, 'linphonec verified the box against the provisioned CA');

    const lpSay = (line: string): void => { lp.child.stdin?.write(`${line}\n`); };
    lpSay('soundcard use files');
    lpSay(`play ${toneFile(work, LP.tone)}`);

    t.test('linphonec calls baresip through the box: audio both ways', async (t) => {
      const c = ctrl!;
      const before = wavsNow(brDir);
      const lpRecord = join(work, 'linphonec-heard.wav');
      lpSay(`call sip:${BR.ext}@127.0.0.1`);
      await waitState(c, 'baresip rings', (x) => x.length > 0, 15_000);
      t.ok((await c.accept()).ok, 'baresip answers');
      await waitState(c, 'established', established, 10_000);
      await waitFor('linphonec: connected', () => /Call \d+ with \S+ connected/.test(lp.output()) || /Media streams established/.test(lp.output()), 10_000, 100);
      lpSay(`record ${lpRecord}`);
      // What the box sees of the call: both legs protected by SDES-SRTP, as the two profiles say.
      const call = await waitFor('the box to list the call', () => ((boxStatus(data).calls ?? []) as CallJson[])[0], 5_000, 200);
      t.comment(`box call view: ${JSON.stringify(call.legs)}`);
      t.equal(call.legs?.a?.protection, 'sdes', 'the caller\'s leg (linphonec) is SRTP');
      t.equal(call.legs?.b?.protection, 'sdes', 'the callee\'s leg (baresip) is SRTP');
      await sleep(TALK_MS);
      lpSay('terminate');
      await waitState(c, 'call gone', (x) => x.length === 0, 10_000);
      await sleep(500);
      assertHeard(t, 'callee (baresip)', brDir, before, LP.tone, TALK_MS / 1000 - 1);
      t.ok(existsSync(lpRecord), 'linphonec recorded the call');
      if (existsSync(lpRecord)) {
        const heard = analyseTone(parseWav(readFileSync(lpRecord)));
        t.comment(`linphonec heard ${JSON.stringify(heard)}`);
        t.ok(Math.abs(heard.frequency - BR.tone) <= TONE_TOLERANCE_HZ, `linphonec hears ${BR.tone} Hz (found ${heard.frequency.toFixed(1)})`);
        t.ok(heard.rms >= MIN_TONE_RMS, `at a real level (RMS ${heard.rms.toFixed(0)})`);
      }
    });
  });
}
