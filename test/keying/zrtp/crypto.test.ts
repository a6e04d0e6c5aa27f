import t from 'tap';
import { createHash, createHmac, getDiffieHellman } from 'node:crypto';
import { seededRandom, type Random } from '../../../firmware/core/index.js';
import {
  PGP_WORDS_EVEN, PGP_WORDS_ODD, PV_BYTES, cfb, checkZrtpHash, computeS0, deriveKeys, generateKeyPair, hashChain, kdf, renderSas,
  secretId, srtpSuiteOf, zrtpHashOfHello,
} from '../../../firmware/keying/zrtp/index.js';

const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
/** A Random that hands out fixed bytes, to feed known private keys. */
function fixed(...chunks: Buffer[]): Random {
  const base = seededRandom(1);
  return { ...base, bytes: (n) => { const c = chunks.shift(); if (!c || c.length !== n) throw new Error('unexpected draw'); return c; } };
}

t.test('X255 agrees as RFC 7748 6.1 says (Alice and Bob)', async (t) => {
  const alice = generateKeyPair('X255', fixed(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')));
  const bob = generateKeyPair('X255', fixed(hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb')));
  t.same(alice.pv, hex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a'));
  t.same(bob.pv, hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f'));
  const k = hex('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
  t.same(alice.agree(bob.pv), k);
  t.same(bob.agree(alice.pv), k);
  t.equal(alice.agree(Buffer.alloc(32)), undefined, 'the all-zero (small order) point is refused');
  t.equal(alice.agree(Buffer.alloc(31, 1)), undefined, 'a short pv is refused');
});

t.test('EC25 agrees as RFC 5903 8.1 says (P-256), pv is x || y', async (t) => {
  const i = generateKeyPair('EC25', fixed(hex('C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433')));
  const r = generateKeyPair('EC25', fixed(hex('C6EF9C5D 78AE012A 011164AC B397CE20 88685D8F 06BF9BE0 B283AB46 476BEE53')));
  t.same(i.pv, hex('DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF 945D0C37 72581180 5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3'));
  t.same(r.pv, hex('D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63 56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB'));
  const z = hex('D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE');
  t.same(i.agree(r.pv), z);
  t.same(r.agree(i.pv), z);
  const off = Buffer.from(r.pv); off[63] = (off[63] as number) ^ 1;
  t.equal(i.agree(off), undefined, 'a point off the curve is refused');
});

t.test('DH3k uses RFC 3526 group 15 and refuses 0, 1, p-1 and p (RFC 6189 4.4.1.1)', async (t) => {
  const a = generateKeyPair('DH3k', seededRandom(3));
  const b = generateKeyPair('DH3k', seededRandom(4));
  t.equal(a.pv.length, PV_BYTES.DH3k);
  const s = a.agree(b.pv);
  t.ok(s); t.same(s, b.agree(a.pv)); t.equal(s?.length, 384);
  const p = getDiffieHellman('modp15').getPrime();
  t.equal(p.length, 384);
  t.match(p.toString('hex').slice(0, 16), /^ffffffffffffffff$/, 'the MODP prime');
  const pm1 = Buffer.from(p); pm1[383] = (pm1[383] as number) - 1;
  const one = Buffer.alloc(384); one[383] = 1;
  for (const bad of [Buffer.alloc(384), one, pm1, p, Buffer.alloc(384, 0xff)]) t.equal(a.agree(bad), undefined);
  // Independent check of the public value: 2^x mod p by node's own DH with the same secret.
  const dh = getDiffieHellman('modp15');
  t.same(a.agree(dh.generateKeys()), dh.computeSecret(a.pv), 'both sides of an independent DH agree with us');
});

t.test('KDF is HMAC(KI, 1 || label || 0 || context || L) truncated (RFC 6189 4.5.1)', async (t) => {
  const ki = Buffer.alloc(32, 3); const ctx = Buffer.alloc(56, 9);
  const want = createHmac('sha256', ki).update(Buffer.concat([hex('00000001'), Buffer.from('SAS'), hex('00'), ctx, hex('00000100')])).digest();
  t.same(kdf(ki, 'SAS', ctx, 256), want);
  const w112 = createHmac('sha256', ki).update(Buffer.concat([hex('00000001'), Buffer.from('Initiator SRTP master salt'), hex('00'), ctx, hex('00000070')])).digest();
  t.same(kdf(ki, 'Initiator SRTP master salt', ctx, 112), w112.subarray(0, 14));
});

t.test('s0 and the derived keys follow RFC 6189 4.4.1.4 / 4.5.2-3', async (t) => {
  const dh = Buffer.alloc(32, 1); const zidI = Buffer.alloc(12, 2); const zidR = Buffer.alloc(12, 3); const th = Buffer.alloc(32, 4);
  const s1 = Buffer.alloc(32, 5);
  const noSecrets = computeS0({ dhResult: dh, zidI, zidR, totalHash: th });
  const manual = (parts: Buffer[]): Buffer => sha256(Buffer.concat(parts));
  const u32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  t.same(noSecrets, manual([u32(1), dh, Buffer.from('ZRTP-HMAC-KDF'), zidI, zidR, th, u32(0), u32(0), u32(0)]));
  t.same(computeS0({ dhResult: dh, zidI, zidR, totalHash: th, s1 }),
    manual([u32(1), dh, Buffer.from('ZRTP-HMAC-KDF'), zidI, zidR, th, u32(32), s1, u32(0), u32(0)]));
  const k = deriveKeys(noSecrets, zidI, zidR, th, 'AES3');
  const ctx = Buffer.concat([zidI, zidR, th]);
  t.same(k.kdfContext, ctx);
  t.same(k.srtpKeyI, kdf(noSecrets, 'Initiator SRTP master key', ctx, 256));
  t.same(k.srtpSaltR, kdf(noSecrets, 'Responder SRTP master salt', ctx, 112));
  t.same(k.newRs1, kdf(noSecrets, 'retained secret', ctx, 256));
  t.equal(k.zrtpKeyI.length, 32); t.equal(deriveKeys(noSecrets, zidI, zidR, th, 'AES1').zrtpKeyI.length, 16);
  t.same(secretId(s1, 'initiator'), createHmac('sha256', s1).update('Initiator').digest().subarray(0, 8));
});

t.test('hash chain H0..H3 (RFC 6189 9)', async (t) => {
  const c = hashChain(Buffer.alloc(32, 7));
  t.same(c.h1, sha256(c.h0)); t.same(c.h2, sha256(c.h1)); t.same(c.h3, sha256(c.h2));
});

t.test('SAS rendering: B32 is z-base-32 of the leftmost 20 bits, B256 two PGP words (RFC 6189 5.1.6)', async (t) => {
  t.equal(renderSas('B32', hex('00000000')), 'yyyy');
  t.equal(renderSas('B32', hex('ffffffff')), '9999');
  // 0x08421 -> 00001 00001 00001 00001 -> 'bbbb'
  t.equal(renderSas('B32', hex('08421000')), 'bbbb');
  t.equal(renderSas('B32', hex('8c6318c6')), 'tttt', '10001 (17) four times');
  // Known renderings of the PGP word list: FE ED -> woodlark unify, FA CE -> wallet sardonic, BE EF -> skydive unravel.
  t.equal(renderSas('B256', hex('feedface')), 'woodlark unify');
  t.equal(renderSas('B256', hex('face0000')), 'wallet sardonic');
  t.equal(renderSas('B256', hex('beef0000')), 'skydive unravel');
  t.equal(renderSas('B256', hex('0000')), 'aardvark adroitness');
  t.equal(renderSas('B256', hex('ffff')), 'Zulu Yucatan');
  t.equal(PGP_WORDS_EVEN.length, 256); t.equal(PGP_WORDS_ODD.length, 256);
  t.equal(new Set([...PGP_WORDS_EVEN, ...PGP_WORDS_ODD].map((w) => w.toLowerCase())).size, 512, 'no word twice');
});

t.test('CFB-128 for the Confirm part round-trips and maps suites (RFC 6189 5.7, 5.1.4)', async (t) => {
  const key = Buffer.alloc(16, 1); const iv = Buffer.alloc(16, 2); const data = Buffer.alloc(40, 3);
  const enc = cfb('AES1', key, iv, data, true);
  t.equal(enc.length, 40); t.notSame(enc, data);
  t.same(cfb('AES1', key, iv, enc, false), data);
  t.same(cfb('AES3', Buffer.alloc(32, 1), iv, cfb('AES3', Buffer.alloc(32, 1), iv, data, true), false), data);
  t.equal(srtpSuiteOf('AES1', 'HS80'), 'AES_CM_128_HMAC_SHA1_80');
  t.equal(srtpSuiteOf('AES3', 'HS32'), 'AES_256_CM_HMAC_SHA1_32');
});

t.test('a=zrtp-hash of a Hello and its check (RFC 6189 8.1)', async (t) => {
  const hello = Buffer.from('505a0003', 'hex');
  const h = zrtpHashOfHello(hello);
  t.equal(h, sha256(hello).toString('hex'));
  t.equal(checkZrtpHash(`1.10 ${h}`, hello), true);
  t.equal(checkZrtpHash(`1.10 ${h.toUpperCase()}`, hello), true);
  t.equal(checkZrtpHash(`1.00 ${h}`, hello), false, 'another version');
  t.equal(checkZrtpHash(`1.10 ${h.slice(0, 62)}`, hello), false);
  t.equal(checkZrtpHash(`1.10 ${'0'.repeat(64)}`, hello), false);
  t.equal(checkZrtpHash('', hello), false);
});
