import t from 'tap';
import fc from 'fast-check';
import { isIPv6 } from 'node:net';
import { canonicalIp, hostIdentityFrom, ipFromBytes, ipToBytes, missingNames, serverAltNames } from '../../firmware/pki/index.js';

t.test('ipToBytes: RFC 5280 4.2.1.6 iPAddress octets for v4, v6 and embedded v4', async (t) => {
  t.equal(ipToBytes('192.0.2.1')?.toString('hex'), 'c0000201');
  t.equal(ipToBytes('::1')?.toString('hex'), '00000000000000000000000000000001');
  t.equal(ipToBytes('::')?.toString('hex'), '0'.repeat(32));
  t.equal(ipToBytes('2001:db8::1:0:0:1')?.toString('hex'), '20010db8000000000001000000000001');
  t.equal(ipToBytes('::ffff:192.0.2.1')?.toString('hex'), '00000000000000000000ffffc0000201');
  t.equal(ipToBytes('fe80::1%eth0')?.toString('hex'), 'fe800000000000000000000000000001', 'zone index dropped');
  t.equal(ipToBytes('pbx.local'), null);
  t.equal(ipToBytes('1.2.3'), null);
  t.equal(ipToBytes('1::2::3'), null);
});

t.test('ipFromBytes: RFC 5952 4.2 compress the longest zero run, first on a tie; 4.3 lower case', async (t) => {
  t.equal(ipFromBytes(Buffer.from('20010db8000000000001000000000001', 'hex')), '2001:db8::1:0:0:1', 'RFC 5952 4.2.3: on a tie the first run is compressed');
  t.equal(ipFromBytes(Buffer.from('20010db8000000010000000000000001', 'hex')), '2001:db8:0:1::1');
  t.equal(ipFromBytes(Buffer.from('20010db8000000000001000000000000', 'hex')), '2001:db8:0:0:1::', 'RFC 5952 4.2.3: the longest run is compressed');
  t.equal(ipFromBytes(Buffer.from('20010db8000100010001000100010001', 'hex')), '2001:db8:1:1:1:1:1:1', 'RFC 5952 4.2.2: a single zero group is not compressed');
  t.equal(ipFromBytes(Buffer.from('20010db8000000010001000100010001', 'hex')), '2001:db8:0:1:1:1:1:1');
  t.equal(ipFromBytes(Buffer.from('FE800000000000000000000000000001', 'hex')), 'fe80::1');
  t.equal(ipFromBytes(Buffer.alloc(16)), '::');
  t.equal(ipFromBytes(Buffer.from([10, 0, 0, 1])), '10.0.0.1');
  t.equal(ipFromBytes(Buffer.alloc(5)), null);
  t.equal(canonicalIp('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
});

t.test('ip text <-> bytes round trip (property)', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
      const text = ipFromBytes(b);
      return text !== null && isIPv6(text) && ipToBytes(text)!.equals(Buffer.from(b));
    }),
  );
  fc.assert(fc.property(fc.ipV6(), (ip) => ipFromBytes(ipToBytes(ip)!) === canonicalIp(ip)));
  fc.assert(fc.property(fc.ipV4(), (ip) => ipFromBytes(ipToBytes(ip)!) === ip));
  t.pass('properties hold');
});

t.test('hostIdentityFrom reads every interface address once, canonical', async (t) => {
  const id = hostIdentityFrom('PBX', {
    lo: [{ address: '127.0.0.1' }, { address: '::1' }],
    eth0: [{ address: '192.168.1.20' }, { address: 'FE80::0001' }],
    wlan0: [{ address: '192.168.1.20' }],
    down: undefined,
  });
  t.equal(id.hostname, 'pbx');
  t.same(id.addresses, ['192.168.1.20', 'fe80::1', '127.0.0.1', '::1']);
});

t.test('serverAltNames: every address both as iPAddress and as dNSName text', async (t) => {
  const sans = serverAltNames({ hostname: 'pbx', addresses: ['192.168.1.20', 'fe80::1'] });
  t.same(sans.filter((s) => s.type === 'dns').map((s) => s.value), ['pbx', 'pbx.local', 'localhost', '127.0.0.1', '::1', '192.168.1.20', 'fe80::1']);
  t.same(sans.filter((s) => s.type === 'ip').map((s) => s.value), ['127.0.0.1', '::1', '192.168.1.20', 'fe80::1']);
  const fqdn = serverAltNames({ hostname: 'pbx.office.example', addresses: [] });
  t.ok(fqdn.some((s) => s.value === 'pbx.office.example'));
  t.ok(fqdn.some((s) => s.value === 'pbx.local'), 'mDNS name uses the first label');
  const dotLocal = serverAltNames({ hostname: 'pbx.local', addresses: [] });
  t.equal(dotLocal.filter((s) => s.value === 'pbx.local').length, 1, 'no duplicate');
  const odd = serverAltNames({ hostname: 'bürobox', addresses: [] });
  t.notOk(odd.some((s) => s.value.includes('ü')), 'RFC 5280 4.2.1.6: dNSName is IA5String, non-ASCII left out');
});

t.test('missingNames compares IPs by bytes and DNS names case-insensitively (RFC 5280 7.2)', async (t) => {
  const have = [{ type: 'ip', value: '2001:db8::1' }, { type: 'dns', value: 'PBX.local' }] as const;
  t.same(missingNames(have, [{ type: 'ip', value: '2001:DB8:0::1' }, { type: 'dns', value: 'pbx.LOCAL' }]), []);
  t.same(missingNames(have, [{ type: 'dns', value: '2001:db8::1' }]), [{ type: 'dns', value: '2001:db8::1' }], 'an iPAddress does not stand in for a dNSName');
});
