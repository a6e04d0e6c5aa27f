/**
 * Appliance.stop leaves nothing running: the appliance booted in-process on
 * 127.0.0.1 with a clock that keeps a list of the timers it set and has not
 * fired or cancelled. A phone registers and subscribes to its mailbox's
 * message-waiting (RFC 3842: the box holds an hour's expiry timer and sends
 * a NOTIFY the phone never answers, a client transaction retransmitting for
 * 32 s); after stop no such timer may be left, and no handle that would keep
 * the process alive (the system clock's timers are unref'd, so only the
 * tracking clock can see them).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { addAccount } from '../../firmware/config/index.js';
import { silentLogger, type Clock, type TimerHandle } from '../../firmware/core/index.js';
import { startAppliance } from '../../firmware/main.js';
import { digestAuthorization } from '../../firmware/sip/digest/index.js';
import { getHeader } from '../../firmware/sip/message/index.js';
import { TestUa } from '../integration/ua.js';

/** Real time, but every timer set and still due is listed with where it was set. */
class TrackingClock implements Clock {
  readonly live = new Map<number, string>();
  private next = 0;
  now(): number { return Date.now(); }
  setTimer(ms: number, fn: () => void): TimerHandle {
    const id = this.next++;
    const where = (new Error().stack ?? '').split('\n').slice(2, 5).map((l) => l.trim()).join(' < ');
    this.live.set(id, where);
    const h = setTimeout(() => { this.live.delete(id); fn(); }, ms);
    h.unref();
    return { cancel: () => { clearTimeout(h); this.live.delete(id); } };
  }
}

const EXT = '100';
const PASSWORD = 'stop-test-password';

t.test('stop leaves no timer behind: message-waiting expiry, the NOTIFY\'s retransmissions, the voicemail store', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'pbx-stop-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const clock = new TrackingClock();
  // What tap itself holds (its pipe, its timeout): the appliance may leave nothing beyond it.
  const baseline = process.getActiveResourcesInfo();
  const app = await startAppliance({
    dataDir: join(root, 'box'), bind: '127.0.0.1', sipPort: 0, tlsPort: 0, webPort: 0, httpPort: 0, print: () => {}, log: silentLogger, clock, nightlyBackup: false,
  });
  let stopped = false;
  t.teardown(async () => { if (!stopped) await app.stop(); });
  await app.store.update((d) => addAccount(d, { extension: EXT, password: PASSWORD }));

  const ua = await TestUa.open({ transport: 'udp', port: app.info.ports.sipUdp, user: EXT, password: PASSWORD });
  let uaOpen = true;
  t.teardown(async () => { if (uaOpen) await ua.close(); });
  t.equal((await ua.register({ expires: 600 })).status, 200, 'registered');
  const ruri = `sip:${EXT}@127.0.0.1`;
  const headers = ['Event: message-summary', 'Accept: application/simple-message-summary', 'Expires: 3600', `Contact: <${ua.contactUri}>`];
  const first = await ua.request('SUBSCRIBE', headers, ruri);
  t.equal(first.status, 401, 'SUBSCRIBE challenged');
  const authorization = digestAuthorization({ challenge: getHeader(first, 'www-authenticate')!, method: 'SUBSCRIBE', uri: ruri, username: EXT, password: PASSWORD });
  const ok = await ua.request('SUBSCRIBE', [...headers, `Authorization: ${authorization}`], ruri);
  t.equal(ok.status, 200, 'subscribed to message-waiting');
  t.ok([...clock.live.values()].some((w) => w.includes('mwi')), 'the subscription\'s expiry timer is running');

  await app.stop();
  stopped = true;
  await new Promise((r) => setImmediate(r));
  t.same([...clock.live.values()], [], 'no timer set through the appliance\'s clock is left after stop');
  await ua.close();
  uaOpen = false;
  await new Promise((r) => setTimeout(r, 50));
  const left = [...process.getActiveResourcesInfo()];
  for (const r of baseline) { const i = left.indexOf(r); if (i >= 0) left.splice(i, 1); }
  t.same(left, [], 'and no socket, server, file or ref\'d timer of the appliance holds the process');
});
