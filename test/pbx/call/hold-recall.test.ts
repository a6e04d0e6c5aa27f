/**
 * Hold recall (pbx/features/hold.ts, by transfer.ts's ring-back path): a
 * hold the box answered and nobody resumed within the configured time rings
 * the holder back, the held party calling and still on music. Answering
 * reconnects the two (the held dialog then ends); a resume, a hangup or a
 * setting of 0 stops it. All on the fake clock: nothing sleeps.
 */
import t from 'tap';
import { getHeader } from '../../../firmware/sip/message/index.js';
import { LATENCY, answered } from './world.js';

const MUSIC = Int16Array.from({ length: 8000 }, (_, i) => Math.round(6000 * Math.sin((2 * Math.PI * 440 * i) / 8000)));
const RECALL_MS = 30_000;

async function holding(): Promise<Awaited<ReturnType<typeof answered>>> {
  const world = await answered();
  world.w.holdMusic = MUSIC;
  world.w.holdRecallMs = RECALL_MS;
  const hold = world.alice.request('INVITE', { body: world.alice.sdp('sendonly') });
  await world.w.run(4 * LATENCY);
  if (hold.statuses[0] !== 200 || !world.w.engine.playing('b')) throw new Error('the hold was not taken by the box');
  return world;
}

t.test('the recall fires at the configured time, not before: the holder rings with the held party calling', async (t) => {
  const { w, alice, bob } = await holding();
  const rings = alice.incoming.length;
  await w.run(RECALL_MS - 1000);
  t.equal(alice.incoming.length, rings, 'nothing rings a second before the time');
  t.equal(w.counters.get('hold.recalled'), 0);
  await w.run(1000 + 4 * LATENCY);
  const back = alice.incoming[rings];
  t.ok(back, 'the holder\'s phone rings again at the time');
  if (!back) return;
  t.match(getHeader(back.req, 'from') ?? '', /sip:101@/, 'the held party is the one calling');
  t.ok(w.engine.playing('b'), 'the held party keeps hearing the music while the holder rings');
  t.match(w.calls()[0]!.notes ?? [], [/on hold 30 s: recalled 100/], 'the views say the call was recalled');
  t.equal(w.counters.get('hold.recalled'), 1);

  const m = w.mark();
  back.answer();
  await w.run(6 * LATENCY);
  t.equal(w.engine.playing('b'), undefined, 'the music stops when the holder answers');
  t.ok(w.seen(alice, m).includes('BYE'), 'the old held dialog ends: the holder\'s phone has the new call');
  t.same(w.seen(bob, m), [], 'the held party is never re-INVITEd');
  const v = w.calls();
  t.equal(v.length, 1);
  t.same([v[0]!.legs.a.party, v[0]!.legs.b?.party], ['100', '101'], 'the holder is back with the held party');
  t.equal(v[0]!.legs.a.held, undefined, 'nobody holds any more');
  const id = [...(w.engine.legs() ?? [])].find((l) => l !== 'b');
  t.ok(id && w.engine.connected('b', id) && w.engine.connected(id, 'b'), 'media flows both ways on the new leg');
  t.equal(w.engine.legs()?.length, 2, 'the held leg\'s ports are freed');

  bob.request('BYE', { callId: bob.incoming[0]!.callId });
  await w.run(6 * LATENCY);
  t.equal(w.calls().length, 0);
  t.match(w.records.at(-1)?.notes ?? [], [/recalled 100/, /100 answered the hold recall/], 'the call record says it was recalled');
  t.equal(w.internalErrors, 0);
});

t.test('the holder resumes in time: no recall', async (t) => {
  const { w, alice } = await holding();
  await w.run(RECALL_MS / 2);
  const resume = alice.request('INVITE', { body: alice.sdp('sendrecv') });
  await w.run(4 * LATENCY);
  t.same(resume.statuses, [200]);
  const rings = alice.incoming.length;
  await w.run(2 * RECALL_MS);
  t.equal(alice.incoming.length, rings, 'no ring back after a resume');
  t.equal(w.counters.get('hold.recalled'), 0);
  t.equal(w.phase, 'answered');
});

t.test('the holder resumes on the held dialog while the recall rings: the ringing stops, the call goes on', async (t) => {
  const { w, alice } = await holding();
  const rings = alice.incoming.length;
  await w.run(RECALL_MS + 4 * LATENCY);
  const back = alice.incoming[rings];
  t.ok(back, 'the recall rings');
  back?.ring();
  await w.run(2 * LATENCY);
  const resume = alice.request('INVITE', { body: alice.sdp('sendrecv') });
  await w.run(6 * LATENCY);
  t.same(resume.statuses, [200]);
  t.ok(back?.cancelled, 'the recall is cancelled (CANCEL)');
  t.equal(w.engine.playing('b'), undefined);
  t.equal(w.engine.legs()?.length, 2, 'the recall leg\'s ports are freed');
  t.equal(w.counters.get('hold.recall-cancelled'), 1);
  t.equal(w.phase, 'answered');
  t.equal(w.internalErrors, 0);
});

t.test('the held party hangs up: the recall is cancelled, before it fires or while it rings', async (t) => {
  const before = await holding();
  before.bob.request('BYE', { callId: before.bob.incoming[0]!.callId });
  await before.w.run(6 * LATENCY);
  t.equal(before.w.calls().length, 0);
  const rings = before.alice.incoming.length;
  await before.w.run(2 * RECALL_MS);
  t.equal(before.alice.incoming.length, rings, 'no ring back for a call that ended');
  t.equal(before.w.counters.get('hold.recalled'), 0);

  const during = await holding();
  const r2 = during.alice.incoming.length;
  await during.w.run(RECALL_MS + 4 * LATENCY);
  const back = during.alice.incoming[r2];
  t.ok(back, 'the recall rings');
  back?.ring();
  await during.w.run(2 * LATENCY);
  during.bob.request('BYE', { callId: during.bob.incoming[0]!.callId });
  await during.w.run(6 * LATENCY);
  t.equal(during.w.calls().length, 0, 'the call ends');
  t.ok(back?.cancelled, 'the ringing recall is cancelled');
  t.equal(during.w.internalErrors, 0);
});

t.test('the holder does not answer the recall: the call stays on hold, the held party on music', async (t) => {
  const { w, alice } = await holding();
  const rings = alice.incoming.length;
  await w.run(RECALL_MS + 4 * LATENCY);
  alice.incoming[rings]!.respond(486);
  await w.run(6 * LATENCY);
  t.equal(w.phase, 'answered');
  t.ok(w.engine.playing('b'), 'still music');
  t.equal(w.calls()[0]!.legs.a.held, true);
  t.equal(w.counters.get('hold.recall-unanswered'), 1);
  const resume = alice.request('INVITE', { body: alice.sdp('sendrecv') });
  await w.run(4 * LATENCY);
  t.same(resume.statuses, [200], 'the held dialog still resumes');
  t.equal(w.engine.playing('b'), undefined);
});

t.test('a setting of 0 turns hold recall off', async (t) => {
  const { w, alice } = await answered();
  w.holdMusic = MUSIC;
  w.holdRecallMs = 0;
  alice.request('INVITE', { body: alice.sdp('sendonly') });
  await w.run(4 * LATENCY);
  t.ok(w.engine.playing('b'));
  const rings = alice.incoming.length;
  await w.run(3_600_000);
  t.equal(alice.incoming.length, rings, 'no ring back in an hour');
  t.equal(w.counters.get('hold.recalled'), 0);
  t.equal(w.phase, 'answered');
});
