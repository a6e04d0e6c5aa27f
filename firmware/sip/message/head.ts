/**
 * The header section as bytes: finding its end, splitting lines, unfolding
 * (RFC 3261 7.3.1). Shared by the datagram parser and the stream framer.
 * Internal to this folder.
 *
 *   start-line CRLF
 *   *( header-name HCOLON value *( CRLF 1*WSP more-value ) CRLF )
 *   CRLF
 *   body
 */
import { isUtf8 } from 'node:buffer';
import { PbxError } from '../../core/index.js';
import { isToken, isWs, trimWs } from './chars.js';
import { MAX_HEADER_COUNT, MAX_START_LINE_BYTES, type RejectReason } from './limits.js';
import { normalizeHeaderName } from './names.js';

const CR = 0x0d;
const LF = 0x0a;
const CRLFCRLF = Buffer.from('\r\n\r\n');

export interface RawHeader {
  /** Canonical long name, lower case. */
  readonly name: string;
  readonly value: string;
  /** Byte offset of the header's first line. */
  readonly offset: number;
}

export interface Head {
  readonly startLine: string;
  readonly headers: RawHeader[];
  /** Offset of the first body byte. */
  readonly bodyStart: number;
}

export interface Failure {
  readonly ok: false;
  readonly reason: RejectReason;
  readonly error: PbxError;
}

export function fail(reason: RejectReason, code: 'parse' | 'limit', message: string, offset?: number): Failure {
  return { ok: false, reason, error: new PbxError(code, message, offset) };
}

/** Offset of the CRLFCRLF ending the header section, searching at most `max` bytes from `from`; -1 if absent. */
export function findHeaderEnd(buf: Buffer, from: number, max: number): number {
  const end = Math.min(buf.length, from + max);
  if (end - from < 4) return -1;
  const i = buf.subarray(from, end).indexOf(CRLFCRLF);
  return i < 0 ? -1 : from + i;
}

/** Number of CRLF pairs at `from` (keep-alives and RFC 3261 7.5 leading blank lines). */
export function leadingCrlfs(buf: Buffer, from: number): number {
  let n = 0;
  while (from + 2 * n + 1 < buf.length && buf[from + 2 * n] === CR && buf[from + 2 * n + 1] === LF) n++;
  return n;
}

/**
 * Splits and unfolds the section from `start` (the start line) to
 * `headerEnd` (the offset of the terminating CRLFCRLF).
 */
export function readHead(buf: Buffer, start: number, headerEnd: number): { ok: true; head: Head } | Failure {
  // Every CR must begin a CRLF and every LF end one: a bare CR or LF is a
  // line break some peers see and others do not.
  for (let i = start; i < headerEnd; i++) {
    const b = buf[i];
    if (b === CR) {
      if (buf[i + 1] !== LF) return fail('headers', 'parse', 'bare CR in header section', i);
      i++;
    } else if (b === LF) {
      return fail('headers', 'parse', 'bare LF in header section', i);
    }
  }
  let lineEnd = buf.indexOf('\r\n', start);
  if (lineEnd < 0 || lineEnd > headerEnd) lineEnd = headerEnd;
  if (lineEnd - start > MAX_START_LINE_BYTES) return fail('too-large', 'limit', 'start line too long', start);
  const startBytes = buf.subarray(start, lineEnd);
  if (!isUtf8(startBytes)) return fail('encoding', 'parse', 'start line is not UTF-8', start);
  const startLine = startBytes.toString('utf8');

  const headers: { name: string; value: string; offset: number }[] = [];
  let pos = lineEnd + 2;
  while (pos < headerEnd) {
    let e = buf.indexOf('\r\n', pos);
    if (e < 0 || e > headerEnd) e = headerEnd;
    const bytes = buf.subarray(pos, e);
    if (!isUtf8(bytes)) return fail('encoding', 'parse', 'header line is not UTF-8', pos);
    const line = bytes.toString('utf8');
    if (line.length > 0 && isWs(line.charCodeAt(0))) {
      // Folded continuation: the line break and leading whitespace count as one SP.
      const prev = headers[headers.length - 1];
      if (prev === undefined) return fail('headers', 'parse', 'continuation line before any header', pos);
      prev.value += ' ' + trimWs(line);
    } else {
      const colon = line.indexOf(':');
      if (colon < 0) return fail('headers', 'parse', 'header line without a colon', pos);
      const name = trimWs(line.slice(0, colon));
      // HCOLON allows whitespace only between the name and the colon.
      if (!isToken(name)) return fail('headers', 'parse', 'invalid header name', pos);
      if (headers.length >= MAX_HEADER_COUNT) return fail('too-large', 'limit', 'too many headers', pos);
      headers.push({ name: normalizeHeaderName(name), value: line.slice(colon + 1), offset: pos });
    }
    pos = e + 2;
  }
  for (const h of headers) h.value = trimWs(h.value);
  return { ok: true, head: { startLine, headers, bodyStart: headerEnd + 4 } };
}

/** The Content-Length of a header list: undefined if absent, else the byte count or a failure. */
export function contentLength(headers: readonly RawHeader[]): number | undefined | Failure {
  let found: RawHeader | undefined;
  for (const h of headers) {
    if (h.name !== 'content-length') continue;
    // Two Content-Lengths leave the body's end to guesswork (RFC 4475 3.3.9).
    if (found) return fail('duplicate-header', 'parse', 'repeated Content-Length', h.offset);
    found = h;
  }
  if (!found) return undefined;
  if (!/^\d{1,10}$/.test(found.value)) return fail('content-length', 'parse', 'invalid Content-Length', found.offset);
  return Number(found.value);
}
