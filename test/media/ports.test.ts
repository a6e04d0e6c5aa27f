import t from 'tap';
import { PortPairAllocator } from '../../firmware/media/index.js';

const busy = (): Error => Object.assign(new Error('busy'), { code: 'EADDRINUSE' });

t.test('pairs are even RTP + odd RTCP inside the range', async (t) => {
  const a = new PortPairAllocator({ min: 10001, max: 10006 });
  t.equal(a.capacity, 2, '10002/10003 and 10004/10005; 10006 has no partner');
  const p1 = await a.allocate(async () => 'x');
  const p2 = await a.allocate(async () => 'y');
  t.same([p1.rtpPort, p1.rtcpPort, p2.rtpPort, p2.rtcpPort], [10002, 10003, 10004, 10005]);
  t.equal(p1.value, 'x');
  t.equal(a.inUse, 4);
});

t.test('exhaustion is a PbxError limit; reuse after free', async (t) => {
  const a = new PortPairAllocator({ min: 20000, max: 20003 });
  const p1 = await a.allocate(async () => 1);
  await a.allocate(async () => 2);
  await t.rejects(a.allocate(async () => 3), { name: 'PbxError', code: 'limit' });
  t.equal(a.inUse, 4);
  t.ok(a.free(p1.rtpPort));
  t.notOk(a.free(p1.rtpPort), 'freeing twice is harmless');
  const p3 = await a.allocate(async () => 3);
  t.equal(p3.rtpPort, p1.rtpPort);
});

t.test('busy ports are skipped; other bind errors are transport errors and leak nothing', async (t) => {
  const a = new PortPairAllocator({ min: 30000, max: 30005 });
  const tried: number[] = [];
  const p = await a.allocate(async (rtp) => {
    tried.push(rtp);
    if (rtp === 30000) throw busy();
    return rtp;
  });
  t.same(tried, [30000, 30002]);
  t.equal(p.rtpPort, 30002);
  t.equal(a.busySkips, 1);
  t.equal(a.inUse, 2, 'the busy pair is not held');
  await t.rejects(a.allocate(async () => { throw new Error('EPERM-ish'); }), { name: 'PbxError', code: 'transport' });
  t.equal(a.inUse, 2, 'a failed bind releases its pair');
  await t.rejects(a.allocate(async () => { throw busy(); }), { name: 'PbxError', code: 'limit' }, 'every free pair busy');
  t.equal(a.inUse, 2);
});

t.test('concurrent allocations never get the same pair', async (t) => {
  const a = new PortPairAllocator({ min: 40000, max: 40009 });
  const got = await Promise.all([1, 2, 3, 4, 5].map(() => a.allocate(async (rtp) => {
    await new Promise<void>((r) => setImmediate(r));
    return rtp;
  })));
  t.equal(new Set(got.map((p) => p.rtpPort)).size, 5);
});

t.test('a range without a pair is a config error', async (t) => {
  t.throws(() => new PortPairAllocator({ min: 5001, max: 5001 }), { name: 'PbxError', code: 'config' });
  t.throws(() => new PortPairAllocator({ min: 9, max: 3 }), { name: 'PbxError', code: 'config' });
  t.throws(() => new PortPairAllocator({ min: 0, max: 70000 }), { name: 'PbxError', code: 'config' });
});
