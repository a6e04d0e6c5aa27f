import t from 'tap';
import { parseUri } from '../../../firmware/sip/message/index.js';
import { isSelfHost, isSelfUri, type SelfAddresses } from '../../../firmware/sip/transport/index.js';

const self: SelfAddresses = {
  hosts: new Set(['pbx', 'pbx.local', '192.168.1.10', 'fe80::1']),
  ports: { udp: 5060, tcp: 5060, tls: 5061 },
};
const is = (u: string): boolean => isSelfUri(parseUri(u), self);

t.test('a URI is the box only when host AND port match (RFC 3263 default ports)', async (t) => {
  t.ok(is('sip:1001@192.168.1.10'), 'sip: without a port means 5060');
  t.ok(is('sip:1001@192.168.1.10:5060'));
  t.ok(is('sips:1001@192.168.1.10'), 'sips: without a port means 5061');
  t.ok(is('sip:1001@pbx.local;transport=tls'), 'transport=tls means 5061');
  t.ok(is('sip:1001@[fe80::1]:5060'), 'IPv6 reference');
  t.notOk(is('sip:1001@192.168.1.10:5070'), 'same host, another port: a phone on the box address, not the box');
  t.notOk(is('sips:1001@192.168.1.10:5060'), 'sips to the UDP/TCP port is not our TLS listener');
  t.notOk(is('sip:1001@192.168.1.11'), 'another host');
  t.notOk(is('tel:+15551234'), 'tel: never names the box');
});

t.test('transport-specific ports are honoured', async (t) => {
  const split: SelfAddresses = { hosts: self.hosts, ports: { udp: 5060, tcp: 5070, tls: 5061 } };
  t.ok(isSelfUri(parseUri('sip:pbx:5070;transport=tcp'), split));
  t.notOk(isSelfUri(parseUri('sip:pbx:5070;transport=udp'), split));
  t.ok(isSelfUri(parseUri('sip:pbx:5070'), split), 'no transport: either UDP or TCP port');
});

t.test('isSelfHost ignores case and IPv6 brackets', async (t) => {
  t.ok(isSelfHost('PBX.local', self));
  t.ok(isSelfHost('[FE80::1]', self));
  t.notOk(isSelfHost('example.com', self));
});
