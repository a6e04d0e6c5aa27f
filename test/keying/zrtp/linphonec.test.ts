import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { parsePacket, type DhPartMessage, type ZrtpMessage } from '../../../firmware/keying/zrtp/index.js';

/*
 * Packets of a real ZRTP implementation (linphonec's bzrtp), captured in the
 * interop test, as fixtures: our parser reads every one, and what it reads is
 * checked against facts the packets prove about themselves, computed here on
 * node:crypto: the hash chain H1 -> H2 -> H3 (RFC 6189 9) and the MACs keyed
 * by the next revealed hash image (Hello by H2, Commit by H1).
 */
// Runs from dist/test/keying/zrtp/, four levels below the project root.
const FIXTURE = new URL('../../../../test/keying/zrtp/fixtures/linphonec.hex', import.meta.url);
const packets = readFileSync(FIXTURE, 'utf8').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'))
  .map((l) => Buffer.from(l.trim(), 'hex'));

const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();
const mac8 = (key: Buffer, data: Buffer): Buffer => createHmac('sha256', key).update(data).digest().subarray(0, 8);

t.test('linphonec ZRTP packets from a real call: each parses, in the order of the exchange', async (t) => {
  const parsed = packets.map((p) => parsePacket(p));
  t.equal(parsed.length, 7, 'seven packets in the fixture');
  t.same(parsed.map((p) => (p.ok ? p.message.type : `refused ${p.reason}`)),
    ['Hello', 'HelloACK', 'Hello', 'Commit', 'DHPart1', 'Confirm1', 'Conf2ACK'], 'types as sent');
  const ssrcs = new Set(parsed.map((p) => (p.ok ? p.ssrc : -1)));
  t.equal(ssrcs.size, 1, 'one SSRC for the whole exchange');
  const seqs = parsed.map((p) => (p.ok ? p.sequence : -1));
  t.ok(seqs.every((s, i) => i === 0 || s === ((seqs[i - 1]! + 1) & 0xffff)), `sequence numbers count up by one (${seqs.join(', ')})`);
});

t.test('what the parser read matches what the packets prove: hash chain and MACs (RFC 6189 9, 5.2, 5.4)', async (t) => {
  const msgs = packets.map((p) => parsePacket(p)).filter((p) => p.ok);
  const get = <T extends ZrtpMessage['type']>(type: T): { message: Extract<ZrtpMessage, { type: T }>; bytes: Buffer } => {
    const p = msgs.find((m) => m.message.type === type)!;
    return { message: p.message as Extract<ZrtpMessage, { type: T }>, bytes: p.messageBytes };
  };
  const hello = get('Hello');
  const commit = get('Commit');
  const dhPacket = msgs.find((m) => m.message.type === 'DHPart1')!;
  const dh = { message: dhPacket.message as DhPartMessage };
  t.equal(hello.message.version, '1.10', 'Hello: version 1.10');
  t.equal(hello.message.zid.length, 12, 'Hello: a 12-byte ZID');
  t.equal(hello.message.mitm, false, 'Hello: linphonec is no trusted MiTM');
  t.ok(hello.message.hashes.includes('S256') || hello.message.hashes.length === 0, `Hello: hashes ${hello.message.hashes.join(',') || '(mandatory only)'}`);
  t.same(commit.message.zid, hello.message.zid, 'Commit carries the Hello\'s ZID');
  t.same(sha256(dh.message.h1), commit.message.h2, 'SHA-256(H1 from DHPart1) = H2 from the Commit');
  t.same(sha256(commit.message.h2), hello.message.h3, 'SHA-256(H2) = H3 from the Hello');
  t.same(mac8(commit.message.h2, hello.bytes.subarray(0, hello.bytes.length - 8)), hello.message.mac, 'the Hello\'s MAC, keyed by H2, matches');
  t.same(mac8(dh.message.h1, commit.bytes.subarray(0, commit.bytes.length - 8)), commit.message.mac, 'the Commit\'s MAC, keyed by H1, matches');
  const second = msgs.filter((m) => m.message.type === 'Hello');
  t.same(second[0]!.messageBytes, second[1]!.messageBytes, 'the resent Hello is the same message');
});

t.test('one flipped bit anywhere in a real packet: refused (CRC), never a throw', async (t) => {
  let refused = 0;
  let total = 0;
  for (const p of packets) {
    for (let bit = 0; bit < p.length * 8; bit += 7) {
      const m = Buffer.from(p);
      m[bit >> 3]! ^= 1 << (bit & 7);
      total++;
      if (!parsePacket(m).ok) refused++;
    }
  }
  t.equal(refused, total, `all ${total} single-bit mutations refused`);
});
