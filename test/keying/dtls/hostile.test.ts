import fc from 'fast-check';
import t from 'tap';
import { isPbxError } from '../../../firmware/core/index.js';
import {
  MAX_FRAGMENTS_PER_MESSAGE, MAX_HANDSHAKE_MESSAGE, MAX_PENDING_MESSAGES, Reassembler, fragmentMessage, fuzzDtlsEndpoint,
  parseAlert, parseCertificate, parseCertificateRequest, parseCertificateVerify, parseClientHello, parseClientKeyExchange,
  parseFingerprint, parseHandshakeFragments, parseHelloVerifyRequest, parsePointFormats, parseRecords, parseRenegotiationInfo,
  parseServerHello, parseServerKeyExchange, parseSetup, parseU16ListExtension, parseUseSrtp,
  serializeAlert, serializeCertificate, serializeCertificateRequest, serializeCertificateVerify, serializeClientHello,
  serializeClientKeyExchange, serializeFragment, serializeHelloVerifyRequest, serializeRecord, serializeServerHello,
  serializeServerKeyExchange, serializeU16ListExtension, serializeUseSrtp, serverKeyParams,
  type HandshakeTypeValue, type Parsed,
} from '../../../firmware/keying/index.js';
import { cert } from './pair.js';

const bytes = (min: number, max: number): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength: min, maxLength: max }).map((u) => Buffer.from(u));
const u16s = (min: number, max: number): fc.Arbitrary<number[]> => fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: min, maxLength: max });

/** A parser given anything returns a value or a typed parse/limit error; it never throws. */
function total<T>(name: string, parse: (b: Buffer) => Parsed<T>): void {
  t.test(`${name}: arbitrary bytes give a value or a typed error, never an exception`, async (t) => {
    fc.assert(fc.property(bytes(0, 600), (b) => {
      const r = parse(b);
      return r.ok || (isPbxError(r.error, 'parse') || isPbxError(r.error, 'limit'));
    }), { numRuns: 2000 });
    t.pass();
  });
}

total('parseRecords', parseRecords);
total('parseHandshakeFragments', parseHandshakeFragments);
total('parseClientHello', parseClientHello);
total('parseServerHello', parseServerHello);
total('parseHelloVerifyRequest', parseHelloVerifyRequest);
total('parseCertificate', parseCertificate);
total('parseServerKeyExchange', parseServerKeyExchange);
total('parseCertificateRequest', parseCertificateRequest);
total('parseClientKeyExchange', parseClientKeyExchange);
total('parseCertificateVerify', parseCertificateVerify);
total('parseUseSrtp', parseUseSrtp);
total('parseU16ListExtension', parseU16ListExtension);
total('parsePointFormats', parsePointFormats);
total('parseRenegotiationInfo', parseRenegotiationInfo);
total('parseAlert', parseAlert);

const value = <T>(r: Parsed<T>): T => {
  if (!r.ok) throw r.error;
  return r.value;
};

t.test('round trips: serialize then parse gives the same message', async (t) => {
  const ext = fc.uniqueArray(fc.record({ type: fc.integer({ min: 0, max: 0xffff }), data: bytes(0, 20) }), { selector: (x) => x.type, maxLength: 8 });
  fc.assert(fc.property(fc.record({
    version: fc.integer({ min: 0, max: 0xffff }), random: bytes(32, 32), sessionId: bytes(0, 32), cookie: bytes(0, 255),
    cipherSuites: u16s(1, 20), compressionMethods: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 4 }), extensions: ext,
  }), (ch) => {
    t.same(value(parseClientHello(serializeClientHello(ch))), ch);
    return true;
  }), { numRuns: 300 });
  fc.assert(fc.property(fc.record({
    version: fc.integer({ min: 0, max: 0xffff }), random: bytes(32, 32), sessionId: bytes(0, 32), cipherSuite: fc.integer({ min: 0, max: 0xffff }),
    compressionMethod: fc.integer({ min: 0, max: 255 }), extensions: ext,
  }), (sh) => {
    t.same(value(parseServerHello(serializeServerHello(sh))), sh);
    return true;
  }), { numRuns: 300 });
  fc.assert(fc.property(fc.record({
    type: fc.constantFrom(20 as const, 21 as const, 22 as const, 23 as const), version: fc.constantFrom(0xfefd, 0xfeff),
    epoch: fc.integer({ min: 0, max: 0xffff }), seq: fc.integer({ min: 0, max: 2 ** 48 - 1 }), fragment: bytes(0, 300),
  }), (rec) => {
    t.same(value(parseRecords(serializeRecord(rec))), [rec]);
    return true;
  }), { numRuns: 300 });
  fc.assert(fc.property(bytes(0, 255), fc.integer({ min: 0, max: 0xffff }), (cookie, version) => {
    t.same(value(parseHelloVerifyRequest(serializeHelloVerifyRequest({ version, cookie }))), { version, cookie });
    return true;
  }), { numRuns: 100 });
  fc.assert(fc.property(fc.array(bytes(1, 300), { minLength: 0, maxLength: 4 }), (certs) => {
    t.same(value(parseCertificate(serializeCertificate(certs))), certs);
    return true;
  }), { numRuns: 100 });
  fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), bytes(1, 133), fc.integer({ min: 0, max: 0xffff }), bytes(1, 300), (curve, point, scheme, sig) => {
    const p = value(parseServerKeyExchange(serializeServerKeyExchange(serverKeyParams(curve, point), scheme, sig)));
    t.same([p.namedCurve, p.publicKey, p.signatureScheme, p.signature], [curve, point, scheme, sig]);
    return true;
  }), { numRuns: 100 });
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 5 }), u16s(1, 10), (certificateTypes, signatureSchemes) => {
    t.same(value(parseCertificateRequest(serializeCertificateRequest({ certificateTypes, signatureSchemes }))), { certificateTypes, signatureSchemes });
    return true;
  }), { numRuns: 100 });
  fc.assert(fc.property(bytes(1, 255), fc.integer({ min: 0, max: 0xffff }), bytes(1, 400), (point, scheme, signature) => {
    t.same(value(parseClientKeyExchange(serializeClientKeyExchange(point))), point);
    t.same(value(parseCertificateVerify(serializeCertificateVerify({ scheme, signature }))), { scheme, signature });
    return true;
  }), { numRuns: 100 });
  fc.assert(fc.property(u16s(1, 10), bytes(0, 255), (profiles, mki) => {
    t.same(value(parseUseSrtp(serializeUseSrtp({ profiles, mki }))), { profiles, mki });
    t.same(value(parseU16ListExtension(serializeU16ListExtension(profiles))), profiles);
    return true;
  }), { numRuns: 100 });
  fc.assert(fc.property(fc.constantFrom(1 as const, 2 as const), fc.integer({ min: 0, max: 255 }), (level, description) => {
    t.same(value(parseAlert(serializeAlert({ level, description }))), { level, description });
    return true;
  }), { numRuns: 50 });
});

t.test('fixtures: a record and a handshake header byte by byte (RFC 6347 4.1, 4.2.2)', async (t) => {
  const rec = Buffer.from('16fefd0001000000000005000301020304'.slice(0, 34), 'hex');
  // type 22, version fefd, epoch 1, seq 5, length 3, then 3 bytes... (the trailing byte is a second, truncated record)
  const r = parseRecords(rec.subarray(0, 16));
  t.ok(r.ok);
  if (r.ok) t.same(r.value[0], { type: 22, version: 0xfefd, epoch: 1, seq: 5, fragment: Buffer.from([1, 2, 3]) });
  t.notOk(parseRecords(rec).ok, 'a trailing partial record fails the datagram');
  t.notOk(parseRecords(Buffer.from('16fefc000000000000000000', 'hex')).ok, 'unknown version');
  t.notOk(parseRecords(Buffer.from('18fefd00000000000000000000', 'hex')).ok, 'content type 24 (heartbeat) is not taken');
  const hs = serializeFragment({ msgType: 14, length: 0, messageSeq: 4, fragmentOffset: 0, body: Buffer.alloc(0) });
  t.equal(hs.toString('hex'), '0e000000000400000000000' + '0');
  const over = Buffer.from(hs);
  over.writeUIntBE(1, 9, 3);
  t.notOk(parseHandshakeFragments(over).ok, 'fragment_length beyond the record');
  const big = Buffer.from(hs);
  big.writeUIntBE(MAX_HANDSHAKE_MESSAGE + 1, 1, 3);
  const b = parseHandshakeFragments(big);
  t.ok(!b.ok && isPbxError(b.error, 'limit'), 'a message above MAX_HANDSHAKE_MESSAGE is a limit error');
  const dupExt = Buffer.concat([serializeClientHello({ version: 0xfefd, random: Buffer.alloc(32), sessionId: Buffer.alloc(0), cookie: Buffer.alloc(0), cipherSuites: [1], compressionMethods: [0], extensions: [{ type: 1, data: Buffer.alloc(0) }, { type: 2, data: Buffer.alloc(0) }] })]);
  dupExt.writeUInt16BE(1, dupExt.length - 4);
  t.notOk(parseClientHello(dupExt).ok, 'an extension twice (RFC 5246 7.4.1.4)');
});

t.test('reassembly: any split, order and duplication of the fragments gives the message back', async (t) => {
  fc.assert(fc.property(bytes(0, 3000), fc.integer({ min: 1, max: 400 }), fc.array(fc.nat(), { maxLength: 200 }), fc.array(fc.nat(), { maxLength: 5 }), (body, room, shuffle, dups) => {
    const frags = fragmentMessage({ msgType: 11, messageSeq: 0, body }, room);
    if (frags.length > MAX_FRAGMENTS_PER_MESSAGE - dups.length) return true;
    const order = [...frags, ...dups.map((d) => frags[d % frags.length]!)];
    for (let i = 0; i < shuffle.length && order.length > 1; i++) {
      const a = shuffle[i]! % order.length;
      [order[0], order[a]] = [order[a]!, order[0]!];
    }
    const r = new Reassembler();
    for (const f of order) r.add(f);
    const m = r.next();
    return m !== undefined && m.body.equals(body) && m.msgType === 11 && r.next() === undefined;
  }), { numRuns: 300 });
  t.pass();
});

t.test('reassembly limits: old, too far ahead, inconsistent, too many fragments', async (t) => {
  const r = new Reassembler();
  const f = (seq: number, off: number, len: number, type: HandshakeTypeValue = 11) => ({ msgType: type, length: 100, messageSeq: seq, fragmentOffset: off, body: Buffer.alloc(len) });
  t.equal(r.add(f(MAX_PENDING_MESSAGES, 0, 1)), 'dtls-hs-ahead');
  t.equal(r.add(f(0, 0, 10)), undefined);
  t.equal(r.add({ ...f(0, 0, 10), length: 99 }), 'dtls-hs-inconsistent');
  t.equal(r.add(f(0, 10, 10, 12)), 'dtls-hs-inconsistent');
  let taken = 1;
  while (r.add(f(0, 0, 1)) === undefined) taken++;
  t.equal(taken, MAX_FRAGMENTS_PER_MESSAGE, 'the fragment after MAX_FRAGMENTS_PER_MESSAGE abandons the message');
  t.equal(r.next(), undefined);
  r.add({ msgType: 14, length: 0, messageSeq: 0, fragmentOffset: 0, body: Buffer.alloc(0) });
  t.equal(r.next()?.msgType, 14);
  t.equal(r.add(f(0, 0, 1)), 'dtls-hs-old');
});

t.test('SDP attribute parsers: fingerprint and setup take only what RFC 8122 and RFC 4145 allow', async (t) => {
  const fp = cert('server').fingerprint;
  t.same(parseFingerprint(`sha-256 ${fp.value}`), fp);
  t.same(parseFingerprint(`SHA-256 ${fp.value.toLowerCase()}`), fp, 'case-insensitive');
  t.equal(parseFingerprint(`sha-256 ${fp.value.slice(3)}`), undefined, 'too short');
  t.equal(parseFingerprint(`md5 ${fp.value}`), undefined);
  t.equal(parseFingerprint(`sha-1 ${fp.value}`), undefined, 'SHA-1 is not taken');
  t.equal(parseFingerprint(`sha-256 ${fp.value.replace(/:/g, '')}`), undefined);
  t.equal(parseSetup('ACTPASS'), 'actpass');
  t.equal(parseSetup('both'), undefined);
  fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => {
    const r = parseFingerprint(s);
    return r === undefined || /^[0-9A-F]{2}(:[0-9A-F]{2})+$/.test(r.value);
  }), { numRuns: 2000 });
});

t.test('10^4 mutated records (bit flips, truncations, length fields, epochs) into live endpoints: no throw, every one counted, the sessions intact', async (t) => {
  const r = fuzzDtlsEndpoint(10_000, 3, { client: cert('client'), server: cert('server') });
  t.equal(r.thrown, 0);
  t.equal(r.uncounted, 0);
  t.ok(r.sessionsIntact, 'established endpoints keep their keys');
  t.ok(Object.keys(r.drops).length >= 8, `drop reasons seen: ${Object.keys(r.drops).join(', ')}`);
  t.comment(`${r.datagrams} datagrams in ${r.ms.toFixed(0)} ms`);
});
