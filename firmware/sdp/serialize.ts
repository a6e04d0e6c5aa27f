/**
 * Writes a session description in the order RFC 4566 section 5 fixes, each
 * line ended by CRLF. Refuses (PbxError 'protocol') values that would break
 * the line structure, so data built by the box from configuration can never
 * inject lines into what it sends.
 */
import { PbxError } from '../core/index.js';
import type { Attribute, Bandwidth, Connection, MediaDescription, SessionDescription } from './types.js';

const NO_BREAKS = /^[^\r\n\0]*$/;
const WORD = /^[^\s\0]+$/;

function text(v: string, what: string): string {
  if (!NO_BREAKS.test(v)) throw new PbxError('protocol', `SDP ${what} contains a line break`);
  return v;
}

function word(v: string, what: string): string {
  if (!WORD.test(v)) throw new PbxError('protocol', `SDP ${what} must be one non-empty word`);
  return v;
}

function uint(v: number, what: string): string {
  if (!Number.isSafeInteger(v) || v < 0) throw new PbxError('protocol', `SDP ${what} must be a whole number`);
  return String(v);
}

function connection(c: Connection): string {
  let addr = word(c.address, 'connection address');
  if (c.ttl !== undefined) addr += `/${uint(c.ttl, 'ttl')}`;
  if (c.count !== undefined) addr += `/${uint(c.count, 'address count')}`;
  return `c=${word(c.netType, 'network type')} ${word(c.addrType, 'address type')} ${addr}`;
}

function bandwidth(b: Bandwidth): string {
  return `b=${word(b.type, 'bandwidth type')}:${uint(b.value, 'bandwidth')}`;
}

function attribute(a: Attribute): string {
  const name = word(a.name, 'attribute name');
  if (name.includes(':')) throw new PbxError('protocol', 'SDP attribute name contains a colon');
  return a.value === null ? `a=${name}` : `a=${name}:${text(a.value, 'attribute value')}`;
}

function mediaLines(m: MediaDescription, out: string[]): void {
  if (m.port > 65535) throw new PbxError('protocol', 'SDP port out of range');
  const port = uint(m.port, 'port') + (m.portCount !== undefined ? `/${uint(m.portCount, 'port count')}` : '');
  if (m.formats.length === 0) throw new PbxError('protocol', 'SDP m= line needs a format');
  const formats = m.formats.map((f) => word(f, 'format')).join(' ');
  out.push(`m=${word(m.type, 'media type')} ${port} ${word(m.protocol, 'transport')} ${formats}`);
  if (m.title !== undefined) out.push(`i=${text(m.title, 'title')}`);
  if (m.connection) out.push(connection(m.connection));
  for (const b of m.bandwidths) out.push(bandwidth(b));
  if (m.key !== undefined) out.push(`k=${text(m.key, 'key')}`);
  for (const a of m.attributes) out.push(attribute(a));
}

export function serializeSdp(sd: SessionDescription): string {
  const o = sd.origin;
  const out: string[] = [
    'v=0',
    `o=${[o.username, o.sessionId, o.sessionVersion, o.netType, o.addrType, o.address].map((f) => word(f, 'origin field')).join(' ')}`,
    // RFC 4566 5.3: s= is never empty; a single space stands for "no name".
    `s=${text(sd.sessionName === '' ? ' ' : sd.sessionName, 'session name')}`,
  ];
  if (sd.information !== undefined) out.push(`i=${text(sd.information, 'information')}`);
  if (sd.uri !== undefined) out.push(`u=${text(sd.uri, 'uri')}`);
  for (const e of sd.emails) out.push(`e=${text(e, 'email')}`);
  for (const p of sd.phones) out.push(`p=${text(p, 'phone')}`);
  if (sd.connection) out.push(connection(sd.connection));
  for (const b of sd.bandwidths) out.push(bandwidth(b));
  if (sd.timings.length === 0) throw new PbxError('protocol', 'SDP needs a t= line');
  for (const t of sd.timings) {
    out.push(`t=${uint(t.start, 'start time')} ${uint(t.stop, 'stop time')}`);
    for (const r of t.repeats) out.push(`r=${text(r, 'repeat')}`);
  }
  if (sd.timeZones !== undefined) out.push(`z=${text(sd.timeZones, 'time zones')}`);
  if (sd.key !== undefined) out.push(`k=${text(sd.key, 'key')}`);
  for (const a of sd.attributes) out.push(attribute(a));
  for (const m of sd.media) mediaLines(m, out);
  return out.join('\r\n') + '\r\n';
}
