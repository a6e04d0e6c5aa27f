import t from 'tap';
import { Negotiation, nextOfferAnswer, OfferAnswerError, type OfferAnswerEvent, type OfferAnswerState } from '../../../firmware/pbx/call/index.js';

const STATES: readonly OfferAnswerState[] = ['none', 'local-offer', 'remote-offer', 'stable'];
const EVENTS: readonly OfferAnswerEvent[] = ['send-offer', 'receive-offer', 'send-answer', 'receive-answer', 'rollback'];

/** The table the module must follow (RFC 3264 4, RFC 6337 3), written out independently. */
const EXPECTED: Record<OfferAnswerState, Record<OfferAnswerEvent, string>> = {
  none: { 'send-offer': 'local-offer', 'receive-offer': 'remote-offer', 'send-answer': 'no-offer', 'receive-answer': 'no-offer', rollback: 'none' },
  'local-offer': { 'send-offer': 'offer-pending', 'receive-offer': 'glare', 'send-answer': 'no-offer', 'receive-answer': 'stable', rollback: 'BEFORE' },
  'remote-offer': { 'send-offer': 'offer-pending', 'receive-offer': 'offer-pending', 'send-answer': 'stable', 'receive-answer': 'no-offer', rollback: 'BEFORE' },
  stable: { 'send-offer': 'local-offer', 'receive-offer': 'remote-offer', 'send-answer': 'no-offer', 'receive-answer': 'no-offer', rollback: 'stable' },
};

t.test('every state x event', async (t) => {
  for (const s of STATES) {
    for (const e of EVENTS) {
      const want = EXPECTED[s][e] === 'BEFORE' ? 'stable' : EXPECTED[s][e];
      t.equal(nextOfferAnswer(s, e, 'stable'), want, `${s} + ${e}`);
    }
  }
});

t.test('an initial INVITE with an offer, then a re-INVITE that fails with 488 rolls back to stable (the old media stays)', async (t) => {
  const n = new Negotiation();
  n.apply('receive-offer');
  n.apply('send-answer');
  t.equal(n.state, 'stable');
  n.apply('receive-offer');
  t.ok(n.pending);
  n.apply('rollback');
  t.equal(n.state, 'stable', 'back where the round began');
});

t.test('glare: our re-INVITE is out and theirs arrives -> 491 (RFC 3261 14.1); ours still completes', async (t) => {
  const n = new Negotiation();
  n.apply('send-offer');
  n.apply('receive-answer');
  n.apply('send-offer');
  t.equal(n.try('receive-offer'), 'glare');
  t.equal(n.state, 'local-offer', 'a refused event changes nothing');
  let caught: unknown;
  try { n.apply('receive-offer'); } catch (e) { caught = e; }
  t.ok(caught instanceof OfferAnswerError && caught.refusal === 'glare', 'apply throws a glare error');
  n.apply('receive-answer');
  t.equal(n.state, 'stable');
});

t.test('a late offer (offer in the 2xx, answer in the ACK) and a first round that fails returns to none', async (t) => {
  const n = new Negotiation();
  n.apply('receive-offer'); // the callee's 2xx offers
  n.apply('send-answer'); // the ACK answers
  t.equal(n.state, 'stable');
  const m = new Negotiation();
  m.apply('send-offer');
  m.apply('rollback');
  t.equal(m.state, 'none');
});
