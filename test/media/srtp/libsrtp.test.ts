/**
 * Cross-check with libsrtp (Debian's libsrtp2-dev): packets libsrtp protects
 * our code must unprotect, and the reverse, for every suite both support,
 * with and without an MKI. Streams start just below the sequence wrap and
 * run through it twice (the "audio dies after 22 minutes" bug: RFC 3711 3.3.1
 * and appendix A), arrive reordered across the wrap, and change SSRC (a new
 * SSRC starts its own rollover counter at 0). SRTCP goes both ways too.
 */
import t from 'tap';
import { SRTP_SUITES, SRTP_SUITE_NAMES, SrtpSession, type SrtpSuiteName } from '../../../firmware/media/srtp/index.js';
import { seededRandom } from '../../../firmware/core/index.js';
import { rtp } from '../helpers.js';
import { answerBytes, buildRef, RefProcess } from './ref.js';

const built = buildRef();

/** In order, through the wrap twice: ROC 0 -> 1 -> 2 (jumps stay under 2^15). */
const WRAP_PLAN = [65530, 65531, 65532, 65533, 65534, 65535, 0, 1, 2, 3, 20000, 40000, 60000, 65535, 1, 2];
/** Sent in order, delivered out of order around the wrap. */
const SENT = [65533, 65534, 65535, 0, 1, 2, 3];
const DELIVERED = [65533, 65535, 65534, 1, 0, 3, 2];

const payload = (seq: number, n = 160): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (seq + i * 7) & 0xff;
  return b;
};
const g711 = (seq: number, ssrc: number): Buffer => rtp({ seq, ssrc, ts: seq * 160, payload: payload(seq) });

function rtcpSr(ssrc: number, n: number): Buffer {
  // RFC 3550 6.4.1 SR with one report block (52 bytes), then an SDES chunk-free BYE-less tail.
  const b = Buffer.alloc(52);
  b[0] = 0x81; b[1] = 200; b.writeUInt16BE(12, 2); b.writeUInt32BE(ssrc, 4);
  for (let i = 8; i < 52; i++) b[i] = (i * 31 + n) & 0xff;
  return b;
}

/** Whether libsrtp refuses to unprotect an SRTCP packet it protected itself. */
async function libsrtpFailsOwnMkiRtcp(ref: RefProcess, id: string, args: string): Promise<boolean> {
  const [a, b, p] = await ref.run([`new ${id}-tx tx ${args}`, `new ${id}-rx rx ${args}`, `rtcp ${id}-tx ${rtcpSr(0x66666666, 0).toString('hex')}`]);
  if (a !== 'ok' || b !== 'ok' || !p!.startsWith('ok ')) return false;
  return !(await ref.one(`rtcp ${id}-rx ${p!.slice(3)}`)).startsWith('ok ');
}

t.test('libsrtp cross-check', { skip: built.ok ? false : built.why }, async (t) => {
  if (!built.ok) return;
  const ref = new RefProcess(built.exe);
  t.teardown(() => ref.close());
  const caps = (await ref.one('caps')).split(' ').slice(1);
  const rnd = seededRandom(7);

  for (const suite of SRTP_SUITE_NAMES) {
    if (!caps.includes(suite)) {
      t.skip(`${suite}: this libsrtp2 build refuses the suite (srtp_create failed), so it is not cross-checked`, () => {});
      continue;
    }
    for (const mki of [undefined, Buffer.from('a1b2c3d4', 'hex')]) {
      await t.test(`${suite}${mki ? ' with a 4-byte MKI' : ''}`, async (t) => {
        const s = SRTP_SUITES[suite as SrtpSuiteName];
        const masterKey = rnd.bytes(s.keyLength);
        const masterSalt = rnd.bytes(s.saltLength);
        const id = `${suite}-${mki ? 'mki' : 'plain'}`;
        const opts = { suite, masterKey, masterSalt, ...(mki ? { mki } : {}) };
        const args = `${suite} ${masterKey.toString('hex')} ${masterSalt.toString('hex')} ${mki ? mki.toString('hex') : '-'}`;
        t.same(await ref.run([`new ${id}-tx tx ${args}`, `new ${id}-rx rx ${args}`]), ['ok', 'ok']);
        const oursTx = new SrtpSession(opts);
        const oursRx = new SrtpSession(opts);
        const refProtect = async (kind: 'rtp' | 'rtcp', pkts: readonly Buffer[]): Promise<Buffer[]> =>
          (await ref.run(pkts.map((p) => `${kind} ${id}-tx ${p.toString('hex')}`))).map((a) => {
            const b = answerBytes(a);
            if (typeof b === 'string') throw new Error(`libsrtp protect: ${b}`);
            return b;
          });
        const refUnprotect = async (kind: 'rtp' | 'rtcp', pkts: readonly Buffer[]): Promise<Array<Buffer | string>> =>
          (await ref.run(pkts.map((p) => `${kind} ${id}-rx ${p.toString('hex')}`))).map(answerBytes);
        const oursProtect = (kind: 'rtp' | 'rtcp', p: Buffer): Buffer => {
          const r = kind === 'rtp' ? oursTx.protectRtp(p) : oursTx.protectRtcp(p);
          if (typeof r === 'string') throw new Error(`ours protect: ${r}`);
          return Buffer.from(r);
        };
        const oursUnprotect = (kind: 'rtp' | 'rtcp', p: Buffer): Buffer | string => {
          const r = kind === 'rtp' ? oursRx.unprotectRtp(Buffer.from(p)) : oursRx.unprotectRtcp(Buffer.from(p));
          return typeof r === 'string' ? r : Buffer.from(r);
        };

        // 1. Through the wrap twice, in order: same bytes on the wire both ways.
        const plain1 = WRAP_PLAN.map((seq) => g711(seq, 0x11111111));
        const fromRef1 = await refProtect('rtp', plain1);
        const fromOurs1 = plain1.map((p) => oursProtect('rtp', p));
        t.same(fromOurs1.map((b) => b.toString('hex')), fromRef1.map((b) => b.toString('hex')),
          'RFC 3711 3.3.1: our protected packets equal libsrtp\'s byte for byte through two wraps');
        t.same(fromRef1.map((p) => oursUnprotect('rtp', p)), plain1, 'libsrtp -> ours through two wraps');
        t.same(await refUnprotect('rtp', fromOurs1), plain1, 'ours -> libsrtp through two wraps');

        // 2. Reordered around the wrap: the receiver's index estimate must not slip a rollover.
        const plain2 = SENT.map((seq) => g711(seq, 0x22222222));
        const fromRef2 = await refProtect('rtp', plain2);
        const order = DELIVERED.map((seq) => SENT.indexOf(seq));
        t.same(order.map((i) => oursUnprotect('rtp', fromRef2[i]!)), order.map((i) => plain2[i]!),
          'libsrtp -> ours, reordered across the wrap');
        const fromOurs2 = plain2.map((p) => oursProtect('rtp', p));
        t.same(await refUnprotect('rtp', order.map((i) => fromOurs2[i]!)), order.map((i) => plain2[i]!),
          'ours -> libsrtp, reordered across the wrap');

        // 3. A new SSRC while the first stream is at ROC 2 starts again at ROC 0.
        const plain3 = [65534, 65535, 0, 1].map((seq) => g711(seq, 0x33333333));
        const fromRef3 = await refProtect('rtp', plain3);
        const fromOurs3 = plain3.map((p) => oursProtect('rtp', p));
        t.same(fromOurs3, fromRef3, 'SSRC change: the new stream\'s ROC restarts at 0 on both sides');
        t.same(fromRef3.map((p) => oursUnprotect('rtp', p)), plain3, 'libsrtp -> ours after the SSRC change');
        t.same(await refUnprotect('rtp', fromOurs3), plain3, 'ours -> libsrtp after the SSRC change');

        // 4. Shapes: CSRCs and an extension stay clear but authenticated; padding is encrypted (RFC 3711 3.1).
        const shapes = [0, 1, 15, 16, 17, 1200].map((n, i) => rtp({ seq: 100 + i, ssrc: 0x44444444, payload: payload(i, n) }));
        shapes.push(rtp({ seq: 110, ssrc: 0x44444444, csrcs: [1, 2, 3], ext: { profile: 0xbede, words: 2 }, payload: payload(9, 33), pad: 3 }));
        const fromRef4 = await refProtect('rtp', shapes);
        t.same(fromRef4.map((p) => oursUnprotect('rtp', p)), shapes, 'libsrtp -> ours, every packet shape');
        t.same(await refUnprotect('rtp', shapes.map((p) => oursProtect('rtp', p))), shapes, 'ours -> libsrtp, every packet shape');

        // 5. SRTCP both ways (RFC 3711 3.4; RFC 7714 9), two senders.
        const rtcps = [0, 1, 2, 3].map((n) => rtcpSr(n % 2 ? 0x11111111 : 0x55555555, n));
        const fromRef5 = await refProtect('rtcp', rtcps);
        t.same(fromRef5.map((p) => oursUnprotect('rtcp', p)), rtcps, 'SRTCP libsrtp -> ours');
        const back5 = await refUnprotect('rtcp', rtcps.map((p) => oursProtect('rtcp', p)));
        if (mki && s.srtpTagLength !== s.srtcpTagLength && await libsrtpFailsOwnMkiRtcp(ref, `${id}-self`, args)) {
          // libsrtp 2.5 looks for the SRTCP MKI using the SRTP tag length, so it
          // refuses even its own SRTCP under a _32 suite with an MKI (bad_mki).
          t.comment(`${suite}: libsrtp cannot unprotect SRTCP with an MKI under this suite (not even its own), so ours -> libsrtp SRTCP is not checked`);
        } else {
          t.same(back5, rtcps, 'SRTCP ours -> libsrtp');
        }

        // 6. Hostile copies of libsrtp's packets: replay and a flipped bit are dropped and counted.
        t.equal(oursUnprotect('rtp', fromRef1[fromRef1.length - 1]!), 'srtp-replay', 'RFC 3711 3.3.2: a replayed packet is dropped');
        // Appendix A places it one rollover back (ROC 1), where its tag cannot match.
        t.equal(oursUnprotect('rtp', fromRef1[3]!), 'srtp-auth', 'a packet from two rollovers back does not authenticate');
        const flipped = Buffer.from(fromRef1[fromRef1.length - 2]!);
        flipped[20]! ^= 1;
        t.equal(oursUnprotect('rtp', flipped), 'srtp-auth', 'a tampered packet is dropped');
        t.equal(oursUnprotect('rtcp', fromRef5[0]!), 'srtp-replay', 'a replayed SRTCP packet is dropped');
        t.equal(oursRx.stats().rejected['srtp-replay'], 2);
        t.equal(oursRx.stats().rejected['srtp-auth'], 2);
      });
    }
  }
});
