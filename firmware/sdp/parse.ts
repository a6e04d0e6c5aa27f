/**
 * Parses a session description (RFC 4566 section 5). Pure. Lenient where
 * real phones deviate (LF-only line ends, trailing blanks, blank lines, an
 * empty s=, session-level lines out of the RFC's order), strict where a
 * mistake would mislead the box (v=/o=/s=/t= missing, malformed m=, o=, c=,
 * unknown line types, limits). Every refusal is an SdpParseError (a PbxError
 * with code 'parse' or 'limit') naming the line.
 */
import type { Counters } from '../core/index.js';
import {
  MAX_FORMATS_PER_MEDIA, MAX_MEDIA_SECTIONS, MAX_SDP_BYTES, MAX_SDP_LINES, SDP_PARSE_COUNTER_PREFIX, SdpParseError,
  type SdpRejectReason,
} from './limits.js';
import type {
  Attribute, Bandwidth, Connection, MediaDescription, Origin, SessionDescription,
} from './types.js';

const TOKEN = /^[A-Za-z0-9!#$%&'*+\-.^_`{|}~]+$/;
const DIGITS = /^\d{1,20}$/;
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
const BLANKS = /[ \t]+/;
const PROTO = /^[A-Za-z0-9][A-Za-z0-9/_.\-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** True for transports whose formats are RTP payload type numbers (RTP/AVP, UDP/TLS/RTP/SAVPF, TCP/RTP/AVP ...). */
export function isRtpProtocol(protocol: string): boolean {
  return /(^|\/)RTP\//i.test(protocol);
}

interface Line {
  readonly type: string;
  readonly value: string;
  readonly no: number;
  readonly offset: number;
}

class Fail {
  constructor(readonly reason: SdpRejectReason, readonly message: string, readonly line: Line | undefined) {}
}

function fail(reason: SdpRejectReason, message: string, line?: Line): never {
  throw new Fail(reason, message, line);
}

/**
 * Parses `input` (the body of a SIP message, bytes or text). Bumps
 * `sdp.parse.<reason>` on `counters` for each refusal.
 */
export function parseSdp(input: string | Buffer, counters?: Counters): SessionDescription {
  try {
    return parseInner(input);
  } catch (e) {
    if (!(e instanceof Fail)) throw e;
    counters?.inc(SDP_PARSE_COUNTER_PREFIX + e.reason);
    const code = e.reason === 'too-large' ? 'limit' : 'parse';
    throw new SdpParseError(code, e.reason, e.line?.no ?? 0, e.message, e.line?.offset);
  }
}

function decode(input: string | Buffer): string {
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
  if (size > MAX_SDP_BYTES) fail('too-large', `larger than ${MAX_SDP_BYTES} bytes`);
  if (typeof input === 'string') return input;
  try {
    return utf8.decode(input);
  } catch {
    return fail('encoding', 'not UTF-8');
  }
}

function splitLines(text: string): Line[] {
  const raw = text.split('\n');
  if (raw.length > 0 && raw[raw.length - 1] === '') raw.pop();
  if (raw.length > MAX_SDP_LINES) fail('too-large', `more than ${MAX_SDP_LINES} lines`);
  const lines: Line[] = [];
  let offset = 0;
  raw.forEach((r, i) => {
    const here = offset;
    offset += Buffer.byteLength(r, 'utf8') + 1;
    const text = (r.endsWith('\r') ? r.slice(0, -1) : r).replace(/[ \t]+$/, '');
    if (text === '') return; // blank lines: tolerated anywhere
    const at: Line = { type: '', value: '', no: i + 1, offset: here };
    if (CONTROL.test(text)) fail('syntax', 'control character', at);
    if (text.length < 2 || text[1] !== '=' || !/^[a-z]$/.test(text[0] ?? '')) fail('syntax', 'not <type>=<value>', at);
    lines.push({ ...at, type: text[0] ?? '', value: text.slice(2) });
  });
  return lines;
}

/** Mutable builders, frozen into the readonly types at the end. */
interface MediaDraft {
  m: Omit<MediaDescription, 'bandwidths' | 'attributes'>;
  bandwidths: Bandwidth[];
  attributes: Attribute[];
}

function parseInner(input: string | Buffer): SessionDescription {
  const lines = splitLines(decode(input));
  const first = lines[0];
  if (first === undefined || first.type !== 'v') fail('missing-line', 'v= must be the first line', first);
  if (first.value !== '0') fail('value', 'only SDP version 0 is known', first);

  let origin: Origin | undefined;
  let sessionName: string | undefined;
  let information: string | undefined;
  let uri: string | undefined;
  let connection: Connection | undefined;
  let timeZones: string | undefined;
  let key: string | undefined;
  const emails: string[] = [];
  const phones: string[] = [];
  const bandwidths: Bandwidth[] = [];
  const timings: { start: number; stop: number; repeats: string[] }[] = [];
  const attributes: Attribute[] = [];
  const media: MediaDraft[] = [];

  const once = <T>(prev: T | undefined, line: Line): void => {
    if (prev !== undefined) fail('order', `${line.type}= repeated`, line);
  };

  for (const line of lines.slice(1)) {
    const cur = media[media.length - 1];
    if (line.type === 'm') {
      if (media.length >= MAX_MEDIA_SECTIONS) fail('too-large', `more than ${MAX_MEDIA_SECTIONS} media sections`, line);
      media.push({ m: parseMediaLine(line), bandwidths: [], attributes: [] });
      continue;
    }
    if (cur !== undefined) {
      // RFC 4566 5: a media section holds only i=, c=, b=, k= and a=.
      switch (line.type) {
        case 'i': once(cur.m.title, line); cur.m = { ...cur.m, title: line.value }; break;
        case 'c': once(cur.m.connection, line); cur.m = { ...cur.m, connection: parseConnection(line) }; break;
        case 'b': cur.bandwidths.push(parseBandwidth(line)); break;
        case 'k': once(cur.m.key, line); cur.m = { ...cur.m, key: line.value }; break;
        case 'a': cur.attributes.push(parseAttribute(line)); break;
        default: unexpected(line, 'in a media section');
      }
      continue;
    }
    switch (line.type) {
      case 'v': fail('order', 'v= repeated', line); break;
      case 'o': once(origin, line); origin = parseOrigin(line); break;
      // RFC 4566 5.3 wants a single space for "no name"; some phones send s= empty.
      case 's': once(sessionName, line); sessionName = line.value === '' ? ' ' : line.value; break;
      case 'i': once(information, line); information = line.value; break;
      case 'u': once(uri, line); uri = line.value; break;
      case 'e': emails.push(line.value); break;
      case 'p': phones.push(line.value); break;
      case 'c': once(connection, line); connection = parseConnection(line); break;
      case 'b': bandwidths.push(parseBandwidth(line)); break;
      case 't': timings.push({ ...parseTiming(line), repeats: [] }); break;
      case 'r': {
        const t = timings[timings.length - 1];
        if (t === undefined) fail('order', 'r= before any t=', line);
        t.repeats.push(line.value);
        break;
      }
      case 'z': once(timeZones, line); timeZones = line.value; break;
      case 'k': once(key, line); key = line.value; break;
      case 'a': attributes.push(parseAttribute(line)); break;
      default: unexpected(line, 'at session level');
    }
  }
  if (origin === undefined) fail('missing-line', 'o= missing');
  if (sessionName === undefined) fail('missing-line', 's= missing');
  if (timings.length === 0) fail('missing-line', 't= missing');

  return {
    version: 0,
    origin,
    sessionName,
    ...(information !== undefined ? { information } : {}),
    ...(uri !== undefined ? { uri } : {}),
    emails,
    phones,
    ...(connection !== undefined ? { connection } : {}),
    bandwidths,
    timings,
    ...(timeZones !== undefined ? { timeZones } : {}),
    ...(key !== undefined ? { key } : {}),
    attributes,
    media: media.map((d) => ({ ...d.m, bandwidths: d.bandwidths, attributes: d.attributes })),
  };
}

function unexpected(line: Line, where: string): never {
  // RFC 4566 5: a description with a type letter the parser does not know is ignored whole.
  if ('vosiuepcbtrzkam'.includes(line.type)) fail('order', `${line.type}= not allowed ${where}`, line);
  return fail('syntax', `unknown line type ${line.type}=`, line);
}

function parseOrigin(line: Line): Origin {
  const f = line.value.split(BLANKS);
  if (f.length !== 6) fail('origin', 'o= needs 6 fields', line);
  const [username, sessionId, sessionVersion, netType, addrType, address] = f as [string, string, string, string, string, string];
  if (!DIGITS.test(sessionId) || !DIGITS.test(sessionVersion)) fail('origin', 'o= session id and version must be numbers', line);
  if (!TOKEN.test(netType) || !TOKEN.test(addrType)) fail('origin', 'o= bad network or address type', line);
  return { username, sessionId, sessionVersion, netType, addrType, address };
}

function parseConnection(line: Line): Connection {
  const f = line.value.split(BLANKS);
  if (f.length !== 3) fail('connection', 'c= needs 3 fields', line);
  const [netType, addrType, full] = f as [string, string, string];
  if (!TOKEN.test(netType) || !TOKEN.test(addrType)) fail('connection', 'c= bad network or address type', line);
  const ip4 = addrType.toUpperCase() === 'IP4';
  const ip6 = addrType.toUpperCase() === 'IP6';
  if (!ip4 && !ip6) return { netType, addrType, address: full };
  // RFC 4566 5.7: IP4 multicast carries /ttl[/count], IP6 multicast /count.
  const parts = full.split('/');
  const address = parts[0] ?? '';
  const nums = parts.slice(1);
  if (address === '' || nums.length > (ip4 ? 2 : 1) || nums.some((n) => !/^\d{1,3}$/.test(n))) {
    fail('connection', 'c= bad address', line);
  }
  const [a, b] = nums.map(Number);
  if (ip4) return { netType, addrType, address, ...(a !== undefined ? { ttl: a } : {}), ...(b !== undefined ? { count: b } : {}) };
  return { netType, addrType, address, ...(a !== undefined ? { count: a } : {}) };
}

function parseBandwidth(line: Line): Bandwidth {
  const m = /^([A-Za-z0-9_.+\-]+):(\d{1,10})$/.exec(line.value);
  if (!m) return fail('value', 'b= must be <type>:<number>', line);
  return { type: m[1] ?? '', value: Number(m[2]) };
}

function parseTiming(line: Line): { start: number; stop: number } {
  const f = line.value.split(BLANKS);
  if (f.length !== 2 || !f.every((n) => /^\d{1,15}$/.test(n))) fail('value', 't= must be two numbers', line);
  return { start: Number(f[0]), stop: Number(f[1]) };
}

function parseAttribute(line: Line): Attribute {
  const colon = line.value.indexOf(':');
  const name = colon < 0 ? line.value : line.value.slice(0, colon);
  if (!TOKEN.test(name)) fail('value', 'a= bad attribute name', line);
  return { name, value: colon < 0 ? null : line.value.slice(colon + 1) };
}

/** m=<media> <port>[/<count>] <proto> <fmt> ... (RFC 4566 5.14). */
function parseMediaLine(line: Line): Omit<MediaDescription, 'bandwidths' | 'attributes'> {
  const f = line.value.split(BLANKS);
  if (f.length < 4) fail('media-line', 'm= needs media, port, transport and a format', line);
  const [type, portText, protocol] = f as [string, string, string];
  const formats = f.slice(3);
  if (!TOKEN.test(type)) fail('media-line', 'm= bad media type', line);
  const pm = /^(\d{1,5})(?:\/(\d{1,5}))?$/.exec(portText);
  const port = Number(pm?.[1]);
  const portCount = pm?.[2] === undefined ? undefined : Number(pm[2]);
  if (!pm || port > 65535 || (portCount !== undefined && (portCount < 1 || port + portCount > 65536))) {
    fail('media-line', 'm= bad port', line);
  }
  if (!PROTO.test(protocol)) fail('media-line', 'm= bad transport', line);
  if (formats.length > MAX_FORMATS_PER_MEDIA) fail('too-large', `more than ${MAX_FORMATS_PER_MEDIA} formats`, line);
  if (isRtpProtocol(protocol)) {
    // RTP formats are payload type numbers, 0-127 (RFC 3550 5.1).
    if (!formats.every((x) => /^\d{1,3}$/.test(x) && Number(x) <= 127)) fail('media-line', 'm= bad RTP payload type', line);
  } else if (!formats.every((x) => TOKEN.test(x))) {
    fail('media-line', 'm= bad format', line);
  }
  return { type, port, ...(portCount !== undefined ? { portCount } : {}), protocol, formats };
}
