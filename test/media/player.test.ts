/**
 * Music on hold and prompts ('play' / 'stop-play'): the player's stream on
 * the engine's clock (50 packets a second, its own SSRC, sequence numbers and
 * timestamps continuous, RFC 3550 5.1; marker on the first, RFC 3551 4.1),
 * its audio, SRTP under the leg's own keys, refusal where the box has no
 * keys, the mute of connections into the leg and the resume, and the
 * built-in music.
 */
import t from 'tap';
import {
  DEFAULT_HOLD_MUSIC_NOTES_HZ, DEFAULT_HOLD_MUSIC_PEAK, decodeG711, defaultHoldMusic, encodeG711, type EngineRequest,
} from '../../firmware/media/index.js';
import { ok, rtcpRR, rtp } from './helpers.js';
import { PHONES, decodeAll, dominant, header, payload, remote, rig, srtpPhone, tone } from './features.js';

const playReq = (leg: string, pcm: Int16Array, extra: Partial<{ codec: 'PCMU' | 'PCMA'; payloadType: number; loop: boolean }> = {}): EngineRequest => ({
  op: 'play', sessionId: 's', leg, pcm, codec: extra.codec ?? 'PCMU', payloadType: extra.payloadType ?? 0,
  ...(extra.loop !== undefined ? { loop: extra.loop } : {}),
});

t.test('a player sends one 20 ms packet per 20 ms of the clock: 50 a second exactly, one stream of its own, the source audio', async (t) => {
  const r = await rig();
  await r.add('A');
  // 8080 samples: a loop that wraps inside a frame (500 Hz has a 16-sample period, so the loop is seamless).
  const pcm = tone(500, 8080, 8000);
  await r.engine.request(playReq('A', pcm));
  t.equal(r.heard('A').length, 1, 'the first packet goes out at once');
  r.clock.advance(1000);
  t.equal(r.heard('A').length, 51, '50 more in the next second');
  r.clock.advance(19);
  t.equal(r.heard('A').length, 51, 'not one early');
  r.clock.advance(1);
  t.equal(r.heard('A').length, 52);
  r.clock.advance(980);
  t.equal(r.heard('A').length, 101, '50 per second again, with no drift');

  const pkts = r.heard('A');
  const hs = pkts.map(header);
  t.ok(hs[0]!.marker, 'marker bit on the first packet');
  t.ok(hs.slice(1).every((h) => !h.marker), 'and on no other');
  t.ok(hs.every((h) => h.ssrc === hs[0]!.ssrc && h.payloadType === 0 && h.csrcs.length === 0), 'one SSRC, PCMU');
  t.ok(hs.every((h, i) => i === 0 || h.sequenceNumber === ((hs[i - 1]!.sequenceNumber + 1) & 0xffff)), 'sequence numbers in step');
  t.ok(hs.every((h, i) => i === 0 || h.timestamp === ((hs[i - 1]!.timestamp + 160) >>> 0)), 'timestamps 160 apart');
  t.ok(pkts.every((p) => payload(p).length === 160), '160 samples each');

  const expected = encodeG711('PCMU', pcm);
  const sent = Buffer.concat(pkts.slice(0, 50).map(payload));
  t.same(sent, Buffer.from(expected.subarray(0, 8000)), 'the first 50 packets are the source, encoded');
  const wrap = Buffer.concat([Buffer.from(expected.subarray(8000, 8080)), Buffer.from(expected.subarray(0, 80))]);
  t.same(payload(pkts[50]!), wrap, 'the loop wraps round inside a frame');
  t.equal(dominant(decodeAll('PCMU', pkts.slice(0, 10))), 500, '500 Hz in, 500 Hz out');

  const st = await r.leg('A');
  t.equal(st.playing, true);
  t.equal(st.packetsOut, 101, 'the player\'s packets count as the leg\'s');
  await r.engine.request({ op: 'stop-play', sessionId: 's', leg: 'A' });
  r.clock.advance(1000);
  t.equal(r.heard('A').length, 101, 'nothing after stop-play');
  t.notOk((await r.leg('A')).playing);
  await r.engine.request({ op: 'stop-play', sessionId: 's', leg: 'A' });
  t.pass('stop-play with nothing playing is no error');
});

t.test('a clock jump skips the missed frames instead of bursting; the timestamp keeps time', async (t) => {
  const r = await rig();
  await r.add('A');
  await r.engine.request(playReq('A', tone(500, 8000)));
  r.clock.advance(100);
  t.equal(r.heard('A').length, 6);
  r.clock.jump(1000); // the event loop stalled for a second
  r.clock.advance(20);
  const hs = r.heard('A').map(header);
  t.equal(hs.length, 7, 'one packet for the second that went by, not fifty');
  t.equal(hs[6]!.sequenceNumber, (hs[5]!.sequenceNumber + 1) & 0xffff, 'the sequence number counts packets: no gap');
  t.equal((hs[6]!.timestamp - hs[5]!.timestamp) >>> 0, 160 * 51, 'the timestamp moved on by the 1020 ms that passed');
  r.clock.advance(1000);
  t.equal(r.heard('A').length, 57, 'then 50 a second again');
});

t.test('on an SRTP leg the player\'s packets are protected with the leg\'s own keys (an independent session authenticates them)', async (t) => {
  const r = await rig();
  const a = srtpPhone();
  await r.add('A', a.security);
  const pcm = tone(500, 1600);
  await r.engine.request(playReq('A', pcm, { codec: 'PCMA', payloadType: 8 }));
  r.clock.advance(180);
  const wire = r.heard('A');
  t.equal(wire.length, 10);
  const clear = wire.map((p) => ok(a.in.unprotectRtp(Buffer.from(p))));
  t.ok(wire.every((p) => p.length === 12 + 160 + 10), 'HMAC-SHA1-80 tag on each');
  t.not(wire[0]!.subarray(12, 172).toString('hex'), payload(clear[0]!).toString('hex'), 'the payload on the wire is encrypted');
  t.ok(clear.every((p) => header(p).payloadType === 8));
  t.same(Buffer.concat(clear.map(payload)), Buffer.from(encodeG711('PCMA', pcm)), 'it decrypts to the source in A-law');
  t.equal(a.in.unprotectRtp(Buffer.from(wire[3]!)), 'srtp-replay', 'and the phone\'s replay window saw each one once');
});

t.test('refused where the box cannot protect it: end-to-end SRTP and keys still pending', async (t) => {
  const r = await rig();
  await r.add('A', { kind: 'srtp-relay' });
  await r.add('B', { kind: 'srtp-pending' });
  await t.rejects(r.engine.request(playReq('A', tone(500, 800))), { code: 'invalid-state', message: /end-to-end/ });
  await t.rejects(r.engine.request(playReq('B', tone(500, 800))), { code: 'invalid-state', message: /not known yet/ });
  r.clock.advance(200);
  t.same(r.heard('A'), []);
  t.same(r.heard('B'), []);
  t.notOk((await r.leg('A')).playing);
  t.equal(r.counters.get('media.play.started'), 0);
});

t.test('a player stops when its leg becomes end-to-end SRTP or is removed', async (t) => {
  const r = await rig();
  const a = srtpPhone();
  await r.add('A', a.security);
  await r.add('B');
  await r.engine.request(playReq('A', tone(500, 800)));
  await r.engine.request(playReq('B', tone(500, 800)));
  r.clock.advance(100);
  const timers = r.clock.fake.timerCount;
  await r.engine.request({ op: 'update-leg', sessionId: 's', leg: 'A', security: { kind: 'srtp-relay' } });
  const sentA = r.heard('A').length;
  r.clock.advance(200);
  t.equal(r.heard('A').length, sentA, 'nothing more toward A');
  t.notOk((await r.leg('A')).playing);
  const sentB = r.heard('B').length;
  await r.engine.request({ op: 'remove-leg', sessionId: 's', leg: 'B' });
  t.equal(r.clock.fake.timerCount, timers - 2, 'both players\' timers are gone');
  r.clock.advance(200);
  t.equal(r.net.all.reduce((n, s) => n + s.sent.length, 0), sentA + sentB, 'nothing sent anywhere');
});

t.test('while a player plays into a leg its connections in are muted; stop-play lets the next packet through at once', async (t) => {
  const r = await rig();
  await r.add('A');
  await r.add('B');
  await r.connect('A', 'B');
  await r.connect('B', 'A');
  const fromA = (seq: number): Buffer => rtp({ pt: 0, seq, ts: seq * 160, ssrc: 0xaaaa, payload: Buffer.alloc(160, 0x11) });
  const fromB = (seq: number): Buffer => rtp({ pt: 0, seq, ts: seq * 160, ssrc: 0xbbbb, payload: Buffer.alloc(160, 0x22) });
  r.send('A', fromA(1));
  t.equal(r.heard('B').length, 1, 'forwarded before');

  await r.engine.request(playReq('B', tone(500, 8000)));
  const ssrcOf = (p: Buffer): number => header(p).ssrc;
  const player = ssrcOf(r.heard('B')[1]!);
  for (let i = 2; i < 7; i++) {
    r.send('A', fromA(i));
    r.send('B', fromB(i));
    r.clock.advance(20);
  }
  t.ok(r.heard('B').slice(1).every((p) => ssrcOf(p) === player), 'B hears only the player');
  t.equal(r.heard('B').length, 1 + 6, 'the player\'s packets, nothing of A');
  t.equal((await r.leg('A')).dropped['muted'], 5, 'A\'s packets counted as muted');
  t.equal(r.heard('A').length, 5, 'what B sends still reaches A: connections from the leg are not muted');
  // RTCP forwarding is untouched (RFC 3550 6): A's reports still reach B.
  r.send('A', rtcpRR(0xaaaa), true);
  t.equal(r.heard('B', true).length, 1, 'RTCP into B still flows');

  await r.engine.request({ op: 'stop-play', sessionId: 's', leg: 'B' });
  r.send('A', fromA(7));
  const last = r.heard('B').at(-1)!;
  t.equal(ssrcOf(last), 0xaaaa, 'the next packet from A is delivered at once, without waiting for a tick');
  t.equal(header(last).sequenceNumber, 7);
  r.clock.advance(100);
  t.equal(ssrcOf(r.heard('B').at(-1)!), 0xaaaa, 'and no player packet after it');
});

t.test('the leg\'s direction still applies: nothing goes to a phone that does not receive (RFC 3264 6.1)', async (t) => {
  const r = await rig();
  await r.add('A', undefined, 's', 'sendonly');
  await r.engine.request(playReq('A', tone(500, 8000)));
  r.clock.advance(100);
  t.same(r.heard('A'), [], 'a sendonly phone gets no music');
  t.equal((await r.leg('A')).dropped['play-direction'], 6, 'each frame counted');
  await r.engine.request({ op: 'update-leg', sessionId: 's', leg: 'A', remote: remote(PHONES['A']!, 'sendrecv') });
  r.clock.advance(100);
  const hs = r.heard('A').map(header);
  t.equal(hs.length, 5, 'flows once it receives again');
  t.equal((hs[1]!.timestamp - hs[0]!.timestamp) >>> 0, 160, 'timestamps in step');
});

t.test('a second play replaces the first; a prompt that does not loop ends, unmutes and says so', async (t) => {
  const r = await rig();
  await r.add('A');
  await r.add('B');
  await r.connect('A', 'B');
  await r.engine.request(playReq('B', tone(500, 8000)));
  r.clock.advance(100);
  const first = header(r.heard('B')[0]!).ssrc;
  await r.engine.request(playReq('B', tone(1000, 400), { loop: false }));
  const second = header(r.heard('B').at(-1)!).ssrc;
  t.not(second, first, 'a new stream');
  r.clock.advance(100);
  const hs = r.heard('B').map(header);
  t.equal(hs.filter((h) => h.ssrc === first).length, 6, 'the first player sent nothing more');
  t.equal(hs.filter((h) => h.ssrc === second).length, 3, '400 samples: three packets');
  const last = r.heard('B').at(-1)!;
  t.same(payload(last).subarray(80), Buffer.alloc(80, 0xff), 'the last one padded with mu-law silence');
  t.same(r.events.filter((e) => e.type === 'play-ended'), [{ type: 'play-ended', sessionId: 's', leg: 'B' }]);
  t.notOk((await r.leg('B')).playing);
  r.send('A', rtp({ pt: 0, seq: 1, ssrc: 0xaaaa }));
  t.equal(header(r.heard('B').at(-1)!).ssrc, 0xaaaa, 'A is heard again');
});

t.test('the built-in music on hold: 10-20 s, deterministic, peak -12 dBFS, every 200 ms window dominated by one of its notes', async (t) => {
  const m = defaultHoldMusic();
  t.ok(m.length >= 8000 * 10 && m.length <= 8000 * 20, `${m.length / 8000} s`);
  t.same(defaultHoldMusic(), m, 'the same every time');
  m[0] = 12345;
  t.not(defaultHoldMusic()[0], 12345, 'each call a fresh copy');
  const music = defaultHoldMusic();
  let peak = 0;
  for (const v of music) peak = Math.max(peak, Math.abs(v));
  t.equal(peak, DEFAULT_HOLD_MUSIC_PEAK);
  t.ok(Math.abs(20 * Math.log10(peak / 32767) + 12) < 0.05, 'peak at -12 dBFS');
  const notes = DEFAULT_HOLD_MUSIC_NOTES_HZ;
  t.ok(notes.length >= 6 && notes.every((f) => f >= 200 && f <= 3400), 'several notes, all in the telephone band');
  let bad = 0;
  for (let start = 0; start + 1600 <= music.length; start += 800) {
    const f = dominant(music.subarray(start, start + 1600), 150, 2000, 1);
    if (!notes.some((n) => Math.abs(n - f) <= 3)) bad++;
  }
  t.equal(bad, 0, 'no window dominated by anything but a note');
  // A window across the loop point too, and no click there.
  const seam = new Int16Array(1600);
  seam.set(music.subarray(music.length - 800));
  seam.set(music.subarray(0, 800), 800);
  t.ok(notes.some((n) => Math.abs(n - dominant(seam, 150, 2000, 1)) <= 3), 'the loop point too');
  let maxStep = 0;
  for (let i = 1; i < music.length; i++) maxStep = Math.max(maxStep, Math.abs(music[i]! - music[i - 1]!));
  t.ok(Math.abs(music[0]! - music.at(-1)!) <= maxStep, 'the step across the loop point is no larger than any inside');
  const silentRun = (() => {
    let run = 0, worst = 0;
    for (const v of music) { run = Math.abs(v) < 50 ? run + 1 : 0; worst = Math.max(worst, run); }
    return worst;
  })();
  t.ok(silentRun < 80, 'never 10 ms of silence: it is music, not beeps');

  // Through the engine and G.711, still the notes.
  const r = await rig();
  await r.add('A');
  await r.engine.request(playReq('A', music));
  r.clock.advance(2000);
  const heard = decodeAll('PCMU', r.heard('A'));
  t.same(heard.subarray(0, 1600), decodeG711('PCMU', encodeG711('PCMU', music.subarray(0, 1600))));
  t.ok(notes.some((n) => Math.abs(n - dominant(heard.subarray(8000, 9600), 150, 2000, 1)) <= 3));
});

t.test('hostile play and stop-play requests are refused with protocol (or limit) and change nothing', async (t) => {
  const r = await rig();
  await r.add('A');
  const good = { op: 'play', sessionId: 's', leg: 'A', pcm: tone(500, 800), codec: 'PCMU', payloadType: 0 };
  const bad: [string, Record<string, unknown>, string][] = [
    ['pcm as an array', { pcm: [1, 2, 3] }, 'protocol'],
    ['pcm as bytes', { pcm: new Uint8Array(160) }, 'protocol'],
    ['empty pcm', { pcm: new Int16Array(0) }, 'protocol'],
    ['no pcm', { pcm: undefined }, 'protocol'],
    ['pcm longer than ten minutes', { pcm: new Int16Array(8000 * 600 + 1) }, 'limit'],
    ['codec G729', { codec: 'G729' }, 'protocol'],
    ['codec in lower case', { codec: 'pcmu' }, 'protocol'],
    ['payload type 128', { payloadType: 128 }, 'protocol'],
    ['payload type -1', { payloadType: -1 }, 'protocol'],
    ['payload type 1.5', { payloadType: 1.5 }, 'protocol'],
    ['payload type as a string', { payloadType: '0' }, 'protocol'],
    ['loop as a string', { loop: 'yes' }, 'protocol'],
    ['leg id with a space', { leg: 'A B' }, 'protocol'],
    ['leg id a number', { leg: 7 }, 'protocol'],
    ['unknown leg', { leg: 'Z' }, 'not-found'],
    ['unknown session', { sessionId: 'nope' }, 'not-found'],
    ['session id a number', { sessionId: 3 }, 'protocol'],
  ];
  for (const [what, patch, code] of bad) {
    await t.rejects(r.engine.request({ ...good, ...patch } as unknown as EngineRequest), { code }, what);
  }
  const viaJson = JSON.parse(JSON.stringify(good)) as EngineRequest;
  await t.rejects(r.engine.request(viaJson), { code: 'protocol' }, 'PCM that went through JSON is no Int16Array');
  await t.rejects(r.engine.request({ op: 'stop-play', sessionId: 's', leg: '' }), { code: 'protocol' });
  await t.rejects(r.engine.request({ op: 'stop-play', sessionId: 's', leg: 'Z' }), { code: 'not-found' });
  t.same(r.heard('A'), [], 'nothing played');
  t.notOk((await r.leg('A')).playing);
  t.equal(r.clock.fake.timerCount, 1, 'only the session\'s media timer');
});
