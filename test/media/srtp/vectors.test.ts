/**
 * Known-answer tests: RFC 3711 appendix B, RFC 6188 section 7 and RFC 7714
 * sections 16-17, plus HMAC-SHA1 (RFC 2202) and GHASH against node:crypto.
 */
import t from 'tap';
import fc from 'fast-check';
import { createCipheriv, createHmac } from 'node:crypto';
import {
  aesCmKeystream, deriveSessionKey, HmacSha1, SrtpSession,
} from '../../../firmware/media/srtp/index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const block = (ks: Buffer, i: number): string => ks.subarray(i * 16, i * 16 + 16).toString('hex');

t.test('RFC 3711 B.2: AES-CM keystream, first and last blocks of a 2^16-block segment', async (t) => {
  const ks = aesCmKeystream(hex('2B7E151628AED2A6ABF7158809CF4F3C'), hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000'), 0xff02);
  t.equal(block(ks, 0), 'e03ead0935c95e80e166b16dd92b4eb4');
  t.equal(block(ks, 1), 'd23513162b02d0f72a43a2fe4a5f97ab');
  t.equal(block(ks, 2), '41e95b3bb0a2e8dd477901e4fca894c0');
  t.equal(block(ks, 0xfeff), 'ec8cdf7398607cb0f2d21675ea9ea1e4');
  t.equal(block(ks, 0xff00), '362b7c3c6773516318a077d7fc5073ae');
  t.equal(block(ks, 0xff01), '6a2cc3787889374fbeb4c81b17ba6c44');
});

t.test('RFC 3711 B.3: key derivation (labels 0, 2, 1; kdr 0)', async (t) => {
  const mk = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
  const ms = hex('0EC675AD498AFEEBB6960B3AABE6');
  t.equal(deriveSessionKey(mk, ms, 0x00, 0, 16).toString('hex'), 'c61e7a93744f39ee10734afe3ff7a087', 'cipher key');
  t.equal(deriveSessionKey(mk, ms, 0x02, 0, 14).toString('hex'), '30cbbc08863d8c85d49db34a9ae1', 'cipher salt');
  t.equal(deriveSessionKey(mk, ms, 0x01, 0, 94).toString('hex'),
    hex(`CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE E049646C43D9327AD175578EF7227098
         6371C10C9A369AC2F94A8C5FBCDDDC25 6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2`).toString('hex'),
    'auth key, all 94 bytes the RFC prints');
});

t.test('RFC 6188 7.1: AES-256-CM keystream', async (t) => {
  const ks = aesCmKeystream(hex('57f82fe3613fd170a85ec93c40b1f0922ec4cb0dc025b58272147cc438944a98'), hex('f0f1f2f3f4f5f6f7f8f9fafbfcfd0000'), 0xff02);
  t.equal(block(ks, 0), '92bdd28a93c3f52511c677d08b5515a4');
  t.equal(block(ks, 1), '9da71b2378a854f67050756ded165bac');
  t.equal(block(ks, 2), '63c4868b7096d88421b563b8c94c9a31');
  t.equal(block(ks, 0xfeff), 'cea518c90fd91ced9cbb18c078a54711');
  t.equal(block(ks, 0xff00), '3dbc4814f4da5f00a08772b63c6a046d');
  t.equal(block(ks, 0xff01), '6eb246913062a16891433e97dd01a57f');
});

t.test('RFC 6188 7.2: AES-256 key derivation', async (t) => {
  const mk = hex('f0f04914b513f2763a1b1fa130f10e2998f6f6e43e4309d1e622a0e332b9f1b6');
  const ms = hex('3b04803de51ee7c96423ab5b78d2');
  t.equal(deriveSessionKey(mk, ms, 0x00, 0, 32).toString('hex'), '5ba1064e30ec51613cad926c5a28ef731ec7fb397f70a960653caf06554cd8c4');
  t.equal(deriveSessionKey(mk, ms, 0x02, 0, 14).toString('hex'), 'fa31791685ca444a9e07c6c64e93');
  t.equal(deriveSessionKey(mk, ms, 0x01, 0, 20).toString('hex'), 'fd9c32d39ed5fbb5a9dc96b30818454d1313dc05');
});

// RFC 7714 16 and 17 give session keys; the salt spells "Quid pro quo".
const GCM_SALT = hex('517569642070726f2071756f');
const GCM_KEY_128 = hex('000102030405060708090a0b0c0d0e0f');
const GCM_KEY_256 = hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
const RTP_7714 = hex(`8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973 20646976
                      69736120 696e2070 61727465 73207472 6573`);
const RTCP_7714 = hex(`81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61
                       deadbeef deadbeef deadbeef deadbeef deadbeef`);
const GCM_CASES = [
  {
    name: 'AEAD_AES_128_GCM', key: GCM_KEY_128, section: '16.1 / 17.1',
    srtp: `8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5 0d294e6f 42a5f47a 51c7d19b
           36de3adf 8833899d 7f27beb1 6a9152cf 765ee439 0cce`,
    srtcp: `81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d c676a5f1 730d6fda 4ce09b46
            86303ded 0bb9275b c84aa458 96cf4d2f c5abf872 45d9eade 800005d4`,
  },
  {
    name: 'AEAD_AES_256_GCM', key: GCM_KEY_256, section: '16.2 / 17.2',
    srtp: `8040f17b 8041f8d3 5501a0b2 32b1de78 a822fe12 ef9f78fa 332e33aa b1801238 9a58e2f3 b50b2a02 76ffae0f
           1ba63799 b87b7aa3 db36dfff d6b0f9bb 7878d7a7 6c13`,
    srtcp: `81c8000d 4d617273 d50ae4d1 f5ce5d30 4ba297e4 7d470c28 2c3ece5d bffe0a50 a2eaa5c1 110555be 8415f658
            c61de047 6f1b6fad 1d1eb30c 4446839f 57ff6f6c b26ac3be 800005d4`,
  },
] as const;

for (const c of GCM_CASES) {
  t.test(`RFC 7714 ${c.section}: ${c.name} SRTP and SRTCP packets`, async (t) => {
    const keys = { key: c.key, salt: GCM_SALT };
    const tx = SrtpSession.fromSessionKeys(c.name, keys, keys);
    const rx = SrtpSession.fromSessionKeys(c.name, keys, keys);
    const p = tx.protectRtp(RTP_7714);
    t.equal(typeof p === 'string' ? p : p.toString('hex'), hex(c.srtp).toString('hex'), 'SRTP, sequence 0xf17b, ROC 0');
    const u = rx.unprotectRtp(hex(c.srtp));
    t.same(u, RTP_7714);
    // The vector's SRTCP index is 0x5d4: send that many reports first.
    for (let i = 0; i < 0x5d4; i++) tx.protectRtcp(RTCP_7714);
    const pc = tx.protectRtcp(RTCP_7714);
    t.equal(typeof pc === 'string' ? pc : pc.toString('hex'), hex(c.srtcp).toString('hex'), 'SRTCP, index 0x5d4, E=1');
    t.same(rx.unprotectRtcp(hex(c.srtcp)), RTCP_7714);
  });
}

t.test('RFC 2202 3: HMAC-SHA1 test cases 1, 2 and 6', async (t) => {
  const mac = (key: Buffer, data: Buffer): string => {
    const d = new HmacSha1(key).mac(data, 0, data.length, 0, 0);
    return Buffer.from(Array.from(d, (w) => [w >>> 24, (w >>> 16) & 0xff, (w >>> 8) & 0xff, w & 0xff]).flat()).toString('hex');
  };
  t.equal(mac(Buffer.alloc(20, 0x0b), Buffer.from('Hi There')), 'b617318655057264e28bc0b6fb378c8ef146be00');
  t.equal(mac(Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?')), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79');
  t.equal(mac(Buffer.alloc(80, 0xaa), Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First')),
    'aa4ae5e15272d00e95705637ce8a3b55ed402112');
});

t.test('HMAC-SHA1 equals node:crypto for every length, with and without the ROC (RFC 3711 4.2)', async (t) => {
  fc.assert(fc.property(
    fc.uint8Array({ minLength: 0, maxLength: 80 }), fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.boolean(), fc.nat(0xffffffff),
    (key, data, withRoc, roc) => {
      const d = new HmacSha1(key).mac(data, 0, data.length, roc, withRoc ? 4 : 0);
      const h = createHmac('sha1', key).update(data);
      if (withRoc) h.update(Buffer.from([roc >>> 24, (roc >>> 16) & 0xff, (roc >>> 8) & 0xff, roc & 0xff]));
      const want = h.digest();
      return d.every((w, i) => (w | 0) === want.readInt32BE(i * 4));
    },
  ), { numRuns: 300 });
  t.pass('matched');
});

t.test('RFC 7714 8: our GCM packets equal node:crypto AES-GCM for any key, salt, header and payload', async (t) => {
  fc.assert(fc.property(
    fc.boolean(), fc.uint8Array({ minLength: 12, maxLength: 12 }), fc.nat(0xffff), fc.nat(0xffffffff),
    fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.nat(3),
    (big, salt, seq, ssrc, payload, csrcs) => {
      const key = Buffer.alloc(big ? 32 : 16, 0x42);
      const s = SrtpSession.fromSessionKeys(big ? 'AEAD_AES_256_GCM' : 'AEAD_AES_128_GCM', { key, salt }, { key, salt });
      const hl = 12 + csrcs * 4;
      const pkt = Buffer.alloc(hl + payload.length);
      pkt[0] = 0x80 | csrcs; pkt[1] = 96; pkt.writeUInt16BE(seq, 2); pkt.writeUInt32BE(ssrc, 8);
      for (let i = 12; i < hl; i++) pkt[i] = i;
      pkt.set(payload, hl);
      const got = s.protectRtp(pkt);
      const iv = Buffer.alloc(12);
      iv.writeUInt32BE(ssrc, 2);
      iv.writeUInt16BE(seq, 10); // ROC 0: the first packet of the stream
      for (let i = 0; i < 12; i++) iv[i]! ^= salt[i]!;
      const c = createCipheriv(big ? 'aes-256-gcm' : 'aes-128-gcm', key, iv);
      c.setAAD(pkt.subarray(0, hl));
      const want = Buffer.concat([pkt.subarray(0, hl), c.update(pkt.subarray(hl)), c.final(), c.getAuthTag()]);
      return typeof got !== 'string' && got.equals(want);
    },
  ), { numRuns: 200 });
  t.pass('matched');
});
