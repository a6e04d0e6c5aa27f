/**
 * Requests inside an answered call: re-INVITE hold and resume passed across
 * with the box's SDP (RFC 3264 8.4), UPDATE (RFC 3311), INFO, OPTIONS, a
 * method the box does not carry, and CSeq order (RFC 3261 12.2.2).
 */
import t from 'tap';
import { getHeader, type SipRequest } from '../../../firmware/sip/message/index.js';
import { ENGINE_ADDRESS } from './fake-engine.js';
import { sdpFacts } from './sdp.js';
import { LATENCY, answered } from './world.js';


const cseqOf = (r: SipRequest): string | undefined => getHeader(r, 'cseq');

t.test('RFC 3264 8.4: hold and resume from the caller cross with the box\'s SDP, directions and the engine follow', async (t) => {
  const { w, alice, bob, out, inc } = await answered();
  const before = { a: sdpFacts(out.final!.body).version!, b: sdpFacts(inc.req.body).version! };
  const m = w.mark();
  const hold = alice.request('INVITE', { body: alice.sdp('sendonly') });
  await w.run(4 * LATENCY);
  t.same(hold.statuses, [200]);
  t.same(w.seen(bob, m), ['INVITE', 'ACK'], 'the callee gets a re-INVITE and the box\'s ACK for its 200');
  t.same(w.sent(alice, m), ['INVITE', 'ACK']);
  const toBob = bob.last('INVITE')!.req;
  const offer = sdpFacts(toBob.body);
  t.same([offer.address, offer.port, offer.direction], [ENGINE_ADDRESS, w.engine.local('b')!.rtpPort, 'sendonly'], 'the box offers hold from its own port');
  t.equal(offer.version, before.b + 1, 'RFC 3264 8: the box\'s o= version toward the callee is one up');
  const answer = sdpFacts(hold.final!.body);
  t.same([answer.address, answer.port, answer.direction], [ENGINE_ADDRESS, w.engine.local('a')!.rtpPort, 'recvonly'], 'the callee\'s recvonly comes back as the box\'s');
  t.equal(answer.version, before.a + 1);
  t.equal(w.engine.remote('a')?.direction, 'sendonly', 'the engine knows the caller only sends');
  t.equal(w.engine.remote('b')?.direction, 'recvonly');
  t.equal(getHeader(toBob, 'call-id'), getHeader(inc.req, 'call-id'), 'the re-INVITE is in the callee\'s dialog');
  t.match(cseqOf(toBob), /^2 INVITE$/, 'the box\'s own CSeq on leg b, one past its INVITE');

  const resume = alice.request('INVITE', { body: alice.sdp('sendrecv') });
  await w.run(4 * LATENCY);
  t.same(resume.statuses, [200]);
  t.equal(sdpFacts(bob.last('INVITE')!.req.body).direction, 'sendrecv');
  t.equal(sdpFacts(resume.final!.body).direction, 'sendrecv');
  t.equal(sdpFacts(resume.final!.body).version, before.a + 2);
  t.same([w.engine.remote('a')?.direction, w.engine.remote('b')?.direction], ['sendrecv', 'sendrecv']);
  t.match(cseqOf(bob.last('INVITE')!.req), /^3 INVITE$/);
  t.equal(w.phase, 'answered');
  t.equal(w.internalErrors, 0);
});

t.test('hold from the callee: the caller gets the re-INVITE in its own dialog, and a new media address moves leg b', async (t) => {
  const { w, alice, bob, out } = await answered();
  const m = w.mark();
  bob.mediaPort = 34_000;
  const hold = bob.request('INVITE', { body: bob.sdp('inactive') });
  await w.run(4 * LATENCY);
  t.same(hold.statuses, [200]);
  t.same(w.seen(alice, m), ['INVITE', 'ACK']);
  const toAlice = alice.last('INVITE')!.req;
  t.equal(getHeader(toAlice, 'call-id'), out.callId);
  t.same(sdpFacts(toAlice.body).direction, 'inactive');
  t.same(w.engine.remote('b')?.rtp, { address: bob.address, port: 34_000 }, 'the engine sends to the callee\'s new port');
  t.same([w.engine.remote('b')?.direction, w.engine.remote('a')?.direction], ['inactive', 'inactive']);
  t.equal(sdpFacts(hold.final!.body).port, w.engine.local('b')!.rtpPort);
});

t.test('RFC 3311: an UPDATE with a new address crosses as an UPDATE with the box\'s SDP; no ACK', async (t) => {
  const { w, alice, bob } = await answered();
  const m = w.mark();
  alice.mediaPort = 31_234;
  const up = alice.request('UPDATE', { body: alice.sdp() });
  await w.run(4 * LATENCY);
  t.same(up.statuses, [200]);
  t.same(w.seen(bob, m), ['UPDATE']);
  t.equal(sdpFacts(bob.last('UPDATE')!.req.body).port, w.engine.local('b')!.rtpPort);
  t.equal(sdpFacts(up.final!.body).port, w.engine.local('a')!.rtpPort);
  t.same(w.engine.remote('a')?.rtp, { address: alice.address, port: 31_234 });
  t.same(w.sent(alice, m), ['UPDATE'], 'nothing to ACK');
});

t.test('INFO without a body crosses and the other side\'s answer comes back (200 or a refusal); media untouched', async (t) => {
  const { w, alice, bob } = await answered();
  const m = w.mark();
  const changes = w.engine.changes('a') + w.engine.changes('b');
  const info = alice.request('INFO');
  await w.run(4 * LATENCY);
  t.same(info.statuses, [200]);
  t.same(w.seen(bob, m), ['INFO']);
  alice.auto.INFO = 415;
  const refused = bob.request('INFO');
  await w.run(4 * LATENCY);
  t.same(refused.statuses, [415], 'the caller\'s refusal is passed back');
  t.equal(w.phase, 'answered');
  t.equal(w.engine.changes('a') + w.engine.changes('b'), changes, 'INFO never touches media');
});

t.test('INFO with a DTMF body (application/dtmf-relay) crosses with its body and type untouched', async (t) => {
  const { w, alice, bob } = await answered();
  const dtmf = Buffer.from('Signal=5\r\nDuration=160\r\n');
  const info = alice.request('INFO', { body: dtmf, contentType: 'application/dtmf-relay' });
  await w.run(4 * LATENCY);
  t.same(info.statuses, [200]);
  const got = bob.last('INFO')?.req;
  t.equal(got?.body.toString(), dtmf.toString());
  t.equal(got && getHeader(got, 'content-type'), 'application/dtmf-relay');
});

t.test('a re-INVITE whose body is not SDP (RFC 3261 21.4.13): 415 with Accept, nothing crosses, a later offer works', async (t) => {
  const { w, alice, bob } = await answered();
  const m = w.mark();
  const odd = alice.request('INVITE', { body: Buffer.from('<x/>'), contentType: 'application/xml' });
  await w.run(4 * LATENCY);
  t.equal(odd.final?.status, 415);
  t.equal(odd.final && getHeader(odd.final, 'accept'), 'application/sdp');
  t.same(w.seen(bob, m), []);
  const hold = alice.request('INVITE', { body: alice.sdp('sendonly') });
  await w.run(8 * LATENCY);
  t.equal(hold.final?.status, 200);
});

t.test('OPTIONS inside the call: the box answers 200 itself, the other phone sees nothing', async (t) => {
  const { w, alice, bob } = await answered();
  const m = w.mark();
  const a = alice.request('OPTIONS');
  const b = bob.request('OPTIONS');
  await w.run(4 * LATENCY);
  t.same([a.statuses, b.statuses], [[200], [200]]);
  t.same([w.seen(alice, m), w.seen(bob, m)], [['200 OPTIONS'], ['200 OPTIONS']]);
});

t.test('a method the box does not carry (MESSAGE) gets 405 with Allow, which names REFER (transfer.test.ts); the call goes on', async (t) => {
  const { w, alice, bob } = await answered();
  const m = w.mark();
  const msg = bob.request('MESSAGE', { body: Buffer.from('hi'), contentType: 'text/plain' });
  const sub = alice.request('SUBSCRIBE');
  await w.run(4 * LATENCY);
  t.same([msg.statuses, sub.statuses], [[405], [405]]);
  t.match(getHeader(msg.final!, 'allow'), /INVITE.*BYE.*UPDATE.*INFO.*REFER/);
  t.same(w.seen(bob, m), ['405 MESSAGE']);
  t.equal(w.phase, 'answered');
  t.equal(w.counters.get('call.in-dialog-unsupported'), 2);
});

t.test('RFC 3261 12.2.2: a request whose CSeq goes backwards is refused (500) and not passed on; the next in order works', async (t) => {
  const { w, alice, bob } = await answered();
  const first = alice.request('INFO', { cseq: 10 });
  await w.run(4 * LATENCY);
  t.same(first.statuses, [200]);
  const m = w.mark();
  const back = alice.request('INFO', { cseq: 5 });
  const same = alice.request('UPDATE', { cseq: 10, body: alice.sdp() });
  const reinvite = alice.request('INVITE', { cseq: 9, body: alice.sdp('sendonly') });
  await w.run(4 * LATENCY);
  t.same([back.statuses, same.statuses, reinvite.statuses], [[500], [500], [500]]);
  t.equal(back.final!.reason, 'CSeq Out Of Order');
  t.same(w.seen(bob, m), [], 'nothing crosses');
  t.equal(w.engine.remote('a')?.direction, 'sendrecv', 'the refused re-INVITE changed no media');
  const next = alice.request('INFO', { cseq: 11 });
  await w.run(4 * LATENCY);
  t.same(next.statuses, [200]);
  t.equal(w.phase, 'answered');
});

t.test('a BYE with a CSeq going backwards does not end the call', async (t) => {
  const { w, alice } = await answered();
  alice.request('INFO', { cseq: 20 });
  await w.run(4 * LATENCY);
  const bye = alice.request('BYE', { cseq: 3 });
  await w.run(4 * LATENCY);
  t.same(bye.statuses, [500]);
  t.equal(w.phase, 'answered');
});

t.test('in-dialog requests from the callee use the box\'s leg-a dialog toward the caller: its tags, its own CSeq', async (t) => {
  const { w, alice, bob, out } = await answered();
  bob.request('INFO');
  bob.request('INFO');
  await w.run(4 * LATENCY);
  const infos = alice.inbox.filter((r) => r.req.method === 'INFO').map((r) => r.req);
  t.same(infos.map(cseqOf), ['1 INFO', '2 INFO'], 'the box numbers its own requests on leg a');
  const okTag = /tag=([^;>\s]+)/.exec(getHeader(out.final!, 'to')!)?.[1];
  t.match(getHeader(infos[0]!, 'from'), `tag=${okTag}`, 'From carries the tag of the box\'s 200');
});
