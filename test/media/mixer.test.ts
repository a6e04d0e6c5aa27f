/**
 * The conference mixer ('mix' / 'unmix'): each member hears the others and
 * not itself (mix-minus), in its own codec, under its own SRTP keys; legs the
 * box cannot decrypt are refused.
 */
import t from 'tap';
import { ok } from './helpers.js';
import { decodeAll, header, power, rig, srtpPhone, tonePacket } from './features.js';

t.test('three members with 1000/600/400 Hz tones: each hears the other two and not its own; one PCMA, one SRTP', async (t) => {
  const r = await rig();
  const c = srtpPhone();
  await r.add('A');
  await r.add('B');
  await r.add('C', c.security);
  const law = { A: 'PCMU', B: 'PCMA', C: 'PCMU' } as const;
  const hz = { A: 1000, B: 600, C: 400 } as const;
  for (const leg of ['A', 'B', 'C'] as const) {
    await r.engine.request({ op: 'mix', sessionId: 's', mixer: 'conf', leg, codec: law[leg], payloadType: law[leg] === 'PCMU' ? 0 : 8 });
  }
  for (let f = 0; f < 50; f++) {
    r.send('A', tonePacket('PCMU', hz.A, f, 0xa));
    r.send('B', tonePacket('PCMA', hz.B, f, 0xb));
    r.send('C', ok(c.out.protectRtp(tonePacket('PCMU', hz.C, f, 0xc))));
    r.clock.advance(20);
  }
  const clearOf = (leg: 'A' | 'B' | 'C') => (leg === 'C' ? r.heard('C').map((p) => ok(c.in.unprotectRtp(Buffer.from(p)))) : r.heard(leg));
  for (const leg of ['A', 'B', 'C'] as const) {
    const pkts = clearOf(leg);
    t.equal(pkts.length, 50, `${leg}: 50 packets a second`);
    t.ok(pkts.every((p) => header(p).payloadType === (law[leg] === 'PCMU' ? 0 : 8)), `${leg}: its own codec`);
    t.ok(pkts.every((p) => header(p).ssrc === header(pkts[0]!).ssrc), `${leg}: one stream`);
    const pcm = decodeAll(law[leg], pkts.slice(10));
    const own = power(pcm, hz[leg]);
    const others = (['A', 'B', 'C'] as const).filter((x) => x !== leg).map((x) => power(pcm, hz[x]));
    t.ok(others.every((p) => p > 1000 * own), `${leg} hears the others (${others.map((p) => p.toFixed(0))}) and not itself (${own.toFixed(2)})`);
  }
  t.equal((await r.leg('B')).mixer, 'conf');
  await r.engine.request({ op: 'unmix', sessionId: 's', mixer: 'conf', leg: 'A' });
  await r.engine.request({ op: 'unmix', sessionId: 's', mixer: 'conf', leg: 'B' });
  await r.engine.request({ op: 'unmix', sessionId: 's', mixer: 'conf', leg: 'C' });
  t.notOk((await r.stats()).mixers, 'the last member leaving removes the mixer');
  t.equal(r.clock.fake.timerCount, 1, 'and its frame timer');
});

t.test('refused on legs the box cannot decrypt, and hostile fields', async (t) => {
  const r = await rig();
  await r.add('A', { kind: 'srtp-relay' });
  await r.add('B', { kind: 'srtp-pending' });
  await r.add('C');
  const mix = (patch: Record<string, unknown>) => r.engine.request({ op: 'mix', sessionId: 's', mixer: 'm', leg: 'C', codec: 'PCMU', payloadType: 0, ...patch } as never);
  await t.rejects(mix({ leg: 'A' }), { code: 'invalid-state', message: /end-to-end encrypted/ });
  await t.rejects(mix({ leg: 'B' }), { code: 'invalid-state' });
  await t.rejects(mix({ codec: 'G722' }), { code: 'protocol' });
  await t.rejects(mix({ payloadType: 300 }), { code: 'protocol' });
  await t.rejects(mix({ mixer: '' }), { code: 'protocol' });
  await t.rejects(mix({ leg: 3 }), { code: 'protocol' });
  t.notOk((await r.stats()).mixers);
});
