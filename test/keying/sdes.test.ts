import fc from 'fast-check';
import t from 'tap';
import { Counters, isPbxError, seededRandom } from '../../firmware/core/index.js';
import {
  DEFAULT_OFFER_SUITES, SDES_SUITES, SDES_SUITE_NAMES, acceptAnswer, answerCrypto, chooseCrypto, decodeBase64, describeCrypto,
  formatCryptoLine, isSecureSignalling, mkiBytes, offerCrypto, parseCryptoLine, sdesAttributes, sdesOfMedia, srtpOptionsOf,
  type CryptoAttribute, type CryptoParse, type CryptoSkipReason, type SdesSuiteName,
} from '../../firmware/keying/index.js';
import { SRTP_SUITES, SrtpSession } from '../../firmware/media/srtp/index.js';
import type { MediaDescription } from '../../firmware/sdp/index.js';

/*
 * Fixtures. The first four lines are the a=crypto examples printed in RFC 4568
 * (section 4's example, the FEC_ORDER example and the two-key F8 example of
 * section 6, and the MKI-only inline value of section 6.1), copied as the RFC
 * prints them. Everything else is built to the grammar of RFC 4568 9.1/9.2.
 */
const RFC_SECTION4 = '1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32';
const RFC_FEC = '1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4 FEC_ORDER=FEC_SRTP';
const RFC_F8_TWO_KEYS = '2 F8_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm|2^20|1:4;inline:QUJjZGVmMTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5|2^20|2:4 FEC_ORDER=FEC_SRTP';
const RFC_MKI_ONLY = '1 AES_CM_128_HMAC_SHA1_80 inline:YUJDZGVmZ2hpSktMbW9QUXJzVHVWd3l6MTIzNDU2|1066:4';

function ok(r: CryptoParse): CryptoAttribute {
  if (!r.ok) throw new Error(`expected a usable line, got ${r.skip}: ${r.detail}`);
  return r.crypto;
}
function skipped(r: CryptoParse): CryptoSkipReason | 'ok' {
  return r.ok ? 'ok' : r.skip;
}
const b64 = (n: number, fill = 7): string => Buffer.alloc(n, fill).toString('base64');
const line = (suite: string, bytes: number, rest = ''): string => `1 ${suite} inline:${b64(bytes)}${rest}`;

function audio(protocol: string, crypto: string[]): MediaDescription {
  return {
    type: 'audio', port: 49170, protocol, formats: ['0'], bandwidths: [],
    attributes: [{ name: 'rtpmap', value: '0 PCMU/8000' }, ...crypto.map((v) => ({ name: 'crypto', value: v }))],
  };
}

t.test('RFC 4568 section 4 example: tag, suite, key||salt, lifetime 2^20, MKI 1 of 32 bytes', async (t) => {
  const c = ok(parseCryptoLine(RFC_SECTION4));
  t.equal(c.tag, 1);
  t.equal(c.suite, 'AES_CM_128_HMAC_SHA1_80');
  t.equal(c.key.length, 16);
  t.equal(c.salt.length, 14);
  t.same(Buffer.concat([c.key, c.salt]), Buffer.from('PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR', 'base64'));
  t.equal(c.lifetime, 2 ** 20);
  t.same(c.mki, { value: 1n, length: 32 });
  t.equal(formatCryptoLine(c), RFC_SECTION4, 'formats back to the same text');
});

t.test('RFC 4568 6.1: a single "|" field with a colon is an MKI, not a lifetime', async (t) => {
  const c = ok(parseCryptoLine(RFC_MKI_ONLY));
  t.equal(c.lifetime, undefined);
  t.same(c.mki, { value: 1066n, length: 4 });
  t.same(mkiBytes(c.mki!), Buffer.from([0, 0, 0x04, 0x2a]), 'MKI 1066 in 4 bytes, big-endian');
  t.equal(formatCryptoLine(c), RFC_MKI_ONLY);
});

t.test('RFC 4568 6.3.4 FEC_ORDER is a session parameter we do not support: the line is skipped', async (t) => {
  const r = parseCryptoLine(RFC_FEC);
  t.equal(skipped(r), 'unsupported-session-param');
  t.equal(r.ok ? undefined : r.tag, 1, 'the skip names the tag');
});

t.test('RFC 4568 6.2: an unknown suite (F8) is skipped, not fatal', async (t) => {
  t.equal(skipped(parseCryptoLine(RFC_F8_TWO_KEYS)), 'unknown-suite');
  t.equal(skipped(parseCryptoLine(line('AES_192_CM_HMAC_SHA1_80', 38))), 'unknown-suite');
});

t.test('RFC 4568 6.1: several keys in one line are legal but the box takes exactly one', async (t) => {
  const two = RFC_F8_TWO_KEYS.replace('F8_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_80').replace(' FEC_ORDER=FEC_SRTP', '');
  t.equal(skipped(parseCryptoLine(two)), 'several-keys');
});

t.test('RFC 4568 6.1 lifetime: 2^n or decimal, bounded by 2^48 (RFC 3711 9.2)', async (t) => {
  t.equal(ok(parseCryptoLine(line('AES_CM_128_HMAC_SHA1_80', 30, '|1048576'))).lifetime, 1048576);
  t.equal(ok(parseCryptoLine(line('AES_CM_128_HMAC_SHA1_80', 30, '|1000'))).lifetime, 1000);
  t.equal(ok(parseCryptoLine(line('AES_CM_128_HMAC_SHA1_80', 30, '|2^48'))).lifetime, 2 ** 48);
  t.equal(formatCryptoLine(ok(parseCryptoLine(line('AES_CM_128_HMAC_SHA1_80', 30, '|1048576')))).endsWith('|2^20'), true);
  t.equal(skipped(parseCryptoLine(line('AES_CM_128_HMAC_SHA1_80', 30, '|2^49'))), 'lifetime-too-long');
  t.equal(skipped(parseCryptoLine(line('AES_CM_128_HMAC_SHA1_80', 30, '|99999999999999999999'))), 'lifetime-too-long');
  t.equal(skipped(parseCryptoLine(line('AES_CM_128_HMAC_SHA1_80', 30, '|0'))), 'bad-lifetime');
  t.equal(skipped(parseCryptoLine(line('AES_CM_128_HMAC_SHA1_80', 30, '|2^x'))), 'bad-lifetime');
  t.equal(skipped(parseCryptoLine(line('AES_CM_128_HMAC_SHA1_80', 30, '|2^20|1:4|3'))), 'malformed');
});

t.test('RFC 4568 9.2 MKI: value:length, length 1..128 bytes, value must fit', async (t) => {
  t.same(ok(parseCryptoLine(line('AES_CM_128_HMAC_SHA1_80', 30, '|2^20|255:1'))).mki, { value: 255n, length: 1 });
  t.same(ok(parseCryptoLine(line('AES_CM_128_HMAC_SHA1_80', 30, '|1:128'))).mki, { value: 1n, length: 128 });
  t.equal(skipped(parseCryptoLine(line('AES_CM_128_HMAC_SHA1_80', 30, '|256:1'))), 'bad-mki');
  t.equal(skipped(parseCryptoLine(line('AES_CM_128_HMAC_SHA1_80', 30, '|1:0'))), 'bad-mki');
  t.equal(skipped(parseCryptoLine(line('AES_CM_128_HMAC_SHA1_80', 30, '|1:129'))), 'bad-mki');
  t.equal(skipped(parseCryptoLine(line('AES_CM_128_HMAC_SHA1_80', 30, '|2^20|x:4'))), 'bad-mki');
});

t.test('RFC 4568 6.3 session parameters: KDR and WSH kept, the rest reject the line', async (t) => {
  const c = ok(parseCryptoLine(line('AES_CM_128_HMAC_SHA1_80', 30, ' KDR=23 WSH=128')));
  t.equal(c.kdr, 23);
  t.equal(c.wsh, 128);
  t.match(formatCryptoLine(c), / KDR=23 WSH=128$/);
  for (const p of ['UNENCRYPTED_SRTP', 'UNENCRYPTED_SRTCP', 'UNAUTHENTICATED_SRTP', 'FEC_ORDER=SRTP_FEC', 'FEC_KEY=inline:' + b64(30)]) {
    t.equal(skipped(parseCryptoLine(line('AES_CM_128_HMAC_SHA1_80', 30, ` ${p}`))), 'unsupported-session-param', p);
  }
  t.equal(skipped(parseCryptoLine(line('AES_CM_128_HMAC_SHA1_80', 30, ' FOO=1'))), 'unknown-session-param');
  for (const p of ['KDR=0', 'KDR=25', 'KDR=07', 'KDR=', 'WSH=63', 'WSH=x', 'KDR=1 KDR=2']) {
    t.equal(skipped(parseCryptoLine(line('AES_CM_128_HMAC_SHA1_80', 30, ` ${p}`))), 'bad-session-param', p);
  }
  t.equal(skipped(parseCryptoLine(line('AES_CM_128_HMAC_SHA1_80', 30, ' WSH=64'.repeat(9)))), 'too-many-session-params');
});

t.test('RFC 6188 / RFC 7714: AES-256 and GCM keys must have exactly keyLen+saltLen bytes', async (t) => {
  const cases: Array<[SdesSuiteName, number]> = [
    ['AES_CM_128_HMAC_SHA1_80', 30], ['AES_CM_128_HMAC_SHA1_32', 30], ['AES_256_CM_HMAC_SHA1_80', 46],
    ['AES_256_CM_HMAC_SHA1_32', 46], ['AEAD_AES_128_GCM', 28], ['AEAD_AES_256_GCM', 44],
  ];
  for (const [suite, n] of cases) {
    const c = ok(parseCryptoLine(line(suite, n)));
    t.equal(c.key.length, SDES_SUITES[suite].keyLen, suite);
    t.equal(c.salt.length, SDES_SUITES[suite].saltLen, suite);
    for (const wrong of [n - 1, n + 1, 30, 46, 28, 44].filter((x) => x !== n)) {
      const r = parseCryptoLine(line(suite, wrong));
      t.equal(skipped(r), 'wrong-key-length', `${suite} with ${wrong} bytes`);
      if (!r.ok) t.match(r.detail, new RegExp(`needs ${n} bytes.*has ${wrong}`), 'the reason says both lengths');
    }
  }
  // A 128-bit key||salt under an AES-256 name is the classic interop mistake.
  t.equal(skipped(parseCryptoLine(`1 AES_256_CM_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR`)), 'wrong-key-length');
  t.equal(skipped(parseCryptoLine(`1 AEAD_AES_128_GCM inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR`)), 'wrong-key-length');
});

t.test('base64 (RFC 4648 4): padding optional, non-canonical text and stray characters refused', async (t) => {
  const k46 = b64(46);
  t.equal(k46.endsWith('=='), true);
  t.equal(ok(parseCryptoLine(`1 AES_256_CM_HMAC_SHA1_80 inline:${k46.replace(/=+$/, '')}`)).key.length, 32, 'unpadded accepted');
  t.equal(skipped(parseCryptoLine(`1 AES_256_CM_HMAC_SHA1_80 inline:${k46}=`)), 'bad-base64');
  t.equal(skipped(parseCryptoLine(`1 AES_256_CM_HMAC_SHA1_80 inline:${k46.slice(0, -3)}=`)), 'bad-base64', 'bad padding position');
  t.equal(skipped(parseCryptoLine('1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVB*')), 'bad-base64');
  t.equal(decodeBase64('QR=='), undefined, 'non-zero spare bits');
  t.same(decodeBase64('QQ=='), Buffer.from('A'));
  const r = parseCryptoLine('1 AES_CM_128_HMAC_SHA1_80 inline:SECRETSECRETSECRET*');
  t.equal(r.ok ? '' : r.detail.includes('SECRET'), false, 'the reason never echoes key text');
});

t.test('RFC 4568 9.1 grammar: malformed lines are skipped with a reason', async (t) => {
  const cases: Array<[string, CryptoSkipReason]> = [
    ['', 'malformed'],
    ['x AES_CM_128_HMAC_SHA1_80 inline:' + b64(30), 'malformed'],
    ['1234567890 AES_CM_128_HMAC_SHA1_80 inline:' + b64(30), 'malformed'],
    ['1', 'malformed'],
    ['1 AES_CM_128_HMAC_SHA1_80', 'malformed'],
    ['1 AES-CM inline:' + b64(30), 'malformed'],
    ['1 AES_CM_128_HMAC_SHA1_80 ' + b64(30), 'malformed'],
    ['1 AES_CM_128_HMAC_SHA1_80 inline:' + b64(30) + ';', 'malformed'],
    ['1 AES_CM_128_HMAC_SHA1_80 uri:sip:keys@example.com', 'unknown-key-method'],
    ['1 AES_CM_128_HMAC_SHA1_80 inline:' + b64(30) + ' ' + 'x'.repeat(1100), 'too-long'],
  ];
  for (const [v, reason] of cases) t.equal(skipped(parseCryptoLine(v)), reason, JSON.stringify(v.slice(0, 40)));
  t.equal(ok(parseCryptoLine('  7\tAES_CM_128_HMAC_SHA1_80 \t inline:' + b64(30) + '  ')).tag, 7, 'any run of SP/HTAB separates fields');
  t.equal(ok(parseCryptoLine('999999999 AES_CM_128_HMAC_SHA1_80 inline:' + b64(30))).tag, 999999999);
});

t.test('sdesOfMedia: RTP/SAVP, RTP/SAVPF, best-effort RTP/AVP, skipped lines counted, duplicate tags', async (t) => {
  const counters = new Counters();
  const lines = [RFC_F8_TWO_KEYS, RFC_FEC, RFC_SECTION4.replace(/^1/, '3'), 'garbage', RFC_MKI_ONLY.replace(/^1/, '3')];
  const m = sdesOfMedia(audio('RTP/SAVP', lines), counters);
  t.equal(m.mode, 'srtp');
  t.same(m.lines.map((c) => c.tag), [3]);
  t.same(m.skipped.map((s) => s.skip), ['unknown-suite', 'unsupported-session-param', 'malformed', 'duplicate-tag']);
  t.equal(counters.get('sdes.skip.unknown-suite'), 1);
  t.equal(counters.get('sdes.skip.duplicate-tag'), 1);
  t.equal(sdesOfMedia(audio('RTP/SAVPF', [RFC_SECTION4])).mode, 'srtp');
  t.equal(sdesOfMedia(audio('RTP/AVP', [RFC_SECTION4])).mode, 'best-effort');
  t.equal(sdesOfMedia(audio('RTP/AVPF', [RFC_SECTION4])).mode, 'best-effort');
  t.equal(sdesOfMedia(audio('RTP/AVP', [])).mode, 'none');
  t.equal(sdesOfMedia(audio('UDP/TLS/RTP/SAVPF', [])).mode, 'none');
  const many = sdesOfMedia(audio('RTP/SAVP', Array.from({ length: 20 }, (_, i) => line('AES_CM_128_HMAC_SHA1_80', 30).replace(/^1/, String(i + 1)))));
  t.equal(many.lines.length, 16);
  t.equal(many.skipped.filter((s) => s.skip === 'too-many-lines').length, 4);
});

t.test('RFC 4568 7.1.2: the answer takes the first offered line we support, in the offerer\'s order', async (t) => {
  const m = sdesOfMedia(audio('RTP/SAVP', [
    RFC_F8_TWO_KEYS.replace(/^2/, '1'),
    line('AES_256_CM_HMAC_SHA1_80', 30).replace(/^1/, '2'), // wrong length: skipped
    line('AEAD_AES_256_GCM', 44).replace(/^1/, '3'),
    line('AES_CM_128_HMAC_SHA1_80', 30).replace(/^1/, '4'),
  ]));
  t.equal(chooseCrypto(m.lines)?.tag, 3);
  t.equal(chooseCrypto(m.lines, ['AES_CM_128_HMAC_SHA1_80'])?.tag, 4, 'restricted to our list');
  t.equal(chooseCrypto(m.lines, ['AES_CM_128_HMAC_SHA1_32']), undefined);
  t.equal(chooseCrypto([]), undefined);
});

t.test('answerCrypto: same tag and suite, a fresh key from the injected Random, no lifetime/MKI', async (t) => {
  const offered = ok(parseCryptoLine(RFC_SECTION4.replace(/^1/, '5')));
  const a = answerCrypto(offered, seededRandom(7));
  t.equal(a.tag, 5);
  t.equal(a.suite, offered.suite);
  t.not(a.key.toString('hex'), offered.key.toString('hex'));
  t.same(Buffer.concat([a.key, a.salt]), seededRandom(7).bytes(30), 'key||salt are the random bytes');
  t.equal(a.lifetime, undefined);
  t.equal(a.mki, undefined);
  t.notSame(answerCrypto(offered, seededRandom(8)).key, a.key);
  t.same(answerCrypto(offered, seededRandom(7), { mkiLength: 4 }).mki, { value: 1n, length: 4 });
  const gcm = answerCrypto(ok(parseCryptoLine(line('AEAD_AES_256_GCM', 44))), seededRandom(1));
  t.equal(gcm.key.length, 32);
  t.equal(gcm.salt.length, 12);
  t.throws(() => answerCrypto(offered, { bytes: () => Buffer.alloc(3), int: () => 0, token: () => '' }), { name: 'PbxError', code: 'invalid-state' });
  t.equal(ok(parseCryptoLine(formatCryptoLine(a))).key.equals(a.key), true, 'our answer parses back');
});

t.test('offerCrypto and acceptAnswer: the box as offerer (RFC 4568 7.1.3)', async (t) => {
  const ours = offerCrypto(DEFAULT_OFFER_SUITES, seededRandom(3));
  t.same(ours.map((c) => c.tag), [1, 2, 3, 4]);
  t.same(ours.map((c) => c.suite), DEFAULT_OFFER_SUITES);
  t.equal(new Set(ours.map((c) => c.key.toString('hex'))).size, 4, 'every line has its own key');
  const phoneAnswer = answerCrypto(ours[1]!, seededRandom(4));
  const answer = sdesOfMedia(audio('RTP/SAVP', [formatCryptoLine(phoneAnswer)]));
  const { ours: mine, theirs } = acceptAnswer(ours, answer);
  t.equal(mine.tag, 2);
  t.equal(theirs.key.equals(phoneAnswer.key), true);
  const bad = (v: string[]): unknown => t.throws(() => acceptAnswer(ours, sdesOfMedia(audio('RTP/SAVP', v))), { name: 'PbxError', code: 'protocol' });
  bad([]);
  bad([formatCryptoLine({ ...phoneAnswer, tag: 9 })]);
  bad([formatCryptoLine({ ...phoneAnswer, suite: 'AES_CM_128_HMAC_SHA1_80', key: Buffer.alloc(16, 1) })]);
  bad([formatCryptoLine(phoneAnswer), formatCryptoLine({ ...phoneAnswer, tag: 1, suite: 'AES_CM_128_HMAC_SHA1_80', key: Buffer.alloc(16, 1) })]);
  t.throws(() => offerCrypto([], seededRandom(1)), { name: 'PbxError', code: 'protocol' });
});

t.test('keys travel only over TLS: no a=crypto toward a non-TLS leg', async (t) => {
  const lines = offerCrypto(['AES_CM_128_HMAC_SHA1_80'], seededRandom(1));
  t.throws(() => sdesAttributes(lines, false), { name: 'PbxError', code: 'protocol' });
  const attrs = sdesAttributes(lines, true);
  t.same(attrs.map((a) => a.name), ['crypto']);
  t.equal(attrs[0]!.value, formatCryptoLine(lines[0]!));
  t.same(['tls', 'TLS', 'wss', 'udp', 'tcp', 'ws'].map(isSecureSignalling), [true, true, true, false, false, false]);
  t.equal(describeCrypto(lines[0]!).includes(lines[0]!.key.toString('base64').slice(0, 8)), false, 'describeCrypto hides the key');
  t.match(describeCrypto(lines[0]!), /^1 AES_CM_128_HMAC_SHA1_80 inline:<key>$/);
});

t.test('formatCryptoLine refuses attributes that do not fit their suite', async (t) => {
  const good = offerCrypto(['AES_256_CM_HMAC_SHA1_80'], seededRandom(1))[0]!;
  const isProto = { name: 'PbxError', code: 'protocol' };
  t.throws(() => formatCryptoLine({ ...good, key: Buffer.alloc(16) }), isProto);
  t.throws(() => formatCryptoLine({ ...good, salt: Buffer.alloc(12) }), isProto);
  t.throws(() => formatCryptoLine({ ...good, tag: 1e9 }), isProto);
  t.throws(() => formatCryptoLine({ ...good, mki: { value: 256n, length: 1 } }), isProto);
  t.throws(() => formatCryptoLine({ ...good, lifetime: 2 ** 49 }), isProto);
  t.throws(() => formatCryptoLine({ ...good, kdr: 0 }), isProto);
});

t.test('the suite table matches the SRTP module\'s table', async (t) => {
  t.same([...SDES_SUITE_NAMES].sort(), Object.keys(SRTP_SUITES).sort());
  for (const name of SDES_SUITE_NAMES) {
    const a = SDES_SUITES[name];
    const b = SRTP_SUITES[name];
    t.same([a.keyLen, a.saltLen, a.srtpTagLen, a.srtcpTagLen, a.aead], [b.keyLength, b.saltLength, b.srtpTagLength, b.srtcpTagLength, b.aead], name);
  }
});

t.test('SDES keys drive SRTP: phone protects with its line, the box unprotects with the same line', async (t) => {
  for (const suite of SDES_SUITE_NAMES) {
    const phone = offerCrypto([suite], seededRandom(11))[0]!;
    const seen = ok(parseCryptoLine(formatCryptoLine({ ...phone, mki: { value: 1n, length: 2 }, kdr: 16 })));
    const tx = new SrtpSession(srtpOptionsOf({ ...phone, mki: { value: 1n, length: 2 }, kdr: 16 }));
    const rx = new SrtpSession(srtpOptionsOf(seen));
    const rtp = Buffer.concat([Buffer.from([0x80, 0, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4]), Buffer.alloc(160, 0x55)]);
    const wire = tx.protectRtp(rtp);
    if (typeof wire === 'string') throw new Error(wire);
    t.not(wire.subarray(12, 172).toString('hex'), rtp.subarray(12).toString('hex'), `${suite}: payload encrypted`);
    const back = rx.unprotectRtp(Buffer.from(wire));
    t.same(typeof back === 'string' ? back : Buffer.from(back), rtp, `${suite}: round trip`);
  }
  t.same(srtpOptionsOf({ ...offerCrypto(['AES_CM_128_HMAC_SHA1_80'], seededRandom(1))[0]!, wsh: 200 }).replayWindow, 128, 'WSH >= 128 widens the window');
});

t.test('property: hostile a=crypto values never throw, and the parse is total', async (t) => {
  const good = [RFC_SECTION4, RFC_FEC, RFC_F8_TWO_KEYS, RFC_MKI_ONLY, line('AEAD_AES_256_GCM', 44, '|2^31|7:2 KDR=4 WSH=64')];
  const mutate = fc.tuple(fc.constantFrom(...good), fc.nat(200), fc.nat(200), fc.string({ maxLength: 12 })).map(([s, a, b, ins]) => {
    const i = a % (s.length + 1);
    const j = Math.min(s.length, i + (b % 8));
    return s.slice(0, i) + ins + s.slice(j);
  });
  fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), mutate), (v) => {
    try {
      const r = parseCryptoLine(v);
      if (r.ok) formatCryptoLine(r.crypto); // anything accepted can be written back
      sdesOfMedia(audio('RTP/SAVP', [v, v]));
    } catch (e) {
      if (!isPbxError(e)) throw e;
      throw new Error(`parse threw instead of skipping: ${String(e)}`);
    }
  }), { numRuns: 3000 });
});

t.test('property: format then parse gives back the same attribute', async (t) => {
  const attr = fc.record({
    tag: fc.integer({ min: 0, max: 999_999_999 }),
    suite: fc.constantFrom(...SDES_SUITE_NAMES),
    seed: fc.integer({ min: 1, max: 2 ** 31 }),
    lifetime: fc.option(fc.oneof(fc.integer({ min: 1, max: 2 ** 40 }), fc.integer({ min: 0, max: 48 }).map((n) => 2 ** n)), { nil: undefined }),
    mkiLen: fc.option(fc.integer({ min: 1, max: 128 }), { nil: undefined }),
    mkiVal: fc.bigInt({ min: 0n, max: 255n }),
    kdr: fc.option(fc.integer({ min: 1, max: 24 }), { nil: undefined }),
    wsh: fc.option(fc.integer({ min: 64, max: 32768 }), { nil: undefined }),
  });
  fc.assert(fc.property(attr, (a) => {
    const s = SDES_SUITES[a.suite];
    const bytes = seededRandom(a.seed).bytes(s.keyLen + s.saltLen);
    const c: CryptoAttribute = {
      tag: a.tag, suite: a.suite, key: bytes.subarray(0, s.keyLen), salt: bytes.subarray(s.keyLen),
      ...(a.lifetime !== undefined ? { lifetime: a.lifetime } : {}),
      ...(a.mkiLen !== undefined ? { mki: { value: a.mkiVal, length: a.mkiLen } } : {}),
      ...(a.kdr !== undefined ? { kdr: a.kdr } : {}),
      ...(a.wsh !== undefined ? { wsh: a.wsh } : {}),
    };
    const text = formatCryptoLine(c);
    const back = ok(parseCryptoLine(text));
    if (formatCryptoLine(back) !== text) throw new Error(`round trip changed ${describeCrypto(c)}`);
    if (!back.key.equals(c.key) || !back.salt.equals(c.salt) || back.lifetime !== c.lifetime || back.kdr !== c.kdr) throw new Error('fields changed');
  }), { numRuns: 500 });
});
