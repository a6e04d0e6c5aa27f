/**
 * The old two-party requests are a translation onto the N-leg ones
 * (firmware/media/two-party.ts): what each leaves behind, seen through the
 * N-leg stats, and that a malformed one changes nothing.
 */
import t from 'tap';
import { FakeClock } from '../../firmware/core/index.js';
import { MediaEngine, type EngineRequest, type RemoteInfo, type RemoteMedia, type SessionStats } from '../../firmware/media/index.js';
import { SRTP_SUITES, type SrtpSessionOptions } from '../../firmware/media/srtp/index.js';
import { FakeNet, legOf, offerOf } from './helpers.js';

const ALICE: RemoteInfo = { address: '10.0.0.2', port: 4000 };
const BOB: RemoteInfo = { address: '10.0.0.3', port: 6000 };

function remote(at: RemoteInfo): RemoteMedia {
  return { rtp: { ...at }, rtcp: { address: at.address, port: at.port + 1 }, rtcpMux: false, direction: 'sendrecv' };
}

function key(byte: number, length?: number): SrtpSessionOptions {
  const s = SRTP_SUITES.AES_CM_128_HMAC_SHA1_80;
  return { suite: 'AES_CM_128_HMAC_SHA1_80', masterKey: Buffer.alloc(length ?? s.keyLength, byte), masterSalt: Buffer.alloc(s.saltLength, byte) };
}

async function rig() {
  const net = new FakeNet();
  const engine = new MediaEngine({ bindAddress: '0.0.0.0', advertiseAddress: '192.0.2.1', portRange: { min: 10000, max: 10099 }, clock: new FakeClock(), socketFactory: net.factory });
  const stats = async (): Promise<SessionStats> => {
    const r = await engine.request({ op: 'stats', sessionId: 's' });
    if (r.op !== 'stats') throw new Error('stats');
    return r.sessions[0]!;
  };
  return { net, engine, stats };
}

t.test('offer = create + add-leg a + add-leg b + connect both ways; answer and map land on those legs and connections', async (t) => {
  const { engine, stats } = await rig();
  const { a, b } = offerOf(await engine.request({ op: 'offer', sessionId: 's', a: remote(ALICE), security: { a: { kind: 'srtp-pending' } } }));
  let st = await stats();
  t.same(Object.keys(st.legs), ['a', 'b']);
  t.same(legOf(st, 'a').local, a);
  t.same(legOf(st, 'b').local, b);
  t.same(st.connections, [{ from: 'a', to: 'b' }, { from: 'b', to: 'a' }]);
  t.equal(legOf(st, 'a').security, 'srtp-pending');
  t.same(legOf(st, 'a').remote, ALICE);
  t.notOk(legOf(st, 'b').remote, 'the callee is not known yet');

  await engine.request({ op: 'answer', sessionId: 's', b: remote(BOB), security: { a: { kind: 'rtp' }, b: { kind: 'rtp' } } });
  st = await stats();
  t.equal(legOf(st, 'a').security, 'rtp', 'the answer settles a pending leg as plain RTP (best-effort SDES declined)');
  t.same(legOf(st, 'b').remote, BOB);

  await engine.request({ op: 'map', sessionId: 's', aToB: { 96: 101 } });
  await engine.request({ op: 'update', sessionId: 's', leg: 'a', remote: remote(ALICE), ptMap: { 101: 96 } });
  st = await stats();
  t.same(st.connections, [{ from: 'a', to: 'b', ptMap: { 96: 101 } }, { from: 'b', to: 'a', ptMap: { 101: 96 } }],
    'update ptMap is the map of packets sent toward that leg');
  await t.rejects(engine.request({ op: 'update', sessionId: 's', leg: 'c' as 'a', remote: remote(ALICE) }), { code: 'protocol' });
});

t.test('a malformed or refused two-party request changes nothing', async (t) => {
  const { net, engine, stats } = await rig();
  await t.rejects(engine.request({ op: 'offer', sessionId: 's', a: { ...remote(ALICE), direction: 'up' } as unknown as RemoteMedia }), { code: 'protocol' });
  t.equal(net.bound.size, 0, 'a bad offer leaves no session and no port');
  await t.rejects(engine.request({ op: 'offer', sessionId: 's', security: { b: { kind: 'srtp', rx: key(1, 3), tx: key(2) } } }), { code: 'config' });
  t.equal(net.bound.size, 0, 'nor does one whose keys are bad');
  await t.rejects(engine.request({ op: 'stats', sessionId: 's' }), { code: 'not-found' });

  offerOf(await engine.request({ op: 'offer', sessionId: 's', a: remote(ALICE), security: { a: { kind: 'srtp-pending' } } }));
  await t.rejects(engine.request({ op: 'offer', sessionId: 's' }), { code: 'conflict' });
  t.equal(net.bound.size, 4, 'the refused second offer did not touch the first');
  // The answer's keys for b are bad: leg a must not have been keyed either.
  await t.rejects(engine.request({
    op: 'answer', sessionId: 's', b: remote(BOB),
    security: { a: { kind: 'srtp', rx: key(3), tx: key(4) }, b: { kind: 'srtp', rx: key(5, 3), tx: key(6) } },
  }), { code: 'config' });
  let st = await stats();
  t.equal(legOf(st, 'a').security, 'srtp-pending');
  t.notOk(legOf(st, 'b').remote);
  await t.rejects(engine.request({ op: 'map', sessionId: 's', aToB: { 1: 2 }, bToA: { 1: 999 } }), { code: 'protocol' });
  st = await stats();
  t.same(st.connections, [{ from: 'a', to: 'b' }, { from: 'b', to: 'a' }], 'neither map was applied');
  const junk = JSON.parse('{"op":"answer","sessionId":"s","b":null}') as EngineRequest;
  await t.rejects(engine.request(junk), { code: 'protocol' });
});
