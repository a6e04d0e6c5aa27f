import t from 'tap';
import fc from 'fast-check';
import {
  checkRtcpCompound, parseRtcpCompound, parseRtp, SourceStats,
} from '../../firmware/media/index.js';
import { rtcpRR, rtcpSdes, rtp } from './helpers.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

t.test('RFC 3550 5.1: minimal PCMU packet, fields decoded', async (t) => {
  // V=2 P=0 X=0 CC=0 | M=1 PT=0 | seq 0x1234 | ts 0xa0 | SSRC 0xdeadbeef | 4 bytes of payload
  const r = parseRtp(hex('80 80 12 34 00 00 00 a0 de ad be ef ff ff 7f 7f'));
  t.ok(r.ok);
  if (!r.ok) return;
  t.same(
    { m: r.header.marker, pt: r.header.payloadType, seq: r.header.sequenceNumber, ts: r.header.timestamp, ssrc: r.header.ssrc },
    { m: true, pt: 0, seq: 0x1234, ts: 0xa0, ssrc: 0xdeadbeef },
  );
  t.equal(r.header.payloadOffset, 12);
  t.equal(r.header.payloadLength, 4);
  t.same(r.header.csrcs, []);
  t.equal(r.header.extension, undefined);
});

t.test('RFC 3550 5.1: CSRC list, 5.3.1 extension and padding located exactly', async (t) => {
  const pkt = rtp({ pt: 101, csrcs: [1, 0xfffffffe], ext: { profile: 0xbede, words: 2 }, payload: Buffer.from('abcd'), pad: 4 });
  const r = parseRtp(pkt);
  t.ok(r.ok);
  if (!r.ok) return;
  t.same(r.header.csrcs, [1, 0xfffffffe]);
  t.equal(r.header.extension?.profile, 0xbede);
  t.equal(r.header.extension?.data.length, 8);
  t.equal(r.header.payloadOffset, 12 + 8 + 4 + 8);
  t.equal(r.header.payloadLength, 4);
  t.equal(r.header.paddingLength, 4);
  t.equal(Buffer.from(pkt.subarray(r.header.payloadOffset, r.header.payloadOffset + r.header.payloadLength)).toString(), 'abcd');
});

t.test('RFC 3550 5.1: rejects truncated, bad version, bad padding', async (t) => {
  const reason = (b: Buffer): string => { const r = parseRtp(b); return r.ok ? 'ok' : r.reason; };
  t.equal(reason(hex('80 00 00 01 00 00 00 a0 de ad be')), 'short', '11 bytes');
  t.equal(reason(Buffer.alloc(0)), 'short');
  t.equal(reason(hex('83 00 00 01 00 00 00 a0 de ad be ef 00 00 00 01')), 'short', 'CC=3 but one CSRC present');
  t.equal(reason(hex('90 00 00 01 00 00 00 a0 de ad be ef be de')), 'short', 'X set, extension header cut');
  t.equal(reason(hex('90 00 00 01 00 00 00 a0 de ad be ef be de 00 02 00 00 00 00')), 'short', 'extension longer than packet');
  t.equal(reason(hex('40 00 00 01 00 00 00 a0 de ad be ef 00')), 'bad-version', 'version 1');
  t.equal(reason(hex('c0 00 00 01 00 00 00 a0 de ad be ef 00')), 'bad-version', 'version 3');
  t.equal(reason(hex('a0 00 00 01 00 00 00 a0 de ad be ef 01 02 00')), 'bad-padding', 'padding count 0');
  t.equal(reason(hex('a0 00 00 01 00 00 00 a0 de ad be ef 01 02 09')), 'bad-padding', 'padding reaches into the header');
  t.equal(reason(hex('a0 00 00 01 00 00 00 a0 de ad be ef 01 02 03')), 'ok', 'padding of the whole payload is legal');
});

t.test('RFC 3550 6.4.2 / A.2: receiver report blocks decoded, cumulative loss signed', async (t) => {
  const pkt = rtcpRR(0xaaaa0001, [
    { ssrc: 0x11223344, fraction: 64, cumulative: 1234, highest: 0x00010005, jitter: 80 },
    { ssrc: 5, fraction: 0, cumulative: -3, highest: 9, jitter: 0 },
  ]);
  const r = parseRtcpCompound(pkt);
  t.ok(r.ok);
  if (!r.ok) return;
  t.equal(r.packets.length, 1);
  const p = r.packets[0]!;
  t.equal(p.packetType, 201);
  t.equal(p.ssrc, 0xaaaa0001);
  t.same(p.reports?.map((b) => [b.ssrc, b.fractionLost, b.cumulativeLost, b.extendedHighestSeq, b.jitter]), [
    [0x11223344, 0.25, 1234, 0x00010005, 80],
    [5, 0, -3, 9, 0],
  ]);
});

t.test('RFC 3550 6.4.1: sender report with sender info, in a compound with SDES', async (t) => {
  const sr = hex(`81 c8 00 0c  00 00 00 07
    e1 2a 00 00  80 00 00 00  00 00 a0 00  00 00 00 32  00 00 1f 40
    00 00 00 09  0a 00 00 02  00 00 01 00  00 00 00 10  00 00 00 00  00 00 00 00`);
  const compound = Buffer.concat([sr, rtcpSdes(7, 'phone@lan')]);
  const r = parseRtcpCompound(compound);
  t.ok(r.ok);
  if (!r.ok) return;
  t.same(r.packets.map((p) => p.packetType), [200, 202]);
  t.same(r.packets[0]!.sender, { ntpMsw: 0xe12a0000, ntpLsw: 0x80000000, rtpTimestamp: 0xa000, packetCount: 50, octetCount: 8000 });
  t.equal(r.packets[0]!.reports?.[0]?.fractionLost, 10 / 256);
  t.equal(r.packets[0]!.reports?.[0]?.cumulativeLost, 2);
  t.equal(r.packets[1]!.offset, sr.length);
});

t.test('RFC 3550 A.2: compound validity rules', async (t) => {
  const rr = rtcpRR(1);
  const sdes = rtcpSdes(1, 'x');
  t.equal(checkRtcpCompound(Buffer.concat([rr, sdes])), null);
  t.equal(checkRtcpCompound(sdes), 'bad-first-type', 'must start with SR or RR');
  t.equal(checkRtcpCompound(rr.subarray(0, 4)), 'short');
  t.equal(checkRtcpCompound(Buffer.concat([rr, Buffer.from([0x80])])), 'short', 'not a multiple of 4');
  const longClaim = Buffer.concat([rr, sdes]);
  longClaim.writeUInt16BE(10, rr.length + 2);
  t.equal(checkRtcpCompound(longClaim), 'short', 'second length runs past the end');
  const v1 = Buffer.concat([rr, sdes]);
  v1[rr.length] = 0x41;
  t.equal(checkRtcpCompound(v1), 'bad-version', 'second packet version 1');
  const badFirst = Buffer.from(rr);
  badFirst[0] = 0x40;
  t.equal(checkRtcpCompound(badFirst), 'bad-version');
  const padFirst = Buffer.concat([rr, sdes]);
  padFirst[0] = 0xa0;
  t.equal(checkRtcpCompound(padFirst), 'bad-padding', 'padding only on the last packet');
  const padLast = Buffer.concat([rr, sdes]);
  padLast[rr.length] |= 0x20;
  padLast[padLast.length - 1] = 4;
  t.equal(checkRtcpCompound(padLast), null, 'padding on the last packet is fine');
  const tooManyBlocks = rtcpRR(1, [{ ssrc: 1, fraction: 0, cumulative: 0, highest: 0, jitter: 0 }]);
  tooManyBlocks[0] = 0x82;
  t.equal(checkRtcpCompound(tooManyBlocks), 'bad-report-count');
});

function feed(s: SourceStats, seqs: readonly number[]): boolean[] {
  return seqs.map((q) => s.updateSeq(q & 0xffff));
}

t.test('RFC 3550 A.1: probation then in-order packets count, no loss', async (t) => {
  const s = new SourceStats();
  const valid = feed(s, [100, 101, 102, 103, 104, 105, 106, 107, 108, 109]);
  t.same(valid.slice(0, 3), [false, true, true], 'first packet is on probation (MIN_SEQUENTIAL 2)');
  t.equal(s.received, 9);
  t.equal(s.extendedMaxSeq, 109);
  t.equal(s.lost, 0);
});

t.test('RFC 3550 A.1/A.3: a gap counts as loss', async (t) => {
  const s = new SourceStats();
  feed(s, [100, 101, 102, 105, 106]);
  t.equal(s.lost, 2, '103 and 104');
});

t.test('RFC 3550 A.1: sequence wrap adds a cycle', async (t) => {
  const s = new SourceStats();
  feed(s, [65533, 65534, 65535, 0, 1]);
  t.equal(s.extendedMaxSeq, 65536 + 1);
  t.equal(s.received, 4);
  t.equal(s.lost, 0);
});

t.test('RFC 3550 A.1: misordered and duplicate packets', async (t) => {
  const m = new SourceStats();
  feed(m, [100, 101, 103, 102, 104]);
  t.equal(m.lost, 0, 'late packet within MAX_MISORDER counts');
  const d = new SourceStats();
  feed(d, [100, 101, 102, 102]);
  t.equal(d.lost, -1, 'a duplicate makes expected - received negative');
});

t.test('RFC 3550 A.1: a big jump restarts only when the next packet follows it', async (t) => {
  const s = new SourceStats();
  feed(s, [100, 101, 102, 103]);
  t.equal(s.updateSeq(20000), false, 'jump beyond MAX_DROPOUT is not trusted');
  t.equal(s.extendedMaxSeq, 103);
  t.equal(s.updateSeq(20001), true, 'the sequel restarts the source');
  t.equal(s.extendedMaxSeq, 20001);
  t.equal(s.lost, 0);
  t.equal(s.updateSeq(5), false, 'a single stray jump back is not trusted');
});

t.test('RFC 3550 A.1: probation restarts on a non-consecutive packet', async (t) => {
  const s = new SourceStats();
  t.same(feed(s, [100, 150, 151, 152]), [false, false, true, true]);
  t.equal(s.received, 2);
});

t.test('RFC 3550 A.8: interarrival jitter', async (t) => {
  const s = new SourceStats(8000);
  // 20 ms packets, 160 timestamp units apart at 8 kHz, arriving exactly on time: no jitter.
  for (let i = 0; i < 5; i++) s.updateJitter(1000 + i * 20, 160 * i);
  t.equal(s.jitter, 0);
  // Packet 5 arrives 10 ms late: |D| = 80 units, J = 0 + (80 - 0) / 16 = 5.
  s.updateJitter(1000 + 5 * 20 + 10, 160 * 5);
  t.equal(s.jitter, 5);
  t.equal(s.jitterMs, 0.625);
  // Packet 6 back on schedule: |D| = 80 again, J = 5 + (80 - 5) / 16.
  s.updateJitter(1000 + 6 * 20, 160 * 6);
  t.equal(s.jitter, 5 + 75 / 16);
  s.setClockRate(16000);
  t.equal(s.jitter, 0, 'a new clock rate restarts the estimate');
  s.updateJitter(0, 0);
  s.updateJitter(20, 320);
  t.equal(s.jitter, 0, 'wideband: 320 units per 20 ms is on time');
});

t.test('RFC 3550 A.8: the 32-bit timestamp wrap is not a jitter spike', async (t) => {
  const s = new SourceStats(8000);
  s.updateJitter(5000, 0xffffff60);
  s.updateJitter(5020, 0x00000000);
  t.equal(s.jitter, 0);
});

t.test('property: RTP and RTCP parsers never throw and stay in bounds', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
    const b = Buffer.from(bytes);
    const r = parseRtp(b);
    if (r.ok) {
      if (r.header.payloadOffset + r.header.payloadLength + r.header.paddingLength !== b.length) return false;
    }
    parseRtcpCompound(b);
    return true;
  }), { numRuns: 3000 });
  // Also start from valid packets and flip bytes.
  fc.assert(fc.property(fc.nat(255), fc.nat(60), fc.nat(255), (first, at, val) => {
    const b = rtp({ csrcs: [1], ext: { profile: 1, words: 1 }, pad: 2 });
    b[0] = first;
    b[at % b.length] = val;
    parseRtp(b);
    const c = rtcpRR(1, [{ ssrc: 2, fraction: 1, cumulative: 1, highest: 1, jitter: 1 }]);
    c[at % c.length] = val;
    parseRtcpCompound(c);
    return true;
  }), { numRuns: 3000 });
  t.pass();
});
