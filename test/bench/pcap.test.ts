/**
 * The soak's audio (scripts/bench/sipp.ts pcmuPcap): a pcap that tshark reads
 * as 20 ms PCMU RTP, one stream, sequence and timestamp stepping by 1 and 160.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { pcmuPcap } from '../../scripts/bench/sipp.js';

const haveTshark = ((): boolean => { try { execFileSync('tshark', ['-v'], { stdio: 'ignore' }); return true; } catch { return false; } })();

t.test('pcmuPcap: 1 s is 50 PCMU packets of 160 bytes, 20 ms apart, as tshark decodes them', { skip: haveTshark ? false : 'tshark not installed' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pbx-pcap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'a.pcap');
  writeFileSync(file, pcmuPcap(1000));
  const out = execFileSync('tshark', ['-r', file, '-d', 'udp.port==6000,rtp', '-T', 'fields', '-E', 'separator=,',
    '-e', 'frame.time_relative', '-e', 'rtp.p_type', '-e', 'rtp.seq', '-e', 'rtp.timestamp', '-e', 'rtp.ssrc', '-e', 'udp.length', '-e', 'ip.checksum.status'],
  { encoding: 'utf8' }).trim().split('\n').map((l) => l.split(','));
  t.equal(out.length, 50, '50 packets');
  t.ok(out.every((f) => f[1] === '0'), 'payload type 0 (PCMU)');
  t.same(out.map((f) => Number(f[2])), out.map((_, i) => i), 'sequence 0, 1, 2 ...');
  t.same(out.map((f) => Number(f[3])), out.map((_, i) => i * 160), 'timestamp steps by 160');
  t.equal(new Set(out.map((f) => f[4])).size, 1, 'one SSRC');
  t.ok(out.every((f) => f[5] === '180'), 'UDP length 8 + 12 + 160');
  t.ok(Math.abs(Number(out[49]?.[0]) - 0.98) < 1e-6, 'the last packet at 980 ms');
});
