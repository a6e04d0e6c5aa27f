import t from 'tap';
import { routeCallee } from '../../firmware/pbx/routing/index.js';

t.test('registered contacts go over the flow they registered on, then the static contact', async (t) => {
  const r = routeCallee({ extension: '200', staticContact: 'sip:200@192.0.2.9:5070;transport=tcp' }, [
    { transport: 'tls', source: { address: '192.0.2.1', port: 40_000 }, flowId: 'f1', contact: 'sip:200@192.0.2.1:5061;transport=tls' },
    { transport: 'udp', source: { address: '192.0.2.2', port: 5060 }, contact: 'sip:200@10.0.0.2:5060' },
  ]);
  t.same(r.targets, [
    { target: { transport: 'tls', address: '192.0.2.1', port: 40_000, flowId: 'f1' }, contact: 'sip:200@192.0.2.1:5061;transport=tls', kind: 'registered' },
    { target: { transport: 'udp', address: '192.0.2.2', port: 5060 }, contact: 'sip:200@10.0.0.2:5060', kind: 'registered' },
    { target: { transport: 'tcp', address: '192.0.2.9', port: 5070 }, contact: 'sip:200@192.0.2.9:5070;transport=tcp', kind: 'static' },
  ]);
  t.same(r.problems, []);
});

t.test('RFC 3263 defaults for a static contact: sips -> TLS 5061, sip -> UDP 5060, IPv6 brackets dropped', async (t) => {
  t.same(routeCallee({ extension: '1', staticContact: 'sips:1@pbx.example' }, []).targets[0]!.target, { transport: 'tls', address: 'pbx.example', port: 5061 });
  t.same(routeCallee({ extension: '1', staticContact: 'sip:1@[2001:db8::1]' }, []).targets[0]!.target, { transport: 'udp', address: '2001:db8::1', port: 5060 });
});

t.test('nobody registered and no static contact: no targets; a broken static contact is reported, not thrown', async (t) => {
  t.same(routeCallee({ extension: '1', staticContact: null }, []), { targets: [], problems: [] });
  const bad = routeCallee({ extension: '7', staticContact: 'not a uri' }, []);
  t.same(bad.targets, []);
  t.match(bad.problems, [/static contact of 7/]);
});
