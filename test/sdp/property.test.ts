/**
 * Hostile input: random text, random bytes, random line soups and mutated
 * real descriptions. parseSdp and everything built on its output either
 * succeed or throw a PbxError, never anything else, and finish fast.
 */
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import t from 'tap';
import { isPbxError } from '../../firmware/core/index.js';
import {
  buildAnswer, codecsOf, MAX_SDP_BYTES, parseSdp, relayAnswer, relayOffer, relayPayloadMap, remoteMediaOf, rewriteForLeg, serializeSdp,
  type SessionDescription,
} from '../../firmware/sdp/index.js';
import { fixture, rfc4317 } from './fixtures/load.js';

const SEEDS: string[] = [
  fixture('clients/baresip-1.0-offer.sdp'),
  fixture('clients/linphone-5.1-offer.sdp'),
  ...[...rfc4317().values()].flatMap((ex) => Object.values(ex)),
];

/** Slowest single pass allowed; only guards against super-linear blow-ups. */
const MAX_CALL_MS = 100;

/** Runs f; anything thrown must be a PbxError. */
function onlyPbxErrors(f: () => unknown, what: string): void {
  try {
    f();
  } catch (e) {
    if (!isPbxError(e)) throw new Error(`${what} threw a non-PbxError: ${String(e)}`);
  }
}

function exercise(sd: SessionDescription): void {
  const text = serializeSdp(sd);
  const again = parseSdp(text);
  if (serializeSdp(again) !== text) throw new Error('accepted description does not round-trip');
  const ports = sd.media.map((_, i) => ({ rtp: 30000 + 2 * i, rtcp: 30001 + 2 * i }));
  onlyPbxErrors(() => buildAnswer(sd, {
    origin: { sessionId: '1', sessionVersion: '1' }, address: '10.0.0.1', ports,
    codecs: { audio: [{ encoding: 'PCMU', clockRate: 8000 }, { encoding: 'telephone-event', clockRate: 8000 }] },
  }), 'buildAnswer');
  exerciseRelay(sd);
  onlyPbxErrors(() => serializeSdp(rewriteForLeg(sd, { address: '10.0.0.1', ports, origin: { sessionId: '1', sessionVersion: '1' } })), 'rewriteForLeg');
  sd.media.forEach((m, i) => {
    codecsOf(m);
    onlyPbxErrors(() => remoteMediaOf(sd, i), 'remoteMediaOf');
  });
}

const RELAY_LEG = { origin: { sessionId: '1', sessionVersion: '1' }, address: '10.0.0.1', ports: { rtp: 30000, rtcp: 30001 }, profile: 'RTP/AVP' };

/**
 * The relay writer on hostile input: only PbxErrors, and what it writes
 * parses back to itself with one m-line per m-line of the phone's SDP.
 */
function exerciseRelay(sd: SessionDescription): void {
  const written = (out: SessionDescription, what: string): void => {
    const text = serializeSdp(out);
    if (serializeSdp(parseSdp(text)) !== text) throw new Error(`${what} wrote SDP that does not round-trip`);
    if (out.media.length !== sd.media.length) throw new Error(`${what} changed the number of m-lines`);
  };
  onlyPbxErrors(() => written(relayOffer(sd, RELAY_LEG).sdp, 'relayOffer'), 'relayOffer');
  // The same description as both the offer and the other phone's answer reaches every branch of relayAnswer.
  onlyPbxErrors(() => written(relayAnswer(sd, sd, RELAY_LEG), 'relayAnswer'), 'relayAnswer');
  relayPayloadMap(sd, sd);
}

/** Parses and exercises `input`; a slow pass is retried once so a GC pause or a busy machine is not a failure. */
function check(input: string | Buffer): void {
  if (timedCheck(input) > MAX_CALL_MS) {
    const ms = timedCheck(input);
    if (ms > MAX_CALL_MS) throw new Error(`slow: ${ms} ms`);
  }
}

function timedCheck(input: string | Buffer): number {
  const start = performance.now();
  let sd: SessionDescription | undefined;
  try {
    sd = parseSdp(input);
  } catch (e) {
    if (!isPbxError(e) || (e.code !== 'parse' && e.code !== 'limit')) throw new Error(`parseSdp threw ${String(e)}`);
  }
  if (sd) exercise(sd);
  return performance.now() - start;
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), s: fc.string({ maxLength: 8 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), len: fc.nat({ max: 300 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), s: fc.constantFrom('\n', '\r', ' ', ':', '/', '=', '0', 'm=', 'a=', 'c=IN IP4 ', '\0', '99999999') }),
  fc.record({ kind: fc.constant('drop-line' as const), at: fc.nat() }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(s: string, m: Mutation): string {
  const at = s.length === 0 ? 0 : m.at % s.length;
  switch (m.kind) {
    case 'replace': return s.slice(0, at) + m.s + s.slice(at + m.s.length);
    case 'truncate': return s.slice(0, at);
    case 'duplicate': return s.slice(0, at) + s.slice(at, at + m.len) + s.slice(at);
    case 'insert': return s.slice(0, at) + m.s + s.slice(at);
    case 'drop-line': {
      const lines = s.split('\n');
      lines.splice(m.at % lines.length, 1);
      return lines.join('\n');
    }
  }
}

/** Lines that look like SDP, so random soups get past the first checks and reach the offer/answer code. */
const attrLine = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('a=rtpmap:101 telephone-event/8000', 'a=rtpmap:0 PCMU/8000', 'a=rtcp-mux', 'a=sendonly', 'a=inactive',
    'a=rtcp:9 IN IP4 0.0.0.0', 'a=rtcp:65535', 'a=fmtp:101 0-15', 'a=candidate:1 1 UDP 1 192.0.2.1 4000 typ host', 'a=ptime:20',
    'a=mid:0', 'b=AS:64', 'c=IN IP4 0.0.0.0', 'c=IN IP6 ::1', 'c=IN IP4 192.0.2.7/3', 'i=x') },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom('rtpmap', 'fmtp', 'rtcp', 'ptime', 'sendrecv', 'crypto', 'ice-ufrag'),
    fc.string({ maxLength: 30 })).map(([k, v]) => `a=${k}:${v}`) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...'vosiuepcbtrzkamx'), fc.string({ maxLength: 40 })).map(([k, v]) => `${k}=${v}`) },
);
const mLine = fc.oneof(
  fc.constantFrom('m=audio 4000 RTP/AVP 0 8 101', 'm=video 0 RTP/AVP 31', 'm=audio 65535 RTP/SAVP 0',
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'm=audio 4000/2 RTP/AVP 127'),
  fc.tuple(fc.constantFrom('audio', 'video', 'x'), fc.nat({ max: 70000 }), fc.constantFrom('RTP/AVP', 'RTP/AVPF', 'TCP'),
    fc.array(fc.nat({ max: 130 }), { minLength: 1, maxLength: 5 }))
    .map(([k, p, proto, f]) => `m=${k} ${p} ${proto} ${f.join(' ')}`),
);
const soup = fc.tuple(
  fc.array(attrLine, { maxLength: 8 }),
  fc.array(fc.tuple(mLine, fc.array(attrLine, { maxLength: 8 })), { maxLength: 5 }),
).map(([session, media]) => [...session, ...media.flatMap(([m, attrs]) => [m, ...attrs])]);

t.test('random text never throws anything but a PbxError, and finishes fast', async (t) => {
  fc.assert(fc.property(fc.string({ maxLength: 2000, unit: 'binary' }), (s) => check(s)), { numRuns: 1500 });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), (b) => check(Buffer.from(b))), { numRuns: 1000 });
  t.pass('random text and bytes');
});

t.test('random SDP-shaped line soups', async (t) => {
  fc.assert(fc.property(soup, fc.boolean(), (lines, crlfEnds) => {
    check(['v=0', 'o=- 1 1 IN IP4 h', 's=-', 't=0 0', ...lines].join(crlfEnds ? '\r\n' : '\n'));
    check(lines.join('\n'));
  }), { numRuns: 2000 });
  t.pass('line soups');
});

t.test('mutated real descriptions', async (t) => {
  fc.assert(fc.property(fc.constantFrom(...SEEDS), fc.array(mutation, { minLength: 1, maxLength: 6 }), (seed, ms) => {
    check(ms.reduce(mutate, seed));
  }), { numRuns: 3000 });
  t.pass('mutations');
});

t.test('inputs at the size limit are refused or parsed quickly', async (t) => {
  const long = 'v=0\n' + 'a=x\n'.repeat(MAX_SDP_BYTES / 4);
  const start = performance.now();
  check(long);
  check('v=0\n' + 'a=' + 'x'.repeat(MAX_SDP_BYTES - 10));
  check('\n'.repeat(MAX_SDP_BYTES));
  check('v=0\n' + `m=audio 1 RTP/AVP ${'0 '.repeat(3000)}`);
  t.ok(performance.now() - start < 4 * MAX_CALL_MS);
});
