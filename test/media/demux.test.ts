import t from 'tap';
import fc from 'fast-check';
import { classifyFirstByte, classifyPacket } from '../../firmware/media/index.js';

t.test('RFC 7983 section 7: first-byte ranges, edges included', async (t) => {
  const table: [number, string][] = [
    [0, 'stun'], [3, 'stun'], [4, 'unknown'], [15, 'unknown'],
    [16, 'zrtp'], [19, 'zrtp'], [20, 'dtls'], [63, 'dtls'],
    [64, 'turn-channel'], [79, 'turn-channel'], [80, 'unknown'], [127, 'unknown'],
    [128, 'rtp'], [191, 'rtp'], [192, 'unknown'], [255, 'unknown'],
  ];
  for (const [b, want] of table) t.equal(classifyFirstByte(b), want, `byte ${b}`);
});

t.test('RFC 5761 section 4: RTP vs RTCP by the second byte when muxed', async (t) => {
  t.equal(classifyPacket(Buffer.from([0x80, 0])), 'rtp', 'PT 0');
  t.equal(classifyPacket(Buffer.from([0x80, 0x80 | 101])), 'rtp', 'marker + PT 101 (telephone-event)');
  t.equal(classifyPacket(Buffer.from([0x80, 191])), 'rtp', 'M=1 PT=63');
  t.equal(classifyPacket(Buffer.from([0x80, 192])), 'rtcp', 'FIR range start');
  t.equal(classifyPacket(Buffer.from([0x81, 200])), 'rtcp', 'SR');
  t.equal(classifyPacket(Buffer.from([0x81, 201])), 'rtcp', 'RR');
  t.equal(classifyPacket(Buffer.from([0x80, 223])), 'rtcp', 'range end');
  t.equal(classifyPacket(Buffer.from([0x80, 224])), 'rtp', 'M=1 PT=96 is RTP');
  t.equal(classifyPacket(Buffer.alloc(0)), 'unknown');
  t.equal(classifyPacket(Buffer.from([0x00, 0x01])), 'stun');
  t.equal(classifyPacket(Buffer.from([22, 0xfe, 0xfd])), 'dtls', 'DTLS handshake record');
});

t.test('property: every byte string gets exactly one class, no throw', async (t) => {
  const classes = new Set(['stun', 'zrtp', 'dtls', 'turn-channel', 'rtp', 'rtcp', 'unknown']);
  fc.assert(fc.property(fc.uint8Array({ maxLength: 4 }), (b) => classes.has(classifyPacket(b))));
  t.pass();
});
