import t from 'tap';
import fc from 'fast-check';
import {
  addressBytes, buildBindingSuccess, crc32, parseStun, readXorMappedAddress, STUN_BINDING_REQUEST, STUN_BINDING_SUCCESS,
} from '../../firmware/media/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 5769 2.1 sample request (SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME, MESSAGE-INTEGRITY, FINGERPRINT).
const SAMPLE_REQUEST = hex(`
  00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
  00 24 00 04 6e 00 01 ff
  80 29 00 08 93 2f f9 b1 51 26 3b 36
  00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
  00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
  80 28 00 04 e5 7a 3b cf`);
const TXID = hex('b7 e7 a7 01 bc 34 d6 86 fa 87 df ae');
// The XOR-MAPPED-ADDRESS attributes of the RFC 5769 2.2 and 2.3 sample responses.
const XMA_V4 = hex('00 20 00 08 00 01 a1 47 e1 12 a6 43');
const XMA_V6 = hex('00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9');
// The whole RFC 5769 2.2 sample response, for the CRC-32 of FINGERPRINT.
const SAMPLE_RESPONSE_V4 = hex(`
  01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 08 00 01 a1 47 e1 12 a6 43
  00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
  80 28 00 04 c0 7d 4c 96`);

t.test('RFC 5769 2.1: sample request parses; FINGERPRINT checks out', async (t) => {
  const r = parseStun(SAMPLE_REQUEST);
  t.ok(r.ok);
  if (!r.ok) return;
  t.equal(r.message.type, STUN_BINDING_REQUEST);
  t.same(Buffer.from(r.message.transactionId), TXID);
  t.ok(r.message.hasUsername);
  t.ok(r.message.hasIntegrity);
  t.ok(r.message.hasFingerprint);
  t.same(r.message.attributes.map((a) => a.type), [0x8022, 0x0024, 0x8029, 0x0006, 0x0008, 0x8028]);
  t.equal(r.message.attributes[3]!.length, 9, 'USERNAME length excludes padding');
});

t.test('RFC 5389 15.5: CRC-32 matches the RFC 5769 2.2 sample FINGERPRINT', async (t) => {
  const n = SAMPLE_RESPONSE_V4.length;
  t.equal((crc32(SAMPLE_RESPONSE_V4, 0, n - 8) ^ 0x5354554e) >>> 0, SAMPLE_RESPONSE_V4.readUInt32BE(n - 4));
  t.ok(parseStun(SAMPLE_RESPONSE_V4).ok);
});

t.test('RFC 5389 15.2 / RFC 5769 2.2: XOR-MAPPED-ADDRESS for 192.0.2.1:32853', async (t) => {
  const resp = buildBindingSuccess(TXID, { address: '192.0.2.1', port: 32853 });
  t.ok(resp);
  if (!resp) return;
  t.equal(resp.readUInt16BE(0), STUN_BINDING_SUCCESS);
  t.same(resp.subarray(4, 20), SAMPLE_REQUEST.subarray(4, 20), 'cookie and transaction id echoed');
  t.same(resp.subarray(20), XMA_V4);
  t.equal(resp.readUInt16BE(2), resp.length - 20);
  const back = parseStun(resp);
  t.ok(back.ok);
  if (back.ok) t.same(readXorMappedAddress(resp, back.message), { address: '192.0.2.1', port: 32853 });
});

t.test('RFC 5389 15.2 / RFC 5769 2.3: XOR-MAPPED-ADDRESS for [2001:db8:1234:5678:11:2233:4455:6677]:32853', async (t) => {
  const resp = buildBindingSuccess(TXID, { address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 });
  t.ok(resp);
  if (!resp) return;
  t.same(resp.subarray(20), XMA_V6);
  const back = parseStun(resp);
  t.ok(back.ok);
  if (back.ok) t.same(readXorMappedAddress(resp, back.message), { address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 });
});

t.test('RFC 5389 15.5: FINGERPRINT added on request, and valid', async (t) => {
  const resp = buildBindingSuccess(TXID, { address: '10.0.0.7', port: 4000 }, { fingerprint: true });
  t.ok(resp);
  if (!resp) return;
  const r = parseStun(resp);
  t.ok(r.ok && r.message.hasFingerprint);
  resp[resp.length - 1] ^= 1;
  const bad = parseStun(resp);
  t.same(bad.ok ? 'ok' : bad.reason, 'bad-fingerprint');
});

t.test('IPv4-mapped IPv6 senders are answered as IPv4; junk addresses refused', async (t) => {
  t.same(addressBytes('::ffff:192.0.2.1'), new Uint8Array([192, 0, 2, 1]));
  t.equal(addressBytes('::1')?.length, 16);
  t.equal(addressBytes('fe80::1%eth0')?.length, 16);
  t.equal(addressBytes('1.2.3'), null);
  t.equal(addressBytes('1:2:3:4:5:6:7:8:9'), null);
  t.equal(addressBytes('1::2::3'), null);
  t.equal(addressBytes('300.1.1.1'), null);
  t.equal(buildBindingSuccess(TXID, { address: 'not-an-ip', port: 1 }), null);
  t.equal(buildBindingSuccess(TXID.subarray(0, 4), { address: '1.2.3.4', port: 1 }), null);
});

t.test('RFC 5389 6: malformed messages rejected with a reason', async (t) => {
  const reason = (b: Buffer): string => { const r = parseStun(b); return r.ok ? 'ok' : r.reason; };
  t.equal(reason(SAMPLE_REQUEST.subarray(0, 19)), 'short');
  const cookie = Buffer.from(SAMPLE_REQUEST); cookie[4] = 0;
  t.equal(reason(cookie), 'bad-cookie');
  const top = Buffer.from(SAMPLE_REQUEST); top[0] = 0x40;
  t.equal(reason(top), 'bad-type');
  t.equal(reason(SAMPLE_REQUEST.subarray(0, SAMPLE_REQUEST.length - 4)), 'bad-length', 'length field disagrees with datagram');
  const odd = Buffer.from(SAMPLE_REQUEST); odd.writeUInt16BE(0x57, 2);
  t.equal(reason(odd), 'bad-length', 'not a multiple of 4');
  const attrOver = hex('00 01 00 08 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae 00 06 00 09 61 62 63 64');
  t.equal(reason(attrOver), 'short', 'attribute value runs past the end');
  const afterFp = Buffer.concat([SAMPLE_REQUEST, hex('00 24 00 04 00 00 00 00')]);
  afterFp.writeUInt16BE(afterFp.length - 20, 2);
  t.equal(reason(afterFp), 'bad-fingerprint', 'attribute after FINGERPRINT');
  t.equal(reason(Buffer.alloc(2000)), 'too-long');
});

t.test('property: parseStun never throws on arbitrary or mutated input', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => { parseStun(b); return true; }), { numRuns: 2000 });
  fc.assert(fc.property(fc.nat(SAMPLE_REQUEST.length - 1), fc.nat(255), (at, v) => {
    const b = Buffer.from(SAMPLE_REQUEST); b[at] = v;
    const r = parseStun(b);
    // FINGERPRINT covers every byte: a changed message that still parses
    // must no longer carry one (a length change can swallow it).
    return !r.ok || b.equals(SAMPLE_REQUEST) || !r.message.hasFingerprint;
  }), { numRuns: 2000 });
  t.pass();
});
