/**
 * An encrypted capture exported as a classic libpcap file that Wireshark and
 * tshark read (`-d udp.port==N,rtp` decodes a leg as RTP). The packets are
 * RAW IPv4 (LINKTYPE_RAW, 101): a synthetic IPv4 and UDP header in front of
 * each packet as it came, one UDP port per leg. The box only ever saw the
 * SRTP packet, not the addresses, so the addresses are documentation ones
 * (192.0.2.0/24, RFC 5737).
 *
 * Global header (24 bytes, little-endian):
 *   magic a1b2c3d4 | major 2 | minor 4 | thiszone 0 | sigfigs 0 | snaplen | linktype
 * Record header (16 bytes): seconds | microseconds | captured length | original length
 *
 * IPv4 header (RFC 791, 20 bytes, no options) and UDP header (RFC 768, 8 bytes):
 *   45 00 total-length | id 0 flags DF | ttl 64 proto 17 checksum | src | dst
 *   src port | dst port | length | checksum 0 (none, allowed over IPv4)
 */
import { PbxError } from '../core/index.js';

export const PCAP_GLOBAL_HEADER_LEN = 24;
export const PCAP_RECORD_HEADER_LEN = 16;
export const LINKTYPE_RAW = 101;
export const PCAP_SNAPLEN = 65535;
const IP_UDP_LEN = 28;
/** The largest UDP payload an IPv4 datagram can carry. */
export const MAX_UDP_PAYLOAD = 65535 - IP_UDP_LEN;
/** Leg i is UDP port CAPTURE_BASE_PORT + 2 i (an even RTP port, as a phone would use). */
export const CAPTURE_BASE_PORT = 40000;

export function capturePort(legIndex: number): number {
  return CAPTURE_BASE_PORT + 2 * legIndex;
}

export function pcapGlobalHeader(): Buffer {
  const h = Buffer.alloc(PCAP_GLOBAL_HEADER_LEN);
  h.writeUInt32LE(0xa1b2c3d4, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeInt32LE(0, 8);
  h.writeUInt32LE(0, 12);
  h.writeUInt32LE(PCAP_SNAPLEN, 16);
  h.writeUInt32LE(LINKTYPE_RAW, 20);
  return h;
}

function ipChecksum(b: Buffer, off: number, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i += 2) sum += b.readUInt16BE(off + i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** One pcap record: the packet of leg `legIndex` that arrived at `arrivedAt` (ms since the epoch). */
export function pcapRecord(legIndex: number, arrivedAt: number, payload: Uint8Array): Buffer {
  if (payload.length > MAX_UDP_PAYLOAD) throw new PbxError('limit', 'packet too large for a UDP datagram');
  if (legIndex < 0 || legIndex > 250) throw new PbxError('limit', 'leg index out of range');
  const total = IP_UDP_LEN + payload.length;
  const r = Buffer.alloc(PCAP_RECORD_HEADER_LEN + total);
  const us = Math.max(0, Math.round(arrivedAt * 1000));
  r.writeUInt32LE(Math.floor(us / 1e6) >>> 0, 0);
  r.writeUInt32LE(us % 1e6, 4);
  r.writeUInt32LE(total, 8);
  r.writeUInt32LE(total, 12);
  const ip = PCAP_RECORD_HEADER_LEN;
  r[ip] = 0x45;
  r.writeUInt16BE(total, ip + 2);
  r.writeUInt16BE(0x4000, ip + 6);
  r[ip + 8] = 64;
  r[ip + 9] = 17;
  r.set([192, 0, 2, 1 + legIndex], ip + 12);
  r.set([192, 0, 2, 254], ip + 16);
  r.writeUInt16BE(ipChecksum(r, ip, 20), ip + 10);
  const udp = ip + 20;
  const port = capturePort(legIndex);
  r.writeUInt16BE(port, udp);
  r.writeUInt16BE(port, udp + 2);
  r.writeUInt16BE(8 + payload.length, udp + 4);
  r.set(payload, udp + 8);
  return r;
}
