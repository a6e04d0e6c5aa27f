/**
 * CRC-32C (Castagnoli, RFC 3309; the SCTP checksum of RFC 4960 appendix B),
 * which ZRTP puts in the last word of every packet (RFC 6189 5). The
 * reflected polynomial 0x82F63B78, initial value and final xor all ones. As
 * in SCTP and iSCSI (RFC 3720 B.4 lists the check bytes that way), the value
 * goes on the wire least significant byte first: that is what the deployed
 * ZRTP stacks send and check (see crc32cBytes).
 */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (c & 1 ? 0x82f63b78 : 0);
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32c(data: Uint8Array, start = 0, end = data.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = (c >>> 8) ^ (TABLE[(c ^ (data[i] as number)) & 0xff] as number);
  return (c ^ 0xffffffff) >>> 0;
}

/** The 4 CRC bytes as they end a ZRTP packet. */
export function writeCrc32c(packet: Buffer): void {
  packet.writeUInt32LE(crc32c(packet, 0, packet.length - 4), packet.length - 4);
}

export function crc32cOk(packet: Buffer): boolean {
  return crc32c(packet, 0, packet.length - 4) === packet.readUInt32LE(packet.length - 4);
}
