import fc from 'fast-check';
import t from 'tap';
import {
  COMMIT_DH_WORDS, CONFIRM_WORDS, MAX_ZRTP_PACKET, crc32c, crc32cOk, isZrtpPacket, mutationCampaign, parseConfirmPlain, parseMessage,
  parsePacket, parseSasRelayPlain, serializeConfirmPlain, serializeMessage, serializePacket, serializeSasRelayPlain, writeCrc32c,
  type ZrtpMessage,
} from '../../../firmware/keying/zrtp/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const b = (n: number, v = 0): Buffer => Buffer.alloc(n, v);

t.test('CRC-32C: RFC 3720 B.4 vectors (check bytes as iSCSI and ZRTP put them on the wire)', async (t) => {
  const onWire = (data: Buffer): string => {
    const p = Buffer.concat([data, b(4)]);
    writeCrc32c(p);
    return p.subarray(p.length - 4).toString('hex');
  };
  t.equal(onWire(b(32, 0)), 'aa36918a', '32 bytes of zeroes');
  t.equal(onWire(b(32, 0xff)), '43aba862', '32 bytes of ones');
  t.equal(onWire(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), '4e79dd46', '32 incrementing bytes');
  t.equal(onWire(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), '5cdb3f11', '32 decrementing bytes');
  const iscsiRead = hex('01c00000 00000000 00000000 00000000 14000000 00000400 00000014 00000018 28000000 00000000 02000000 00000000');
  t.equal(onWire(iscsiRead), '563a96d9', 'an iSCSI read command PDU');
  t.equal(crc32c(Buffer.from('123456789')), 0xe3069283, 'the CRC-32C check value');
});

const H = (v: number): Buffer => b(32, v);
const samples: ZrtpMessage[] = [
  {
    type: 'Hello', version: '1.10', clientId: 'securepbx 0.1   ', h3: H(3), zid: b(12, 0x11), signature: false, mitm: true, passive: false,
    hashes: ['S256'], ciphers: ['AES3', 'AES1'], authTags: ['HS80', 'HS32'], keyAgreements: ['EC25', 'DH3k', 'X255'], sasTypes: ['B32', 'B256'], mac: b(8, 9),
  },
  { type: 'HelloACK' },
  { type: 'Commit', h2: H(2), zid: b(12, 1), hash: 'S256', cipher: 'AES1', authTag: 'HS32', keyAgreement: 'DH3k', sasType: 'B32', hvi: H(5), mac: b(8, 1) },
  { type: 'DHPart1', h1: H(1), rs1Id: b(8, 1), rs2Id: b(8, 2), auxSecretId: b(8, 3), pbxSecretId: b(8, 4), pv: b(64, 7), mac: b(8, 5) },
  { type: 'DHPart2', h1: H(1), rs1Id: b(8, 1), rs2Id: b(8, 2), auxSecretId: b(8, 3), pbxSecretId: b(8, 4), pv: b(384, 7), mac: b(8, 5) },
  { type: 'Confirm1', mac: b(8, 1), iv: b(16, 2), encrypted: b(40, 3) },
  { type: 'Confirm2', mac: b(8, 1), iv: b(16, 2), encrypted: b(40, 3) },
  { type: 'Conf2ACK' },
  { type: 'Error', code: 0x100 },
  { type: 'ErrorACK' },
  { type: 'GoClear', clearMac: b(8, 4) },
  { type: 'ClearACK' },
  { type: 'SASrelay', mac: b(8, 1), iv: b(16, 2), encrypted: b(40, 3) },
  { type: 'RelayACK' },
  { type: 'Ping', version: '1.10', endpointHash: b(8, 6) },
  { type: 'PingACK', version: '1.10', endpointHash: b(8, 6), receivedHash: b(8, 7), ssrc: 0xdeadbeef },
];

t.test('every message type: serialize -> parse -> same data; sizes from RFC 6189 5', async (t) => {
  const words: Record<string, number> = {
    Hello: 22 + 10, HelloACK: 3, Commit: COMMIT_DH_WORDS, DHPart1: 21 + 16, DHPart2: 21 + 96, Confirm1: CONFIRM_WORDS, Confirm2: CONFIRM_WORDS,
    Conf2ACK: 3, Error: 4, ErrorACK: 3, GoClear: 5, ClearACK: 3, SASrelay: 19, RelayACK: 3, Ping: 6, PingACK: 9,
  };
  for (const m of samples) {
    const bytes = serializeMessage(m);
    t.equal(bytes.length / 4, words[m.type], `${m.type}: ${words[m.type]} words`);
    t.equal(bytes.readUInt16BE(0), 0x505a, 'preamble');
    t.equal(bytes.readUInt16BE(2), bytes.length / 4, 'length in words');
    t.equal(bytes.toString('latin1', 4, 12), m.type.padEnd(8, ' '), 'type block');
    const p = parseMessage(bytes);
    t.same(p, { ok: true, message: m }, `${m.type} round trip`);
    const packet = serializePacket(0xfffe, 0x01020304, bytes);
    t.equal(packet[0], 0x10); t.equal(packet.readUInt32BE(4), 0x5a525450); t.ok(isZrtpPacket(packet)); t.ok(crc32cOk(packet));
    const pp = parsePacket(packet);
    t.ok(pp.ok && pp.sequence === 0xfffe && pp.ssrc === 0x01020304 && pp.messageBytes.equals(bytes));
  }
});

t.test('malformed packets get a reason, never a throw', async (t) => {
  const good = serializePacket(1, 2, serializeMessage({ type: 'HelloACK' }));
  const reason = (x: Buffer): string => { const r = parsePacket(x); return r.ok ? 'ok' : r.reason; };
  t.equal(reason(good), 'ok');
  t.equal(reason(good.subarray(0, 27)), 'too-short');
  t.equal(reason(Buffer.alloc(MAX_ZRTP_PACKET + 4)), 'too-long');
  const rtp = Buffer.from(good); rtp[0] = 0x80; t.equal(reason(rtp), 'not-zrtp');
  const cookie = Buffer.from(good); cookie[5] = 0; t.equal(reason(cookie), 'not-zrtp');
  const crc = Buffer.from(good); crc[13] = (crc[13] as number) ^ 1; t.equal(reason(crc), 'bad-crc');
  const fix = (x: Buffer): Buffer => { writeCrc32c(x); return x; };
  const pre = Buffer.from(good); pre[12] = 0; t.equal(reason(fix(pre)), 'bad-preamble');
  const len = Buffer.from(good); len[15] = 4; t.equal(reason(fix(len)), 'bad-length');
  const type = Buffer.from(good); type[16] = 0x41; t.equal(reason(fix(type)), 'unknown-type');
  // A multistream Commit (25 words) is a mode we do not speak.
  const ms = Buffer.concat([serializeMessage(samples[2] as ZrtpMessage).subarray(0, 100)]);
  ms.writeUInt16BE(25, 2);
  t.same(parseMessage(ms), { ok: false, reason: 'unsupported-mode', offset: 2 });
  // A Hello whose counts do not add up, or that claims 8 hashes.
  const hello = serializeMessage(samples[0] as ZrtpMessage);
  const h2 = Buffer.from(hello); h2[77] = 0x08; t.equal((parseMessage(h2) as { reason: string }).reason, 'bad-field');
  const h3 = Buffer.from(hello); h3[77] = 0x02; t.equal((parseMessage(h3) as { reason: string }).reason, 'bad-length');
  const h4 = Buffer.from(hello); h4[80] = 0; t.equal((parseMessage(h4) as { reason: string }).reason, 'bad-field', 'a NUL in a name');
});

t.test('Confirm and SASrelay plaintext parts (RFC 6189 5.7, 5.13)', async (t) => {
  const c = { h0: H(9), enroll: true, sasVerified: true, allowClear: false, disclosure: true, cacheExpiration: 0xffffffff };
  const bytes = serializeConfirmPlain(c);
  t.equal(bytes.length, 40);
  t.equal(bytes.readUInt32BE(32), 0b1101, 'E V A D in the low bits');
  t.same(parseConfirmPlain(bytes), c);
  t.equal(parseConfirmPlain(bytes.subarray(0, 39)), undefined);
  const sig = Buffer.from(bytes); sig.writeUInt32BE(1 << 8, 32); t.equal(parseConfirmPlain(sig), undefined, 'a signature length with no signature');
  const r = { sasVerified: true, allowClear: false, disclosure: false, renderingScheme: 'B256', sasHash: H(4) };
  t.same(parseSasRelayPlain(serializeSasRelayPlain(r)), r);
  t.same(parseSasRelayPlain(serializeSasRelayPlain({ ...r, renderingScheme: 'B32' }))?.renderingScheme, 'B32');
});

const name4 = fc.constantFrom('S256', 'AES1', 'AES3', 'HS32', 'HS80', 'DH3k', 'EC25', 'X255', 'B32', 'B256', 'Mult', 'SKN3');
const bytesN = (n: number): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength: n, maxLength: n }).map((u) => Buffer.from(u));
const arbMessage: fc.Arbitrary<ZrtpMessage> = fc.oneof(
  fc.record({
    type: fc.constant('Hello' as const), version: fc.constant('1.10'), clientId: fc.stringMatching(/^[ -~]{16}$/), h3: bytesN(32), zid: bytesN(12),
    signature: fc.boolean(), mitm: fc.boolean(), passive: fc.boolean(),
    hashes: fc.array(name4, { maxLength: 7 }), ciphers: fc.array(name4, { maxLength: 7 }), authTags: fc.array(name4, { maxLength: 7 }),
    keyAgreements: fc.array(name4, { maxLength: 7 }), sasTypes: fc.array(name4, { maxLength: 7 }), mac: bytesN(8),
  }),
  fc.record({
    type: fc.constant('Commit' as const), h2: bytesN(32), zid: bytesN(12), hash: name4, cipher: name4, authTag: name4, keyAgreement: name4,
    sasType: name4, hvi: bytesN(32), mac: bytesN(8),
  }),
  fc.record({
    type: fc.constantFrom('DHPart1' as const, 'DHPart2' as const), h1: bytesN(32), rs1Id: bytesN(8), rs2Id: bytesN(8), auxSecretId: bytesN(8),
    pbxSecretId: bytesN(8), pv: fc.constantFrom(32, 64, 384).chain((n) => bytesN(n)), mac: bytesN(8),
  }),
  fc.record({ type: fc.constantFrom('Confirm1' as const, 'Confirm2' as const, 'SASrelay' as const), mac: bytesN(8), iv: bytesN(16), encrypted: fc.integer({ min: 10, max: 40 }).chain((w) => bytesN(w * 4)) }),
  fc.record({ type: fc.constant('Error' as const), code: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({ type: fc.constant('Ping' as const), version: fc.constant('1.10'), endpointHash: bytesN(8) }),
  fc.record({ type: fc.constant('PingACK' as const), version: fc.constant('1.10'), endpointHash: bytesN(8), receivedHash: bytesN(8), ssrc: fc.integer({ min: 0, max: 0xffffffff }) }),
);

t.test('property: serialize then parse is the identity for every message shape', async (t) => {
  fc.assert(fc.property(arbMessage, fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffffffff }), (m, seq, ssrc) => {
    const p = parsePacket(serializePacket(seq, ssrc, serializeMessage(m)));
    return p.ok && p.sequence === seq && p.ssrc === ssrc && JSON.stringify(p.message) === JSON.stringify(m);
  }), { numRuns: 500 });
  t.pass('500 random messages round-trip');
});

t.test('property: any bytes into every parser: a value or a reason, never a throw', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 1400 }), (u) => {
    const x = Buffer.from(u);
    const p = parsePacket(x);
    const m = parseMessage(x);
    parseConfirmPlain(x); parseSasRelayPlain(x);
    return (p.ok || typeof p.reason === 'string') && (m.ok || typeof m.reason === 'string');
  }), { numRuns: 2000 });
  // Valid framing (preamble, length, known type, good CRC) around random content.
  fc.assert(fc.property(fc.constantFrom('Hello   ', 'Commit  ', 'DHPart1 ', 'Confirm1', 'SASrelay', 'PingACK ', 'Error   '), fc.uint8Array({ maxLength: 600 }), (type, body) => {
    const words = 3 + Math.floor(body.length / 4);
    const msg = Buffer.alloc(words * 4);
    msg.writeUInt16BE(0x505a, 0); msg.writeUInt16BE(words, 2); msg.write(type, 4, 'latin1');
    Buffer.from(body).copy(msg, 12, 0, (words - 3) * 4);
    const p = parsePacket(serializePacket(1, 1, msg));
    return p.ok || ['bad-length', 'bad-field', 'unsupported-mode'].includes(p.reason);
  }), { numRuns: 2000 });
  t.pass('no throw');
});

t.test('10^4 mutated packets into live endpoints: no throw, each one counted', async (t) => {
  const r = mutationCampaign(10_000, 11);
  t.equal(r.packets, 10_000);
  t.equal(r.threw, 0, 'nothing threw');
  t.equal(r.uncounted, 0, 'every packet moved a counter');
  t.ok(r.crcFixed > 2000, `${r.crcFixed} reached the message logic with a good CRC`);
  for (const deep of ['zrtp.drop.bad-crc', 'zrtp.rx.Commit', 'zrtp.rx.DHPart2', 'zrtp.rx.Confirm2']) t.ok((r.counts[deep] ?? 0) > 0, `reached ${deep}`);
  t.comment(`mutation campaign: ${r.packets} packets in ${r.ms.toFixed(0)} ms`);
});
