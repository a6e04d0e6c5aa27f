/**
 * Writes a message as bytes: canonical header names, and a Content-Length
 * that always counts the body's bytes (RFC 3261 20.14), written where the
 * message had one or else last. Refuses anything that would let a value
 * start a new line on the wire.
 */
import { PbxError } from '../../core/index.js';
import { isToken } from './chars.js';
import { canonicalHeaderName, normalizeHeaderName } from './names.js';
import type { SipMessage } from './types.js';

function bad(message: string): PbxError {
  return new PbxError('protocol', message);
}

function startLine(msg: SipMessage): string {
  if (msg.kind === 'request') {
    if (!isToken(msg.method)) throw bad('invalid method');
    if (msg.uri.length === 0 || /[\x00-\x20\x7f]/.test(msg.uri)) throw bad('invalid Request-URI');
    return `${msg.method} ${msg.uri} SIP/2.0`;
  }
  if (!Number.isInteger(msg.status) || msg.status < 100 || msg.status > 699) throw bad('invalid status code');
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(msg.reason)) throw bad('invalid reason phrase');
  return `SIP/2.0 ${msg.status} ${msg.reason}`;
}

export function serialize(msg: SipMessage): Buffer {
  let head = startLine(msg) + '\r\n';
  let lengthWritten = false;
  const contentLength = `Content-Length: ${msg.body.length}\r\n`;
  for (const h of msg.headers) {
    const name = normalizeHeaderName(h.name);
    if (!isToken(name)) throw bad(`invalid header name ${JSON.stringify(h.name)}`);
    if (name === 'content-length') {
      if (!lengthWritten) head += contentLength;
      lengthWritten = true;
      continue;
    }
    // A NUL may sit inside a quoted-pair (RFC 4475 3.1.1.2); CR and LF never.
    if (/[\r\n]/.test(h.value)) throw bad(`line break in ${name} value`);
    head += `${canonicalHeaderName(name)}: ${h.value}\r\n`;
  }
  if (!lengthWritten) head += contentLength;
  head += '\r\n';
  return msg.body.length === 0 ? Buffer.from(head, 'utf8') : Buffer.concat([Buffer.from(head, 'utf8'), msg.body]);
}
