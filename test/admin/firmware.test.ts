import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import t from 'tap';
import { AUDIT_FILE, FIRMWARE_RECORD_FILE } from '../../firmware/admin/index.js';
import { SlotStore, afterHealth, bootPlan, createBundle, readTar, writeTar, type PayloadFile } from '../../firmware/update/index.js';
import { treeDigest } from '../update/tree.js';
import { sessionCookie, type RequestOptions } from './client.js';
import { SETUP_CODE, startAdmin, type AdminFixture } from './fixture.js';

/*
 * Firmware updates through the admin API with real signed bundles: a good
 * one is verified, installed into the inactive slot and put on trial, the
 * supervisor is told once the reply is out, and the ticket reports the
 * verdict (switching, committed, rolled back with the reason) without a
 * session, as the page needs after the switch. A bad signature, a changed
 * file, a downgrade, an oversized body and a box without slots are refused
 * with their reason and nothing written. Every upload is in the audit log.
 */

const vendor = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('ed25519');
const files: PayloadFile[] = [
  { path: 'package.json', mode: 0o644, data: Buffer.from('{"type":"module"}\n') },
  { path: 'dist/firmware/cli/pbx.js', mode: 0o755, data: Buffer.from('console.log("pbx")\n') },
  { path: 'dist/firmware/main.js', mode: 0o644, data: Buffer.alloc(40_000, 'x') },
];
const bundle = (version: string, key = vendor.privateKey): Buffer => createBundle({ version, files, privateKey: key });
const MAX = 200_000;

function slotsRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'pbx-fw-slots-'));
  SlotStore.init(root);
  mkdirSync(join(root, 'a'));
  writeFileSync(join(root, 'a', 'manifest.json'), JSON.stringify({ version: '0.1.0' }));
  mkdirSync(join(root, 'b'));
  return root;
}

async function login(fx: AdminFixture): Promise<{ cookie: string; csrf: string }> {
  const r = await fx.call('POST', '/api/setup', { body: { setupCode: SETUP_CODE, password: 'firmware admin pw' } });
  return { cookie: sessionCookie(r), csrf: String(r.json.csrfToken) };
}

const audit = (fx: AdminFixture): Array<{ what: string; ok: boolean }> =>
  existsSync(join(fx.dataDir, AUDIT_FILE)) ? readFileSync(join(fx.dataDir, AUDIT_FILE), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { what: string; ok: boolean }) : [];
const leftovers = (fx: AdminFixture): string[] => readdirSync(fx.dataDir).filter((n) => n.startsWith('.firmware-upload'));

t.test('a development run (no slots): the page is told why, an upload is refused and nothing is written', async (t) => {
  const fx = await startAdmin();
  t.teardown(() => fx.stop());
  const s = await login(fx);
  const st = await fx.call('GET', '/api/firmware', s);
  t.equal(st.status, 200);
  t.equal(st.json.available, false);
  t.match(String(st.json.reason), /without update slots \(a development run\)/);
  const up = await fx.call('POST', '/api/firmware', { ...s, bytes: bundle('0.2.0') });
  t.equal(up.status, 409);
  t.equal(up.json.code, 'unavailable');
  t.match(up.json.error, /development run/);
  t.notOk(existsSync(join(fx.dataDir, FIRMWARE_RECORD_FILE)), 'no update record');
  t.same(leftovers(fx), []);
  t.match(audit(fx).at(-1), { what: 'uploaded a firmware bundle', ok: false });
});

t.test('upload, install, switch signal, verdict by ticket; refusals write nothing', async (t) => {
  const root = slotsRoot();
  const signals: string[] = [];
  let supervisorUp = true;
  const fx = await startAdmin({
    firmware: { slotsRoot: root, keys: () => [vendor.publicKey], signal: (r) => { signals.push(r); return true; }, supervised: () => supervisorUp, maxBytes: MAX },
  });
  t.teardown(async () => { await fx.stop(); rmSync(root, { recursive: true, force: true }); });
  const s = await login(fx);
  const send = (body: Buffer, query = '', o: RequestOptions = {}) => fx.call('POST', `/api/firmware${query}`, { ...s, bytes: body, ...o });

  const st = await fx.call('GET', '/api/firmware', s);
  t.match(st.json, { available: true, running: '0.1.0', committed: 'a', trial: null, supervisor: true, maxBytes: MAX });

  await t.test('refused: bad signature, changed file, downgrade, wrong type, too large; nothing written', async (t) => {
    const before = treeDigest(root);
    const strangerUp = await send(bundle('0.4.0', stranger.privateKey));
    t.equal(strangerUp.status, 400);
    t.same([strangerUp.json.code, strangerUp.json.error], ['bad-signature', 'the manifest is not signed by a trusted vendor key']);

    const entries = readTar(gunzipSync(bundle('0.4.0')), 100).map((e) => ({ ...e, data: Buffer.from(e.data) }));
    const victim = entries.find((e) => e.path === 'payload/dist/firmware/main.js')!;
    victim.data[100] = 0x79;
    const changed = await send(gzipSync(writeTar(entries)));
    t.equal(changed.status, 400);
    t.same([changed.json.code, changed.json.error], ['hash-mismatch', 'dist/firmware/main.js differs from the signed manifest']);

    const down = await send(bundle('0.0.9'));
    t.equal(down.status, 409);
    t.equal(down.json.code, 'downgrade');
    t.equal(down.json.field, 'force');
    t.match(down.json.error, /version 0\.0\.9 is older than the running 0\.1\.0: tick "Install an older version"/);
    t.notMatch(down.json.error, /--force/, 'the page is not told about a CLI flag');

    const typed = await send(bundle('0.4.0'), '', { headers: { 'content-type': 'text/plain' } });
    t.equal(typed.status, 415, 'only application/octet-stream');

    const big = Buffer.alloc(MAX + 1, 1);
    const tooBig = await send(big);
    t.equal(tooBig.status, 413, 'a declared length over the limit is refused before reading');
    t.equal(tooBig.json.code, 'too-large');
    // No declared length (chunked): refused as the bytes pass the limit; the connection may be cut.
    const chunked = await new Promise<number | string>((resolve) => {
      const req = https.request({
        host: '127.0.0.1', port: fx.webPort, method: 'POST', path: '/api/firmware', ca: fx.trusted, agent: false,
        headers: { cookie: s.cookie, 'x-csrf-token': s.csrf, 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' },
      }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      for (let i = 0; i < 5; i++) req.write(big.subarray(0, 60_000));
      req.end();
    });
    t.ok(chunked === 413 || chunked === 'ECONNRESET' || chunked === 'EPIPE', `chunked over the limit: ${chunked}`);

    t.equal(treeDigest(root), before, 'slots and state unchanged');
    t.same(signals, [], 'the supervisor was not told anything');
    t.notOk(existsSync(join(fx.dataDir, FIRMWARE_RECORD_FILE)));
    t.same(leftovers(fx), [], 'no upload left in the data folder');
    const refused = audit(fx).filter((e) => !e.ok).map((e) => e.what);
    for (const code of ['bad-signature', 'hash-mismatch', 'downgrade']) t.ok(refused.includes(`uploaded a firmware bundle, refused: ${code}`), `audit: refused ${code}`);
  });

  await t.test('a good bundle: installed into b on trial, supervisor told after the reply, committed', async (t) => {
    const good = bundle('0.2.0');
    const up = await send(good);
    t.equal(up.status, 200, up.text);
    t.match(up.json, { version: '0.2.0', from: '0.1.0', slot: 'b', files: 3, phase: 'switching' });
    t.match(String(up.json.ticket), /^[A-Za-z0-9_-]{40,}$/);
    t.equal(up.json.bytes, good.length, 'every byte arrived');
    t.equal(readFileSync(join(root, 'b/dist/firmware/main.js')).length, 40_000, 'the slot holds the payload');
    const state = new SlotStore(root).read();
    t.match(state.trial, { slot: 'b', version: '0.2.0', attempts: 0 });
    await new Promise((r) => setTimeout(r, 400));
    t.same(signals, [root], 'the supervisor is signalled once the reply is out');
    const rec = readFileSync(join(fx.dataDir, FIRMWARE_RECORD_FILE), 'utf8');
    t.notOk(rec.includes(String(up.json.ticket)), 'the ticket is kept hashed only');
    t.ok(audit(fx).some((e) => e.ok && e.what === 'installed firmware 0.2.0 into slot b (running 0.1.0)'), 'audit: installed');

    // The verdict by ticket, without a session (the switch logs everyone out).
    const ticket = String(up.json.ticket);
    const result = () => fx.call('GET', `/api/firmware/result/${ticket}`);
    t.match((await result()).json, { version: '0.2.0', phase: 'switching', reason: 'restarting into slot b' });
    t.equal((await fx.call('GET', `/api/firmware/result/${ticket.slice(0, -3)}abc`)).status, 404, 'a wrong ticket is unknown');
    const again = await send(bundle('0.3.0'));
    t.equal(again.status, 409, 'no second install while one is on trial');
    t.equal(again.json.code, 'slots');

    // What the supervisor does (update/supervisor.ts): start the trial, then commit it.
    const slots = new SlotStore(root);
    const plan = bootPlan(slots.read(), new Date());
    if (plan.kind !== 'trial') throw new Error('expected a trial');
    slots.write(plan.next);
    t.match((await result()).json, { phase: 'switching', reason: /0\.2\.0 is starting in slot b/ });
    slots.write(afterHealth(slots.read(), { ok: true, ms: 812 }, new Date()));
    t.match((await result()).json, { version: '0.2.0', from: '0.1.0', slot: 'b', phase: 'committed', reason: 'healthy after 812 ms' });
    t.match((await fx.call('GET', '/api/firmware', s)).json, { running: '0.2.0', committed: 'b', trial: null, last: { outcome: 'committed' } });
  });

  await t.test('a bundle that fails its health check: the ticket says rolled back and why', async (t) => {
    const up = await send(bundle('0.3.0'));
    t.equal(up.status, 200, up.text);
    t.equal(up.json.slot, 'a');
    await new Promise((r) => setTimeout(r, 400));
    const slots = new SlotStore(root);
    const plan = bootPlan(slots.read(), new Date());
    if (plan.kind === 'trial') slots.write(plan.next);
    slots.write(afterHealth(slots.read(), { ok: false, reason: 'the SIP port did not answer within 45 s' }, new Date()));
    const r = await fx.call('GET', `/api/firmware/result/${String(up.json.ticket)}`);
    t.match(r.json, { version: '0.3.0', phase: 'rolled-back', reason: 'the SIP port did not answer within 45 s' });
    t.equal(slots.read().committed, 'b', '0.2.0 stays');
  });

  await t.test('a forced downgrade; without a supervisor it waits for the next start', async (t) => {
    supervisorUp = false;
    const before = signals.length;
    const up = await send(bundle('0.1.5'), '?force=1');
    t.equal(up.status, 200, up.text);
    t.match(up.json, { version: '0.1.5', from: '0.2.0', phase: 'installed' });
    const r = await fx.call('GET', `/api/firmware/result/${String(up.json.ticket)}`);
    t.match(r.json, { phase: 'installed', reason: /no supervisor runs: slot a is tried at the next start/ });
    await new Promise((res) => setTimeout(res, 300));
    t.equal(signals.length, before, 'nobody to signal');
    t.ok(audit(fx).some((e) => e.ok && e.what === 'installed firmware 0.1.5 into slot a (running 0.2.0), forced'));
  });
});
