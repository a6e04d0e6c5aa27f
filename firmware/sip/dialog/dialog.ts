import { PbxError } from '../../core/index.js';
import {
  formatNameAddr, fromTag, getCSeq, getCallId, getHeader, getHeaders, parseNameAddr, parseNameAddrList, toTag,
  type Header, type SipRequest, type SipResponse,
} from '../message/index.js';

/**
 * Dialog state (RFC 3261 section 12) as plain data, and the pure functions
 * that create a dialog from the request or response that set it up and build
 * requests inside it. A B2BUA keeps one dialog per leg.
 */
export interface Dialog {
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  /** From/To as this side writes them (name-addr, without tags). */
  readonly localUri: string;
  readonly remoteUri: string;
  /** The peer's Contact URI: the Request-URI of requests we send in the dialog (12.1.1, 12.1.2). */
  readonly remoteTarget: string;
  /** Route set, in the order our requests must carry it. */
  readonly routeSet: readonly string[];
  /** Last CSeq we sent; requests we send use the next number. */
  readonly localSeq: number;
  /** Highest CSeq seen from the peer, or undefined before any in-dialog request (12.2.2). */
  readonly remoteSeq?: number;
}

function stripTag(value: string): string {
  const na = parseNameAddr(value);
  return formatNameAddr({ ...na, params: na.params.filter((p) => p.name.toLowerCase() !== 'tag') });
}

function contactUri(msg: SipRequest | SipResponse): string {
  const c = getHeader(msg, 'contact');
  if (!c) throw new PbxError('protocol', 'a dialog needs a Contact');
  const first = parseNameAddrList(c)[0];
  if (!first) throw new PbxError('protocol', 'empty Contact');
  return first.uri;
}

/** UAS side: the dialog an INVITE creates once we answer it with localTag (12.1.1). */
export function dialogAsUas(req: SipRequest, localTag: string): Dialog {
  const remoteTag = fromTag(req);
  if (!remoteTag) throw new PbxError('protocol', 'INVITE without From tag');
  return {
    callId: getCallId(req),
    localTag,
    remoteTag,
    localUri: stripTag(getHeader(req, 'to') ?? ''),
    remoteUri: stripTag(getHeader(req, 'from') ?? ''),
    remoteTarget: contactUri(req),
    routeSet: getHeaders(req, 'record-route'),
    localSeq: 0,
    remoteSeq: getCSeq(req).seq,
  };
}

/** UAC side: the dialog a 2xx (or 1xx with a tag) to our INVITE creates (12.1.2). */
export function dialogAsUac(req: SipRequest, res: SipResponse): Dialog {
  const remoteTag = toTag(res);
  const localTag = fromTag(req);
  if (!remoteTag || !localTag) throw new PbxError('protocol', 'dialog-creating response without tags');
  return {
    callId: getCallId(req),
    localTag,
    remoteTag,
    localUri: stripTag(getHeader(req, 'from') ?? ''),
    remoteUri: stripTag(getHeader(req, 'to') ?? ''),
    remoteTarget: contactUri(res),
    routeSet: [...getHeaders(res, 'record-route')].reverse(),
    localSeq: getCSeq(req).seq,
  };
}

/** Build a request inside the dialog (12.2.1.1); returns it with the dialog's new local CSeq. */
export function dialogRequest(d: Dialog, method: string, opts: { headers?: Header[]; body?: Buffer; contentType?: string; cseq?: number } = {}): { request: SipRequest; dialog: Dialog } {
  const seq = opts.cseq ?? (method === 'ACK' ? d.localSeq : d.localSeq + 1);
  const headers: Header[] = [
    ...d.routeSet.map((r) => ({ name: 'route', value: r })),
    { name: 'max-forwards', value: '70' },
    { name: 'from', value: `${d.localUri};tag=${d.localTag}` },
    { name: 'to', value: `${d.remoteUri};tag=${d.remoteTag}` },
    { name: 'call-id', value: d.callId },
    { name: 'cseq', value: `${seq} ${method}` },
    ...(opts.headers ?? []),
  ];
  const body = opts.body ?? Buffer.alloc(0);
  if (body.length > 0 && opts.contentType) headers.push({ name: 'content-type', value: opts.contentType });
  return {
    request: { kind: 'request', method, uri: d.remoteTarget, headers, body },
    dialog: method === 'ACK' ? d : { ...d, localSeq: seq },
  };
}

/** Does this request belong to the dialog (Call-ID and both tags, 12.2.2)? */
export function inDialog(d: Dialog, req: SipRequest): boolean {
  return getCallId(req) === d.callId && toTag(req) === d.localTag && fromTag(req) === d.remoteTag;
}

/** Check and record the peer's CSeq for a new in-dialog request (12.2.2): lower than seen -> 500. */
export function acceptRemoteSeq(d: Dialog, req: SipRequest): Dialog | undefined {
  const seq = getCSeq(req).seq;
  if (req.method !== 'ACK' && req.method !== 'CANCEL' && d.remoteSeq !== undefined && seq <= d.remoteSeq) return undefined;
  return { ...d, remoteSeq: Math.max(seq, d.remoteSeq ?? 0) };
}

/**
 * A target refresh (RFC 3261 12.2.1.2, 12.2.2): a re-INVITE or UPDATE from the
 * peer, or the peer's 2xx to ours, that carries a Contact moves the dialog's
 * remote target there. Without a usable Contact the dialog stays as it was.
 */
export function refreshTarget(d: Dialog, msg: SipRequest | SipResponse): Dialog {
  if (!getHeader(msg, 'contact')) return d;
  try {
    const uri = contactUri(msg);
    return uri === d.remoteTarget ? d : { ...d, remoteTarget: uri };
  } catch {
    return d;
  }
}
