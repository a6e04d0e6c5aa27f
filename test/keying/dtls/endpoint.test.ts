import t from 'tap';
import { Pair, cert } from './pair.js';

t.test('smoke', async (t) => {
  const p = new Pair();
  p.handshake();
  t.same(p.failed, {});
  t.equal(p.client.state, 'established');
  t.equal(p.server.state, 'established');
  t.same(Buffer.from(p.connected.client!.srtp.localTx.masterKey), Buffer.from(p.connected.server!.srtp.localRx.masterKey));
  console.log(p.connected.client?.profile, p.connected.client?.suite, p.log.length, p.clock.now() - Date.UTC(2026, 0, 1));
  void cert;
});
