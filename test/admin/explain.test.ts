import t from 'tap';
import { CALLEE_CHOICES, CALLER_CHOICES, describeCall, describeHold, describeLeg, explainPolicy } from '../../firmware/admin/index.js';
import { PRIVATE_HOLD_NOTE } from '../../firmware/pbx/features/index.js';
import { CalleeStreamSchema, CallerStreamSchema } from '../../firmware/config/index.js';

/*
 * The policy explanations follow the caller x callee table of the design
 * seeds row by row: relayed or bridged, and whether the box can record, for
 * a caller that encrypts and for one that sends plain RTP.
 */

t.test('every option of the config schema has a labelled, explained choice', async (t) => {
  t.same(CALLER_CHOICES.map((c) => c.value), CallerStreamSchema.options);
  t.same(CALLEE_CHOICES.map((c) => c.value), CalleeStreamSchema.options);
  for (const c of [...CALLER_CHOICES, ...CALLEE_CHOICES]) t.ok(c.label && c.help.length > 20, `${c.value} explained`);
});

t.test('the seed table, row by row', async (t) => {
  type Row = [caller: string, callees: string[], encrypts: [string, boolean], plain: [string, boolean]];
  const rows: Row[] = [
    ['forced_relay', ['as_caller', 'decrypted', 'sdes', 'dtls', 'zrtp'], ['relay', false], ['relay', true]],
    ['relay_or_decrypt', ['as_caller'], ['relay', false], ['relay', true]],
    ['relay_or_decrypt', ['decrypted'], ['bridge', true], ['relay', true]],
    ['relay_or_decrypt', ['sdes', 'dtls', 'zrtp'], ['bridge', true], ['bridge', true]],
    ['decrypt', ['as_caller', 'decrypted'], ['bridge', true], ['relay', true]],
    ['decrypt', ['sdes', 'dtls', 'zrtp'], ['bridge', true], ['bridge', true]],
  ];
  for (const [caller, callees, enc, plain] of rows) {
    for (const callee of callees) {
      const x = explainPolicy(CallerStreamSchema.parse(caller), CalleeStreamSchema.parse(callee));
      t.same([x.callerEncrypts.mode, x.callerEncrypts.recording], enc, `${caller}/${callee}: caller encrypts`);
      t.same([x.callerPlain.mode, x.callerPlain.recording], plain, `${caller}/${callee}: caller plain`);
    }
  }
  t.match(explainPolicy('decrypt', 'zrtp').callerPlain.path, /plain RTP.*SRTP ZRTP/, 'the path names the callee keying');
});

t.test('legs and calls are described plainly', async (t) => {
  const call = {
    caller: '1001', callee: '1002', mode: 'bridge' as const,
    legs: { a: { party: '1001', transport: 'tls', protection: 'sdes' as const, suite: 'AES_CM_128_HMAC_SHA1_80' }, b: { party: '1002', transport: 'udp', protection: 'rtp' as const } },
  };
  t.equal(describeCall(call), '1001 SDES AES_CM_128_HMAC_SHA1_80 -> box (bridged) -> 1002 plain RTP');
  t.equal(describeLeg({ party: 'web', transport: 'wss', protection: 'dtls', suite: 'AEAD_AES_128_GCM' }), 'web DTLS-SRTP AEAD_AES_128_GCM');
  t.equal(describeCall({ ...call, mode: 'relay', legs: { a: call.legs.a } }), '1001 SDES AES_CM_128_HMAC_SHA1_80 -> box (relayed) -> 1002 (not answered)');
});

t.test('the dashboard\'s hold sentence: who holds, who hears music, and why a fully private call has none', async (t) => {
  const legs = (a: object, b: object) => ({ a: { party: '1001', ...a }, b: { party: '1002', ...b } });
  t.equal(describeHold({ mode: 'bridge', legs: legs({}, {}) }), undefined, 'nobody holds: nothing to say');
  t.match(describeHold({ mode: 'bridge', legs: legs({ held: true }, { music: true }) }), /^1001 holds the call: 1002 hears the music on hold/);
  t.match(describeHold({ mode: 'bridge', legs: legs({ music: true }, { held: true }) }), /^1002 holds the call: 1001 hears the music/);
  t.match(describeHold({ mode: 'bridge', legs: legs({ held: true }, {}) }), /^1001 holds the call: no music/);
  const privateHeld = { mode: 'relay' as const, legs: legs({}, {}), notes: [PRIVATE_HOLD_NOTE] };
  t.match(describeHold(privateHeld), /No music on hold on this call: it is fully private \(encrypted end to end\), so the box has no keys to play music with; a hold passes through/);
  t.equal(describeHold({ mode: 'relay', legs: legs({}, {}), notes: [] }), undefined, 'a relayed call nobody held');
});
