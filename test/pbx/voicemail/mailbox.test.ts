import t from 'tap';
import fc from 'fast-check';
import { Counters } from '../../../firmware/core/index.js';
import {
  DtmfSink, MailboxMachine, MAX_PIN_TRIES, parseDtmfRtp, parseInfoDtmf, parseSubscribe, parseSummary, serializeSummary,
  type Digit, type MailboxAction,
} from '../../../firmware/pbx/index.js';

/** Issue 15: the mailbox menu (a pure machine, no clock needed), DTMF and message-summary parsers under hostile input. */

const kinds = (a: readonly MailboxAction[]): string[] => a.map((x) => x.kind === 'play' ? `play:${x.prompt}` : x.kind === 'timer' ? `timer:${x.ms}` : x.kind);
const press = (m: MailboxMachine, digits: string): MailboxAction[] => [...digits].flatMap((d) => m.step({ kind: 'digit', digit: d as Digit }));

t.test('right PIN: the count, then new messages first, a played new message is saved, then the menu', async (tt) => {
  const msgs = [{ id: 'old1', isNew: false }, { id: 'new1', isNew: true }];
  const m = new MailboxMachine(() => msgs);
  tt.same(kinds(m.start()), ['play:enter-pin', 'timer:10000']);
  const out = press(m, '2468#');
  tt.same(out.at(-1), { kind: 'check-pin', pin: '2468' }, "'#' submits the digits");
  tt.same(m.step({ kind: 'pin-checked', ok: true }), [{ kind: 'play-count', count: 1 }]);
  tt.same(m.step({ kind: 'played' }).at(-1), { kind: 'play-message', id: 'new1' }, 'the new message first');
  tt.same(kinds(m.step({ kind: 'played' })), ['save', 'timer:10000'], 'played to its end: saved');
  tt.same(m.step({ kind: 'timeout' }).at(-1), { kind: 'play-message', id: 'old1' }, 'a pause moves to the next (saved) one');
  tt.same(kinds(m.step({ kind: 'digit', digit: '7' })), ['stop-play', 'delete', 'play:menu', 'timer:10000'], '7 deletes it; none left: the menu');
  tt.same(kinds(m.step({ kind: 'digit', digit: '*' })), ['timer:0', 'play:goodbye', 'hangup']);
  tt.same(m.step({ kind: 'digit', digit: '1' }), [], 'an ended machine ignores everything');
});

t.test('three wrong PINs lock and hang up; a pause submits digits as # would', async (tt) => {
  const m = new MailboxMachine(() => []);
  m.start();
  for (let i = 1; i < MAX_PIN_TRIES; i++) {
    press(m, '1111');
    tt.same(m.step({ kind: 'timeout' }).at(-1), { kind: 'check-pin', pin: '1111' });
    tt.same(kinds(m.step({ kind: 'pin-checked', ok: false })), ['play:wrong-pin', 'timer:10000'], `wrong PIN ${i}`);
  }
  press(m, '1111#');
  tt.same(kinds(m.step({ kind: 'pin-checked', ok: false })), ['locked', 'hangup'], 'the third: locked, hung up');
  tt.equal(m.wrongPins, 3);
  tt.equal(m.phase, 'ended');
});

t.test('keys while checking are ignored; a late pin-checked outside checking does nothing', async (tt) => {
  const m = new MailboxMachine(() => []);
  m.start();
  press(m, '12#');
  tt.same(press(m, '99#'), [], 'no second check while one runs');
  tt.same(m.step({ kind: 'pin-checked', ok: true }), [{ kind: 'play-count', count: 0 }]);
  tt.same(m.step({ kind: 'pin-checked', ok: true }), [], 'a stray result');
});

t.test('options: a new greeting (# ends it) and a new PIN (too short refused)', async (tt) => {
  const m = new MailboxMachine(() => []);
  m.start(); press(m, '1#'); m.step({ kind: 'pin-checked', ok: true });
  tt.equal(m.step({ kind: 'played' }).at(0)?.kind, 'play', 'no messages: the menu');
  press(m, '0');
  tt.same(kinds(press(m, '1')), ['timer:0', 'play:record']);
  tt.same(kinds(m.step({ kind: 'played' })), ['record-greeting', 'timer:60000']);
  tt.same(kinds(press(m, '#')), ['end-greeting', 'play:done', 'timer:10000']);
  press(m, '0'); press(m, '2');
  tt.same(kinds(press(m, '12#')).slice(-2), ['play:wrong-pin', 'timer:10000'], 'a 2-digit PIN is refused');
  tt.same(press(m, '98765#').filter((a) => a.kind === 'set-pin'), [{ kind: 'set-pin', pin: '98765' }]);
});

t.test('any sequence of inputs keeps the machine consistent (property)', async (tt) => {
  const input = fc.oneof(
    fc.constantFrom(...'0123456789*#').map((d) => ({ kind: 'digit', digit: d as Digit }) as const),
    fc.constant({ kind: 'played' } as const), fc.constant({ kind: 'timeout' } as const),
    fc.boolean().map((ok) => ({ kind: 'pin-checked', ok }) as const),
  );
  fc.assert(fc.property(fc.array(input, { maxLength: 60 }), (inputs) => {
    const m = new MailboxMachine(() => [{ id: 'a', isNew: true }, { id: 'b', isNew: false }]);
    m.start();
    let hangups = 0;
    for (const i of inputs) for (const a of m.step(i)) {
      if (a.kind === 'hangup') hangups++;
      if (a.kind === 'check-pin' && !/^\d{1,12}$/.test(a.pin)) return false;
    }
    return hangups <= 1 && m.wrongPins <= MAX_PIN_TRIES && (hangups === 0 || m.phase === 'ended');
  }));
  tt.pass('hangs up at most once, never more than three PIN failures');
});

function rtp(pt: number, payload: number[], o: { ts?: number; x?: boolean; pad?: number; cc?: number } = {}): Uint8Array {
  const head = Buffer.alloc(12 + 4 * (o.cc ?? 0));
  head[0] = 0x80 | (o.x ? 0x10 : 0) | (o.pad ? 0x20 : 0) | (o.cc ?? 0);
  head[1] = pt;
  head.writeUInt32BE(o.ts ?? 1000, 4);
  const ext = o.x ? Buffer.from([0xbe, 0xde, 0, 1, 0, 0, 0, 0]) : Buffer.alloc(0);
  const pad = o.pad ? Buffer.from([...new Array<number>(o.pad - 1).fill(0), o.pad]) : Buffer.alloc(0);
  return Buffer.concat([head, ext, Buffer.from(payload), pad]);
}

t.test('RFC 4733 events: digits, * and #, CSRC, extension and padding read; hostile packets rejected with a reason', async (tt) => {
  tt.same(parseDtmfRtp(rtp(101, [5, 0x8a, 0, 160]), 101), { ok: true, event: { digit: '5', timestamp: 1000, end: true, duration: 160 } });
  tt.match(parseDtmfRtp(rtp(101, [10, 0, 0, 80], { cc: 2, x: true, pad: 4 }), 101), { ok: true, event: { digit: '*' } });
  tt.match(parseDtmfRtp(rtp(101, [11, 0, 0, 80]), 101), { ok: true, event: { digit: '#' } });
  tt.same(parseDtmfRtp(rtp(101, [5, 0, 0]), 101), { ok: false, reason: 'short' });
  tt.same(parseDtmfRtp(rtp(101, [12, 0, 0, 80]), 101), { ok: false, reason: 'not-digit' }, 'A-D are not digits here');
  tt.same(parseDtmfRtp(rtp(0, [5, 0, 0, 80]), 101), { ok: false, reason: 'not-event' });
  tt.same(parseDtmfRtp(Uint8Array.from([0x40, 101, ...new Array<number>(14).fill(0)]), 101), { ok: false, reason: 'version' });
  const bad = rtp(101, [5, 0, 0, 80]); bad[0]! |= 0x20; bad[bad.length - 1] = 200;
  tt.same(parseDtmfRtp(bad, 101), { ok: false, reason: 'padding' });
  const ext = rtp(101, [], { x: true }); ext[14] = 0xff; ext[15] = 0xff;
  tt.same(parseDtmfRtp(ext, 101), { ok: false, reason: 'short' }, 'an extension longer than the packet');
  fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), fc.integer({ min: 96, max: 127 }), (b, pt) => { parseDtmfRtp(b, pt); return true; }));
});

t.test('the DTMF sink: one digit per key press (end packets repeat its timestamp), bad packets counted, never thrown', async (tt) => {
  const counters = new Counters();
  const got: string[] = [];
  const sink = new DtmfSink('a', 101, counters, (d) => { got.push(d); if (d === '9') throw new Error('listener'); });
  for (const ts of [1, 1, 1, 2, 2]) sink.packet('a', rtp(101, [ts === 1 ? 4 : 9, 0x80, 0, 160], { ts }), 0, false);
  sink.packet('a', rtp(0, [1, 2, 3, 4]), 0, false); // audio
  sink.packet('b', rtp(101, [1, 0, 0, 80], { ts: 3 }), 0, false); // another leg
  sink.packet('a', rtp(101, [1, 0, 0, 80], { ts: 4 }), 0, true); // opaque SRTP
  sink.packet('a', rtp(101, [15, 0, 0, 80], { ts: 5 }), 0, false);
  sink.packet('a', rtp(101, [1, 0], { ts: 6 }), 0, false);
  tt.same(got, ['4', '9']);
  tt.equal(counters.get('dtmf.rtp'), 2);
  tt.equal(counters.get('dtmf.bad.not-digit'), 1);
  tt.equal(counters.get('dtmf.bad.short'), 1);
  tt.equal(counters.get('dtmf.listener-error'), 1, "the listener's throw is counted");
});

t.test('INFO DTMF bodies: dtmf-relay and dtmf read; hostile bodies rejected with a reason', async (tt) => {
  const b = (s: string): Buffer => Buffer.from(s, 'latin1');
  tt.same(parseInfoDtmf('application/dtmf-relay', b('Signal=5\r\nDuration=160\r\n')), { ok: true, digit: '5' });
  tt.same(parseInfoDtmf('Application/DTMF-Relay; charset=x', b('signal = #\nDuration=100')), { ok: true, digit: '#' });
  tt.same(parseInfoDtmf('application/dtmf-relay', b('Signal=10\r\n')), { ok: true, digit: '*' });
  tt.same(parseInfoDtmf('application/dtmf', b('7')), { ok: true, digit: '7' });
  tt.same(parseInfoDtmf('application/sdp', b('Signal=5')), { ok: false, reason: 'content-type' });
  tt.same(parseInfoDtmf(undefined, b('Signal=5')), { ok: false, reason: 'content-type' });
  tt.same(parseInfoDtmf('application/dtmf-relay', b('Duration=160')), { ok: false, reason: 'no-signal' });
  tt.same(parseInfoDtmf('application/dtmf-relay', b('Signal=A')), { ok: false, reason: 'not-digit' });
  tt.same(parseInfoDtmf('application/dtmf-relay', b('Signal=55')), { ok: false, reason: 'not-digit' });
  tt.same(parseInfoDtmf('application/dtmf', b('')), { ok: false, reason: 'no-signal' });
  tt.same(parseInfoDtmf('application/dtmf-relay', b(`Signal=1\r\n${'x'.repeat(300)}`)), { ok: false, reason: 'too-long' });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (body) => { const r = parseInfoDtmf('application/dtmf-relay', body); return r.ok ? /^[0-9*#]$/.test(r.digit) : true; }));
});

t.test('message-summary: the body the box sends parses back; SUBSCRIBE Event, Expires, Accept and body checked', async (tt) => {
  const body = serializeSummary({ waiting: true, account: 'sip:1002@pbx.local', newCount: 2, oldCount: 1 });
  tt.equal(body.toString(), 'Messages-Waiting: yes\r\nMessage-Account: sip:1002@pbx.local\r\nVoice-Message: 2/1 (0/0)\r\n', 'RFC 3842 3.5');
  tt.same(parseSummary(body), { ok: true, summary: { waiting: true, account: 'sip:1002@pbx.local', newCount: 2, oldCount: 1 } });
  tt.same(parseSummary(Buffer.from('Voice-Message: 1/0')), { ok: false, reason: 'no-status' });
  tt.same(parseSummary(Buffer.from('Messages-Waiting: yes\r\nVoice-Message: x/0')), { ok: false, reason: 'bad-count' });
  const sub = (headers: Record<string, string>, body = ''): Parameters<typeof parseSubscribe>[0] =>
    ({ headers: Object.entries(headers).map(([name, value]) => ({ name, value })), body: Buffer.from(body) });
  tt.same(parseSubscribe(sub({ event: 'message-summary' })), { ok: true, expires: 3600 });
  tt.same(parseSubscribe(sub({ event: 'message-summary;id=1', expires: '10' })), { ok: true, expires: 60 }, 'too short: raised to the minimum');
  tt.same(parseSubscribe(sub({ event: 'message-summary', expires: '0' })), { ok: true, expires: 0 }, 'unsubscribe');
  tt.same(parseSubscribe(sub({ event: 'presence' })), { ok: false, reason: 'bad-event' });
  tt.same(parseSubscribe(sub({ event: 'message-summary', expires: '-5' })), { ok: false, reason: 'bad-expires' });
  tt.same(parseSubscribe(sub({ event: 'message-summary', expires: '99999999999' })), { ok: false, reason: 'bad-expires' });
  tt.same(parseSubscribe(sub({ event: 'message-summary', accept: 'text/html' })), { ok: false, reason: 'bad-accept' });
  tt.same(parseSubscribe(sub({ event: 'message-summary' }, 'x'.repeat(2000))), { ok: false, reason: 'body-too-long' });
  fc.assert(fc.property(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 1500 }), (e, x, body) => {
    parseSubscribe({ headers: [{ name: 'event', value: e }, { name: 'expires', value: x }], body: Buffer.from(body) });
    parseSummary(body);
    return true;
  }));
});
