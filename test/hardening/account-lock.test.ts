/**
 * Issue 20, the account-wide guessing lock over real sockets: the appliance
 * booted in-process on 127.0.0.1, phones and guessers on other loopback
 * addresses (127.0.0.x, each a source of its own). Wrong passwords for one
 * account spread over several sources, none of them over its own limits,
 * lock that account for untrusted sources; a phone of another account at one
 * of the guessing addresses keeps registering, and so does the locked
 * account's own phone from the address it authenticated from before. A
 * change of the limits in the config applies to the running box at once.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { addAccount } from '../../firmware/config/index.js';
import { silentLogger } from '../../firmware/core/index.js';
import { startAppliance } from '../../firmware/main.js';
import { getHeader } from '../../firmware/sip/message/index.js';
import { TestUa, type UaTransport } from '../integration/ua.js';

const LOCKED = '100';
const OTHER = '101';
const PASSWORDS: Record<string, string> = { [LOCKED]: 'right-100-pass', [OTHER]: 'right-101-pass' };
/** Five guessing sources, two wrong passwords each: 10, the default per-minute limit, account-wide; 2 per source. */
const GUESSERS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'];
const GUESSES_EACH = 2;
const TRUSTED_PHONE = '127.0.0.20';
const NEW_SOURCE = '127.0.0.7';

const root = mkdtempSync(join(tmpdir(), 'pbx-account-lock-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const app = await startAppliance({ dataDir: join(root, 'box'), bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, print: () => {}, log: silentLogger, nightlyBackup: false });
t.teardown(() => app.stop());
for (const ext of [LOCKED, OTHER]) await app.store.update((d) => addAccount(d, { extension: ext, password: PASSWORDS[ext]! }));

const uas: TestUa[] = [];
t.teardown(async () => { for (const u of uas) await u.close(); });
async function phone(user: string, from: string, transport: UaTransport = 'udp'): Promise<TestUa> {
  const port = transport === 'tls' ? app.info.ports.sipTls : transport === 'tcp' ? app.info.ports.sipTcp : app.info.ports.sipUdp;
  const u = await TestUa.open({
    transport, port, user, password: PASSWORDS[user]!, localAddress: from, ...(transport === 'tls' ? { ca: readFileSync(app.info.caPath) } : {}),
  });
  uas.push(u);
  return u;
}

t.test('wrong passwords for one account from several sources lock that account; another account at the same sources keeps registering', async (t) => {
  const trusted = await phone(LOCKED, TRUSTED_PHONE);
  t.equal((await trusted.register({ expires: 600 })).status, 200, `${LOCKED}'s own phone registers from ${TRUSTED_PHONE} before the attack`);

  for (const address of GUESSERS) {
    const g = await phone(LOCKED, address);
    for (let i = 0; i < GUESSES_EACH; i++) {
      const r = await g.register({ password: `guess-${address}-${i}` });
      t.equal(r.status, 403, `wrong password ${i + 1} from ${address}: 403`);
    }
  }
  const counts = app.status().counters ?? {};
  t.equal(counts['sip.guess.lock.account'], 1, 'one account-wide lock');
  t.notOk(counts['sip.guess.lock.source'], 'no source went over its own limit');
  t.same(app.throttle.blocked(), [], 'and no address is blocked by the source throttle');
  const blocked = app.status().blocked ?? [];
  t.match(blocked, [{ extension: LOCKED, scope: 'account', failures: GUESSERS.length * GUESSES_EACH }], 'pbx block list shows the account lock');
  t.notOk(blocked.some((b) => b.extension === OTHER), `${OTHER} is not locked`);

  // The right password from a source the account never authenticated from is refused while the lock lasts.
  const fresh = await phone(LOCKED, NEW_SOURCE);
  const refused = await fresh.register();
  t.equal(refused.status, 403, 'the right password from a new source is refused');
  t.equal(refused.reason, 'Too Many Failed Attempts');
  t.ok(Number(getHeader(refused, 'retry-after')) > 0, 'with a Retry-After');
  const fromGuesser = await phone(LOCKED, GUESSERS[1]!);
  t.equal((await fromGuesser.register()).status, 403, 'and from a guessing source');

  // Another account's phones at the guessing addresses, over UDP and TCP, are not touched.
  for (const [i, address] of GUESSERS.entries()) {
    const p = await phone(OTHER, address, i % 2 === 0 ? 'udp' : 'tcp');
    t.equal((await p.register({ expires: 600 })).status, 200, `${OTHER} registers from guessing source ${address} (${i % 2 === 0 ? 'udp' : 'tcp'})`);
  }
  t.equal((await trusted.register({ expires: 600 })).status, 200, `${LOCKED}'s phone from its trusted address keeps registering`);
  const bound = (app.status().registrations ?? []).filter((r) => r.extension === OTHER).map((r) => r.source.address).sort();
  t.same(bound, [...GUESSERS].sort(), `${OTHER} is bound from every guessing source`);

  // The config's limits apply live: at 20 a minute the 10 failures no longer lock.
  await app.store.update((d) => { d.sip.guessesPerMinute = 20; });
  t.equal((await fresh.register()).status, 200, 'after guessesPerMinute is raised to 20 the new source registers, without a restart');
  t.same((app.status().blocked ?? []).filter((b) => b.extension === LOCKED), [], 'and the lock is gone from the list');
});
