/**
 * When a callee's phone refuses the box's offer (488, 415, 606), the policy
 * says what to offer it next: another protection or profile, bridged, within
 * the policy. And what the box learned of a contact sends the next call
 * straight to what works, without trading a private relay for a bridge.
 */
import t from 'tap';
import {
  DEFAULT_POLICY_SETTINGS, decideMediaPlan, decideRemembering, isRefusal, retryPlan, shapeLabel, shapeOf,
  type MediaPlan, type OfferShape, type OfferSummary, type PlanInput, type PolicyRefusal,
} from '../../../firmware/pbx/policy/index.js';

const RTP: OfferSummary = { protection: 'rtp', bestEffort: false, suites: [], sips: false };
const SDES: OfferSummary = { protection: 'sdes', bestEffort: false, suites: ['AES_CM_128_HMAC_SHA1_80'], sips: false };
const DESK = { supported: ['rtp', 'sdes'] as const, required: [] as const };

function input(offer: OfferSummary, o: { calleeTls?: boolean; callerTls?: boolean; policy?: PlanInput['callerPolicy'] } = {}): PlanInput {
  return {
    callerPolicy: o.policy ?? DEFAULT_POLICY_SETTINGS,
    caller: { caps: { supported: [...DESK.supported], required: [] }, legTls: o.callerTls ?? true },
    callee: { caps: { supported: [...DESK.supported], required: [] }, legTls: o.calleeTls ?? true },
    offer,
  };
}
const plan = (r: MediaPlan | PolicyRefusal): MediaPlan => {
  if (isRefusal(r)) throw new Error(`refused: ${r.reason}`);
  return r;
};
const shape = (protection: OfferShape['protection'], feedback = false): OfferShape => ({ protection, feedback });

t.test('a plain caller, a TLS callee that refused plain RTP: SDES over SAVP next, then SAVPF, then plain AVPF, then nothing', async (t) => {
  const i = input(RTP);
  const first = shapeOf(plan(decideMediaPlan(i)), RTP);
  t.same(first, shape('rtp'), 'the default policy relays the plain offer first');
  const tried: OfferShape[] = [first];
  const seen: string[] = [];
  for (;;) {
    const r = retryPlan(i, tried);
    if (isRefusal(r)) {
      t.match(r, { status: 488, code: 'callee-refused' });
      break;
    }
    const s = shapeOf(r, RTP);
    seen.push(`${r.mode} ${shapeLabel(s)}`);
    tried.push(s);
  }
  t.same(seen, ['bridge SDES over RTP/SAVP', 'bridge SDES over RTP/SAVPF', 'relay plain RTP over RTP/AVPF']);
});

t.test('SDES only toward a TLS leg: a UDP callee that refused plain RTP is offered no SDES', async (t) => {
  const r = plan(retryPlan(input(RTP, { calleeTls: false }), [shape('rtp')]));
  t.same(shapeOf(r, RTP), shape('rtp', true), 'only the other plain profile is left');
  t.ok(isRefusal(retryPlan(input(RTP, { calleeTls: false }), [shape('rtp'), shape('rtp', true)])));
});

t.test('an SDES caller whose callee refused SAVP: SAVPF bridged with box keys, plain RTP last', async (t) => {
  const i = input(SDES);
  const first = shapeOf(plan(decideMediaPlan(i)), SDES);
  t.same(first, shape('sdes'), 'relayed end to end first');
  const next = plan(retryPlan(i, [first]));
  t.same({ mode: next.mode, a: next.legA.keys, b: next.legB.keys, shape: shapeOf(next, SDES) },
    { mode: 'bridge', a: 'box', b: 'box', shape: shape('sdes', true) });
  const last = plan(retryPlan(i, [first, shape('sdes', true)]));
  t.same(shapeOf(last, SDES), shape('rtp'), 'then plain RTP, as relay_or_decrypt allows for an encrypted caller');
});

t.test('forced_relay never bridges: the refusal says so', async (t) => {
  const r = retryPlan(input(SDES, { policy: { callerStream: 'forced_relay', calleeStream: 'as_caller' } }), [shape('sdes')]);
  t.ok(isRefusal(r));
  t.match(r, { status: 488, code: 'callee-refused', reason: /forced_relay/ });
});

t.test('a policy that decrypts to plain RTP only varies the profile', async (t) => {
  const i = input(SDES, { policy: { callerStream: 'decrypt', calleeStream: 'decrypted' } });
  const first = shapeOf(plan(decideMediaPlan(i)), SDES);
  t.same(first, shape('rtp'));
  t.same(shapeOf(plan(retryPlan(i, [first])), SDES), shape('rtp', true));
  t.ok(isRefusal(retryPlan(i, [first, shape('rtp', true)])));
});

t.test('what the box learned: only a shape the contact refused is replaced; a private relay is never traded for a bridge', async (t) => {
  const learned = { refused: [shape('rtp')], worked: shape('sdes') };
  const plain = plan(decideRemembering(input(RTP), learned));
  t.same({ mode: plain.mode, shape: shapeOf(plain, RTP) }, { mode: 'bridge', shape: shape('sdes') }, 'a plain caller goes straight to SDES');
  const sdes = plan(decideRemembering(input(SDES), learned));
  t.same({ mode: sdes.mode, keys: sdes.legB.keys }, { mode: 'relay', keys: 'end-to-end' }, 'an SDES caller still relays end to end: SAVP was never refused');
  t.same(plan(decideRemembering(input(RTP), undefined)).mode, 'relay', 'nothing learned: the plain decision');
  const forced = plan(decideRemembering(input(RTP, { policy: { callerStream: 'forced_relay', calleeStream: 'as_caller' } }), learned));
  t.equal(forced.mode, 'relay', 'forced_relay ignores what was learned');
});
