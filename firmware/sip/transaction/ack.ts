import { PbxError } from '../../core/index.js';
import type { Header, SipMessage, SipRequest, SipResponse } from '../message/index.js';
import { getCSeq, getHeader, getHeaders } from '../message/index.js';
import { tryRead } from './msg.js';

/** Max-Forwards for requests this layer builds itself (RFC 3261 8.1.1.6). */
export const DEFAULT_MAX_FORWARDS = 70;

function required(msg: SipMessage, name: 'from' | 'to' | 'call-id'): string {
  const v = getHeader(msg, name)?.trim();
  if (v === undefined) throw new PbxError('protocol', `${msg.kind} has no ${name} header`);
  return v;
}

/** The one Via the ACK or CANCEL carries: the request's top Via, unchanged. */
function topViaValue(req: SipRequest): string {
  const first = getHeaders(req, 'via')[0];
  if (first === undefined) throw new PbxError('protocol', 'request has no Via header');
  return first;
}

/**
 * Fields shared by the ACK for a non-2xx (17.1.1.3) and CANCEL (9.1): same
 * Request-URI, Call-ID, From, CSeq number; only the request's top Via (so the
 * branch matches the INVITE's transaction); the request's Route set.
 */
function sameTransactionRequest(req: SipRequest, method: string, to: string): SipRequest {
  const cseq = tryRead(getCSeq, req);
  if (!cseq) throw new PbxError('protocol', 'request has no valid CSeq');
  const headers: Header[] = [
    { name: 'via', value: topViaValue(req) },
    // Route lines copied as they are, not split into one value per line.
    ...req.headers.filter((h) => h.name === 'route'),
    { name: 'max-forwards', value: String(DEFAULT_MAX_FORWARDS) },
    { name: 'from', value: required(req, 'from') },
    { name: 'to', value: to },
    { name: 'call-id', value: required(req, 'call-id') },
    { name: 'cseq', value: `${cseq.seq} ${method}` },
  ];
  return { kind: 'request', method, uri: req.uri, headers, body: Buffer.alloc(0) };
}

/** RFC 3261 17.1.1.3: the ACK the INVITE client transaction sends for a
 * 300-699 response. Its To is the response's To (which carries the UAS tag). */
export function buildAckForNon2xx(invite: SipRequest, response: SipResponse): SipRequest {
  return sameTransactionRequest(invite, 'ACK', required(response, 'to'));
}

/** RFC 3261 9.1: the CANCEL for a pending request (same To as the request). */
export function buildCancel(req: SipRequest): SipRequest {
  return sameTransactionRequest(req, 'CANCEL', required(req, 'to'));
}
