/**
 * SrtpLeg across rekeys: a key that comes back (a refused rekey rolled back)
 * comes back with its session's state, so the send side never repeats
 * keystream (RFC 3711 9.1: an index must never be used twice under one key)
 * and the receive side keeps refusing what it has seen (RFC 3711 3.3.2).
 */
import t from 'tap';
import { SrtpLeg } from '../../firmware/media/index.js';
import { SRTP_SUITES, SrtpSession, type SrtpSessionOptions } from '../../firmware/media/srtp/index.js';

const key = (k: number): SrtpSessionOptions => {
  const s = SRTP_SUITES.AES_CM_128_HMAC_SHA1_80;
  return { suite: 'AES_CM_128_HMAC_SHA1_80', masterKey: Buffer.alloc(s.keyLength, k), masterSalt: Buffer.alloc(s.saltLength, k ^ 0x5a) };
};

function rtp(seq: number): Buffer {
  const p = Buffer.alloc(172, 0x55);
  p[0] = 0x80;
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE(seq * 160 >>> 0, 4);
  p.writeUInt32BE(0x1234, 8);
  return p;
}

const protect = (leg: SrtpLeg, seq: number): Buffer => {
  const r = leg.protect('rtp', rtp(seq));
  if (typeof r === 'string') throw new Error(r);
  return Buffer.from(r);
};

t.test('send side: after the sequence wrapped, a rekey and its rollback keep the rollover counter: no keystream is used twice', async (t) => {
  const leg = new SrtpLeg({ rx: key(1), tx: key(2) });
  const early = protect(leg, 1); // index 1 (ROC 0)
  for (let seq = 2; seq <= 65_536; seq++) protect(leg, seq); // the sequence wraps: ROC 1
  leg.rekey({ rx: key(1), tx: key(3) }); // a rekey offer...
  leg.rekey({ rx: key(1), tx: key(2) }); // ...refused: the old key is back
  const late = protect(leg, 65_537); // seq 1 again, index 65537 (ROC 1)
  t.equal(late.readUInt16BE(2), 1, 'the same sequence number as the early packet');
  t.not(late.subarray(12, 172).toString('hex'), early.subarray(12, 172).toString('hex'), 'but other keystream: the old session came back with its rollover counter');
});

t.test('receive side: a key that comes back keeps its replay window', async (t) => {
  const phone = new SrtpSession(key(1));
  const leg = new SrtpLeg({ rx: key(1), tx: key(2) });
  const first = phone.protectRtp(rtp(10));
  if (typeof first === 'string') throw new Error(first);
  const pkt = Buffer.from(first);
  t.notOk(typeof leg.unprotect('rtp', Buffer.from(pkt)) === 'string', 'accepted once');
  leg.rekey({ rx: key(4), tx: key(2) });
  leg.rekey({ rx: key(1), tx: key(2) });
  t.match(leg.unprotect('rtp', Buffer.from(pkt)), /replay/, 'the same packet again is a replay under the returned key');
});
