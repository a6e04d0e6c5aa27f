import t from 'tap';
import { T1, T2, T4, isReliable, timerValues } from '../../../firmware/sip/transaction/index.js';

t.test('RFC 3261 Table 4 defaults and RFC 6026 L/M over UDP', async (t) => {
  t.equal(T1, 500);
  t.equal(T2, 4000);
  t.equal(T4, 5000);
  const v = timerValues(false);
  t.same(
    { A: v.A, B: v.B, D: v.D, E: v.E, F: v.F, G: v.G, H: v.H, I: v.I, J: v.J, K: v.K, L: v.L, M: v.M },
    { A: 500, B: 32000, D: 32000, E: 500, F: 32000, G: 500, H: 32000, I: 5000, J: 32000, K: 5000, L: 32000, M: 32000 },
  );
});

t.test('reliable transports: no retransmit timers, D/I/J/K are zero (17.1.1.2, 17.1.2.2, 17.2.1, 17.2.2)', async (t) => {
  const v = timerValues(true);
  t.same(
    { A: v.A, B: v.B, D: v.D, E: v.E, F: v.F, G: v.G, H: v.H, I: v.I, J: v.J, K: v.K, L: v.L, M: v.M },
    { A: null, B: 32000, D: 0, E: null, F: 32000, G: null, H: 32000, I: 0, J: 0, K: 0, L: 32000, M: 32000 },
  );
});

t.test('a raised T1 scales the 64*T1 timers; Timer D stays at its 32 s floor', async (t) => {
  const v = timerValues(false, { T1: 1000 });
  t.equal(v.B, 64000);
  t.equal(v.F, 64000);
  t.equal(v.H, 64000);
  t.equal(v.J, 64000);
  t.equal(v.A, 1000);
  t.equal(v.D, 32000);
});

t.test('only UDP is unreliable', async (t) => {
  t.equal(isReliable('udp'), false);
  for (const k of ['tcp', 'tls', 'ws', 'wss'] as const) t.equal(isReliable(k), true, k);
});
