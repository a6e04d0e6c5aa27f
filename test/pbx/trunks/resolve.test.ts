import t from 'tap';
import { seededRandom } from '../../../firmware/core/index.js';
import { MAX_TARGETS, orderSrv, resolveTrunk, type DnsResolver, type NaptrRecord, type SrvRecord } from '../../../firmware/pbx/trunks/index.js';

/** RFC 3263 resolution with an injected resolver: NAPTR -> SRV -> A, and the fallbacks of 4.1/4.2. */

function zone(z: { naptr?: Record<string, NaptrRecord[]>; srv?: Record<string, SrvRecord[]>; a?: Record<string, string[]> }): DnsResolver & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    naptr: async (n) => { asked.push(`NAPTR ${n}`); return z.naptr?.[n] ?? []; },
    srv: async (n) => { asked.push(`SRV ${n}`); return z.srv?.[n] ?? []; },
    addresses: async (n) => { asked.push(`A ${n}`); if (n === 'broken.example') throw new Error('SERVFAIL'); return z.a?.[n] ?? []; },
  };
}

const provider = {
  naptr: {
    'voip.example': [
      { order: 20, preference: 50, flags: 's', service: 'SIP+D2U', replacement: '_sip._udp.voip.example' },
      { order: 10, preference: 50, flags: 's', service: 'SIPS+D2T', replacement: '_sips._tcp.voip.example' },
      { order: 15, preference: 50, flags: 's', service: 'SIP+D2T', replacement: '_sip._tcp.voip.example' },
    ],
  },
  srv: {
    '_sip._udp.voip.example': [
      { priority: 20, weight: 0, port: 5070, name: 'backup.voip.example' },
      { priority: 10, weight: 10, port: 5060, name: 'sip1.voip.example' },
    ],
    '_sips._tcp.voip.example': [{ priority: 10, weight: 0, port: 5061, name: 'tls.voip.example' }],
  },
  a: {
    'sip1.voip.example': ['192.0.2.1', '192.0.2.2'],
    'backup.voip.example': ['198.51.100.7'],
    'tls.voip.example': ['192.0.2.50'],
    'voip.example': ['203.0.113.9'],
    'plain.example': ['203.0.113.20'],
  },
};

t.test('NAPTR for the configured transport, then SRV by priority, then addresses: the failover order', async (t) => {
  const dns = zone(provider);
  const r = await resolveTrunk({ host: 'voip.example', transport: 'udp' }, dns, seededRandom(1));
  t.same(r.map((x) => `${x.address}:${x.port}`), ['192.0.2.1:5060', '192.0.2.2:5060', '198.51.100.7:5070']);
  t.ok(r.every((x) => x.transport === 'udp' && x.serverName === 'voip.example'), 'TLS would check the domain, not the SRV target (RFC 5922 4)');
  t.same(dns.asked.slice(0, 2), ['NAPTR voip.example', 'SRV _sip._udp.voip.example'], 'the SIP+D2U NAPTR named the SRV');
  const tls = await resolveTrunk({ host: 'voip.example', transport: 'tls' }, zone(provider), seededRandom(1));
  t.same(tls.map((x) => `${x.transport}:${x.address}:${x.port}`), ['tls:192.0.2.50:5061'], 'SIPS+D2T for a TLS trunk; never downgraded to UDP');
});

t.test('no NAPTR: the transport\'s SRV name; no SRV: the host on the default port (RFC 3263 4.2)', async (t) => {
  const dns = zone({ srv: { '_sip._tcp.plain.example': [] }, a: provider.a });
  const r = await resolveTrunk({ host: 'plain.example', transport: 'tcp' }, dns, seededRandom(1));
  t.same(r, [{ transport: 'tcp', address: '203.0.113.20', port: 5060, serverName: 'plain.example' }]);
  t.same(dns.asked, ['NAPTR plain.example', 'SRV _sip._tcp.plain.example', 'A plain.example']);
  const tls = await resolveTrunk({ host: 'plain.example', transport: 'tls' }, zone({ a: provider.a }), seededRandom(1));
  t.equal(tls[0]!.port, 5061);
});

t.test('an explicit port or a numeric host asks no NAPTR or SRV', async (t) => {
  const dns = zone(provider);
  const r = await resolveTrunk({ host: 'voip.example', port: 5080, transport: 'udp' }, dns, seededRandom(1));
  t.same(r.map((x) => `${x.address}:${x.port}`), ['203.0.113.9:5080']);
  t.same(dns.asked, ['A voip.example']);
  const ip = await resolveTrunk({ host: '[2001:db8::5]', transport: 'tls' }, dns, seededRandom(1));
  t.same(ip, [{ transport: 'tls', address: '2001:db8::5', port: 5061, serverName: '2001:db8::5' }]);
});

t.test('a failing lookup is no records, not a crash; "." means no service; results are capped', async (t) => {
  t.same(await resolveTrunk({ host: 'broken.example', transport: 'udp' }, zone({}), seededRandom(1)), []);
  const dot = zone({ srv: { '_sip._udp.x.example': [{ priority: 0, weight: 0, port: 0, name: '.' }] }, a: { 'x.example': ['192.0.2.99'] } });
  t.same((await resolveTrunk({ host: 'x.example', transport: 'udp' }, dot, seededRandom(1))).map((x) => x.address), ['192.0.2.99']);
  const many: Record<string, string[]> = { 'big.example': Array.from({ length: 40 }, (_, i) => `10.0.0.${i + 1}`) };
  t.equal((await resolveTrunk({ host: 'big.example', transport: 'udp' }, zone({ a: many }), seededRandom(1))).length, MAX_TARGETS);
});

t.test('SRV weights (RFC 2782): priority first, then weighted random; heavier is first more often', async (t) => {
  const recs: SrvRecord[] = [
    { priority: 1, weight: 90, port: 1, name: 'heavy' }, { priority: 1, weight: 10, port: 2, name: 'light' }, { priority: 0, weight: 0, port: 3, name: 'first' },
  ];
  const r = seededRandom(5);
  let heavyFirst = 0;
  let notFirst = 0;
  for (let i = 0; i < 1000; i++) {
    const o = orderSrv(recs, r);
    if (o[0]!.name !== 'first') notFirst++;
    if (o[1]!.name === 'heavy') heavyFirst++;
  }
  t.equal(notFirst, 0, 'the lowest priority value always first');
  t.ok(heavyFirst > 800 && heavyFirst < 980, `weight 90 of 100 goes first ${heavyFirst}/1000 times`);
});
