import { createCipheriv, type Cipher } from 'node:crypto';

export const AES_BLOCK = 16;

/**
 * One AES-ECB context per session key, kept for the key's life: each call
 * encrypts as many blocks as given in one trip into node:crypto. Counter mode
 * (RFC 3711 4.1.1) and GCM's counter blocks (RFC 7714 via SP 800-38D) are
 * built from it by encrypting counter blocks that we lay out ourselves.
 */
export class AesEcb {
  private readonly cipher: Cipher;

  constructor(key: Uint8Array) {
    const algo = key.length === 16 ? 'aes-128-ecb' : key.length === 24 ? 'aes-192-ecb' : 'aes-256-ecb';
    this.cipher = createCipheriv(algo, key, null);
    this.cipher.setAutoPadding(false);
  }

  /** Encrypts whole blocks (length a multiple of 16); returns a new buffer. */
  encrypt(blocks: Uint8Array): Buffer {
    return this.cipher.update(blocks);
  }
}

/**
 * RFC 3711 4.3.1 and 4.3.3: the AES-CM PRF. key_id = label || r (r as 48
 * bits) is XORed into the master salt, right-aligned in 112 bits; the result
 * shifted left 16 bits is the counter, and the keystream is the key. A 96-bit
 * GCM master salt (RFC 7714 11) takes the high bits of that 112-bit field.
 */
export function deriveSessionKey(
  masterKey: Uint8Array, masterSalt: Uint8Array, label: number, r: number, length: number,
): Buffer {
  const iv = Buffer.alloc(AES_BLOCK);
  iv.set(masterSalt.subarray(0, 14), 0);
  iv[7]! ^= label;
  // r < 2^48 occupies bytes 8..13
  const hi = Math.floor(r / 0x10000);
  iv[8]! ^= (hi >>> 24) & 0xff; iv[9]! ^= (hi >>> 16) & 0xff; iv[10]! ^= (hi >>> 8) & 0xff; iv[11]! ^= hi & 0xff;
  iv[12]! ^= (r >>> 8) & 0xff; iv[13]! ^= r & 0xff;
  const algo = masterKey.length === 16 ? 'aes-128-ctr' : masterKey.length === 24 ? 'aes-192-ctr' : 'aes-256-ctr';
  const c = createCipheriv(algo, masterKey, iv);
  return c.update(Buffer.alloc(length));
}

/** RFC 3711 4.3.1 labels (4.3.2 for SRTCP). */
export const LABEL_RTP_ENCRYPTION = 0x00;
export const LABEL_RTP_AUTH = 0x01;
export const LABEL_RTP_SALT = 0x02;
export const LABEL_RTCP_ENCRYPTION = 0x03;
export const LABEL_RTCP_AUTH = 0x04;
export const LABEL_RTCP_SALT = 0x05;

/**
 * Raw AES-CM keystream from a 16-byte initial counter, for the RFC 3711 B.2
 * and RFC 6188 7.1 fixtures; the counter's low 16 bits step per block.
 */
export function aesCmKeystream(key: Uint8Array, iv: Uint8Array, blocks: number): Buffer {
  const ecb = new AesEcb(key);
  const input = Buffer.alloc(blocks * AES_BLOCK);
  for (let j = 0; j < blocks; j++) {
    input.set(iv.subarray(0, AES_BLOCK), j * AES_BLOCK);
    const c = ((iv[14]! << 8) | iv[15]!) + j;
    // Carry into the bytes above, as a 128-bit counter would.
    let carry = c >>> 16;
    input[j * AES_BLOCK + 14] = (c >>> 8) & 0xff;
    input[j * AES_BLOCK + 15] = c & 0xff;
    for (let k = 13; k >= 0 && carry; k--) {
      const v = input[j * AES_BLOCK + k]! + carry;
      input[j * AES_BLOCK + k] = v & 0xff;
      carry = v >>> 8;
    }
  }
  return ecb.encrypt(input);
}
