/**
 * Fuzzing of every parser that meets bytes from outside (`npm run bench:fuzz`,
 * issue 20): for each, up to --inputs inputs or --seconds of time, whichever
 * comes first, made by mutating valid seeds (bit flips, interesting bytes,
 * inserted, deleted, duplicated and repeated ranges, truncation, splices of two
 * seeds, SIP/SDP punctuation and huge numbers for the text parsers) and, one
 * input in ten, random bytes.
 *
 * Each input ends one of three ways: accepted; rejected cleanly (a result with
 * ok: false, undefined, a reject string, or a thrown PbxError: each counted by
 * reason); or a crash (any other exception: TypeError, RangeError, a stack
 * overflow ...). An input that takes longer than HANG_MS, and again on each
 * of three reruns, is a hang. Crashing
 * and hanging inputs are written as hex to --out (a fixture for the unit
 * tests) and the bench exits 1. The table gives inputs, seconds, inputs/s,
 * accepted, rejected, crashes, hangs, the slowest input, and the most common
 * rejection reasons.
 *
 * Options: --seconds S (per parser, 10) --inputs N (per parser, 1000000)
 * --only name,name --seed N (the mutation PRNG) --out DIR (fuzz-findings).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PbxError, seededRandom, type Random } from '../../firmware/core/index.js';
import { parseCsv } from '../../firmware/config/index.js';
import {
  ContentType, DTLS12, HandshakeType, parseClientHello, parseHandshakeFragments, parseRecords, serializeClientHello, serializeFragment, serializeRecord,
} from '../../firmware/keying/dtls/index.js';
import { parseCryptoLine } from '../../firmware/keying/sdes/index.js';
import { helloOf, parseMessage as parseZrtpMessage, parsePacket as parseZrtpPacket, serializePacket } from '../../firmware/keying/zrtp/index.js';
import { readWav } from '../../firmware/media/codec/index.js';
import { parseRtcpCompound, parseRtp, parseStun } from '../../firmware/media/index.js';
import { SrtpSession } from '../../firmware/media/srtp/index.js';
import { parseContacts, parseDtmfRtp, parseInfoDtmf, parseSummary } from '../../firmware/pbx/index.js';
import { parseSdp } from '../../firmware/sdp/index.js';
import { parseAuthParams } from '../../firmware/sip/digest/index.js';
import { frameStream, parseMessage, parseUri, parseVia } from '../../firmware/sip/message/index.js';
import { UpdateError, readTar } from '../../firmware/update/index.js';
import { BenchError, fmt as f, renderTable, runMain } from './lib.js';

/** An input slower than this is a hang. */
const HANG_MS = 250;
/** Mutated inputs are cut at this size. */
const MAX_INPUT = 65_536;
/** The clock is read once per this many inputs. */
const CLOCK_EVERY = 64;
const RANDOM_SHARE = 0.1;

type Outcome = { readonly ok: true } | { readonly ok: false; readonly reason: string };

interface Target {
  readonly name: string;
  readonly text: boolean;
  readonly seeds: readonly Buffer[];
  /** Feeds one input; returns how it ended (throws for a crash). */
  run(input: Buffer): Outcome;
}

/** Reads the result shapes the parsers use. */
function outcomeOf(r: unknown): Outcome {
  if (r === undefined || r === null) return { ok: false, reason: 'undefined' };
  if (typeof r === 'string') return { ok: false, reason: r };
  if (typeof r === 'object' && 'ok' in r && (r as { ok: unknown }).ok === false) {
    const o = r as { reason?: unknown; error?: unknown; skip?: unknown };
    if (typeof o.reason === 'string') return { ok: false, reason: o.reason };
    if (typeof o.skip === 'string') return { ok: false, reason: `skip ${o.skip}` };
    if (o.error instanceof PbxError) return { ok: false, reason: `${o.error.code}` };
    return { ok: false, reason: 'ok:false' };
  }
  return { ok: true };
}

/** A parser that throws PbxError for bad input. */
function throwing(fn: (b: Buffer) => unknown): (b: Buffer) => Outcome {
  return (b) => {
    try { return outcomeOf(fn(b)); } catch (e) {
      // The typed errors: PbxError, and the update module's own UpdateError.
      if (e instanceof PbxError || e instanceof UpdateError) return { ok: false, reason: `throws ${e.code}` };
      throw e;
    }
  };
}

// ---------------------------------------------------------------- seeds

const crlf = (lines: readonly string[]): Buffer => Buffer.from(lines.join('\r\n'));

const SDP = [
  'v=0', 'o=- 4858 1 IN IP4 192.0.2.10', 's=-', 'c=IN IP4 192.0.2.10', 't=0 0',
  'm=audio 40000 RTP/SAVP 0 8 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15',
  'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4', 'a=rtcp:40001', 'a=sendrecv',
  'a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF',
  'a=setup:actpass', 'a=zrtp-hash:1.10 fe30efd02423cb054e50efd0248742ac7a52c8f91bc2df881ae642c371ba46df', '',
].join('\r\n');

const INVITE = crlf([
  'INVITE sip:1002@192.0.2.1 SIP/2.0', 'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport',
  'Max-Forwards: 70', 'To: <sip:1002@192.0.2.1>', 'From: "Alice" <sip:1001@192.0.2.1>;tag=1928301774',
  'Call-ID: a84b4c76e66710@192.0.2.10', 'CSeq: 314159 INVITE', 'Contact: <sip:1001@192.0.2.10:5060;transport=udp>',
  'Authorization: Digest username="1001", realm="pbx", nonce="abc", uri="sip:1002@192.0.2.1", response="0123456789abcdef0123456789abcdef", qop=auth, nc=00000001, cnonce="xyz"',
  'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(SDP)}`, '', SDP,
]);
const REGISTER = crlf([
  'REGISTER sip:192.0.2.1 SIP/2.0', 'v: SIP/2.0/TCP [2001:db8::9]:5061;branch=z9hG4bKnashds7;received=198.51.100.3',
  'f: <sip:1001@192.0.2.1>;tag=a73kszlfl', 't: <sip:1001@192.0.2.1>', 'i: 1j9FpLxk3uxtm8tn@2001:db8::9', 'CSeq: 1 REGISTER',
  'm: <sip:1001@[2001:db8::9]:5061;transport=tls>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1;expires=600',
  'Supported: outbound, path', 'l: 0', '', '',
]);
const RESPONSE = crlf([
  'SIP/2.0 200 OK', 'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;received=192.0.2.10;rport=5060',
  'To: <sip:1002@192.0.2.1>;tag=a6c85cf', 'From: "Alice" <sip:1001@192.0.2.1>;tag=1928301774', 'Call-ID: a84b4c76e66710@192.0.2.10',
  'CSeq: 314159 INVITE', 'Record-Route: <sip:192.0.2.1;lr>', 'Content-Length: 0', '', '',
]);

function rtpPacket(pt: number, payload: Buffer, opts: { csrc?: number; ext?: boolean; marker?: boolean } = {}): Buffer {
  const csrc = opts.csrc ?? 0;
  const h = Buffer.alloc(12 + 4 * csrc);
  h[0] = 0x80 | (opts.ext ? 0x10 : 0) | csrc;
  h[1] = (opts.marker ? 0x80 : 0) | pt;
  h.writeUInt16BE(4711, 2);
  h.writeUInt32BE(160 * 99, 4);
  h.writeUInt32BE(0x1234abcd, 8);
  for (let i = 0; i < csrc; i++) h.writeUInt32BE(0x1000 + i, 12 + 4 * i);
  const ext = opts.ext ? Buffer.from([0xbe, 0xde, 0x00, 0x01, 0x10, 0xaa, 0x00, 0x00]) : Buffer.alloc(0);
  return Buffer.concat([h, ext, payload]);
}

function rtcpCompound(): Buffer {
  const sr = Buffer.alloc(28);
  sr[0] = 0x80; sr[1] = 200; sr.writeUInt16BE(6, 2); sr.writeUInt32BE(0x1234abcd, 4);
  const sdes = Buffer.from([0x81, 202, 0x00, 0x03, 0x12, 0x34, 0xab, 0xcd, 0x01, 0x03, 0x61, 0x62, 0x63, 0x00]);
  const sdesPadded = Buffer.concat([sdes, Buffer.alloc(2)]);
  sdesPadded.writeUInt16BE(sdesPadded.length / 4 - 1, 2);
  const bye = Buffer.from([0x81, 203, 0x00, 0x01, 0x12, 0x34, 0xab, 0xcd]);
  return Buffer.concat([sr, sdesPadded, bye]);
}

function stunBinding(): Buffer {
  const attrs: Buffer[] = [];
  const attr = (type: number, value: Buffer): void => {
    const pad = (4 - (value.length % 4)) % 4;
    const a = Buffer.alloc(4 + value.length + pad);
    a.writeUInt16BE(type, 0); a.writeUInt16BE(value.length, 2); value.copy(a, 4);
    attrs.push(a);
  };
  attr(0x0006, Buffer.from('abcd:efgh'));
  attr(0x0020, Buffer.from([0x00, 0x01, 0x21 ^ 0x12, 0x12 ^ 0x34, 0xe1, 0x12, 0xa4, 0x42]));
  attr(0x0024, Buffer.from([0x6e, 0x7f, 0x1e, 0xff]));
  attr(0x0008, Buffer.alloc(20, 7));
  const body = Buffer.concat(attrs);
  const h = Buffer.alloc(20);
  h.writeUInt16BE(0x0001, 0); h.writeUInt16BE(body.length, 2); h.writeUInt32BE(0x2112a442, 4);
  Buffer.from('0123456789ab').copy(h, 8);
  return Buffer.concat([h, body]);
}

function dtlsClientHello(): { record: Buffer; fragment: Buffer; body: Buffer } {
  const body = serializeClientHello({
    version: DTLS12, random: Buffer.alloc(32, 5), sessionId: Buffer.alloc(0), cookie: Buffer.alloc(0),
    cipherSuites: [0xc02b, 0xc02f, 0xc00a], compressionMethods: [0],
    extensions: [
      { type: 14, data: Buffer.from([0x00, 0x04, 0x00, 0x01, 0x00, 0x07, 0x00]) },
      { type: 10, data: Buffer.from([0x00, 0x04, 0x00, 0x1d, 0x00, 0x17]) },
      { type: 11, data: Buffer.from([0x01, 0x00]) },
      { type: 0xff01, data: Buffer.from([0x00]) },
    ],
  });
  const fragment = serializeFragment({ msgType: HandshakeType.clientHello, length: body.length, messageSeq: 0, fragmentOffset: 0, body });
  const record = serializeRecord({ type: ContentType.handshake, version: DTLS12, epoch: 0, seq: 0, fragment });
  return { record, fragment, body };
}

function zrtpHello(): Buffer {
  const { hello } = helloOf({ zid: Buffer.alloc(12, 3), h0: Buffer.alloc(32, 4), clientId: 'pbx fuzz' });
  return serializePacket(1, 0xdeadbeef, hello);
}

function wav(): Buffer {
  const data = Buffer.alloc(320, 0x10);
  const h = Buffer.alloc(44);
  h.write('RIFF', 0); h.writeUInt32LE(36 + data.length, 4); h.write('WAVE', 8); h.write('fmt ', 12); h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); h.writeUInt16LE(1, 22); h.writeUInt32LE(8000, 24); h.writeUInt32LE(16000, 28); h.writeUInt16LE(2, 32); h.writeUInt16LE(16, 34);
  h.write('data', 36); h.writeUInt32LE(data.length, 40);
  return Buffer.concat([h, data]);
}

function tar(): Buffer {
  const h = Buffer.alloc(512);
  h.write('manifest.json', 0); h.write('0000644\0', 100); h.write('0000000\0', 108); h.write('0000000\0', 116);
  const body = Buffer.from('{"version":"1.2.3"}');
  h.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124); h.write('00000000000\0', 136); h[156] = 0x30; h.write('ustar\0', 257); h.write('00', 263);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const padded = Buffer.concat([body, Buffer.alloc(512 - body.length)]);
  return Buffer.concat([h, padded, Buffer.alloc(1024)]);
}

// ---------------------------------------------------------------- targets

const SRTP_KEY = Buffer.alloc(16, 0x2b);
const SRTP_SALT = Buffer.alloc(14, 0x1c);

function srtpTargets(): Target[] {
  const sender = new SrtpSession({ suite: 'AES_CM_128_HMAC_SHA1_80', masterKey: SRTP_KEY, masterSalt: SRTP_SALT });
  const seedsRtp: Buffer[] = [];
  const seedsRtcp: Buffer[] = [];
  for (let i = 0; i < 8; i++) {
    const p = rtpPacket(0, Buffer.alloc(160, i), { csrc: i % 3, ext: i % 2 === 1 });
    p.writeUInt16BE(100 + i, 2);
    const s = sender.protectRtp(p);
    if (typeof s !== 'string') seedsRtp.push(Buffer.from(s));
    const c = sender.protectRtcp(rtcpCompound());
    if (typeof c !== 'string') seedsRtcp.push(Buffer.from(c));
  }
  // A fresh receiver per run would be slow; one receiver meets replays as 'srtp-replay', which is a rejection too.
  const receiver = (): SrtpSession => new SrtpSession({ suite: 'AES_CM_128_HMAC_SHA1_80', masterKey: SRTP_KEY, masterSalt: SRTP_SALT });
  let rx = receiver();
  let used = 0;
  const fresh = (): SrtpSession => { if (++used % 4096 === 0) rx = receiver(); return rx; };
  return [
    { name: 'SRTP unprotect', text: false, seeds: seedsRtp, run: (b) => outcomeOf(fresh().unprotectRtp(b)) },
    { name: 'SRTCP unprotect', text: false, seeds: seedsRtcp, run: (b) => outcomeOf(fresh().unprotectRtcp(b)) },
  ];
}

function targets(): Target[] {
  const str = (b: Buffer): string => b.toString('latin1');
  const dtls = dtlsClientHello();
  const viaSeeds = ['SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport', 'SIP/2.0/TLS [2001:db8::1]:5061;received=1.2.3.4;branch=z9hG4bKx, SIP/2.0/TCP host.example;maddr=224.2.0.1;ttl=16'];
  return [
    { name: 'SIP message', text: true, seeds: [INVITE, REGISTER, RESPONSE], run: (b) => outcomeOf(parseMessage(b)) },
    {
      name: 'SIP stream framing', text: true, seeds: [Buffer.concat([REGISTER, RESPONSE]), Buffer.from('\r\n\r\n'), INVITE],
      run: (b) => { const r = frameStream(b); return r.kind === 'error' ? { ok: false, reason: 'error' } : { ok: true }; },
    },
    { name: 'SIP URI', text: true, seeds: ['sip:alice:pw@example.com:5060;transport=tcp;lr?subject=x&h=%20', 'sips:[2001:db8::1]:5061', 'tel:+15551234;phone-context=x'].map((s) => Buffer.from(s)), run: throwing((b) => parseUri(str(b))) },
    { name: 'SIP Via', text: true, seeds: viaSeeds.map((s) => Buffer.from(s)), run: throwing((b) => parseVia(str(b))) },
    {
      name: 'SIP Contact', text: true,
      seeds: ['"Bob" <sip:bob@192.0.2.4>;expires=60;q=0.7, <sip:bob@[2001:db8::2]:5080;transport=tcp>;+sip.instance="<urn:uuid:1>";reg-id=1'].map((s) => Buffer.from(s)),
      run: throwing((b) => parseContacts([str(b)])),
    },
    {
      name: 'digest auth params', text: true,
      seeds: [Buffer.from('Digest username="1001", realm="pbx", nonce="abc==", uri="sip:x", response="00ff", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="c", opaque="o"')],
      run: (b) => outcomeOf(parseAuthParams(str(b))),
    },
    { name: 'SDP', text: true, seeds: [Buffer.from(SDP)], run: throwing((b) => parseSdp(b)) },
    {
      name: 'SDES crypto line', text: true,
      seeds: ['1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4', '2 AES_CM_128_HMAC_SHA1_32 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz'].map((s) => Buffer.from(s)),
      run: throwing((b) => parseCryptoLine(str(b))),
    },
    { name: 'RTP', text: false, seeds: [rtpPacket(0, Buffer.alloc(160)), rtpPacket(8, Buffer.alloc(80), { csrc: 2, ext: true, marker: true })], run: (b) => outcomeOf(parseRtp(b)) },
    { name: 'RTCP compound', text: false, seeds: [rtcpCompound()], run: (b) => outcomeOf(parseRtcpCompound(b)) },
    ...srtpTargets(),
    { name: 'STUN', text: false, seeds: [stunBinding()], run: (b) => outcomeOf(parseStun(b)) },
    { name: 'RFC 4733 event', text: false, seeds: [rtpPacket(101, Buffer.from([0x05, 0x8a, 0x03, 0x20]), { marker: true })], run: (b) => outcomeOf(parseDtmfRtp(b, 101)) },
    { name: 'SIP INFO dtmf', text: true, seeds: [Buffer.from('Signal=5\r\nDuration=160\r\n')], run: (b) => outcomeOf(parseInfoDtmf('application/dtmf-relay', b)) },
    { name: 'MWI summary', text: true, seeds: [Buffer.from('Messages-Waiting: yes\r\nMessage-Account: sip:1001@pbx\r\nVoice-Message: 2/8 (0/2)\r\n')], run: (b) => outcomeOf(parseSummary(b)) },
    { name: 'DTLS records', text: false, seeds: [dtls.record, Buffer.concat([dtls.record, dtls.record])], run: (b) => outcomeOf(parseRecords(b)) },
    { name: 'DTLS handshake fragments', text: false, seeds: [dtls.fragment], run: (b) => outcomeOf(parseHandshakeFragments(b)) },
    { name: 'DTLS ClientHello', text: false, seeds: [dtls.body], run: (b) => outcomeOf(parseClientHello(b)) },
    { name: 'ZRTP packet', text: false, seeds: [zrtpHello()], run: (b) => outcomeOf(parseZrtpPacket(b)) },
    { name: 'ZRTP message', text: false, seeds: [zrtpHello().subarray(12, -4)], run: (b) => outcomeOf(parseZrtpMessage(b)) },
    { name: 'account CSV', text: true, seeds: [Buffer.from('extension,password,name\n1001,"p,w""x",Alice\r\n1002,pw2,"Bob\nSmith"\n')], run: throwing((b) => parseCsv(str(b))) },
    { name: 'WAV', text: false, seeds: [wav()], run: throwing((b) => readWav(b)) },
    { name: 'update tar', text: false, seeds: [tar()], run: throwing((b) => readTar(b, 64)) },
  ];
}

// ---------------------------------------------------------------- mutation

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x20, 0x0d, 0x0a];
const TOKENS = [';', ',', ':', '=', '"', '<', '>', '\r\n', '\r\n\r\n', '\n', ' ', '\t', '%', '[', ']', '@', '99999999999999999999', '-1', '0', '4294967296', 'a=', 'm=audio 0 RTP/AVP', 'Content-Length: 99999', 'inline:', '|2^99|', '\\', '\0'];

export class Mutator {
  constructor(private readonly rnd: Random, private readonly seeds: readonly Buffer[], private readonly text: boolean) {}

  private int(n: number): number { return n <= 1 ? 0 : this.rnd.int(n); }

  private pick(): Buffer { return this.seeds[this.int(this.seeds.length)] ?? Buffer.alloc(0); }

  next(): Buffer {
    if (this.rnd.int(1000) < RANDOM_SHARE * 1000) return this.rnd.bytes(this.int(1500));
    let b: Buffer = Buffer.from(this.pick());
    const rounds = 1 + this.int(4);
    for (let i = 0; i < rounds; i++) b = this.mutateOnce(b);
    return b.length > MAX_INPUT ? b.subarray(0, MAX_INPUT) : b;
  }

  private mutateOnce(b: Buffer): Buffer {
    const at = this.int(b.length + 1);
    switch (this.int(this.text ? 10 : 8)) {
      case 0: { if (b.length) { const i = this.int(b.length); b[i] = (b[i] ?? 0) ^ (1 << this.int(8)); } return b; }
      case 1: { if (b.length) b[this.int(b.length)] = INTERESTING[this.int(INTERESTING.length)] ?? 0; return b; }
      case 2: return Buffer.concat([b.subarray(0, at), this.rnd.bytes(1 + this.int(16)), b.subarray(at)]);
      case 3: { const n = this.int(Math.min(64, b.length - at) + 1); return Buffer.concat([b.subarray(0, at), b.subarray(at + n)]); }
      case 4: { const n = 1 + this.int(64); const piece = b.subarray(at, at + n); return Buffer.concat([b.subarray(0, at), piece, piece, b.subarray(at)]); }
      case 5: return b.subarray(0, at);
      case 6: { const o = this.pick(); const cut = this.int(o.length + 1); return Buffer.concat([b.subarray(0, at), o.subarray(cut)]); }
      case 7: { const piece = b.subarray(at, at + 1 + this.int(8)); return Buffer.concat([b.subarray(0, at), Buffer.concat(Array.from({ length: 1 + (this.int(16) === 0 ? this.int(2000) : this.int(20)) }, () => piece)), b.subarray(at)]); }
      case 8: return Buffer.concat([b.subarray(0, at), Buffer.from(TOKENS[this.int(TOKENS.length)] ?? ''), b.subarray(at)]);
      default: {
        // Replace a number in the text with an extreme one.
        const s = b.toString('latin1');
        const m = [...s.matchAll(/\d+/g)];
        const hit = m[this.int(m.length)];
        if (!hit || hit.index === undefined) return b;
        const extreme = ['0', '-1', '65536', '4294967295', '18446744073709551616', '9'.repeat(400)][this.int(6)] ?? '0';
        return Buffer.from(s.slice(0, hit.index) + extreme + s.slice(hit.index + hit[0].length), 'latin1');
      }
    }
  }
}

// ---------------------------------------------------------------- run

interface Result {
  readonly name: string; readonly inputs: number; readonly seconds: number; readonly accepted: number; readonly rejected: number;
  readonly crashes: number; readonly hangs: number; readonly slowestMs: number; readonly reasons: ReadonlyMap<string, number>;
  readonly firstCrash?: string;
}

function fuzzOne(t: Target, rnd: Random, budget: { seconds: number; inputs: number }, out: string): Result {
  const m = new Mutator(rnd, t.seeds, t.text);
  const reasons = new Map<string, number>();
  let accepted = 0; let rejected = 0; let crashes = 0; let hangs = 0; let slowest = 0; let n = 0;
  let firstCrash: string | undefined;
  const finding = (kind: string, input: Buffer, why: string): void => {
    mkdirSync(out, { recursive: true });
    const file = join(out, `${t.name.replace(/\W+/g, '-')}-${kind}-${n}.hex`);
    writeFileSync(file, `${why}\n${input.toString('hex')}\n`);
    firstCrash ??= `${why} (${file})`;
  };
  // The seeds themselves first: each must be accepted, or the target tests nothing.
  for (const s of t.seeds) if (!t.run(Buffer.from(s)).ok) throw new BenchError(`${t.name}: a seed is rejected; the fuzz target is wrong`);
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(budget.seconds * 1e9));
  let now = t0;
  while (n < budget.inputs) {
    if (n % CLOCK_EVERY === 0) { now = process.hrtime.bigint(); if (now > deadline) break; }
    const input = m.next();
    n++;
    const s = process.hrtime.bigint();
    let o: Outcome;
    try {
      o = t.run(input);
    } catch (e) {
      crashes++;
      finding('crash', input, e instanceof Error ? `${e.name}: ${e.message}` : String(e));
      continue;
    }
    const ms = Number(process.hrtime.bigint() - s) / 1e6;
    if (ms > slowest) slowest = ms;
    if (ms > HANG_MS) {
      // A GC pause or a busy host also makes one input slow: a hang is slow every time.
      const again = Math.min(...[0, 1, 2].map(() => { const a = process.hrtime.bigint(); try { t.run(input); } catch { /* counted above */ } return Number(process.hrtime.bigint() - a) / 1e6; }));
      if (again > HANG_MS) { hangs++; finding('hang', input, `${f(again)} ms`); }
    }
    if (o.ok) accepted++;
    else { rejected++; reasons.set(o.reason, (reasons.get(o.reason) ?? 0) + 1); }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { name: t.name, inputs: n, seconds, accepted, rejected, crashes, hangs, slowestMs: slowest, reasons, ...(firstCrash ? { firstCrash } : {}) };
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string', default: '10' }, inputs: { type: 'string', default: '1000000' }, only: { type: 'string' },
      seed: { type: 'string', default: '20' }, out: { type: 'string', default: 'fuzz-findings' },
    },
    strict: true,
  });
  const seconds = Number(values.seconds);
  const inputs = Number(values.inputs);
  if (!(seconds > 0) || !(inputs > 0)) throw new BenchError('--seconds and --inputs must be positive');
  const only = values.only?.split(',').map((s) => s.trim().toLowerCase());
  const all = targets().filter((t) => !only || only.some((o) => t.name.toLowerCase().includes(o)));
  if (!all.length) throw new BenchError('no parser matches --only');
  const out = resolve(values.out ?? 'fuzz-findings');
  process.stdout.write(`fuzz: ${all.length} parsers, up to ${inputs} inputs or ${seconds} s each, seed ${values.seed}; findings to ${out}\n`);
  const results: Result[] = [];
  for (const [i, t] of all.entries()) {
    const r = fuzzOne(t, seededRandom(Number(values.seed) * 1000 + i), { seconds, inputs }, out);
    results.push(r);
    const top = [...r.reasons].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${k} ${v}`).join(', ');
    process.stdout.write(`  ${r.name}: ${r.inputs} inputs in ${f(r.seconds, 1)} s, ${r.accepted} accepted, ${r.rejected} rejected (${top}), crashes ${r.crashes}, hangs ${r.hangs}${r.firstCrash ? `; first: ${r.firstCrash}` : ''}\n`);
  }
  const rows = results.map((r) => [
    r.name, String(r.inputs), f(r.seconds, 1), f(r.inputs / r.seconds), String(r.accepted), String(r.rejected), String(r.crashes), String(r.hangs), f(r.slowestMs, 2),
  ]);
  process.stdout.write(`\n${renderTable(['parser', 'inputs', 's', 'inputs/s', 'accepted', 'rejected', 'crashes', 'hangs', 'slowest ms'], rows)}\n`);
  const crashes = results.reduce((n, r) => n + r.crashes + r.hangs, 0);
  const total = results.reduce((n, r) => n + r.inputs, 0);
  process.stdout.write(`\nfuzz: ${total} inputs over ${results.length} parsers in ${f(results.reduce((s, r) => s + r.seconds, 0), 1)} s; crashes and hangs: ${crashes}\n`);
  return crashes === 0 ? 0 : 1;
}

runMain('bench:fuzz', main);
