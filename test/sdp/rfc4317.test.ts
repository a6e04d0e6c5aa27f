/**
 * RFC 4317 offer/answer pairs: the box, answering each offer with the codecs
 * the RFC's answerer supports, makes the same choices as the RFC's answer:
 * which streams are declined (port 0, RFC 3264 6), which codecs are kept
 * (by encoding; the payload type numbers are the offer's, RFC 3264 6.1) and
 * which direction each stream takes. Addresses and ports are placeholders.
 */
import t from 'tap';
import {
  buildAnswer, codecsOf, directionOf, hasActiveMedia, parseSdp, remoteMediaOf, serializeSdp,
  type CodecFilter, type Direction, type SessionDescription,
} from '../../firmware/sdp/index.js';
import { rfc4317, type Rfc4317Role } from './fixtures/load.js';

const ADDR = '198.51.100.1';
const port = (i: number): { rtp: number; rtcp: number } => ({ rtp: 40000 + 2 * i, rtcp: 40001 + 2 * i });

const PCMU = { encoding: 'PCMU', clockRate: 8000 };
const PCMA = { encoding: 'PCMA', clockRate: 8000 };
const ILBC = { encoding: 'iLBC', clockRate: 8000 };
const DTMF = { encoding: 'telephone-event', clockRate: 8000 };
const H261 = { encoding: 'H261', clockRate: 90000 };
const MPV = { encoding: 'MPV', clockRate: 90000 };

type Expect = { readonly pts: readonly number[]; readonly dir: Direction } | 'declined';

interface Case {
  readonly sec: string;
  readonly second?: boolean;
  /** What the RFC's answerer supports. */
  readonly audio: CodecFilter;
  readonly video?: CodecFilter;
  /** The answerer's own wish (3.1: Bob holds Alice). */
  readonly direction?: Direction;
  readonly expect: readonly Expect[];
  /** m-lines where the box knowingly answers otherwise than the RFC's example, and why. */
  readonly deviates?: Readonly<Record<number, string>>;
}

const CASES: readonly Case[] = [
  { sec: '2.1', audio: [PCMU], video: [MPV], expect: [{ pts: [0], dir: 'sendrecv' }, { pts: [32], dir: 'sendrecv' }] },
  { sec: '2.2', audio: [PCMU, PCMA], expect: [{ pts: [0, 8], dir: 'sendrecv' }, 'declined'] },
  { sec: '2.2', second: true, audio: [PCMU, PCMA], expect: [{ pts: [0], dir: 'sendrecv' }, 'declined'] },
  // The RFC's Bob renumbers iLBC to 99; the box keeps the offer's 97 as RFC 3264 6.1 recommends.
  { sec: '2.3', audio: [ILBC], video: [H261], expect: [{ pts: [97], dir: 'sendrecv' }, { pts: [31], dir: 'sendrecv' }] },
  { sec: '2.4', audio: [ILBC, DTMF], expect: [{ pts: [97], dir: 'sendrecv' }, { pts: [98], dir: 'recvonly' }] },
  { sec: '2.5', audio: [ILBC], video: [H261], expect: [{ pts: [97], dir: 'sendrecv' }, { pts: [31], dir: 'sendrecv' }] },
  { sec: '2.5', second: true, audio: [ILBC], video: [H261], expect: [{ pts: [97], dir: 'sendrecv' }, { pts: [31], dir: 'sendrecv' }] },
  { sec: '2.6', audio: [ILBC, DTMF], expect: ['declined', { pts: [97, 101], dir: 'sendrecv' }] },
  { sec: '2.7', audio: [ILBC], video: [H261, MPV], expect: [{ pts: [99], dir: 'sendrecv' }, { pts: [31], dir: 'sendrecv' }] },
  { sec: '2.7', second: true, audio: [ILBC], video: [H261, MPV], expect: [{ pts: [99], dir: 'sendrecv' }, { pts: [31, 32], dir: 'sendrecv' }] },
  { sec: '2.8', audio: [PCMU], video: [MPV], expect: [{ pts: [0], dir: 'sendrecv' }, { pts: [32], dir: 'sendrecv' }] },
  { sec: '3.1', audio: [ILBC], direction: 'sendonly', expect: [{ pts: [97], dir: 'sendonly' }] },
  { sec: '3.1', second: true, audio: [ILBC], expect: [{ pts: [97], dir: 'sendrecv' }] },
  { sec: '3.2', audio: [ILBC, DTMF], expect: [{ pts: [97], dir: 'sendrecv' }, { pts: [98], dir: 'recvonly' }] },
  {
    sec: '3.2', second: true, audio: [PCMU, ILBC, DTMF], expect: [{ pts: [97], dir: 'recvonly' }, { pts: [98], dir: 'sendonly' }],
    deviates: { 0: 'RFC 3264 6.1: a sendonly stream is answered recvonly, with only offered formats; the RFC example repeats Alice\'s first offer' },
  },
  { sec: '4.1', audio: [ILBC], expect: [{ pts: [97], dir: 'sendrecv' }] },
  { sec: '4.1', second: true, audio: [ILBC, DTMF], expect: [{ pts: [97], dir: 'sendrecv' }, { pts: [98], dir: 'sendonly' }] },
  { sec: '4.2', audio: [PCMU], expect: [{ pts: [0], dir: 'sendrecv' }] },
  { sec: '4.2', second: true, audio: [PCMU], video: [H261], expect: [{ pts: [0], dir: 'sendrecv' }, { pts: [31], dir: 'sendrecv' }] },
  { sec: '4.3', audio: [ILBC], video: [H261], expect: [{ pts: [97], dir: 'sendrecv' }, { pts: [31], dir: 'sendrecv' }] },
  { sec: '4.3', second: true, audio: [ILBC], video: [H261], expect: [{ pts: [97], dir: 'sendrecv' }, 'declined'] },
  { sec: '5.1', audio: [ILBC], expect: [] },
  { sec: '5.1', second: true, audio: [ILBC], expect: [{ pts: [97], dir: 'sendrecv' }] },
  {
    sec: '5.2', audio: [ILBC], expect: [{ pts: [97], dir: 'recvonly' }],
    deviates: { 0: 'RFC 3264 8.4: c=0.0.0.0 says Alice will not receive, so the box answers recvonly rather than an implicit sendrecv' },
  },
  { sec: '5.2', second: true, audio: [ILBC], expect: [{ pts: [97], dir: 'sendrecv' }] },
  { sec: '5.3', audio: [ILBC], expect: [{ pts: [97], dir: 'sendrecv' }] },
  { sec: '5.3', second: true, audio: [ILBC], expect: [{ pts: [97], dir: 'sendrecv' }] },
];

const EXAMPLES = rfc4317();

function pair(c: Case): [SessionDescription, SessionDescription] {
  const ex = EXAMPLES.get(c.sec);
  const roles: [Rfc4317Role, Rfc4317Role] = c.second ? ['Second-Offer', 'Second-Answer'] : ['Offer', 'Answer'];
  const offer = ex?.[roles[0]];
  const answer = ex?.[roles[1]];
  if (offer === undefined || answer === undefined) throw new Error(`RFC 4317 ${c.sec} ${roles.join('/')} missing`);
  return [parseSdp(offer), parseSdp(answer)];
}

function answerTo(c: Case, offer: SessionDescription): SessionDescription {
  return buildAnswer(offer, {
    origin: { sessionId: '1', sessionVersion: '1' },
    address: ADDR,
    ports: offer.media.map((_, i) => port(i)),
    codecs: { audio: c.audio, ...(c.video ? { video: c.video } : {}) },
    ...(c.direction ? { direction: c.direction } : {}),
  });
}

const encodings = (sd: SessionDescription, i: number): string[] => {
  const m = sd.media[i];
  return m ? codecsOf(m).map((x) => x.encoding.toLowerCase()) : [];
};

t.test('the fixture holds every example of RFC 4317 sections 2 to 5', async (t) => {
  t.same([...EXAMPLES.keys()], ['2.1', '2.2', '2.3', '2.4', '2.5', '2.6', '2.7', '2.8', '3.1', '3.2', '4.1', '4.2', '4.3', '5.1', '5.2', '5.3']);
  t.equal([...EXAMPLES.values()].reduce((n, ex) => n + Object.keys(ex).length, 0), 54);
});

for (const c of CASES) {
  t.test(`RFC 4317 ${c.sec} ${c.second ? 'second exchange' : 'first exchange'}`, async (t) => {
    const [offer, rfc] = pair(c);
    const ours = answerTo(c, offer);
    t.equal(ours.media.length, offer.media.length, 'RFC 3264 6: one m-line per offered m-line');
    t.equal(ours.media.length, rfc.media.length);
    t.same(ours.media.map((m) => m.type), offer.media.map((m) => m.type), 'same order and media types');
    t.same(ours.media.map((m) => m.protocol), offer.media.map((m) => m.protocol), 'same transport');
    t.same(ours.timings, offer.timings, 'RFC 3264 6: t= as offered');
    t.equal(hasActiveMedia(ours), c.expect.some((e) => e !== 'declined'));
    c.expect.forEach((e, i) => {
      const m = ours.media[i];
      const r = rfc.media[i];
      if (!m || !r) return t.fail(`m-line ${i} missing`);
      if (e === 'declined') {
        t.equal(m.port, 0, `m-line ${i}: declined with port 0`);
        t.equal(r.port, 0, `m-line ${i}: the RFC declines it too`);
        return;
      }
      t.equal(m.port, port(i).rtp, `m-line ${i}: our placeholder port`);
      t.same(m.formats.map(Number), e.pts, `m-line ${i}: payload types`);
      t.ok(e.pts.every((p) => offer.media[i]?.formats.includes(String(p))), `m-line ${i}: RFC 3264 6.1 only offered numbers`);
      t.equal(directionOf(ours, m), e.dir, `m-line ${i}: direction`);
      t.ok(m.attributes.some((a) => a.name === e.dir), `m-line ${i}: direction written explicitly`);
      const why = c.deviates?.[i];
      if (why !== undefined) {
        t.comment(`m-line ${i} deviates from the RFC example on purpose: ${why}`);
        return;
      }
      t.not(r.port, 0, `m-line ${i}: the RFC accepts it too`);
      t.same(encodings(ours, i), encodings(rfc, i), `m-line ${i}: same codecs as the RFC answer`);
      t.equal(directionOf(ours, m), directionOf(rfc, r), `m-line ${i}: same direction as the RFC answer`);
    });
    t.same(parseSdp(serializeSdp(ours)), ours, 'our answer round-trips');
  });
}

t.test('RFC 4317 2.1: the whole answer, golden with placeholders', async (t) => {
  const c = CASES[0];
  if (!c) return t.fail('no case');
  const golden = [
    'v=0', 'o=securepbx 1 1 IN IP4 {ADDR}', 's=-', 'c=IN IP4 {ADDR}', 't=0 0',
    'm=audio {RTP0} RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', 'a=rtcp:{RTCP0}', 'a=sendrecv',
    'm=video {RTP1} RTP/AVP 32', 'a=rtpmap:32 MPV/90000', 'a=rtcp:{RTCP1}', 'a=sendrecv', '',
  ].join('\r\n');
  const expected = golden.replaceAll('{ADDR}', ADDR)
    .replace(/\{(RTP|RTCP)(\d)\}/g, (_, k: string, i: string) => String(k === 'RTP' ? port(Number(i)).rtp : port(Number(i)).rtcp));
  t.equal(serializeSdp(answerTo(c, pair(c)[0])), expected);
});

t.test('RFC 4317 5.3: the answer at c=0.0.0.0 tells the media engine not to send', async (t) => {
  const c = CASES.find((x) => x.sec === '5.3' && !x.second);
  if (!c) return t.fail('no case');
  const [, rfc] = pair(c);
  t.same(remoteMediaOf(rfc, 0), {
    rtp: { address: '0.0.0.0', port: 9322 }, rtcp: { address: '0.0.0.0', port: 9323 }, rtcpMux: false, direction: 'sendonly',
  });
});
