import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminServer, certSource, type AdminServerOptions, type LiveSource } from '../../firmware/admin/index.js';
import { ConfigStore } from '../../firmware/config/index.js';
import { executeCommand } from '../../firmware/control/index.js';
import { FakeClock, silentLogger, systemClock } from '../../firmware/core/index.js';
import { CertRenewer, loadOrCreatePki, type Pki } from '../../firmware/pki/index.js';
import { request, type Reply, type RequestOptions } from './client.js';

/**
 * An admin server over real HTTPS on loopback, with a fresh data folder, the
 * real command implementation behind it, a fake clock for sessions and
 * throttles, and the setup code set as the console would print it.
 */

export const SETUP_CODE = 'ABCD2345';

export interface AdminFixture {
  readonly root: string;
  readonly dataDir: string;
  readonly store: ConfigStore;
  readonly pki: Pki;
  readonly clock: FakeClock;
  readonly admin: AdminServer;
  readonly webPort: number;
  readonly httpPort: number;
  /** Fires every live-update listener, as a registration or call change would. */
  readonly changed: () => void;
  readonly listeners: ReadonlySet<() => void>;
  /** CAs the client trusts; push to it when the box presents another CA's certificate. */
  readonly trusted: string[];
  readonly call: (method: string, path: string, o?: RequestOptions) => Promise<Reply>;
  readonly stop: () => Promise<void>;
}

export type FixtureOptions = Partial<Pick<AdminServerOptions, 'loginThrottle' | 'accountDelay' | 'onHandler' | 'selfHosts' | 'defaultHost' | 'firmware'>>;

export async function startAdmin(o: FixtureOptions = {}): Promise<AdminFixture> {
  const root = mkdtempSync(join(tmpdir(), 'pbx-admin-'));
  const dataDir = join(root, 'box');
  const store = await ConfigStore.open(dataDir, { log: silentLogger });
  await store.update((d) => { d.admin.setupCode = SETUP_CODE; });
  const pki = await loadOrCreatePki(dataDir);
  const renewer = new CertRenewer({ pki, clock: systemClock });
  const clock = new FakeClock(Date.now());
  const listeners = new Set<() => void>();
  const live: LiveSource = { onChange: (fn) => { listeners.add(fn); return () => listeners.delete(fn); } };
  let admin: AdminServer | undefined;
  const certs = certSource({ pki, renewer, clock: systemClock, swap: (m) => admin?.setTlsMaterial(m) });
  renewer.onRenew((m) => admin?.setTlsMaterial(m));
  admin = new AdminServer({
    bind: '127.0.0.1', webPort: 0, httpPort: 0, tls: pki.tlsMaterial(),
    caPem: () => pki.caCertPem, caDer: () => pki.caDer(), log: silentLogger,
    store, clock, live,
    execute: (req) => executeCommand({ store, dataDir, certs }, req),
    // A development run's firmware routes (no slots) unless a test gives slots: the route walks cover them.
    firmware: { slotsRoot: null, keys: () => [] },
    ...o,
  });
  const { webPort, httpPort } = await admin.start();
  const trusted = [pki.caCertPem];
  const server = admin;
  return {
    root, dataDir, store, pki, clock, admin: server, webPort, httpPort, listeners, trusted,
    changed: () => { for (const fn of listeners) fn(); },
    call: (method, path, opts = {}) => request(webPort, trusted, method, path, opts),
    stop: async () => {
      await server.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
